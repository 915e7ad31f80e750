import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Receiver } from 'ws';
import { parseFilter, type Filter } from '../src/protocol/filter.js';
import type { NostrEvent } from '../src/protocol/event.js';
import type { CommittedChange, StoragePort, VerifiedEvent } from '../src/store/port.js';
import { checkEvent } from '../src/workers/check-event.js';
import { signer, sleep, type Signer } from './helpers/client.js';
import { openStorage, tempDb } from './helpers/relay.js';

/**
 * The storage port's contract, independent of the backend: a second backend runs the same suite by
 * adding one line at the bottom with a function that opens it on a fresh location.
 */

const LIMITS = { maxFilterValues: 1000, maxLimit: 5000, defaultLimit: 500 };
const now = () => Math.floor(Date.now() / 1000);

function filter(raw: Record<string, unknown>): Filter {
  const parsed = parseFilter(raw, LIMITS);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

/** What the verification pool hands the store: canonical JSON, NIP-101e record and flags. */
function verified(event: NostrEvent): VerifiedEvent {
  const result = checkEvent(event, 'compat');
  if (!result.ok) throw new Error(result.reason);
  return { json: result.json, record: result.record, flags: result.flags };
}

/** Collects the change feed until `until` holds. */
function feedOf(store: StoragePort) {
  const changes: CommittedChange[] = [];
  const stop = store.onChange((c) => changes.push(c));
  return {
    changes,
    stop,
    stored: () => changes.flatMap((c) => c.stored),
    removed: () => changes.flatMap((c) => c.removed),
    async until(holds: () => boolean, timeoutMs = 3000): Promise<void> {
      for (const deadline = Date.now() + timeoutMs; !holds(); await sleep(20)) {
        if (Date.now() > deadline) throw new Error(`change feed: condition not met within ${timeoutMs} ms: ${JSON.stringify(changes)}`);
      }
    },
  };
}

export function describeStoragePort(backend: string, open: (location: string) => Promise<StoragePort>, fresh: () => string): void {
  describe(`storage port: ${backend}`, () => {
    let store: StoragePort;
    let location: string;
    let alice: Signer;
    beforeAll(async () => {
      location = fresh();
      store = await open(location);
      alice = signer();
    });
    afterAll(() => store.close());

    it('stores an event once, feeds it with a sequence number after commit, and answers has/query/count', async () => {
      const feed = feedOf(store);
      const note = alice.sign({ kind: 1, content: 'hello', tags: [['t', 'port']] });
      const first = await store.write(verified(note));
      expect(first.status).toBe('stored');
      // The feed entry is emitted before the write resolves.
      expect(feed.stored().map((s) => JSON.parse(s.json).id)).toEqual([note.id]);
      expect(feed.stored()[0]!.seq).toBe((first as { seq: number }).seq);
      expect(await store.write(verified(note))).toMatchObject({ status: 'duplicate', message: expect.stringMatching(/^duplicate:/) });
      expect(await store.has(note.id)).toBe(true);
      expect(await store.has('00'.repeat(32))).toBe(false);
      expect((await store.query([filter({ '#t': ['port'] })], now())).map((j) => JSON.parse(j).id)).toEqual([note.id]);
      expect(await store.count([filter({ authors: [alice.pubkey] })], now())).toBe(1);
      feed.stop();
    });

    it('gives increasing sequence numbers that are never reused, even after the newest event is deleted', async () => {
      const feed = feedOf(store);
      const bob = signer();
      const a = bob.sign({ kind: 1, content: 'a' });
      const seqA = (await store.write(verified(a))) as { seq: number };
      const deletion = bob.sign({ kind: 5, tags: [['e', a.id]] });
      const seqD = (await store.write(verified(deletion))) as { seq: number };
      expect(seqD.seq).toBeGreaterThan(seqA.seq);
      expect(feed.removed()).toContain(a.id);
      // The deletion is now the newest row; prune it away and write again: the number moves on.
      expect(await store.prune(5, now() + 10)).toBeGreaterThanOrEqual(1);
      const b = bob.sign({ kind: 1, content: 'b' });
      const seqB = (await store.write(verified(b))) as { seq: number };
      expect(seqB.seq).toBeGreaterThan(seqD.seq);
      expect(feed.removed()).toContain(deletion.id);
      feed.stop();
    });

    it('replaces addressable events by created_at then lowest id, feeding the replaced id and the address', async () => {
      const feed = feedOf(store);
      const t = now() - 100;
      const v1 = alice.sign({ kind: 30023, created_at: t, tags: [['d', 'post']], content: 'v1' });
      const v2 = alice.sign({ kind: 30023, created_at: t + 1, tags: [['d', 'post']], content: 'v2' });
      expect((await store.write(verified(v2))).status).toBe('stored');
      expect((await store.write(verified(v1))).status).not.toBe('stored');
      const v3 = alice.sign({ kind: 30023, created_at: t + 2, tags: [['d', 'post']], content: 'v3' });
      expect((await store.write(verified(v3))).status).toBe('stored');
      expect(feed.removed()).toEqual([v2.id]);
      expect(feed.changes.flatMap((c) => c.addresses)).toContain(`30023:${alice.pubkey}:post`);
      const served = await store.query([filter({ kinds: [30023], authors: [alice.pubkey] })], now());
      expect(served.map((j) => JSON.parse(j).content)).toEqual(['v3']);
      feed.stop();
    });

    it('keeps dependency state right when an exercise is deleted and a newer version is the very next write', async () => {
      const coach = signer();
      const t = now() - 1000;
      const exercise = (created_at: number, title: string) => coach.sign({
        kind: 33401, created_at, content: '',
        tags: [['d', 'goblet-squat'], ['title', title], ['format', 'weight', 'reps'], ['format_units', 'kg', 'count'], ['equipment', 'kettlebell']],
      });
      const address = `33401:${coach.pubkey}:goblet-squat`;
      const template = coach.sign({
        kind: 33402, created_at: t, content: '',
        tags: [['d', 'legs'], ['title', 'Legs'], ['type', 'strength'], ['exercise', address, '', '24', '10', '1'], ['exercise', address, '', '24', '10', '2']],
      });
      expect((await store.write(verified(exercise(t, 'Goblet Squat')))).status).toBe('stored');
      expect((await store.write(verified(template))).status).toBe('stored');
      const root = { address: `33402:${coach.pubkey}:legs` };
      expect((await store.bundle(root, now()))?.missing).toEqual([]);

      const deletion = coach.sign({ kind: 5, created_at: t + 10, tags: [['a', address]] });
      expect((await store.write(verified(deletion))).status).toBe('stored');
      expect((await store.bundle(root, now()))?.missing).toEqual([address]);

      // The very next write: a newer version of the deleted exercise.
      expect((await store.write(verified(exercise(t + 20, 'Goblet Squat (kettlebell)')))).status).toBe('stored');
      const bundle = await store.bundle(root, now());
      expect(bundle?.missing).toEqual([]);
      expect(bundle?.events.map((j) => JSON.parse(j).tags.find((x: string[]) => x[0] === 'title')[1])).toEqual(['Goblet Squat (kettlebell)']);
      expect(await store.check()).toEqual({ integrity: 'ok', differing: [] });
    });

    it('feeds what expiry removes', async () => {
      const feed = feedOf(store);
      const soon = alice.sign({ kind: 1, content: 'soon gone', tags: [['expiration', String(now() + 1)]] });
      expect((await store.write(verified(soon))).status).toBe('stored');
      await sleep(2100);
      expect(await store.purgeExpired(now())).toBe(1);
      expect(feed.removed()).toContain(soon.id);
      feed.stop();
    });

    it('counts the stored ids: one digest for one set whatever the order, expired ones not served, and what the writer kept agrees', async () => {
      const [first, second] = [await open(fresh()), await open(fresh())];
      try {
        const dave = signer();
        const later = now() + 1000;
        const events = [
          ...Array.from({ length: 5 }, (_, i) => dave.sign({ kind: 1, content: `note ${i}` })),
          dave.sign({ kind: 1, content: 'expires', tags: [['expiration', String(later)]] }),
        ];
        for (const e of events) expect((await first.write(verified(e))).status).toBe('stored');
        for (const e of [...events].reverse()) expect((await second.write(verified(e))).status).toBe('stored');
        const [a, b] = [await first.storedSet(later), await second.storedSet(later)];
        expect(a).toEqual(b);
        expect(a.rows.stored).toBe(6);
        expect(a.served.stored).toBe(5);
        expect(a.served.digest).not.toBe(a.rows.digest);
        expect(a.kept).toEqual(a.rows);
        expect((await first.storedSet(later - 1)).served).toEqual(a.rows);
        // An event deleted (NIP-09) from one of them: the sets differ, and each still agrees with what it kept.
        expect((await second.write(verified(dave.sign({ kind: 5, tags: [['e', events[0]!.id]] }))))).toMatchObject({ status: 'stored' });
        const after = await second.storedSet(later);
        expect(after.served.stored).toBe(5);
        expect(after.served.digest).not.toBe(a.served.digest);
        expect(after.kept).toEqual(after.rows);
      } finally {
        await Promise.all([first.close(), second.close()]);
      }
    });

    it('pages through every stored event in storage order for export', async () => {
      const all = await store.exportPage({}, now(), 0, 1_000_000);
      const paged: string[] = [];
      for (let after = 0; ;) {
        const page = await store.exportPage({}, now(), after, 2);
        if (page.events.length === 0) break;
        paged.push(...page.events);
        after = page.lastSeq;
      }
      expect(paged).toEqual(all.events);
      expect((await store.stats()).events).toBe(all.events.length);
    });

    it('lists [created_at, id] of the events a filter matches for negentropy, without its limit, up to a maximum, under the read rules', async () => {
      const bob = signer();
      const notes = [bob.sign({ content: 'a' }), bob.sign({ content: 'b' }), bob.sign({ content: 'c' })];
      const dm = bob.sign({ kind: 4, content: 'secret', tags: [['p', alice.pubkey]] });
      for (const e of [...notes, dm]) expect((await store.write(verified(e))).status).toBe('stored');
      const pairs = (events: NostrEvent[]) => events.map((e) => [e.created_at, e.id]).sort();
      expect((await store.syncItems(filter({ authors: [bob.pubkey], kinds: [1], limit: 1 }), now(), 100)).sort()).toEqual(pairs(notes));
      expect(await store.syncItems(filter({ authors: [bob.pubkey] }), now(), 2)).toHaveLength(2);
      const restricted = (pubkeys: string[]) => ({ viewers: { pubkeys, restrictedKinds: [4] } });
      expect((await store.syncItems(filter({ authors: [bob.pubkey] }), now(), 100, restricted([]))).sort()).toEqual(pairs(notes));
      expect((await store.syncItems(filter({ authors: [bob.pubkey] }), now(), 100, restricted([alice.pubkey]))).sort())
        .toEqual(pairs([...notes, dm]));
    });

    it('follows commits made by another writer on the same database, by sequence number, within a second', async () => {
      const feed = feedOf(store);
      const other = await open(location);
      try {
        const carol = signer();
        const events = Array.from({ length: 5 }, (_, i) => carol.sign({ kind: 1, content: `from elsewhere ${i}` }));
        for (const e of events) expect((await other.write(verified(e))).status).toBe('stored');
        await feed.until(() => events.every((e) => feed.stored().some((s) => s.json.includes(e.id))), 1500);
        const external = feed.changes.filter((c) => c.external);
        expect(external.length).toBeGreaterThan(0);
        const seqs = feed.stored().map((s) => s.seq);
        expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
        // And this store's own next write carries on after them.
        const mine = (await store.write(verified(alice.sign({ kind: 1, content: 'after' })))) as { seq: number };
        expect(mine.seq).toBeGreaterThan(Math.max(...seqs));
      } finally {
        await other.close();
        feed.stop();
      }
    });

    it('stores moderation decisions, feeds what a ban removes, refuses the banned, and flags another process\'s decisions', async () => {
      const feed = feedOf(store);
      const spammer = signer();
      const notes = [spammer.sign({ content: 'a' }), spammer.sign({ content: 'b' })];
      for (const e of notes) expect((await store.write(verified(e))).status).toBe('stored');
      expect(await store.moderate({ add: [{ list: 'bannedPubkeys', value: spammer.pubkey, reason: 'spam' }], drop: [] })).toBe(2);
      expect(feed.removed()).toEqual(expect.arrayContaining(notes.map((e) => e.id)));
      expect(await store.write(verified(spammer.sign({ content: 'c' })))).toEqual({ status: 'rejected', message: 'blocked: this author is banned from this relay' });
      expect((await store.moderation()).lists.bannedPubkeys).toEqual([{ value: spammer.pubkey, reason: 'spam' }]);

      const other = await open(location);
      try {
        await other.moderate({ add: [], drop: [], info: { field: 'name', value: 'Elsewhere' } });
        await feed.until(() => feed.changes.some((c) => c.moderation === true), 1500);
        expect((await store.moderation()).info).toEqual({ name: 'Elsewhere' });
      } finally {
        await other.close();
        feed.stop();
      }
    });

    it('answers queryFrames with query\'s events as the subscription\'s EVENT frames, then EOSE, and their ids', async () => {
      const erin = signer();
      const t = now() - 50;
      // Two at one timestamp: ties go to the lowest id here as in query.
      for (const e of [erin.sign({ kind: 1, created_at: t, content: 'a' }), erin.sign({ kind: 1, created_at: t + 1, content: 'b' }),
        erin.sign({ kind: 1, created_at: t + 1, content: 'c' }), erin.sign({ kind: 7, created_at: t + 2, content: '+' })]) {
        await store.write(verified(e));
      }
      const filters = [filter({ authors: [erin.pubkey], kinds: [1], limit: 3 })];
      const events = await store.query(filters, now());
      expect(events).toHaveLength(3);
      const answer = await store.queryFrames('sub "x"', filters, now());
      expect(answer.ids).toBe(events.map((j) => JSON.parse(j).id).join(''));
      const received: string[] = [];
      const receiver = new Receiver({ isServer: false });
      receiver.on('message', (data: Buffer, isBinary: boolean) => received.push(isBinary ? 'binary' : data.toString()));
      await new Promise<void>((resolve, reject) => receiver.write(Buffer.from(answer.frames), (err) => (err ? reject(err) : resolve())));
      expect(received.map((f) => JSON.parse(f))).toEqual([...events.map((j) => ['EVENT', 'sub "x"', JSON.parse(j)]), ['EOSE', 'sub "x"']]);
      expect((await store.queryFrames('none', [filter({ authors: [erin.pubkey], kinds: [30023] })], now())).ids).toBe('');
    });

    it('times out a read that runs past its budget with QueryTimeout, and keeps serving', async () => {
      const dave = signer();
      for (let i = 0; i < 300; i++) await store.write(verified(dave.sign({ kind: 1, content: `n${i}`, tags: [['t', 'x']] })));
      // An author's whole history checked for a tag nobody uses, with no time to do it.
      const read = store.query([filter({ authors: [dave.pubkey], '#t': ['nobody-uses-this'] })], now(), { timeoutMs: 0 });
      await expect(read).rejects.toMatchObject({ name: 'Error', message: 'query ran out of time' });
      expect(await store.count([filter({ authors: [dave.pubkey] })], now())).toBe(300);
    });
  });
}

describeStoragePort('SQLite (writer thread, reader pool)', openStorage, tempDb);
