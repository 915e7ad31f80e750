import { describe, expect, it } from 'vitest';
import { PriorityCache } from '../../src/store/priority-cache.js';

describe('PriorityCache', () => {
  it('keeps frequently used entries while a stream of one-off lookups churns through', () => {
    const cache = new PriorityCache<string>(10_000);
    for (let round = 0; round < 3; round++) {
      for (const key of ['library', 'popular-template']) {
        if (!cache.get(key)) cache.set(key, key, 1000, [key]);
      }
    }
    for (let i = 0; i < 500; i++) {
      if (!cache.get(`one-off-${i}`)) cache.set(`one-off-${i}`, 'x', 500, [`dep-${i}`]);
    }
    expect(cache.get('library')).toBe('library');
    expect(cache.get('popular-template')).toBe('popular-template');
    expect(cache.get('one-off-0')).toBeUndefined();
    expect(cache.stats().bytes).toBeLessThanOrEqual(10_000);
  });

  it('invalidates every entry that depends on a changed key, and counts hits and misses', () => {
    const cache = new PriorityCache<string>(10_000);
    cache.set('bundle-a', 'a', 10, ['33401:x:squat', '33402:x:legs']);
    cache.set('bundle-b', 'b', 10, ['33401:x:squat']);
    cache.set('bundle-c', 'c', 10, ['33401:x:row']);
    cache.invalidate(['33401:x:squat']);
    expect(cache.get('bundle-a')).toBeUndefined();
    expect(cache.get('bundle-b')).toBeUndefined();
    expect(cache.get('bundle-c')).toBe('c');
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 2, entries: 1 });
  });

  it('restores access counts so a popular entry is protected as soon as it is rebuilt', () => {
    const cache = new PriorityCache<string>(4000);
    cache.restoreCounts([['library', 50]]);
    cache.set('library', 'lib', 1000, []);
    for (let i = 0; i < 50; i++) cache.set(`one-off-${i}`, 'x', 300, []);
    expect(cache.get('library')).toBe('lib');
    expect(cache.accessCounts()).toEqual(expect.arrayContaining([['library', 51]]));
  });
});
