import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyze, blobNamedBy } from '../../src/powr/analyze.js';
import type { CommittedChange } from '../../src/store/port.js';
import { MIGRATIONS, migrate } from '../../src/store/sqlite/migrations.js';
import type { SqliteStorage } from '../../src/store/sqlite/sqlite-storage.js';
import { signer } from '../helpers/client.js';
import { openStorage, tempDb } from '../helpers/relay.js';

const H = 'ab'.repeat(32);

/** URLs and the blob each names (null: none). */
const URLS: [string, string | null][] = [
  [`https://cdn.example.com/${H}`, H],
  [`https://cdn.example.com/${H}.mp4`, H],
  [`https://cdn.example.com/media/${H}.tar.gz`, H],
  [`https://cdn.example.com/${H.toUpperCase()}.PNG?w=640#t=2`, H],
  [`https://cdn.example.com/${H}.mp4?x=1/2`, H],
  [`${H}.webp`, H],
  [`https://cdn.example.com/${H}/clip.mp4`, null],
  [`https://cdn.example.com/${H}x.mp4`, null],
  [`https://cdn.example.com/${H.slice(1)}.mp4`, null],
  [`https://cdn.example.com/${H}${H}`, null],
  [`https://cdn.example.com/${'g'.repeat(64)}.mp4`, null],
  ['https://youtube.com/watch?v=abc', null],
  ['', null],
];

describe('the blob an imeta URL names', () => {
  it('is the last path segment when it is 64 hex digits, alone or before a dot', () => {
    for (const [url, blob] of URLS) expect(blobNamedBy(url), url).toBe(blob);
  });

  it('is backfilled by the migration exactly as blobNamedBy computes it', () => {
    const db = new BetterSqlite3(':memory:');
    const linking = MIGRATIONS.findIndex((m) => m.includes('exercise_media_by_sha256'));
    expect(linking).toBeGreaterThan(0);
    for (const m of MIGRATIONS.slice(0, linking)) db.exec(m);
    db.pragma(`user_version = ${linking}`);
    const insert = db.prepare('INSERT INTO exercise_media (event_seq, position, url) VALUES (1, ?, ?)');
    URLS.forEach(([url], i) => insert.run(i, url));
    migrate(db);
    const rows = db.prepare('SELECT url, sha256 FROM exercise_media ORDER BY position').all() as { url: string; sha256: string | null }[];
    expect(rows.map((r) => [r.url, r.sha256])).toEqual(URLS.map(([url]) => [url, blobNamedBy(url)]));
    // What blob-tables.ts asks when a blob changes; the planner picks the index without being told.
    const plan = db.prepare(`EXPLAIN QUERY PLAN SELECT x.address FROM exercise_media m
      JOIN exercises x ON x.event_seq = m.event_seq WHERE m.sha256 = ?`).all(H) as { detail: string }[];
    expect(plan.map((p) => p.detail).join('\n')).toMatch(/SEARCH m USING (COVERING )?INDEX exercise_media_by_sha256 \(sha256=\?\)/);
    db.close();
  });
});

describe('the change feed names the exercises whose linked blobs change', () => {
  let store: SqliteStorage;
  const changes: CommittedChange[] = [];
  const coach = signer();
  const owner = 'c'.repeat(64);
  const address = `33401:${coach.pubkey}:squat`;

  beforeAll(async () => {
    store = await openStorage(tempDb());
    store.onChange((c) => changes.push(c));
    const e = coach.sign({ kind: 33401, tags: [['d', 'squat'], ['title', 'Squat'], ['format', 'reps'], ['format_units', 'count'],
      ['imeta', `url https://cdn.example.com/${H}.mp4`, 'm video/mp4']] });
    expect(await store.write({ json: JSON.stringify(e), record: analyze(e).record, flags: [] })).toMatchObject({ status: 'stored' });
  });
  afterAll(async () => {
    await store.close();
  });

  const mediaChanges = () => changes.flatMap((c) => c.media ?? []);

  it('when the blob arrives, is banned or unbanned, and when its last owner removes it; not for other blobs', async () => {
    await store.blobs.add({ sha256: 'ef'.repeat(32), size: 1, type: 'image/png', pubkey: owner, now: 1 });
    expect(mediaChanges()).toEqual([]);
    await store.blobs.add({ sha256: H, size: 1, type: 'video/mp4', pubkey: owner, now: 1 });
    expect(mediaChanges()).toEqual([address]);
    // A second owner changes nothing that is served.
    await store.blobs.add({ sha256: H, size: 1, type: 'video/mp4', pubkey: coach.pubkey, now: 2 });
    expect(mediaChanges()).toEqual([address]);
    await store.moderate({ add: [{ list: 'bannedEvents', value: H, reason: '' }], drop: [] });
    await store.moderate({ add: [], drop: [{ list: 'bannedEvents', value: H }] });
    await store.moderate({ add: [{ list: 'bannedPubkeys', value: owner, reason: '' }], drop: [] });
    expect(mediaChanges()).toEqual([address, address, address, address]);
    await store.blobs.removeOwner(H, coach.pubkey);
    expect(mediaChanges()).toHaveLength(4);
    await store.blobs.removeOwner(H, owner);
    expect(mediaChanges()).toEqual([address, address, address, address, address]);
  });
});
