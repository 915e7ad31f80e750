import { afterAll, expect } from 'vitest';
import { eventually, sleep } from './client.js';
import { streamLastSeq, SYSTEM_NATS, type NatsServer } from './nats.js';
import { runCli, startRelay, type RunningRelay } from './relay.js';

/** The /health figures of a cluster node. */
export interface ClusterHealth {
  status: string;
  reason?: string;
  cluster: {
    appliedSeq: number; streamSeq: number | null; lag: number | null; connected: boolean;
    /** The stored ids as the node's writer keeps them (docs/cluster.md). */
    stored?: number; digest?: string;
  };
}

export async function health(relay: RunningRelay): Promise<ClusterHealth> {
  return (await fetch(`${relay.httpUrl}/health`)).json() as Promise<ClusterHealth>;
}

/** Waits until every node reports it has applied the stream up to its last sequence (asked of NATS). */
export async function converged(nodes: RunningRelay[], stream: string, servers = SYSTEM_NATS, timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const last = await streamLastSeq(servers, stream);
  for (;;) {
    const all = await Promise.all(nodes.map(health));
    if (all.every((h) => h.cluster.lag === 0 && h.cluster.appliedSeq === last)) return last;
    if (Date.now() > deadline) throw new Error(`nodes did not converge: ${JSON.stringify(all)}`);
    await sleep(100);
  }
}

/** Waits until `check` holds, polling as `eventually` does; throws past `timeoutMs`. */
export async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  await eventually('the condition', check, (holds) => holds, timeoutMs);
}

export function clusterEnv(servers: string, stream: string): Record<string, string> {
  return { POWR_RELAY_CLUSTER_NATS: servers, POWR_RELAY_CLUSTER_STREAM: stream, POWR_RELAY_RATE_LIMITS: 'off' };
}

/**
 * Relay nodes and NATS servers a test file starts, stopped after the file even when a test timed out
 * before its own clean-up. Call at the top of the file.
 */
export function stoppedAfterFile(): {
  relayNode(env: Record<string, string>, db?: string): Promise<RunningRelay>;
  tracked(servers: NatsServer[]): NatsServer[];
} {
  const started: { stop(): Promise<unknown> }[] = [];
  afterAll(async () => {
    await Promise.all(started.map((s) => s.stop().catch(() => undefined)));
  });
  return {
    async relayNode(env, db) {
      const relay = await startRelay(env, db);
      started.push(relay);
      return relay;
    },
    tracked(servers) {
      for (const server of servers) started.push({ stop: () => server.remove() });
      return servers;
    },
  };
}

/** `powr-relay export` of a node's database, as an operator would run it beside the node. */
export async function exported(node: RunningRelay): Promise<string> {
  const run = await runCli(['export'], { POWR_RELAY_DB: node.db });
  expect(run.code, run.stderr).toBe(0);
  return run.stdout;
}
