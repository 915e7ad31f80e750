import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NostrEvent } from 'nostr-tools/pure';
import { RawClient, eventually, signer, type Signer } from './helpers/client.js';
import { runCli, runFailingRelay, startRelay, type RunningRelay } from './helpers/relay.js';
import { exercise, now, publish } from './helpers/upstream.js';

const running = new Set<RunningRelay>();
const relay = async (env: Record<string, string> = {}, db?: string) => {
  const r = await startRelay(env, db);
  running.add(r);
  return r;
};
const stop = async (r: RunningRelay) => {
  running.delete(r);
  await r.stop();
};

afterAll(async () => {
  await Promise.all([...running].map((r) => r.stop()));
});

/** Older than the live subscription's `since`, so only a catch-up brings it. */
const anHourAgo = () => now() - 3600;
const template = (who: Signer, d: string, createdAt = now()) => who.sign({ kind: 33402, content: '', created_at: createdAt,
  tags: [['d', d], ['title', d], ['type', 'strength'], ['exercise', `33401:${who.pubkey}:bench-press`, '', '60', '8', '', 'normal', '1']] });

async function stored(url: string, ids: string[]): Promise<string[]> {
  const c = await RawClient.connect(url);
  try {
    return (await c.req('ids', { ids })).map((e) => e.id);
  } finally {
    c.close();
  }
}

/** The value of one upstream's metric on a relay's /metrics. */
async function upstreamMetric(r: RunningRelay, name: string, upstream: string): Promise<number | undefined> {
  const text = await (await fetch(`${r.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{upstream="${upstream}"}`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

describe('background upstreams', () => {
  const alice = signer();
  let a: RunningRelay;
  let b: RunningRelay;
  let before: NostrEvent;
  let forged: NostrEvent;

  beforeAll(async () => {
    a = await relay();
    before = exercise(alice, 'bench-press', anHourAgo());
    await publish(a.url, before);
    // Stored on the upstream without checks (import --no-verify), as a careless relay would.
    forged = { ...exercise(alice, 'forged', anHourAgo()), sig: before.sig };
    expect((await runCli(['import', '--no-verify', '-'], { POWR_RELAY_DB: a.db }, JSON.stringify(forged))).code).toBe(0);
    b = await relay({ POWR_RELAY_UPSTREAMS: a.url, POWR_RELAY_UPSTREAM_RETRY_SECONDS: '1' });
  }, 30_000);

  it('catches up with what the upstream held before, refusing forged events, then goes live', async () => {
    await eventually('state', () => upstreamMetric(b, 'powr_upstream_state', a.url), (v) => v === 2);
    expect(await stored(b.url, [before.id, forged.id])).toEqual([before.id]);
    expect(await upstreamMetric(b, 'powr_upstream_events_received_total', a.url)).toBeGreaterThanOrEqual(2);
    const lastSuccess = await upstreamMetric(b, 'powr_upstream_last_success_seconds', a.url);
    expect(Math.abs(lastSuccess! - Date.now() / 1000)).toBeLessThan(30);
    expect(await upstreamMetric(b, 'powr_upstream_lag_seconds', a.url)).toBeGreaterThanOrEqual(0);
  }, 30_000);

  /** A template published to the upstream at `upstreamUrl` reaches a live subscriber on b within 2 s. */
  async function expectLiveHere(upstreamUrl: string, d: string): Promise<void> {
    const client = await RawClient.connect(b.url);
    await client.subscribe('live', { kinds: [33402], authors: [alice.pubkey] });
    const t = template(alice, d);
    const from = client.frames.length;
    await publish(upstreamUrl, t);
    const frame = await client.next((f) => f[0] === 'EVENT' && f[1] === 'live', 2000, from);
    expect((frame[2] as NostrEvent).id).toBe(t.id);
    client.close();
  }

  it('delivers a template published upstream to a live subscriber here within 2 s', async () => {
    await eventually('state', () => upstreamMetric(b, 'powr_upstream_state', a.url), (v) => v === 2);
    await expectLiveHere(a.url, 'push-day');
  }, 30_000);

  it('retries an upstream that went down while serving its own clients, and follows it again once back', async () => {
    const port = new URL(a.url).port;
    await stop(a);
    await eventually('state', () => upstreamMetric(b, 'powr_upstream_state', a.url), (v) => v === 0);
    // Clients here are served as before.
    const mine = exercise(signer(), 'squat');
    await publish(b.url, mine);
    expect(await stored(b.url, [mine.id])).toEqual([mine.id]);

    const again = await relay({ POWR_RELAY_PORT: port }, a.db);
    expect(again.url).toBe(a.url);
    await eventually('state', () => upstreamMetric(b, 'powr_upstream_state', a.url), (v) => v === 2, 20_000);
    await expectLiveHere(again.url, 'pull-day');
  }, 60_000);

  it('catches up by REQ paging from an upstream without NIP-77 beside one that never answers, and stops cleanly', async () => {
    const plain = await relay({ POWR_RELAY_NEGENTROPY: 'false' });
    const bob = signer();
    const held = [exercise(bob, 'deadlift', anHourAgo()), template(bob, 'legs', anHourAgo())];
    for (const e of held) await publish(plain.url, e);
    const nowhere = 'ws://127.0.0.1:1';
    const follower = await relay({ POWR_RELAY_UPSTREAMS: `${nowhere},${plain.url}` });
    await eventually('caught up', () => stored(follower.url, held.map((e) => e.id)), (ids) => ids.length === 2);
    await eventually('state', () => upstreamMetric(follower, 'powr_upstream_state', plain.url), (v) => v === 2);
    expect(await upstreamMetric(follower, 'powr_upstream_state', nowhere)).toBe(0);
    expect(follower.logs.some((l) => l.msg === 'upstream caught up' && String(l.method).startsWith('REQ paging'))).toBe(true);
    running.delete(follower);
    expect(await follower.stop('SIGTERM')).toBe(0);
  }, 30_000);
});

describe('upstream settings', () => {
  it.each([
    [{ POWR_RELAY_UPSTREAMS: 'http://127.0.0.1:1' }, /POWR_RELAY_UPSTREAMS: .*ws:\/\/ or wss:\/\/ URL/],
    [{ POWR_RELAY_UPSTREAM_FILTER: '{"kinds":"33401"}' }, /POWR_RELAY_UPSTREAM_FILTER: .*kinds/],
    [{ POWR_RELAY_UPSTREAM_FILTER: '{"kinds":[33401],"limit":5}' }, /POWR_RELAY_UPSTREAM_FILTER: "limit" has no place here/],
    [{ POWR_RELAY_UPSTREAM_FILTER: 'kinds=33401' }, /POWR_RELAY_UPSTREAM_FILTER: must be a JSON filter object/],
    [{ POWR_RELAY_UPSTREAM_FILTER: '{"kinds":[1,2,3]}', POWR_RELAY_MAX_FILTER_VALUES: '2' },
      /upstreamFilter \(POWR_RELAY_UPSTREAM_FILTER\): invalid: "kinds" has 3 values/],
    [{ POWR_RELAY_CLUSTER_NODE_NAME: 'node a' }, /POWR_RELAY_CLUSTER_NODE_NAME: must be printable ASCII without spaces, at most 128 characters, got "node a"/],
  ])('refuses %j with one line naming it', async (env, message) => {
    const run = await runFailingRelay(env);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(message);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });
});
