import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, signer, sleep } from './helpers/client.js';
import { startRelay, type RunningRelay } from './helpers/relay.js';

let relay: RunningRelay;
let c: RawClient;
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  relay = await startRelay();
  c = await RawClient.connect(relay.url);
});
afterAll(async () => {
  c.close();
  await relay.stop();
});

const ids = (events: { id: string }[]) => events.map((e) => e.id);

describe('replaceable and addressable events', () => {
  it('keeps only the newest replaceable event per kind and author', async () => {
    const s = signer();
    const t = now() - 100;
    const v1 = s.sign({ kind: 0, created_at: t, content: '{"name":"v1"}' });
    const v2 = s.sign({ kind: 0, created_at: t + 1, content: '{"name":"v2"}' });
    expect(await c.publish(v1)).toEqual([true, '']);
    expect(await c.publish(v2)).toEqual([true, '']);
    expect(ids(await c.req('r', { kinds: [0], authors: [s.pubkey] }))).toEqual([v2.id]);
    const stale = s.sign({ kind: 0, created_at: t - 5, content: '{"name":"stale"}' });
    // OK false: the older version is not stored, so `true` would tell the client something false.
    expect(await c.publish(stale)).toEqual([false, 'blocked: a newer version of this event is already stored']);
    expect(ids(await c.req('r2', { authors: [s.pubkey] }))).toEqual([v2.id]);
    // The replaced event is gone from every index, not only from the address lookup.
    expect(await c.req('r3', { ids: [v1.id] })).toEqual([]);
  });

  it('on equal created_at keeps the lowest id, whichever arrives first', async () => {
    for (const order of ['low-first', 'high-first']) {
      const s = signer();
      const t = now() - 50;
      const [a, b] = [s.sign({ kind: 10002, created_at: t, content: 'a' }), s.sign({ kind: 10002, created_at: t, content: 'b' })];
      const [low, high] = a.id < b.id ? [a, b] : [b, a];
      const first = order === 'low-first' ? low : high;
      const second = order === 'low-first' ? high : low;
      await c.publish(first);
      await c.publish(second);
      expect(ids(await c.req(`tie-${order}`, { kinds: [10002], authors: [s.pubkey] })), order).toEqual([low.id]);
    }
  });

  it('addresses addressable events by (kind, pubkey, d), missing d meaning ""', async () => {
    const s = signer();
    const t = now() - 40;
    const x1 = s.sign({ kind: 30078, created_at: t, tags: [['d', 'squat']], content: 'x1' });
    const x2 = s.sign({ kind: 30078, created_at: t + 1, tags: [['d', 'squat']], content: 'x2' });
    const y = s.sign({ kind: 30078, created_at: t, tags: [['d', 'push-up']], content: 'y' });
    const noD1 = s.sign({ kind: 30078, created_at: t, content: 'nod1' });
    const emptyD = s.sign({ kind: 30078, created_at: t + 1, tags: [['d', '']], content: 'emptyd' });
    for (const e of [x1, x2, y, noD1, emptyD]) expect((await c.publish(e))[0]).toBe(true);
    const got = await c.req('addr', { kinds: [30078], authors: [s.pubkey] });
    expect(ids(got).sort()).toEqual([x2.id, y.id, emptyD.id].sort());
    expect(ids(await c.req('byd', { kinds: [30078], authors: [s.pubkey], '#d': ['squat'] }))).toEqual([x2.id]);
    // Re-sending the superseded version is refused, and it stays unserved.
    expect(await c.publish(x1)).toEqual([false, 'blocked: a newer version of this event is already stored']);
    expect(await c.req('old', { ids: [x1.id] })).toEqual([]);
    // Another author's event with the same d is a different address.
    const other = signer().sign({ kind: 30078, created_at: t - 10, tags: [['d', 'squat']] });
    expect(await c.publish(other)).toEqual([true, '']);
  });

  it('treats d tags on non-addressable kinds as plain tags', async () => {
    const s = signer();
    const a = s.sign({ kind: 1, tags: [['d', 'same']] });
    const b = s.sign({ kind: 10000, tags: [['d', 'one']] });
    const b2 = s.sign({ kind: 10000, tags: [['d', 'two']] });
    for (const e of [a, s.sign({ kind: 1, tags: [['d', 'same']] }), b, b2]) await c.publish(e);
    expect(await c.req('d1', { kinds: [1], authors: [s.pubkey] })).toHaveLength(2);
    expect(ids(await c.req('d2', { kinds: [10000], authors: [s.pubkey] }))).toEqual([b2.id]);
  });
});

describe('ephemeral events', () => {
  it('are broadcast to live subscribers and never stored', async () => {
    const listener = await RawClient.connect(relay.url);
    const s = signer();
    await listener.subscribe('eph', { kinds: [20001], authors: [s.pubkey] });
    const ev = s.sign({ kind: 20001, content: 'typing…' });
    const from = listener.frames.length;
    expect(await c.publish(ev)).toEqual([true, '']);
    const got = await listener.next((f) => f[0] === 'EVENT' && f[1] === 'eph', 5000, from);
    expect((got[2] as { id: string }).id).toBe(ev.id);
    expect(await c.req('eph-stored', { ids: [ev.id] })).toEqual([]);
    listener.close();
  });
});

describe('NIP-09 deletion', () => {
  it('deletes the author\'s events by e tag, keeps the deletion, and refuses re-publication', async () => {
    const s = signer();
    const target = s.sign({ content: 'regret' });
    await c.publish(target);
    const deletion = s.sign({ kind: 5, tags: [['e', target.id]] });
    expect(await c.publish(deletion)).toEqual([true, '']);
    expect(await c.req('gone', { ids: [target.id] })).toEqual([]);
    expect(ids(await c.req('kept', { kinds: [5], authors: [s.pubkey] }))).toEqual([deletion.id]);
    expect(await c.publish(target)).toEqual([false, 'blocked: this event was deleted by its author']);
  });

  it('does not let anyone delete another author\'s event', async () => {
    const owner = signer();
    const target = owner.sign({ content: 'mine' });
    await c.publish(target);
    const attacker = signer();
    expect((await c.publish(attacker.sign({ kind: 5, tags: [['e', target.id]] })))[0]).toBe(true);
    expect(ids(await c.req('still', { ids: [target.id] }))).toEqual([target.id]);
  });

  it('lets the p-tagged recipient delete a gift wrap (NIP-59)', async () => {
    const wrapper = signer();
    const recipient = signer();
    const wrap = wrapper.sign({ kind: 1059, content: 'sealed', tags: [['p', recipient.pubkey]] });
    await c.publish(wrap);
    await c.publish(signer().sign({ kind: 5, tags: [['e', wrap.id]] }));
    // Gift wraps are served only to their recipient (a default read rule), who authenticates on demand.
    const asRecipient = await RawClient.connect(relay.url);
    await asRecipient.refused('ask', { kinds: [1059] });
    expect(await asRecipient.auth(recipient, relay.url)).toEqual([true, '']);
    expect(ids(await asRecipient.req('wrap-kept', { ids: [wrap.id] }))).toEqual([wrap.id]);
    await c.publish(recipient.sign({ kind: 5, tags: [['e', wrap.id]] }));
    expect(await asRecipient.req('wrap-gone', { ids: [wrap.id] })).toEqual([]);
    asRecipient.close();
    expect(await c.publish(wrap)).toEqual([false, 'blocked: this event was deleted by its author']);
  });

  it('honours a deletion that arrives before its target', async () => {
    const s = signer();
    const target = s.sign({ content: 'later' });
    await c.publish(s.sign({ kind: 5, tags: [['e', target.id]] }));
    expect(await c.publish(target)).toEqual([false, 'blocked: this event was deleted by its author']);
  });

  it('deleting a deletion has no effect', async () => {
    const s = signer();
    const target = s.sign({ content: 'x' });
    await c.publish(target);
    const del = s.sign({ kind: 5, tags: [['e', target.id]] });
    await c.publish(del);
    await c.publish(s.sign({ kind: 5, tags: [['e', del.id]] }));
    expect(ids(await c.req('del', { ids: [del.id] }))).toEqual([del.id]);
    expect(await c.req('target', { ids: [target.id] })).toEqual([]);
  });

  it('deletes an address up to the deletion\'s created_at and accepts only newer versions', async () => {
    const s = signer();
    const t = now() - 300;
    const v1 = s.sign({ kind: 30023, created_at: t, tags: [['d', 'leg-day']] });
    await c.publish(v1);
    const address = `30023:${s.pubkey}:leg-day`;
    const deletion = s.sign({ kind: 5, created_at: t + 10, tags: [['a', address]] });
    expect(await c.publish(deletion)).toEqual([true, '']);
    expect(await c.req('a-gone', { kinds: [30023], authors: [s.pubkey] })).toEqual([]);
    const older = s.sign({ kind: 30023, created_at: t + 5, tags: [['d', 'leg-day']] });
    const [ok, msg] = await c.publish(older);
    expect(ok).toBe(false);
    expect(msg).toMatch(/^blocked: this address was deleted/);
    const newer = s.sign({ kind: 30023, created_at: t + 20, tags: [['d', 'leg-day']] });
    expect(await c.publish(newer)).toEqual([true, '']);
    expect(ids(await c.req('a-new', { kinds: [30023], authors: [s.pubkey] }))).toEqual([newer.id]);
    // Someone else cannot delete this address.
    await c.publish(signer().sign({ kind: 5, tags: [['a', address]] }));
    expect(ids(await c.req('a-still', { kinds: [30023], authors: [s.pubkey] }))).toEqual([newer.id]);
  });
});

describe('NIP-40 expiration', () => {
  it('rejects events already expired on arrival', async () => {
    const ev = signer().sign({ tags: [['expiration', String(now() - 10)]] });
    expect(await c.publish(ev)).toEqual([false, 'invalid: event has expired']);
  });

  it('stops serving an event once it expires', async () => {
    const s = signer();
    const ev = s.sign({ tags: [['expiration', String(now() + 2)]] });
    expect(await c.publish(ev)).toEqual([true, '']);
    expect(ids(await c.req('exp1', { ids: [ev.id] }))).toEqual([ev.id]);
    await sleep(3100);
    expect(await c.req('exp2', { ids: [ev.id] })).toEqual([]);
    expect(await c.req('exp3', { authors: [s.pubkey] })).toEqual([]);
  });
});

describe('NIP-45 COUNT', () => {
  it('counts distinct matching events across filters', async () => {
    const s = signer();
    const target = s.sign({ content: 'post' });
    await c.publish(target);
    for (let i = 0; i < 3; i++) await c.publish(signer().sign({ kind: 7, content: '+', tags: [['e', target.id]] }));
    c.send(['COUNT', 'likes', { kinds: [7], '#e': [target.id] }]);
    const count = await c.next((f) => f[0] === 'COUNT' && f[1] === 'likes');
    expect(count[2]).toEqual({ count: 3 });
    c.send(['COUNT', 'both', { kinds: [7], '#e': [target.id] }, { '#e': [target.id] }, { ids: [target.id] }]);
    expect((await c.next((f) => f[0] === 'COUNT' && f[1] === 'both'))[2]).toEqual({ count: 4 });
    c.send(['COUNT', 'bad', { ids: ['nothex'] }]);
    const closed = await c.next((f) => f[0] === 'CLOSED' && f[1] === 'bad');
    expect(closed[2]).toMatch(/^invalid: /);
  });
});
