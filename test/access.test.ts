import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NostrEvent } from 'nostr-tools/pure';
import { RawClient, signer, sleep, type Signer } from './helpers/client.js';
import { startRelay, type RunningRelay } from './helpers/relay.js';

const lib = signer();
const alice = signer();
const bob = signer();
const carol = signer(); // bob's coach: his records p-tag her

const pushUp = lib.sign({
  kind: 33401, tags: [['d', 'push-up'], ['title', 'Push-up'], ['format', 'weight', 'reps', 'rpe', 'set_type'],
    ['format_units', 'kg', 'count', '0-10', 'enum'], ['equipment', 'bodyweight']],
});
const pushUpAddress = `33401:${lib.pubkey}:push-up`;

function record(who: Signer, d: string, extra: string[][] = [], kind = 1301, created_at?: number): NostrEvent {
  return who.sign({
    kind, content: 'felt strong', ...(created_at === undefined ? {} : { created_at }),
    tags: [['d', d], ['title', 'Push day'], ['type', 'strength'], ['start', '1753600200'], ['end', '1753603700'],
      ['completed', 'true'], ['exercise', pushUpAddress, '', '0', '15', '7', 'normal', '1'], ...extra],
  });
}

/** The existing flows authenticate first, so these relays send the challenge on connect. */
const AUTH_ON_CONNECT = { POWR_RELAY_AUTH_ON_CONNECT: 'true' };

async function connectAs(relay: RunningRelay, who?: Signer): Promise<RawClient> {
  const c = await RawClient.connect(relay.url);
  if (who) expect(await c.auth(who, relay.url)).toEqual([true, '']);
  return c;
}

describe('NIP-42 AUTH', () => {
  let relay: RunningRelay;
  beforeAll(async () => {
    relay = await startRelay(AUTH_ON_CONNECT);
  });
  afterAll(() => relay.stop());

  it('sends a challenge on connect and accepts a correct AUTH event', async () => {
    const c = await RawClient.connect(relay.url);
    expect(await c.challenge()).toMatch(/^[0-9a-f]{32}$/);
    expect(await c.auth(alice, relay.url)).toEqual([true, '']);
    c.close();
  });

  it('refuses an AUTH event for another relay, a stale one, a wrong kind and a bad signature', async () => {
    const c = await RawClient.connect(relay.url);
    const challenge = await c.challenge();
    const now = Math.floor(Date.now() / 1000);
    const cases: [NostrEvent, RegExp][] = [
      [alice.sign({ kind: 22242, created_at: now, tags: [['relay', 'wss://elsewhere.example'], ['challenge', challenge]] }), /^invalid: the relay tag/],
      [alice.sign({ kind: 22242, created_at: now - 3600, tags: [['relay', relay.url], ['challenge', challenge]] }), /^invalid: .*within 10 minutes/],
      [alice.sign({ kind: 1, created_at: now, tags: [['relay', relay.url], ['challenge', challenge]] }), /^invalid: an AUTH event must be of kind/],
      [{ ...alice.sign({ kind: 22242, created_at: now, tags: [['relay', relay.url], ['challenge', challenge]] }), sig: 'ab'.repeat(64) },
        /^invalid: signature/],
    ];
    for (const [event, expected] of cases) {
      const from = c.frames.length;
      c.send(['AUTH', event]);
      const ok = await c.next((f) => f[0] === 'OK' && f[1] === event.id, 5000, from);
      expect(ok[2]).toBe(false);
      expect(ok[3]).toMatch(expected);
    }
    c.close();
  });

  it('accepts a protected event (NIP-70) only from its authenticated author', async () => {
    const c = await connectAs(relay, alice);
    expect(await c.publish(alice.sign({ content: 'members only', tags: [['-']] }))).toEqual([true, '']);
    const [ok, msg] = await c.publish(bob.sign({ content: 'not alice', tags: [['-']] }));
    expect(ok).toBe(false);
    expect(msg).toMatch(/^restricted: /);
    c.close();
  });
});

describe('restricted writes and the write allowlist', () => {
  let relay: RunningRelay;
  beforeAll(async () => {
    relay = await startRelay({ ...AUTH_ON_CONNECT, POWR_RELAY_RESTRICTED_WRITES: 'true', POWR_RELAY_WRITE_ALLOWLIST: `${alice.pubkey}` });
  });
  afterAll(() => relay.stop());

  it('asks unauthenticated publishers to authenticate, and takes only allowed authors', async () => {
    const anon = await connectAs(relay);
    const [ok, msg] = await anon.publish(alice.sign({ content: 'anon' }));
    expect(ok).toBe(false);
    expect(msg).toMatch(/^auth-required: /);
    const asBob = await connectAs(relay, bob);
    const refused = await asBob.publish(bob.sign({ content: 'bob' }));
    expect(refused[0]).toBe(false);
    expect(refused[1]).toMatch(/^restricted: /);
    const asAlice = await connectAs(relay, alice);
    expect(await asAlice.publish(alice.sign({ content: 'alice' }))).toEqual([true, '']);
    const info = await (await fetch(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } })).json();
    expect(info.limitation.restricted_writes).toBe(true);
    expect(info.supported_nips).toEqual(expect.arrayContaining([42, 70]));
    for (const c of [anon, asBob, asAlice]) c.close();
  });
});

describe('privacy mode: workout records only for their author and p-tagged pubkeys', () => {
  let relay: RunningRelay;
  const aliceRecord = record(alice, 'alice-1');
  const bobRecord = record(bob, 'bob-1', [['p', carol.pubkey]]);
  const aliceLegacy = record(alice, 'alice-legacy', [], 33403);
  const aliceNote = alice.sign({ content: 'a public note' });
  const collection = lib.sign({
    kind: 30003, tags: [['d', 'favourites'], ['title', 'Favourites'], ['a', pushUpAddress], ['a', `33403:${alice.pubkey}:alice-legacy`]],
  });

  beforeAll(async () => {
    relay = await startRelay({ ...AUTH_ON_CONNECT, POWR_RELAY_PRIVATE_RECORDS: 'true' });
    const c = await connectAs(relay);
    for (const e of [pushUp, aliceRecord, bobRecord, aliceLegacy, aliceNote, collection]) expect(await c.publish(e)).toEqual([true, '']);
    c.close();
  });
  afterAll(() => relay.stop());

  it('closes REQ and COUNT for record kinds with auth-required until the client authenticates', async () => {
    const info = await (await fetch(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } })).json();
    expect(info.powr.restricted_read_kinds).toEqual([4, 1059, 1301, 33403]);
    const anon = await connectAs(relay);
    expect(await anon.refused('r', { kinds: [1301] })).toMatch(/^auth-required: /);
    expect(await anon.refused('r2', { kinds: [1, 33403], authors: [alice.pubkey] })).toMatch(/^auth-required: /);
    await expect(anon.count('n', { kinds: [1301] })).rejects.toThrow(/^auth-required: /);
    anon.close();
  });

  it('leaves records out of anonymous queries that do not name kinds, COUNT included', async () => {
    const anon = await connectAs(relay);
    const ids = (await anon.req('a', { authors: [alice.pubkey] })).map((e) => e.id);
    expect(ids).toEqual([aliceNote.id]);
    expect(await anon.req('b', { ids: [aliceRecord.id, bobRecord.id, aliceLegacy.id] })).toEqual([]);
    expect(await anon.req('c', { '#exercise': [pushUpAddress] })).toEqual([]);
    expect(await anon.count('n', { authors: [alice.pubkey, bob.pubkey] })).toBe(1);
    anon.close();
  });

  it('serves each authenticated client exactly the records it may read', async () => {
    const asAlice = await connectAs(relay, alice);
    const asBob = await connectAs(relay, bob);
    const asCarol = await connectAs(relay, carol);
    const ids = async (c: RawClient) => (await c.req('r', { kinds: [1301, 33403] })).map((e) => e.id).sort();
    expect(await ids(asAlice)).toEqual([aliceRecord.id, aliceLegacy.id].sort());
    expect(await ids(asBob)).toEqual([bobRecord.id]);
    expect(await ids(asCarol)).toEqual([bobRecord.id]);
    expect(await asBob.req('x', { kinds: [1301], authors: [alice.pubkey] })).toEqual([]);
    expect(await asAlice.count('n', { kinds: [1301, 33403] })).toBe(2);
    expect(await asCarol.count('n', { '#exercise': [pushUpAddress] })).toBe(1);
    for (const c of [asAlice, asBob, asCarol]) c.close();
  });

  it('delivers live records only to the clients that may read them', async () => {
    const asCarol = await connectAs(relay, carol);
    const anon = await connectAs(relay);
    await asCarol.subscribe('live', { kinds: [1301], since: Math.floor(Date.now() / 1000) - 5 });
    await anon.subscribe('live', { since: Math.floor(Date.now() / 1000) - 5 });
    const now = Math.floor(Date.now() / 1000);
    const forCarol = record(bob, 'bob-2', [['p', carol.pubkey]], 1301, now);
    const notForCarol = record(alice, 'alice-2', [], 1301, now);
    const publisher = await connectAs(relay);
    const marker = lib.sign({ content: 'marker', created_at: now });
    for (const e of [forCarol, notForCarol, marker]) expect(await publisher.publish(e)).toEqual([true, '']);
    await anon.next((f) => f[0] === 'EVENT' && (f[2] as NostrEvent).id === marker.id);
    await sleep(100);
    const seen = (c: RawClient) => c.frames.filter((f) => f[0] === 'EVENT' && f[1] === 'live').map((f) => (f[2] as NostrEvent).id);
    expect(seen(asCarol)).toEqual([forCarol.id]);
    expect(seen(anon)).toEqual([marker.id]);
    for (const c of [asCarol, anon, publisher]) c.close();
  });

  it('keeps records out of resolve and of HTTP bundles', async () => {
    const anon = await connectAs(relay);
    const resolved = await anon.req('res', { kinds: [30003], authors: [lib.pubkey], resolve: true });
    expect(resolved.map((e) => e.id).sort()).toEqual([collection.id, pushUp.id].sort());
    const asAlice = await connectAs(relay, alice);
    const own = await asAlice.req('res', { kinds: [30003], authors: [lib.pubkey], resolve: true });
    expect(own.map((e) => e.id).sort()).toEqual([collection.id, pushUp.id, aliceLegacy.id].sort());

    const byRecord = await fetch(`${relay.httpUrl}/api/bundle?id=${aliceRecord.id}`);
    expect(byRecord.status).toBe(404);
    const byCollection = await (await fetch(`${relay.httpUrl}/api/bundle?a=30003:${lib.pubkey}:favourites`)).json();
    expect(byCollection.events.map((e: NostrEvent) => e.id)).toEqual([pushUp.id]);
    expect(JSON.stringify(byCollection)).not.toContain(aliceLegacy.id);
    anon.close();
    asAlice.close();
  });
});

/** The frames a client received, by type, from `from` on (to check what came before what). */
const types = (c: RawClient, from: number) => c.frames.slice(from).map((f) => f[0]);

describe('AUTH on demand (the default)', () => {
  let relay: RunningRelay;
  beforeAll(async () => {
    relay = await startRelay({ POWR_RELAY_RESTRICTED_WRITES: 'true' });
  });
  afterAll(() => relay.stop());

  it('sends no challenge on connect, so a client that never needs AUTH is not held up', async () => {
    const c = await RawClient.connect(relay.url);
    expect(await c.req('q', { kinds: [1], limit: 1 })).toEqual([]);
    await sleep(100);
    expect(c.frames.some((f) => f[0] === 'AUTH')).toBe(false);
    c.close();
  });

  it('sends a fresh challenge right before each CLOSED auth-required:, and that challenge authenticates', async () => {
    const c = await RawClient.connect(relay.url);
    expect(await c.refused('dm', { kinds: [4], '#p': [alice.pubkey] })).toMatch(/^auth-required: /);
    expect(types(c, 0)).toEqual(['AUTH', 'CLOSED']);
    const first = await c.challenge();
    const from = c.frames.length;
    await expect(c.count('n', { kinds: [1059] })).rejects.toThrow(/^auth-required: /);
    expect(types(c, from)).toEqual(['AUTH', 'CLOSED']);
    expect(await c.challenge()).not.toBe(first);
    expect(await c.auth(alice, relay.url)).toEqual([true, '']);
    expect(await c.req('dm2', { kinds: [4], '#p': [alice.pubkey] })).toEqual([]);
    c.close();
  });

  it('sends a challenge right before an OK false auth-required:, and takes the event after AUTH', async () => {
    const c = await RawClient.connect(relay.url);
    const note = alice.sign({ content: 'after auth' });
    const [ok, msg] = await c.publish(note);
    expect([ok, msg.split(':')[0]]).toEqual([false, 'auth-required']);
    expect(types(c, 0)).toEqual(['AUTH', 'OK']);
    expect(await c.auth(alice, relay.url)).toEqual([true, '']);
    expect(await c.publish(note)).toEqual([true, '']);
    c.close();
  });

  it('still accepts an AUTH signed for the previous challenge', async () => {
    const c = await RawClient.connect(relay.url);
    await c.refused('a', { kinds: [4] });
    const older = await c.challenge();
    await c.refused('b', { kinds: [4] });
    const event = bob.sign({ kind: 22242, created_at: Math.floor(Date.now() / 1000), tags: [['relay', relay.url], ['challenge', older]] });
    c.send(['AUTH', event]);
    const okFrame = await c.next((f) => f[0] === 'OK' && f[1] === event.id);
    expect(okFrame.slice(2)).toEqual([true, '']);
    c.close();
  });
});

describe('read rules: restrictedReadKinds', () => {
  const dm = alice.sign({ kind: 4, content: 'ciphertext', tags: [['p', bob.pubkey]] });
  const wrap = carol.sign({ kind: 1059, content: 'sealed', tags: [['p', alice.pubkey]] });
  const note = alice.sign({ content: 'public' });

  async function seeded(env: Record<string, string> = {}): Promise<RunningRelay> {
    const relay = await startRelay(env);
    const c = await RawClient.connect(relay.url);
    for (const e of [dm, wrap, note]) expect(await c.publish(e)).toEqual([true, '']);
    c.close();
    return relay;
  }

  it('serves direct messages and gift wraps (the default kinds) only to their author and recipients', async () => {
    const relay = await seeded();
    const info = await (await fetch(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } })).json();
    expect(info.powr.restricted_read_kinds).toEqual([4, 1059]);
    const anon = await RawClient.connect(relay.url);
    expect(await anon.refused('dm', { kinds: [4] })).toMatch(/^auth-required: events of kinds 4, 1059 /);
    expect((await anon.req('all', { authors: [alice.pubkey, carol.pubkey] })).map((e) => e.id)).toEqual([note.id]);
    expect(await anon.count('n', { ids: [dm.id, wrap.id] })).toBe(0);

    const asBob = await RawClient.connect(relay.url);
    await asBob.refused('x', { kinds: [4] });
    expect(await asBob.auth(bob, relay.url)).toEqual([true, '']);
    expect((await asBob.req('dm', { kinds: [4, 1059] })).map((e) => e.id)).toEqual([dm.id]);

    const asAlice = await RawClient.connect(relay.url);
    await asAlice.refused('x', { kinds: [4] });
    expect(await asAlice.auth(alice, relay.url)).toEqual([true, '']);
    expect((await asAlice.req('dm', { kinds: [4, 1059] })).map((e) => e.id).sort()).toEqual([dm.id, wrap.id].sort());
    expect(await asAlice.count('n', { kinds: [4, 1059] })).toBe(2);

    // Live: bob gets a new DM to him; an anonymous subscription without kinds does not.
    await anon.subscribe('live', { since: Math.floor(Date.now() / 1000) - 5 });
    await asBob.subscribe('live', { kinds: [4], since: Math.floor(Date.now() / 1000) - 5 });
    const now = Math.floor(Date.now() / 1000);
    const next = alice.sign({ kind: 4, content: 'again', tags: [['p', bob.pubkey]], created_at: now });
    const marker = lib.sign({ content: 'marker', created_at: now });
    for (const e of [next, marker]) expect(await asAlice.publish(e)).toEqual([true, '']);
    await anon.next((f) => f[0] === 'EVENT' && f[1] === 'live' && (f[2] as NostrEvent).id === marker.id);
    await asBob.next((f) => f[0] === 'EVENT' && f[1] === 'live' && (f[2] as NostrEvent).id === next.id);
    expect(anon.frames.some((f) => f[0] === 'EVENT' && (f[2] as NostrEvent).id === next.id)).toBe(false);
    for (const c of [anon, asBob, asAlice]) c.close();
    await relay.stop();
  });

  it('follows the configured kinds: none restricted, or others than the defaults', async () => {
    const open = await seeded({ POWR_RELAY_RESTRICTED_READ_KINDS: '' });
    const anon = await RawClient.connect(open.url);
    expect((await anon.req('dm', { kinds: [4, 1059] })).map((e) => e.id).sort()).toEqual([dm.id, wrap.id].sort());
    anon.close();
    await open.stop();

    const notes = await seeded({ POWR_RELAY_RESTRICTED_READ_KINDS: '1' });
    const anon2 = await RawClient.connect(notes.url);
    expect(await anon2.refused('n', { kinds: [1] })).toMatch(/^auth-required: events of kinds 1 /);
    expect((await anon2.req('dm', { kinds: [4] })).map((e) => e.id)).toEqual([dm.id]);
    expect(await anon2.count('all', { authors: [alice.pubkey] })).toBe(1);
    anon2.close();
    await notes.stop();
  });
});
