import { hostname } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Lease, RENEW_MS } from '../src/store/cluster/lease.js';
import { RawClient, eventually, signer, sleep } from './helpers/client.js';
import { deleteStream, startNats, streamMessageIds, SYSTEM_NATS, uniqueStream } from './helpers/nats.js';
import { startRelay, type RunningRelay } from './helpers/relay.js';
import { exercise, now, publish } from './helpers/upstream.js';

/*
 * Cluster mode with upstreams: every node lists the same upstream (another powr-relay process), one
 * node at a time pulls from it for the cluster, holding a lease in a NATS key-value bucket.
 */

/** The cluster section's upstreamLease of a node's /health. */
interface LeaseHealth {
  node: string;
  holder: string | null;
  held: boolean;
}

const started: { stop(): Promise<unknown> }[] = [];
afterAll(async () => {
  await Promise.all(started.map((s) => s.stop().catch(() => undefined)));
});

async function relay(env: Record<string, string> = {}, db?: string): Promise<RunningRelay> {
  const r = await startRelay(env, db);
  started.push(r);
  return r;
}

function nodeEnv(servers: string, stream: string, upstream: string, name: string): Record<string, string> {
  return {
    POWR_RELAY_CLUSTER_NATS: servers, POWR_RELAY_CLUSTER_STREAM: stream, POWR_RELAY_RATE_LIMITS: 'off',
    POWR_RELAY_UPSTREAMS: upstream, POWR_RELAY_UPSTREAM_RETRY_SECONDS: '1', POWR_RELAY_CLUSTER_NODE_NAME: name,
  };
}

/** Removes a test's cluster stream and its upstream lease bucket from a server that outlives the test. */
async function removeCluster(servers: string, stream: string): Promise<void> {
  await deleteStream(servers, stream);
  await deleteStream(servers, `KV_${stream}-upstreams`);
}

/** Each node's view of the lease; a node that has not said yet (still starting) reads as holding nothing. */
async function leases(nodes: RunningRelay[]): Promise<LeaseHealth[]> {
  return Promise.all(nodes.map(async (n) => {
    const health = (await (await fetch(`${n.httpUrl}/health`)).json()) as { cluster?: { upstreamLease?: LeaseHealth } };
    return health.cluster?.upstreamLease ?? { node: '', holder: null, held: false };
  }));
}

const holders = (all: LeaseHealth[]) => all.filter((l) => l.held).map((l) => l.node);
/** Exactly one node holds the lease, and every node names it as the holder. */
const oneHolder = (all: LeaseHealth[]) => holders(all).length === 1 && all.every((l) => l.holder === holders(all)[0]);

/** The value of one series on a relay's /metrics. */
async function metric(r: RunningRelay, series: string): Promise<number | undefined> {
  const text = await (await fetch(`${r.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

/** Clients connected to the upstream: one per node pulling from it (the tests keep none open there). */
const pullers = (upstream: RunningRelay) => metric(upstream, 'powr_connections');


/** How many events with this id a node serves. */
async function served(node: RunningRelay, id: string): Promise<number> {
  const c = await RawClient.connect(node.url);
  try {
    return (await c.req('ids', { ids: [id] })).filter((e) => e.id === id).length;
  } finally {
    c.close();
  }
}

const onEveryNode = (nodes: RunningRelay[], id: string, timeoutMs = 15_000) =>
  eventually(`${id} on every node`, () => Promise.all(nodes.map((n) => served(n, id))), (counts) => counts.every((c) => c === 1), timeoutMs);

describe('cluster: upstreams with one puller', () => {
  it('three nodes listing one upstream: one pulls; killed (SIGKILL), another pulls within 10 s and what was published meanwhile reaches every node once', async () => {
    const upstream = await relay();
    const stream = uniqueStream('upstreams');
    try {
      const author = signer();
      // Older than any live subscription's start: only a catch-up brings it.
      const before = exercise(author, 'before', now() - 3600);
      await publish(upstream.url, before);
      const names = ['node-a', 'node-b', 'node-c'];
      const nodes = await Promise.all(names.map((name) => relay(nodeEnv(SYSTEM_NATS, stream, upstream.url, name))));

      const first = await eventually('one holder', () => leases(nodes), oneHolder);
      const holder = nodes[names.indexOf(holders(first)[0]!)]!;
      await eventually('one puller', () => pullers(upstream), (n) => n === 1);
      await onEveryNode(nodes, before.id);
      // It stays so over several renewals (one a second).
      for (let i = 0; i < 10; i++) {
        expect(oneHolder(await leases(nodes))).toBe(true);
        expect(await pullers(upstream)).toBe(1);
        await sleep(300);
      }
      for (const node of nodes) {
        const pulling = node === holder;
        expect(node.logs.some((l) => l.msg === 'upstream caught up'), node.url).toBe(pulling);
        expect(await metric(node, `powr_upstream_state{upstream="${upstream.url}"}`)).toBe(pulling ? 2 : 3);
        // A node standing by has no lag of its own to report.
        expect(await metric(node, `powr_upstream_lag_seconds{upstream="${upstream.url}"}`)).toSatisfy((v: number) => (pulling ? v >= 0 : Number.isNaN(v)));
        expect(await metric(node, 'powr_upstream_lease_held')).toBe(pulling ? 1 : 0);
        expect(await metric(node, `powr_upstream_lease_holder{node="${holders(first)[0]}"}`)).toBe(1);
      }
      const live = exercise(author, 'live');
      await publish(upstream.url, live);
      await onEveryNode(nodes, live.id);

      const killedAt = Date.now();
      await holder.stop('SIGKILL');
      const meanwhile = exercise(author, 'meanwhile');
      // Older than the new holder's live subscription: its catch-up must bring this one.
      const meanwhileBackdated = exercise(author, 'meanwhile-backdated', now() - 1800);
      await publish(upstream.url, meanwhile);
      await publish(upstream.url, meanwhileBackdated);
      const survivors = nodes.filter((n) => n !== holder);
      const second = await eventually('another holder', () => leases(survivors), oneHolder, 10_000);
      const leaseAfterMs = Date.now() - killedAt;
      const next = survivors.find((n) => n.logs.some((l) => l.msg === 'holding the upstream lease'))!;
      expect(holders(second)).toEqual([names[nodes.indexOf(next)]]);
      await eventually('pulling again', () => metric(next, `powr_upstream_state{upstream="${upstream.url}"}`), (s) => s === 2,
        10_000 - (Date.now() - killedAt));
      for (const e of [meanwhile, meanwhileBackdated]) await onEveryNode(survivors, e.id, 10_000 - (Date.now() - killedAt));
      const pulledAfterMs = Date.now() - killedAt;
      expect(await pullers(upstream)).toBe(1);
      console.log(`lease taken over ${leaseAfterMs} ms after the SIGKILL; the event published meanwhile on every survivor after ${pulledAfterMs} ms`);

      // The killed node, back on its database, stands by and gets what it missed through the stream.
      const back = await relay(nodeEnv(SYSTEM_NATS, stream, upstream.url, names[nodes.indexOf(holder)]!), holder.db);
      const all = [...survivors, back];
      await onEveryNode(all, meanwhileBackdated.id);
      const third = await eventually('the holder as every node sees it', () => leases(all), oneHolder);
      expect(holders(third)).toEqual(holders(second));
      // Exactly once: the stream holds each event once, and no node stores one twice.
      const ids = await streamMessageIds(SYSTEM_NATS, stream);
      for (const e of [before, live, meanwhile, meanwhileBackdated]) expect(ids.filter((id) => id === e.id), e.id).toHaveLength(1);
      for (const node of all) {
        const c = await RawClient.connect(node.url);
        expect(await c.count('n', { authors: [author.pubkey] })).toBe(4);
        c.close();
      }

      // A holder that stops (SIGTERM) gives the lease up: another node takes it within a renewal period or two.
      const stoppedAt = Date.now();
      expect(await next.stop('SIGTERM')).toBe(0);
      const rest = all.filter((n) => n !== next);
      await eventually('a holder after a clean stop', () => leases(rest), oneHolder, 3000);
      await eventually('one puller after a clean stop', () => pullers(upstream), (n) => n === 1);
      console.log(`lease passed on ${Date.now() - stoppedAt} ms after the holder's SIGTERM`);
    } finally {
      await Promise.all(started.splice(0).map((s) => s.stop()));
      await removeCluster(SYSTEM_NATS, stream);
    }
  }, 90_000);

  it('a holder cut off from NATS stops pulling at once; once NATS is back one node pulls again', async () => {
    const nats = await startNats();
    started.push({ stop: () => nats.remove() });
    const upstream = await relay();
    const stream = uniqueStream('lease-outage');
    const names = ['node-x', 'node-y'];
    const nodes = await Promise.all(names.map((name) => relay(nodeEnv(nats.url, stream, upstream.url, name))));
    await eventually('one holder', () => leases(nodes), oneHolder);
    await eventually('one puller', () => pullers(upstream), (n) => n === 1);

    await nats.stop();
    const stoppedAt = Date.now();
    await eventually('nobody pulls', () => pullers(upstream), (n) => n === 0, 3000);
    const stoppedPullingMs = Date.now() - stoppedAt;
    expect(holders(await leases(nodes))).toEqual([]);
    expect(nodes.some((n) => n.logs.some((l) => l.msg === 'lost the connection to NATS; giving up the upstream lease'))).toBe(true);
    console.log(`the holder stopped pulling ${stoppedPullingMs} ms after NATS stopped`);

    await nats.start();
    await eventually('one holder again', () => leases(nodes), oneHolder, 20_000);
    await eventually('one puller again', () => pullers(upstream), (n) => n === 1, 20_000);
    const after = exercise(signer(), 'after the outage');
    await publish(upstream.url, after);
    await onEveryNode(nodes, after.id);
  }, 60_000);
});

describe('the upstream lease and the stream', () => {
  it('a node that cannot publish to the cluster\'s stream does not take the lease, and takes it once it can', async () => {
    const upstream = await relay();
    const stream = uniqueStream('unfit');
    // A stream of that name that does not take the relay's subject: the node reports itself degraded.
    const nc = await connect({ servers: SYSTEM_NATS });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${stream}.elsewhere`] });
    try {
      // Without clusterNodeName: named by its host and port.
      const { POWR_RELAY_CLUSTER_NODE_NAME: _, ...unnamed } = nodeEnv(SYSTEM_NATS, stream, upstream.url, '');
      const node = await relay(unnamed);
      const name = `${hostname()}:${new URL(node.url).port}`;
      await eventually('the reason logged', async () => node.logs.find((l) => l.msg === 'upstream lease unavailable')?.problem,
        (p) => p === 'this node cannot publish to the cluster\'s stream');
      // Three renewal periods in which a fit node would have taken the lease and connected.
      await sleep(3 * RENEW_MS);
      expect(await pullers(upstream)).toBe(0);
      expect((await leases([node]))[0]).toEqual({ node: name, holder: null, held: false });

      await jsm.streams.update(stream, { subjects: [`${stream}.events`] });
      const [held] = await eventually('holding once the stream takes its writes', () => leases([node]), oneHolder);
      expect(held!.holder).toBe(name);
      await eventually('pulling', () => pullers(upstream), (n) => n === 1);
    } finally {
      await Promise.all(started.splice(0).map((s) => s.stop()));
      await nc.close();
      await removeCluster(SYSTEM_NATS, stream);
    }
  }, 60_000);
});

describe('the upstream lease itself', () => {
  it('one of two holds it; a holder whose entry someone else overwrote gives it up at its next renewal, and the other takes it once that entry is gone', async () => {
    const bucket = `${uniqueStream('lease')}-upstreams`;
    const changes: string[] = [];
    const lease = (node: string) => new Lease({ servers: [SYSTEM_NATS], bucket, replicas: 1, key: 'holder', node },
      { log: () => undefined, changed: (held) => changes.push(`${node} ${held ? 'holds' : 'let go'}`), cannotHold: () => undefined });
    const [a, b] = [lease('a'), lease('b')];
    void a.run();
    await eventually('a holds', async () => a.status(), (s) => s.held);
    void b.run();
    await eventually('b sees a', async () => b.status(), (s) => s.holder === 'a');
    expect(b.status().held).toBe(false);

    // Someone else writes the key (an operator, a node that thought the entry gone): a's compare-and-set fails.
    const nc = await connect({ servers: SYSTEM_NATS });
    try {
      const kv = await new Kvm(nc).open(bucket);
      const overwrittenAt = Date.now();
      await kv.put('holder', JSON.stringify({ node: 'intruder' }));
      await eventually('a lets go', async () => a.status(), (s) => !s.held && s.holder === 'intruder', 2 * RENEW_MS + 500);
      console.log(`the holder let go ${Date.now() - overwrittenAt} ms after its entry was overwritten`);
      // Nobody renews the intruder's entry: it lapses, and one of a and b takes the lease.
      await eventually('one holds again', async () => [a.status(), b.status()], (all) => all.filter((s) => s.held).length === 1, 10_000);
      expect(changes.slice(0, 2)).toEqual(['a holds', 'a let go']);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await nc.close();
      await deleteStream(SYSTEM_NATS, `KV_${bucket}`);
    }
  }, 30_000);
});
