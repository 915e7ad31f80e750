import { deleteStream } from '../store/cluster/nats-log.js';
import type { ClusterStatus } from '../store/port.js';
import { freshEvents, readLines, type Corpus } from './corpus.js';
import { startRelayProcess, type RelayProcess } from './relay-process.js';
import { round, type Summary } from './stats.js';
import { ingest, queries, type IngestResult, type QueryResult } from './workloads.js';

/**
 * `npm run bench -- --cluster N`: powr-relay nodes on one NATS JetStream stream (docs/cluster.md), all
 * on this machine. It measures what clustering changes: the write rate through the stream (an OK
 * means the stream has the event and the node that took it has applied it), how fast other nodes and a new,
 * empty node apply the stream, and the CPU one read costs the node that answers it.
 */

export interface ClusterPlan {
  nodes: number;
  nats: string[];
  querySeconds: number;
}

export interface ClusterResult {
  nodes: number;
  corpus: number;
  /** 8 publishers on one node, until every OK arrives. */
  load: IngestResult;
  /** From the last OK on the loaded node until every node has applied the whole stream. */
  convergeSeconds: number;
  /** One publisher, one event at a time. */
  lone: IngestResult;
  /** 16 query clients on another node. */
  reads: QueryResult;
  /** CPU seconds the answering node used per query (all its threads), in milliseconds. */
  cpuMsPerRead: number;
  /** A node started on an empty database after the load: events applied per second while catching up. */
  catchUpEventsPerSecond: number;
}

const LONE_EVENTS = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function clusterStatus(node: RelayProcess): Promise<ClusterStatus> {
  const health = (await (await fetch(`${node.httpUrl}/health`)).json()) as { cluster: ClusterStatus };
  return health.cluster;
}

/** Waits until every node has applied the stream up to the same last sequence; resolves with it. */
async function converged(nodes: RelayProcess[], timeoutMs = 600_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await Promise.all(nodes.map(clusterStatus));
    const seq = all[0]!.appliedSeq;
    if (all.every((s) => s.lag === 0 && s.appliedSeq === seq && s.streamSeq === seq)) return seq;
    if (Date.now() > deadline) throw new Error(`cluster nodes did not converge: ${JSON.stringify(all)}`);
    await sleep(50);
  }
}

export async function clusterBench(corpus: Corpus, plan: ClusterPlan, seed: number, log: (msg: string) => void): Promise<ClusterResult> {
  const stream = `powr-bench-${process.pid}-${Date.now()}`;
  const env = {
    POWR_RELAY_RATE_LIMITS: 'off', POWR_RELAY_CLUSTER_NATS: plan.nats.join(','), POWR_RELAY_CLUSTER_STREAM: stream,
  };
  const nodes: RelayProcess[] = [];
  try {
    for (let i = 0; i < plan.nodes; i++) nodes.push(await startRelayProcess(env));
    await converged(nodes);
    const lines = await readLines(corpus.file);
    const [writer, reader] = [nodes[0]!, nodes[nodes.length - 1]!];
    log(`cluster of ${plan.nodes}: loading ${lines.length} events through node 1, 8 connections`);
    const load = await ingest(writer.url, lines, 8);
    const loaded = Date.now();
    await converged(nodes);
    const convergeSeconds = (Date.now() - loaded) / 1000;
    log(`loaded at ${Math.round(load.eventsPerSecond)} events/s; every node applied it ${convergeSeconds} s after the last OK`);

    log(`cluster of ${plan.nodes}: ${LONE_EVENTS} events from one publisher, one at a time`);
    const lone = await ingest(writer.url, freshEvents(LONE_EVENTS, seed + 3), 1, 1);
    await converged(nodes);

    log(`cluster of ${plan.nodes}: query mix on node ${plan.nodes}, 16 clients, ${plan.querySeconds} s`);
    const cpuBefore = reader.cpuSeconds();
    const reads = await queries(reader.url, corpus.meta, 16, plan.querySeconds, seed);
    const cpuMsPerRead = ((reader.cpuSeconds() - cpuBefore) * 1000) / reads.queries;

    log(`cluster of ${plan.nodes}: a new node on an empty database catches up`);
    const started = Date.now();
    const newcomer = await startRelayProcess(env);
    nodes.push(newcomer);
    const applied = await converged(nodes);
    const catchUpEventsPerSecond = applied / ((Date.now() - started) / 1000);
    return { nodes: plan.nodes, corpus: lines.length, load, convergeSeconds, lone, reads, cpuMsPerRead: round(cpuMsPerRead, 3), catchUpEventsPerSecond };
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
    await deleteStream(plan.nats, stream);
  }
}

function ms(s: Summary): string {
  return `${round(s.p50)} / ${round(s.p99)}`;
}

export function clusterMarkdown(machine: Record<string, unknown>, results: ClusterResult[]): string {
  const out: string[] = ['## powr-relay cluster benchmark (nodes on one NATS JetStream stream, all on this machine)', ''];
  out.push(`Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}; NATS, every node and the`,
    'load generator share the cores, so each added node takes CPU from the others (every node applies every write).', '');
  out.push('| nodes | events loaded | writes/s through the stream (8 publishers) | OK p50 / p99 ms | every node applied, s after last OK | one publisher OK p50 / p99 ms | reads/s on one node (16 clients) | read p50 / p99 ms | CPU per read on the answering node, ms | new node catch-up, events/s |');
  out.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    out.push(`| ${r.nodes} | ${r.corpus} | ${Math.round(r.load.eventsPerSecond)} | ${ms(r.load.ok)} | ${round(r.convergeSeconds, 1)} | ${ms(r.lone.ok)} | ` +
      `${Math.round(r.reads.queriesPerSecond)} | ${ms(r.reads.overall)} | ${r.cpuMsPerRead} | ${Math.round(r.catchUpEventsPerSecond)} |`);
  }
  return out.join('\n') + '\n';
}
