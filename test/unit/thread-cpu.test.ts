import { finalizeEvent, generateSecretKey } from 'nostr-tools/pure';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { CheckResult } from '../../src/workers/check-event.js';
import { WorkerPool } from '../../src/workers/pool.js';
import { threadCpuSeconds } from '../../src/workers/thread-cpu.js';

// The real verification thread, as the relay runs it (tests run against dist, built by pretest).
const CHECK_THREAD = new URL('../../dist/workers/check-thread.js', import.meta.url);
const key = generateSecretKey();
const note = (i: number) => JSON.stringify(finalizeEvent({ kind: 1, content: `note ${i}`, tags: [], created_at: 1_800_000_000 + i }, key));

describe.runIf(process.platform === 'linux')('CPU per thread role', () => {
  it('keeps a stopped thread\'s time with its role, though nothing read it while it ran', async () => {
    const before = threadCpuSeconds();
    expect(before.get('main')).toBeGreaterThan(0);
    expect(before.get('verify') ?? 0).toBe(0);
    const pool = new WorkerPool<string, CheckResult>(CHECK_THREAD, 1, { mode: 'strict' }, pino({ level: 'silent' }), 200);
    // Signature checks enough for several clock ticks (10 ms each) of the thread's time.
    for (let i = 0; i < 300; i++) expect((await pool.run(note(i))).ok).toBe(true);
    const deadline = Date.now() + 10_000;
    while (pool.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(pool.size).toBe(0);
    // The thread has exited: its time is known only from the reading taken as it was stopped.
    await new Promise((r) => setTimeout(r, 100));
    const after = threadCpuSeconds();
    expect(after.get('verify')).toBeGreaterThan(0);
    for (const [role, seconds] of before) expect(after.get(role), role).toBeGreaterThanOrEqual(seconds);
    await pool.close();
  });
});
