import { spawn } from 'node:child_process';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NostrEvent } from 'nostr-tools/pure';
import { RawClient, signer, sleep } from './helpers/client.js';
import { clusterEnv, converged, health, stoppedAfterFile } from './helpers/cluster.js';
import { deleteStream, startNats, SYSTEM_NATS, uniqueStream, type NatsServer } from './helpers/nats.js';
import { runCli, type RunningRelay } from './helpers/relay.js';
import { RELAY_ENTRY } from '../src/bench/relay-process.js';

/**
 * `powr-relay cluster check` against real nodes on real NATS: it passes on a converged cluster, waits
 * for a node behind the others rather than calling it different, and fails naming the node whose
 * database was changed behind its back (while it ran, or while it was stopped).
 */

const { relayNode, tracked } = stoppedAfterFile();

function check(nodes: RunningRelay[], extra: string[] = [], timeoutMs = 20_000) {
  return runCli(['cluster', 'check', ...nodes.map((n) => n.httpUrl), ...extra], {}, '', timeoutMs);
}

/** Publishes each event on its node and expects OK true. */
async function publishOn(node: RunningRelay, events: NostrEvent[]): Promise<void> {
  const client = await RawClient.connect(node.url);
  for (const e of events) expect(await client.publish(e), e.content).toEqual([true, '']);
  client.close();
}

/** Deletes a stored event's row with the sqlite3 library, as something other than the relay would. */
function deleteRowBehindItsBack(db: string, id: string): void {
  const conn = new BetterSqlite3(db);
  try {
    conn.pragma('busy_timeout = 5000');
    expect(conn.prepare('DELETE FROM nostr_events WHERE id = ?').run(Buffer.from(id, 'hex')).changes).toBe(1);
  } finally {
    conn.close();
  }
}

/** The digest column of the check's table, by node URL. */
function digests(stdout: string): Map<string, string> {
  return new Map([...stdout.matchAll(/^(http:\S+)\s+\d+\s+\d+\s+([0-9a-f]{32})$/gm)].map((m) => [m[1]!, m[2]!]));
}

describe('cluster check: three nodes on one stream', () => {
  const stream = uniqueStream('check');
  let nodes: RunningRelay[] = [];
  const alice = signer();

  beforeAll(async () => {
    nodes = await Promise.all([0, 1, 2].map(() => relayNode(clusterEnv(SYSTEM_NATS, stream))));
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await deleteStream(SYSTEM_NATS, stream);
  });

  it('passes after writes on every node (replacements and a deletion among them), with the same figures on /health', async () => {
    const bob = signer();
    const at = Math.floor(Date.now() / 1000) - 60;
    const notes = nodes.map((_, i) => Array.from({ length: 10 }, (_, j) => alice.sign({ kind: 1, content: `node ${i} note ${j}` })));
    for (const [i, node] of nodes.entries()) await publishOn(node, notes[i]!);
    // A profile replaced on another node, and a note deleted (NIP-09) from a third.
    await publishOn(nodes[0]!, [bob.sign({ kind: 0, created_at: at, content: '{"name":"first"}' })]);
    await publishOn(nodes[1]!, [bob.sign({ kind: 0, created_at: at + 1, content: '{"name":"second"}' })]);
    await publishOn(nodes[2]!, [alice.sign({ kind: 5, tags: [['e', notes[0]![0]!.id]] })]);
    const seq = await converged(nodes, stream);

    const run = await check(nodes);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    // 30 notes less the deleted one, the deletion, the newer profile.
    expect(run.stdout).toContain(`the 3 nodes agree: 31 events at stream sequence ${seq}`);
    const table = digests(run.stdout);
    expect([...table.keys()].sort()).toEqual(nodes.map((n) => n.httpUrl).sort());
    expect(new Set(table.values()).size).toBe(1);
    // /health keeps the figures the writer counted as it applied: the same on every node, and the recount's.
    const figures = (await Promise.all(nodes.map(health))).map((h) => h.cluster);
    for (const f of figures) expect(f).toMatchObject({ appliedSeq: seq, stored: 31, digest: [...table.values()][0] });
  });

  it('fails naming the node whose database lost a row while it ran', async () => {
    const victim = nodes[1]!;
    const note = alice.sign({ kind: 1, content: 'to be lost on one node' });
    await publishOn(nodes[0]!, [note]);
    await converged(nodes, stream);
    deleteRowBehindItsBack(victim.db, note.id);

    const run = await check(nodes);
    expect(run.code, run.stdout + run.stderr).toBe(1);
    expect(run.stdout).toContain(`differ from the other 2 nodes: ${victim.httpUrl}\n`);
    expect(run.stdout).toContain(`${victim.httpUrl}: its database was changed outside the relay (31 events stored, 32 applied)`);
    const table = digests(run.stdout);
    expect(table.get(nodes[0]!.httpUrl)).toBe(table.get(nodes[2]!.httpUrl));
    expect(table.get(victim.httpUrl)).not.toBe(table.get(nodes[0]!.httpUrl));
    // powr-relay check on the node's database (beside it, as an operator would) says so too.
    const local = await runCli(['check'], { POWR_RELAY_DB: victim.db });
    expect(local.code).toBe(1);
    expect(local.stdout).toMatch(/stored events: 31, digest [0-9a-f]{32}, but the relay kept 32 \(digest [0-9a-f]{32}\): the database was changed outside the relay/);
  });

  it('refuses a URL that is not a node\'s HTTP URL, and names a node it cannot reach, in one line each', async () => {
    const bad = await runCli(['cluster', 'check', nodes[0]!.httpUrl, 'relay.example.com'], {});
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('powr-relay: cluster check: "relay.example.com" is not a node\'s HTTP URL (http:// or https://)\n');
    const gone = await relayNode(clusterEnv(SYSTEM_NATS, stream));
    await gone.stop();
    const run = await check([nodes[0]!, nodes[2]!, gone]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`powr-relay: cluster check: ${gone.httpUrl}: cannot reach it (ECONNREFUSED)\n`);
    // The nodes it reached still agree.
    expect(run.stdout).toContain('the 2 nodes agree');
  });
});

describe('cluster check: two nodes, a NATS server of the test\'s own', () => {
  let nats: NatsServer;
  const stream = uniqueStream('check-two');
  let nodes: RunningRelay[] = [];
  const author = signer();
  const notes = (n: number, label: string) => Array.from({ length: n }, (_, i) => author.sign({ kind: 1, content: `${label} ${i}` }));

  beforeAll(async () => {
    nats = tracked([await startNats()])[0]!;
    nodes = await Promise.all([0, 1].map(() => relayNode(clusterEnv(nats.url, stream))));
  });

  it('waits for a node behind the others instead of calling it different', async () => {
    await publishOn(nodes[0]!, notes(5, 'first'));
    await converged(nodes, stream, nats.url);
    // B stops; A takes more; then NATS goes, and B comes back unable to follow the stream: it stays behind.
    await nodes[1]!.stop();
    await publishOn(nodes[0]!, notes(5, 'while B was away'));
    await nats.stop();
    nodes[1] = await relayNode(clusterEnv(nats.url, stream), nodes[1]!.db);

    const behind = await check(nodes, ['--wait', '1']);
    expect(behind.code).toBe(1);
    expect(behind.stderr).toContain('the nodes did not reach one applied sequence within 1 s');
    expect(behind.stderr).toContain(`${nodes[0]!.httpUrl} at 10, ${nodes[1]!.httpUrl} at 5`);
    expect(behind.stdout).not.toContain('differ');

    // NATS back once a check is waiting: B catches up, and the nodes agree.
    const waiting = spawn(process.execPath, [RELAY_ENTRY, 'cluster', 'check', ...nodes.map((n) => n.httpUrl)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const run = { stdout: '', stderr: '', code: null as number | null };
    waiting.stdout.on('data', (d) => (run.stdout += d));
    waiting.stderr.on('data', (d) => (run.stderr += d));
    const exited = new Promise<void>((resolve) => waiting.on('exit', (code) => (run.code = code, resolve())));
    for (const deadline = Date.now() + 20_000; !run.stderr.includes('waiting up to'); await sleep(50)) {
      if (Date.now() > deadline || run.code !== null) throw new Error(`the check did not wait: ${JSON.stringify(run)}`);
    }
    expect(run.stderr).toContain(`for the nodes to reach one applied sequence (${nodes[0]!.httpUrl} at 10, ${nodes[1]!.httpUrl} at 5)`);
    await nats.start();
    await exited;
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain('the 2 nodes agree: 10 events at stream sequence 10');
    expect(run.stdout).toMatch(/waited \d+\.\d s for the nodes to reach one applied sequence/);
  }, 60_000);

  it('fails naming both nodes after a row was deleted while one was stopped, and says which was changed', async () => {
    const [kept, victim] = nodes as [RunningRelay, RunningRelay];
    const lost = notes(1, 'lost while stopped')[0]!;
    // Both nodes back on NATS (a test before may have stopped it): a write is refused while a node is not.
    await converged(nodes, stream, nats.url);
    await publishOn(kept, [lost]);
    await converged(nodes, stream, nats.url);
    await victim.stop();
    deleteRowBehindItsBack(victim.db, lost.id);
    nodes[1] = await relayNode(clusterEnv(nats.url, stream), victim.db);
    await converged(nodes, stream, nats.url);

    const run = await check(nodes);
    expect(run.code, run.stdout + run.stderr).toBe(1);
    expect(run.stdout).toContain(`the nodes differ: ${kept.httpUrl}, ${nodes[1]!.httpUrl} (no majority to tell which is right)`);
    expect(run.stdout).toContain(`${nodes[1]!.httpUrl}: its database was changed outside the relay (10 events stored, 11 applied)`);
    expect(run.stdout).not.toContain(`${kept.httpUrl}: its database`);
  });
});
