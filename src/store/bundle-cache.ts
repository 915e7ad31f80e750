import { createHash } from 'node:crypto';
import { COLLECTION_KINDS, LEGACY_RECORD_KIND, RECORD_KIND, TEMPLATE_KIND } from '../powr/types.js';
import { isRestrictedKind, mayRead, type Viewers } from '../powr/privacy.js';
import { addressKey, kindClass, type NostrEvent } from '../protocol/event.js';
import type { MediaItem } from './catalogue.js';
import type { Bundle, BundleRoot, CommittedChange, StoragePort } from './port.js';
import { PriorityCache, type CacheStats } from './priority-cache.js';

/** Where the blob store serves a blob, from the relay's origin; undefined when it serves none (media off). */
export type BlobPath = (sha256: string, type: string) => string;

/** A bundle ready to serve: its HTTP body (but for the origin of local media URLs) and ETag built once. */
export interface ServedBundle extends Bundle {
  /** The HTTP body, local media URLs on `origin` (`https://relay.example`). */
  body(origin: string): string;
  etag: string;
}

/** One medium as a bundle carries it: the local URL when this relay stores the blob, else the imeta's. */
interface BundleMedium {
  url: string;
  sha256: string | null;
  type: string | null;
  local: boolean;
}

const REFERRER_KINDS = new Set([TEMPLATE_KIND, RECORD_KIND, LEGACY_RECORD_KIND, ...COLLECTION_KINDS]);

function served(bundle: Bundle, blobPath: BlobPath | undefined): ServedBundle {
  const local = (m: MediaItem) => (blobPath && m.stored !== null && m.sha256 !== null ? blobPath(m.sha256, m.stored) : undefined);
  const mediaOn = (origin: string) => Object.fromEntries(Object.entries(bundle.media).map(([address, items]) => [address,
    items.map((m): BundleMedium => {
      const path = local(m);
      return path === undefined
        ? { url: m.url, sha256: m.sha256, type: m.mime, local: false }
        : { url: `${origin}${path}`, sha256: m.sha256, type: m.stored, local: true };
    })]));
  const head = `{"root":${bundle.root},"events":[${bundle.events.join(',')}],"missing":${JSON.stringify(bundle.missing)},"media":`;
  // The origin only changes the local URLs, which the ETag covers as paths.
  const text = `${head}${JSON.stringify(mediaOn(''))}}`;
  const etag = `"${createHash('sha256').update(text).digest('base64url').slice(0, 27)}"`;
  const anyLocal = Object.values(bundle.media).some((items) => items.some((m) => local(m) !== undefined));
  return { ...bundle, body: anyLocal ? (origin) => `${head}${JSON.stringify(mediaOn(origin))}}` : () => text, etag };
}

/**
 * Pre-resolved bundles for sessions and HTTP: resolved by the storage port (a reader thread), kept
 * in a byte-sized cache that protects frequently requested bundles, and dropped as soon as the
 * change feed reports a change to any member.
 */
export class BundleCache {
  private readonly cache: PriorityCache<ServedBundle> | undefined;
  /** Commits seen so far: a bundle resolved while one arrived may predate it, and is not cached. */
  private commits = 0;

  constructor(private readonly store: StoragePort, cacheBytes: number, private readonly blobPath?: BlobPath) {
    if (cacheBytes > 0) this.cache = new PriorityCache<ServedBundle>(cacheBytes);
  }

  /** Restores the access counts saved by an earlier run, so priorities survive restarts. */
  async restoreCounts(): Promise<void> {
    if (this.cache) this.cache.restoreCounts(await this.store.loadCacheCounts());
  }

  saveCounts(now: number): Promise<void> {
    return this.cache ? this.store.saveCacheCounts(this.cache.accessCounts(), now) : Promise.resolve();
  }

  /** Feed subscriber: drops every bundle a commit may have made stale. */
  readonly onChange = (change: CommittedChange): void => {
    this.commits++;
    if (!this.cache) return;
    if (change.external) {
      this.cache.clear();
      return;
    }
    this.cache.invalidate([...change.addresses, ...change.removed.map((id) => `id:${id}`), ...(change.media ?? [])]);
  };

  stats(): CacheStats | undefined {
    return this.cache?.stats();
  }

  /**
   * The bundle rooted at an address or event id; undefined when the root is not stored. Under read
   * rules (`viewers` given) events the viewers may not read are left out, and a bundle rooted at one
   * does not exist for them.
   */
  async get(root: BundleRoot, now: number, viewers?: Viewers): Promise<ServedBundle | undefined> {
    const bundle = await this.cached(root, now);
    if (!bundle || !viewers || !bundle.kinds.some((k) => isRestrictedKind(k, viewers))) return bundle;
    const readable = (json: string) => mayRead(JSON.parse(json) as NostrEvent, viewers);
    if (!readable(bundle.root)) return undefined;
    const events = bundle.events.filter(readable);
    if (events.length === bundle.events.length) return bundle;
    // The media of exercises left out go with them.
    const kept = new Set([bundle.root, ...events].map((json) => {
      const e = JSON.parse(json) as NostrEvent;
      return `${e.kind}:${e.pubkey}:${addressKey(e) ?? ''}`;
    }));
    const media = Object.fromEntries(Object.entries(bundle.media).filter(([address]) => kept.has(address)));
    return served({ ...bundle, events, media }, this.blobPath);
  }

  private async cached(root: BundleRoot, now: number): Promise<ServedBundle | undefined> {
    const key = 'address' in root ? `a:${root.address}` : `id:${root.id}`;
    const hit = this.cache?.get(key);
    if (hit) return hit;
    const commitsBefore = this.commits;
    const resolved = await this.store.bundle(root, now);
    if (!resolved) return undefined;
    const bundle = served(resolved, this.blobPath);
    if (this.commits === commitsBefore) this.cache?.set(key, bundle, bundle.body('').length, bundle.dependsOn);
    return bundle;
  }

  /**
   * The stored event with this id when a bundle rooted at it is cached, without asking the store: the
   * feed drops such a bundle as soon as its root leaves the store (deleted, replaced, banned, purged),
   * so as far as this relay's writes go the event is still stored; another process's commit (CLI
   * import or prune) reaches the feed with the writer's next data_version poll, and until then an
   * event it deleted may still be returned. Whether it has expired (NIP-40) since is the caller's to
   * check. Not counted as a use of the bundle.
   */
  storedEvent(id: string): string | undefined {
    return this.cache?.peek(`id:${id}`)?.root;
  }

  /** The events a template, record or collection references, for REQs with `"resolve": true`. */
  async referencedEvents(event: NostrEvent, now: number, viewers?: Viewers): Promise<string[]> {
    if (!REFERRER_KINDS.has(event.kind)) return [];
    const root = kindClass(event.kind) === 'addressable' ? { address: `${event.kind}:${event.pubkey}:${addressKey(event)}` } : { id: event.id };
    return (await this.get(root, now, viewers))?.events ?? [];
  }
}
