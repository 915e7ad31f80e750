import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqliteStorage } from '../../src/store/sqlite/sqlite-storage.js';
import { openStorage, tempDb } from '../helpers/relay.js';

const hex = (c: string) => c.repeat(64);
const alice = hex('a');
const bob = hex('b');

let store: SqliteStorage;
beforeAll(async () => {
  store = await openStorage(tempDb());
});
afterAll(async () => {
  await store.close();
});

describe('blob metadata through the storage port', () => {
  it('records owners, lists newest first with a cursor and a time window, counts quota, removes the last owner', async () => {
    const blobs = store.blobs;
    // Four blobs by alice at 100, 200, 200, 300; one of them also bob's, later.
    expect(await blobs.add({ sha256: hex('1'), size: 10, type: 'image/png', pubkey: alice, now: 100 })).toEqual({ uploaded: 100, newOwner: true });
    await blobs.add({ sha256: hex('2'), size: 20, type: 'video/mp4', pubkey: alice, now: 200 });
    await blobs.add({ sha256: hex('3'), size: 30, type: 'video/mp4', pubkey: alice, now: 200 });
    await blobs.add({ sha256: hex('4'), size: 40, type: 'image/webp', pubkey: alice, now: 300 });
    expect(await blobs.add({ sha256: hex('2'), size: 20, type: 'video/mp4', pubkey: bob, now: 400 })).toEqual({ uploaded: 400, newOwner: true });
    expect(await blobs.add({ sha256: hex('2'), size: 20, type: 'video/mp4', pubkey: bob, now: 500 })).toEqual({ uploaded: 400, newOwner: false });

    const order = (rows: { sha256: string }[] | undefined) => rows!.map((r) => r.sha256[0]);
    expect(order(await blobs.list({ pubkey: alice, limit: 10 }))).toEqual(['4', '3', '2', '1']);
    expect(order(await blobs.list({ pubkey: alice, limit: 2, cursor: hex('3') }))).toEqual(['2', '1']);
    expect(order(await blobs.list({ pubkey: alice, limit: 10, since: 150, until: 250 }))).toEqual(['3', '2']);
    expect(order(await blobs.list({ pubkey: alice, limit: 10, until: 250, cursor: hex('3') }))).toEqual(['2', '1']);
    expect(await blobs.list({ pubkey: bob, limit: 10, cursor: hex('1') })).toBeUndefined();
    expect(await blobs.list({ pubkey: bob, limit: 10 })).toEqual([{ sha256: hex('2'), size: 20, type: 'video/mp4', uploaded: 400 }]);
    expect(await blobs.usage(alice)).toBe(100);
    expect(await blobs.usage(bob)).toBe(20);
    expect(await blobs.usage(hex('c'))).toBe(0);

    expect(await blobs.describe(hex('2'))).toEqual({ sha256: hex('2'), size: 20, type: 'video/mp4', uploaded: 200, visible: true });
    expect(await blobs.removeOwner(hex('2'), hex('c'))).toEqual({ owned: false, last: false });
    expect(await blobs.removeOwner(hex('2'), alice)).toEqual({ owned: true, last: false });
    expect(await blobs.removeOwner(hex('2'), bob)).toEqual({ owned: true, last: true });
    expect(await blobs.describe(hex('2'))).toBeUndefined();
    expect(await blobs.describe(hex('9'))).toBeUndefined();
    await blobs.touch([[hex('1'), 1000]]);
  });

  it('hides a blob whose hash is banned, or all of whose owners are', async () => {
    const blobs = store.blobs;
    await blobs.add({ sha256: hex('5'), size: 5, type: 'image/png', pubkey: bob, now: 600 });
    await blobs.add({ sha256: hex('6'), size: 6, type: 'image/png', pubkey: bob, now: 600 });
    await blobs.add({ sha256: hex('6'), size: 6, type: 'image/png', pubkey: hex('d'), now: 600 });
    await store.moderate({ add: [{ list: 'bannedPubkeys', value: bob, reason: '' }], drop: [] });
    expect((await blobs.describe(hex('5')))?.visible).toBe(false);
    expect((await blobs.describe(hex('6')))?.visible).toBe(true);
    await store.moderate({ add: [{ list: 'bannedEvents', value: hex('6'), reason: '' }], drop: [] });
    expect((await blobs.describe(hex('6')))?.visible).toBe(false);
    expect(await blobs.list({ pubkey: hex('d'), limit: 10 })).toEqual([]);
  });

  it('keeps an optimised blob\'s tags, fills them in for a blob first stored as sent, and counts every blob once', async () => {
    const blobs = store.blobs;
    const carol = hex('e');
    const before = await blobs.totals();
    const meta = { ox: hex('0'), dim: '1280x1920', blurhash: 'LKO2?U%2Tw=w', thumb: hex('8') };
    await blobs.add({ sha256: hex('8'), size: 8, type: 'image/webp', pubkey: carol, now: 700 });
    // Stored as sent by one pubkey, then made by an optimisation for another: the tags are the blob's.
    await blobs.add({ sha256: hex('7'), size: 7, type: 'image/webp', pubkey: alice, now: 700 });
    await blobs.add({ sha256: hex('7'), size: 7, type: 'image/webp', pubkey: carol, now: 710, meta });
    // Sent as is again: nothing taken away.
    await blobs.add({ sha256: hex('7'), size: 7, type: 'image/webp', pubkey: bob, now: 720 });
    expect(await blobs.describe(hex('7'))).toEqual({ sha256: hex('7'), size: 7, type: 'image/webp', uploaded: 700, visible: true, ...meta });
    expect(await blobs.list({ pubkey: carol, limit: 10 })).toEqual([
      { sha256: hex('7'), size: 7, type: 'image/webp', uploaded: 710, ...meta },
      { sha256: hex('8'), size: 8, type: 'image/webp', uploaded: 700 },
    ]);
    expect(await blobs.totals()).toEqual({ blobs: before.blobs + 2, bytes: before.bytes + 15 });
  });

  it('walks every blob in hash order for the operator, filtered by owner or type, and forgets one whole', async () => {
    const blobs = store.blobs;
    const carol = hex('e');
    await blobs.add({ sha256: hex('b'), size: 7, type: 'video/webm', pubkey: carol, now: 700 });
    await blobs.add({ sha256: hex('c'), size: 8, type: 'image/png', pubkey: carol, now: 700 });
    await blobs.add({ sha256: hex('c'), size: 8, type: 'image/png', pubkey: alice, now: 800 });
    await blobs.touch([[hex('c'), 900]]);
    const all = await blobs.entries({ limit: 100 });
    expect(all.map((e) => e.sha256[0])).toEqual(['1', '3', '4', '5', '6', '7', '8', 'b', 'c']);
    // Hidden blobs are there too, marked.
    expect(all.find((e) => e.sha256 === hex('5'))).toMatchObject({ visible: false, owners: [bob] });
    expect(all.find((e) => e.sha256 === hex('c'))).toEqual({
      sha256: hex('c'), size: 8, type: 'image/png', uploaded: 700, lastServed: 900, visible: true, owners: [alice, carol],
    });
    expect((await blobs.entries({ limit: 2, after: hex('4') })).map((e) => e.sha256[0])).toEqual(['5', '6']);
    expect((await blobs.entries({ limit: 100, pubkey: carol })).map((e) => e.sha256[0])).toEqual(['7', '8', 'b', 'c']);
    expect((await blobs.entries({ limit: 1, pubkey: carol, after: hex('b') })).map((e) => e.sha256[0])).toEqual(['c']);
    expect((await blobs.entries({ limit: 100, type: 'video/*' })).map((e) => e.sha256[0])).toEqual(['3', 'b']);
    expect((await blobs.entries({ limit: 100, type: 'image/png', pubkey: carol })).map((e) => e.sha256[0])).toEqual(['c']);

    expect(await blobs.forget(hex('c'))).toBe(true);
    expect(await blobs.forget(hex('c'))).toBe(false);
    expect(await blobs.describe(hex('c'))).toBeUndefined();
    expect(await blobs.entries({ limit: 100, pubkey: alice })).toEqual(
      (await blobs.entries({ limit: 100 })).filter((e) => e.owners.includes(alice)));
    // Carol's: b (7 bytes), and 7 and 8 from the test before (7 and 8 bytes).
    expect(await blobs.usage(carol)).toBe(22);
  });

  it('keeps cached blobs ownerless and visible until banned, evicts the least recently served, never an upload', async () => {
    const blobs = store.blobs;
    const [one, two, three] = ['c1', 'c2', 'c3'].map((end) => end.padStart(64, 'c'));
    expect(await blobs.addCached({ sha256: one, size: 10, type: 'image/png', now: 1000 })).toBe(true);
    expect(await blobs.addCached({ sha256: one, size: 10, type: 'image/png', now: 1001 })).toBe(false);
    await blobs.addCached({ sha256: two, size: 10, type: 'image/png', now: 1001 });
    await blobs.addCached({ sha256: three, size: 10, type: 'image/png', now: 1002 });
    expect(await blobs.describe(one)).toEqual({ sha256: one, size: 10, type: 'image/png', uploaded: 1000, visible: true });
    // Served late, one outranks two; three, uploaded meanwhile, is owned and out of the cache's count.
    await blobs.touch([[one, 2000]]);
    expect((await blobs.add({ sha256: three, size: 10, type: 'image/png', pubkey: hex('f'), now: 1500 })).newOwner).toBe(true);
    expect(await blobs.evictCached(10, 3000)).toEqual([two]);
    expect(await blobs.describe(two)).toBeUndefined();
    expect(await blobs.evictCached(0, 3001)).toEqual([one]);
    expect((await blobs.describe(three))?.visible).toBe(true);
    // An evicted hash can be cached again; a banned one is hidden though it has no owner to ban.
    expect(await blobs.addCached({ sha256: two, size: 10, type: 'image/png', now: 3002 })).toBe(true);
    await store.moderate({ add: [{ list: 'bannedEvents', value: two, reason: '' }], drop: [] });
    expect((await blobs.describe(two))?.visible).toBe(false);
  });
});
