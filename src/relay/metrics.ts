import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ClusterStatus, CommittedChange, WriteHealth } from '../store/port.js';
import { databaseBytes } from '../store/sqlite/database.js';
import { threadCpuKnown, threadCpuSeconds } from '../workers/thread-cpu.js';

/** Kinds reported by number; any other kind is "other", so a client cannot blow up label cardinality. */
const NAMED_KINDS = new Set([0, 1, 3, 5, 6, 7, 1111, 1301, 10002, 30003, 30004, 30023, 33401, 33402, 33403]);

export function kindLabel(kind: number): string {
  return NAMED_KINDS.has(kind) ? String(kind) : 'other';
}

/** What the gauges read when Prometheus scrapes: live counts owned elsewhere. */
export interface MetricSources {
  connections(): number;
  subscriptions(): number;
  workerQueue(): number;
  /** Reads waiting for or running on the storage's reader threads. */
  readerQueue(): number;
  cache(): { hits: number; misses: number } | undefined;
  databaseFile: string;
  /** Whether write transactions fail (disk full, I/O errors). */
  writes(): WriteHealth;
  /** Cluster mode only: this node's place in the cluster's stream. */
  cluster?: () => ClusterStatus | undefined;
}

/**
 * The relay's Prometheus metrics, served at GET /metrics. Counters and histograms are fed where things
 * happen; gauges are read at scrape time, so an idle relay costs nothing.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly messages: Counter<'verb'>;
  readonly events: Counter<'kind' | 'outcome' | 'reason'>;
  readonly writeBatch: Histogram;
  readonly commitSeconds: Histogram;
  readonly querySeconds: Histogram<'shape'>;
  readonly reqs: Counter<'answered'>;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'powr_' });
    new Gauge({ name: 'powr_connections', help: 'Open WebSocket connections', registers, collect() { this.set(sources.connections()); } });
    new Gauge({ name: 'powr_subscriptions', help: 'Open live subscriptions', registers, collect() { this.set(sources.subscriptions()); } });
    new Gauge({ name: 'powr_worker_queue_depth', help: 'Events waiting for or in verification threads', registers,
      collect() { this.set(sources.workerQueue()); } });
    new Gauge({ name: 'powr_reader_queue_depth', help: 'Reads (REQ, COUNT, bundles, catalogue) waiting for or on reader threads', registers,
      collect() { this.set(sources.readerQueue()); } });
    new Gauge({ name: 'powr_database_bytes', help: 'Size of the SQLite database and its WAL', registers,
      collect() { this.set(databaseBytes(sources.databaseFile)); } });
    const cache = (pick: 'hits' | 'misses') => ({
      name: `powr_bundle_cache_${pick}`, help: `Bundle cache ${pick} since start`, registers,
      collect(this: Gauge) { this.set(sources.cache()?.[pick] ?? 0); },
    });
    new Gauge(cache('hits'));
    new Gauge(cache('misses'));
    new Gauge({ name: 'powr_writes_failing', help: '1 while write transactions fail (disk full, I/O errors): /health says degraded', registers,
      collect() { this.set(sources.writes().failing ? 1 : 0); } });
    new Counter({ name: 'powr_write_failures_total', help: 'Write transactions (and write-ahead log truncations) the database failed: disk full, I/O errors, locked', registers,
      collect() {
        // Counted by the writer thread; a counter, so rate() and resets work as for any other.
        this.reset();
        this.inc(sources.writes().failedTransactions);
      } });
    if (threadCpuKnown()) {
      new Counter({ name: 'powr_thread_cpu_seconds_total', help: 'CPU time (user + system) of the relay\'s threads by role; "other" is V8\'s and libuv\'s own threads',
        labelNames: ['thread'], registers,
        collect() {
          // Read from /proc at scrape; stopped threads stay counted with their role (thread-cpu.ts).
          this.reset();
          for (const [thread, seconds] of threadCpuSeconds()) this.inc({ thread }, seconds);
        } });
    }
    if (sources.cluster) this.clusterGauges(sources.cluster);
    this.messages = new Counter({ name: 'powr_messages_total', help: 'Client messages by verb', labelNames: ['verb'], registers });
    this.events = new Counter({ name: 'powr_events_total', help: 'Published events by kind, outcome and refusal prefix',
      labelNames: ['kind', 'outcome', 'reason'], registers });
    this.writeBatch = new Histogram({ name: 'powr_write_batch_events', help: 'Events per write transaction', registers,
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] });
    this.commitSeconds = new Histogram({ name: 'powr_write_commit_seconds', help: 'Time to apply and commit one write batch', registers,
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1] });
    this.reqs = new Counter({ name: 'powr_reqs_total', help: 'REQs by what answered their stored part: a reader thread, the answer cache, or the relay without either (nothing to read, ids of cached bundle roots)',
      labelNames: ['answered'], registers });
    this.querySeconds = new Histogram({ name: 'powr_query_seconds', help: 'REQ time in the database by filter shape (driving index)',
      labelNames: ['shape'], registers, buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5] });
  }

  /** The figures of /health's "cluster" object; lag is absent until the node has reached NATS. */
  private clusterGauges(status: () => ClusterStatus | undefined): void {
    const registers = [this.registry];
    const gauge = (name: string, help: string, read: (s: ClusterStatus) => number | null) =>
      new Gauge({ name, help, registers, collect() {
        const s = status();
        const value = s && read(s);
        // NaN, not 0, while unknown: a lag of 0 would claim the node is caught up.
        this.set(value === null || value === undefined ? NaN : value);
      } });
    gauge('powr_cluster_applied_seq', 'Last stream sequence applied to this node\'s database', (s) => s.appliedSeq);
    gauge('powr_cluster_stream_seq', 'Last sequence of the cluster\'s stream as NATS last reported it', (s) => s.streamSeq);
    gauge('powr_cluster_lag', 'Writes in the stream this node has not applied yet', (s) => s.lag);
    gauge('powr_cluster_connected', '1 when this node can publish to the cluster\'s stream', (s) => (s.connected ? 1 : 0));
  }

  /** Change-feed subscriber: the size and time of each of this process's write transactions. */
  readonly onChange = (change: CommittedChange): void => {
    if (!change.batch) return;
    this.writeBatch.observe(change.batch.events);
    this.commitSeconds.observe(change.batch.seconds);
  };

  /** Counts one published event by what happened to it; refusals by their NIP-01 prefix. */
  event(kind: number, accepted: boolean, message: string): void {
    const prefix = /^([a-z-]+):/.exec(message)?.[1] ?? '';
    const outcome = !accepted ? 'rejected' : prefix === 'duplicate' ? 'duplicate' : 'accepted';
    this.events.inc({ kind: kindLabel(kind), outcome, reason: accepted ? '' : prefix || 'other' });
  }
}
