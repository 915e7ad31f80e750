import { finalizeEvent, generateSecretKey } from 'nostr-tools/pure';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { CheckResult } from '../../src/workers/check-event.js';
import { WorkerPool } from '../../src/workers/pool.js';

// The real verification thread, as the relay runs it (tests run against dist, built by pretest).
const CHECK_THREAD = new URL('../../dist/workers/check-thread.js', import.meta.url);
const key = generateSecretKey();
const note = (i: number) => JSON.stringify(finalizeEvent({ kind: 1, content: `note ${i}`, tags: [], created_at: 1_800_000_000 + i }, key));

async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('worker pool', () => {
  let pool: WorkerPool<string, CheckResult> | undefined;
  afterEach(async () => {
    await pool?.close();
  });

  it('starts no thread until the first task, and one for a lone task at a time', async () => {
    pool = new WorkerPool<string, CheckResult>(CHECK_THREAD, 3, { mode: 'strict' }, pino({ level: 'silent' }));
    expect(pool.size).toBe(0);
    expect(pool.max).toBe(3);
    for (let i = 0; i < 5; i++) expect((await pool.run(note(i))).ok).toBe(true);
    expect(pool.size).toBe(1);
  });

  it('adds threads while every running one is busy, never more than max', async () => {
    pool = new WorkerPool<string, CheckResult>(CHECK_THREAD, 2, { mode: 'strict' }, pino({ level: 'silent' }));
    const results = Promise.all(Array.from({ length: 20 }, (_, i) => pool!.run(note(i))));
    expect(pool.size).toBe(2);
    expect(pool.queued).toBe(20);
    expect((await results).every((r) => r.ok)).toBe(true);
    expect(pool.queued).toBe(0);
  });

  it('queues a burst on the ready thread while another starts beside it', async () => {
    pool = new WorkerPool<string, CheckResult>(CHECK_THREAD, 2, { mode: 'strict' }, pino({ level: 'silent' }));
    expect((await pool.run(note(0))).ok).toBe(true);
    // Not JSON first: the ready thread dies with it, and fails every task queued behind it.
    const burst = ['{', note(1), note(2), note(3)].map((task) => pool!.run(task).then((r) => r.ok, () => 'failed'));
    expect(pool.size).toBe(2);
    expect(await Promise.all(burst)).toEqual(['failed', 'failed', 'failed', 'failed']);
    // The thread started beside them takes the next task.
    expect((await pool.run(note(4))).ok).toBe(true);
    expect(pool.size).toBe(1);
  });

  it('stops a thread idle for the idle time, and starts one again for the next task', async () => {
    pool = new WorkerPool<string, CheckResult>(CHECK_THREAD, 2, { mode: 'strict' }, pino({ level: 'silent' }), 200);
    await Promise.all([pool.run(note(1)), pool.run(note(2))]);
    expect(pool.size).toBe(2);
    await until(() => pool!.size === 0, 'idle threads to stop');
    expect((await pool.run(note(3))).ok).toBe(true);
    expect(pool.size).toBe(1);
  });

  it('fails only the tasks of a thread that dies; the next task gets a new thread', async () => {
    pool = new WorkerPool<string, CheckResult>(CHECK_THREAD, 1, { mode: 'strict' }, pino({ level: 'silent' }));
    // Not JSON: the thread's handler throws, and the thread dies with it.
    await expect(pool.run('{')).rejects.toThrow();
    await until(() => pool!.size === 0, 'the dead thread to leave the pool');
    expect((await pool.run(note(4))).ok).toBe(true);
    expect(pool.size).toBe(1);
  });
});
