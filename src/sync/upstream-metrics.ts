import { Counter, Gauge, type Registry } from 'prom-client';
import type { LeaseStatus } from '../store/cluster/lease.js';

const unixNow = () => Math.floor(Date.now() / 1000);

/**
 * An upstream's connection states, numbered as the powr_upstream_state gauge reports them. standby:
 * cluster mode, another node holds the upstream lease and pulls for the cluster.
 */
export const UPSTREAM_STATES = { down: 0, catchingUp: 1, live: 2, standby: 3 } as const;
export type UpstreamState = (typeof UPSTREAM_STATES)[keyof typeof UPSTREAM_STATES];

export interface UpstreamStatus {
  url: string;
  state: UpstreamState;
  /** Unix seconds of the last finished catch-up, live EOSE or event stored; 0 before the first. */
  lastSuccess: number;
  /** The newest created_at among events received from it; 0 before the first. */
  newestCreatedAt: number;
}

/**
 * Per-upstream metrics (label `upstream`, its URL), and in cluster mode who holds the upstream lease.
 * The gauges are read from the upstreams' status at scrape time; only the received counter is fed as
 * events arrive.
 */
export class UpstreamMetrics {
  readonly received: Counter<'upstream'>;

  constructor(registry: Registry, statuses: () => readonly UpstreamStatus[], lease?: () => LeaseStatus | undefined) {
    const registers = [registry];
    const labelNames = ['upstream'] as const;
    const gauge = (name: string, help: string, value: (s: UpstreamStatus) => number) =>
      new Gauge({ name, help, labelNames, registers, collect() {
        for (const s of statuses()) this.set({ upstream: s.url }, value(s));
      } });
    gauge('powr_upstream_state', 'Upstream connection: 0 down, 1 catching up, 2 live, 3 standby (another cluster node pulls)', (s) => s.state);
    gauge('powr_upstream_last_success_seconds', 'Unix time of the last catch-up, live EOSE or event stored from the upstream (0: none yet)',
      (s) => s.lastSuccess);
    gauge('powr_upstream_lag_seconds', 'Seconds since the newest created_at received from the upstream, or since its last success (NaN on standby)',
      (s) => {
        // Another node pulls: this node's figures stopped when it last did, and would only grow.
        if (s.state === UPSTREAM_STATES.standby) return NaN;
        const reference = s.newestCreatedAt || s.lastSuccess;
        return reference === 0 ? 0 : Math.max(0, unixNow() - reference);
      });
    if (lease) {
      new Gauge({ name: 'powr_upstream_lease_held', help: '1 when this cluster node holds the upstream lease (it pulls from the upstreams)', registers,
        collect() { this.set(lease()?.held ? 1 : 0); } });
      new Gauge({ name: 'powr_upstream_lease_holder', help: '1 for the cluster node holding the upstream lease, as this node last read it (none: nobody)',
        labelNames: ['node'], registers, collect() {
          this.reset();
          const holder = lease()?.holder;
          if (holder) this.set({ node: holder }, 1);
        } });
    }
    this.received = new Counter({ name: 'powr_upstream_events_received_total', help: 'Events received from the upstream, before any check',
      labelNames, registers });
  }
}
