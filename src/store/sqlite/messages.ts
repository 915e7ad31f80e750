import type { Filter } from '../../protocol/filter.js';
import type { BlobEntriesQuery, BlobListQuery, CachedBlob, NewBlob } from '../blobs/port.js';
import type { CATALOGUE_METHODS } from '../catalogue.js';
import type { Decision } from '../decisions.js';
import type { ClusterOptions } from '../cluster/nats-log.js';
import type {
  BundleRoot,
  ClusterStatus,
  CommittedChange,
  ExportOptions,
  QueryOptions,
  VerifiedEvent,
  WriteHealth,
  WriteOutcome,
} from '../port.js';

/**
 * The typed messages between the main thread and the SQLite threads. Events cross as their JSON
 * text (with the prepared event the verification pool built, prepare.ts), never as structured clones
 * of parsed events.
 */

/** What a thread needs to open its connection. */
export interface ThreadOptions {
  path: string;
  /** Writer only: most events in one transaction. */
  batchSize: number;
  /** Writer only: this relay's public URL, which a request to vanish (NIP-62) names; '' when not configured. */
  relayUrl: string;
  /** Writer only: cluster mode, following this NATS JetStream stream. */
  cluster?: ClusterOptions;
}

/** Changes to the Blossom blob metadata (blob-tables.ts), each in one transaction. */
export type BlobWrite =
  | { op: 'add'; blob: NewBlob }
  | { op: 'removeOwner'; sha256: string; pubkey: string }
  | { op: 'touch'; served: [string, number][] }
  | { op: 'forget'; sha256: string }
  | { op: 'addCached'; blob: CachedBlob }
  | { op: 'evictCached'; maxBytes: number; now: number };

export type BlobRead =
  | { op: 'describe'; sha256: string }
  | { op: 'list'; query: BlobListQuery }
  | { op: 'usage'; pubkey: string }
  | { op: 'totals' }
  | { op: 'entries'; query: BlobEntriesQuery }
  | { op: 'mirrorWanted'; after: string; evictedSince: number; limit: number };

/** Maintenance the writer runs in its own transactions; each answers with a `done`. */
export type WriterTask =
  /** In cluster mode published to the cluster's stream, and answered once applied here. */
  | Decision
  | { op: 'purgeExpired'; now: number }
  | { op: 'rebuild' }
  | { op: 'check' }
  | { op: 'vacuum' }
  | { op: 'checkpoint' }
  | { op: 'saveCacheCounts'; counts: [string, number][]; now: number }
  | { op: 'blobs'; write: BlobWrite }
  /**
   * Reads of the tables only the writer writes, needed at start-up: answered here, the relay starts
   * without a reader thread (one starts with the first client's read).
   */
  | { op: 'loadCacheCounts' }
  | { op: 'moderation' };

export type ToWriter =
  | { type: 'write'; events: { ref: number; event: VerifiedEvent }[] }
  | { type: 'task'; ref: number; task: WriterTask }
  /** Cluster mode: an ephemeral event for the other nodes. */
  | { type: 'ephemeral'; json: string }
  | { type: 'close' };

export type FromWriter =
  | { type: 'ready'; lastSeq: number }
  /** Startup failed (the database cannot be opened); the thread exits. */
  | { type: 'fatal'; message: string }
  /** A write transaction committed: its events' outcomes and the change feed entry, in one message. */
  | { type: 'committed'; results: { ref: number; outcome: WriteOutcome }[]; change: CommittedChange | undefined }
  /** A change not caused by a write: another process's commits, or maintenance (purge, prune). */
  | { type: 'change'; change: CommittedChange }
  /** Cluster mode: an ephemeral event another node shared. */
  | { type: 'ephemeral'; json: string }
  /** Cluster mode: where this node stands in the stream (posted when it changes). */
  | { type: 'cluster'; status: ClusterStatus }
  /** Write transactions failed (`failed` more of them), or succeed again: posted when either changes. */
  | { type: 'writes'; failing: WriteHealth['failing']; failed: number }
  /** `refused`: a decision not made anywhere (cluster mode: the stream out of reach); the caller gets ChangeRefused. */
  | { type: 'done'; ref: number; result?: unknown; error?: string; refused?: string }
  /** A line for the relay's log (the writer thread has no logger of its own). */
  | { type: 'log'; level: 'info' | 'error'; msg: string; detail?: Record<string, unknown> }
  | { type: 'closed' };

export type ReadRequest =
  /**
   * Filters cross as they are, their Sets too: cloning them costs the main thread less than turning
   * them into JSON text without the Sets first did (CPU of the request's serialisation, v8.serialize:
   * a following feed's two filters of 100 authors 25 against 80-120 µs; one kind and a limit 3-5
   * against 8), and the reader thread no JSON.parse.
   */
  | { op: 'query'; filters: readonly Filter[]; now: number; options: QueryOptions }
  | { op: 'queryFrames'; subId: string; filters: readonly Filter[]; now: number; options: QueryOptions }
  | { op: 'count'; filters: readonly Filter[]; now: number; options: QueryOptions }
  | { op: 'syncItems'; filter: Filter; now: number; max: number; options: QueryOptions }
  | { op: 'has'; id: string }
  | { op: 'bundle'; root: BundleRoot; now: number }
  | { op: 'exportPage'; options: ExportOptions; now: number; afterSeq: number; limit: number }
  | { op: 'stats' }
  | { op: 'storedSet'; now: number }
  | { op: 'backup'; target: string }
  | { op: 'catalogue'; method: (typeof CATALOGUE_METHODS)[number]; args: unknown[] }
  | { op: 'blobs'; read: BlobRead };

export type ReadResult =
  | { ok: true; value: unknown }
  /** `timeout`: the read ran out of its time budget; `failed`: anything else (the message says what). */
  | { ok: false; error: 'timeout' | 'failed'; message: string };
