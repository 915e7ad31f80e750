import { randomUUID } from 'node:crypto';
import { analyze, flagsOf } from '../../powr/analyze.js';
import { checkEventShape, type EventLimits, type NostrEvent } from '../../protocol/event.js';
import { readDecision, type Decision } from '../decisions.js';
import type { ClusterStatus, VerifiedEvent, WriteOutcome } from '../port.js';
import { NatsLog, intervalKnowingLateness, type ClusterOptions, type LogEntry } from '../cluster/nats-log.js';
import type { EventWrites } from './event-writes.js';
import { BLOB_ENTRY, ClusterBlobs, type LoggedBlob } from './cluster-blobs.js';

/**
 * Cluster mode on the writer thread: a client's event is checked against what this node has, then
 * published to the cluster's stream; every node (this one included) applies the stream in order, and
 * the client's OK carries the outcome of this node's apply. The writer thread owns the queue and the
 * transactions; this class owns the writes waiting for the stream and the log itself.
 */

/** How long a published write may take to come back from the stream before its client hears `error:`. */
const APPLY_TIMEOUT_MS = 3000;
const SWEEP_MS = APPLY_TIMEOUT_MS / 6;
/**
 * A decision counts only if the stream stored it within this long of its making (the NATS server's
 * clock against the publishing node's: they must agree within a few seconds). Its caller waits that
 * long and APPLY_TIMEOUT_MS more before hearing it failed, so a decision reported as failed never
 * takes effect later: one NATS still held (a publish flushed after a reconnect) is skipped everywhere.
 */
const DECISION_LIMIT_MS = 10_000;
/** A node this many writes behind the stream refuses new writes: their OK would wait for the catch-up. */
const CATCHING_UP_LAG = 10_000;
/**
 * Stream messages were checked under the limits of the node that published them: here only their
 * structure is, so one malformed message (from a foreign publisher) is skipped instead of stalling
 * every node on it.
 */
const STREAM_LIMITS: EventLimits = {
  maxEventTags: Number.MAX_SAFE_INTEGER, maxTagValueLength: Number.MAX_SAFE_INTEGER, maxContentLength: Number.MAX_SAFE_INTEGER,
  createdAtUpperLimit: Number.MAX_SAFE_INTEGER, createdAtLowerLimit: 0,
};

/** A write from the stream, ready for the writer's next transaction. */
export interface LoggedWrite {
  streamSeq: number;
  id: string;
  event: VerifiedEvent;
}

/** An operator's decision from the stream, applied by the writer at its place among the writes. */
export interface LoggedDecision {
  streamSeq: number;
  id: string;
  decision: Decision;
}

export interface ClusterIo {
  /** Outcomes known without applying anything (refused before publishing, or the stream refused). */
  answer(results: { ref: number; outcome: WriteOutcome }[]): void;
  /** A decision this node published that no node applies: its caller hears why (ChangeRefused). */
  refuse(ref: number, message: string): void;
  /** Queues a write from the stream; a promise holds the stream back until the queue has room. */
  enqueue(write: LoggedWrite | LoggedDecision): void | Promise<void>;
  /** Queues a blob metadata entry from the stream (cluster-blobs.ts), as enqueue. */
  enqueueBlob(entry: LoggedBlob): void | Promise<void>;
  /** A blob write this node published failed (task `ref`); unlike refuse, it may still be applied later. */
  fail(ref: number, message: string): void;
  /** The queue is full: the stream is held back, so a write not back yet may simply be waiting. */
  queueFull(): boolean;
  log(level: 'info' | 'error', msg: string, detail?: Record<string, unknown>): void;
  /** An ephemeral event another node shared, for this node's subscribers. */
  ephemeral(json: string): void;
}

/**
 * An event another node published: it passed that node's checks (id, signature, NIP-101e), so it is
 * analysed only for its processed record, and its flags are whatever the analysis found.
 */
/** The items that pass the test, and those that do not. */
function partition<T>(items: T[], test: (item: T) => boolean): [T[], T[]] {
  const pass: T[] = [];
  const fail: T[] = [];
  for (const item of items) (test(item) ? pass : fail).push(item);
  return [pass, fail];
}

/**
 * Another node's event, analysed here on the writer; EventWrites.apply prepares it there too. This
 * node's own events come from the stream as its verification pool prepared them (`pending`).
 */
function fromStream(event: NostrEvent, json: string): VerifiedEvent {
  const { record, issues } = analyze(event);
  return { json, record, flags: flagsOf(issues) };
}

export class ClusterWrites {
  private readonly log: NatsLog;
  /** Blob metadata entries: published and claimed through this class, applied by the writer. */
  readonly blobs: ClusterBlobs;
  /**
   * Events of this node's clients published and not yet applied, by id, with the refs waiting on them
   * and when each started waiting (each gets its full time for the stream to give the event back).
   * `delivered`: a copy is in the writer's queue, so the outcome of its apply will come.
   */
  private readonly pending = new Map<string, { event: VerifiedEvent; refs: { ref: number; since: number }[]; delivered?: boolean }>();
  /** Ids of events handed to the writer's queue and not yet applied. */
  private readonly queued = new Set<string>();
  /**
   * This node's decisions published and not yet applied, by their message id. A decision counts only
   * if the stream stored it by `until` (so one that NATS took late, after its caller heard an error,
   * is skipped by every node alike).
   */
  private readonly decisions = new Map<string, { ref: number; until: number; delivered?: boolean }>();
  private readonly sweep: NodeJS.Timeout;
  /** Client writes handed over in this turn of the event loop, published together at its end. */
  private readonly outbox: { ref: number; event: VerifiedEvent }[] = [];
  /** Writes the stream held no more when this node asked for them (lost to retention). */
  private missing: { from: number; to: number } | undefined;
  /** The last stream sequence handed to the writer's queue (applied, or waiting in the queue). */
  private delivered = 0;

  constructor(options: ClusterOptions, private readonly writes: EventWrites, private readonly io: ClusterIo) {
    this.log = new NatsLog(options, io);
    this.blobs = new ClusterBlobs(this.log, io);
    this.sweep = intervalKnowingLateness(SWEEP_MS, (late) => {
      if (!late) this.expire(Date.now() - APPLY_TIMEOUT_MS);
    });
  }

  /** Follows the stream from the last sequence this database applied (or this thread queued). */
  start(): void {
    this.delivered = this.writes.clusterSeq();
    void this.log.follow(() => this.handedOver(), (entry) => this.fromLog(entry));
  }

  /** The last stream sequence applied to the database (by any process on it) or waiting in the queue. */
  private handedOver(applied = this.writes.clusterSeq()): number {
    return Math.max(this.delivered, applied);
  }

  close(): Promise<void> {
    clearInterval(this.sweep);
    this.blobs.close();
    return this.log.close();
  }

  /** Ephemeral events skip the stream (nothing keeps them): the other nodes get them once, if connected. */
  shareEphemeral(json: string): void {
    this.log.broadcast(json);
  }

  /** Where this node stands; lag is null while it cannot hear NATS (a figure would be stale). */
  status(appliedSeq: number): ClusterStatus {
    const { streamSeq, infoLastSeq, problem, connected } = this.log.status();
    const gap = this.missing && `the stream no longer holds writes ${this.missing.from} to ${this.missing.to}; restore this node from a newer backup`;
    const behind = infoLastSeq !== null && infoLastSeq < appliedSeq
      ? `the stream ends at ${infoLastSeq}, before this node's applied sequence ${appliedSeq}: it was recreated or lost writes; this node applies nothing new until restored onto the new stream (docs/cluster.md)`
      : undefined;
    return {
      appliedSeq,
      streamSeq,
      lag: streamSeq === null || !connected ? null : Math.max(0, streamSeq - appliedSeq),
      connected,
      problem: problem ?? behind ?? gap,
    };
  }

  /**
   * Client writes: refused here when this node would refuse them, else published under their id.
   * Whatever arrives in one turn of the thread's event loop is published together: NATS then sends it
   * in one socket write, which on loopback costs as much as the rest of a write put together.
   */
  submit(items: readonly { ref: number; event: VerifiedEvent }[]): void {
    if (this.outbox.length === 0) setImmediate(() => this.publishOutbox());
    this.outbox.push(...items);
  }

  /** Why this node takes no writes now: it is too far behind the stream (their answers would wait). */
  private catchingUp(): string | undefined {
    const { streamSeq } = this.log.status();
    const lag = streamSeq === null ? 0 : streamSeq - this.handedOver();
    return lag > CATCHING_UP_LAG ? `error: this node is catching up with the cluster (${lag} writes behind); try again shortly` : undefined;
  }

  private publishOutbox(): void {
    const items = this.outbox.splice(0);
    const answers: { ref: number; outcome: WriteOutcome }[] = [];
    const behind = this.catchingUp();
    if (behind) {
      const outcome: WriteOutcome = { status: 'rejected', message: behind };
      this.io.answer(items.map(({ ref }) => ({ ref, outcome })));
      return;
    }
    const now = Date.now();
    for (const { ref, event } of items) {
      const parsed = JSON.parse(event.json) as NostrEvent;
      const refused = this.writes.wouldRefuse(parsed);
      if (refused) {
        answers.push({ ref, outcome: refused });
        continue;
      }
      const waiting = this.pending.get(parsed.id);
      if (waiting) {
        waiting.refs.push({ ref, since: now });
        continue;
      }
      // A copy from the stream waits in the writer's queue: publishing again would be dropped as a
      // duplicate, and that copy's apply answers this one too.
      if (this.queued.has(parsed.id)) {
        this.pending.set(parsed.id, { event, refs: [{ ref, since: now }], delivered: true });
        continue;
      }
      try {
        this.log.publish(parsed.id, event.json);
        this.pending.set(parsed.id, { event, refs: [{ ref, since: now }] });
      } catch (err) {
        answers.push({ ref, outcome: { status: 'rejected', message: `error: ${(err as Error).message}` } });
      }
    }
    if (answers.length > 0) this.io.answer(answers);
  }

  /**
   * An operator's decision: published under an id of its own, applied by every node (this one
   * included) at its place in the stream; the writer answers `ref` once this node applied it. Out of
   * reach, it is refused at once and nothing changes anywhere.
   */
  decide(ref: number, decision: Decision): void {
    const behind = this.catchingUp();
    if (behind) {
      this.io.refuse(ref, behind);
      return;
    }
    const id = `decision-${randomUUID()}`;
    const until = Date.now() + DECISION_LIMIT_MS;
    try {
      this.log.publish(id, JSON.stringify({ ...decision, until }), true);
      this.decisions.set(id, { ref, until });
    } catch (err) {
      this.io.refuse(ref, `error: nothing was changed: ${(err as Error).message}`);
    }
  }

  /**
   * Writes published before `before` and still not back from the stream get `OK false "error: …"`:
   * the stream did not take them (it is electing a leader, or gone), or this node cannot follow it.
   * The client may send again; if the event did reach the stream, it is applied all the same.
   */
  private expire(before: number): void {
    if (this.io.queueFull()) return;
    const answers: { ref: number; outcome: WriteOutcome }[] = [];
    const outcome: WriteOutcome = { status: 'rejected', message: `error: the cluster's stream did not confirm the event within ${APPLY_TIMEOUT_MS / 1000} s; try again` };
    for (const [id, waiting] of this.pending) {
      // Back from the stream and in the writer's queue: it gets the outcome of its apply.
      if (waiting.delivered) continue;
      const [late, patient] = partition(waiting.refs, (r) => r.since < before);
      for (const { ref } of late) answers.push({ ref, outcome });
      if (patient.length === 0) this.pending.delete(id);
      else waiting.refs = patient;
    }
    if (answers.length > 0) this.io.answer(answers);
    // A decision the stream took by its `until` comes back with it; one not back a while after that
    // was not taken in time, and no node applies it if it still arrives.
    for (const [id, waiting] of this.decisions) {
      if (waiting.delivered || waiting.until >= before) continue;
      this.decisions.delete(id);
      this.io.refuse(waiting.ref, `error: nothing was changed: the cluster's stream did not confirm the decision within ${(DECISION_LIMIT_MS + APPLY_TIMEOUT_MS) / 1000} s; try again`);
    }
  }

  /** At apply time: the refs of this node's clients waiting for this event (they get its outcome). */
  claim(id: string): number[] {
    this.queued.delete(id);
    const waiting = this.pending.get(id);
    if (!waiting) return [];
    this.pending.delete(id);
    return waiting.refs.map((r) => r.ref);
  }

  /** At apply time: the ref waiting for this decision, when this node published it. */
  claimDecision(id: string): number | undefined {
    const waiting = this.decisions.get(id);
    this.decisions.delete(id);
    return waiting?.ref;
  }

  private fromLog(entry: LogEntry): void | Promise<void> {
    // A consumer that restarted from the applied sequence hands over again what still waits in the queue.
    if (entry.seq <= this.delivered) return;
    const applied = this.writes.clusterSeq();
    const handedOver = this.handedOver(applied);
    if (entry.seq > handedOver + 1 && this.missing === undefined) {
      this.missing = { from: handedOver + 1, to: entry.seq - 1 };
      this.io.log('error', 'cluster stream no longer holds writes this node has not applied', { ...this.missing });
    }
    this.delivered = entry.seq;
    if (entry.entry === BLOB_ENTRY) {
      const blob = entry.seq <= applied ? undefined : this.blobs.fromLog(entry);
      return blob && this.io.enqueueBlob(blob);
    }
    if (entry.decision) return this.decisionFromLog(entry, applied);
    const waiting = entry.id === undefined ? undefined : this.pending.get(entry.id);
    if (waiting) {
      // Queued even when another process on this database applied it already: the writer then
      // answers with what became of it there.
      waiting.delivered = true;
      this.queued.add(entry.id!);
      return this.io.enqueue({ streamSeq: entry.seq, id: entry.id!, event: waiting.event });
    }
    if (entry.seq <= applied) return;
    const event = this.parse(entry);
    if (!event) return;
    this.queued.add(event.id);
    return this.io.enqueue({ streamSeq: entry.seq, id: event.id, event: fromStream(event, entry.json) });
  }

  /** A decision from the stream, for the writer's queue; skipped alike on every node when malformed or late. */
  private decisionFromLog(entry: LogEntry, applied: number): void | Promise<void> {
    const mine = entry.id === undefined ? undefined : this.decisions.get(entry.id);
    let raw: unknown;
    try {
      raw = JSON.parse(entry.json);
    } catch {
      raw = undefined;
    }
    const read = readDecision(raw);
    const until = (raw as { until?: unknown } | undefined)?.until;
    const problem = 'problem' in read ? read.problem
      : typeof until !== 'number' ? 'it has no time limit'
      : entry.storedAt > until ? `the stream stored it ${entry.storedAt - until} ms after its time limit (its caller heard it failed)`
      : undefined;
    if (problem !== undefined || 'problem' in read) {
      this.io.log('error', 'cluster stream holds a decision that is not applied; skipped', { seq: entry.seq, reason: problem });
      if (mine) {
        this.decisions.delete(entry.id!);
        this.io.refuse(mine.ref, `error: nothing was changed: ${problem}`);
      }
      return;
    }
    if (mine) mine.delivered = true;
    else if (entry.seq <= applied) return;
    return this.io.enqueue({ streamSeq: entry.seq, id: entry.id ?? `seq-${entry.seq}`, decision: read.decision });
  }

  /** A stream message as an event, or undefined (logged) when it is not one. */
  private parse(entry: LogEntry): NostrEvent | undefined {
    let raw: unknown;
    try {
      raw = JSON.parse(entry.json);
    } catch {
      raw = undefined;
    }
    const shape = checkEventShape(raw, STREAM_LIMITS, 0);
    if (shape.ok) return shape.value;
    this.io.log('error', 'cluster stream holds a message that is not an event; skipped', { seq: entry.seq, reason: shape.reason });
    return undefined;
  }
}
