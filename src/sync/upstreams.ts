import NDK, { type NDKFilter, type NDKRelay, type NDKSubscription } from '@nostr-dev-kit/ndk';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import WebSocket from 'ws';
import type { Config } from '../config/settings.js';
import { viewersFor } from '../powr/privacy.js';
import { checkEventShape } from '../protocol/event.js';
import { matchesFilter, parseFilter, type Filter } from '../protocol/filter.js';
import type { Lease, LeaseStatus } from '../store/cluster/lease.js';
import type { StoragePort } from '../store/port.js';
import type { Ingest, Publisher } from '../relay/ingest.js';
import { RemoteRelay } from './remote-relay.js';
import { fetchNeeded, negentropyDifference, pageRemote } from './remote-sync.js';
import { UPSTREAM_STATES, UpstreamMetrics, type UpstreamState, type UpstreamStatus } from './upstream-metrics.js';

// NDK opens its sockets with the global WebSocket, which Node 20 does not have; ws speaks the same API.
globalThis.WebSocket ??= WebSocket as unknown as typeof globalThis.WebSocket;

/** Longest wait between reconnection attempts, unless upstreamRetrySeconds is longer. */
const MAX_BACKOFF_SECONDS = 60;
/**
 * The live subscription starts this long before the catch-up did: events published while the
 * catch-up ran, and clocks that disagree a little, are not missed (duplicates cost a look-up).
 */
const SINCE_MARGIN_SECONDS = 60;
const CONNECT_TIMEOUT_MS = 10_000;
/** How often a node that took the upstream lease looks whether it has applied the stream yet. */
const STREAM_POLL_MS = 100;

/** Upstream events skip access rules and rate limits, not verification: ingest checks ids and signatures. */
const UPSTREAM_PUBLISHER: Publisher = { ip: 'upstream', authed: new Set(), trusted: true };

const unixNow = () => Math.floor(Date.now() / 1000);
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface UpstreamDeps {
  config: Config;
  store: StoragePort;
  ingest: Ingest;
  log: Logger;
  metrics: UpstreamMetrics;
  /** upstreamFilter, raw (sent upstream) and parsed (to check what comes back and to list ours). */
  filters: { raw: Record<string, unknown>; parsed: Filter }[];
}

/**
 * One upstream relay, followed until stop(): each connection starts with a catch-up and goes on
 * with an NDK live subscription; a lost connection is retried with exponential backoff. It only
 * ever reads from the upstream. Once stopped it stays stopped (following again is a new Upstream).
 */
class Upstream {
  private stopped = false;
  private failures = 0;
  private remote: RemoteRelay | undefined;
  private ndk: { relay: NDKRelay; subscription?: NDKSubscription } | undefined;
  private wake: (() => void) | undefined;

  /** `status` outlives this object: it is what the metrics read, in every tenure. */
  constructor(readonly status: UpstreamStatus, private readonly deps: UpstreamDeps) {}

  async run(): Promise<void> {
    const log = this.deps.log.child({ upstream: this.status.url });
    while (!this.stopped) {
      try {
        await this.follow(log);
        if (!this.stopped) log.warn('upstream went away');
      } catch (err) {
        if (!this.stopped) log.warn({ reason: (err as Error).message }, 'upstream unreachable');
      }
      this.disconnect();
      if (this.stopped) return;
      this.setState(UPSTREAM_STATES.down);
      const first = this.deps.config.upstreamRetrySeconds;
      const seconds = Math.min(first * 2 ** this.failures, Math.max(MAX_BACKOFF_SECONDS, first));
      this.failures++;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, seconds * 1000);
        this.wake = () => (clearTimeout(timer), resolve());
      });
    }
  }

  stop(): void {
    this.stopped = true;
    this.disconnect();
    this.wake?.();
  }

  /** One connection: catch up, then follow live until the upstream goes away. */
  private async follow(log: Logger): Promise<void> {
    this.setState(UPSTREAM_STATES.catchingUp);
    const startedAt = unixNow();
    this.remote = await RemoteRelay.connect(this.status.url);
    let paging: string | undefined;
    for (const filter of this.deps.filters) paging = (await this.catchUp(this.remote, filter)) ?? paging;
    this.remote.close();
    this.remote = undefined;
    this.succeeded();
    log.info({ method: paging ? `REQ paging (${paging})` : 'NIP-77' }, 'upstream caught up');

    const ndk = new NDK({ explicitRelayUrls: [this.status.url], enableOutboxModel: false, autoConnectUserRelays: false });
    const relay = [...ndk.pool.relays.values()][0];
    if (!relay) throw new Error('NDK has no relay for this URL');
    // Held before connecting, so disconnect() can switch off NDK's own retries even if connecting fails.
    this.ndk = { relay };
    await ndk.connect(CONNECT_TIMEOUT_MS);
    if (this.stopped) return;
    if (!relay.connected) throw new Error(`no connection within ${CONNECT_TIMEOUT_MS / 1000} s`);
    const since = startedAt - SINCE_MARGIN_SECONDS;
    const filters = this.deps.filters.map(({ raw }) =>
      ({ ...raw, since: Math.max(since, typeof raw.since === 'number' ? raw.since : 0) }) as NDKFilter);
    await new Promise<void>((resolve, reject) => {
      relay.once('disconnect', () => resolve());
      const subscription = ndk.subscribe(filters, { closeOnEose: false, groupable: false, skipVerification: true }, {
        onEvent: (event) => void this.receive(event.rawEvent()),
        onEose: () => {
          this.failures = 0;
          this.succeeded();
          this.setState(UPSTREAM_STATES.live);
          log.info('upstream live');
        },
      });
      subscription.on('closed', (_relay, reason: string) => reject(new Error(`the upstream closed the subscription: ${reason}`)));
      if (this.ndk) this.ndk.subscription = subscription;
    });
  }

  /**
   * Fetches what the upstream has and this relay lacks: NIP-77 where it speaks it, else REQ paging
   * (resolving with why it did not speak NIP-77).
   */
  private async catchUp(remote: RemoteRelay, filter: UpstreamDeps['filters'][number]): Promise<string | undefined> {
    const { config, store } = this.deps;
    const ours = await store.syncItems(filter.parsed, unixNow(), Number.MAX_SAFE_INTEGER, { viewers: viewersFor(config) });
    const pending: Promise<void>[] = [];
    const written = async () => void (await Promise.all(pending.splice(0)));
    const difference = await negentropyDifference(remote, filter.raw, ours);
    if (typeof difference === 'string') {
      const ourIds = new Set(ours.map(([, id]) => id));
      await pageRemote(remote, filter.raw, (raw, id) => {
        if (!ourIds.has(id)) pending.push(this.receive(raw));
      }, written);
      return difference;
    }
    await fetchNeeded(remote, difference.need, (raw) => pending.push(this.receive(raw)), written);
    return undefined;
  }

  /** An event from the upstream: only what upstreamFilter asks for, then the relay's own checks. */
  private async receive(raw: unknown): Promise<void> {
    if (this.stopped) return;
    this.deps.metrics.received.inc({ upstream: this.status.url });
    const shape = checkEventShape(raw, this.deps.config, unixNow());
    if (!shape.ok || !this.deps.filters.some((f) => matchesFilter(shape.value, f.parsed))) return;
    let result;
    try {
      result = await this.deps.ingest.submit(raw, UPSTREAM_PUBLISHER);
    } catch (err) {
      this.deps.log.error({ err, upstream: this.status.url }, 'storing an upstream event failed');
      return;
    }
    if (!result.accepted) {
      this.deps.log.debug({ upstream: this.status.url, id: shape.value.id, reason: result.message }, 'upstream event refused');
      return;
    }
    this.status.newestCreatedAt = Math.max(this.status.newestCreatedAt, shape.value.created_at);
    this.succeeded();
  }

  private succeeded(): void {
    this.status.lastSuccess = unixNow();
  }

  private setState(state: UpstreamState): void {
    // Once stopped, the status is its owner's (standby, or the next Upstream's).
    if (!this.stopped) this.status.state = state;
  }

  private disconnect(): void {
    this.remote?.close();
    this.remote = undefined;
    if (!this.ndk) return;
    const { relay, subscription } = this.ndk;
    this.ndk = undefined;
    subscription?.stop();
    // NDK reconnects on its own, on its own schedule; this class owns the retries and their backoff.
    relay.connectivity.resetReconnectionState();
    relay.disconnect();
  }
}

/**
 * The relays named by `upstreams`, each followed in the background; started and stopped by `start`.
 * In cluster mode (`node` given) only the node holding the cluster's upstream lease follows them,
 * for every node: what it fetches goes through the stream like any write.
 */
export class Upstreams {
  private readonly statuses: UpstreamStatus[];
  private readonly deps: UpstreamDeps;
  /** The upstreams followed now; none while this node stands by. */
  private following: Upstream[] = [];
  private lease: Lease | undefined;
  /** Counts the lease's changes, so a takeover still waiting for the stream knows when it is over. */
  private tenure = 0;
  /** This node's name in the cluster; undefined on a single node. */
  private readonly node: string | undefined;

  constructor(deps: { config: Config; store: StoragePort; ingest: Ingest; log: Logger; registry: Registry; node?: string }) {
    const { config, node } = deps;
    this.node = node;
    const filters = config.upstreamFilter.map((raw) => {
      const parsed = parseFilter(raw, config);
      // Checked against these limits when the settings were loaded.
      if (!parsed.ok) throw new Error(`upstreamFilter: ${parsed.reason}`);
      return { raw, parsed: parsed.value };
    });
    const state = node === undefined ? UPSTREAM_STATES.down : UPSTREAM_STATES.standby;
    this.statuses = config.upstreams.map((url) => ({ url, state, lastSuccess: 0, newestCreatedAt: 0 }));
    const metrics = new UpstreamMetrics(deps.registry, () => this.statuses, node === undefined ? undefined : () => this.leaseStatus());
    this.deps = { ...deps, metrics, filters };
  }

  /** The upstream lease as this node sees it; undefined on a single node. */
  leaseStatus(): LeaseStatus | undefined {
    return this.lease?.status() ?? (this.node === undefined ? undefined : { node: this.node, holder: null, held: false });
  }

  async start(): Promise<void> {
    if (this.node === undefined) return this.follow();
    const { config, log } = this.deps;
    // Loaded only in cluster mode: a single node never carries the NATS client.
    const { Lease } = await import('../store/cluster/lease.js');
    this.lease = new Lease({
      servers: config.clusterNats, bucket: `${config.clusterStream}-upstreams`, replicas: config.clusterReplicas, key: 'holder', node: this.node,
    }, {
      log: (level, msg, detail) => log[level](detail ?? {}, msg),
      changed: (held) => (held ? void this.takeOver() : this.standBy()),
      // What it would pull could not reach the stream (its own connection to NATS is the writer thread's).
      cannotHold: () => (this.deps.store.cluster()?.connected ? undefined : 'this node cannot publish to the cluster\'s stream'),
    });
    void this.lease.run();
  }

  async stop(): Promise<void> {
    this.standBy();
    await this.lease?.close();
  }

  /**
   * This node took the lease: once it has applied the stream as far as NATS says it goes, the previous
   * holder's pulls are in its database, and each upstream's catch-up (a comparison with it) fetches
   * only what they did not bring.
   */
  private async takeOver(): Promise<void> {
    const tenure = ++this.tenure;
    let target: number | undefined;
    while (tenure === this.tenure) {
      const cluster = this.deps.store.cluster();
      if (cluster?.connected && cluster.streamSeq !== null) {
        target ??= cluster.streamSeq;
        if (cluster.appliedSeq >= target) {
          this.deps.log.info({ node: this.node, appliedSeq: cluster.appliedSeq }, 'pulling from upstreams for the cluster');
          return this.follow();
        }
      }
      await delay(STREAM_POLL_MS);
    }
  }

  /** Stops pulling at once: the lease is lost (or the relay stops). */
  private standBy(): void {
    this.tenure++;
    for (const upstream of this.following) upstream.stop();
    this.following = [];
    if (this.node !== undefined) for (const status of this.statuses) status.state = UPSTREAM_STATES.standby;
  }

  private follow(): void {
    this.following = this.statuses.map((status) => new Upstream(status, this.deps));
    for (const upstream of this.following) void upstream.run();
  }
}
