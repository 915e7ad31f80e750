import { LRUCache } from 'lru-cache';
import { growingLru } from './lru.js';

export interface CacheStats {
  hits: number;
  misses: number;
  entries: number;
  bytes: number;
}

/** Accesses after which an entry counts as hot and moves to the protected segment. */
const HOT_AFTER = 3;
/** Share of the byte budget kept for hot entries. */
const HOT_SHARE = 0.8;

interface Entry<V> {
  value: V;
  bytes: number;
  /** Keys (addresses, `id:<hex>`) whose change makes this entry stale. */
  dependsOn: readonly string[];
}

/**
 * A byte-sized cache with priorities: entries start in a small probation segment and move to a
 * protected segment once accessed HOT_AFTER times, so the exercise library every client asks for
 * stays warm while one-off lookups are evicted first. Access counts outlive evictions (and, through
 * cache_metadata, restarts), so a popular entry is protected again as soon as it is rebuilt.
 */
export class PriorityCache<V> {
  private readonly cold: LRUCache<string, Entry<V>>;
  private readonly hot: LRUCache<string, Entry<V>>;
  private readonly counts = growingLru<string, number>(100_000);
  private readonly dependants = new Map<string, Set<string>>();
  private hits = 0;
  private misses = 0;

  constructor(maxBytes: number) {
    const segment = (bytes: number, onEvict?: (key: string, entry: Entry<V>) => void) =>
      new LRUCache<string, Entry<V>>({
        maxSize: Math.max(1, Math.floor(bytes)),
        sizeCalculation: (e) => Math.max(1, e.bytes),
        dispose: (entry, key, reason) => {
          if (reason === 'evict' && onEvict) onEvict(key, entry);
          else if (reason !== 'set') this.forget(key, entry);
        },
      });
    this.cold = segment(maxBytes * (1 - HOT_SHARE));
    // A hot entry squeezed out of the protected segment gets one more chance in probation.
    this.hot = segment(maxBytes * HOT_SHARE, (key, entry) => this.cold.set(key, entry));
  }

  /** Drops every entry (another process changed the database); access counts are kept. */
  clear(): void {
    this.hot.clear();
    this.cold.clear();
    this.dependants.clear();
  }

  private forget(key: string, entry: Entry<V>): void {
    if (this.hot.has(key) || this.cold.has(key)) return;
    for (const dep of entry.dependsOn) {
      const keys = this.dependants.get(dep);
      keys?.delete(key);
      if (keys?.size === 0) this.dependants.delete(dep);
    }
  }

  private touch(key: string): number {
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    return n;
  }

  get(key: string): V | undefined {
    const n = this.touch(key);
    const hot = this.hot.get(key);
    if (hot) {
      this.hits++;
      return hot.value;
    }
    const cold = this.cold.get(key);
    if (!cold) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    if (n >= HOT_AFTER) {
      this.hot.set(key, cold); // before the delete, so its dependency keys are kept
      this.cold.delete(key);
    }
    return cold.value;
  }

  /** The value under `key`, if cached, without counting an access (nor a hit or a miss). */
  peek(key: string): V | undefined {
    return (this.hot.peek(key) ?? this.cold.peek(key))?.value;
  }

  set(key: string, value: V, bytes: number, dependsOn: readonly string[]): void {
    for (const dep of dependsOn) {
      let keys = this.dependants.get(dep);
      if (!keys) this.dependants.set(dep, (keys = new Set()));
      keys.add(key);
    }
    const entry = { value, bytes, dependsOn };
    if ((this.counts.get(key) ?? 0) >= HOT_AFTER) this.hot.set(key, entry);
    else this.cold.set(key, entry);
  }

  /** Drops every entry that depends on one of `keys`. */
  invalidate(keys: Iterable<string>): void {
    for (const dep of keys) {
      for (const key of [...(this.dependants.get(dep) ?? [])]) {
        this.hot.delete(key);
        this.cold.delete(key);
      }
    }
  }

  stats(): CacheStats {
    return {
      hits: this.hits,
      misses: this.misses,
      entries: this.hot.size + this.cold.size,
      bytes: this.hot.calculatedSize + this.cold.calculatedSize,
    };
  }

  /** Access counts, for cache_metadata. */
  accessCounts(): [string, number][] {
    return [...this.counts.entries()];
  }

  restoreCounts(counts: Iterable<[string, number]>): void {
    for (const [key, n] of counts) this.counts.set(key, n);
  }
}
