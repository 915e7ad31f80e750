import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, signer } from './helpers/client.js';
import { startRelay, type RunningRelay } from './helpers/relay.js';

/** The value of one sample line (`name{labels} value`) in a Prometheus text exposition. */
function sample(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `) || (labels === '' && l.startsWith(`${name} `)));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('Prometheus /metrics', () => {
  let relay: RunningRelay;
  const scrape = async () => {
    const res = await fetch(`${relay.httpUrl}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    return res.text();
  };
  beforeAll(async () => {
    relay = await startRelay();
  });
  afterAll(() => relay.stop());

  it('exposes every family, and the values move under load', async () => {
    const before = await scrape();
    for (const family of ['powr_connections', 'powr_subscriptions', 'powr_messages_total', 'powr_events_total', 'powr_write_batch_events',
      'powr_write_commit_seconds', 'powr_query_seconds', 'powr_bundle_cache_hits', 'powr_bundle_cache_misses', 'powr_worker_queue_depth', 'powr_reader_queue_depth',
      'powr_database_bytes', 'powr_writes_failing', 'powr_write_failures_total', 'powr_process_resident_memory_bytes']) {
      expect(before, family).toMatch(new RegExp(`^# TYPE ${family} `, 'm'));
    }
    expect(sample(before, 'powr_connections')).toBe(0);

    const c = await RawClient.connect(relay.url);
    await c.subscribe('live', { kinds: [1], limit: 0 });
    const s = signer();
    for (let i = 0; i < 5; i++) expect(await c.publish(s.sign({ content: `m${i}` }))).toEqual([true, '']);
    expect((await c.publish({ ...s.sign({ content: 'bad' }), sig: 'ab'.repeat(64) }))[0]).toBe(false);
    const lib = signer();
    const exercise = lib.sign({ kind: 33401, tags: [['d', 'squat'], ['title', 'Squat'], ['format', 'weight', 'reps'], ['format_units', 'kg', 'count']] });
    const template = lib.sign({ kind: 33402, tags: [['d', 'legs'], ['title', 'Legs'], ['type', 'strength'],
      ['exercise', `33401:${lib.pubkey}:squat`, '', '100', '5']] });
    for (const e of [exercise, template]) expect((await c.publish(e))[0]).toBe(true);
    await c.req('feed', { kinds: [1], limit: 10 });
    for (let i = 0; i < 2; i++) await fetch(`${relay.httpUrl}/api/bundle?a=33402:${lib.pubkey}:legs`);
    c.send('not json');
    await c.next((f) => f[0] === 'NOTICE');

    const after = await scrape();
    expect(sample(after, 'powr_connections')).toBe(1);
    expect(sample(after, 'powr_subscriptions')).toBe(1);
    expect(sample(after, 'powr_messages_total', 'verb="EVENT"')).toBe(8);
    expect(sample(after, 'powr_messages_total', 'verb="malformed"')).toBe(1);
    expect(sample(after, 'powr_events_total', 'kind="1",outcome="accepted",reason=""')).toBe(5);
    expect(sample(after, 'powr_events_total', 'kind="1",outcome="rejected",reason="invalid"')).toBe(1);
    expect(sample(after, 'powr_events_total', 'kind="33402",outcome="accepted",reason=""')).toBe(1);
    expect(sample(after, 'powr_write_batch_events_count')).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'powr_write_batch_events_sum')).toBe(7);
    expect(sample(after, 'powr_write_commit_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'powr_query_seconds_count', 'shape="kind"')).toBeGreaterThanOrEqual(2);
    expect(sample(after, 'powr_bundle_cache_misses')).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'powr_bundle_cache_hits')).toBeGreaterThanOrEqual(1);
    // A refused event (invalid:) is not a failed write transaction.
    expect(sample(after, 'powr_writes_failing')).toBe(0);
    expect(sample(after, 'powr_write_failures_total')).toBe(0);
    expect(sample(after, 'powr_database_bytes')).toBeGreaterThan(0);
    c.close();
  });

  it.runIf(process.platform === 'linux')('counts CPU per thread role, the writer\'s growing with the events it stores', async () => {
    const cpu = (text: string, thread: string) => sample(text, 'powr_thread_cpu_seconds_total', `thread="${thread}"`);
    const before = await scrape();
    expect(before).toMatch(/^# TYPE powr_thread_cpu_seconds_total counter$/m);
    const c = await RawClient.connect(relay.url);
    const s = signer();
    // Enough writes for the writer to use more than one clock tick (10 ms) of CPU; 100 at a time, as
    // one at a time takes seconds on a loaded machine.
    for (let batch = 0; batch < 3; batch++) {
      const oks = await Promise.all(Array.from({ length: 100 }, (_, i) => c.publish(s.sign({ content: `cpu ${batch} ${i}` }))));
      for (const ok of oks) expect(ok).toEqual([true, '']);
    }
    expect(await c.req('cpu', { kinds: [1], authors: [s.pubkey], limit: 5 })).toHaveLength(5);
    const processBefore = relay.cpuSeconds();
    const after = await scrape();
    const processAfter = relay.cpuSeconds();
    expect(cpu(after, 'writer')).toBeGreaterThan(cpu(before, 'writer'));
    for (const thread of ['main', 'verify', 'reader']) expect(cpu(after, thread), thread).toBeGreaterThan(0);
    // Every thread counted once: the roles add up to the whole process's CPU time.
    const roles = ['main', 'writer', 'reader', 'verify', 'other'].reduce((sum, t) => sum + cpu(after, t), 0);
    expect(roles).toBeGreaterThanOrEqual(processBefore - 0.001);
    expect(roles).toBeLessThanOrEqual(processAfter + 0.001);
    c.close();
  });
});

describe('REQs answered without a reader thread', () => {
  let relay: RunningRelay;
  const answered = async (by: 'reader' | 'relay') => sample(await (await fetch(`${relay.httpUrl}/metrics`)).text(), 'powr_reqs_total', `answered="${by}"`);
  beforeAll(async () => {
    relay = await startRelay();
  });
  afterAll(() => relay.stop());

  it('answers filters that cannot match or want no stored events with EOSE alone, and still delivers live events', async () => {
    const c = await RawClient.connect(relay.url);
    const s = signer();
    const stored = s.sign({ content: 'stored' });
    expect(await c.publish(stored)).toEqual([true, '']);
    const [reader, relayed] = [await answered('reader'), await answered('relay')];
    expect(await c.req('empty-kinds', { kinds: [] })).toEqual([]);
    expect(await c.req('inverted', { kinds: [1], since: stored.created_at + 10, until: stored.created_at })).toEqual([]);
    expect(await c.subscribe('live', { kinds: [1], limit: 0 })).toEqual([]);
    expect(await answered('relay')).toBe(relayed + 3);
    expect(await answered('reader')).toBe(reader);

    const fresh = s.sign({ content: 'live' });
    const from = c.frames.length;
    expect(await c.publish(fresh)).toEqual([true, '']);
    const delivered = await c.next((f) => f[0] === 'EVENT' && f[1] === 'live', 5000, from);
    expect((delivered[2] as { id: string }).id).toBe(fresh.id);
    // Beside a filter that needs the database, the one that cannot match changes nothing.
    expect((await c.req('mixed', { kinds: [] }, { ids: [stored.id] })).map((e) => e.id)).toEqual([stored.id]);
    expect(await answered('reader')).toBe(reader + 1);
    c.close();
  });

  it('answers ids from the bundle cache while their events are stored, and asks a reader once one is deleted', async () => {
    const c = await RawClient.connect(relay.url);
    const s = signer();
    const [older, newer] = [s.sign({ content: 'older' }), s.sign({ content: 'newer' })];
    for (const e of [older, newer]) expect(await c.publish(e)).toEqual([true, '']);
    // A bundle rooted at an event id caches that event.
    for (const e of [older, newer]) expect((await fetch(`${relay.httpUrl}/api/bundle?id=${e.id}`)).status).toBe(200);
    const [reader, relayed] = [await answered('reader'), await answered('relay')];

    expect((await c.req('both', { ids: [older.id, newer.id] })).map((e) => e.id)).toEqual([newer.id, older.id]);
    expect((await c.req('limited', { ids: [older.id, newer.id], limit: 1 })).map((e) => e.id)).toEqual([newer.id]);
    expect(await c.req('other-kind', { ids: [older.id], kinds: [7] })).toEqual([]);
    expect(await answered('relay')).toBe(relayed + 3);
    expect(await answered('reader')).toBe(reader);

    expect(await c.publish(s.sign({ kind: 5, tags: [['e', older.id]] }))).toEqual([true, '']);
    expect((await c.req('after-delete', { ids: [older.id, newer.id] })).map((e) => e.id)).toEqual([newer.id]);
    expect(await answered('reader')).toBe(reader + 1);
    // Still cached, the other one is answered here.
    expect((await c.req('kept', { ids: [newer.id] })).map((e) => e.id)).toEqual([newer.id]);
    expect(await answered('relay')).toBe(relayed + 4);
    c.close();
  });
});
