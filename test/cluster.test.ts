import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NostrEvent } from 'nostr-tools/pure';
import { RawClient, signer, sleep } from './helpers/client.js';
import { deleteStream, SYSTEM_NATS, uniqueStream } from './helpers/nats.js';
import { startRelay, type RunningRelay } from './helpers/relay.js';

/** The /health figures of a cluster node. */
interface ClusterHealth {
  status: string;
  reason?: string;
  cluster: { appliedSeq: number; streamSeq: number | null; lag: number | null; connected: boolean };
}

async function health(relay: RunningRelay): Promise<ClusterHealth> {
  return (await fetch(`${relay.httpUrl}/health`)).json() as Promise<ClusterHealth>;
}

/** Waits until every node has applied the stream up to its end and they agree on where that is. */
async function converged(nodes: RunningRelay[], timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await Promise.all(nodes.map(health));
    const seqs = new Set(all.map((h) => h.cluster.appliedSeq));
    if (all.every((h) => h.cluster.lag === 0) && seqs.size === 1) return all[0]!.cluster.appliedSeq;
    if (Date.now() > deadline) throw new Error(`nodes did not converge: ${JSON.stringify(all)}`);
    await sleep(100);
  }
}

function clusterEnv(servers: string, stream: string): Record<string, string> {
  return { POWR_RELAY_CLUSTER_NATS: servers, POWR_RELAY_CLUSTER_STREAM: stream, POWR_RELAY_RATE_LIMITS: 'off' };
}

describe('cluster: three nodes on one stream', () => {
  const stream = uniqueStream('three');
  let nodes: RunningRelay[] = [];

  beforeAll(async () => {
    nodes = await Promise.all([0, 1, 2].map(() => startRelay(clusterEnv(SYSTEM_NATS, stream))));
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await deleteStream(SYSTEM_NATS, stream);
  });

  it('serves on B and C what was published to A, live on C too, with one COUNT everywhere', async () => {
    const [a, b, c] = await Promise.all(nodes.map((n) => RawClient.connect(n.url)));
    const alice = signer();
    await c!.subscribe('live', { authors: [alice.pubkey] });
    const events: NostrEvent[] = [];
    for (let i = 0; i < 20; i++) events.push(alice.sign({ kind: 1, content: `note ${i}` }));
    const oks = await Promise.all(events.map((e) => a!.publish(e)));
    expect(oks.every(([accepted, message]) => accepted && message === '')).toBe(true);
    // A client reads its own write on the node it wrote to, at once.
    expect(await a!.count('mine', { authors: [alice.pubkey] })).toBe(20);
    for (const e of events) await c!.next((f) => f[0] === 'EVENT' && f[1] === 'live' && (f[2] as NostrEvent).id === e.id);
    const seq = await converged(nodes);
    expect(seq).toBeGreaterThanOrEqual(20);
    for (const client of [a!, b!, c!]) {
      expect(await client.count('n', { authors: [alice.pubkey] })).toBe(20);
      const served = await client.req('all', { authors: [alice.pubkey] });
      expect(served.map((e) => e.id).sort()).toEqual(events.map((e) => e.id).sort());
    }
    // A second publish of the same event, to another node: a duplicate there too.
    expect(await b!.publish(events[0]!)).toEqual([true, 'duplicate: already have this event']);
    for (const client of [a!, b!, c!]) client.close();
  });
});
