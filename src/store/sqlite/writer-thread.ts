import { parentPort, workerData } from 'node:worker_threads';
import type { Database } from 'better-sqlite3';
import type { NostrEvent } from '../../protocol/event.js';
import type { CommittedChange, VerifiedEvent, WriteOutcome } from '../port.js';
import type { ModerationDecision } from '../moderation.js';
import { openDatabase } from './database.js';
import { EventWrites, type Applied } from './event-writes.js';
import type { FromWriter, ThreadOptions, ToWriter, WriterTask } from './messages.js';
import { Maintenance } from './maintenance.js';
import { BlobTables } from './blob-tables.js';
import type { LoggedWrite } from './cluster-writes.js';
import { NO_FAILURES, due, failed, isDatabaseFault, succeeded, type Step, type WriteFailures } from './write-failures.js';

/**
 * The writer thread: the only connection that writes. Events from every connection are committed
 * together (group commit): whatever arrived while the previous transaction ran is the next batch,
 * so a lone event commits at once and a busy writer fills its batches by itself. Each commit posts
 * the events' outcomes with the change feed entry; a crash before COMMIT loses nothing acknowledged.
 * In cluster mode the events come from the cluster's stream instead (cluster-writes.ts), and the
 * stream sequence applied is committed with them.
 */

/** How often an idle writer looks for commits by other processes (import, CLI). */
const EXTERNAL_POLL_MS = 250;
/** Most events of another process's commits carried in one feed message. */
const EXTERNAL_PAGE = 1000;
/** Removals per maintenance transaction, so a large purge never holds the write lock for long. */
const REMOVE_PAGE = 1000;
/**
 * Failures of the database rather than of an event (locked by another process past busy_timeout, disk
 * full, I/O): in cluster mode the stream's writes wait and are tried again, since every node must
 * apply all of them in order; skipping one would leave this node without it for good.
 */
const TRANSIENT_FAILURE = /^SQLITE_(BUSY|LOCKED|FULL|IOERR)/;
const RETRY_AFTER_MS = 1000;
/** Cluster mode: how often this node's place in the stream is reported when it changed. */
const CLUSTER_STATUS_MS = 250;

const options = workerData as ThreadOptions;
const port = parentPort!;
const post = (message: FromWriter) => port.postMessage(message);

let db: Database;
try {
  db = openDatabase(options.path);
} catch (err) {
  post({ type: 'fatal', message: (err as Error).message });
  process.exit(1);
}
const writes = new EventWrites(db, options.relayUrl);
const maintenance = new Maintenance(db, writes.powr);
const blobs = new BlobTables(db);
// A migration that added processed columns or tables marks the database; they are filled here, once.
if (maintenance.rebuildIfMarked() && writes.lastSeq() > 0) {
  post({ type: 'log', level: 'info', msg: 'processed workout tables rebuilt after a schema upgrade', detail: { db: options.path } });
}
writes.storedIds.fillIfUnknown();
/** The last sequence number published on the feed: every commit after it is news. */
let fedSeq = writes.lastSeq();
let dataVersion = db.pragma('data_version', { simple: true }) as number;
/** The moderation decisions the main thread knows of; a newer count means another process made one. */
let moderationVersion = writes.moderation.version();

interface Queued {
  event: VerifiedEvent;
  /** The clients waiting for it; in cluster mode they are claimed when it is applied (and kept if it must wait). */
  refs: number[];
  /** Cluster mode: its place in the stream. */
  logged?: LoggedWrite;
}
const queue: Queued[] = [];
/** Cluster mode: the stream waits while the queue holds this many writes. */
const queueHigh = options.batchSize * 4;
const queueRoom: (() => void)[] = [];
const tasks: { ref: number; task: WriterTask }[] = [];
let scheduled = false;
let closed = false;
/** After a transient database failure in cluster mode, the queue waits until then (ms since epoch). */
let retryAt = 0;

/** Write transactions the database fails (disk full, I/O errors): logged sparingly, reported for /health. */
let failures = NO_FAILURES;

function track(step: Step): void {
  failures = step.state;
  if (step.line) post({ type: 'log', ...step.line });
}

/** Tells the main thread about failures since `before`, or that writes succeed again. */
function reportFailures(before: WriteFailures): void {
  if (failures.total !== before.total || failures.failing !== before.failing) {
    post({ type: 'writes', failing: failures.failing, failed: failures.total - before.total });
  }
}

const emptyChange = (): CommittedChange => ({ stored: [], removed: [], addresses: [], lastSeq: fedSeq, external: false });

/** Another process wrote: drop caches that may hold what it changed. */
function noticeOtherWriters(): void {
  const version = db.pragma('data_version', { simple: true }) as number;
  if (version === dataVersion) return;
  dataVersion = version;
  writes.powr.forgetUncommitted();
  const decisions = writes.moderation.version();
  if (decisions === moderationVersion) return;
  moderationVersion = decisions;
  post({ type: 'change', change: { ...emptyChange(), external: true, moderation: true } });
}

/** Feeds other processes' commits (sequence numbers above fedSeq, up to `upTo`) as external changes. */
function feedExternal(upTo: number): void {
  while (fedSeq < upTo) {
    const stored = writes.eventsAfter(fedSeq, upTo, EXTERNAL_PAGE);
    const last = stored.length > 0 ? stored[stored.length - 1]!.seq : upTo;
    fedSeq = stored.length < EXTERNAL_PAGE ? upTo : last;
    post({ type: 'change', change: { stored, removed: [], addresses: [], lastSeq: fedSeq, external: true } });
  }
}

/**
 * Wraps a body in BEGIN IMMEDIATE … COMMIT, with the stored ids' figures it changed; a rollback also
 * drops caches that may hold its rows.
 */
function inTransaction<T>(body: () => T): T {
  const run = db.transaction(() => {
    const result = body();
    writes.storedIds.flush();
    return result;
  }).immediate;
  try {
    return run();
  } catch (err) {
    writes.powr.forgetUncommitted();
    writes.storedIds.forget();
    throw err;
  }
}

/** Adds what one write, or one transaction, changed to a feed entry. */
function absorb(change: CommittedChange, part: Pick<CommittedChange, 'stored' | 'removed' | 'addresses'>): void {
  change.stored.push(...part.stored);
  change.removed.push(...part.removed);
  change.addresses.push(...part.addresses);
}

/**
 * Applies events in one transaction; sequence numbers continue from the stored counter. A write from
 * the stream at or below the applied stream sequence was applied already (by another process on this
 * database), and the stream sequence reached is committed with the events.
 */
function applyAll(batch: readonly Queued[], now: number): { outcomes: WriteOutcome[]; change: CommittedChange } {
  return inTransaction(() => {
    const counter = writes.lastSeq();
    feedExternal(counter);
    const streamStart = cluster ? writes.clusterSeq() : 0;
    let seq = counter;
    let streamSeq = streamStart;
    const change = emptyChange();
    const outcomes = batch.map(({ event, logged }) => {
      if (logged) {
        // Applied by another process following the stream on this database (an import beside the relay).
        if (logged.streamSeq <= streamSeq) return writes.outcomeOf(JSON.parse(event.json) as NostrEvent);
        streamSeq = logged.streamSeq;
      }
      const applied: Applied = writes.apply(event, seq + 1, now);
      if (applied.stored) seq = applied.stored.seq;
      absorb(change, { ...applied, stored: applied.stored ? [applied.stored] : [] });
      return applied.outcome;
    });
    if (seq !== counter) writes.commitSeqs(seq);
    if (streamSeq !== streamStart) writes.setClusterSeq(streamSeq);
    change.lastSeq = seq;
    return { outcomes, change };
  });
}

function writeBatch(batch: Queued[]): void {
  // Claimed before the transaction, so a rollback and the retry below still answer every client.
  const refs = batch.map((item) => (item.logged ? [...item.refs, ...cluster!.claim(item.logged.id)] : item.refs));
  const now = Math.floor(Date.now() / 1000);
  const started = performance.now();
  let outcomes: WriteOutcome[];
  let change: CommittedChange | undefined;
  const before = failures;
  try {
    ({ outcomes, change } = applyAll(batch, now));
    track(succeeded(failures, Date.now()));
  } catch (err) {
    // The whole batch rolled back. Retry each event in its own transaction so one bad event (or a
    // bug it triggers) costs only its own OK; a savepoint per event would cost a fifth of the time.
    if (isDatabaseFault(err)) {
      track(failed(failures, (err as Error).message, Date.now()));
    } else {
      post({ type: 'log', level: 'error', msg: 'write transaction failed; retrying its events one by one',
        detail: { error: (err as Error).message, events: batch.length, streamSeqs: batch.flatMap((i) => (i.logged ? [i.logged.streamSeq] : [])) } });
    }
    change = emptyChange();
    outcomes = [];
    for (const [i, item] of batch.entries()) {
      try {
        const one = applyAll([item], now);
        absorb(change, one.change);
        change.lastSeq = one.change.lastSeq;
        outcomes.push(one.outcomes[0]!);
        track(succeeded(failures, Date.now()));
      } catch (failure) {
        const error = (failure as Error).message;
        if (isDatabaseFault(failure)) track(failed(failures, error, Date.now()));
        if (item.logged && TRANSIENT_FAILURE.test((failure as { code?: string }).code ?? '')) {
          queue.unshift(...batch.slice(i).map((rest, j) => ({ ...rest, refs: refs[i + j]! })));
          refs.length = i;
          retryAt = Date.now() + RETRY_AFTER_MS;
          break;
        }
        if (item.logged) {
          post({ type: 'log', level: 'error', msg: 'a write from the cluster stream failed on this node; skipped',
            detail: { error, streamSeq: item.logged.streamSeq } });
        }
        outcomes.push({ status: 'rejected', message: 'error: the event could not be stored' });
      }
    }
  }
  reportFailures(before);
  if (change.stored.length + change.removed.length > 0) {
    fedSeq = Math.max(fedSeq, change.lastSeq);
    change.batch = { events: batch.length, seconds: (performance.now() - started) / 1000 };
  } else {
    change = undefined;
  }
  // The stream position first: a client that got OK and asks /health sees its write applied.
  if (cluster) reportCluster();
  post({ type: 'committed', results: refs.flatMap((waiting, i) => waiting.map((ref) => ({ ref, outcome: outcomes[i]! }))), change });
}

/** Removes in pages, each its own transaction, feeding what went; returns how many. */
function removeInPages(select: () => { id: string; address?: string }[]): number {
  let total = 0;
  for (;;) {
    const removals = inTransaction(() => {
      feedExternal(writes.lastSeq());
      return select();
    });
    if (removals.length === 0) return total;
    total += removals.length;
    post({
      type: 'change',
      change: {
        stored: [], removed: removals.map((r) => r.id), addresses: removals.flatMap((r) => (r.address ? [r.address] : [])),
        lastSeq: fedSeq, external: false,
      },
    });
  }
}

/** Feeds the exercises whose linked media a blob change concerns. */
function mediaChanged(linked: string[]): void {
  if (linked.length > 0) post({ type: 'change', change: { ...emptyChange(), media: linked } });
}

/** The exercises linking blobs a decision hides or shows: banned or unbanned hashes, and the blobs of (un)banned pubkeys. */
function mediaModerated(decision: ModerationDecision): string[] {
  const hashes = [...decision.add, ...decision.drop].flatMap(({ list, value }) =>
    list === 'bannedEvents' ? [value] : list === 'bannedPubkeys' ? blobs.ownedBy(value) : []);
  return hashes.length > 0 ? blobs.linkedExercises(hashes) : [];
}

/** Stores a decision, then removes what it bans in pages; resolves with how many events went. */
function moderate(decision: ModerationDecision): number {
  mediaChanged(inTransaction(() => {
    writes.moderation.decide(decision);
    return mediaModerated(decision);
  }));
  moderationVersion = writes.moderation.version();
  let removed = 0;
  for (const { list, value } of decision.add) {
    if (list === 'bannedPubkeys') {
      removed += removeInPages(() => writes.removeAll(writes.moderation.authorEvents(value, Number.MAX_SAFE_INTEGER, REMOVE_PAGE, false)));
    } else if (list === 'bannedEvents') {
      removed += removeInPages(() => writes.removeAll(writes.moderation.eventSeqs(value)));
    }
  }
  return removed;
}

function runTask(task: WriterTask): unknown {
  switch (task.op) {
    case 'purgeExpired':
      return removeInPages(() => writes.purgeExpired(task.now, REMOVE_PAGE));
    case 'prune':
      return removeInPages(() => writes.pruneKind(task.kind, task.before, REMOVE_PAGE));
    case 'rebuild':
      return inTransaction(() => writes.powr.rebuild());
    case 'check':
      return maintenance.check();
    case 'vacuum':
      return maintenance.vacuum();
    case 'checkpoint':
      return maintenance.checkpoint();
    case 'saveCacheCounts':
      return inTransaction(() => maintenance.saveCacheCounts(task.counts, task.now));
    case 'moderate':
      return moderate(task.decision);
    case 'blobs': {
      const { result, linked } = inTransaction(() => blobs.write(task.write));
      mediaChanged(linked);
      return result;
    }
  }
}

function runAndPost(ref: number, task: WriterTask): void {
  try {
    post({ type: 'done', ref, result: runTask(task) });
  } catch (err) {
    post({ type: 'done', ref, error: (err as Error).message });
  }
}

function flush(): void {
  scheduled = false;
  if (closed) return;
  noticeOtherWriters();
  if (queue.length > 0) {
    writeBatch(queue.splice(0, options.batchSize));
    if (queue.length < queueHigh) for (const resume of queueRoom.splice(0)) resume();
  } else if (tasks.length > 0) {
    const { ref, task } = tasks.shift()!;
    runAndPost(ref, task);
  }
  if (queue.length > 0 || tasks.length > 0) schedule();
  // After the messages that arrived meanwhile are queued (setImmediate), so only a really idle writer trims.
  else setImmediate(trimWhenIdle);
}

function trimWhenIdle(): void {
  if (scheduled || closed || queue.length > 0 || tasks.length > 0) return;
  try {
    maintenance.trimWal();
  } catch (err) {
    // A failed truncation (disk I/O) costs only the log's size until the next checkpoint, not the
    // writer; on a full disk it fails at every idle moment, so it is told like a failed write.
    const before = failures;
    track(failed(failures, `truncating the write-ahead log: ${(err as Error).message}`, Date.now()));
    reportFailures(before);
  }
}

function schedule(): void {
  if (scheduled || closed) return;
  scheduled = true;
  // setImmediate runs after every message already waiting on the port has been queued: the batch.
  const wait = retryAt - Date.now();
  if (wait > 0) setTimeout(flush, wait);
  else setImmediate(flush);
}

/**
 * The main thread has seen every write answered. The stream stops delivering first; what it delivered
 * and this thread has not applied stays uncommitted (cluster_seq says so) and comes again at the next
 * start. Queued maintenance still runs.
 */
async function close(): Promise<void> {
  if (closed) return;
  closed = true;
  clearInterval(poll);
  clearInterval(clusterStatus);
  await cluster?.close();
  if (!cluster) while (queue.length > 0) writeBatch(queue.splice(0, options.batchSize));
  for (const { ref, task } of tasks.splice(0)) runAndPost(ref, task);
  maintenance.checkpoint();
  db.close();
  post({ type: 'closed' });
  port.close();
}

const poll = setInterval(() => {
  // Failures followed by silence are still told.
  track(due(failures, Date.now()));
  if (scheduled) return;
  noticeOtherWriters();
  feedExternal(writes.lastSeq());
}, EXTERNAL_POLL_MS);

port.on('message', (message: ToWriter) => {
  switch (message.type) {
    case 'write':
      if (cluster) {
        cluster.submit(message.events);
        return;
      }
      for (const { ref, event } of message.events) queue.push({ event, refs: [ref] });
      break;
    case 'task':
      tasks.push({ ref: message.ref, task: message.task });
      break;
    case 'ephemeral':
      cluster?.shareEphemeral(message.json);
      return;
    case 'close':
      void close();
      return;
  }
  schedule();
});

// Loaded only in cluster mode: a single node never carries the NATS client.
const cluster = options.cluster && new (await import('./cluster-writes.js')).ClusterWrites(options.cluster, writes, {
  answer: (results) => {
    // A write refused because NATS is out of reach: /health says so before the client hears it.
    reportCluster();
    post({ type: 'committed', results, change: undefined });
  },
  enqueue: (write) => {
    queue.push({ event: write.event, refs: [], logged: write });
    schedule();
    if (queue.length >= queueHigh) return new Promise<void>((resume) => queueRoom.push(resume));
  },
  queueFull: () => queue.length >= queueHigh,
  log: (level, msg, detail) => post({ type: 'log', level, msg, detail }),
  ephemeral: (json) => post({ type: 'ephemeral', json }),
});
let reported = '';
/** Posts this node's place in the stream when it changed: after each applied batch, and on a timer. */
function reportCluster(): void {
  if (!cluster) return;
  const status = { ...cluster.status(writes.clusterSeq()), stored: writes.storedIds.kept() };
  const text = JSON.stringify(status);
  if (text === reported) return;
  reported = text;
  post({ type: 'cluster', status });
}
const clusterStatus = cluster && setInterval(reportCluster, CLUSTER_STATUS_MS);
cluster?.start();

post({ type: 'ready', lastSeq: fedSeq });
