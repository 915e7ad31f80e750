import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { StorageType, jetstream } from '@nats-io/jetstream';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { BlobStoreUnavailable, type BlobFiles, type ReceivedBlob } from '../blobs/port.js';

/**
 * Cluster mode: blob bytes in a NATS JetStream Object Store bucket (`<clusterStream>-blobs`), so every
 * node can serve every blob. The object store reads an object only whole, from its start, so each node
 * also keeps its own copy in `local` (DiskBlobFiles) and serves ranges from that: an upload is kept
 * locally, then put into the bucket from the file (streamed, chunk by chunk); every node copies a blob
 * from the bucket when its metadata entry is applied (prefetch), or else when it is first asked for,
 * checked against its hash either way.
 */

export interface BucketOptions {
  servers: string[];
  bucket: string;
  replicas: number;
}

export interface BucketHooks {
  log(level: 'info' | 'error', msg: string, detail?: Record<string, unknown>): void;
}

/** Bytes per object store message: fewer round trips than the client's 128 KiB, well under NATS' 1 MiB payload. */
const CHUNK_BYTES = 512 * 1024;
const API_TIMEOUT_MS = 5000;
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());
const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class ClusterBlobFiles implements BlobFiles {
  private nc: NatsConnection | undefined;
  private bucket: ObjectStore | undefined;
  private problem: string | undefined = 'connecting to NATS for the media bucket';
  private closing = false;
  /** Fetches from the bucket under way, by hash, so concurrent first requests share one. */
  private readonly fetching = new Map<string, Promise<boolean>>();
  /** Uploads kept here whose owner entry is not applied yet, by hash (how many). */
  private readonly storing = new Map<string, number>();
  /** Resolves when the bucket is first opened. */
  private readonly firstOpened: Promise<void>;
  private opened!: () => void;
  /** The copies made ahead, one after another, from the bucket's first opening on. */
  private ahead: Promise<void>;

  /** The local store's: the optimiser's results are adopted from there by a rename. */
  readonly tempDir: string;

  constructor(private readonly local: BlobFiles, private readonly options: BucketOptions, private readonly hooks: BucketHooks) {
    this.tempDir = local.tempDir;
    this.firstOpened = new Promise((resolve) => (this.opened = resolve));
    this.ahead = this.firstOpened;
  }

  /** Connects (trying again until it can, or until close) and opens the bucket, creating it when missing. */
  async run(): Promise<void> {
    let wait = RETRY_MIN_MS;
    while (!this.closing && !this.bucket) {
      try {
        await this.connect();
      } catch (err) {
        this.setProblem(`NATS: ${message(err)}`);
        await delay(wait);
        wait = Math.min(wait * 2, RETRY_MAX_MS);
      }
    }
  }

  /** Why blobs cannot be stored now (NATS out of reach), or undefined. */
  unavailable(): string | undefined {
    return this.problem;
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.nc?.close().catch(() => undefined);
  }

  private setProblem(problem: string | undefined): void {
    if (problem === this.problem) return;
    if (problem) this.hooks.log('error', 'media bucket unavailable', { bucket: this.options.bucket, problem });
    else this.hooks.log('info', 'media bucket available', { bucket: this.options.bucket });
    this.problem = problem;
  }

  private async connect(): Promise<void> {
    const nc = await connect({
      servers: this.options.servers, name: 'powr-relay media', maxReconnectAttempts: -1, reconnectTimeWait: 500, pingInterval: 5000, maxPingOut: 2,
    });
    try {
      this.bucket = await new Objm(jetstream(nc, { timeout: API_TIMEOUT_MS })).create(this.options.bucket, {
        storage: StorageType.File, replicas: this.options.replicas, description: 'powr-relay Blossom blobs, named by their sha256',
      });
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
    this.nc = nc;
    this.setProblem(undefined);
    this.opened();
    void this.watch(nc);
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') this.setProblem(`lost the connection to NATS at ${s.server}`);
      else if (s.type === 'reconnect') this.setProblem(undefined);
    }
  }

  /** The bucket, when NATS is at hand; else BlobStoreUnavailable. */
  private ready(): ObjectStore {
    if (this.problem !== undefined || !this.bucket) throw new BlobStoreUnavailable(`the cluster's media bucket is out of reach (${this.problem}); try again`);
    return this.bucket;
  }

  async receive(body: Readable, maxBytes: number): Promise<ReceivedBlob> {
    const blob = await this.local.receive(body, maxBytes);
    return { ...blob, keep: () => this.keep(blob.sha256, blob.size, () => blob.keep()) };
  }

  /** A file the optimiser made (PUT /media): kept here and in the bucket as an upload is. */
  async adopt(path: string, sha256: string): Promise<boolean> {
    const { size } = await stat(path);
    return this.keep(sha256, size, () => this.local.adopt(path, sha256));
  }

  /**
   * Keeps the bytes here (`keepHere`), then in the bucket; true when the bucket did not hold them yet.
   * The copy is held (against a racing removal) until the owner's entry is applied (stored()).
   */
  private async keep(sha256: string, size: number, keepHere: () => Promise<boolean>): Promise<boolean> {
    this.ready();
    await keepHere();
    this.storing.set(sha256, (this.storing.get(sha256) ?? 0) + 1);
    try {
      return await this.share(sha256, size);
    } catch (err) {
      this.stored(sha256);
      throw err;
    }
  }

  /** An upload kept by keep() has had its owner applied (or failed to): its copy is no longer held. */
  stored(sha256: string): void {
    const n = (this.storing.get(sha256) ?? 0) - 1;
    if (n > 0) this.storing.set(sha256, n);
    else this.storing.delete(sha256);
  }

  /**
   * Puts this node's copy into the bucket unless the bucket holds it; true when it did not. Also called
   * once an upload's owner is applied: a delete of the blob's last owner on another node, applied just
   * before, may have removed the object after this node's first look.
   */
  async share(sha256: string, size: number): Promise<boolean> {
    const bucket = this.ready();
    try {
      const there = await bucket.info(sha256);
      if (there && !there.deleted && there.size === size) return false;
      const bytes = await this.local.open(sha256);
      if (!bytes) throw new Error(`this node has no copy of ${sha256}`);
      await bucket.put({ name: sha256, options: { max_chunk_size: CHUNK_BYTES } }, Readable.toWeb(bytes) as ReadableStream<Uint8Array>);
      return true;
    } catch (err) {
      throw new BlobStoreUnavailable(`the blob could not be stored in the cluster's media bucket: ${message(err)}`);
    }
  }

  async open(sha256: string, range?: { start: number; end: number }): Promise<Readable | undefined> {
    const here = await this.local.open(sha256, range);
    if (here) return here;
    let fetch = this.fetching.get(sha256);
    if (!fetch) {
      fetch = this.fetch(sha256).finally(() => this.fetching.delete(sha256));
      this.fetching.set(sha256, fetch);
    }
    return (await fetch) ? this.local.open(sha256, range) : undefined;
  }

  /** Copies a blob from the bucket to the local store, checked against its hash; false when the bucket has none. */
  private async fetch(sha256: string): Promise<boolean> {
    const started = performance.now();
    const object = await this.ready().get(sha256).catch((err: unknown) => {
      throw new BlobStoreUnavailable(`the blob could not be read from the cluster's media bucket: ${message(err)}`);
    });
    if (!object) return false;
    const received = await this.local.receive(Readable.fromWeb(object.data as NodeReadableStream<Uint8Array>), Number.MAX_SAFE_INTEGER);
    try {
      const failed = await object.error;
      if (failed) throw new BlobStoreUnavailable(`the blob could not be read from the cluster's media bucket: ${failed.message}`);
      if (received.sha256 !== sha256) {
        this.hooks.log('error', 'the media bucket holds other bytes under a blob\'s name; not served', { sha256, got: received.sha256 });
        return false;
      }
      await received.keep();
    } finally {
      await received.discard();
    }
    this.hooks.log('info', 'blob copied from the media bucket', { sha256, size: received.size, ms: Math.round(performance.now() - started) });
    return true;
  }

  /**
   * Copies a blob from the bucket ahead of its first request (a new owner applied from the stream), one
   * blob at a time; a copy this node has already costs a file open.
   */
  prefetch(sha256: string): void {
    this.ahead = this.ahead
      .then(() => this.open(sha256))
      .then((bytes) => {
        bytes?.destroy();
      })
      .catch((err: unknown) => this.hooks.log('error', 'copying a blob from the media bucket ahead failed; it is fetched when asked for', { sha256, problem: message(err) }));
  }

  /**
   * Once the bucket is open, copies every object in it that `known` says this node has metadata for and
   * that it has no copy of: what the node applied before it followed the feed (at start, from a backup,
   * or from an empty database), and copies a stopped node never finished.
   */
  catchUp(known: (sha256: string) => Promise<boolean>): void {
    this.firstOpened
      .then(async () => {
        for (const { name, deleted } of await this.ready().list()) {
          if (!deleted && /^[0-9a-f]{64}$/.test(name) && (await known(name))) this.prefetch(name);
        }
      })
      .catch((err: unknown) => this.hooks.log('error', 'listing the media bucket to copy what this node lacks failed; blobs are fetched when asked for', { problem: message(err) }));
  }

  /** The last owner is gone: this node's copy and the bucket's object go. */
  async remove(sha256: string): Promise<void> {
    await this.local.remove(sha256);
    try {
      await this.ready().delete(sha256);
    } catch (err) {
      // Left in the bucket, unlisted and unserved: no node has metadata for it.
      this.hooks.log('error', 'a deleted blob could not be removed from the media bucket', { sha256, problem: message(err) });
    }
  }

  /**
   * A removal of the blob's last owner was applied: this node's copy goes, unless an upload of the same
   * bytes on this node is under way (its owner comes later in the stream, and needs the copy).
   */
  async forget(sha256: string): Promise<void> {
    if (!this.storing.has(sha256)) await this.local.remove(sha256);
  }
}
