import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { nip77 } from 'nostr-tools';
import { Relay, useWebSocketImplementation } from 'nostr-tools/relay';
import type { NostrEvent } from 'nostr-tools/pure';
import { RawClient, signer } from './helpers/client.js';
import { startRelay, type RunningRelay } from './helpers/relay.js';

useWebSocketImplementation(WebSocket);

/** A client-side negentropy storage over these events. */
function storageOf(events: readonly NostrEvent[]): nip77.NegentropyStorageVector {
  const storage = new nip77.NegentropyStorageVector();
  for (const e of events) storage.insert(e.created_at, e.id);
  storage.seal();
  return storage;
}

/**
 * Reconciles `events` with the relay through nostr-tools' own NIP-77 client (NegentropySync, what
 * strfry's users run); resolves with the ids the client has and the relay lacks, and the reverse.
 */
async function reconcile(url: string, events: readonly NostrEvent[], filter: Record<string, unknown> = {}) {
  const relay = await Relay.connect(url);
  const have: string[] = [];
  const need: string[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('negentropy did not finish')), 10_000);
      const sync = new nip77.NegentropySync(relay, storageOf(events), filter, {
        onhave: (id) => have.push(id),
        onneed: (id) => need.push(id),
        onclose: (reason) => (clearTimeout(timer), reason ? reject(new Error(reason)) : resolve()),
      });
      void sync.start();
    });
  } finally {
    relay.close();
  }
  return { have: have.sort(), need: need.sort() };
}

/** Opens a raw negentropy session from an empty set; resolves with the relay's first answer frame. */
async function rawOpen(c: RawClient, subId: string, filter: unknown, events: readonly NostrEvent[] = []) {
  const from = c.frames.length;
  c.send(['NEG-OPEN', subId, filter, new nip77.Negentropy(storageOf(events)).initiate()]);
  return c.next((f) => (f[0] === 'NEG-MSG' || f[0] === 'NEG-ERR' || f[0] === 'NOTICE') && (f[0] === 'NOTICE' || f[1] === subId), 5000, from);
}

const ids = (events: readonly NostrEvent[]) => events.map((e) => e.id).sort();

describe('NIP-77 negentropy', () => {
  let relay: RunningRelay;
  let c: RawClient;
  const alice = signer();
  const bob = signer();
  const common: NostrEvent[] = [];
  const relayOnly: NostrEvent[] = [];
  const clientOnly: NostrEvent[] = [];
  let dm: NostrEvent;

  beforeAll(async () => {
    relay = await startRelay({ POWR_RELAY_NEGENTROPY_MAX_RECORDS: '200' });
    c = await RawClient.connect(relay.url);
    for (let i = 0; i < 50; i++) common.push(alice.sign({ content: `common ${i}` }));
    for (let i = 0; i < 30; i++) relayOnly.push(bob.sign({ content: `relay ${i}` }));
    for (let i = 0; i < 20; i++) clientOnly.push(alice.sign({ content: `client ${i}` }));
    // Kind 4 is a restricted read kind by default: only alice and bob may read it, after AUTH.
    dm = alice.sign({ kind: 4, content: 'secret', tags: [['p', bob.pubkey]] });
    for (const e of [...common, ...relayOnly, dm]) expect(await c.publish(e)).toEqual([true, '']);
  });

  afterAll(async () => {
    c.close();
    await relay.stop();
  });

  it('lists NIP-77 in NIP-11', async () => {
    const info = (await (await fetch(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } })).json()) as { supported_nips: number[] };
    expect(info.supported_nips).toContain(77);
  });

  it("reconciles with nostr-tools' client: exactly the differing ids, both ways", async () => {
    const { have, need } = await reconcile(relay.url, [...common, ...clientOnly], { kinds: [1] });
    expect(have).toEqual(ids(clientOnly));
    expect(need).toEqual(ids(relayOnly));
  });

  it('applies the filter like REQ does', async () => {
    const { have, need } = await reconcile(relay.url, [], { authors: [bob.pubkey] });
    expect(have).toEqual([]);
    expect(need).toEqual(ids(relayOnly));
  });

  it('applies the read rules: a restricted event is left out for a client that has not authenticated', async () => {
    const { need } = await reconcile(relay.url, []);
    expect(need).toHaveLength(common.length + relayOnly.length);
    expect(need).not.toContain(dm.id);
  });

  it('includes a restricted event for its authenticated reader', async () => {
    const authed = await RawClient.connect(relay.url);
    try {
      authed.send(['REQ', 'nudge', { kinds: [4] }]); // asks for the challenge (auth-required: answer)
      expect(await authed.auth(bob, relay.url)).toEqual([true, '']);
      const first = await rawOpen(authed, 'n1', { kinds: [4] });
      expect(first[0]).toBe('NEG-MSG');
      const need: string[] = [];
      const client = new nip77.Negentropy(storageOf([]));
      client.initiate();
      expect(client.reconcile(first[2] as string, undefined, (id) => need.push(id))).toBeNull();
      expect(need).toEqual([dm.id]);
    } finally {
      authed.close();
    }
  });

  it('answers a filter over the record cap with NEG-ERR blocked:', async () => {
    const many = await RawClient.connect(relay.url);
    try {
      for (let i = 0; i < 125; i++) expect((await many.publish(bob.sign({ kind: 7, content: '+' })))[0]).toBe(true);
      const answer = await rawOpen(many, 'big', {});
      expect(answer[0]).toBe('NEG-ERR');
      expect(answer[2]).toMatch(/^blocked: the filter matches more than 200 events/);
      // A narrower filter still reconciles.
      expect((await rawOpen(many, 'small', { kinds: [1] }))[0]).toBe('NEG-MSG');
    } finally {
      many.close();
    }
  });

  it('refuses malformed messages and unknown sessions with NEG-ERR', async () => {
    expect(await rawOpen(c, 'bad-filter', { kinds: 'x' })).toEqual(['NEG-ERR', 'bad-filter', expect.stringMatching(/^invalid: /)]);
    c.send(['NEG-OPEN', 'bad-hex', {}, 'zz']);
    expect(await c.next((f) => f[0] === 'NEG-ERR' && f[1] === 'bad-hex')).toEqual(['NEG-ERR', 'bad-hex', expect.stringMatching(/^invalid: /)]);
    c.send(['NEG-OPEN', 'bad-version', { kinds: [1] }, '62']);
    expect(await c.next((f) => f[0] === 'NEG-ERR' && f[1] === 'bad-version')).toEqual(['NEG-ERR', 'bad-version', expect.stringMatching(/^invalid: .*version/)]);
    c.send(['NEG-MSG', 'never-opened', '61']);
    expect(await c.next((f) => f[0] === 'NEG-ERR' && f[1] === 'never-opened')).toEqual(['NEG-ERR', 'never-opened', expect.stringMatching(/^closed: /)]);
    c.send(['NEG-OPEN', 'short', {}]);
    expect(await c.next((f) => f[0] === 'NEG-ERR' && f[1] === 'short')).toEqual(['NEG-ERR', 'short', expect.stringMatching(/^invalid: /)]);
  });

  it('keeps at most 4 sessions open per connection', async () => {
    const busy = await RawClient.connect(relay.url);
    try {
      for (const id of ['s1', 's2', 's3', 's4']) expect((await rawOpen(busy, id, { kinds: [1] }))[0]).toBe('NEG-MSG');
      expect(await rawOpen(busy, 's5', { kinds: [1] })).toEqual(['NEG-ERR', 's5', expect.stringMatching(/^blocked: too many open negentropy sessions/)]);
      // Reopening an open id replaces it, and a closed one frees its place.
      expect((await rawOpen(busy, 's4', { kinds: [1] }))[0]).toBe('NEG-MSG');
      busy.send(['NEG-CLOSE', 's1']);
      expect((await rawOpen(busy, 's5', { kinds: [1] }))[0]).toBe('NEG-MSG');
    } finally {
      busy.close();
    }
  });

  it('forgets a session on NEG-CLOSE', async () => {
    expect((await rawOpen(c, 'closing', { kinds: [1] }))[0]).toBe('NEG-MSG');
    c.send(['NEG-CLOSE', 'closing']);
    c.send(['NEG-MSG', 'closing', '61']);
    expect(await c.next((f) => f[0] === 'NEG-ERR' && f[1] === 'closing')).toEqual(['NEG-ERR', 'closing', expect.stringMatching(/^closed: /)]);
  });
});

describe('NIP-77 turned off', () => {
  let relay: RunningRelay;

  beforeAll(async () => {
    relay = await startRelay({ POWR_RELAY_NEGENTROPY: 'false' });
  });

  afterAll(async () => {
    await relay.stop();
  });

  it('answers NEG-OPEN with a NOTICE and leaves 77 out of NIP-11', async () => {
    const c = await RawClient.connect(relay.url);
    try {
      expect(await rawOpen(c, 'n', {})).toEqual(['NOTICE', expect.stringMatching(/^unsupported: /)]);
    } finally {
      c.close();
    }
    const info = (await (await fetch(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } })).json()) as { supported_nips: number[] };
    expect(info.supported_nips).not.toContain(77);
  });
});
