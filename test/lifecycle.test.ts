import { mkdtempSync, openSync, readFileSync, statSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BenchClient } from '../src/bench/bench-client.js';
import { loadCorpus, readLines } from '../src/bench/corpus.js';
import { kindClass, type NostrEvent } from '../src/protocol/event.js';
import { renderConfigDocs, renderConfigFile, CONFIG_DOCS_FILE } from '../src/config/render.js';
import { DEFAULT_CONFIG_FILE } from '../src/config/load.js';
import { RawClient, signer } from './helpers/client.js';
import { openStorage, runFailingRelay, startRelay, tempDb } from './helpers/relay.js';

describe('restart and shutdown', () => {
  it('serves everything it acknowledged after a restart on the same database', async () => {
    const db = tempDb();
    const first = await startRelay({}, db);
    const clients = await Promise.all([0, 1, 2].map(() => RawClient.connect(first.url)));
    const acked: string[] = [];
    await Promise.all(
      clients.map(async (c, i) => {
        const s = signer();
        for (let n = 0; n < 40; n++) {
          const ev = s.sign({ kind: n % 2 ? 1 : 1301, content: `c${i}-${n}`, tags: [['t', 'restart']] });
          const [ok] = await c.publish(ev);
          if (ok) acked.push(ev.id);
        }
      }),
    );
    const replaceable = signer();
    await clients[0]!.publish(replaceable.sign({ kind: 0, content: '{"name":"old"}', created_at: 1_700_000_000 }));
    const latest = replaceable.sign({ kind: 0, content: '{"name":"new"}', created_at: 1_700_000_001 });
    await clients[0]!.publish(latest);
    for (const c of clients) c.close();
    expect(await first.stop('SIGTERM')).toBe(0);

    const second = await startRelay({}, db);
    const c = await RawClient.connect(second.url);
    const got = await c.req('all', { '#t': ['restart'], limit: 1000 });
    expect(got.map((e) => e.id).sort()).toEqual([...acked].sort());
    expect(acked).toHaveLength(120);
    expect((await c.req('profile', { kinds: [0], authors: [replaceable.pubkey] })).map((e) => e.id)).toEqual([latest.id]);
    c.close();
    await second.stop();
  });

  it('stops on SIGTERM within 5 seconds, closing subscriptions with CLOSED', async () => {
    const relay = await startRelay();
    const c = await RawClient.connect(relay.url);
    await c.subscribe('open', { kinds: [1], limit: 0 });
    const started = Date.now();
    const code = await relay.stop('SIGTERM');
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    const closed = c.frames.find((f) => f[0] === 'CLOSED' && f[1] === 'open');
    expect(closed?.[2]).toMatch(/^error: /);
    expect(relay.logs.some((l) => l.msg === 'stopped')).toBe(true);
  });

  it('logs a start line with the URL at info level and connections at debug', async () => {
    const relay = await startRelay({ POWR_RELAY_LOG_LEVEL: 'debug' });
    const c = await RawClient.connect(relay.url);
    c.close();
    await new Promise((r) => setTimeout(r, 200));
    await relay.stop();
    const start = relay.logs.find((l) => typeof l.url === 'string');
    expect(start).toMatchObject({ level: 30 });
    expect(relay.logs.some((l) => l.msg === 'connection opened' && l.level === 20)).toBe(true);
    expect(relay.logs.some((l) => l.msg === 'connection closed' && l.level === 20)).toBe(true);
  });
});

/**
 * Publishes realistic POWR traffic from several connections with many events in flight, stops the
 * relay with `signal` once `stopAfter` OKs have arrived, and returns the ids that got OK true.
 */
async function publishUntilStopped(lines: readonly string[], signal: NodeJS.Signals, stopAfter: number, db: string): Promise<Set<string>> {
  const relay = await startRelay({ POWR_RELAY_RATE_LIMITS: 'off' }, db);
  const clients = await Promise.all(Array.from({ length: 6 }, () => BenchClient.open(relay.url)));
  const acked = new Set<string>();
  let next = 0;
  let stopped: Promise<number | null> | undefined;
  let markStopped!: () => void;
  const stopping = new Promise<void>((resolve) => (markStopped = resolve));
  await Promise.all(clients.map(async (client) => {
    const inFlight = new Set<Promise<void>>();
    while (next < lines.length && !stopped) {
      const line = lines[next++]!;
      const p: Promise<void> = client.publish(line).then((ok) => {
        inFlight.delete(p);
        // An OK is only ever sent after the commit, so every one that arrives counts, even late.
        if (ok) acked.add(line.slice(7, 71));
        if (acked.size >= stopAfter && !stopped) {
          stopped = relay.stop(signal);
          markStopped();
        }
      });
      inFlight.add(p);
      if (inFlight.size >= 40) await Promise.race([...inFlight, stopping]);
    }
  }));
  expect(stopped).toBeDefined();
  await stopped;
  for (const c of clients) c.close();
  return acked;
}

/** Every acknowledged event is served, unless a newer version of its address replaced it. */
async function expectServed(url: string, lines: readonly string[], acked: Set<string>): Promise<void> {
  const c = await RawClient.connect(url);
  const ids = [...acked];
  const served = new Set<string>();
  for (let i = 0; i < ids.length; i += 500) {
    for (const e of await c.req(`ids${i}`, { ids: ids.slice(i, i + 500), limit: 500 })) served.add(e.id);
  }
  const byId = new Map(lines.map((l) => [l.slice(7, 71), l]));
  for (const id of ids.filter((id) => !served.has(id))) {
    const event = JSON.parse(byId.get(id)!) as NostrEvent;
    expect(kindClass(event.kind), `acknowledged ${id} is missing`).toMatch(/replaceable|addressable/);
    const d = event.tags.find((t) => t[0] === 'd')?.[1] ?? '';
    const [current] = await c.req('addr', { kinds: [event.kind], authors: [event.pubkey], ...(kindClass(event.kind) === 'addressable' ? { '#d': [d] } : {}) });
    expect(current!.created_at).toBeGreaterThanOrEqual(event.created_at);
  }
  c.close();
}

describe('crash safety', () => {
  const corpus = loadCorpus(mkdtempSync(join(tmpdir(), 'powr-corpus-')), 4000, 11, () => {}).then((c) => readLines(c.file));

  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    it(`after ${signal} mid-stream serves every acknowledged event, with intact database and processed tables`, async () => {
      const lines = await corpus;
      const db = tempDb();
      const acked = await publishUntilStopped(lines, signal, 1500, db);
      expect(acked.size).toBeGreaterThanOrEqual(1500);
      expect(acked.size).toBeLessThan(lines.length);

      const restarted = await startRelay({}, db);
      await expectServed(restarted.url, lines, acked);
      expect(await restarted.stop()).toBe(0);
      const store = await openStorage(db);
      try {
        expect(await store.check()).toEqual({ integrity: 'ok', differing: [] });
      } finally {
        await store.close();
      }
    });
  }

  it('refuses a damaged database at start-up with a clear error', async () => {
    const db = tempDb();
    const relay = await startRelay({}, db);
    const c = await RawClient.connect(relay.url);
    const s = signer();
    for (let i = 0; i < 200; i++) await c.publish(s.sign({ content: `filler ${i} ${'x'.repeat(500)}`, tags: [['t', 'x']] }));
    c.close();
    await relay.stop();
    const fd = openSync(db, 'r+');
    const garbage = Buffer.alloc(4096, 0xa5);
    for (let at = 16384; at < statSync(db).size; at += 32768) writeSync(fd, garbage, 0, garbage.length, at);
    closeSync(fd);
    const { code, stderr } = await runFailingRelay({ POWR_RELAY_DB: db });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^powr-relay: POWR_RELAY_DB \/ db: cannot open database .+: .*(malformed|integrity check failed)/);
  });
});

describe('configuration errors', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ POWR_RELAY_PORT: 'abc' }, /^powr-relay: POWR_RELAY_PORT: must be a whole number, got "abc"\n$/],
    [{ POWR_RELAY_PORT: '70000' }, /^powr-relay: POWR_RELAY_PORT: must be between 0 and 65535, got 70000\n$/],
    [{ POWR_RELAY_PUBLIC_URL: 'wss://relay.example.com:99999' }, /^powr-relay: POWR_RELAY_PUBLIC_URL: must be a ws:\/\/ or wss:\/\/ URL, got "wss:\/\/relay.example.com:99999", which is not a URL\n$/],
    [{ POWR_RELAY_LOG_LEVEL: 'loud' }, /^powr-relay: POWR_RELAY_LOG_LEVEL: must be one of .*got "loud"\n$/],
    [{ POWR_RELAY_DB: '/etc/passwd/relay.db' }, /^powr-relay: POWR_RELAY_DB \/ db: cannot open database \/etc\/passwd\/relay.db: .+\n$/],
    [{ POWR_RELAY_CONFIG: '/nonexistent/relay.jsonc' }, /^powr-relay: POWR_RELAY_CONFIG: no config file at \/nonexistent\/relay.jsonc\n$/],
    [{ POWR_RELAY_DEFAULT_LIMIT: '5000', POWR_RELAY_MAX_LIMIT: '100' }, /defaultLimit \(5000\) must not exceed maxLimit \(100\)/],
  ];
  for (const [env, expected] of cases) {
    it(`refuses ${JSON.stringify(env)} with one line and exit 1`, async () => {
      const { code, stderr, stdout } = await runFailingRelay(env);
      expect(code).toBe(1);
      expect(stderr).toMatch(expected);
      expect(stdout).toBe('');
    });
  }

  it('refuses a file that is not a SQLite database instead of replacing it', async () => {
    const db = tempDb();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(db, 'these are my workouts, not a database\n');
    const { code, stderr } = await runFailingRelay({ POWR_RELAY_DB: db });
    expect(code).toBe(1);
    expect(stderr).toMatch(/file is not a SQLite database/);
    expect(readFileSync(db, 'utf8')).toBe('these are my workouts, not a database\n');
  });

  it('reads a config file and lets the environment override it, naming bad file keys', async () => {
    const { writeFileSync } = await import('node:fs');
    const file = tempDb().replace(/relay\.db$/, 'relay.jsonc');
    writeFileSync(file, '{\n  // comment\n  "name": "From File", "maxLimit": 77,\n  "prot": 1\n}\n');
    const bad = await runFailingRelay({ POWR_RELAY_CONFIG: file });
    expect(bad.stderr).toMatch(/unknown setting "prot"/);
    writeFileSync(file, '{\n  // comment with "quotes" and // slashes\n  "name": "From File", "maxLimit": 77, "defaultLimit": 50 /* inline */\n}\n');
    const relay = await startRelay({ POWR_RELAY_CONFIG: file, POWR_RELAY_NAME: 'From Env' });
    const info = await (await fetch(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } })).json();
    expect(info.name).toBe('From Env');
    expect(info.limitation.max_limit).toBe(77);
    await relay.stop();
  });
});

describe('shipped configuration and its reference', () => {
  it('config/powr-relay.jsonc and docs/configuration.md match the settings table (npm run config:render)', () => {
    expect(readFileSync(DEFAULT_CONFIG_FILE, 'utf8')).toBe(renderConfigFile());
    expect(readFileSync(CONFIG_DOCS_FILE, 'utf8')).toBe(renderConfigDocs());
  });
});
