/**
 * The client matrix: Nostr libraries our other tests do not use, each with its default options against
 * a real relay process: publish, read back, a live subscription, COUNT where the library has it, and
 * NIP-42 AUTH in privacy mode where it can sign. Node 20 has no global WebSocket, so libraries that
 * expect one get ws; nothing else is changed from their defaults.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { NostrEvent } from 'nostr-tools/pure';
import { RawClient, signer, type Signer } from './helpers/client.js';
import { startRelay, type RunningRelay } from './helpers/relay.js';

(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

const unixNow = () => Math.floor(Date.now() / 1000);

let relay: RunningRelay;
/** Privacy mode: workout records only for their author, after AUTH (challenges on demand, the default). */
let privateRelay: RunningRelay;
/** Each client's own workout record on the private relay, keyed by its author. */
const records = new Map<string, NostrEvent>();

function workoutRecord(who: Signer): NostrEvent {
  return who.sign({
    kind: 1301, content: '', created_at: unixNow(),
    tags: [['d', `w-${who.pubkey.slice(0, 8)}`], ['title', 'Push day'], ['type', 'strength'], ['start', '1753600200'],
      ['end', '1753603700'], ['completed', 'true'], ['exercise', `33401:${who.pubkey}:push-up`, '', '0', '15', '7', 'normal', '1']],
  });
}

/** A key pair whose workout record is already on the private relay. */
async function recordOwner(): Promise<Signer> {
  const who = signer();
  const record = workoutRecord(who);
  const c = await RawClient.connect(privateRelay.url);
  expect(await c.publish(record)).toEqual([true, '']);
  c.close();
  records.set(who.pubkey, record);
  return who;
}

/** Publishes through a plain client, for the live-subscription checks. */
async function publishRaw(event: NostrEvent): Promise<void> {
  const c = await RawClient.connect(relay.url);
  expect(await c.publish(event)).toEqual([true, '']);
  c.close();
}

const until = async <T>(what: () => T | undefined, timeoutMs = 5000): Promise<T> => {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = what();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

beforeAll(async () => {
  [relay, privateRelay] = await Promise.all([startRelay(), startRelay({ POWR_RELAY_PRIVATE_RECORDS: 'true' })]);
});
afterAll(async () => {
  await Promise.all([relay.stop(), privateRelay.stop()]);
});

describe('@welshman/net', () => {
  it('publishes, reads back without waiting on a challenge, and gets live events', async () => {
    const { AuthStatus, Pool, publish, request, PublishStatus } = await import('@welshman/net');
    const who = signer();
    const note = who.sign({ content: 'via welshman' });
    const published = await publish({ relays: [relay.url], event: note });
    expect(Object.values(published).map((r) => r.status)).toEqual([PublishStatus.Success]);

    // welshman holds EOSE back while a challenge is pending: none is sent unless something needs AUTH.
    const events = await request({ relays: [relay.url], filters: [{ authors: [who.pubkey] }], autoClose: true });
    expect(events.map((e) => e.id)).toEqual([note.id]);
    expect(Pool.get().get(relay.url).auth.status).toBe(AuthStatus.None);

    const live: string[] = [];
    const controller = new AbortController();
    void request({ relays: [relay.url], filters: [{ authors: [who.pubkey], since: unixNow() }], signal: controller.signal,
      onEvent: (e) => live.push(e.id) });
    const next = who.sign({ content: 'live', created_at: unixNow() });
    await new Promise((r) => setTimeout(r, 200));
    await publishRaw(next);
    expect(await until(() => (live.includes(next.id) ? live : undefined))).toContain(next.id);
    controller.abort();
  });

  it('authenticates when the relay asks and reads its own record in privacy mode', async () => {
    const { Pool, Socket, defaultSocketPolicies, makeSocketPolicyAuth, request } = await import('@welshman/net');
    const who = await recordOwner();
    // Signing needs a key: welshman's own auth policy, given a signer, is the one change from the defaults.
    const sign = async (template: Record<string, unknown>) => who.sign(template) as never;
    const pool = new Pool({ makeSocket: (url) => new Socket(url, [...defaultSocketPolicies, makeSocketPolicyAuth({ sign })]) });
    const events = await request({ relays: [privateRelay.url], filters: [{ kinds: [1301], authors: [who.pubkey] }], autoClose: true,
      context: { pool } as never });
    expect(events.map((e) => e.id)).toEqual([records.get(who.pubkey)!.id]);
  });
});

describe('rx-nostr', () => {
  it('publishes, reads back and gets live events', async () => {
    const { createRxNostr, createRxBackwardReq, createRxForwardReq } = await import('rx-nostr');
    const { verifier, seckeySigner } = await import('rx-nostr-crypto');
    const who = signer();
    const rx = createRxNostr({ verifier, signer: seckeySigner(Buffer.from(who.secretKey).toString('hex')) });
    rx.setDefaultRelays([relay.url]);
    const ok = await new Promise<boolean>((resolve) => rx.send({ kind: 1, content: 'via rx-nostr', tags: [] }).subscribe((p) => resolve(p.ok)));
    expect(ok).toBe(true);

    const backward = createRxBackwardReq();
    const got = new Promise<string[]>((resolve) => {
      const ids: string[] = [];
      rx.use(backward).subscribe({ next: (p) => ids.push(p.event.id), complete: () => resolve(ids) });
    });
    backward.emit({ authors: [who.pubkey] });
    backward.over();
    const ids = await got;
    expect(ids).toHaveLength(1);

    const forward = createRxForwardReq();
    const live: string[] = [];
    const sub = rx.use(forward).subscribe((p) => live.push(p.event.id));
    forward.emit({ authors: [who.pubkey], since: unixNow() });
    await new Promise((r) => setTimeout(r, 200));
    const next = who.sign({ content: 'live', created_at: unixNow() });
    await publishRaw(next);
    expect(await until(() => (live.includes(next.id) ? live : undefined))).toContain(next.id);
    sub.unsubscribe();
    rx.dispose();
  });

  it('authenticates when the relay asks and reads its own record in privacy mode', async () => {
    const { createRxNostr, createRxBackwardReq } = await import('rx-nostr');
    const { verifier, seckeySigner } = await import('rx-nostr-crypto');
    const who = await recordOwner();
    const rx = createRxNostr({ verifier, signer: seckeySigner(Buffer.from(who.secretKey).toString('hex')), authenticator: 'auto' });
    rx.setDefaultRelays([privateRelay.url]);
    const req = createRxBackwardReq();
    const got = new Promise<string[]>((resolve) => {
      const ids: string[] = [];
      rx.use(req).subscribe({ next: (p) => ids.push(p.event.id), complete: () => resolve(ids) });
    });
    req.emit({ kinds: [1301], authors: [who.pubkey] });
    req.over();
    expect(await got).toEqual([records.get(who.pubkey)!.id]);
    rx.dispose();
  });
});

describe('applesauce-relay', () => {
  it('publishes, reads back, counts and gets live events', async () => {
    const { Relay } = await import('applesauce-relay');
    const { lastValueFrom, toArray, firstValueFrom } = await import('rxjs');
    const who = signer();
    const r = new Relay(relay.url);
    const note = who.sign({ content: 'via applesauce' });
    expect((await r.publish(note)).ok).toBe(true);
    const events = await lastValueFrom(r.request({ authors: [who.pubkey] }).pipe(toArray()));
    expect(events.map((e) => e.id)).toEqual([note.id]);
    expect((await firstValueFrom(r.count({ authors: [who.pubkey] }))).count).toBe(1);

    const live: string[] = [];
    const sub = r.subscription({ authors: [who.pubkey], since: unixNow() }).subscribe((m) => {
      if (m !== 'EOSE') live.push(m.id);
    });
    await new Promise((res) => setTimeout(res, 200));
    const next = who.sign({ content: 'live', created_at: unixNow() });
    await publishRaw(next);
    expect(await until(() => (live.includes(next.id) ? live : undefined))).toContain(next.id);
    sub.unsubscribe();
    r.close();
  });

  it('authenticates with the challenge sent with auth-required: and reads its own record in privacy mode', async () => {
    const { Relay } = await import('applesauce-relay');
    const { lastValueFrom, toArray } = await import('rxjs');
    const who = await recordOwner();
    const r = new Relay(privateRelay.url);
    const filter = { kinds: [1301], authors: [who.pubkey] };
    // applesauce holds a request the relay refused with auth-required: until the app authenticates.
    const pending = lastValueFrom(r.request(filter).pipe(toArray()));
    const challenge = await until(() => r.challenge ?? undefined);
    expect(challenge).toMatch(/^[0-9a-f]{32}$/);
    expect((await r.authenticate({ signEvent: (t) => who.sign(t) })).ok).toBe(true);
    expect((await pending).map((e) => e.id)).toEqual([records.get(who.pubkey)!.id]);
    r.close();
  });
});

describe('@nostrify/nostrify', () => {
  it('publishes, queries, counts and gets live events with NRelay1', async () => {
    const { NRelay1 } = await import('@nostrify/nostrify');
    const who = signer();
    const r = new NRelay1(relay.url);
    const note = who.sign({ content: 'via nostrify' });
    await r.event(note);
    expect((await r.query([{ authors: [who.pubkey] }])).map((e) => e.id)).toEqual([note.id]);
    expect((await r.count([{ authors: [who.pubkey] }])).count).toBe(1);

    const controller = new AbortController();
    const next = who.sign({ content: 'live', created_at: unixNow() });
    const seen = (async () => {
      for await (const msg of r.req([{ authors: [who.pubkey], since: unixNow() }], { signal: controller.signal })) {
        if (msg[0] === 'EVENT' && msg[2].id === next.id) return msg[2].id;
      }
      return undefined;
    })();
    await new Promise((res) => setTimeout(res, 200));
    await publishRaw(next);
    expect(await seen).toBe(next.id);
    controller.abort();
    await r.close();
  });

  it('authenticates when the relay asks and reads its own record in privacy mode', async () => {
    const { NRelay1 } = await import('@nostrify/nostrify');
    const who = await recordOwner();
    const r = new NRelay1(privateRelay.url, {
      auth: async (challenge) => who.sign({ kind: 22242, created_at: unixNow(), tags: [['relay', privateRelay.url], ['challenge', challenge]] }),
    });
    const events = await r.query([{ kinds: [1301], authors: [who.pubkey] }]);
    expect(events.map((e) => e.id)).toEqual([records.get(who.pubkey)!.id]);
    await r.close();
  });
});

describe('nostr-fetch', () => {
  it('fetches what was published, without logging an unknown AUTH message', async () => {
    const { NostrFetcher } = await import('nostr-fetch');
    const errors = vi.spyOn(console, 'error');
    try {
      const who = signer();
      const notes = [who.sign({ content: 'one' }), who.sign({ content: 'two' })];
      for (const n of notes) await publishRaw(n);
      const fetcher = NostrFetcher.init({ webSocketConstructor: WebSocket });
      const all = await fetcher.fetchAllEvents([relay.url], { authors: [who.pubkey] }, {});
      expect(all.map((e) => e.id).sort()).toEqual(notes.map((n) => n.id).sort());
      const latest = await fetcher.fetchLastEvent([relay.url], { authors: [who.pubkey] });
      expect(latest?.id).toBe(notes[1]!.id);
      fetcher.shutdown();
      expect(errors.mock.calls.filter((c) => String(c[0]).includes('R2C'))).toEqual([]);
    } finally {
      errors.mockRestore();
    }
  });
});

describe('@rust-nostr/nostr-sdk (WASM)', () => {
  it('publishes, fetches and gets live events', async () => {
    const sdk = await import('@rust-nostr/nostr-sdk');
    sdk.loadWasmSync();
    const who = signer();
    const client = new sdk.Client(sdk.NostrSigner.keys(sdk.Keys.parse(Buffer.from(who.secretKey).toString('hex'))));
    await client.addRelay(relay.url);
    await client.connect();
    const sent = await client.sendEventBuilder(new sdk.EventBuilder(new sdk.Kind(1), 'via rust-nostr'));
    expect(sent.success).toHaveLength(1);
    const filter = new sdk.Filter().author(sdk.PublicKey.parse(who.pubkey));
    const events = (await client.fetchEvents(filter, sdk.Duration.fromSecs(5))).toVec();
    expect(events.map((e) => e.id.toHex())).toEqual([sent.id.toHex()]);

    const live: string[] = [];
    await client.subscribe(new sdk.Filter().author(sdk.PublicKey.parse(who.pubkey)).since(sdk.Timestamp.fromSecs(unixNow())));
    client.handleNotifications({
      handleEvent: async (_url, _sub, event) => {
        live.push(event.id.toHex());
        return false;
      },
      handleMsg: async () => false,
    });
    await new Promise((res) => setTimeout(res, 200));
    const next = who.sign({ content: 'live', created_at: unixNow() });
    await publishRaw(next);
    expect(await until(() => (live.includes(next.id) ? live : undefined))).toContain(next.id);
    await client.shutdown();
  });

  it('authenticates with the challenge sent with auth-required: and reads its own record in privacy mode', async () => {
    const sdk = await import('@rust-nostr/nostr-sdk');
    sdk.loadWasmSync();
    const who = await recordOwner();
    const client = new sdk.Client(sdk.NostrSigner.keys(sdk.Keys.parse(Buffer.from(who.secretKey).toString('hex'))));
    await client.addRelay(privateRelay.url);
    await client.connect();
    const filter = new sdk.Filter().kind(new sdk.Kind(1301)).author(sdk.PublicKey.parse(who.pubkey));
    const events = (await client.fetchEvents(filter, sdk.Duration.fromSecs(5))).toVec();
    expect(events.map((e) => e.id.toHex())).toEqual([records.get(who.pubkey)!.id]);
    await client.shutdown();
  });
});

/**
 * `"resolve": true` is an extension: a client passes it on and keeps the extra events, or it does not.
 * What each library does with its defaults, as docs/bundles.md tells users (the others use /api/bundle).
 */
describe('resolve across the matrix', () => {
  const lib = signer();
  const squat = lib.sign({ kind: 33401, tags: [['d', 'squat'], ['title', 'Squat'], ['format', 'weight', 'reps'],
    ['format_units', 'kg', 'count'], ['equipment', 'barbell']] });
  const legs = lib.sign({ kind: 33402, tags: [['d', 'legs'], ['title', 'Legs'], ['type', 'strength'],
    ['exercise', `33401:${lib.pubkey}:squat`, '', '100', '5', '1']] });
  /** The template with resolve, and the helper filter the exercises match, as docs/bundles.md shows. */
  const filters = () => [{ kinds: [33402], authors: [lib.pubkey], '#d': ['legs'], resolve: true }, { kinds: [33401], limit: 0 }];
  const sorted = (ids: string[]) => [...ids].sort();
  const bundle = () => sorted([legs.id, squat.id]);

  beforeAll(async () => {
    for (const e of [squat, legs]) await publishRaw(e);
  });

  it('@welshman/net request() keeps the referenced exercises', async () => {
    const { request } = await import('@welshman/net');
    const events = await request({ relays: [relay.url], filters: filters() as never, autoClose: true });
    expect(sorted(events.map((e) => e.id))).toEqual(bundle());
  });

  it('applesauce-relay request() keeps them', async () => {
    const { Relay } = await import('applesauce-relay');
    const { lastValueFrom, toArray } = await import('rxjs');
    const r = new Relay(relay.url);
    expect(sorted((await lastValueFrom(r.request(filters() as never).pipe(toArray()))).map((e) => e.id))).toEqual(bundle());
    r.close();
  });

  it('@nostrify/nostrify keeps them with req() but drops them with query()', async () => {
    const { NRelay1 } = await import('@nostrify/nostrify');
    const r = new NRelay1(relay.url);
    expect((await r.query(filters() as never)).map((e) => e.id)).toEqual([legs.id]);
    const ids: string[] = [];
    for await (const msg of r.req(filters() as never)) {
      if (msg[0] === 'EVENT') ids.push(msg[2].id);
      if (msg[0] === 'EOSE') break;
    }
    expect(sorted(ids)).toEqual(bundle());
    await r.close();
  });

  it('rx-nostr, nostr-fetch and rust-nostr get only the template', async () => {
    const { createRxNostr, createRxBackwardReq } = await import('rx-nostr');
    const { verifier } = await import('rx-nostr-crypto');
    const rx = createRxNostr({ verifier });
    rx.setDefaultRelays([relay.url]);
    const req = createRxBackwardReq();
    const got = new Promise<string[]>((resolve) => {
      const ids: string[] = [];
      rx.use(req).subscribe({ next: (p) => ids.push(p.event.id), complete: () => resolve(ids) });
    });
    req.emit(filters() as never);
    req.over();
    expect(await got).toEqual([legs.id]);
    rx.dispose();

    const { NostrFetcher } = await import('nostr-fetch');
    const fetcher = NostrFetcher.init({ webSocketConstructor: WebSocket });
    expect((await fetcher.fetchAllEvents([relay.url], filters()[0] as never, {})).map((e) => e.id)).toEqual([legs.id]);
    fetcher.shutdown();

    const sdk = await import('@rust-nostr/nostr-sdk');
    sdk.loadWasmSync();
    // Its Filter type has no place for an unknown key: parsing drops it.
    const filter = sdk.Filter.fromJson(JSON.stringify(filters()[0]));
    expect(JSON.parse(filter.asJson())).not.toHaveProperty('resolve');
    const client = new sdk.Client();
    await client.addRelay(relay.url);
    await client.connect();
    expect((await client.fetchEvents(filter, sdk.Duration.fromSecs(5))).toVec().map((e) => e.id.toHex())).toEqual([legs.id]);
    await client.shutdown();
  });
});
