import { describe, expect, it } from 'vitest';
import { addressKey, checkEventShape, expirationOf, kindClass, newestFirst, parseAddress, type NostrEvent } from '../../src/protocol/event.js';
import { matchesFilter, parseFilter } from '../../src/protocol/filter.js';
import { Receiver } from 'ws';
import { parseClientMessage, reframe, replyFrames, sniffEventId } from '../../src/protocol/messages.js';

const LIMITS = { maxFilterValues: 5, maxLimit: 100, defaultLimit: 20 };
const MSG_LIMITS = { maxSubidLength: 8, maxFilters: 2 };
const EVENT_LIMITS = { maxEventTags: 3, maxTagValueLength: 10, maxContentLength: 5, createdAtLowerLimit: 0, createdAtUpperLimit: 60 };
const hex = (c: string) => c.repeat(64);
const event = (over: Partial<NostrEvent> = {}): NostrEvent => ({
  id: hex('a'), pubkey: hex('b'), sig: 'c'.repeat(128), kind: 1, created_at: 1000, tags: [], content: '', ...over,
});

describe('kind classes and addresses', () => {
  it('classifies kinds by NIP-01 ranges', () => {
    expect([0, 3, 10000, 19999].map(kindClass)).toEqual(['replaceable', 'replaceable', 'replaceable', 'replaceable']);
    expect([1, 2, 4, 44, 1000, 9999, 1301, 5].map(kindClass).every((k) => k === 'regular')).toBe(true);
    expect([20000, 29999].map(kindClass)).toEqual(['ephemeral', 'ephemeral']);
    expect([30000, 33401, 39999].map(kindClass)).toEqual(['addressable', 'addressable', 'addressable']);
    expect(kindClass(40000)).toBe('regular');
  });

  it('derives address keys: first d for addressable, "" for replaceable, none otherwise', () => {
    expect(addressKey(event({ kind: 33401, tags: [['d', 'squat'], ['d', 'other']] }))).toBe('squat');
    expect(addressKey(event({ kind: 33401 }))).toBe('');
    expect(addressKey(event({ kind: 10002, tags: [['d', 'ignored']] }))).toBe('');
    expect(addressKey(event({ kind: 1, tags: [['d', 'x']] }))).toBeUndefined();
  });

  it('parses coordinates whose d contains colons, and refuses malformed ones', () => {
    expect(parseAddress(`33401:${hex('b')}:local:abc`)).toEqual({ kind: 33401, pubkey: hex('b'), d: 'local:abc' });
    expect(parseAddress('33401:local:abc')).toBeUndefined();
    expect(parseAddress(`99999:${hex('b')}:x`)).toBeUndefined();
  });

  it('reads NIP-40 expiration only when well formed', () => {
    expect(expirationOf(event({ tags: [['expiration', '1700000000']] }))).toBe(1700000000);
    expect(expirationOf(event({ tags: [['expiration', 'soon']] }))).toBeUndefined();
  });
});

describe('event shape', () => {
  it('accepts a well-formed event and enforces limits', () => {
    expect(checkEventShape(event(), EVENT_LIMITS, 1000).ok).toBe(true);
    const reason = (e: unknown, now = 1000) => {
      const r = checkEventShape(e, EVENT_LIMITS, now);
      return r.ok ? 'ok' : r.reason;
    };
    expect(reason(event({ tags: [['t'], ['t'], ['t'], ['t']] }))).toBe('invalid: too many tags (4 > 3)');
    expect(reason(event({ tags: [['t', 'x'.repeat(11)]] }))).toMatch(/longer than 10/);
    expect(reason(event({ tags: [[]] }))).toMatch(/tag 0 must be a non-empty array/);
    expect(reason(event({ content: '💪💪💪💪💪' }))).toBe('ok');
    expect(reason(event({ content: '123456' }))).toMatch(/content is longer than 5/);
    expect(reason(event({ created_at: 1061 }))).toMatch(/future/);
    expect(reason(event({ created_at: 2 ** 53 }))).toMatch(/created_at must be/);
    expect(reason([])).toMatch(/JSON object/);
    expect(reason(event({ id: hex('A') }))).toMatch(/^invalid: id/);
  });
});

describe('filters', () => {
  const parse = (raw: unknown) => parseFilter(raw, LIMITS);

  it('defaults and clamps limit', () => {
    const a = parse({});
    const b = parse({ limit: 1000 });
    expect(a.ok && a.value.limit).toBe(20);
    expect(b.ok && b.value.limit).toBe(100);
  });

  it('marks empty lists and since > until as matching nothing', () => {
    for (const raw of [{ ids: [] }, { kinds: [] }, { '#t': [] }, { since: 10, until: 5 }]) {
      const f = parse(raw);
      expect(f.ok && f.value.matchesNothing).toBe(true);
    }
  });

  it('refuses malformed values with a reason naming the key', () => {
    const reason = (raw: unknown) => {
      const r = parse(raw);
      return r.ok ? 'ok' : r.reason;
    };
    expect(reason({ ids: ['abc'] })).toMatch(/^invalid: "ids"/);
    expect(reason({ kinds: [1, 2, 3, 4, 5, 6] })).toMatch(/^invalid: "kinds" has 6 values/);
    expect(reason({ '#e': ['x'] })).toMatch(/^invalid: "#e"/);
    expect(reason({ '#t': [1] })).toMatch(/^invalid: "#t"/);
    expect(reason({ until: '5' })).toMatch(/^invalid: "until"/);
    expect(reason({ bogus: 1 })).toMatch(/^unsupported: /);
    expect(reason({ '#': ['x'] })).toMatch(/^unsupported: /);
    expect(reason({ '#exercise': ['33401:x:y'] })).toBe('ok');
  });

  it('matches events as NIP-01 says', () => {
    const f = (raw: unknown) => {
      const r = parse(raw);
      if (!r.ok) throw new Error(r.reason);
      return r.value;
    };
    const e = event({ kind: 7, created_at: 50, tags: [['e', hex('1')], ['t', 'a', 'b']] });
    expect(matchesFilter(e, f({ kinds: [7], '#e': [hex('1'), hex('2')] }))).toBe(true);
    expect(matchesFilter(e, f({ '#t': ['b'] }))).toBe(false);
    expect(matchesFilter(e, f({ since: 50, until: 50 }))).toBe(true);
    expect(matchesFilter(e, f({ since: 51 }))).toBe(false);
    expect(matchesFilter(e, f({ '#e': [hex('1')], '#t': ['z'] }))).toBe(false);
    expect(matchesFilter(e, f({ authors: [hex('b')], ids: [hex('a')] }))).toBe(true);
  });
});

describe('client messages', () => {
  const parse = (text: string) => parseClientMessage(text, MSG_LIMITS);

  it('parses the five verbs', () => {
    expect(parse('["EVENT",{}]')).toEqual({ type: 'EVENT', event: {}, eventText: '{}' });
    expect(parse('["REQ","s",{},{"kinds":[1]}]')).toEqual({ type: 'REQ', subId: 's', filters: [{}, { kinds: [1] }] });
    expect(parse('["COUNT","c",{}]')).toEqual({ type: 'COUNT', subId: 'c', filters: [{}] });
    expect(parse('["CLOSE","s"]')).toEqual({ type: 'CLOSE', subId: 's' });
    expect(parse('["AUTH",{}]')).toEqual({ type: 'AUTH', event: {} });
  });

  it('keeps the event of an EVENT as the text the client wrote, whatever the spacing and escapes', () => {
    for (const text of ['[ "EVENT" , {"content":"a, ] b","tags":[["t","x,y"]]} ]\n', '["\\u0045VENT",{"kind":1}]', '["EVENT",{"a":[1,[2]]}]']) {
      const msg = parse(text) as { event: unknown; eventText: string };
      expect(JSON.parse(msg.eventText), text).toEqual(msg.event);
    }
  });

  it('refuses with NOTICE or CLOSED and a standard prefix', () => {
    const reply = (text: string) => JSON.parse((parse(text) as { reply: string }).reply);
    expect(reply('nope')).toEqual(['NOTICE', 'invalid: message is not valid JSON']);
    expect(reply('["PING"]')[1]).toMatch(/^unsupported: unknown message type "PING"/);
    expect(reply('["REQ","s"]')).toEqual(['CLOSED', 's', 'invalid: REQ needs at least one filter']);
    expect(reply('["REQ","s",{},{},{}]')[2]).toMatch(/^invalid: 3 filters/);
    expect(reply('["REQ","123456789",{}]')[2]).toMatch(/^invalid: subscription id is longer than 8/);
    expect(reply('["REQ",{},{}]')[0]).toBe('NOTICE');
  });

  it('finds the id of an EVENT too large to parse', () => {
    expect(sniffEventId(`["EVENT",{"content":"${'x'.repeat(100)}","id":"${hex('f')}"}]`)).toBe(hex('f'));
    expect(sniffEventId(`["REQ","s",{"id":"${hex('f')}"}]`)).toBeUndefined();
  });
});


describe('NIP-01 order', () => {
  it('is newest first, equal timestamps by lowest id, alike for hex ids and their bytes', () => {
    const keys = [{ created_at: 5, id: hex('b') }, { created_at: 7, id: hex('f') }, { created_at: 5, id: hex('0') }, { created_at: 7, id: `1${hex('f').slice(1)}` }];
    const expected = [`1${hex('f').slice(1)}`, hex('f'), hex('0'), hex('b')];
    expect([...keys].sort(newestFirst).map((k) => k.id)).toEqual(expected);
    const rows = keys.map((k) => ({ created_at: k.created_at, id: Buffer.from(k.id, 'hex') }));
    expect(rows.sort(newestFirst).map((r) => r.id.toString('hex'))).toEqual(expected);
  });
});

describe('reply frames', () => {
  it('are the WebSocket text frames a client reads as the EVENTs and EOSE, at every length encoding and in UTF-8', async () => {
    const events = ['{"content":"short"}', `{"content":"${'é'.repeat(100)}💪"}`, `{"content":"${'x'.repeat(70_000)}"}`];
    const received: string[] = [];
    // ws's own parser, on the client side (server frames are not masked).
    const receiver = new Receiver({ isServer: false });
    receiver.on('message', (data: Buffer, isBinary: boolean) => received.push(isBinary ? 'binary' : data.toString()));
    const frames = replyFrames('sub "1"', events);
    await new Promise<void>((resolve, reject) => receiver.write(Buffer.from(frames.buffer), (err) => (err ? reject(err) : resolve())));
    expect(received).toEqual([...events.map((e) => `["EVENT","sub \\"1\\"",${e}]`), '["EOSE","sub \\"1\\""]']);
    expect(received.slice(0, 3).map((f) => JSON.parse(f)[2])).toEqual(events.map((e) => JSON.parse(e)));
    expect(replyFrames('s', []).byteLength).toBe(2 + '["EOSE","s"]'.length);
  });

  it('are framed again for another subscription id, byte for byte as if built for it', () => {
    const events = ['{"content":"short"}', `{"content":"${'é'.repeat(100)}💪"}`, `{"content":"${'x'.repeat(70_000)}"}`, `{"content":"${'y'.repeat(110)}"}`];
    // Lengths around the 126 and 65,536 header boundaries, as the new id shifts them.
    for (const [from, to] of [['a', 'sub "ü"'], ['a-much-longer-subscription-id', 'b'], ['s', 's']]) {
      expect(Buffer.from(reframe(replyFrames(from!, events), from!, to!)).equals(replyFrames(to!, events)), `${from} -> ${to}`).toBe(true);
      expect(Buffer.from(reframe(replyFrames(from!, []), from!, to!))).toEqual(Buffer.from(replyFrames(to!, [])));
    }
  });
});
