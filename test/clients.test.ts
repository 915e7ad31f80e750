import NDK, { NDKEvent, NDKPrivateKeySigner, type NDKFilter } from '@nostr-dev-kit/ndk';
import { bytesToHex } from '@noble/hashes/utils.js';
import { SimplePool, useWebSocketImplementation as usePoolWebSocket } from 'nostr-tools/pool';
import { Relay, useWebSocketImplementation as useRelayWebSocket } from 'nostr-tools/relay';
import type { Filter } from 'nostr-tools/filter';
import { finalizeEvent, generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type RunningRelay } from './helpers/relay.js';

// Node 20 has no global WebSocket; both clients are given the ws implementation, nothing else.
usePoolWebSocket(WebSocket);
useRelayWebSocket(WebSocket);
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

let relay: RunningRelay;

beforeAll(async () => {
  relay = await startRelay();
});
afterAll(async () => {
  await relay.stop();
});

describe('nostr-tools', () => {
  it('publishes and reads back with Relay', async () => {
    const r = await Relay.connect(relay.url);
    const sk = generateSecretKey();
    const ev = finalizeEvent({ kind: 1, created_at: Math.floor(Date.now() / 1000), tags: [['t', 'fitness']], content: 'via nostr-tools' }, sk);
    await r.publish(ev);
    const got = await new Promise<unknown[]>((resolve) => {
      const events: unknown[] = [];
      const sub = r.subscribe([{ authors: [getPublicKey(sk)] }], {
        onevent: (e) => events.push(e),
        oneose: () => {
          sub.close();
          resolve(events);
        },
      });
    });
    expect(got).toEqual([expect.objectContaining({ id: ev.id, content: 'via nostr-tools', sig: ev.sig })]);
    r.close();
  });

  it('rejects publication of a bad event through Relay.publish', async () => {
    const r = await Relay.connect(relay.url);
    const ev = finalizeEvent({ kind: 1, created_at: Math.floor(Date.now() / 1000), tags: [], content: 'x' }, generateSecretKey());
    await expect(r.publish({ ...ev, content: 'tampered' })).rejects.toThrow(/invalid: /);
    r.close();
  });

  it('gets a template and its exercises in one REQ with the resolve pattern', async () => {
    const r = await Relay.connect(relay.url);
    const sk = generateSecretKey();
    const pk = getPublicKey(sk);
    const now = Math.floor(Date.now() / 1000);
    const squat = finalizeEvent({ kind: 33401, created_at: now, content: '', tags: [['d', 'squat'], ['title', 'Squat'],
      ['format', 'weight', 'reps'], ['format_units', 'kg', 'count'], ['equipment', 'barbell']] }, sk);
    const template = finalizeEvent({ kind: 33402, created_at: now, content: '', tags: [['d', 'legs'], ['title', 'Legs'],
      ['type', 'strength'], ['exercise', `33401:${pk}:squat`, '', '100', '5', '1']] }, sk);
    await r.publish(squat);
    await r.publish(template);
    const got = await new Promise<string[]>((resolve) => {
      const ids: string[] = [];
      const filters = [{ kinds: [33402], authors: [pk], '#d': ['legs'], resolve: true }, { kinds: [33401], limit: 0 }];
      const sub = r.subscribe(filters as Filter[], {
        onevent: (e) => ids.push(e.id),
        oneose: () => {
          sub.close();
          resolve(ids);
        },
      });
    });
    expect(got).toEqual([template.id, squat.id]);
    r.close();
  });

  it('works through SimplePool, including live events after EOSE', async () => {
    const pool = new SimplePool();
    const sk = generateSecretKey();
    const pk = getPublicKey(sk);
    const first = finalizeEvent({ kind: 1301, created_at: Math.floor(Date.now() / 1000) - 5, tags: [['d', 'w1'], ['title', 'Leg day']], content: '' }, sk);
    await Promise.all(pool.publish([relay.url], first));
    const live = finalizeEvent({ kind: 1301, created_at: Math.floor(Date.now() / 1000), tags: [['d', 'w2'], ['title', 'Push day']], content: '' }, sk);
    const seen: string[] = [];
    await new Promise<void>((resolve) => {
      const sub = pool.subscribe([relay.url], { kinds: [1301], authors: [pk] }, {
        onevent: (e) => {
          seen.push(e.id);
          if (seen.length === 2) {
            sub.close();
            resolve();
          }
        },
        oneose: () => void Promise.all(pool.publish([relay.url], live)),
      });
    });
    expect(seen).toEqual([first.id, live.id]);
    const fetched = await pool.querySync([relay.url], { kinds: [1301], authors: [pk] });
    expect(fetched.map((e) => e.id).sort()).toEqual([first.id, live.id].sort());
    pool.close([relay.url]);
  });
});

describe('NDK', () => {
  it('gets a template and all its exercises in one round trip with the resolve pattern', async () => {
    const sk = generateSecretKey();
    const pk = getPublicKey(sk);
    const sent: string[] = [];
    const ndk = new NDK({
      explicitRelayUrls: [relay.url],
      signer: new NDKPrivateKeySigner(bytesToHex(sk)),
      enableOutboxModel: false,
      autoConnectUserRelays: false,
      netDebug: (msg, _relay, direction) => {
        if (direction === 'send') sent.push(msg);
      },
    });
    await ndk.connect(5000);
    const exercise = (d: string) => new NDKEvent(ndk, { kind: 33401, content: '', tags: [['d', d], ['title', d],
      ['format', 'weight', 'reps', 'rpe', 'set_type'], ['format_units', 'kg', 'count', '0-10', 'enum'], ['equipment', 'barbell']] });
    const exercises = [exercise('bench-press'), exercise('overhead-press')];
    for (const e of exercises) await e.publish();
    const template = new NDKEvent(ndk, { kind: 33402, content: '', tags: [['d', 'push-day'], ['title', 'Push day'], ['type', 'strength'],
      ['exercise', `33401:${pk}:bench-press`, '', '60', '8', '', 'normal', '1'],
      ['exercise', `33401:${pk}:overhead-press`, '', '40', '8', '', 'normal', '1']] });
    await template.publish();
    sent.length = 0;

    // The documented pattern: the resolve filter, plus a kinds-only filter with limit 0 so NDK accepts
    // the referenced exercises as matching its subscription.
    const filters = [
      { kinds: [33402], authors: [pk], '#d': ['push-day'], resolve: true },
      { kinds: [33401], limit: 0 },
    ] as unknown as NDKFilter[];
    const got = await ndk.fetchEvents(filters, { groupable: false });
    const byKind = [...got].map((e) => `${e.kind}:${e.dTag}`).sort();
    expect(byKind).toEqual(['33401:bench-press', '33401:overhead-press', '33402:push-day']);
    expect(sent.filter((m) => m.startsWith('["REQ"'))).toHaveLength(1);
    for (const r of ndk.pool.relays.values()) r.disconnect();
  });

  it('publishes and fetches with no special options', async () => {
    const sk = generateSecretKey();
    const ndk = new NDK({
      explicitRelayUrls: [relay.url],
      signer: new NDKPrivateKeySigner(bytesToHex(sk)),
      // No other relays exist on this machine; keep NDK to the one it was given.
      enableOutboxModel: false,
      autoConnectUserRelays: false,
    });
    await ndk.connect(5000);
    const event = new NDKEvent(ndk, {
      kind: 33401,
      content: 'Hinge at the hips.',
      tags: [['d', 'deadlift'], ['title', 'Deadlift'], ['format', 'weight', 'reps', 'rpe', 'set_type'],
        ['format_units', 'kg', 'count', '0-10', 'enum'], ['equipment', 'barbell']],
    });
    const relays = await event.publish();
    expect([...relays].map((r) => r.url.replace(/\/$/, ''))).toEqual([relay.url]);

    const fetched = await ndk.fetchEvents({ kinds: [33401], authors: [getPublicKey(sk)], '#d': ['deadlift'] });
    const [got] = [...fetched];
    expect(fetched.size).toBe(1);
    expect(got!.id).toBe(event.id);
    expect(got!.tagValue('title')).toBe('Deadlift');
    for (const r of ndk.pool.relays.values()) r.disconnect();
  });
});
