import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, signer, sleep } from './helpers/client.js';
import { startRelay, type RunningRelay } from './helpers/relay.js';

let relay: RunningRelay;
let c: RawClient;

beforeAll(async () => {
  relay = await startRelay({ POWR_RELAY_MAX_SUBSCRIPTIONS: '5', POWR_RELAY_MAX_FILTERS: '3', POWR_RELAY_MAX_EVENT_TAGS: '20',
    POWR_RELAY_MAX_CONTENT_LENGTH: '100', POWR_RELAY_MAX_LIMIT: '50', POWR_RELAY_DEFAULT_LIMIT: '10',
    POWR_RELAY_MAX_FILTER_VALUES: '10', POWR_RELAY_CREATED_AT_LOWER_LIMIT: '31536000' });
  c = await RawClient.connect(relay.url);
});
afterAll(async () => {
  c.close();
  await relay.stop();
});

describe('EVENT and OK', () => {
  it('accepts a valid event with OK true and an empty message, and serves it back unchanged', async () => {
    const alice = signer();
    const ev = alice.sign({ content: 'hello "world"\n\u0001 ✓ 💪', tags: [['t', 'fitness'], ['x']] });
    expect(await c.publish(ev)).toEqual([true, '']);
    const got = await c.req('get-one', { ids: [ev.id] });
    expect(got).toEqual([JSON.parse(JSON.stringify(ev))]);
  });

  it('answers a duplicate with OK true and the duplicate: prefix', async () => {
    const ev = signer().sign({ content: 'dup' });
    expect(await c.publish(ev)).toEqual([true, '']);
    expect(await c.publish(ev)).toEqual([true, 'duplicate: already have this event']);
  });

  it('rejects a wrong id and a wrong signature with invalid:', async () => {
    const alice = signer();
    const ev = alice.sign({ content: 'original' });
    const [ok1, msg1] = await c.publish({ ...ev, content: 'tampered' });
    expect(ok1).toBe(false);
    expect(msg1).toMatch(/^invalid: event id does not match/);
    const other = alice.sign({ content: 'other' });
    const [ok2, msg2] = await c.publish({ ...ev, sig: other.sig });
    expect(ok2).toBe(false);
    expect(msg2).toMatch(/^invalid: signature/);
    expect(await c.req('tampered', { ids: [ev.id] })).toEqual([]);
  });

  it('rejects malformed fields with a message naming the field', async () => {
    const ev = signer().sign({});
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...ev, pubkey: ev.pubkey.toUpperCase() }, /^invalid: pubkey/],
      [{ ...ev, sig: 'abc' }, /^invalid: sig/],
      [{ ...ev, kind: 70000 }, /^invalid: kind/],
      [{ ...ev, kind: 1.5 }, /^invalid: kind/],
      [{ ...ev, created_at: -1 }, /^invalid: created_at/],
      [{ ...ev, created_at: '1700000000' }, /^invalid: created_at/],
      [{ ...ev, tags: [['e', 5]] }, /^invalid: tag 0/],
      [{ ...ev, tags: 'x' }, /^invalid: tags/],
      [{ ...ev, content: null }, /^invalid: content/],
    ];
    for (const [bad, expected] of cases) {
      const [ok, msg] = await c.publish(bad);
      expect(ok, JSON.stringify(bad)).toBe(false);
      expect(msg).toMatch(expected);
    }
  });

  it('enforces tag count, content length and created_at bounds', async () => {
    const s = signer();
    const now = Math.floor(Date.now() / 1000);
    const tooManyTags = s.sign({ tags: Array.from({ length: 21 }, (_, i) => ['t', String(i)]) });
    expect(await c.publish(tooManyTags)).toEqual([false, 'invalid: too many tags (21 > 20)']);
    // 100 code points of emoji is 200 UTF-16 units: within the limit.
    expect((await c.publish(s.sign({ content: '💪'.repeat(100) })))[0]).toBe(true);
    expect(await c.publish(s.sign({ content: 'x'.repeat(101) }))).toEqual([false, 'invalid: content is longer than 100 characters']);
    const future = await c.publish(s.sign({ created_at: now + 3600 }));
    expect(future[0]).toBe(false);
    expect(future[1]).toMatch(/^invalid: created_at is more than 900 seconds in the future/);
    const ancient = await c.publish(s.sign({ created_at: now - 2 * 31536000 }));
    expect(ancient[0]).toBe(false);
    expect(ancient[1]).toMatch(/^invalid: created_at is more than 31536000 seconds in the past/);
  });

  it('refuses protected (NIP-70) events from unauthenticated clients, and AUTH-kind events', async () => {
    const s = signer();
    const [ok, msg] = await c.publish(s.sign({ tags: [['-']] }));
    expect(ok).toBe(false);
    expect(msg).toMatch(/^auth-required: /);
    const auth = await c.publish(s.sign({ kind: 22242, tags: [['relay', relay.url], ['challenge', 'x']] }));
    expect(auth[0]).toBe(false);
    expect(auth[1]).toMatch(/^invalid: /);
  });
});

describe('malformed messages', () => {
  it('answers each with a prefixed NOTICE and keeps the connection usable', async () => {
    const bad = ['not json', '{}', '[]', '[1,2]', '["NOPE", 1]', '["EVENT"]', '["REQ", 5, {}]', '["CLOSE"]', '"str"'];
    for (const msg of bad) {
      const from = c.frames.length;
      c.send(msg);
      const notice = await c.next((f) => f[0] === 'NOTICE', 5000, from);
      expect(notice[1], msg).toMatch(/^(invalid|unsupported): /);
    }
    const ev = signer().sign({ content: 'still alive' });
    expect(await c.publish(ev)).toEqual([true, '']);
  });

  it('answers an AUTH with the wrong challenge with OK false, and binary frames with a NOTICE', async () => {
    const auth = signer().sign({ kind: 22242, created_at: Math.floor(Date.now() / 1000), tags: [['relay', relay.url], ['challenge', 'x']] });
    const from = c.frames.length;
    c.send(['AUTH', auth]);
    const ok = await c.next((f) => f[0] === 'OK' && f[1] === auth.id, 5000, from);
    expect(ok.slice(2)).toEqual([false, 'invalid: the challenge tag does not match a challenge this connection was sent']);
    const before = c.frames.length;
    c.ws.send(Buffer.from('["REQ","bin",{}]'), { binary: true });
    const notice = await c.next((f) => f[0] === 'NOTICE', 5000, before);
    expect(notice[1]).toMatch(/^invalid: binary messages/);
  });

  it('refuses an oversized message with OK false and keeps the connection', async () => {
    const big = await startRelay({ POWR_RELAY_MAX_MESSAGE_LENGTH: '2048' });
    const bc = await RawClient.connect(big.url);
    try {
      const ev = signer().sign({ content: 'y'.repeat(3000) });
      const [ok, msg] = await bc.publish(ev);
      expect(ok).toBe(false);
      expect(msg).toBe('invalid: message is larger than the 2048-byte limit');
      expect(await bc.publish(signer().sign({ content: 'small' }))).toEqual([true, '']);
    } finally {
      bc.close();
      await big.stop();
    }
  });
});

describe('REQ', () => {
  const author = signer();
  const base = Math.floor(Date.now() / 1000) - 5000;
  const events = [0, 1, 2, 3, 4].map((i) => author.sign({ kind: 1, created_at: base + i * 10, content: `n${i}`, tags: [['t', `tag${i % 2}`]] }));

  beforeAll(async () => {
    for (const e of events) expect((await c.publish(e))[0]).toBe(true);
  });

  it('returns stored events newest first, then EOSE', async () => {
    const got = await c.req('order', { authors: [author.pubkey] });
    expect(got.map((e) => e.content)).toEqual(['n4', 'n3', 'n2', 'n1', 'n0']);
  });

  it('applies limit per filter and keeps the newest', async () => {
    expect((await c.req('lim', { authors: [author.pubkey], limit: 2 })).map((e) => e.content)).toEqual(['n4', 'n3']);
    const two = await c.req('lim2', { authors: [author.pubkey], '#t': ['tag0'], limit: 1 }, { authors: [author.pubkey], '#t': ['tag1'], limit: 1 });
    expect(two.map((e) => e.content)).toEqual(['n4', 'n3']);
  });

  it('limit 0 sends only EOSE; a missing limit uses the default; a huge one is clamped', async () => {
    expect(await c.req('zero', { authors: [author.pubkey], limit: 0 })).toEqual([]);
    const many = signer();
    for (let i = 0; i < 12; i++) await c.publish(many.sign({ content: `m${i}` }));
    expect(await c.req('default', { authors: [many.pubkey] })).toHaveLength(10);
    expect(await c.req('clamp', { authors: [many.pubkey], limit: 10_000 })).toHaveLength(12);
  });

  it('breaks created_at ties by lowest id', async () => {
    const s = signer();
    const t = base + 1;
    const tied = [0, 1, 2, 3, 4, 5].map((i) => s.sign({ created_at: t, content: `tie${i}` }));
    for (const e of tied) await c.publish(e);
    const expected = tied.map((e) => e.id).sort();
    expect((await c.req('ties', { authors: [s.pubkey] })).map((e) => e.id)).toEqual(expected);
    expect((await c.req('ties2', { authors: [s.pubkey], limit: 2 })).map((e) => e.id)).toEqual(expected.slice(0, 2));
  });

  it('treats since and until as inclusive', async () => {
    const got = await c.req('range', { authors: [author.pubkey], since: base + 10, until: base + 30 });
    expect(got.map((e) => e.content)).toEqual(['n3', 'n2', 'n1']);
  });

  it('an empty list matches nothing', async () => {
    expect(await c.req('empty1', { authors: [author.pubkey], kinds: [] })).toEqual([]);
    expect(await c.req('empty2', { ids: [] })).toEqual([]);
    expect(await c.req('empty3', { authors: [author.pubkey], '#t': [] })).toEqual([]);
  });

  it('tag filters: OR within a key, AND across keys', async () => {
    const s = signer();
    const a = s.sign({ tags: [['t', 'run'], ['p', author.pubkey]] });
    const b = s.sign({ tags: [['t', 'lift']] });
    const d = s.sign({ tags: [['t', 'swim'], ['p', author.pubkey]] });
    for (const e of [a, b, d]) await c.publish(e);
    const or = await c.req('or', { authors: [s.pubkey], '#t': ['run', 'lift'] });
    expect(or.map((e) => e.id).sort()).toEqual([a.id, b.id].sort());
    const and = await c.req('and', { '#t': ['run', 'swim', 'lift'], '#p': [author.pubkey] });
    expect(and.map((e) => e.id).sort()).toEqual([a.id, d.id].sort());
    // Only the first value of a tag is matched.
    const second = s.sign({ tags: [['t', 'first', 'second']] });
    await c.publish(second);
    expect(await c.req('second', { authors: [s.pubkey], '#t': ['second'] })).toEqual([]);
  });

  it('ORs several filters and sends each event once', async () => {
    const got = await c.req('multi', { authors: [author.pubkey], limit: 3 }, { ids: [events[4]!.id, events[0]!.id] });
    expect(got.map((e) => e.content)).toEqual(['n4', 'n3', 'n2', 'n0']);
  });

  it('requires exact 64-hex ids, authors, #e and #p', async () => {
    expect(await c.refused('prefix', { ids: [events[0]!.id.slice(0, 10)] })).toMatch(/^invalid: "ids"/);
    expect(await c.refused('upper', { authors: [author.pubkey.toUpperCase()] })).toMatch(/^invalid: "authors"/);
    expect(await c.refused('etag', { '#e': ['abc'] })).toMatch(/^invalid: "#e"/);
    expect(await c.refused('ptag', { '#p': [1] })).toMatch(/^invalid: "#p"/);
  });

  it('refuses bad filters with CLOSED and a standard prefix', async () => {
    expect(await c.refused('kinds', { kinds: ['1'] })).toMatch(/^invalid: "kinds"/);
    expect(await c.refused('limit', { limit: -1 })).toMatch(/^invalid: "limit"/);
    expect(await c.refused('since', { since: 1.5 })).toMatch(/^invalid: "since"/);
    expect(await c.refused('unknown', { foo: 1 })).toMatch(/^unsupported: unknown filter key "foo"/);
    expect(await c.refused('search', { search: 5 })).toMatch(/^invalid: "search" must be a string/);
    expect(await c.refused('notobj', 5)).toMatch(/^invalid: /);
    expect(await c.refused('toomany', {}, {}, {}, {})).toMatch(/^invalid: 4 filters, more than the 3 allowed/);
    expect(await c.refused('values', { kinds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] })).toMatch(/^invalid: "kinds" has 11 values/);
    expect(await c.refused('', {})).toMatch(/^invalid: subscription id must not be empty/);
    expect(await c.refused('x'.repeat(65), {})).toMatch(/^invalid: subscription id is longer than 64/);
  });

  it('caps subscriptions per connection, and a REQ with an open id replaces it', async () => {
    const cc = await RawClient.connect(relay.url);
    for (let i = 0; i < 5; i++) await cc.subscribe(`s${i}`, { kinds: [1], limit: 0 });
    expect(await cc.refused('s5', { kinds: [1], limit: 0 })).toMatch(/^blocked: too many open subscriptions/);
    // Replacing s0 is allowed and only the new filter is live afterwards.
    await cc.subscribe('s0', { kinds: [7777], limit: 0 });
    cc.send(['CLOSE', 's1']);
    await cc.subscribe('s6', { kinds: [1], limit: 0 });
    const from = cc.frames.length;
    const ev = signer().sign({ kind: 7777 });
    await c.publish(ev);
    const got = await cc.next((f) => f[0] === 'EVENT' && f[1] === 's0', 5000, from);
    expect((got[2] as { id: string }).id).toBe(ev.id);
    cc.close();
  });
});

describe('live subscriptions', () => {
  it('delivers matching events after EOSE, and none after CLOSE', async () => {
    const listener = await RawClient.connect(relay.url);
    const s = signer();
    await listener.subscribe('live', { authors: [s.pubkey] });
    await listener.subscribe('tags', { '#t': ['live-tag'] });
    await listener.subscribe('other', { authors: [signer().pubkey] });
    const ev = s.sign({ content: 'live!', tags: [['t', 'live-tag']] });
    const from = listener.frames.length;
    await c.publish(ev);
    await listener.next((f) => f[0] === 'EVENT' && f[1] === 'live', 5000, from);
    await listener.next((f) => f[0] === 'EVENT' && f[1] === 'tags', 5000, from);
    listener.send(['CLOSE', 'live']);
    await sleep(50);
    const after = listener.frames.length;
    await c.publish(s.sign({ content: 'after close' }));
    await sleep(200);
    expect(listener.frames.slice(after).filter((f) => f[0] === 'EVENT' && f[1] === 'live')).toEqual([]);
    expect(listener.frames.slice(from).filter((f) => f[1] === 'other')).toEqual([]);
    listener.close();
  });

  it('ignores limit for live events but respects since/until', async () => {
    const listener = await RawClient.connect(relay.url);
    const s = signer();
    await listener.subscribe('lim0', { authors: [s.pubkey], limit: 0 });
    await listener.subscribe('old', { authors: [s.pubkey], until: 1000 });
    const from = listener.frames.length;
    await c.publish(s.sign({ content: 'x' }));
    await listener.next((f) => f[0] === 'EVENT' && f[1] === 'lim0', 5000, from);
    await sleep(100);
    expect(listener.frames.slice(from).filter((f) => f[1] === 'old')).toEqual([]);
    listener.close();
  });
});
