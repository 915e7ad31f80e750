import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { NostrEvent } from '../../protocol/event.js';
import type { Filter } from '../../protocol/filter.js';
import { THREAD_LIMITS, WorkerPool } from '../../workers/pool.js';
import { watchThread } from '../../workers/thread-cpu.js';
import {
  ChangeRefused,
  QueryTimeout,
  type Bundle,
  type BundleRoot,
  type CheckReport,
  type ClusterStatus,
  type ChangeListener,
  type CommittedChange,
  type ExportOptions,
  type QueryFrames,
  type QueryOptions,
  type StoragePort,
  type StoreStats,
  type StoredSetReport,
  type SyncItem,
  type VerifiedEvent,
  type WriteHealth,
  type WriteOutcome,
} from '../port.js';
import { CATALOGUE_METHODS, type CatalogueReads } from '../catalogue.js';
import type { BlobRecords } from '../blobs/port.js';
import type { ModerationDecision, ModerationState } from '../moderation.js';
import { DatabaseOpenError } from './database.js';
import type { ClusterOptions } from '../cluster/nats-log.js';
import type { BlobRead, BlobWrite, FromWriter, ReadRequest, ReadResult, ThreadOptions, ToWriter, WriterTask } from './messages.js';

export interface SqliteStorageOptions {
  path: string;
  /** The most reader threads (started as reads need them); 0: one per CPU core. */
  readers: number;
  /** Most events in one write transaction. */
  batchSize: number;
  /** This relay's public URL, which a request to vanish (NIP-62) names; '' when not configured. */
  relayUrl?: string;
  /** Cluster mode: the NATS JetStream stream this node applies (docs/cluster.md). */
  cluster?: ClusterOptions;
  log: Logger;
}

interface Waiting<T> {
  resolve: (value: T) => void;
  reject: (err: Error) => void;
}

/**
 * The SQLite backend of the storage port, seen from the main thread: a writer thread owning the only
 * write connection, a pool of reader threads, and the committed-change feed the writer posts.
 */
export class SqliteStorage implements StoragePort {
  private writer!: Worker;
  private readers!: WorkerPool<ReadRequest, ReadResult>;
  private readonly listeners = new Set<ChangeListener>();
  private readonly ephemeralListeners = new Set<(json: string) => void>();
  private readonly writes = new Map<number, Waiting<WriteOutcome>>();
  private readonly tasks = new Map<number, Waiting<unknown>>();
  private outbox: { ref: number; event: VerifiedEvent }[] = [];
  private nextRef = 0;
  private drained: (() => void)[] = [];
  private closed: (() => void) | undefined;
  private stopping = false;
  private clusterStatus: ClusterStatus | undefined;
  private writeStatus: WriteHealth = { failing: undefined, failedTransactions: 0 };
  /** The web catalogue's reads, answered by the reader threads. */
  readonly catalogue: CatalogueReads;
  /** Blossom blob metadata: reads on the reader threads, changes as writer tasks. */
  readonly blobs: BlobRecords;

  private constructor(private readonly options: SqliteStorageOptions) {
    this.catalogue = Object.fromEntries(CATALOGUE_METHODS.map((method) =>
      [method, (...args: unknown[]) => this.read({ op: 'catalogue', method, args })])) as unknown as CatalogueReads;
    const read = <T>(request: BlobRead) => this.read<T>({ op: 'blobs', read: request });
    const write = <T>(change: BlobWrite) => this.task<T>({ op: 'blobs', write: change });
    this.blobs = {
      describe: (sha256) => read({ op: 'describe', sha256 }),
      list: (query) => read({ op: 'list', query }),
      usage: (pubkey) => read({ op: 'usage', pubkey }),
      add: (blob) => write({ op: 'add', blob }),
      removeOwner: (sha256, pubkey) => write({ op: 'removeOwner', sha256, pubkey }),
      touch: (served) => write({ op: 'touch', served }),
      totals: () => read({ op: 'totals' }),
      entries: (query) => read({ op: 'entries', query }),
      forget: (sha256) => write({ op: 'forget', sha256 }),
      mirrorWanted: (after, evictedSince, limit) => read({ op: 'mirrorWanted', after, evictedSince, limit }),
      addCached: (blob) => write({ op: 'addCached', blob }),
      evictCached: (maxBytes, now) => write({ op: 'evictCached', maxBytes, now }),
    };
  }

  /** Opens (creating and migrating) the database; rejects with DatabaseOpenError when it cannot. */
  static async open(options: SqliteStorageOptions): Promise<SqliteStorage> {
    const storage = new SqliteStorage(options);
    await storage.startWriter();
    const threadOptions: ThreadOptions = { path: options.path, batchSize: options.batchSize, relayUrl: '' };
    storage.readers = new WorkerPool<ReadRequest, ReadResult>(
      new URL('./reader-thread.js', import.meta.url), options.readers || availableParallelism(), threadOptions, options.log,
    );
    return storage;
  }

  /** The most reader threads: they start as reads need them (WorkerPool). */
  get readerThreads(): number {
    return this.readers.max;
  }

  /** Reader threads running now. */
  get readersRunning(): number {
    return this.readers.size;
  }

  /** Reads waiting for or running on reader threads. */
  get pendingReads(): number {
    return this.readers.queued;
  }

  private startWriter(): Promise<void> {
    const threadOptions: ThreadOptions = {
      path: this.options.path, batchSize: this.options.batchSize, relayUrl: this.options.relayUrl ?? '',
      cluster: this.options.cluster,
    };
    const writer = new Worker(new URL('./writer-thread.js', import.meta.url), { workerData: threadOptions, resourceLimits: THREAD_LIMITS });
    this.writer = writer;
    watchThread(writer);
    return new Promise((resolve, reject) => {
      let ready = false;
      writer.on('message', (message: FromWriter) => {
        if (message.type === 'ready') {
          ready = true;
          resolve();
        } else if (message.type === 'fatal') {
          reject(new DatabaseOpenError(message.message));
        } else {
          this.fromWriter(message);
        }
      });
      writer.on('error', (err) => {
        if (!ready) reject(err);
        else this.options.log.error({ err }, 'writer thread failed');
      });
      writer.on('exit', (code) => {
        if (!ready || this.stopping) return;
        // Whatever it had not committed is lost to its callers, never acknowledged: fail them and
        // start a new writer on the same database.
        this.options.log.error({ code }, 'writer thread exited; starting a new one');
        const failure = new Error('the writer thread stopped');
        for (const w of [...this.writes.values(), ...this.tasks.values()]) w.reject(failure);
        this.writes.clear();
        this.tasks.clear();
        // The new writer reports its own failures; it has none yet.
        this.writeStatus = { ...this.writeStatus, failing: undefined };
        this.startWriter().catch((err: unknown) => this.options.log.fatal({ err }, 'writer thread cannot restart'));
      });
    });
  }

  private fromWriter(message: FromWriter): void {
    switch (message.type) {
      case 'committed':
        // The feed first: live subscribers get an event no later than its publisher gets OK.
        if (message.change) this.emit(message.change);
        for (const { ref, outcome } of message.results) {
          this.writes.get(ref)?.resolve(outcome);
          this.writes.delete(ref);
        }
        if (this.writes.size === 0 && this.outbox.length === 0) for (const done of this.drained.splice(0)) done();
        break;
      case 'change':
        this.emit(message.change);
        break;
      case 'log':
        this.options.log[message.level](message.detail ?? {}, message.msg);
        break;
      case 'cluster':
        this.clusterStatus = message.status;
        break;
      case 'writes':
        this.writeStatus = { failing: message.failing, failedTransactions: this.writeStatus.failedTransactions + message.failed };
        break;
      case 'ephemeral':
        for (const listener of this.ephemeralListeners) listener(message.json);
        break;
      case 'done': {
        const task = this.tasks.get(message.ref);
        this.tasks.delete(message.ref);
        if (message.refused !== undefined) task?.reject(new ChangeRefused(message.refused));
        else if (message.error !== undefined) task?.reject(new Error(message.error));
        else task?.resolve(message.result);
        break;
      }
      case 'closed':
        this.closed?.();
        break;
    }
  }

  private emit(change: CommittedChange): void {
    let parsed: NostrEvent[] | undefined;
    const events = () => (parsed ??= change.stored.map(({ json }) => JSON.parse(json) as NostrEvent));
    for (const listener of this.listeners) {
      try {
        listener(change, events);
      } catch (err) {
        this.options.log.error({ err }, 'change feed subscriber failed');
      }
    }
  }

  private post(message: ToWriter): void {
    this.writer.postMessage(message);
  }

  write(event: VerifiedEvent): Promise<WriteOutcome> {
    if (this.stopping) return Promise.reject(new Error('storage is closed'));
    const ref = this.nextRef++;
    // Events handed over in one turn of the event loop cross to the writer in one message.
    if (this.outbox.length === 0) queueMicrotask(() => this.sendOutbox());
    this.outbox.push({ ref, event });
    return new Promise((resolve, reject) => this.writes.set(ref, { resolve, reject }));
  }

  private sendOutbox(): void {
    const events = this.outbox;
    this.outbox = [];
    if (events.length > 0) this.post({ type: 'write', events });
  }

  private task<T>(task: WriterTask): Promise<T> {
    const ref = this.nextRef++;
    return new Promise<T>((resolve, reject) => {
      this.tasks.set(ref, { resolve: resolve as (v: unknown) => void, reject });
      this.post({ type: 'task', ref, task });
    });
  }

  private async read<T>(request: ReadRequest): Promise<T> {
    const result = await this.readers.run(request);
    if (result.ok) return result.value as T;
    throw result.error === 'timeout' ? new QueryTimeout() : new Error(result.message);
  }

  has(id: string): Promise<boolean> {
    return this.read({ op: 'has', id });
  }

  query(filters: readonly Filter[], now: number, options: QueryOptions = {}): Promise<string[]> {
    return this.read({ op: 'query', filters, now, options });
  }

  queryFrames(subId: string, filters: readonly Filter[], now: number, options: QueryOptions = {}): Promise<QueryFrames> {
    return this.read({ op: 'queryFrames', subId, filters, now, options });
  }

  count(filters: readonly Filter[], now: number, options: QueryOptions = {}): Promise<number> {
    return this.read({ op: 'count', filters, now, options });
  }

  syncItems(filter: Filter, now: number, max: number, options: QueryOptions = {}): Promise<SyncItem[]> {
    return this.read({ op: 'syncItems', filter, now, max, options });
  }

  bundle(root: BundleRoot, now: number): Promise<Bundle | undefined> {
    return this.read({ op: 'bundle', root, now });
  }

  exportPage(options: ExportOptions, now: number, afterSeq: number, limit: number): Promise<{ events: string[]; lastSeq: number }> {
    return this.read({ op: 'exportPage', options, now, afterSeq, limit });
  }

  stats(): Promise<StoreStats> {
    return this.read({ op: 'stats' });
  }

  storedSet(now: number): Promise<StoredSetReport> {
    return this.read({ op: 'storedSet', now });
  }

  loadCacheCounts(): Promise<[string, number][]> {
    return this.task({ op: 'loadCacheCounts' });
  }

  backup(target: string): Promise<{ clusterSeq: number }> {
    return this.read({ op: 'backup', target });
  }

  purgeExpired(now: number): Promise<number> {
    return this.task({ op: 'purgeExpired', now });
  }

  prune(kind: number, before: number): Promise<number | undefined> {
    return this.task({ op: 'prune', kind, before });
  }

  rebuildProcessed(): Promise<void> {
    return this.task({ op: 'rebuild' });
  }

  check(): Promise<CheckReport> {
    return this.task({ op: 'check' });
  }

  vacuum(): Promise<void> {
    return this.task({ op: 'vacuum' });
  }

  checkpoint(): Promise<void> {
    return this.task({ op: 'checkpoint' });
  }

  saveCacheCounts(counts: [string, number][], now: number): Promise<void> {
    return this.task({ op: 'saveCacheCounts', counts, now });
  }

  moderate(decision: ModerationDecision): Promise<number | undefined> {
    return this.task({ op: 'moderate', decision });
  }

  moderation(): Promise<ModerationState> {
    return this.task({ op: 'moderation' });
  }

  cluster(): ClusterStatus | undefined {
    if (!this.options.cluster) return undefined;
    // Until the writer first reports, it has not reached NATS.
    return this.clusterStatus ?? { appliedSeq: 0, streamSeq: null, lag: null, connected: false, problem: 'starting' };
  }

  writeHealth(): WriteHealth {
    return this.writeStatus;
  }

  shareEphemeral(json: string): void {
    if (this.options.cluster && !this.stopping) this.post({ type: 'ephemeral', json });
  }

  onEphemeral(listener: (json: string) => void): () => void {
    this.ephemeralListeners.add(listener);
    return () => this.ephemeralListeners.delete(listener);
  }

  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  drain(): Promise<void> {
    if (this.writes.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  /** Commits what is queued, checkpoints, and stops the threads. */
  async close(): Promise<void> {
    await this.drain();
    this.stopping = true;
    const closed = new Promise<void>((resolve) => (this.closed = resolve));
    this.post({ type: 'close' });
    await closed;
    await Promise.all([this.readers.close(), this.writer.terminate()]);
  }
}
