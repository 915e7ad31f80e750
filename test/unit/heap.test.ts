import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { compactHeap, compactWhenQuiet } from '../../src/workers/heap.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('heap compaction', () => {
  let timer: NodeJS.Timeout | undefined;
  afterEach(() => clearInterval(timer));

  it('collects what a busy spell left on the heap', async () => {
    const rows = (() => Array.from({ length: 200_000 }, (_, i) => ({ i, text: `row ${i}` })).length)();
    const before = process.memoryUsage().heapUsed;
    await compactHeap();
    expect(rows).toBe(200_000);
    expect(before - process.memoryUsage().heapUsed).toBeGreaterThan(5 * 1024 * 1024);
  });

  it('compacts once each time the threads stop after running, never while they run', async () => {
    let threads = 0;
    let compactions = 0;
    timer = compactWhenQuiet(() => threads, pino({ level: 'silent' }), async () => void compactions++, 10);
    await sleep(60);
    expect(compactions).toBe(0); // quiet from the start: nothing to give back
    threads = 2;
    await sleep(60);
    expect(compactions).toBe(0);
    threads = 0;
    await sleep(60);
    expect(compactions).toBe(1);
    threads = 1;
    await sleep(60);
    threads = 0;
    await sleep(60);
    expect(compactions).toBe(2);
  });
});
