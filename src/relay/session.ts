import type { Logger } from 'pino';
import WebSocket from 'ws';
import type { Config } from '../config/settings.js';
import { idOfCanonical, type NostrEvent } from '../protocol/event.js';
import { matchesFilter, parseFilter, type Filter } from '../protocol/filter.js';
import { frames, parseClientMessage, sniffEventId } from '../protocol/messages.js';
import type { Bundles } from '../store/bundles.js';
import type { EventStore } from '../store/event-store.js';
import type { Ingest } from './ingest.js';
import type { LiveSubscription, LiveSubscriptions } from './live-subscriptions.js';

export interface SessionDeps {
  config: Config;
  store: EventStore;
  bundles: Bundles;
  ingest: Ingest;
  live: LiveSubscriptions;
  log: Logger;
}

const unixNow = () => Math.floor(Date.now() / 1000);

/** One client connection: its subscriptions, and the translation of its messages into relay actions. */
export class Session {
  private readonly subscriptions = new Map<string, LiveSubscription>();
  private closed = false;
  alive = true;

  constructor(
    private readonly ws: WebSocket,
    private readonly deps: SessionDeps,
    readonly log: Logger,
  ) {}

  send(frame: string): void {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) return;
    // A client that stops reading must not make the relay buffer without bound.
    if (this.ws.bufferedAmount + frame.length > this.deps.config.maxOutboundBytes) {
      this.log.warn({ buffered: this.ws.bufferedAmount }, 'client is not reading; disconnecting');
      this.ws.terminate();
      this.dispose();
      return;
    }
    this.ws.send(frame);
  }

  handle(data: WebSocket.RawData, isBinary: boolean): void {
    const text = isBinary ? undefined : data.toString();
    if (text === undefined) {
      this.send(frames.notice('invalid: binary messages are not supported; send JSON text'));
      return;
    }
    const max = this.deps.config.maxMessageLength;
    if (Buffer.byteLength(text) > max) {
      const reason = `invalid: message is larger than the ${max}-byte limit`;
      const id = sniffEventId(text);
      this.send(id ? frames.ok(id, false, reason) : frames.notice(reason));
      return;
    }
    const msg = parseClientMessage(text, this.deps.config);
    if ('reply' in msg) {
      this.send(msg.reply);
      return;
    }
    switch (msg.type) {
      case 'EVENT':
        void this.onEvent(msg.event);
        break;
      case 'REQ':
        this.onReq(msg.subId, msg.filters);
        break;
      case 'COUNT':
        this.onCount(msg.subId, msg.filters);
        break;
      case 'CLOSE':
        this.closeSubscription(msg.subId);
        break;
      case 'AUTH': {
        const id = (msg.event as { id?: unknown } | null)?.id;
        const reason = 'unsupported: this relay does not support NIP-42 AUTH';
        this.send(typeof id === 'string' ? frames.ok(id, false, reason) : frames.notice(reason));
        break;
      }
    }
  }

  private async onEvent(raw: unknown): Promise<void> {
    const id = (raw as { id?: unknown } | null)?.id;
    let result;
    try {
      result = await this.deps.ingest.submit(raw);
    } catch (err) {
      this.log.error({ err, id }, 'event handling failed');
      result = { accepted: false, message: 'error: the relay could not handle this event' };
    }
    if (typeof id === 'string') this.send(frames.ok(id, result.accepted, result.message));
    else this.send(frames.notice(result.message));
  }

  private parseFilters(subId: string, raw: unknown[]): Filter[] | undefined {
    const filters: Filter[] = [];
    for (const r of raw) {
      const parsed = parseFilter(r, this.deps.config);
      if (!parsed.ok) {
        this.send(frames.closed(subId, parsed.reason));
        return undefined;
      }
      filters.push(parsed.value);
    }
    return filters;
  }

  private onReq(subId: string, raw: unknown[]): void {
    // A REQ with an open id replaces that subscription, so it does not count against the cap.
    if (!this.subscriptions.has(subId) && this.subscriptions.size >= this.deps.config.maxSubscriptions) {
      this.send(frames.closed(subId, `blocked: too many open subscriptions (max ${this.deps.config.maxSubscriptions})`));
      return;
    }
    const filters = this.parseFilters(subId, raw);
    if (!filters) {
      this.closeSubscription(subId);
      return;
    }
    this.closeSubscription(subId);
    let events: string[];
    try {
      events = this.deps.store.query(filters, unixNow());
    } catch (err) {
      this.log.error({ err, filters: raw }, 'query failed');
      this.send(frames.closed(subId, 'error: the query failed'));
      return;
    }
    for (const json of events) this.send(frames.event(subId, json));
    const resolver = this.resolver(subId, filters);
    if (resolver) {
      for (const json of events) resolver.sent.add(idOfCanonical(json));
      for (const json of events) resolver.sendReferences(JSON.parse(json) as NostrEvent);
    }
    this.send(frames.eose(subId));
    // Registered in the same tick as the query, so no committed event falls between the two.
    const sub: LiveSubscription = {
      id: subId,
      filters,
      deliver: (json, event) => {
        this.send(frames.event(subId, json));
        if (resolver) {
          resolver.sent.add(event.id);
          resolver.sendReferences(event);
        }
      },
    };
    this.subscriptions.set(subId, sub);
    this.deps.live.add(sub);
  }

  /**
   * For filters with `"resolve": true`: sends the events a matched template, record or collection
   * references, as ordinary EVENTs, each at most once per subscription.
   */
  private resolver(subId: string, filters: readonly Filter[]) {
    const resolving = filters.filter((f) => f.resolve);
    if (resolving.length === 0) return undefined;
    const sent = new Set<string>();
    const sendReferences = (event: NostrEvent) => {
      if (!resolving.some((f) => matchesFilter(event, f))) return;
      for (const json of this.deps.bundles.referencedEvents(event, unixNow())) {
        const id = idOfCanonical(json);
        if (sent.has(id)) continue;
        sent.add(id);
        this.send(frames.event(subId, json));
      }
    };
    return { sent, sendReferences };
  }

  private onCount(subId: string, raw: unknown[]): void {
    const filters = this.parseFilters(subId, raw);
    if (!filters) return;
    try {
      this.send(frames.count(subId, this.deps.store.count(filters, unixNow())));
    } catch (err) {
      this.log.error({ err, filters: raw }, 'count failed');
      this.send(frames.closed(subId, 'error: the count failed'));
    }
  }

  private closeSubscription(subId: string): void {
    const sub = this.subscriptions.get(subId);
    if (!sub) return;
    this.deps.live.remove(sub);
    this.subscriptions.delete(subId);
  }

  /** Pings the peer; one that did not answer the previous ping is disconnected. */
  heartbeat(): void {
    if (!this.alive) {
      this.log.debug('peer did not answer ping; disconnecting');
      this.ws.terminate();
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  /** Ends every subscription with a CLOSED carrying `reason`, then closes the connection. */
  shutdown(reason: string): void {
    for (const subId of this.subscriptions.keys()) this.send(frames.closed(subId, reason));
    this.dispose();
    this.ws.close(1001, 'relay shutting down');
  }

  /** Forgets the connection's subscriptions; called when the socket closes. */
  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const sub of this.subscriptions.values()) this.deps.live.remove(sub);
    this.subscriptions.clear();
  }
}
