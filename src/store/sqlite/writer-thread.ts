import { parentPort, workerData } from 'node:worker_threads';
import type { Database } from 'better-sqlite3';
import type { NostrEvent } from '../../protocol/event.js';
import type { CommittedChange, VerifiedEvent, WriteOutcome } from '../port.js';
import type { Decision } from '../decisions.js';
import type { ModerationDecision } from '../moderation.js';
import { openDatabase } from './database.js';
import { compactHeap } from '../../workers/heap.js';
import { EventWrites, type Applied } from './event-writes.js';
import type { FromWriter, ThreadOptions, ToWriter, WriterTask } from './messages.js';
import { Maintenance } from './maintenance.js';
import { BlobTables } from './blob-tables.js';
import type { LoggedDecision, LoggedWrite } from './cluster-writes.js';
import type { LoggedBlob } from './cluster-blobs.js';
import { NO_FAILURES, due, failed, isDatabaseFault, succeeded, type Step, type WriteFailures } from './write-failures.js';
import { announceThread } from '../../workers/thread-cpu.js';

announceThread('writer');

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
/**
 * Removals per transaction, so a large purge or ban never holds the write lock for long: the queue's
 * writes (the cluster's stream) are applied between its pages.
 */
const REMOVE_PAGE = 1000;
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

/** What one write transaction applies (writeBatch). */
type Batched =
  | {
    event: VerifiedEvent;
    /** The clients waiting for it (a single node's); in cluster mode they are claimed when it is applied. */
    refs: number[];
    /** Cluster mode: its place in the stream. */
    logged?: LoggedWrite;
  }
  /** Cluster mode: an operator's decision from the stream; always the last of its batch. */
  | { decision: LoggedDecision };
type Queued =
  | Batched
  /** Cluster mode: a blob metadata entry from the stream (cluster-blobs.ts); applied alone (applyBlob), never in a batch. */
  | { blob: LoggedBlob };
const queue: Queued[] = [];
/** Cluster mode: a batched item's place in the stream. */
const loggedOf = (item: Batched): { streamSeq: number } | undefined => ('decision' in item ? item.decision : item.logged);

/** Removals still to make, in pages of their own transactions, between the queue's batches. */
interface RemovalJob {
  /** Removes the next page (inside a transaction); nothing left when it returns none. */
  page: () => { id: string; address?: string }[];
  removed: number;
  /** Called with how many went once nothing is left, or with why a page failed (the job is dropped). */
  done?: (removed: number | undefined, error?: string) => void;
}
/**
 * In order. A decision waits for the jobs before it (an allowpubkey must not meet its ban's removals
 * still going), so every node removes the same events whatever the timing of its pages.
 */
const jobs: RemovalJob[] = [];
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
function applyAll(batch: readonly Batched[], now: number): { outcomes: (WriteOutcome | Started)[]; change: CommittedChange } {
  return inTransaction(() => {
    const counter = writes.lastSeq();
    feedExternal(counter);
    const streamStart = cluster ? writes.clusterSeq() : 0;
    let seq = counter;
    let streamSeq = streamStart;
    const change = emptyChange();
    const outcomes = batch.map((item): WriteOutcome | Started => {
      const logged = loggedOf(item);
      if (logged) {
        // Applied by another process following the stream on this database (an import beside the relay).
        if (logged.streamSeq <= streamSeq) {
          return 'decision' in item ? { job: undefined } : writes.outcomeOf(JSON.parse(item.event.json) as NostrEvent);
        }
        streamSeq = logged.streamSeq;
      }
      if ('decision' in item) return { job: applyDecision(item.decision.decision, seq, change) };
      const applied: Applied = writes.apply(item.event, seq + 1, now);
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

/** A decision applied by this transaction, with the job removing the rest of what it removes; none when another process applied it. */
interface Started {
  job: RemovalJob | undefined;
}

/** What a decision removes, a page at a time: events created up to `upTo` only (a prune's), so later ones stay on every node alike. */
function removalsOf(decision: Decision, upTo: number): RemovalJob['page'] {
  const pages: RemovalJob['page'][] = decision.op === 'prune'
    ? [() => writes.pruneKind(decision.kind, decision.before, REMOVE_PAGE, upTo)]
    : decision.decision.add.flatMap(({ list, value }) => {
      if (list === 'bannedPubkeys') return [() => writes.removeAll(writes.moderation.authorEvents(value, Number.MAX_SAFE_INTEGER, REMOVE_PAGE, false))];
      if (list === 'bannedEvents') return [() => writes.removeAll(writes.moderation.eventSeqs(value))];
      return [];
    });
  return () => {
    for (const page of pages) {
      const removals = page();
      if (removals.length > 0) return removals;
    }
    return [];
  };
}

/**
 * Applies a decision inside the caller's transaction, with the first page of what it removes; the
 * job returned removes the rest. `upTo`: the last sequence number given out before it.
 */
function applyDecision(decision: Decision, upTo: number, change: CommittedChange): RemovalJob {
  if (decision.op === 'moderate') {
    writes.moderation.decide(decision.decision);
    change.moderation = true;
    const media = mediaModerated(decision.decision);
    if (media.length > 0) change.media = media;
  }
  const page = removalsOf(decision, upTo);
  const first = page();
  absorbRemovals(change, first);
  return { page, removed: first.length };
}

function absorbRemovals(change: CommittedChange, removals: { id: string; address?: string }[]): void {
  absorb(change, { stored: [], removed: removals.map((r) => r.id), addresses: removals.flatMap((r) => (r.address ? [r.address] : [])) });
}

/**
 * Runs the next page of the first job; a job with nothing left calls its done. A page the database
 * refuses for a while (locked, full) is tried again later; one that fails otherwise ends its job.
 * Returns whether the page committed.
 */
function runPage(): boolean {
  const job = jobs[0]!;
  let removals: { id: string; address?: string }[];
  try {
    removals = inTransaction(() => {
      feedExternal(writes.lastSeq());
      return job.page();
    });
  } catch (err) {
    const error = (err as Error).message;
    if (isDatabaseFault(err)) {
      const before = failures;
      track(failed(failures, error, Date.now()));
      reportFailures(before);
    } else {
      post({ type: 'log', level: 'error', msg: 'a page of removals failed', detail: { error, removed: job.removed } });
    }
    if (isDatabaseFault(err)) {
      retryAt = Date.now() + RETRY_AFTER_MS;
    } else {
      jobs.shift();
      job.done?.(undefined, error);
    }
    return false;
  }
  if (removals.length === 0) {
    jobs.shift();
    job.done?.(job.removed);
    return true;
  }
  job.removed += removals.length;
  const change = emptyChange();
  absorbRemovals(change, removals);
  post({ type: 'change', change });
  return true;
}

function writeBatch(batch: Batched[]): void {
  const now = Math.floor(Date.now() / 1000);
  const started = performance.now();
  let outcomes: (WriteOutcome | Started)[];
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
        detail: { error: (err as Error).message, events: batch.length, streamSeqs: batch.flatMap((i) => loggedOf(i)?.streamSeq ?? []) } });
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
        const logged = loggedOf(item);
        if (logged && isDatabaseFault(failure)) {
          // A failure of the database rather than of the event (locked past busy_timeout, full, I/O,
          // read-only): every node must apply all of the stream's writes in order, and skipping one
          // would leave this node without it for good, so they wait and are tried again.
          // Not answered yet: their clients are claimed when they are applied.
          queue.unshift(...batch.slice(i));
          retryAt = Date.now() + RETRY_AFTER_MS;
          break;
        }
        if (logged) {
          post({ type: 'log', level: 'error', msg: 'a write from the cluster stream failed on this node; skipped',
            detail: { error, streamSeq: logged.streamSeq } });
        }
        outcomes.push({ status: 'rejected', message: 'error: the event could not be stored' });
      }
    }
  }
  reportFailures(before);
  if (change.moderation) moderationVersion = writes.moderation.version();
  if (change.stored.length + change.removed.length > 0 || change.moderation) {
    fedSeq = Math.max(fedSeq, change.lastSeq);
    change.batch = { events: batch.length, seconds: (performance.now() - started) / 1000 };
  } else {
    change = undefined;
  }
  // The stream position first: a client that got OK and asks /health sees its write applied.
  if (cluster) reportCluster();
  const results: { ref: number; outcome: WriteOutcome }[] = [];
  const decided: [LoggedDecision, WriteOutcome | Started][] = [];
  for (const [i, outcome] of outcomes.entries()) {
    const item = batch[i]!;
    if ('decision' in item) decided.push([item.decision, outcome]);
    else for (const ref of item.logged ? [...item.refs, ...cluster!.claim(item.logged.id)] : item.refs) results.push({ ref, outcome: outcome as WriteOutcome });
  }
  post({ type: 'committed', results, change });
  for (const [logged, outcome] of decided) startJob(outcome, cluster!.claimDecision(logged.id));
}

/**
 * Cluster mode: a blob metadata entry, in a transaction of its own with its stream sequence. Its
 * publisher's task gets the result; a new owner and a removal of the last owner go on the feed, so every
 * node copies the bytes ahead or drops its copy, as do the exercises linking a blob that arrived or went.
 * A failure of the database (locked, full, I/O) leaves it at the head of the queue, tried again later:
 * skipping it would leave this node without it for good.
 */
function applyBlob(entry: LoggedBlob): void {
  let applied: { result: unknown; linked: string[] } | undefined;
  const before = failures;
  try {
    applied = inTransaction(() => {
      if (entry.streamSeq <= writes.clusterSeq()) return undefined;
      const written = blobs.write(entry.write);
      writes.setClusterSeq(entry.streamSeq);
      return written;
    });
    track(succeeded(failures, Date.now()));
  } catch (err) {
    const error = (err as Error).message;
    if (isDatabaseFault(err)) {
      track(failed(failures, error, Date.now()));
      reportFailures(before);
      queue.unshift({ blob: entry });
      retryAt = Date.now() + RETRY_AFTER_MS;
      return;
    }
    post({ type: 'log', level: 'error', msg: 'a blob entry from the cluster stream failed on this node; skipped', detail: { error, streamSeq: entry.streamSeq } });
  }
  reportFailures(before);
  reportCluster();
  const ref = cluster!.blobs.claim(entry.id);
  if (ref !== undefined) post({ type: 'done', ref, ...(applied === undefined ? { error: 'the change could not be applied on this node' } : { result: applied.result }) });
  if (!applied) return;
  const { last, newOwner } = applied.result as { last?: boolean; newOwner?: boolean };
  const sha256 = entry.write.op === 'add' ? entry.write.blob.sha256 : entry.write.sha256;
  if (last || newOwner || applied.linked.length > 0) {
    post({ type: 'change', change: {
      ...emptyChange(), ...(last && { blobsRemoved: [sha256] }), ...(newOwner && { blobsAdded: [sha256] }),
      ...(applied.linked.length > 0 && { media: applied.linked }),
    } });
  }
}

/** A job's done that answers the task `ref`. */
const answerer = (ref: number) => (removed: number | undefined, error?: string) =>
  post(error === undefined ? { type: 'done', ref, result: removed } : { type: 'done', ref, error });

/** Answers a decision's caller once its removals are done (at once when another process applied it). */
function startJob(outcome: WriteOutcome | Started, ref: number | undefined): void {
  const done = ref === undefined ? undefined : answerer(ref);
  if ('status' in outcome) {
    if (ref !== undefined) post({ type: 'done', ref, error: 'message' in outcome ? outcome.message : 'error: the decision could not be applied' });
  } else if (outcome.job) {
    jobs.push({ ...outcome.job, done });
  } else {
    done?.(undefined);
  }
}

/** A single node applies a decision at once, with the first page of its removals; the job does the rest. */
function decideHere(ref: number, decision: Decision): void {
  const change = emptyChange();
  const job = inTransaction(() => {
    feedExternal(writes.lastSeq());
    return applyDecision(decision, writes.lastSeq(), change);
  });
  if (change.moderation) moderationVersion = writes.moderation.version();
  if (change.removed.length > 0 || change.moderation) post({ type: 'change', change });
  startJob({ job }, ref);
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

/** Finishes the removals of bans a stopped writer left unfinished (their pages commit one by one). */
function resumeBans(): void {
  for (const { value } of writes.moderation.load().lists.bannedPubkeys) {
    if (writes.moderation.authorEvents(value, Number.MAX_SAFE_INTEGER, 1, false).length === 0) continue;
    jobs.push({ page: removalsOf({ op: 'moderate', decision: { add: [{ list: 'bannedPubkeys', value, reason: '' }], drop: [] } }, 0), removed: 0 });
  }
}

function runTask(task: Exclude<WriterTask, Decision | { op: 'purgeExpired' }>): unknown {
  switch (task.op) {
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
    case 'blobs': {
      const { result, linked } = inTransaction(() => blobs.write(task.write));
      mediaChanged(linked);
      return result;
    }
    case 'loadCacheCounts':
      return maintenance.cacheCounts();
    case 'moderation':
      return writes.moderation.load();
  }
}

/**
 * Decisions (a single node's: a cluster's go through the stream) and purges are removal jobs, answered
 * when their removals are done; the rest is answered at once.
 */
function runAndPost(ref: number, task: WriterTask): void {
  try {
    if (task.op === 'moderate' || task.op === 'prune') {
      decideHere(ref, task);
    } else if (task.op === 'purgeExpired') {
      jobs.push({ page: () => writes.purgeExpired(task.now, REMOVE_PAGE), removed: 0, done: answerer(ref) });
    } else {
      post({ type: 'done', ref, result: runTask(task) });
    }
  } catch (err) {
    post({ type: 'done', ref, error: (err as Error).message });
  }
}

/** The next batch: at most batchSize writes, ending at the first decision, and before a blob entry (applied alone). */
function nextBatch(): Batched[] {
  let end = Math.min(queue.length, options.batchSize);
  for (let i = 0; i < end; i++) {
    const item = queue[i]!;
    if ('decision' in item) end = i + 1;
    else if ('blob' in item) end = i;
  }
  // Every item before `end` is a batched one.
  return queue.splice(0, end) as Batched[];
}

/**
 * One turn: a batch of writes, then one page of removals (so a long ban or purge lets the stream's
 * writes through between its pages), or else the next task once no removals are left.
 */
function flush(): void {
  scheduled = false;
  if (closed) return;
  noticeOtherWriters();
  const head = queue[0];
  // A decision waits for the removals before it.
  if (head && !(jobs.length > 0 && 'decision' in head)) {
    if ('blob' in head) {
      queue.shift();
      applyBlob(head.blob);
    } else {
      writeBatch(nextBatch());
    }
    if (queue.length < queueHigh) for (const resume of queueRoom.splice(0)) resume();
  }
  if (jobs.length > 0) {
    runPage();
  } else if (queue.length === 0 && tasks.length > 0) {
    const { ref, task } = tasks.shift()!;
    runAndPost(ref, task);
  }
  if (queue.length > 0 || tasks.length > 0 || jobs.length > 0) schedule();
  // After the messages that arrived meanwhile are queued (setImmediate), so only a really idle writer trims.
  else setImmediate(trimWhenIdle);
}

function trimWhenIdle(): void {
  if (scheduled || closed || queue.length > 0 || tasks.length > 0 || jobs.length > 0) return;
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
  if (!cluster) while (queue.length > 0) writeBatch(nextBatch());
  for (const { ref, task } of tasks.splice(0)) runAndPost(ref, task);
  // Removals left are finished now; should the database refuse them, a ban's by the next start.
  while (jobs.length > 0 && runPage());
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
      // A cluster's decision is published at once, whatever the queue holds: every node applies it,
      // this one included, at its place in the stream.
      if (cluster && (message.task.op === 'moderate' || message.task.op === 'prune')) {
        cluster.decide(message.ref, message.task);
        return;
      }
      // Cluster mode: a blob's owners change through the stream.
      if (cluster && message.task.op === 'blobs' && cluster.blobs.submit(message.ref, message.task.write)) return;
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

/** Queues what the stream delivered; a promise holds the stream back until the queue has room. */
function fromStream(item: Queued): void | Promise<void> {
  queue.push(item);
  schedule();
  if (queue.length >= queueHigh) return new Promise<void>((resume) => queueRoom.push(resume));
}

// Loaded only in cluster mode: a single node never carries the NATS client.
const cluster = options.cluster && new (await import('./cluster-writes.js')).ClusterWrites(options.cluster, writes, {
  answer: (results) => {
    // A write refused because NATS is out of reach: /health says so before the client hears it.
    reportCluster();
    post({ type: 'committed', results, change: undefined });
  },
  refuse: (ref, message) => {
    reportCluster();
    post({ type: 'done', ref, refused: message });
  },
  enqueue: (write) => fromStream('decision' in write ? { decision: write } : { event: write.event, refs: [], logged: write }),
  enqueueBlob: (blob) => fromStream({ blob }),
  fail: (ref, error) => post({ type: 'done', ref, error }),
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
resumeBans();
if (jobs.length > 0) schedule();
cluster?.start();

// What opening, migrating and checking left on this thread's heap goes before the relay starts.
await compactHeap().catch(() => undefined);
post({ type: 'ready', lastSeq: fedSeq });
