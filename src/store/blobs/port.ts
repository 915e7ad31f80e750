import type { Readable } from 'node:stream';

/**
 * Blob storage for the Blossom media server (src/media): the bytes, named by their sha256, and what
 * is known about them. Bytes live in files (`BlobFiles`); the metadata (size, type, owners, times)
 * lives in the database behind the storage port (`BlobRecords`, answered by the writer and reader
 * threads). Hashes and pubkeys are lowercase hex throughout.
 */

/**
 * What is known of an optimised blob (PUT /media) beyond its bytes, as its NIP-94 tags say it; absent
 * for a blob stored as sent.
 */
export interface BlobMeta {
  /** The sha256 of the upload it was made from. */
  ox?: string;
  /** `<width>x<height>`. */
  dim?: string;
  blurhash?: string;
  /** The sha256 of its thumbnail, a WebP blob (THUMBNAIL_TYPE). */
  thumb?: string;
  /** A video's: the sha256 of its poster frame, a WebP blob. */
  image?: string;
}

/** One stored blob as one owner sees it. */
export interface BlobRow extends BlobMeta {
  sha256: string;
  size: number;
  type: string;
  /** When this owner uploaded it (for a blob looked up by hash: when it was first stored). */
  uploaded: number;
}

/** The type of every thumbnail and poster the optimiser makes. */
export const THUMBNAIL_TYPE = 'image/webp';

/** A blob looked up by hash, with whether it may be served (not banned, and some owner not banned). */
export interface BlobInfo extends BlobRow {
  visible: boolean;
}

export interface BlobListQuery {
  pubkey: string;
  /** The sha256 of the last blob of the previous page: the page starts after it. */
  cursor?: string;
  limit: number;
  since?: number;
  until?: number;
}

/** A blob as the operator sees it (`powr-relay media list`): every owner, whether it is served. */
export interface BlobEntry extends BlobInfo {
  /** When it was last served (written once a minute); null when never. */
  lastServed: number | null;
  owners: string[];
}

export interface BlobEntriesQuery {
  /** The page starts after this hash (hash order). */
  after?: string;
  limit: number;
  /** Only the blobs this pubkey owns. */
  pubkey?: string;
  /** Only this type; `video/*` for a family. */
  type?: string;
}

export interface BlobRecords {
  describe(sha256: string): Promise<BlobInfo | undefined>;
  /**
   * A pubkey's blobs, newest first (ties by hash, descending); banned hashes left out. undefined when
   * the cursor is not one of that pubkey's blobs.
   */
  list(query: BlobListQuery): Promise<BlobRow[] | undefined>;
  /** Bytes of the blobs a pubkey owns (what its quota counts). */
  usage(pubkey: string): Promise<number>;
  /**
   * Records a stored blob and its owner; `uploaded` is when this owner first uploaded it. `meta` fills
   * in what the blob's row does not know yet.
   */
  add(blob: NewBlob): Promise<{ uploaded: number; newOwner: boolean }>;
  /**
   * Takes `pubkey` off a blob's owners; `owned` false when it was not one. `last`: no owner is left and
   * the blob's row is gone, so its file goes too.
   */
  removeOwner(sha256: string, pubkey: string): Promise<{ owned: boolean; last: boolean }>;
  /** Remembers when blobs were last served. */
  touch(served: [string, number][]): Promise<void>;
  /** How many blobs are stored and their bytes (each blob once, whoever owns it). */
  totals(): Promise<{ blobs: number; bytes: number }>;
  /** Every blob, banned ones included, in hash order: the operator's walk (list, verify, gc, backup). */
  entries(query: BlobEntriesQuery): Promise<BlobEntry[]>;
  /** Removes a blob's row and all its owners whoever they are; false when there was none. */
  forget(sha256: string): Promise<boolean>;
  /**
   * Blobs that exercises' imeta URLs name but the relay lacks (not banned, not evicted from the cache
   * at `evictedSince` or later), in hash order after `after`, one of their URLs each: what the mirror
   * cache fetches.
   */
  mirrorWanted(after: string, evictedSince: number, limit: number): Promise<{ sha256: string; url: string }[]>;
  /** Records a blob the mirror cache fetched (no owner); false when the hash was stored meanwhile. */
  addCached(blob: CachedBlob): Promise<boolean>;
  /**
   * Drops cached blobs (never owned ones) until the cache holds at most `maxBytes`: those of exercises
   * no template uses first, then the least recently served, noting `now` as when. Answers their hashes,
   * whose files go too.
   */
  evictCached(maxBytes: number, now: number): Promise<string[]>;
}

export type CachedBlob = Omit<NewBlob, 'pubkey' | 'meta'>;

export interface NewBlob {
  sha256: string;
  size: number;
  type: string;
  pubkey: string;
  now: number;
  meta?: BlobMeta;
}

export const HEAD_BYTES = 64;

/** Bytes received into a temporary file, hashed on the way; nothing is served until `keep`. */
export interface ReceivedBlob {
  sha256: string;
  size: number;
  /** The temporary file, readable until `keep` or `discard`. */
  path: string;
  /** Its first bytes (up to HEAD_BYTES), to recognise a type the uploader did not name. */
  head: Buffer;
  /** Makes the bytes durable under their hash (fsync, rename); false when the blob was there already. */
  keep(): Promise<boolean>;
  /** Drops the temporary file. */
  discard(): Promise<void>;
}

/** A body larger than the limit: it was dropped while streaming. */
export class BlobTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`the blob is larger than ${limit} bytes`);
  }
}

/** The disk is full (ENOSPC, EDQUOT): nothing was kept. */
export class BlobStorageFull extends Error {}

/** Cluster mode: the shared blob store (NATS) is out of reach; the message says why. */
export class BlobStoreUnavailable extends Error {}

export interface BlobFiles {
  /** Why nothing can be stored right now (cluster mode: NATS out of reach); undefined when it can. */
  unavailable?(): string | undefined;
  /** Streams `body` into a temporary file while hashing it; rejects with BlobTooLarge past `maxBytes`. */
  receive(body: Readable, maxBytes: number): Promise<ReceivedBlob>;
  /** The stored bytes, whole or from `start` to `end` inclusive; undefined when there is no file. */
  open(sha256: string, range?: { start: number; end: number }): Promise<Readable | undefined>;
  remove(sha256: string): Promise<void>;
  /**
   * A folder on the blobs' own file system for files made to be stored (the optimiser's outputs), so
   * that storing them is a rename. Emptied at start.
   */
  readonly tempDir: string;
  /**
   * Stores a whole file made in `tempDir` under its hash, as `keep` does (fsync, rename); the caller
   * computed `sha256` from the file. False when the blob was there already (the file is then removed).
   */
  adopt(path: string, sha256: string): Promise<boolean>;
}
