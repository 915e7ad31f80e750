import { Gauge, Histogram, type Registry } from 'prom-client';
import type { OptimiseFailureCode } from './optimise-errors.js';
import type { MediaKind } from './optimise-job.js';

/** One finished optimisation, as the metrics see it. */
export interface OptimiseReport {
  kind: MediaKind;
  outcome: 'ok' | OptimiseFailureCode;
  seconds: number;
}

/**
 * The optimiser's metrics on the relay's registry: its queue (read at scrape time) and the time each
 * job took. Returns the function that records a finished job.
 */
export function optimiseMetrics(registry: Registry, depth: () => { running: number; waiting: number }): (report: OptimiseReport) => void {
  const registers = [registry];
  new Gauge({ name: 'powr_media_optimise_queue_depth', help: 'Media optimisations running and waiting for a thread',
    labelNames: ['state'], registers,
    collect() {
      const d = depth();
      this.set({ state: 'running' }, d.running);
      this.set({ state: 'waiting' }, d.waiting);
    } });
  const seconds = new Histogram({ name: 'powr_media_optimise_seconds', help: 'Time of one media optimisation, by media kind and outcome',
    labelNames: ['kind', 'outcome'], registers, buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300] });
  return (report) => seconds.observe({ kind: report.kind, outcome: report.outcome }, report.seconds);
}
