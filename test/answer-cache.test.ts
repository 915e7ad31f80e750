import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, signer, sleep } from './helpers/client.js';
import { startRelay, type RunningRelay } from './helpers/relay.js';

const ids = (events: { id: string }[]) => events.map((e) => e.id);
const now = () => Math.floor(Date.now() / 1000);

/** REQs answered so far by `by` (powr_reqs_total{answered}). */
async function answered(relay: RunningRelay, by: 'reader' | 'cache'): Promise<number> {
  const text = await (await fetch(`${relay.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`powr_reqs_total{answered="${by}"} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

/**
 * Sends the REQ three times (other subscription ids): the first is read (the filters are new, or their
 * answer was dropped), the second kept (filters asked before), the third answered from the cache
 * without a reader. Resolves with the ids of the last answer, checked equal to the reader's.
 */
async function repeated(relay: RunningRelay, c: RawClient, filters: unknown[]): Promise<string[]> {
  const reader = await answered(relay, 'reader');
  const first = ids(await c.req(`a${reader}`, ...filters));
  expect(await answered(relay, 'reader')).toBe(reader + 1);
  expect(ids(await c.req(`b${reader}`, ...filters))).toEqual(first);
  const [read, cache] = [await answered(relay, 'reader'), await answered(relay, 'cache')];
  const last = ids(await c.req(`another-id-${cache}`, ...filters));
  expect(await answered(relay, 'cache')).toBe(cache + 1);
  expect(await answered(relay, 'reader')).toBe(read);
  expect(last).toEqual(first);
  return last;
}

describe('REQ answers cached whole, kept exact by the change feed', () => {
  let relay: RunningRelay;
  let c: RawClient;
  beforeAll(async () => {
    relay = await startRelay();
    c = await RawClient.connect(relay.url);
  });
  afterAll(async () => {
    c.close();
    await relay.stop();
  });

  it('answers a repeated REQ from the cache, as the reader did, and freshly once a matching event is published', async () => {
    const s = signer();
    const stored = [s.sign({ kind: 1301, content: 'a' }), s.sign({ kind: 1301, content: 'b' }), s.sign({ kind: 1, content: 'c' })];
    for (const e of stored) expect(await c.publish(e)).toEqual([true, '']);
    const filters = [{ kinds: [1301], authors: [s.pubkey], limit: 5 }, { kinds: [1], authors: [s.pubkey] }];
    expect(await repeated(relay, c, filters)).toEqual([stored[2]!.id, stored[1]!.id, stored[0]!.id]);

    // Another author's event does not match: the answer stays cached.
    expect(await c.publish(signer().sign({ kind: 1301 }))).toEqual([true, '']);
    const cache = await answered(relay, 'cache');
    expect(ids(await c.req('again', ...filters))).toEqual([stored[2]!.id, stored[1]!.id, stored[0]!.id]);
    expect(await answered(relay, 'cache')).toBe(cache + 1);

    const fresh = s.sign({ kind: 1301, content: 'd' });
    expect(await c.publish(fresh)).toEqual([true, '']);
    expect(await repeated(relay, c, filters)).toEqual([fresh.id, stored[2]!.id, stored[1]!.id, stored[0]!.id]);
  });

  it('drops an answer once one of its events is deleted (NIP-09)', async () => {
    const s = signer();
    const [kept, deleted] = [s.sign({ kind: 1, content: 'kept' }), s.sign({ kind: 1, content: 'deleted' })];
    for (const e of [kept, deleted]) expect(await c.publish(e)).toEqual([true, '']);
    // The deletion (kind 5) does not match the filter itself: only the removal can drop the answer.
    const filter = { kinds: [1], authors: [s.pubkey] };
    expect(await repeated(relay, c, [filter])).toEqual([deleted.id, kept.id]);
    expect(await c.publish(s.sign({ kind: 5, tags: [['e', deleted.id]] }))).toEqual([true, '']);
    expect(await repeated(relay, c, [filter])).toEqual([kept.id]);
  });

  it('drops an answer once an addressable event in it is replaced', async () => {
    const s = signer();
    const first = s.sign({ kind: 33402, tags: [['d', 'plan'], ['title', 'first']] });
    expect(await c.publish(first)).toEqual([true, '']);
    const filter = { kinds: [33402], '#d': ['plan'], authors: [s.pubkey] };
    expect(await repeated(relay, c, [filter])).toEqual([first.id]);
    const second = s.sign({ kind: 33402, tags: [['d', 'plan'], ['title', 'second']] });
    expect(await c.publish(second)).toEqual([true, '']);
    expect(await repeated(relay, c, [filter])).toEqual([second.id]);
  });

  it('does not keep an answer holding an event that expires (NIP-40)', async () => {
    const s = signer();
    const expiring = s.sign({ kind: 1, tags: [['expiration', String(now() + 2)]] });
    expect(await c.publish(expiring)).toEqual([true, '']);
    const [reader, cache] = [await answered(relay, 'reader'), await answered(relay, 'cache')];
    expect(ids(await c.req('exp1', { authors: [s.pubkey] }))).toEqual([expiring.id]);
    expect(ids(await c.req('exp2', { authors: [s.pubkey] }))).toEqual([expiring.id]);
    expect(ids(await c.req('exp3', { authors: [s.pubkey] }))).toEqual([expiring.id]);
    await sleep(3100);
    expect(await c.req('exp4', { authors: [s.pubkey] })).toEqual([]);
    expect(await answered(relay, 'reader')).toBe(reader + 4);
    expect(await answered(relay, 'cache')).toBe(cache);
  });

  it('two connections interleaved: each REQ after a publish on the other sees the new event', async () => {
    const other = await RawClient.connect(relay.url);
    const s = signer();
    const filter = { kinds: [1], authors: [s.pubkey], limit: 3 };
    const sent: string[] = [];
    for (let i = 0; i < 4; i++) {
      const [publisher, reader] = i % 2 === 0 ? [c, other] : [other, c];
      const e = s.sign({ kind: 1, content: `round ${i}` });
      expect(await publisher.publish(e)).toEqual([true, '']);
      sent.unshift(e.id);
      // The first answer after the publish is read and kept (the filters were asked before), the next served from it.
      for (const client of [reader, publisher, reader]) expect(ids(await client.req(`r${i}`, filter))).toEqual(sent.slice(0, 3));
    }
    other.close();
  });
});

describe('REQ answers under read rules', () => {
  let relay: RunningRelay;
  afterAll(() => relay.stop());
  beforeAll(async () => {
    relay = await startRelay({ POWR_RELAY_RESTRICTED_READ_KINDS: '4', POWR_RELAY_AUTH_ON_CONNECT: 'true' });
  });

  it('are never cached for a filter that may match a restricted kind; others are', async () => {
    const c = await RawClient.connect(relay.url);
    const s = signer();
    expect(await c.auth(s, relay.url)).toEqual([true, '']);
    expect(await c.publish(s.sign({ kind: 1 }))).toEqual([true, '']);
    const [reader, cache] = [await answered(relay, 'reader'), await answered(relay, 'cache')];
    for (const filter of [{ authors: [s.pubkey] }, { kinds: [1, 4], authors: [s.pubkey] }]) {
      for (const subId of ['x', 'y', 'z']) expect(await c.req(subId, filter)).toHaveLength(1);
    }
    expect(await answered(relay, 'reader')).toBe(reader + 6);
    expect(await answered(relay, 'cache')).toBe(cache);
    await repeated(relay, c, [{ kinds: [1], authors: [s.pubkey] }]);
    c.close();
  });
});
