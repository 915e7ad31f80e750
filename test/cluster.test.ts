import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NostrEvent } from 'nostr-tools/pure';
import { EXAMPLES } from './fixtures/nip101e-examples.js';
import { RawClient, signer, sleep, type Signer } from './helpers/client.js';
import { clusterEnv, converged, exported, health, stoppedAfterFile, until } from './helpers/cluster.js';
import { deleteStream, publishRaw, startNats, startNatsCluster, SYSTEM_NATS, uniqueStream, type NatsServer } from './helpers/nats.js';
import { freePort, runCli, tempDb, type RunningRelay } from './helpers/relay.js';

const { relayNode, tracked } = stoppedAfterFile();

/**
 * Publishes `events` one after another, as a client would: one refused with `error:` (the cluster's
 * stream out of reach for a moment) is sent again until `retryMs` have passed. Resolves with the ids
 * acknowledged OK true before the node went away.
 */
async function publishAll(client: RawClient, events: NostrEvent[], retryMs = 0): Promise<string[]> {
  const acked: string[] = [];
  const closed = new Promise<never>((_, reject) => client.ws.once('close', () => reject(new Error('closed'))));
  closed.catch(() => undefined);
  for (const e of events) {
    const deadline = Date.now() + retryMs;
    try {
      for (;;) {
        const from = client.frames.length;
        client.send(['EVENT', e]);
        // During a NATS failover an OK can take a few seconds: the stream must elect a new leader.
        const ok = await Promise.race([client.next((f) => f[0] === 'OK' && f[1] === e.id, 15_000, from), closed]);
        const [accepted, message] = [ok[2] as boolean, ok[3] as string];
        if (accepted) acked.push(e.id);
        if (accepted || !message.startsWith('error:') || Date.now() > deadline) break;
        await sleep(100);
      }
    } catch {
      break; // the node went away: what it had not acknowledged is not counted
    }
  }
  return acked;
}

function notes(author: Signer, n: number, label: string): NostrEvent[] {
  return Array.from({ length: n }, (_, i) => author.sign({ kind: 1, content: `${label} ${i}` }));
}

/** The ids of the author's events a node serves. */
async function servedIds(node: RunningRelay, author: string): Promise<Set<string>> {
  const client = await RawClient.connect(node.url);
  const served = new Set((await client.req('check', { authors: [author], limit: 5000 })).map((e) => e.id));
  client.close();
  return served;
}

/** Every node serves these ids of the author (and perhaps events stored but never acknowledged). */
async function everyNodeServesAtLeast(nodes: RunningRelay[], author: string, ids: string[]): Promise<void> {
  for (const node of nodes) {
    const served = await servedIds(node, author);
    expect(ids.filter((id) => !served.has(id)), `missing on ${node.url}`).toEqual([]);
  }
}

/** Every node serves exactly these ids of the author. */
async function everyNodeServes(nodes: RunningRelay[], author: string, ids: string[]): Promise<void> {
  await everyNodeServesAtLeast(nodes, author, ids);
  for (const node of nodes) expect((await servedIds(node, author)).size).toBe(ids.length);
}

describe('cluster: three nodes on one stream', () => {
  const stream = uniqueStream('three');
  let nodes: RunningRelay[] = [];

  beforeAll(async () => {
    nodes = await Promise.all([0, 1, 2].map(() => relayNode(clusterEnv(SYSTEM_NATS, stream))));
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
    const seq = await converged(nodes, stream);
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

  it('delivers an ephemeral event published on A to live subscribers on B and C, and stores it nowhere', async () => {
    const [a, b, c] = await Promise.all(nodes.map((n) => RawClient.connect(n.url)));
    const signerApp = signer();
    for (const client of [b!, c!]) await client.subscribe('nip46', { kinds: [24133], authors: [signerApp.pubkey] });
    const request = signerApp.sign({ kind: 24133, content: 'encrypted request' });
    expect(await a!.publish(request)).toEqual([true, '']);
    for (const client of [b!, c!]) await client.next((f) => f[0] === 'EVENT' && f[1] === 'nip46' && (f[2] as NostrEvent).id === request.id);
    // Exactly once on each: the node that took it does not get it back from NATS.
    await sleep(200);
    for (const client of [b!, c!]) expect(client.frames.filter((f) => f[0] === 'EVENT' && (f[2] as NostrEvent).id === request.id)).toHaveLength(1);
    expect(await a!.count('stored', { kinds: [24133], authors: [signerApp.pubkey] })).toBe(0);
    for (const client of [a!, b!, c!]) client.close();
  });

  it('keeps the same version of a replaceable and an addressable event on every node (lowest id on a tie)', async () => {
    const clients = await Promise.all(nodes.map((n) => RawClient.connect(n.url)));
    const author = signer();
    const at = Math.floor(Date.now() / 1000) - 60;
    const profiles = clients.map((_, i) => author.sign({ kind: 0, created_at: at, content: JSON.stringify({ name: `version ${i}` }) }));
    const exercise = EXAMPLES.E1!;
    const exercises = clients.map((_, i) => author.sign({ kind: 33401, created_at: at, tags: exercise.tags, content: `${exercise.content} (${i})` }));
    // Each node gets its own versions at the same moment.
    const oks = await Promise.all(clients.flatMap((c, i) => [c.publish(profiles[i]!), c.publish(exercises[i]!)]));
    // Whichever a node applied first is stored, a later lower id replaces it, a higher one is refused.
    for (const [accepted, message] of oks) expect(accepted || message.startsWith('blocked:')).toBe(true);
    await converged(nodes, stream);
    const lowest = (events: NostrEvent[]) => events.map((e) => e.id).sort()[0];
    for (const c of clients) {
      expect((await c.req('p', { kinds: [0], authors: [author.pubkey] })).map((e) => e.id)).toEqual([lowest(profiles)]);
      expect((await c.req('x', { kinds: [33401], authors: [author.pubkey] })).map((e) => e.id)).toEqual([lowest(exercises)]);
    }
    const [first, ...others] = await Promise.all(nodes.map(exported));
    expect(first).toContain(lowest(profiles));
    for (const other of others) expect(other).toBe(first);
    for (const c of clients) c.close();
  });

  it('a node killed (SIGKILL) during a publish stream catches up on restart; every acknowledged event is everywhere', async () => {
    const author = signer();
    const events = notes(author, 400, 'stream');
    const [onA, onB] = [events.slice(0, 200), events.slice(200)];
    const victim = nodes[0]!;
    const a = await RawClient.connect(victim.url);
    const b = await RawClient.connect(nodes[1]!.url);
    const toA = publishAll(a, onA);
    const toB = publishAll(b, onB);
    // Kill A once a quarter of its events are acknowledged.
    while (a.frames.filter((f) => f[0] === 'OK').length < 50) await sleep(5);
    await victim.stop('SIGKILL');
    const acked = [...(await toA), ...(await toB)];
    expect(acked.length).toBeGreaterThanOrEqual(250);
    expect(acked.length).toBeLessThan(400);
    nodes[0] = await relayNode(clusterEnv(SYSTEM_NATS, stream), victim.db);
    await converged(nodes, stream);
    // Events A put in the stream before it died but never acknowledged may be there too.
    await everyNodeServesAtLeast(nodes, author.pubkey, acked);
    const counts = await Promise.all(nodes.map(async (n) => {
      const c = await RawClient.connect(n.url);
      const count = await c.count('n', { authors: [author.pubkey] });
      c.close();
      return count;
    }));
    expect(new Set(counts).size).toBe(1);
    b.close();
  });

  it('skips a message in the stream that is not an event, on every node, and applies what follows', async () => {
    await publishRaw(SYSTEM_NATS, `${stream}.events`, 'not an event');
    await publishRaw(SYSTEM_NATS, `${stream}.events`, JSON.stringify({ id: 'x', kind: 1 }));
    const author = signer();
    const after = author.sign({ content: 'after the garbage' });
    const a = await RawClient.connect(nodes[2]!.url);
    expect(await a.publish(after)).toEqual([true, '']);
    a.close();
    await converged(nodes, stream);
    await everyNodeServes(nodes, author.pubkey, [after.id]);
    for (const node of nodes) expect(node.logs.some((l) => l.msg === 'cluster stream holds a message that is not an event; skipped')).toBe(true);
  });

  it('powr-relay import beside a running node writes through the stream: every node serves what it imported', async () => {
    const author = signer();
    const imported = notes(author, 25, 'imported');
    const file = join(mkdtempSync(join(tmpdir(), 'powr-cluster-import-')), 'events.jsonl');
    writeFileSync(file, imported.map((e) => JSON.stringify(e)).join('\n') + '\n');
    const run = await runCli(['import', file], { POWR_RELAY_DB: nodes[1]!.db, ...clusterEnv(SYSTEM_NATS, stream) }, '', 60_000);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/: 25 accepted, 0 duplicates, 0 rejected/);
    await converged(nodes, stream);
    await everyNodeServes(nodes, author.pubkey, imported.map((e) => e.id));
  });

  it('a node started from a backup resumes the stream after the backup and converges', async () => {
    const author = signer();
    const a = await RawClient.connect(nodes[1]!.url);
    const before = notes(author, 30, 'before');
    for (const e of before) expect((await a.publish(e))[0]).toBe(true);
    await converged(nodes, stream);
    const copy = tempDb();
    const backup = await runCli(['backup', copy], { POWR_RELAY_DB: nodes[1]!.db });
    expect(backup.code, backup.stderr).toBe(0);
    const at = Number(/cluster stream applied up to sequence (\d+)/.exec(backup.stdout)?.[1]);
    expect(at).toBeGreaterThanOrEqual(30);
    const after = notes(author, 30, 'after');
    for (const e of after) expect((await a.publish(e))[0]).toBe(true);
    const restoredDb = tempDb();
    copyFileSync(copy, restoredDb);
    const restored = await relayNode(clusterEnv(SYSTEM_NATS, stream), restoredDb);
    try {
      await converged([...nodes, restored], stream);
      await everyNodeServes([...nodes, restored], author.pubkey, [...before, ...after].map((e) => e.id));
      // It resumed after the backup's sequence rather than applying the stream from its start.
      expect(restored.logs.find((l) => l.msg === 'following the cluster stream')?.from).toBe(at + 1);
    } finally {
      await restored.stop();
      a.close();
    }
  });
});

describe('cluster: NATS itself fails', () => {
  it('answers writes OK false within 5 s while NATS is down, keeps serving reads, and takes writes again once it is back', async () => {
    const [nats] = tracked([await startNats()]);
    const stream = uniqueStream('outage');
    const node = await relayNode(clusterEnv(nats.url, stream));
    const client = await RawClient.connect(node.url);
    try {
      const author = signer();
      const stored = author.sign({ content: 'before the outage' });
      expect(await client.publish(stored)).toEqual([true, '']);
      await nats.stop();
      const during = author.sign({ content: 'during the outage' });
      const started = Date.now();
      const [accepted, message] = await client.publish(during);
      expect(accepted).toBe(false);
      expect(message).toMatch(/^error: /);
      expect(Date.now() - started).toBeLessThan(5000);
      expect((await client.req('r', { authors: [author.pubkey] })).map((e) => e.id)).toEqual([stored.id]);
      const down = await health(node);
      expect(down.status).toBe('degraded');
      expect(down.cluster.connected).toBe(false);

      await nats.start();
      const after = author.sign({ content: 'after the outage' });
      const deadline = Date.now() + 20_000;
      let ok: [boolean, string] = [false, ''];
      while (!ok[0] && Date.now() < deadline) {
        ok = await client.publish(after);
        if (!ok[0]) await sleep(250);
      }
      expect(ok).toEqual([true, '']);
      expect(node.proc.exitCode).toBe(null);
      await until(async () => (await health(node)).status === 'ok', 5000);
    } finally {
      client.close();
      await node.stop();
      await nats.remove();
    }
  });

  it('starts while NATS is away (lag null, writes refused, reads served) and joins once NATS comes up, without a restart', async () => {
    const port = await freePort();
    const stream = uniqueStream('late');
    const node = await relayNode(clusterEnv(`nats://127.0.0.1:${port}`, stream));
    const client = await RawClient.connect(node.url);
    let nats: NatsServer | undefined;
    try {
      const before = await health(node);
      expect(before.status).toBe('degraded');
      expect(before.cluster.lag).toBe(null);
      expect(before.cluster.streamSeq).toBe(null);
      const author = signer();
      const refused = await client.publish(author.sign({ content: 'too early' }));
      expect(refused[0]).toBe(false);
      expect(refused[1]).toMatch(/^error: /);
      expect(await client.req('r', { authors: [author.pubkey] })).toEqual([]);
      const metrics = await (await fetch(`${node.httpUrl}/metrics`)).text();
      expect(metrics).toMatch(/^powr_cluster_lag nan$/im);

      [nats] = tracked([await startNats(port)]);
      await until(async () => (await health(node)).status === 'ok', 15_000);
      const event = author.sign({ content: 'on time' });
      expect(await client.publish(event)).toEqual([true, '']);
      expect((await health(node)).cluster).toMatchObject({ appliedSeq: 1, streamSeq: 1, lag: 0, connected: true });
    } finally {
      client.close();
      await node.stop();
      await nats?.remove();
    }
  });

  it('keeps taking writes when one of three NATS servers (3 stream replicas) stops under load, and loses nothing acknowledged', async () => {
    const servers = tracked(await startNatsCluster());
    const urls = servers.map((s) => s.url).join(',');
    const stream = uniqueStream('replicas');
    const env = { ...clusterEnv(urls, stream), POWR_RELAY_CLUSTER_REPLICAS: '3' };
    const nodes = [await relayNode(env), await relayNode(env)];
    try {
      const clients = await Promise.all(nodes.map((n) => RawClient.connect(n.url)));
      const author = signer();
      const events = notes(author, 600, 'replicated');
      const writers = [publishAll(clients[0]!, events.slice(0, 300), 20_000), publishAll(clients[1]!, events.slice(300), 20_000)];
      while (clients[0]!.frames.filter((f) => f[0] === 'OK').length < 60) await sleep(5);
      await servers[0]!.stop();
      const acked = (await Promise.all(writers)).flat();
      // Writes went on after the server stopped: each one was acknowledged, at worst on a second try.
      expect(acked.length).toBe(600);
      await converged(nodes, stream, servers.slice(1).map((s) => s.url).join(','), 30_000);
      await everyNodeServesAtLeast(nodes, author.pubkey, acked);
      for (const c of clients) c.close();
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
      await Promise.all(servers.map((s) => s.remove()));
    }
  }, 60_000);
});
