import type { Logger } from 'pino';
import type { Config } from '../config/settings.js';
import type { BlobFiles, BlobRecords, ReceivedBlob } from '../store/blobs/port.js';
import { fetchForMirror, type Fetched } from './mirror.js';
import { mediaType, sniffType, typeOfPath } from './mime.js';

/** How often the loop looks for media to fetch; each round fetches what it finds, one blob at a time. */
const ROUND_MS = 2000;
const PAGE = 100;
/** Fetches of one hash before it is given up (until restart), BACKOFF_MS apart, doubling. */
const MAX_TRIES = 4;
const BACKOFF_MS = 60_000;
/** An evicted blob is not fetched again for this long, so what does not fit does not churn the cache. */
const EVICTED_REST_S = 24 * 3600;

export interface MirrorCacheDeps {
  config: Config;
  records: BlobRecords;
  files: BlobFiles;
  /** Blossom's per-hash lock, so an eviction cannot remove a file an upload of the same hash just counted on. */
  exclusive: <T>(sha256: string, run: () => Promise<T>) => Promise<T>;
  log: Logger;
}

const unixNow = () => Math.floor(Date.now() / 1000);

interface Failures {
  tries: number;
  retryAt: number;
}

/**
 * The mirror cache (mediaMirrorCacheBytes, docs/media.md): a loop on the main thread that fetches the
 * blobs exercises' imeta URLs name on other servers, keeps them when their bytes hash to the name, and
 * evicts what no longer fits in the byte bound (the order is the store's: evictCached).
 */
export class MirrorCache {
  private readonly timer: NodeJS.Timeout;
  private round: Promise<void> | undefined;
  private cursor = '';
  private readonly failures = new Map<string, Failures>();
  /** The download running, cut off at shutdown. */
  private current: Fetched | undefined;
  private stopped = false;

  constructor(private readonly deps: MirrorCacheDeps) {
    this.timer = setInterval(() => {
      this.round ??= this.fetchWanted()
        .catch((err: unknown) => deps.log.error({ err }, 'the mirror cache round failed'))
        .finally(() => (this.round = undefined));
    }, ROUND_MS).unref();
  }

  private async fetchWanted(): Promise<void> {
    const wanted = await this.deps.records.mirrorWanted(this.cursor, unixNow() - EVICTED_REST_S, PAGE);
    this.cursor = wanted.length < PAGE ? '' : wanted.at(-1)!.sha256;
    for (const { sha256, url } of wanted) {
      if (this.stopped) return;
      const failed = this.failures.get(sha256);
      if (failed && (failed.tries >= MAX_TRIES || Date.now() < failed.retryAt)) continue;
      try {
        await this.fetchOne(sha256, url);
        this.failures.delete(sha256);
      } catch (err) {
        if (this.stopped) return;
        const tries = (failed?.tries ?? 0) + 1;
        this.failures.set(sha256, { tries, retryAt: Date.now() + BACKOFF_MS * 2 ** (tries - 1) });
        this.deps.log.info({ sha256, url, tries, reason: (err as Error).message }, tries >= MAX_TRIES ? 'mirror cache gave up on a blob' : 'mirror cache fetch failed');
      }
    }
  }

  private async fetchOne(sha256: string, url: string): Promise<void> {
    const { config, files, records } = this.deps;
    const maxBytes = Math.min(config.mediaMaxBytes, config.mediaMirrorCacheBytes);
    const fetched = await fetchForMirror(url, { allowPrivate: config.mediaMirrorPrivate, maxBytes });
    let blob: ReceivedBlob;
    this.current = fetched;
    try {
      blob = await files.receive(fetched.body, maxBytes);
    } finally {
      this.current = undefined;
      fetched.body.destroy();
    }
    try {
      if (blob.sha256 !== sha256) throw new Error(`its bytes hash to ${blob.sha256}, not the ${sha256} the URL names`);
      const type = mediaType(fetched.type) ?? typeOfPath(fetched.url.pathname) ?? sniffType(blob.head);
      if (type === undefined || !config.mediaTypes.includes(type)) throw new Error(`${type ?? 'an unknown type'} is not a media type this relay stores`);
      const now = unixNow();
      const added = await this.deps.exclusive(sha256, async () => {
        await blob.keep();
        return records.addCached({ sha256, size: blob.size, type, now });
      });
      if (added) this.deps.log.debug({ sha256, size: blob.size }, 'mirror cache stored a blob');
    } finally {
      await blob.discard();
    }
    const evicted = await records.evictCached(config.mediaMirrorCacheBytes, unixNow());
    for (const hash of evicted) {
      // Its row is gone; an upload of the same bytes may have brought it back before the lock was ours.
      await this.deps.exclusive(hash, async () => {
        if (!(await records.describe(hash))) await files.remove(hash);
      });
    }
    if (evicted.length > 0) this.deps.log.debug({ evicted }, 'mirror cache evicted blobs');
  }

  /** Stops the loop, cutting off a download, and waits for the round to end. */
  async close(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.current?.body.destroy(new Error('the relay is shutting down'));
    await this.round;
  }
}
