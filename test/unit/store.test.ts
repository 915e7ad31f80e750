import { matchFilter } from 'nostr-tools/filter';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson, type NostrEvent } from '../../src/protocol/event.js';
import { parseFilter, type Filter } from '../../src/protocol/filter.js';
import type { Database } from 'better-sqlite3';
import { WAL_SIZE_LIMIT_BYTES, fileBytes, openReadConnection } from '../../src/store/sqlite/database.js';
import { EventReads } from '../../src/store/sqlite/event-reads.js';
import { DRIVER_INDEX, planFilter, planKeys, splitForTimeOrder, type Driver } from '../../src/store/sqlite/planner.js';
import type { SqliteStorage } from '../../src/store/sqlite/sqlite-storage.js';
import { Rng } from '../../src/bench/rng.js';
import { publicKeyOf, signEvent } from '../../src/workers/schnorr.js';
import { openStorage, tempDb } from '../helpers/relay.js';

const LIMITS = { maxFilterValues: 1000, maxLimit: 5000, defaultLimit: 500 };
const NOW = 1_800_000_000;

function filter(raw: Record<string, unknown>): Filter {
  const parsed = parseFilter(raw, LIMITS);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

let store: SqliteStorage;
/** A reader's connection, for EXPLAIN QUERY PLAN (EventReads registers the planner's SQL function). */
let db: Database;
const stored: NostrEvent[] = [];
const secretKeys: Buffer[] = [];
const pubkeys: string[] = [];

beforeAll(async () => {
  const path = tempDb();
  store = await openStorage(path);
  db = openReadConnection(path);
  new EventReads(db);
  const rng = new Rng(42);
  const rand = () => rng.next();
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  for (let i = 0; i < 6; i++) {
    const sk = randomBytes(32);
    secretKeys.push(sk);
    pubkeys.push(publicKeyOf(sk));
  }
  const kinds = [1, 7, 1301, 1111, 6];
  for (let i = 0; i < 600; i++) {
    const tags: string[][] = [];
    const tagCount = Math.floor(rand() * 4);
    for (let t = 0; t < tagCount; t++) {
      const name = pick(['t', 'e', 'p', 'exercise', 'client']);
      const value = name === 'e' && stored.length ? pick(stored).id : name === 'p' ? pick(pubkeys) : pick(['a', 'b', 'c', 'fitness']);
      tags.push(rand() < 0.2 ? [name, value, 'extra'] : [name, value]);
    }
    // Expired by NOW (the queries' clock), not yet when written: reads must skip them.
    if (rand() < 0.02) tags.push(['expiration', String(NOW - 500)]);
    const e = signEvent({ kind: pick(kinds), created_at: NOW - 1000 + Math.floor(rand() * 60), tags, content: `e${i}` }, pick(secretKeys));
    const outcome = await store.write({ json: canonicalJson(e), record: null, flags: [] });
    expect(outcome.status).toBe('stored');
    stored.push(e);
  }
});
afterAll(async () => {
  db.close();
  await store.close();
});

describe('query planner', () => {
  const shapes: [Driver, Record<string, unknown>][] = [
    ['id', { ids: ['00'.repeat(32)] }],
    ['id', { ids: ['00'.repeat(32)], authors: ['11'.repeat(32)], kinds: [1] }],
    ['address', { kinds: [33402], authors: ['11'.repeat(32)], '#d': ['leg-day'] }],
    ['address', { kinds: [0, 3], authors: ['11'.repeat(32)] }],
    ['author_kind', { kinds: [1301], authors: ['11'.repeat(32)], limit: 50 }],
    ['author_kind', { kinds: [1, 30023], authors: ['11'.repeat(32), '22'.repeat(32)], '#t': ['fitness'], since: 5 }],
    ['author', { authors: ['11'.repeat(32)] }],
    ['tag', { kinds: [7], '#e': ['00'.repeat(32)] }],
    ['tag', { kinds: [30003], authors: ['11'.repeat(32)], '#a': ['33402:x:y'] }],
    ['tag', { '#t': ['fitness'], '#p': ['11'.repeat(32)] }],
    ['tag', { kinds: [33402], '#t': ['fitness'], limit: 6 }],
    ['tag', { '#exercise': ['33401:x:y'] }],
    ['kind', { kinds: [33402], limit: 6 }],
    // A tag the index does not hold is checked on the candidates another condition selects.
    ['kind', { kinds: [33402], '#alt': ['Push Day'], limit: 6 }],
    ['author_kind', { kinds: [1301], authors: ['11'.repeat(32)], '#client': ['POWR'] }],
    ['tag', { kinds: [1], '#e': ['00'.repeat(32)], '#client': ['POWR'] }],
    ['kind', { kinds: [1301, 33401, 33402], since: 100 }],
    ['time', {}],
    ['time', { since: 10, until: 20 }],
  ];
  for (const [driver, raw] of shapes) {
    it(`serves ${JSON.stringify(raw)} from ${DRIVER_INDEX[driver]}`, () => {
      const plan = planFilter(filter(raw), NOW);
      expect(plan.driver).toBe(driver);
      const rows = db.prepare(`EXPLAIN QUERY PLAN SELECT e.json FROM ${plan.from} ORDER BY ${plan.orderBy}`).all(...plan.params) as { detail: string }[];
      const details = rows.map((r) => r.detail);
      const expected = driver === 'tag' ? /SEARCH t USING PRIMARY KEY \(name=\? AND value=\?/ : new RegExp(DRIVER_INDEX[driver]);
      expect(details.join('\n')).toMatch(expected);
      // Extra tag conditions must be point lookups in event_tags' key, not walks of a tag's range.
      for (const d of details.filter((x) => / x /.test(x))) {
        expect(d).toMatch(/USING PRIMARY KEY \(name=\? AND value=\? AND kind=\? AND created_at=\? AND event_seq=\?\)/);
      }
      // No step may walk a whole table.
      for (const d of details) expect(d).not.toMatch(/^SCAN (e|t|x|nostr_events|event_tags)\b(?!.*USING)/);
    });
  }

  it('reads the keys of feed filters from the driving index alone, never the events table', () => {
    const authors = ['11'.repeat(32), '22'.repeat(32)];
    const cases: Record<string, unknown>[] = [
      { kinds: [1301, 33401, 33402], authors, since: 100, limit: 30 },
      { kinds: [1, 30023], authors, '#t': ['fitness'], since: 100, limit: 30 },
      { kinds: [1301], since: 100, limit: 30 },
      { kinds: [1], '#t': ['fitness'], since: 100, limit: 30 },
    ];
    for (const raw of cases) {
      const plan = planFilter(filter(raw), NOW, undefined, 'keys');
      const details = (db.prepare(`EXPLAIN QUERY PLAN SELECT ${plan.seq}, ${plan.time} FROM ${plan.from} ORDER BY ${plan.time} DESC LIMIT 30`)
        .all(...plan.params) as { detail: string }[]).map((r) => r.detail).join('\n');
      expect(details, JSON.stringify(raw)).toMatch(plan.driver === 'tag' ? /SEARCH t USING PRIMARY KEY/ : /SEARCH e USING COVERING INDEX/);
      expect(details, JSON.stringify(raw)).not.toMatch(/SEARCH e USING (INTEGER PRIMARY KEY|INDEX)/);
    }
  });

  it('splits several kinds, or several tag values and kinds, so each part is read newest first and stops at its limit', () => {
    const cases: [Record<string, unknown>, number][] = [
      [{ kinds: [1301, 33401, 33402], since: 100, limit: 30 }, 3],
      [{ kinds: [1, 30023], '#t': ['fitness', 'workout', 'powr'], limit: 30 }, 6],
      [{ kinds: [1301, 33401], authors: ['11'.repeat(32), '22'.repeat(32)], limit: 30 }, 1],
    ];
    for (const [raw, count] of cases) {
      const parts = splitForTimeOrder(filter(raw));
      expect(parts, JSON.stringify(raw)).toHaveLength(count);
      if (count === 1) continue;
      for (const part of parts) {
        const plan = planFilter(part, NOW);
        const details = (db.prepare(`EXPLAIN QUERY PLAN SELECT e.json FROM ${plan.from} ORDER BY ${plan.orderBy} LIMIT 30`)
          .all(...plan.params) as { detail: string }[]).map((r) => r.detail).join('\n');
        // Only ties on created_at are sorted (by id); the time order comes from the index.
        expect(details, JSON.stringify(raw)).not.toMatch(/USE TEMP B-TREE FOR ORDER BY/);
      }
    }
  });
  it('merges the parts of a global feed in one statement, each read newest first from its index, sorting nothing', () => {
    const cases: Record<string, unknown>[] = [
      { kinds: [1301, 33401, 33402], since: 100, limit: 30 },
      { kinds: [1, 30023], '#t': ['workout', 'fitness', 'powr', 'gym'], since: 100, limit: 30 },
    ];
    for (const raw of cases) {
      const f = filter(raw);
      const keys = planKeys(f, splitForTimeOrder(f), NOW);
      expect(keys.limited, JSON.stringify(raw)).toBe(false);
      const details = (db.prepare(`EXPLAIN QUERY PLAN ${keys.sql}`).all(...keys.params) as { detail: string }[]).map((r) => r.detail).join('\n');
      expect(details, JSON.stringify(raw)).toMatch(/MERGE \(UNION ALL\)/);
      expect(details, JSON.stringify(raw)).not.toMatch(/USE TEMP B-TREE/);
      expect(details, JSON.stringify(raw)).not.toMatch(/SEARCH e USING (INTEGER PRIMARY KEY|INDEX)/);
    }
  });
});

describe('SQL results agree with nostr-tools matchFilter (seeded)', () => {
  function oracle(f: Record<string, unknown>, limit: number): string[] {
    return stored
      .filter((e) => !e.tags.some((t) => t[0] === 'expiration') && matchFilter(f as never, e as never))
      .sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1))
      .slice(0, limit)
      .map((e) => e.id);
  }

  it('for 400 random filters', async () => {
    const rng = new Rng(7);
    const rand = () => rng.next();
    const pick = <T,>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
    const some = <T,>(xs: readonly T[], n = 1 + Math.floor(rand() * 3)) => Array.from({ length: n }, () => pick(xs));
    for (let i = 0; i < 400; i++) {
      const f: Record<string, unknown> = {};
      if (rand() < 0.1) f.ids = some(stored.map((e) => e.id), 3);
      if (rand() < 0.4) f.authors = some(pubkeys);
      if (rand() < 0.5) f.kinds = some([1, 7, 1301, 1111, 6, 0]);
      if (rand() < 0.3) f['#t'] = some(['a', 'b', 'c', 'fitness']);
      if (rand() < 0.15) f['#p'] = some(pubkeys);
      if (rand() < 0.15) f['#exercise'] = some(['a', 'b']);
      if (rand() < 0.1) f['#e'] = some(stored.map((e) => e.id), 2);
      if (rand() < 0.3) f.since = NOW - 1000 + Math.floor(rand() * 60);
      if (rand() < 0.3) f.until = NOW - 1000 + Math.floor(rand() * 60);
      if (rand() < 0.6) f.limit = Math.floor(rand() * 40);
      const parsed = filter(f);
      const got = (await store.query([parsed], NOW)).map((j) => (JSON.parse(j) as NostrEvent).id);
      expect(got, JSON.stringify(f)).toEqual(oracle(f, parsed.limit));
      expect(await store.count([parsed], NOW), JSON.stringify(f)).toBe(oracle(f, Infinity).length);
    }
  });

  it('for a split filter whose merged statement would exceed SQLite\'s bound on parameters', async () => {
    // 16 kinds x 16 tag values: 256 parts, each repeating 300 #exercise values.
    const raw = {
      kinds: [1, 7, 1301, 1111, 6, 0, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13],
      '#t': ['a', 'b', 'c', 'fitness', ...Array.from({ length: 12 }, (_, i) => `t${i}`)],
      '#exercise': ['a', 'b', ...Array.from({ length: 298 }, (_, i) => `x${i}`)],
      limit: 25,
    };
    const f = filter(raw);
    expect(splitForTimeOrder(f)).toHaveLength(256);
    expect(planKeys(f, splitForTimeOrder(f), NOW).limited).toBe(true);
    const got = (await store.query([f], NOW)).map((j) => (JSON.parse(j) as NostrEvent).id);
    expect(got.length).toBeGreaterThan(0);
    expect(got).toEqual(oracle(raw, 25));
  });

  it('for more kinds than SQLite allows arms in one compound SELECT', async () => {
    for (const n of [501, 1000]) {
      const raw = { kinds: [1, 7, 1301, 1111, 6, 0, ...Array.from({ length: n - 6 }, (_, i) => 40_000 + i)], limit: 25 };
      const f = filter(raw);
      // Also past the arm bound when planKeys is handed one part per kind.
      expect(planKeys(f, raw.kinds.map((k) => ({ ...f, kinds: [k] })), NOW).limited).toBe(true);
      const got = (await store.query([f], NOW)).map((j) => (JSON.parse(j) as NostrEvent).id);
      expect(got.length).toBeGreaterThan(0);
      expect(got, `${n} kinds`).toEqual(oracle(raw, 25));
      expect(await store.count([f], NOW)).toBe(oracle(raw, Infinity).length);
    }
  });

  it('for random pairs of filters (OR, de-duplicated, newest first)', async () => {
    const rng = new Rng(99);
    const rand = () => rng.next();
    for (let i = 0; i < 100; i++) {
      const a = { kinds: [1 + Math.floor(rand() * 2) * 6], limit: Math.floor(rand() * 30) };
      const b = { authors: [pubkeys[Math.floor(rand() * pubkeys.length)]!], limit: Math.floor(rand() * 30) };
      const expected = [...new Set([...oracle(a, a.limit), ...oracle(b, b.limit)])];
      const byId = new Map(stored.map((e) => [e.id, e]));
      expected.sort((x, y) => byId.get(y)!.created_at - byId.get(x)!.created_at || (x < y ? -1 : 1));
      const got = (await store.query([filter(a), filter(b)], NOW)).map((j) => (JSON.parse(j) as NostrEvent).id);
      expect(got).toEqual(expected);
    }
  });
});

describe('write-ahead log', () => {
  it('is truncated once the writer falls idle after a commit that took it well past its limit', async () => {
    const path = tempDb();
    const burst = await openStorage(path);
    try {
      const sk = randomBytes(32);
      // One message of 600 events of 40 KB: one commit of about 1,500 pages (24 MB of log).
      const events = Array.from({ length: 600 }, (_, i) => signEvent({ kind: 1, created_at: NOW - i, tags: [], content: `${i} ${'x'.repeat(40_000)}` }, sk));
      const outcomes = await Promise.all(events.map((e) => burst.write({ json: canonicalJson(e), record: null, flags: [] })));
      expect(outcomes.every((o) => o.status === 'stored')).toBe(true);
      const deadline = Date.now() + 5000;
      while (fileBytes(`${path}-wal`) > WAL_SIZE_LIMIT_BYTES && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(fileBytes(`${path}-wal`)).toBe(0);
      expect(await burst.query([filter({ kinds: [1], limit: 1000 })], NOW)).toHaveLength(600);
    } finally {
      await burst.close();
    }
  });
});
