import { BlockList, isIP } from 'node:net';
import type { Config } from '../config/settings.js';
import { normalizeAddress } from '../http/address.js';

const MINUTE_MS = 60_000;

function blockList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  }
  return list;
}

function contains(list: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * Token buckets by key: `perMinute` tokens refilled evenly over a minute, holding at most `perMinute`
 * (so a client may burst a minute's worth). A bucket unused for a minute is full again, which is
 * exactly what forgetting it means, so idle keys are swept once a minute. A plain Map grows with the
 * keys in use; a preallocated LRU of the same reach cost 26 MiB of memory at start.
 */
class Buckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private sweptAt = performance.now();

  constructor(private readonly perMinute: number) {}

  take(key: string, now = performance.now()): boolean {
    if (now - this.sweptAt > MINUTE_MS) this.sweep(now);
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = { tokens: this.perMinute, at: now }));
    b.tokens = Math.min(this.perMinute, b.tokens + ((now - b.at) * this.perMinute) / MINUTE_MS);
    b.at = now;
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    return ok;
  }

  private sweep(now: number): void {
    this.sweptAt = now;
    for (const [key, b] of this.buckets) if (now - b.at > MINUTE_MS) this.buckets.delete(key);
  }
}

/**
 * Every abuse limit of the relay: connections per address, and token buckets for new connections,
 * EVENTs, REQs and media uploads per address and events per author. Addresses on the allowlist,
 * and everything when `rateLimits` is off, pass.
 */
export class RateLimits {
  private readonly enabled: boolean;
  private readonly allowlist: BlockList;
  private readonly proxies: BlockList;
  private readonly open = new Map<string, number>();
  private readonly connections: Buckets;
  private readonly events: Buckets;
  private readonly authors: Buckets;
  private readonly reqs: Buckets;
  private readonly uploads: Buckets;

  constructor(private readonly config: Config) {
    this.enabled = config.rateLimits === 'on';
    this.allowlist = blockList(config.ipAllowlist);
    this.proxies = blockList(config.trustedProxies);
    this.connections = new Buckets(config.connectionsPerMinutePerIp);
    this.events = new Buckets(config.eventsPerMinutePerIp);
    this.authors = new Buckets(config.eventsPerMinutePerPubkey);
    this.reqs = new Buckets(config.reqsPerMinutePerIp);
    this.uploads = new Buckets(config.mediaUploadsPerMinutePerIp);
  }

  /**
   * The client's address. Behind a reverse proxy every peer is the proxy, so X-Forwarded-For is
   * believed only when the peer is a trusted proxy, and then read from the right: the first hop that
   * is not itself a trusted proxy is the client (anything left of it could be forged by the client).
   */
  clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined): string {
    const address = normalizeAddress(peer ?? 'unknown');
    if (forwardedFor === undefined || !contains(this.proxies, address)) return address;
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor)
      .split(',').map((h) => normalizeAddress(h.trim())).filter((h) => isIP(h) !== 0);
    for (let i = hops.length - 1; i >= 0; i--) if (!contains(this.proxies, hops[i]!)) return hops[i]!;
    return hops[0] ?? address;
  }

  private limited(ip: string): boolean {
    return this.enabled && !contains(this.allowlist, ip);
  }

  /** Registers a new connection; returns why it is refused, if it is. */
  connect(ip: string): string | undefined {
    if (this.limited(ip)) {
      if ((this.open.get(ip) ?? 0) >= this.config.maxConnectionsPerIp) {
        return `rate-limited: too many open connections from your address (max ${this.config.maxConnectionsPerIp})`;
      }
      if (!this.connections.take(ip)) return 'rate-limited: too many new connections from your address; wait a minute';
    }
    this.open.set(ip, (this.open.get(ip) ?? 0) + 1);
    return undefined;
  }

  disconnect(ip: string): void {
    const n = (this.open.get(ip) ?? 1) - 1;
    if (n > 0) this.open.set(ip, n);
    else this.open.delete(ip);
  }

  /** Before any verification work is spent on an EVENT. */
  event(ip: string): string | undefined {
    if (this.limited(ip) && !this.events.take(ip)) return 'rate-limited: too many events from your address; slow down';
    return undefined;
  }

  /** After the signature proved who the author is. */
  author(ip: string, pubkey: string): string | undefined {
    if (this.limited(ip) && !this.authors.take(pubkey)) return 'rate-limited: too many events by this author; slow down';
    return undefined;
  }

  req(ip: string): string | undefined {
    if (this.limited(ip) && !this.reqs.take(ip)) return 'rate-limited: too many requests from your address; slow down';
    return undefined;
  }

  /** Blossom requests that store or change something: uploads, mirrors, deletes, reports. */
  mediaWrite(ip: string): string | undefined {
    if (this.limited(ip) && !this.uploads.take(ip)) return 'rate-limited: too many media uploads from your address; wait a minute';
    return undefined;
  }
}
