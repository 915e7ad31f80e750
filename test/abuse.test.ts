import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { canonicalJson, type NostrEvent } from '../src/protocol/event.js';
import { RawClient, signer, sleep } from './helpers/client.js';
import { openStorage, startRelay, tempDb, type RunningRelay } from './helpers/relay.js';

/** A client as seen through a trusted reverse proxy that says it comes from `ip`. */
function viaProxy(url: string, ip: string): Promise<RawClient> {
  return RawClient.connect(url, { headers: { 'X-Forwarded-For': `${ip}, 127.0.0.1` } });
}

describe('rate limits', () => {
  let relay: RunningRelay;
  beforeAll(async () => {
    relay = await startRelay({
      POWR_RELAY_TRUSTED_PROXIES: '127.0.0.1,::1',
      POWR_RELAY_EVENTS_PER_MINUTE_PER_IP: '20',
      POWR_RELAY_EVENTS_PER_MINUTE_PER_PUBKEY: '1000',
      POWR_RELAY_REQS_PER_MINUTE_PER_IP: '30',
      POWR_RELAY_MAX_CONNECTIONS_PER_IP: '3',
      POWR_RELAY_IP_ALLOWLIST: '198.51.100.0/24',
    });
  });
  afterAll(() => relay.stop());

  it('cuts off a flooding client with rate-limited: while another client is served normally', async () => {
    const flooder = await viaProxy(relay.url, '203.0.113.1');
    const neighbour = await viaProxy(relay.url, '203.0.113.2');
    const s = signer();
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => flooder.publish(s.sign({ content: `flood ${i}` }))));
    const refused = results.filter(([ok]) => !ok);
    expect(results.filter(([ok]) => ok).length).toBeLessThanOrEqual(21);
    expect(refused.length).toBeGreaterThanOrEqual(39);
    for (const [, msg] of refused) expect(msg).toMatch(/^rate-limited: /);
    for (let i = 0; i < 10; i++) expect(await neighbour.publish(s.sign({ content: `calm ${i}` }))).toEqual([true, '']);
    expect((await neighbour.req('mine', { authors: [s.pubkey], limit: 100 })).length).toBeGreaterThanOrEqual(10);
    flooder.close();
    neighbour.close();
  });

  it('closes REQs over the limit with rate-limited:, per client address', async () => {
    const flooder = await viaProxy(relay.url, '203.0.113.3');
    const neighbour = await viaProxy(relay.url, '203.0.113.4');
    const outcomes = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      flooder.refused(`q${i}`, { kinds: [1], limit: 1 }).catch(() => 'served')));
    expect(outcomes.filter((o) => o === 'served').length).toBeLessThanOrEqual(31);
    expect(outcomes.filter((o) => /^rate-limited: /.test(o)).length).toBeGreaterThanOrEqual(19);
    expect(await neighbour.req('fine', { kinds: [1], limit: 1 })).toHaveLength(1);
    flooder.close();
    neighbour.close();
  });

  it('caps open connections per address and exempts the allowlist', async () => {
    const open = await Promise.all([0, 1, 2].map(() => viaProxy(relay.url, '203.0.113.5')));
    const fourth = await viaProxy(relay.url, '203.0.113.5');
    const notice = await fourth.next((f) => f[0] === 'NOTICE');
    expect(notice[1]).toMatch(/^rate-limited: too many open connections/);
    await fourth.next(() => false, 200).catch(() => undefined);
    expect(fourth.closeCode).toBe(1008);
    const allowed = await Promise.all([0, 1, 2, 3, 4].map(() => viaProxy(relay.url, '198.51.100.7')));
    const s = signer();
    const burst = await Promise.all(Array.from({ length: 40 }, (_, i) => allowed[0]!.publish(s.sign({ content: `trusted ${i}` }))));
    expect(burst.every(([ok]) => ok)).toBe(true);
    for (const c of [...open, ...allowed]) c.close();
  });
});

describe('rate limits off', () => {
  it('POWR_RELAY_RATE_LIMITS=off lets one address publish past every limit', async () => {
    const relay = await startRelay({ POWR_RELAY_RATE_LIMITS: 'off', POWR_RELAY_EVENTS_PER_MINUTE_PER_IP: '5' });
    const c = await RawClient.connect(relay.url);
    const s = signer();
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => c.publish(s.sign({ content: `${i}` }))));
    expect(results.every(([ok]) => ok)).toBe(true);
    c.close();
    await relay.stop();
  });
});

describe('slow consumers and idle connections', () => {
  it('disconnects a subscriber that stops reading once its queue passes the cap, and keeps serving others', async () => {
    const relay = await startRelay({ POWR_RELAY_MAX_OUTBOUND_BYTES: '262144', POWR_RELAY_RATE_LIMITS: 'off' });
    const slow = await RawClient.connect(relay.url);
    await slow.subscribe('feed', { kinds: [1] });
    // Stop reading: the kernel buffers fill, then the relay's queue for this socket grows.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const publisher = await RawClient.connect(relay.url);
    const s = signer();
    const big = 'w'.repeat(60_000);
    for (let i = 0; i < 250 && !relay.logs.some((l) => l.msg === 'client is not reading; disconnecting'); i++) {
      expect(await publisher.publish(s.sign({ content: `${i} ${big}` }))).toEqual([true, '']);
    }
    expect(relay.logs.some((l) => l.msg === 'client is not reading; disconnecting')).toBe(true);
    expect(relay.memory().rss).toBeLessThan(512 * 1024 * 1024);
    expect((await publisher.req('still', { authors: [s.pubkey], limit: 1 })).length).toBe(1);
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await slow.next((f) => f[0] === 'NOTICE' && /^blocked: you are not reading/.test(String(f[1])), 10_000);
    publisher.close();
    await relay.stop();
  });

  it('closes a connection idle past the timeout unless it holds a subscription', async () => {
    const relay = await startRelay({ POWR_RELAY_IDLE_TIMEOUT_SECONDS: '1', POWR_RELAY_PING_INTERVAL_SECONDS: '1' });
    const idle = await RawClient.connect(relay.url);
    const listening = await RawClient.connect(relay.url);
    await listening.subscribe('wait', { kinds: [1], limit: 0 });
    const notice = await idle.next((f) => f[0] === 'NOTICE', 6000);
    expect(notice[1]).toMatch(/^error: closing a connection idle/);
    await sleep(1500);
    expect(idle.ws.readyState).toBe(WebSocket.CLOSED);
    expect(listening.ws.readyState).toBe(WebSocket.OPEN);
    listening.close();
    await relay.stop();
  });

  it('disconnects a peer that stops answering pings', async () => {
    const relay = await startRelay({ POWR_RELAY_PING_INTERVAL_SECONDS: '1', POWR_RELAY_LOG_LEVEL: 'debug' });
    const dead = await RawClient.connect(relay.url);
    (dead.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    for (let i = 0; i < 50 && !relay.logs.some((l) => l.msg === 'peer did not answer ping; disconnecting'); i++) await sleep(100);
    expect(relay.logs.some((l) => l.msg === 'peer did not answer ping; disconnecting')).toBe(true);
    await relay.stop();
  });
});

describe('query bounds', () => {
  let relay: RunningRelay;
  const author = 'a'.repeat(64);
  beforeAll(async () => {
    // A database prepared on disk: 30,000 notes by one author, none with the tag asked for below.
    const db = tempDb();
    const store = await openStorage(db);
    const writes = [];
    for (let i = 0; i < 30_000; i++) {
      const event: NostrEvent = { id: i.toString(16).padStart(64, '0'), pubkey: author, created_at: 1_700_000_000 + i, kind: 1,
        tags: [['t', 'common']], content: `note ${i}`, sig: '0'.repeat(128) };
      writes.push(store.write({ json: canonicalJson(event), record: null, flags: [] }));
    }
    expect((await Promise.all(writes)).every((w) => w.status === 'stored')).toBe(true);
    await store.close();
    relay = await startRelay({ POWR_RELAY_QUERY_TIMEOUT_MS: '10' }, db);
  });
  afterAll(() => relay.stop());

  it('ends a query that scans too long with CLOSED, and other clients are still answered', async () => {
    const heavy = await RawClient.connect(relay.url);
    const light = await RawClient.connect(relay.url);
    // Walks every note of the author checking a tag none has, many times over.
    const filters = Array.from({ length: 20 }, (_, i) => ({ kinds: [1], authors: [author], '#t': [`rare-${i}`] }));
    const message = await heavy.refused('scan', ...filters);
    expect(message).toMatch(/^error: the query took longer than 10 ms/);
    const [count] = await Promise.all([
      heavy.count('n', ...filters).catch((e: Error) => e.message),
      light.req('quick', { ids: ['0'.repeat(64)] }),
    ]);
    expect(String(count)).toMatch(/^error: the count took longer than 10 ms/);
    expect(await light.req('one', { kinds: [1], limit: 1 })).toHaveLength(1);
    heavy.close();
    light.close();
  });
});
