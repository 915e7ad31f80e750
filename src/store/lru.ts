import { LRUCache } from 'lru-cache';

/**
 * An LRU cache of at most `entries` entries that takes memory as it fills. lru-cache's `max` option
 * allocates its arrays for every entry up front (about 30 bytes each: 3 MiB for 100k before the first
 * is stored); a size bound of one per entry keeps the same limit without that.
 */
export function growingLru<K extends {}, V extends {}>(entries: number): LRUCache<K, V> {
  return new LRUCache<K, V>({ maxSize: entries, sizeCalculation: () => 1 });
}
