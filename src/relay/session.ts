import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import type { Config } from '../config/settings.js';
import { mayRead, viewersFor, type Viewers } from '../powr/privacy.js';
import { checkEventShape, expirationOf, idOfCanonical, isHex64, newestFirst, type NostrEvent } from '../protocol/event.js';
import { matchesFilter, parseFilter, type Filter } from '../protocol/filter.js';
import { frames, parseClientMessage, sniffEventId } from '../protocol/messages.js';
import { checkAuthEvent } from '../protocol/nip42.js';
import type { BundleCache } from '../store/bundle-cache.js';
import { QueryTimeout, type QueryOptions, type StoragePort } from '../store/port.js';
import type { AnswerCache } from './answer-cache.js';
import type { Ingest } from './ingest.js';
import type { LiveSubscription, LiveSubscriptions } from './live-subscriptions.js';
import { AuthChallenges, needsAuth } from './auth-challenges.js';
import type { Metrics } from './metrics.js';
import { READ_POLICIES, firstRefusal } from './policies.js';
import type { RateLimits } from './rate-limits.js';
import { NegentropySessions } from './negentropy.js';
import { chooseDriver } from '../store/sqlite/planner.js';

export interface SessionDeps {
  config: Config;
  store: StoragePort;
  bundles: BundleCache;
  answers: AnswerCache;
  ingest: Ingest;
  live: LiveSubscriptions;
  limits: RateLimits;
  metrics: Metrics;
  log: Logger;
}

/** Where a connection comes from: the client's address and the host name it used to reach the relay. */
export interface Peer {
  ip: string;
  relayHost: string | undefined;
}

const unixNow = () => Math.floor(Date.now() / 1000);
/** How long a slow consumer's close handshake may take before its socket is destroyed. */
const CLOSE_GRACE_MS = 5000;

/** Whether `id` is one of `ids`, 64-hex ids run together. */
function hasId(ids: string, id: string): boolean {
  for (let at = ids.indexOf(id); at >= 0; at = ids.indexOf(id, at + 1)) if (at % 64 === 0) return true;
  return false;
}

/** A REQ's `"resolve": true` state (Session.resolver). */
interface Resolver {
  /** Ids sent on the subscription so far. */
  sent: Set<string>;
  sendReferences(event: NostrEvent): Promise<void>;
  follow(event: NostrEvent): void;
}

/** One client connection: its subscriptions, and the translation of its messages into relay actions. */
export class Session {
  private readonly subscriptions = new Map<string, LiveSubscription>();
  private readonly challenges = new AuthChallenges();
  /** Pubkeys this connection has proved it holds (NIP-42); a client may authenticate as several. */
  private readonly authed = new Set<string>();
  private readonly negentropy: NegentropySessions;
  /**
   * Who reads on this connection, for the read rules (undefined when no kind is restricted); changes
   * only with AUTH, and live delivery checks it for every event.
   */
  private viewers: Viewers | undefined;
  private closed = false;
  private corked = false;
  /** The tail of this connection's REQ/COUNT/CLOSE handling (see inOrder). */
  private reads: Promise<void> = Promise.resolve();
  private lastMessageAt = Date.now();
  alive = true;

  constructor(
    private readonly ws: WebSocket,
    private readonly deps: SessionDeps,
    readonly peer: Peer,
    readonly log: Logger,
  ) {
    this.viewers = viewersFor(deps.config, this.authed);
    this.negentropy = new NegentropySessions({
      config: deps.config, store: deps.store, send: (f) => this.send(f), refuse: (f, r) => this.refuse(f, r),
      readRefusal: (filters) => this.readRefusal(filters), queryOptions: () => this.queryOptions(),
      readFailure: (err, subId) => this.readFailure(err, 'query', subId),
    });
  }

  /** NIP-42: with `authOnConnect` the challenge goes out first; otherwise with the first auth-required: answer. */
  start(): void {
    if (this.deps.config.authOnConnect) this.send(frames.auth(this.challenges.issue()));
  }

  /** Sends a refusal as CLOSED or OK; one that AUTH would lift comes right after a fresh challenge. */
  private refuse(frame: string, reason: string): void {
    if (needsAuth(reason)) this.send(frames.auth(this.challenges.issue()));
    this.send(frame);
  }

  send(frame: string): void {
    if (!this.mayQueue(frame.length)) return;
    this.corkUntilNextTick();
    this.ws.send(frame);
  }

  /**
   * Writes frames built elsewhere (a REQ's stored answer, see replyFrames) to the socket as they are.
   * They keep their place among the frames ws sends: with no compression (perMessageDeflate is off)
   * ws writes each frame to the socket when it is sent, queueing nothing.
   */
  private sendFrames(bytes: Uint8Array): void {
    const socket = this.socket();
    if (!socket || !this.mayQueue(bytes.length)) return;
    this.corkUntilNextTick();
    socket.write(bytes);
  }

  /** False when the connection is gone, or would queue more than allowed with `bytes` more (then it is cut off). */
  private mayQueue(bytes: number): boolean {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) return false;
    // A client that stops reading must not make the relay buffer without bound.
    if (this.ws.bufferedAmount + bytes > this.deps.config.maxOutboundBytes) {
      this.log.warn({ buffered: this.ws.bufferedAmount }, 'client is not reading; disconnecting');
      this.disconnect(`blocked: you are not reading what the relay sends (more than ${this.deps.config.maxOutboundBytes} bytes queued)`, 1008);
      return false;
    }
    return true;
  }

  /** The net.Socket ws writes frames to: ws has no public cork, nor a way to send frames already built. */
  private socket(): Socket | undefined {
    return (this.ws as unknown as { _socket?: Socket })._socket;
  }

  /**
   * Frames sent to one client in one turn (a REQ's events and EOSE, a commit's live events) leave in
   * one write: without it each frame is its own writev system call, a sixth of the main thread's
   * time under a query load.
   */
  private corkUntilNextTick(): void {
    if (this.corked) return;
    const socket = this.socket();
    if (!socket) return;
    socket.cork();
    this.corked = true;
    process.nextTick(() => {
      this.corked = false;
      socket.uncork();
    });
  }

  /** Tells the client why, then closes; a peer that does not finish the close handshake is cut off. */
  disconnect(notice: string, code: number): void {
    if (this.closed) return;
    this.ws.send(frames.notice(notice));
    this.dispose();
    this.ws.close(code, notice.slice(0, 120));
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  /** Closes a connection that has been silent, with nothing subscribed, for longer than allowed. */
  closeIfIdle(now: number): void {
    const limit = this.deps.config.idleTimeoutSeconds * 1000;
    if (limit > 0 && this.subscriptions.size === 0 && this.negentropy.size === 0 && now - this.lastMessageAt > limit) {
      this.disconnect(`error: closing a connection idle for ${this.deps.config.idleTimeoutSeconds} s`, 1000);
    }
  }

  private queryOptions(): QueryOptions {
    return { viewers: this.viewers, timeoutMs: this.deps.config.queryTimeoutMs };
  }

  handle(data: WebSocket.RawData, isBinary: boolean): void {
    this.lastMessageAt = Date.now();
    if (isBinary) {
      this.send(frames.notice('invalid: binary messages are not supported; send JSON text'));
      return;
    }
    const text = data.toString();
    const max = this.deps.config.maxMessageLength;
    // A text message's bytes are its UTF-8 (ws checked them): counted without walking the string again.
    const bytes = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
    if (bytes > max) {
      const reason = `invalid: message is larger than the ${max}-byte limit`;
      const id = sniffEventId(text);
      this.send(id ? frames.ok(id, false, reason) : frames.notice(reason));
      return;
    }
    const msg = parseClientMessage(text, this.deps.config);
    this.deps.metrics.messages.inc({ verb: 'reply' in msg ? 'malformed' : msg.type });
    if ('reply' in msg) {
      this.send(msg.reply);
      return;
    }
    switch (msg.type) {
      case 'EVENT':
        void this.onEvent(msg.event, msg.eventText);
        break;
      case 'REQ':
        this.inOrder(() => this.onReq(msg.subId, msg.filters));
        break;
      case 'COUNT':
        this.inOrder(() => this.onCount(msg.subId, msg.filters));
        break;
      case 'CLOSE':
        this.inOrder(() => this.closeSubscription(msg.subId));
        break;
      case 'AUTH':
        void this.onAuth(msg.event);
        break;
      case 'NEG-OPEN':
      case 'NEG-MSG':
      case 'NEG-CLOSE':
        this.inOrder(() => this.negentropy.handle(msg));
        break;
    }
  }

  /**
   * REQ, COUNT and CLOSE take effect in the order the client sent them, as on a relay that answers
   * each before reading the next: a REQ is answered up to EOSE before a CLOSE behind it is applied.
   * Queries still run beside other connections' on the reader threads.
   */
  private inOrder(step: () => Promise<void> | void): void {
    this.reads = this.reads.then(step).catch((err: unknown) => this.log.error({ err }, 'read handling failed'));
  }

  private async onAuth(raw: unknown): Promise<void> {
    const id = (raw as { id?: unknown } | null)?.id;
    const answer = (accepted: boolean, message: string) =>
      this.send(isHex64(id) ? frames.ok(id, accepted, message) : frames.notice(message));
    const now = unixNow();
    const shape = checkEventShape(raw, this.deps.config, now);
    if (!shape.ok) return answer(false, shape.reason);
    const problem = checkAuthEvent(shape.value, this.challenges.recent, this.peer.relayHost, now);
    if (problem) return answer(false, problem);
    let verified;
    try {
      verified = await this.deps.ingest.verify(shape.value);
    } catch (err) {
      this.log.error({ err }, 'AUTH verification failed');
      return answer(false, 'error: the AUTH event could not be verified, try again');
    }
    if (!verified.ok) return answer(false, verified.reason);
    this.authed.add(shape.value.pubkey);
    this.viewers = viewersFor(this.deps.config, this.authed);
    this.log.debug({ pubkey: shape.value.pubkey }, 'authenticated');
    answer(true, '');
  }

  private async onEvent(raw: unknown, text: string): Promise<void> {
    const id = (raw as { id?: unknown } | null)?.id;
    let result;
    try {
      result = await this.deps.ingest.submit(raw, { ip: this.peer.ip, authed: this.authed }, text);
    } catch (err) {
      this.log.error({ err, id }, 'event handling failed');
      result = { accepted: false, message: 'error: the relay could not handle this event' };
    }
    const kind = (raw as { kind?: unknown } | null)?.kind;
    this.deps.metrics.event(typeof kind === 'number' ? kind : -1, result.accepted, result.message);
    // An OK names only a well-formed id: echoing a malformed one would hand clients garbage as an id.
    if (isHex64(id)) this.refuse(frames.ok(id, result.accepted, result.message), result.message);
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

  /** What refuses a REQ or COUNT before the database is asked (the read policies). */
  private readRefusal(filters: readonly Filter[]): string | undefined {
    return firstRefusal(READ_POLICIES, { filters, ip: this.peer.ip, authed: this.authed, viewers: this.viewers, limits: this.deps.limits });
  }

  private readFailure(err: unknown, what: 'query' | 'count', subId: string): string {
    if (err instanceof QueryTimeout) {
      return `error: the ${what} took longer than ${this.deps.config.queryTimeoutMs} ms; narrow its filters (authors, kinds, since/until, limit)`;
    }
    // Not the filters themselves: a hostile one can be nested too deeply to serialise.
    this.log.error({ err, subId }, `${what} failed`);
    return `error: the ${what} failed`;
  }

  /**
   * A REQ without gaps: the live subscription is registered before the stored query runs on a reader
   * thread, and what the feed delivers meanwhile is held back; then come the stored events, EOSE, and
   * the held-back events that the stored ones did not already include.
   */
  private async onReq(subId: string, raw: unknown[]): Promise<void> {
    // A REQ with an open id replaces that subscription, so it does not count against the cap.
    if (!this.subscriptions.has(subId) && this.subscriptions.size >= this.deps.config.maxSubscriptions) {
      this.send(frames.closed(subId, `blocked: too many open subscriptions (max ${this.deps.config.maxSubscriptions})`));
      return;
    }
    const filters = this.parseFilters(subId, raw);
    this.closeSubscription(subId);
    if (!filters) return;
    const refusal = this.readRefusal(filters);
    if (refusal) {
      this.refuse(frames.closed(subId, refusal), refusal);
      return;
    }
    const resolver = this.resolver(subId, filters);
    let held: { json: string; event: NostrEvent }[] | undefined = [];
    const sub: LiveSubscription = {
      id: subId,
      filters,
      deliver: (json, event) => {
        const viewers = this.viewers;
        if (viewers && !mayRead(event, viewers)) return;
        if (held) {
          held.push({ json, event });
          return;
        }
        this.send(frames.event(subId, json));
        resolver?.follow(event);
      },
    };
    // The connection may have closed while this REQ waited its turn: nothing to register then.
    if (this.closed) return;
    this.subscriptions.set(subId, sub);
    this.deps.live.add(sub);

    const storedIds = await this.sendStored(subId, filters, resolver);
    if (storedIds === undefined) return;
    // The connection closed while the query ran.
    if (this.subscriptions.get(subId) !== sub) return;
    const late = held;
    held = undefined;
    for (const { json, event } of late) {
      if (hasId(storedIds, event.id)) continue;
      this.send(frames.event(subId, json));
      resolver?.follow(event);
    }
  }

  /**
   * Sends a REQ's stored events and EOSE; resolves with the ids of the events sent, run together, or
   * undefined when the query failed (the subscription is closed then). Without resolving, the reader
   * thread answers with the frames ready to write, kept for the next REQ with the same filters
   * (AnswerCache); filters that cannot match or ask for no stored
   * events are left out, and with none left the reader is not asked at all.
   */
  private async sendStored(subId: string, filters: readonly Filter[], resolver: Resolver | undefined): Promise<string | undefined> {
    const asked = filters.filter((f) => !f.matchesNothing && f.limit > 0);
    const shape = filters.length === 1 ? chooseDriver(filters[0]!).driver : 'several';
    const known = asked.length === 0 ? [] : asked.length === 1 && !resolver ? this.cachedAnswer(asked[0]!, unixNow()) : undefined;
    if (known) {
      this.deps.metrics.reqs.inc({ answered: 'relay' });
      // No time in the database.
      this.deps.metrics.querySeconds.observe({ shape }, 0);
      for (const json of known) this.send(frames.event(subId, json));
      this.send(frames.eose(subId));
      return known.map(idOfCanonical).join('');
    }
    if (!resolver) {
      const cache = this.deps.answers;
      const key = cache.keyOf(asked, this.viewers);
      const cached = key === undefined ? undefined : cache.get(key, subId);
      if (cached) {
        this.deps.metrics.reqs.inc({ answered: 'cache' });
        this.deps.metrics.querySeconds.observe({ shape }, 0);
        this.sendFrames(cached.frames);
        return cached.ids;
      }
      const commitsBefore = cache.commits;
      const answer = await this.read(subId, shape, () => this.deps.store.queryFrames(subId, asked, unixNow(), this.queryOptions()));
      if (!answer) return undefined;
      if (key !== undefined) cache.put(key, asked, subId, answer, commitsBefore);
      this.sendFrames(answer.frames);
      return answer.ids;
    }
    const events = await this.read(subId, shape, () => this.deps.store.query(asked, unixNow(), this.queryOptions()));
    if (!events) return undefined;
    const ids = events.map(idOfCanonical);
    for (const json of events) this.send(frames.event(subId, json));
    for (const id of ids) resolver.sent.add(id);
    for (const json of events) await resolver.sendReferences(JSON.parse(json) as NostrEvent);
    this.send(frames.eose(subId));
    return ids.join('');
  }

  /** A REQ's query on a reader thread, timed; undefined when it failed (the subscription is closed then). */
  private async read<T>(subId: string, shape: string, query: () => Promise<T>): Promise<T | undefined> {
    this.deps.metrics.reqs.inc({ answered: 'reader' });
    const started = performance.now();
    try {
      const result = await query();
      this.deps.metrics.querySeconds.observe({ shape }, (performance.now() - started) / 1000);
      return result;
    } catch (err) {
      this.closeSubscription(subId);
      this.send(frames.closed(subId, this.readFailure(err, 'query', subId)));
      return undefined;
    }
  }

  /**
   * A filter's stored answer when every event it names by id is known here, cached as the root of a
   * bundle (BundleCache.storedEvent): exact for this relay's writes, since the change feed drops those
   * as their events leave the store; another process's deletions are seen within the writer's poll
   * interval, as for bundles and live subscriptions. Undefined (ask a reader) otherwise, or when one
   * has expired or the read rules apply.
   */
  private cachedAnswer(f: Filter, now: number): string[] | undefined {
    if (!f.idSet || f.search !== undefined) return undefined;
    const found: { json: string; event: NostrEvent }[] = [];
    for (const id of f.idSet) {
      const json = this.deps.bundles.storedEvent(id);
      if (json === undefined) return undefined;
      const event = JSON.parse(json) as NostrEvent;
      const expires = expirationOf(event);
      if ((expires !== undefined && expires <= now) || (this.viewers && !mayRead(event, this.viewers))) return undefined;
      if (matchesFilter(event, f)) found.push({ json, event });
    }
    found.sort((a, b) => newestFirst(a.event, b.event));
    return found.slice(0, f.limit).map((e) => e.json);
  }

  /**
   * For filters with `"resolve": true`: sends the events a matched template, record or collection
   * references, as ordinary EVENTs, each at most once per subscription. Live events are followed in
   * order, one after another, so each event's references come right after it.
   */
  private resolver(subId: string, filters: readonly Filter[]): Resolver | undefined {
    const resolving = filters.filter((f) => f.resolve);
    if (resolving.length === 0) return undefined;
    const sent = new Set<string>();
    const sendReferences = async (event: NostrEvent) => {
      if (!resolving.some((f) => matchesFilter(event, f))) return;
      sent.add(event.id);
      let references: string[];
      try {
        references = await this.deps.bundles.referencedEvents(event, unixNow(), this.viewers);
      } catch (err) {
        this.log.error({ err, subId }, 'resolving references failed');
        return;
      }
      for (const json of references) {
        const id = idOfCanonical(json);
        if (sent.has(id)) continue;
        sent.add(id);
        this.send(frames.event(subId, json));
      }
    };
    let chain = Promise.resolve();
    const follow = (event: NostrEvent) => {
      chain = chain.then(() => sendReferences(event));
    };
    return { sent, sendReferences, follow };
  }

  private async onCount(subId: string, raw: unknown[]): Promise<void> {
    const filters = this.parseFilters(subId, raw);
    if (!filters) return;
    const refusal = this.readRefusal(filters);
    if (refusal) {
      this.refuse(frames.closed(subId, refusal), refusal);
      return;
    }
    try {
      this.send(frames.count(subId, await this.deps.store.count(filters, unixNow(), this.queryOptions())));
    } catch (err) {
      this.send(frames.closed(subId, this.readFailure(err, 'count', subId)));
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
    this.negentropy.clear();
  }
}
