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

async function connectAs(relay: RunningRelay, who?: Signer): Promise<RawClient> {
  const c = await RawClient.connect(relay.url);
  if (who) expect(await c.auth(who, relay.url)).toEqual([true, '']);
  return c;
}

describe('NIP-42 AUTH', () => {
  let relay: RunningRelay;
  beforeAll(async () => {
    relay = await startRelay();
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
    relay = await startRelay({ POWR_RELAY_RESTRICTED_WRITES: 'true', POWR_RELAY_WRITE_ALLOWLIST: `${alice.pubkey}` });
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
    relay = await startRelay({ POWR_RELAY_PRIVATE_RECORDS: 'true' });
    const c = await connectAs(relay);
    for (const e of [pushUp, aliceRecord, bobRecord, aliceLegacy, aliceNote, collection]) expect(await c.publish(e)).toEqual([true, '']);
    c.close();
  });
  afterAll(() => relay.stop());

  it('closes REQ and COUNT for record kinds with auth-required until the client authenticates', async () => {
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
