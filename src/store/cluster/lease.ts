import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { JetStreamApiCodes, JetStreamApiError, StorageType, jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';

/**
 * The cluster's upstream lease (docs/cluster.md), which one node holds at a time: a key in a JetStream
 * key-value bucket whose entries live LEASE_TTL_MS (the bucket's max age). The holder rewrites the
 * key every RENEW_MS, each time only if it still holds the revision it wrote last (compare-and-set),
 * so no other node's write is ever overwritten; the others try to create the key, which succeeds only
 * once it is gone (aged out after its holder died or lost NATS, or deleted by a holder shutting
 * down). This module only speaks NATS; pulling while it is held is the upstreams' business.
 */

export interface LeaseOptions {
  servers: string[];
  /** The key-value bucket, created (file storage) when missing. */
  bucket: string;
  replicas: number;
  key: string;
  /** This node's name, written as the holder's. */
  node: string;
}

export interface LeaseStatus {
  /** This node's name. */
  node: string;
  /** The node holding the lease as this node last read it; null when nobody does, or NATS is out of reach. */
  holder: string | null;
  /** This node holds the lease: it may do what the lease is for. */
  held: boolean;
}

export interface LeaseHooks {
  log(level: 'info' | 'warn', msg: string, detail?: Record<string, unknown>): void;
  /** This node gained (true) or lost (false) the lease; false comes before the lease can lapse. */
  changed(held: boolean): void;
  /**
   * Why this node may not hold the lease now, or undefined when it may. While it may not, it neither
   * takes nor renews the lease: one it holds lapses, unless it may again before then.
   */
  cannotHold(): string | undefined;
}

/** How long an entry lives unless renewed: a dead holder's lease passes on within it. */
export const LEASE_TTL_MS = 5000;
/** How often the holder renews, and the others try to take the lease. */
export const RENEW_MS = 1000;
/**
 * The holder counts its lease from the moment it sent the renewal (the server counts from when it
 * stored it, later) and gives it up this much before that runs out, for timers firing late.
 */
const MARGIN_MS = 500;
const API_TIMEOUT_MS = 2000;

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)).unref());
const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
/** The key was written by someone else since (or is gone, or exists when creating). */
const lostRace = (err: unknown) => err instanceof JetStreamApiError &&
  (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

export class Lease {
  private nc: NatsConnection | undefined;
  private kv: KV | undefined;
  /** The revision of the entry this node wrote last, while it may still be the key's newest. */
  private revision: number | undefined;
  private held = false;
  private holder: string | null = null;
  /** Fires when the lease would lapse unless renewed before. */
  private lapse: NodeJS.Timeout | undefined;
  private closing = false;
  private problem: string | undefined;
  /** Tells this process's entries from those of an earlier process under the same node name. */
  private readonly token = randomUUID();
  private readonly value: string;

  constructor(private readonly options: LeaseOptions, private readonly hooks: LeaseHooks) {
    this.value = JSON.stringify({ node: options.node, token: this.token });
  }

  status(): LeaseStatus {
    return { node: this.options.node, holder: this.holder, held: this.held };
  }

  /** Takes part until close(): connects (retrying until it can), then renews or tries to take the lease every RENEW_MS. */
  async run(): Promise<void> {
    while (!this.closing) {
      const started = Date.now();
      try {
        if (!this.kv || this.nc?.isClosed()) await this.connect();
        const why = this.hooks.cannotHold();
        if (why === undefined) await this.attempt();
        else this.holder = this.held ? this.options.node : null;
        this.setProblem(why);
      } catch (err) {
        if (this.closing) return;
        // What this node holds lapses at its time unless a renewal gets through first.
        this.holder = this.held ? this.options.node : null;
        this.setProblem(`NATS: ${message(err)}`);
      }
      await delay(RENEW_MS - (Date.now() - started));
    }
  }

  /** Stops taking part; a lease held is given up at once (deleted), so another node takes it within RENEW_MS. */
  async close(): Promise<void> {
    this.closing = true;
    const revision = this.held ? this.revision : undefined;
    this.lose();
    if (revision !== undefined) await this.kv?.delete(this.options.key, { previousSeq: revision }).catch(() => undefined);
    await this.nc?.close().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const nc = await connect({
      servers: this.options.servers,
      name: `powr-relay lease ${this.options.node}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      pingInterval: 2000,
      maxPingOut: 2,
    });
    try {
      // The bucket's max age rather than per-key TTLs, which need NATS 2.11 (deploy/ runs 2.10).
      this.kv = await new Kvm(jetstream(nc, { timeout: API_TIMEOUT_MS })).create(this.options.bucket, {
        ttl: LEASE_TTL_MS, history: 1, storage: StorageType.File, replicas: this.options.replicas,
      });
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
    this.nc = nc;
    void this.watch(nc);
  }

  /** A holder cut off from NATS cannot renew, and another node may take the lease: it stops at once. */
  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' && this.held) {
        this.hooks.log('warn', 'lost the connection to NATS; giving up the upstream lease', { node: this.options.node });
        this.lose();
      }
    }
  }

  /**
   * Renews the entry this node wrote last, or creates the key when there is none. Either succeeds only
   * when nobody else wrote the key since, so a renewal that gets through proves the lease was never
   * taken over; one that loses the race ends it. (After a lost connection the entry may still be this
   * node's: the renewal then takes the lease back.)
   */
  private async attempt(): Promise<void> {
    const kv = this.kv!;
    const sent = Date.now();
    try {
      this.revision = this.revision === undefined
        ? await kv.create(this.options.key, this.value)
        : await kv.update(this.options.key, this.value, this.revision);
    } catch (err) {
      if (!lostRace(err)) throw err;
      const entry = await kv.get(this.options.key);
      const written = entry?.operation === 'PUT' ? writerOf(entry.string()) : undefined;
      if (entry && written?.token === this.token) {
        // A renewal that timed out after all: the key is still this process's, at a newer revision.
        this.revision = entry.revision;
        return;
      }
      if (this.held) this.hooks.log('warn', 'another node took the upstream lease', { node: this.options.node });
      this.revision = undefined;
      this.lose();
      this.holder = written?.node ?? null;
      return;
    }
    if (this.closing) return;
    this.holder = this.options.node;
    clearTimeout(this.lapse);
    this.lapse = setTimeout(() => {
      this.hooks.log('warn', 'could not renew the upstream lease in time; giving it up', { node: this.options.node });
      this.lose();
    }, sent + LEASE_TTL_MS - MARGIN_MS - Date.now());
    if (this.held) return;
    this.held = true;
    this.hooks.log('info', 'holding the upstream lease', { node: this.options.node });
    this.hooks.changed(true);
  }

  private lose(): void {
    clearTimeout(this.lapse);
    this.lapse = undefined;
    if (!this.held) return;
    this.held = false;
    this.holder = null;
    this.hooks.changed(false);
  }

  private setProblem(problem: string | undefined): void {
    if (problem === this.problem) return;
    if (problem) this.hooks.log('warn', 'upstream lease unavailable', { problem });
    this.problem = problem;
  }
}

/** The node and process that wrote an entry; undefined for an entry no node wrote. */
function writerOf(value: string): { node: string; token: unknown } | undefined {
  try {
    const { node, token } = JSON.parse(value) as { node?: unknown; token?: unknown };
    return typeof node === 'string' ? { node, token } : undefined;
  } catch {
    return undefined;
  }
}
