import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RawClient, signer } from './helpers/client.js';
import { startRelay, type RunningRelay } from './helpers/relay.js';
import { TELL_EVERY_MS } from '../src/store/sqlite/write-failures.js';

/**
 * The database on a small tmpfs that four publishers fill. Mounting needs root (as in CI); elsewhere
 * the test is skipped and says why.
 */
const ROOT = process.getuid?.() === 0;
const PUBLISHERS = 4;
/** How long the publishers keep going once writes fail: past one summary interval. */
const FAILING_MS = TELL_EVERY_MS + 1500;

interface Health {
  status: string;
  reason?: string;
}

describe.skipIf(!ROOT)('a full disk (tmpfs; needs root to mount)', () => {
  let dir: string;
  let relay: RunningRelay;
  const ballast = () => join(dir, 'ballast');
  const health = async () => (await (await fetch(`${relay.httpUrl}/health`)).json()) as Health;
  const metric = async (name: string) => {
    const text = await (await fetch(`${relay.httpUrl}/metrics`)).text();
    return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'powr-disk-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', dir]);
    // Freed once the disk is full, so writes can succeed again.
    writeFileSync(ballast(), Buffer.alloc(9 * 1024 * 1024));
    relay = await startRelay({ POWR_RELAY_RATE_LIMITS: 'off' }, join(dir, 'relay.db'));
  });

  afterAll(async () => {
    await relay?.stop();
    if (!dir) return;
    try {
      execFileSync('umount', [dir]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses writes with error:, logs a bounded number of lines, says degraded, recovers, and loses nothing acknowledged', async () => {
    const clients = await Promise.all(Array.from({ length: PUBLISHERS }, () => RawClient.connect(relay.url)));
    const acknowledged: string[] = [];
    const refusals = new Set<string>();
    let refused = 0;
    let failingFrom = 0;
    const degraded: Health[] = [];
    await Promise.all(clients.map(async (client) => {
      const author = signer();
      while (failingFrom === 0 || Date.now() - failingFrom < FAILING_MS) {
        const event = author.sign({ content: 'x'.repeat(4000) });
        const [ok, message] = await client.publish(event);
        if (ok) {
          acknowledged.push(event.id);
          continue;
        }
        refused++;
        refusals.add(message);
        failingFrom ||= Date.now();
        // Asked right after a refusal: unless another publisher's write just succeeded, degraded.
        const h = await health();
        if (h.status === 'degraded') degraded.push(h);
      }
    }));
    const failingMs = Date.now() - failingFrom;
    expect(acknowledged.length).toBeGreaterThan(100);
    expect([...refusals]).toEqual(['error: the event could not be stored']);
    expect(degraded.length).toBeGreaterThan(0);
    expect(degraded[0]!.reason).toMatch(/^write transactions fail since \d{4}-\d\d-\d\dT[\d:.]+Z: database or disk is full$/);
    expect(await metric('powr_write_failures_total')).toBeGreaterThanOrEqual(refused);

    // Space freed: the next write succeeds, and /health and /metrics say so before its OK arrives.
    rmSync(ballast());
    const author = signer();
    await vi.waitFor(async () => {
      const event = author.sign({ content: 'after' });
      const [ok] = await clients[0]!.publish(event);
      if (ok) acknowledged.push(event.id);
      expect(ok).toBe(true);
    }, { timeout: 10_000, interval: 100 });
    expect(await health()).toEqual({ status: 'ok' });
    expect(await metric('powr_writes_failing')).toBe(0);

    // The log: one first line, a summary at most every interval, one line when writes succeed again.
    await vi.waitFor(() => expect(relay.logs.some((l) => l.msg === 'write transactions succeed again')).toBe(true),
      { timeout: TELL_EVERY_MS + 5000, interval: 100 });
    const errors = relay.logs.filter((l) => Number(l.level) >= 50);
    const told = relay.logs.filter((l) => String(l.msg).startsWith('write transactions'));
    expect(errors.every((l) => told.includes(l)), JSON.stringify(errors.slice(0, 3))).toBe(true);
    expect(told[0]).toMatchObject({ level: 50, firstError: 'database or disk is full' });
    expect(String(told[0]!.msg)).toMatch(/^write transactions fail;/);
    expect(told.filter((l) => l.msg === 'write transactions still fail').length).toBeGreaterThanOrEqual(1);
    expect(told.length).toBeLessThanOrEqual(2 + Math.ceil(failingMs / TELL_EVERY_MS));
    for (let i = 1; i < told.length; i++) expect(Number(told[i]!.time) - Number(told[i - 1]!.time)).toBeGreaterThanOrEqual(TELL_EVERY_MS);
    expect(told.at(-1)).toMatchObject({ level: 30, msg: 'write transactions succeed again' });
    expect(Number(told.at(-1)!.failedInAll)).toBeGreaterThanOrEqual(refused);
    expect(refused).toBeGreaterThan(10 * told.length);

    // Nothing acknowledged was lost: every OK-true event is served, now and after a restart.
    const served = async (reader: RawClient) => {
      let n = 0;
      for (let i = 0; i < acknowledged.length; i += 500) {
        const ids = acknowledged.slice(i, i + 500);
        n += (await reader.req(`ids${i}`, { ids, limit: ids.length })).length;
      }
      return n;
    };
    expect(await served(clients[0]!)).toBe(acknowledged.length);
    for (const client of clients) client.close();
    expect(await relay.stop()).toBe(0);
    relay = await startRelay({ POWR_RELAY_RATE_LIMITS: 'off' }, relay.db);
    const reader = await RawClient.connect(relay.url);
    expect(await served(reader)).toBe(acknowledged.length);
    reader.close();
  }, 60_000);
});
