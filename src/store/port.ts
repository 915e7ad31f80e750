import type { NostrEvent } from '../protocol/event.js';
import type { Filter } from '../protocol/filter.js';
import type { Viewers } from '../powr/privacy.js';
import type { Flag, PowrRecord } from '../powr/types.js';
import type { BlobRecords } from './blobs/port.js';
import type { CatalogueReads, MediaItem } from './catalogue.js';
import type { ModerationDecision, ModerationState } from './moderation.js';

/**
 * The storage port: everything the relay, the web catalogue and the CLI ask of storage, asynchronous
 * and backend-neutral. The SQLite backend (src/store/sqlite/) answers it from a writer thread and a
 * pool of reader threads; test/storage-port.test.ts is the suite a second backend must pass too.
 */

/**
 * An event that passed verification, as its canonical JSON, with its NIP-101e record and flags; or,
 * from the verification pool, with those and what the writer needs besides (powr/prepare.ts) as
 * `prepared`, the JSON text of a PreparedEvent. The writer prepares the first kind itself.
 */
export type VerifiedEvent = { json: string; record: PowrRecord | null; flags: Flag[] } | { json: string; prepared: string };

export type WriteOutcome =
  | { status: 'stored'; seq: number }
  /** Accepted (OK true) but nothing changed. */
  | { status: 'duplicate'; message: string }
  /** Refused (OK false). */
  | { status: 'rejected'; message: string };

/** One stored event as negentropy (NIP-77) sees it: [created_at, id]. */
export type SyncItem = [number, string];

export interface QueryOptions {
  /** Privacy mode: who is asking (workout records are filtered to what they may read). */
  viewers?: Viewers;
  /** Stop with QueryTimeout after this long. */
  timeoutMs?: number;
}

/**
 * A REQ's stored answer as it goes on the wire (replyFrames: its EVENT frames, then EOSE), with the ids
 * of its events run together (64 hex characters each), which the session needs only to hold back live
 * events the answer already carried.
 */
export interface QueryFrames {
  frames: Uint8Array;
  ids: string;
}

/** A read ran out of its time budget. */
export class QueryTimeout extends Error {
  constructor() {
    super('query ran out of time');
  }
}

/**
 * What one commit changed: the committed-change feed. Live fan-out, bundle-cache invalidation,
 * search and metrics subscribe to it; nothing else reaches the live index.
 */
/**
 * A committed-change feed subscriber. `events()` is the change's stored events parsed, in the order of
 * `stored`: parsed on the first call and shared by every subscriber of that change (live fan-out and
 * the answer cache both match them), and never when no subscriber needs them.
 */
export type ChangeListener = (change: CommittedChange, events: () => readonly NostrEvent[]) => void;

export interface CommittedChange {
  /** Stored events in commit order, with their sequence numbers. */
  stored: { seq: number; json: string }[];
  /** Ids of events that left the store (replaced, deleted, expired, pruned). */
  removed: string[];
  /** Addresses (`kind:pubkey:d`) whose current version changed or vanished. */
  addresses: string[];
  /** The highest sequence number committed so far. */
  lastSeq: number;
  /**
   * Committed by another process (an import, a prune): its stored events are known by sequence
   * number, but not what it removed, so caches built from the database must be dropped whole.
   */
  external: boolean;
  /**
   * Exercises (addresses) whose linked media changed without the event changing: a blob their imeta
   * names arrived, went, or was hidden or shown by a ban.
   */
  media?: string[];
  /** The moderation decisions changed (the writer applied one: another process's, or any node's in cluster mode): re-read them. */
  moderation?: boolean;
  /** This process's write transaction, for metrics: events in it and seconds to apply and commit. */
  batch?: { events: number; seconds: number };
  /** Cluster mode: blobs a stream entry gave a new owner: each node copies their bytes ahead of the first request. */
  blobsAdded?: string[];
  /** Cluster mode: blobs whose last owner a stream entry removed: each node drops its copy of their bytes. */
  blobsRemoved?: string[];
}

/**
 * A change storage cannot make now (cluster mode: the cluster's stream is out of reach), and made
 * nowhere; the message, with its NIP-01 prefix, says why. The caller may try again.
 */
export class ChangeRefused extends Error {}

/** Cluster mode: how far this node has applied the cluster's stream (docs/cluster.md). */
export interface ClusterStatus {
  /** The last stream sequence applied to this node's database. */
  appliedSeq: number;
  /** The stream's last sequence as NATS last told this node; null before it reached NATS. */
  streamSeq: number | null;
  /** streamSeq - appliedSeq; null before this node reached NATS. */
  lag: number | null;
  /** Connected to NATS, with the stream at hand: writes can be taken. */
  connected: boolean;
  /** Why writes fail or the node is behind, when something is wrong. */
  problem: string | undefined;
  /** The stored ids as the writer keeps them, at appliedSeq; undefined until first counted. */
  stored?: StoredSet;
}

/** The stored event ids in brief (docs/cluster.md): how many, and a digest that equal sets share. */
export interface StoredSet {
  stored: number;
  digest: string;
}

/** The stored ids counted from the rows, with what the writer kept, all from one snapshot. */
export interface StoredSetReport {
  /** The cluster stream sequence the snapshot was applied up to (0 on a single node). */
  appliedSeq: number;
  /** The ids served at the time asked for (stored, less those expired and awaiting the purge). */
  served: StoredSet;
  /** Every stored id. */
  rows: StoredSet;
  /** What the writer kept; differs from `rows` when the database was changed outside the relay. */
  kept: StoredSet | undefined;
}

/** Whether the database takes writes (docs/operators.md): /health and /metrics report it. */
export interface WriteHealth {
  /** While write transactions fail: since when (ms since epoch) and the latest error. */
  failing: { since: number; error: string } | undefined;
  /** Write transactions that failed since the relay started. */
  failedTransactions: number;
}

export type BundleRoot = { address: string } | { id: string };

/** A root event and every event it needs, resolved by the relay: one round trip for a client. */
export interface Bundle {
  root: string;
  events: string[];
  missing: string[];
  /** The kinds of its root and events (the read rules look closer when one is restricted). */
  kinds: number[];
  /** Addresses and `id:<hex>` keys whose change makes this bundle stale. */
  dependsOn: string[];
  /** The imeta media of each exercise among the root and events that has any, by address. */
  media: Record<string, MediaItem[]>;
}

export interface ExportOptions {
  kinds?: number[];
  authors?: string[];
  since?: number;
  until?: number;
}

export interface StoreStats {
  /** The storage engine and its version, e.g. "SQLite 3.53.2". */
  engine: string;
  events: number;
  bytes: number;
  byKind: { kind: number; n: number }[];
  flags: { code: string; n: number }[];
  templates: number;
  incompleteTemplates: number;
  exercises: number;
  records: number;
  /** Cluster mode: the last stream sequence applied to this database (0 on a single node). */
  clusterSeq: number;
}

export interface CheckReport {
  integrity: string;
  /** Processed tables that differ from a rebuild from the raw events. */
  differing: string[];
}

export interface StoragePort {
  /** Stores one event; resolves once the transaction holding it has committed. */
  write(event: VerifiedEvent): Promise<WriteOutcome>;
  has(id: string): Promise<boolean>;
  /** Stored events matching any filter (each with its own limit), newest first, as JSON. */
  query(filters: readonly Filter[], now: number, options?: QueryOptions): Promise<string[]>;
  /** `query`'s answer as the frames that carry it to subscription `subId`, EOSE last. */
  queryFrames(subId: string, filters: readonly Filter[], now: number, options?: QueryOptions): Promise<QueryFrames>;
  /** NIP-45: distinct stored events matching any filter. */
  count(filters: readonly Filter[], now: number, options?: QueryOptions): Promise<number>;
  /**
   * NIP-77: the [created_at, id] of stored events matching the filter (its limit ignored), at most
   * `max`, in no particular order; a caller asks for one more than it allows to learn it is too many.
   */
  syncItems(filter: Filter, now: number, max: number, options?: QueryOptions): Promise<SyncItem[]>;
  /** The bundle rooted at an address or id, unfiltered; undefined when the root is not stored. */
  bundle(root: BundleRoot, now: number): Promise<Bundle | undefined>;
  /** Stored events in storage order after `afterSeq`, at most `limit`; `lastSeq` resumes the walk. */
  exportPage(options: ExportOptions, now: number, afterSeq: number, limit: number): Promise<{ events: string[]; lastSeq: number }>;
  stats(): Promise<StoreStats>;
  /** Deletes expired events (NIP-40); resolves with how many. */
  purgeExpired(now: number): Promise<number>;
  /**
   * Retention: deletes events of `kind` created before `before`; resolves with how many, or undefined
   * when another process on this database applied it (cluster mode). Rejects with ChangeRefused when
   * it cannot be made (so, as moderate, on every node of a cluster).
   */
  prune(kind: number, before: number): Promise<number | undefined>;
  rebuildProcessed(): Promise<void>;
  check(): Promise<CheckReport>;
  /** The stored ids counted from the rows (a full walk of the id index), at `now`. */
  storedSet(now: number): Promise<StoredSetReport>;
  /** A consistent copy; resolves with the stream sequence it was applied up to (cluster mode, else 0). */
  backup(target: string): Promise<{ clusterSeq: number }>;
  vacuum(): Promise<void>;
  /** Bounds the write-ahead log. */
  checkpoint(): Promise<void>;
  loadCacheCounts(): Promise<[string, number][]>;
  saveCacheCounts(counts: [string, number][], now: number): Promise<void>;
  /**
   * Stores a moderation decision; a ban also removes what it bans. Resolves with how many events went
   * (undefined as for prune) once this node applied it; in cluster mode every node applies it at its
   * place in the cluster's stream. Rejects with ChangeRefused when the stream is out of reach.
   */
  moderate(decision: ModerationDecision): Promise<number | undefined>;
  /** The stored moderation decisions and run-time relay information. */
  moderation(): Promise<ModerationState>;
  /** What the web catalogue reads. */
  readonly catalogue: CatalogueReads;
  /** The Blossom media server's blob metadata (the bytes are files: src/store/blobs/). */
  readonly blobs: BlobRecords;
  /** Cluster mode: this node's place in the cluster's stream; undefined on a single node. */
  cluster(): ClusterStatus | undefined;
  /** Whether write transactions fail (disk full, I/O errors), as the writer last reported. */
  writeHealth(): WriteHealth;
  /**
   * Cluster mode: hands an ephemeral event (never stored) to the other nodes, whose subscribers get
   * it through onEphemeral. Nothing happens on a single node.
   */
  shareEphemeral(json: string): void;
  /** Ephemeral events other nodes of the cluster shared; returns the unsubscribe function. */
  onEphemeral(listener: (json: string) => void): () => void;
  /** Subscribes to the committed-change feed; returns the unsubscribe function. */
  onChange(listener: ChangeListener): () => void;
  /** Waits for every write handed over so far to be committed. */
  drain(): Promise<void>;
  close(): Promise<void>;
}
