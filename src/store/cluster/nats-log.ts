import { randomUUID } from 'node:crypto';
import { connect, headers } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  DeliverPolicy,
  DiscardPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type ConsumerMessages,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';

/**
 * The cluster's ordered log of accepted writes: one NATS JetStream stream. This module only speaks
 * NATS (connect, create the stream, publish, follow it from a sequence number); applying what it
 * delivers to a database is the writer thread's business. Every node of a cluster follows the same
 * stream, so they all apply the same writes in the same order.
 */

export interface ClusterOptions {
  servers: string[];
  stream: string;
  replicas: number;
  /** 0: keep every write forever. */
  retentionDays: number;
}

/** One write in the log: its stream sequence, the id it was published under, its JSON. */
export interface LogEntry {
  seq: number;
  id: string | undefined;
  json: string;
  /** An operator's decision (src/store/decisions.ts) rather than an event. */
  decision: boolean;
  /** What a typed entry is (its Powr-Entry header: `decision`, `blob`); undefined for an event. */
  entry: string | undefined;
  /** When the stream stored it (ms since the epoch, the NATS server's clock): the same on every node. */
  storedAt: number;
}

export interface LogStatus {
  connected: boolean;
  /** The stream's last sequence as NATS last told us; null before NATS was first reached. */
  streamSeq: number | null;
  /** The last sequence of the stream's latest info answer (which, unlike streamSeq, may go down). */
  infoLastSeq: number | null;
  /** Why the log is not usable right now, when it is not. */
  problem: string | undefined;
}

export interface LogHooks {
  log(level: 'info' | 'error', msg: string, detail?: Record<string, unknown>): void;
  /** An ephemeral event another node broadcast. */
  ephemeral(json: string): void;
}

/** A write could not reach the log; the message says why, for an `OK false "error: ..."`. */
export class LogUnavailable extends Error {}

/** JetStream drops a second publish of one event id within this window. */
const DUPLICATE_WINDOW_NS = 2 * 60 * 1e9;
/**
 * How often the stream's last sequence is asked for (so lag is known while nothing is written) and
 * the consumer looked at for a stall.
 */
const INFO_INTERVAL_MS = 500;
/** JetStream API requests (stream info, consumer creation) give up after this, and are tried again. */
const API_TIMEOUT_MS = 2000;
/** A consumer that delivers nothing for this long while the stream holds more is recreated. */
const STALL_MS = 2000;
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());
const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** JetStream's duplicate detection key. */
const MSG_ID_HEADER = 'Nats-Msg-Id';
/** The header naming what a typed entry (not an event) is, so each kind is applied by its own code; events carry none. */
const ENTRY_HEADER = 'Powr-Entry';
/** The typed entry of an operator's decision. */
const DECISION_ENTRY = 'decision';
/** The header naming the node that broadcast an ephemeral event, so it skips its own. */
const NODE_HEADER = 'Powr-Node';

export class NatsLog {
  readonly subject: string;
  /** Ephemeral events go here, past the stream: plain NATS, delivered to the nodes connected now. */
  private readonly ephemeralSubject: string;
  private readonly node = randomUUID();
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private jsm: JetStreamManager | undefined;
  private streamSeq: number | null = null;
  private infoLastSeq: number | null = null;
  private problem: string | undefined = 'connecting to NATS';
  private closing = false;
  /** Between a lost connection and the client's reconnection: writes fail at once instead of timing out. */
  private disconnected = false;
  private infoTimer: NodeJS.Timeout | undefined;
  /** The consumer being read, to stop it when it stalls. */
  private messages: ConsumerMessages | undefined;
  private deliveredSeq = 0;
  private deliveredAt = 0;
  /** A stream info request is on its way. */
  private asking = false;

  constructor(private readonly options: ClusterOptions, private readonly hooks: LogHooks) {
    this.subject = `${options.stream}.events`;
    this.ephemeralSubject = `${options.stream}.ephemeral`;
  }

  status(): LogStatus {
    return {
      connected: this.nc !== undefined && !this.nc.isClosed() && !this.disconnected && this.problem === undefined,
      streamSeq: this.streamSeq,
      infoLastSeq: this.infoLastSeq,
      problem: this.problem,
    };
  }

  /**
   * Connects (retrying until it can), makes sure the stream exists, then delivers every write after
   * `resumeAfter()` in stream order, for as long as the log is open. `deliver` may return a promise to
   * hold back further writes until it settles (the writer's queue is full).
   */
  async follow(resumeAfter: () => number, deliver: (entry: LogEntry) => void | Promise<void>): Promise<void> {
    let wait = RETRY_MIN_MS;
    while (!this.closing) {
      try {
        if (!this.nc || this.nc.isClosed()) await this.connect();
        if (this.closing) return;
        await this.consume(resumeAfter() + 1, deliver);
        wait = RETRY_MIN_MS;
      } catch (err) {
        if (this.closing) return;
        this.setProblem(`NATS: ${message(err)}`);
        await delay(wait);
        wait = Math.min(wait * 2, RETRY_MAX_MS);
      }
    }
  }

  /**
   * Publishes one event under its id (the JetStream message id, so the stream drops a second copy),
   * or an operator's decision under an id of its own. A plain NATS publish, without waiting for the
   * stream's acknowledgement: the publisher learns that the stream took the entry when it comes back
   * from the stream, which it must wait for anyway; a JetStream request per event would cost the
   * writer thread five times the CPU. Throws LogUnavailable when NATS is out of reach.
   */
  publish(id: string, json: string, decision = false): void {
    this.send(id, json, decision ? DECISION_ENTRY : undefined);
  }

  /** Publishes a typed entry (`entry` names its kind) under an id of its own; as publish(). */
  publishEntry(entry: string, id: string, json: string): void {
    this.send(id, json, entry);
  }

  private send(id: string, json: string, entry: string | undefined): void {
    const nc = this.nc;
    if (!nc || nc.isClosed() || this.disconnected || !this.js) throw new LogUnavailable('the cluster\'s stream (NATS) is out of reach; try again');
    const h = headers();
    h.set(MSG_ID_HEADER, id);
    if (entry) h.set(ENTRY_HEADER, entry);
    nc.publish(this.subject, json, { headers: h });
  }

  /** Sends an ephemeral event to the other nodes; dropped while NATS is out of reach, as ephemeral events may be. */
  broadcast(json: string): void {
    if (!this.nc || this.nc.isClosed() || this.disconnected) return;
    const h = headers();
    h.set(NODE_HEADER, this.node);
    this.nc.publish(this.ephemeralSubject, json, { headers: h });
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.infoTimer);
    await this.nc?.close().catch(() => undefined);
  }

  private setProblem(problem: string | undefined): void {
    if (problem === this.problem) return;
    if (problem) this.hooks.log('error', 'cluster log unavailable', { problem });
    else this.hooks.log('info', 'cluster log reached', { stream: this.options.stream, streamSeq: this.streamSeq });
    this.problem = problem;
  }

  /**
   * Connects and makes sure the stream exists: all of it, or nothing (a connection whose JetStream is
   * not ready yet, or whose stream cannot be made, is closed, and follow() tries again).
   */
  private async connect(): Promise<void> {
    const nc = await connect({
      servers: this.options.servers,
      name: 'powr-relay',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      pingInterval: 5000,
      maxPingOut: 2,
    });
    let jsm: JetStreamManager;
    try {
      jsm = await jetstreamManager(nc, { timeout: API_TIMEOUT_MS });
      await this.ensureStream(jsm);
      if (this.closing) throw new Error('closing');
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
    this.nc = nc;
    this.disconnected = false;
    this.jsm = jsm;
    this.js = jetstream(nc, { timeout: API_TIMEOUT_MS });
    nc.subscribe(this.ephemeralSubject, {
      callback: (err, m) => {
        if (!err && m.headers?.get(NODE_HEADER) !== this.node) this.hooks.ephemeral(m.string());
      },
    });
    void this.watch(nc);
    clearInterval(this.infoTimer);
    this.infoTimer = intervalKnowingLateness(INFO_INTERVAL_MS, (late) => {
      if (late) this.deliveredAt = Math.max(this.deliveredAt, Date.now() - INFO_INTERVAL_MS);
      else this.stopIfStalled();
      void this.refreshInfo();
    });
    await this.refreshInfo();
  }

  /** Follows the connection's ups and downs, so status() and writes know at once. */
  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.disconnected = true;
        this.setProblem(`lost the connection to NATS at ${s.server}`);
      } else if (s.type === 'reconnect') {
        this.disconnected = false;
        void this.refreshInfo();
      }
    }
  }

  private async refreshInfo(): Promise<void> {
    if (this.asking) return;
    this.asking = true;
    const deliveredAtAsk = this.deliveredSeq;
    try {
      const info = await this.jsm!.streams.info(this.options.stream);
      this.streamSeq = Math.max(this.streamSeq ?? 0, info.state.last_seq);
      // A write delivered while the answer travelled is in this same stream, and may already be
      // applied: the answer alone would make a node that is level look ahead of its stream.
      this.infoLastSeq = this.deliveredSeq > deliveredAtAsk ? Math.max(info.state.last_seq, this.deliveredSeq) : info.state.last_seq;
      this.setProblem(undefined);
    } catch (err) {
      this.setProblem(`NATS: ${message(err)}`);
    } finally {
      this.asking = false;
    }
  }

  /**
   * The client recreates an ordered consumer by itself after most failures, but not after all (the
   * NATS server holding it stopped while the connection moved to another): writes would wait for
   * their apply forever. A consumer that delivered nothing for STALL_MS while the stream holds more
   * is stopped, and follow() starts a new one from the applied sequence.
   */
  private stopIfStalled(): void {
    const behind = this.streamSeq !== null && this.streamSeq > this.deliveredSeq;
    if (!this.messages || !behind || Date.now() - this.deliveredAt < STALL_MS) return;
    this.hooks.log('error', 'cluster stream consumer stalled; starting a new one', { deliveredSeq: this.deliveredSeq, streamSeq: this.streamSeq });
    this.deliveredAt = Date.now();
    this.messages.stop();
  }

  /** Creates the stream when missing; an existing one is used as it is, and what differs is logged. */
  private async ensureStream(jsm: JetStreamManager): Promise<void> {
    const wanted: Partial<StreamConfig> & { name: string } = {
      name: this.options.stream,
      subjects: [this.subject],
      storage: StorageType.File,
      num_replicas: this.options.replicas,
      max_age: this.options.retentionDays * 86_400 * 1e9,
      duplicate_window: DUPLICATE_WINDOW_NS,
      discard: DiscardPolicy.Old,
    };
    let existing: StreamConfig;
    try {
      existing = (await jsm.streams.info(this.options.stream)).config;
    } catch (err) {
      if (!/not found/i.test(message(err))) throw err;
      await jsm.streams.add(wanted);
      this.hooks.log('info', 'cluster stream created', { stream: this.options.stream, replicas: this.options.replicas });
      return;
    }
    if (!existing.subjects?.includes(this.subject)) {
      throw new Error(`stream ${this.options.stream} exists but does not take subject ${this.subject} (it takes ${JSON.stringify(existing.subjects)})`);
    }
    const differences = (Object.keys(wanted) as (keyof StreamConfig)[])
      .filter((key) => key !== 'subjects' && JSON.stringify(existing[key]) !== JSON.stringify(wanted[key]))
      .map((key) => ({ setting: key, stream: existing[key], configured: wanted[key] }));
    if (differences.length > 0) {
      this.hooks.log('info', 'cluster stream exists with other settings; using it as it is', { stream: this.options.stream, differences });
    }
  }

  /** Delivers from `start` on until the consumer ends (the connection closed for good, or the log closes). */
  private async consume(start: number, deliver: (entry: LogEntry) => void | Promise<void>): Promise<void> {
    const consumer = await this.js!.consumers.get(this.options.stream, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: start,
      // A consumer left behind (this node stopped it as stalled, or died) is dropped by the server soon.
      inactive_threshold: 30_000,
    });
    // Heartbeats every second: a consumer lost with a NATS server is noticed (two missed) and recreated
    // within about two seconds; the default would leave writes waiting for their apply for 30.
    const messages = await consumer.consume({ max_messages: 512, expires: 5000, idle_heartbeat: 1000 });
    this.messages = messages;
    this.deliveredSeq = start - 1;
    this.deliveredAt = Date.now();
    this.hooks.log('info', 'following the cluster stream', { stream: this.options.stream, from: start });
    for await (const m of messages) {
      const pending = m.info.streamSequence + m.info.pending;
      if (this.streamSeq === null || pending > this.streamSeq) this.streamSeq = pending;
      this.deliveredSeq = m.seq;
      this.deliveredAt = Date.now();
      const entry = m.headers?.get(ENTRY_HEADER) || undefined;
      const done = deliver({
        seq: m.seq, id: m.headers?.get(MSG_ID_HEADER) || undefined, json: m.string(),
        decision: entry === DECISION_ENTRY, entry, storedAt: m.time.getTime(),
      });
      if (done) await done;
      if (this.closing) break;
    }
    this.messages = undefined;
    if (!this.closing) throw new Error('the stream consumer stopped');
  }
}

/**
 * setInterval (unref'd) whose callback learns whether it ran late. A tick long after its time followed
 * a long task on this thread (a purge, a ban): what NATS sent meanwhile is still unread in the socket,
 * so nothing should be judged overdue or stalled on that tick.
 */
export function intervalKnowingLateness(ms: number, tick: (late: boolean) => void): NodeJS.Timeout {
  let last = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    const late = now - last > 2 * ms;
    last = now;
    tick(late);
  }, ms);
  timer.unref();
  return timer;
}

/** An operator's (or a benchmark's) look at a stream: its last sequence; undefined when it does not exist. */
export async function streamLastSeq(servers: string[], stream: string): Promise<number | undefined> {
  const nc = await connect({ servers });
  try {
    return (await (await jetstreamManager(nc)).streams.info(stream)).state.last_seq;
  } catch (err) {
    if (/not found/i.test(message(err))) return undefined;
    throw err;
  } finally {
    await nc.close();
  }
}

/** Deletes a stream (a benchmark's or a test's own); nothing happens when it does not exist. */
export async function deleteStream(servers: string[], stream: string): Promise<void> {
  const nc = await connect({ servers });
  try {
    await (await jetstreamManager(nc)).streams.delete(stream).catch((err: unknown) => {
      if (!/not found/i.test(message(err))) throw err;
    });
  } finally {
    await nc.close();
  }
}
