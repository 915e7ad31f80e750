import BetterSqlite3 from 'better-sqlite3';
import { matchFilter } from 'nostr-tools/filter';
import { readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson, type NostrEvent } from '../../src/protocol/event.js';
import { parseFilter } from '../../src/protocol/filter.js';
import { SCHEMA_VERSION } from '../../src/store/sqlite/migrations.js';
import type { SqliteStorage } from '../../src/store/sqlite/sqlite-storage.js';
import { isIndexedTag, tagKeys, tagValueKey } from '../../src/protocol/tag-index.js';
import { publicKeyOf, signEvent } from '../../src/workers/schnorr.js';
import { openStorage, tempDb } from '../helpers/relay.js';

/**
 * test/fixtures/tags-v9.db.gz: a database written by the relay before the tag index kept only what
 * filters use (commit 9837f18, schema version 9: every tag's first value indexed, as text), by
 * `powr-relay import` of every 20th event of the bench corpus (size 2500, seed 9) and six events with
 * tag edge cases signed by EDGE_KEY (a 64-hex `d`, 64-hex values under `x`, `client`, `title` and
 * `exercise`, upper-case hex under `t` and `template`, a repeated tag), then VACUUMed to 1 KiB pages.
 */
const FIXTURE = new URL('../fixtures/tags-v9.db.gz', import.meta.url);
const EDGE_KEY = Buffer.from('7'.repeat(64), 'hex');
const EDGE_PUBKEY = publicKeyOf(EDGE_KEY);
const HEX_D = 'ab'.repeat(32);
const HEX_C = '0123456789abcdef'.repeat(4);
const UPPER = 'AB'.repeat(32);
const NOW = 1_800_000_000;
const LIMITS = { maxFilterValues: 1000, maxLimit: 5000, defaultLimit: 5000 };

const hexOrText = (v: string | Buffer) => (typeof v === 'string' ? `text:${v}` : `blob:${v.toString('hex')}`);

describe('tag values', () => {
  it('are stored as 32 bytes when 64 lowercase hex, whatever the tag, addresses with their pubkey as bytes, and as text otherwise', () => {
    expect(tagValueKey(HEX_D)).toEqual(Buffer.from(HEX_D, 'hex'));
    const address = (kind: string, d: string) => Buffer.concat([Buffer.from(`${kind}:`), Buffer.from(HEX_D, 'hex'), Buffer.from(`:${d}`)]);
    expect(tagValueKey(`33401:${HEX_D}:squat`)).toEqual(address('33401', 'squat'));
    expect(tagValueKey(`01:${HEX_D}:`)).toEqual(address('01', ''));
    expect(tagValueKey(`1:${HEX_D}:a:${HEX_C}`)).toEqual(address('1', `a:${HEX_C}`));
    for (const v of [UPPER, HEX_D.slice(1), `33401:${UPPER}:squat`, `33401:${HEX_D}`, `x:${HEX_D}:d`, `999999:${HEX_D}:d`, '', 'fitness']) {
      expect(tagValueKey(v), v).toBe(v);
    }
    expect(['e', 'p', 'a', 'd', 't', 'Z', 'exercise', 'template', 'title', 'description'].every(isIndexedTag)).toBe(true);
    expect(['client', 'alt', 'Title', 'exercises', '1', ''].some(isIndexedTag)).toBe(false);
  });
});

describe('migrating a database of the previous version', () => {
  let path: string;
  let store: SqliteStorage;
  let before: { seq: number; json: string }[];
  let events: NostrEvent[];
  let namesBefore: string[];

  const readOnly = <T,>(read: (db: BetterSqlite3.Database) => T): T => {
    const db = new BetterSqlite3(path, { readonly: true });
    try {
      return read(db);
    } finally {
      db.close();
    }
  };
  const storedTags = () => readOnly((db) => (db.prepare('SELECT name, value, kind, created_at, event_seq FROM event_tags').all() as
    { name: string; value: string | Buffer; kind: number; created_at: number; event_seq: number }[]));

  beforeAll(async () => {
    path = tempDb();
    writeFileSync(path, gunzipSync(readFileSync(FIXTURE)));
    readOnly((db) => {
      expect(db.pragma('user_version', { simple: true })).toBe(9);
      before = db.prepare('SELECT seq, json FROM nostr_events ORDER BY seq').all() as { seq: number; json: string }[];
      namesBefore = db.prepare('SELECT name FROM event_tags').pluck().all() as string[];
    });
    events = before.map((r) => JSON.parse(r.json) as NostrEvent);
    store = await openStorage(path);
  });
  afterAll(() => store.close());

  it('keeps every event and indexes exactly what the write path indexes', () => {
    readOnly((db) => {
      expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      expect(db.prepare('SELECT seq, json FROM nostr_events ORDER BY seq').all()).toEqual(before);
    });
    const rows = storedTags();
    const expected = before.flatMap(({ seq }, i) =>
      tagKeys(events[i]!).map(([name, value]) => `${name} ${hexOrText(value)} ${events[i]!.kind} ${events[i]!.created_at} ${seq}`));
    expect(rows.map((r) => `${r.name} ${hexOrText(r.value)} ${r.kind} ${r.created_at} ${r.event_seq}`).sort()).toEqual(expected.sort());
    // What changed: the multi-letter tags no filter uses are gone, ids and pubkeys are bytes.
    expect(rows.length).toBe(namesBefore.filter(isIndexedTag).length);
    expect(rows.length).toBeLessThan(namesBefore.length * 0.6);
    expect(rows.some((r) => r.name === 'client' || r.name === 'alt')).toBe(false);
    expect(rows.some((r) => r.name === 'title')).toBe(true);
    expect(rows.filter((r) => r.name === 'p').every((r) => Buffer.isBuffer(r.value) && r.value.length === 32)).toBe(true);
    expect(rows.filter((r) => r.name === 'a').every((r) => Buffer.isBuffer(r.value) && r.value.length > 32)).toBe(true);
    expect(rows.filter((r) => r.name === 'template' && typeof r.value === 'string').map((r) => r.value)).toEqual([UPPER]);
    expect(rows.filter((r) => r.name === 'd' && Buffer.isBuffer(r.value)).map((r) => r.value.toString('hex')).sort()).toEqual([HEX_C, HEX_D]);
  });

  it('answers filters as nostr-tools matchFilter does on the same events', async () => {
    const some = <T,>(xs: T[]) => xs.filter((_, i) => i % 7 === 0).slice(0, 3);
    const withTag = (name: string) => events.filter((e) => e.tags.some((t) => t[0] === name && t.length > 1)).map((e) => e.tags.find((t) => t[0] === name)![1]!);
    const exercise = withTag('exercise').find((v) => v.startsWith('33401:'))!;
    const filters: Record<string, unknown>[] = [
      { '#e': some(withTag('e')) }, { '#p': [EDGE_PUBKEY, ...some(withTag('p'))] }, { '#d': [HEX_D] }, { '#d': [HEX_C, HEX_D] },
      { '#t': [UPPER] }, { '#t': ['fitness'], kinds: [1] }, { '#exercise': [HEX_D] }, { '#exercise': [exercise] }, { '#template': [UPPER] },
      { '#template': some(withTag('template')) }, { '#a': some(withTag('a')) }, { '#q': some(withTag('q')) }, { '#x': [HEX_D] },
      { '#k': ['1301'], kinds: [7] }, { kinds: [1], '#title': ['Push Day'] }, { '#title': [HEX_C] }, { kinds: [1], '#alt': ['a note'] },
      { kinds: [1, 30078], '#client': [HEX_C, 'POWR'] }, { authors: [EDGE_PUBKEY], '#client': ['POWR', HEX_C], '#t': ['fitness', UPPER] },
      { kinds: [1301], '#client': ['POWR'], limit: 5 }, { '#e': withTag('e'), '#client': ['POWR'] },
    ];
    expect(filters.length).toBe(21);
    for (const raw of filters) {
      const parsed = parseFilter(raw, LIMITS);
      if (!parsed.ok) throw new Error(parsed.reason);
      const matching = events.filter((e) => matchFilter(raw as never, e as never))
        .sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1));
      expect(matching.length, JSON.stringify(raw)).toBeGreaterThan(0);
      const got = (await store.query([parsed.value], NOW)).map((j) => (JSON.parse(j) as NostrEvent).id);
      expect(got, JSON.stringify(raw)).toEqual(matching.slice(0, parsed.value.limit).map((e) => e.id));
      expect(await store.count([parsed.value], NOW), JSON.stringify(raw)).toBe(matching.length);
    }
  });

  it('checks a tag it does not index on the stored JSON exactly: escapes, unicode, look-alikes in content and other tags', async () => {
    const key = Buffer.from('5'.repeat(64), 'hex');
    const tagged = [
      [['client', 'He said "go" \\ now\n']], [['client', 'Sentadilla ñ 💪'], ['t', 'x']], [['client'], ['alt', '["client","Decoy"']],
      [['note', 'client', 'Decoy2']], [['Client', 'Case']], [['client', 'Case'], ['client', 'Second']], [['alt', 'client']],
    ];
    const written = tagged.map((tags, i) => signEvent({ kind: 1, created_at: NOW - 100 + i, tags, content: '["client","Decoy"] "client","Case"' }, key));
    for (const e of written) expect(await store.write({ json: canonicalJson(e), record: null, flags: [] })).toMatchObject({ status: 'stored' });
    const values = ['He said "go" \\ now\n', 'He said "go"', 'Sentadilla ñ 💪', 'Decoy', 'Decoy2', 'client', 'Case', 'Second', ''];
    let matched = 0;
    for (const name of ['client', 'Client', 'note', 'alt']) {
      expect(isIndexedTag(name)).toBe(false);
      for (const value of values) {
        const raw = { kinds: [1], authors: [publicKeyOf(key)], [`#${name}`]: [value] };
        const parsed = parseFilter(raw, LIMITS);
        if (!parsed.ok) throw new Error(parsed.reason);
        const expected = written.filter((e) => matchFilter(raw as never, e as never)).map((e) => e.id).reverse();
        matched += expected.length;
        expect((await store.query([parsed.value], NOW)).map((j) => (JSON.parse(j) as NostrEvent).id), JSON.stringify(raw)).toEqual(expected);
      }
    }
    expect(matched).toBe(7);
  });

  it('removes a migrated event with its rows', async () => {
    const target = events.find((e) => e.pubkey === EDGE_PUBKEY && e.tags.some((t) => t[0] === 'x'))!;
    const seq = before[events.indexOf(target)]!.seq;
    expect(storedTags().filter((r) => r.event_seq === seq).length).toBe(tagKeys(target).length);
    const deletion = signEvent({ kind: 5, created_at: NOW, tags: [['e', target.id]], content: '' }, EDGE_KEY);
    expect(await store.write({ json: canonicalJson(deletion), record: null, flags: [] })).toMatchObject({ status: 'stored' });
    expect(storedTags().filter((r) => r.event_seq === seq)).toEqual([]);
  });
});
