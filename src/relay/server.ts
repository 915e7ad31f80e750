import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import type { Config } from '../config/settings.js';
import { viewersFor } from '../powr/privacy.js';
import { relayInformation } from './nip11.js';
import { isHex64, parseAddress } from '../protocol/event.js';
import { frames } from '../protocol/messages.js';
import { httpOrigin, relayHost } from '../protocol/relay-url.js';
import type { BundleCache } from '../store/bundle-cache.js';
import type { LeaseStatus } from '../store/cluster/lease.js';
import type { BundleRoot, StoragePort } from '../store/port.js';
import type { AnswerCache } from './answer-cache.js';
import type { Ingest } from './ingest.js';
import type { LiveSubscriptions } from './live-subscriptions.js';
import { MANAGEMENT_CONTENT_TYPE, type Management } from '../management/management.js';
import type { Moderation } from '../management/moderation.js';
import type { Catalogue } from '../web/catalogue.js';
import { expectsContinue, type Blossom } from '../media/blossom.js';
import type { Metrics } from './metrics.js';
import { sendMetrics } from './metrics-server.js';
import type { RateLimits } from './rate-limits.js';
import { Session } from './session.js';
import { StoredSetEndpoint } from './stored-set.js';

export interface ServerDeps {
  config: Config;
  version: string;
  store: StoragePort;
  bundles: BundleCache;
  answers: AnswerCache;
  ingest: Ingest;
  live: LiveSubscriptions;
  limits: RateLimits;
  metrics: Metrics;
  catalogue: Pick<Catalogue, 'handle'>;
  moderation: Moderation;
  management: Management;
  /** The Blossom media server (docs/media.md); undefined when `media` is off. */
  media?: Blossom;
  log: Logger;
  /** Cluster mode with upstreams: which node holds the upstream lease (it pulls for the cluster). */
  upstreamLease?: () => LeaseStatus | undefined;
}

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': '*',
  'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
};

/**
 * HTTP and WebSocket on one port. Any path upgrades to the relay (NIP-01: extra path segments must not
 * matter); a GET asking for application/nostr+json gets the NIP-11 document.
 */
export class RelayServer {
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly sessions = new Set<Session>();
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly storedSet: StoredSetEndpoint;

  constructor(private readonly deps: ServerDeps) {
    this.storedSet = new StoredSetEndpoint(deps.store, deps.limits, deps.log);
    // Node ends a request whose whole body took over five minutes: a 100 MiB upload from a phone on a
    // slow uplink takes longer. Media uploads are bounded by an idle timeout of their own instead.
    this.http = createServer({ requestTimeout: 3_600_000 }, (req, res) => this.onHttp(req, res));
    // Expect: 100-continue (curl sends it for uploads over 1 MiB): a media upload asks for the body only
    // once the checks that need no body have passed; anything else gets it at once, as Node would.
    this.http.on('checkContinue', (req, res) => this.onHttp(req, res));
    // Frames up to 4x the advertised limit are read and refused politely (the connection stays
    // usable); anything larger closes the connection before it is buffered.
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: Math.max(deps.config.maxMessageLength * 4, 1024 * 1024),
      perMessageDeflate: false,
      // Invalid UTF-8 would otherwise close the connection without a word; decoded with replacement
      // characters it becomes JSON the parser refuses with a NOTICE, or an event whose id no longer matches.
      skipUTF8Validation: true,
    });
    this.http.on('upgrade', (req, socket, head) => {
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, req));
    });
  }

  private onHttp(req: IncomingMessage, res: ServerResponse): void {
    const blocked = this.deps.moderation.ipRefusal(this.deps.limits.clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for']));
    if (blocked) {
      res.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${blocked}\n`);
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://relay');
    } catch {
      // A request target no URL can be made of ("//[") is the client's mistake, not a reason to stop.
      res.writeHead(400, { ...CORS, 'Content-Type': 'text/plain; charset=utf-8' }).end('invalid: the request target is not a URL path\n');
      return;
    }
    // Blossom's paths (/upload, /<sha256>, /list/…) are its own; no catalogue path looks like them.
    if (this.deps.media?.handle(req, res, url)) return;
    if (expectsContinue(req)) res.writeContinue();
    if (req.method === 'OPTIONS') {
      res.writeHead(204, CORS).end();
      return;
    }
    if (req.method === 'POST' && (req.headers['content-type'] ?? '').startsWith(MANAGEMENT_CONTENT_TYPE)) {
      void this.deps.management.handle(req, res);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...CORS, Allow: 'GET, HEAD, OPTIONS' }).end();
      return;
    }
    if ((req.headers.accept ?? '').includes('application/nostr+json')) {
      res.writeHead(200, { ...CORS, 'Content-Type': 'application/nostr+json' })
        .end(JSON.stringify(relayInformation(this.deps.moderation.relayConfig(this.deps.config), this.deps.version)));
      return;
    }
    if (url.pathname === '/api/bundle') {
      void this.onBundle(url.searchParams, req, res);
      return;
    }
    if (url.pathname === '/api/digest') {
      void this.storedSet.handle(url.searchParams, req, res, CORS);
      return;
    }
    // With metricsListen set, /metrics is served only there.
    if (url.pathname === '/metrics' && !this.deps.config.metricsListen) {
      sendMetrics(this.deps.metrics, res, this.deps.log);
      return;
    }
    if (url.pathname === '/health') {
      res.writeHead(200, { ...CORS, 'Content-Type': 'application/json' }).end(JSON.stringify(this.health()));
      return;
    }
    // Browsers get the web catalogue; other clients asking plain HTTP get one line of text.
    if (url.pathname === '/api/stats' || (req.headers.accept ?? '').includes('text/html')) {
      this.deps.catalogue.handle(url).then(
        (page) => {
          if (page) res.writeHead(page.status, { ...CORS, 'Content-Type': page.type }).end(req.method === 'HEAD' ? undefined : page.body);
          else this.plainText(url, res);
        },
        (err: unknown) => {
          this.deps.log.error({ err, path: url.pathname }, 'catalogue page failed');
          res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('the page could not be built\n');
        },
      );
      return;
    }
    this.plainText(url, res);
  }

  /**
   * GET /health: ok, or degraded (still serving reads) with the reason while write transactions fail
   * (disk full), and in cluster mode when this node cannot publish to the stream or is missing writes;
   * a cluster node also says where it stands in the stream.
   */
  private health(): Record<string, unknown> {
    const failing = this.deps.store.writeHealth().failing;
    const cluster = this.deps.store.cluster();
    const reasons = [
      ...(failing ? [`write transactions fail since ${new Date(failing.since).toISOString()}: ${failing.error}`] : []),
      ...(cluster?.problem === undefined ? [] : [cluster.problem]),
    ];
    const degraded = failing !== undefined || (cluster !== undefined && (!cluster.connected || cluster.problem !== undefined));
    const status = { status: degraded ? 'degraded' : 'ok', ...(reasons.length > 0 ? { reason: reasons.join('; ') } : {}) };
    if (!cluster) return status;
    const { appliedSeq, streamSeq, lag, connected, stored } = cluster;
    const upstreamLease = this.deps.upstreamLease?.();
    return { ...status, cluster: { appliedSeq, streamSeq, lag, connected, ...stored, ...(upstreamLease && { upstreamLease }) } };
  }

  /** Clients asking plain HTTP for the relay's URL get one line of text; any other path is not found. */
  private plainText(url: URL, res: ServerResponse): void {
    if (url.pathname !== '/') {
      res.writeHead(404, { ...CORS, 'Content-Type': 'text/plain; charset=utf-8' }).end(`not found: ${url.pathname.slice(0, 200)}\n`);
      return;
    }
    res
      .writeHead(200, { ...CORS, 'Content-Type': 'text/plain; charset=utf-8' })
      .end(`${this.deps.config.name}: a Nostr relay. Connect with a Nostr client over WebSocket.\n`);
  }

  /** GET /api/bundle?a=<address> | ?id=<event id>: a root event and everything it references. */
  private async onBundle(params: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const json = (status: number, body: string, extra: Record<string, string> = {}): void => {
      res.writeHead(status, { ...CORS, 'Content-Type': 'application/json', ...extra }).end(req.method === 'HEAD' ? undefined : body);
    };
    const error = (status: number, message: string): void => json(status, JSON.stringify({ error: message }));
    const limited = this.deps.limits.req(this.deps.limits.clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for']));
    if (limited) return error(429, limited);
    const a = params.get('a');
    const id = params.get('id');
    let root: BundleRoot;
    if (a !== null && id === null) {
      const address = parseAddress(a);
      if (!address) return error(400, `"a" must be an address <kind>:<64-hex pubkey>:<d>, got ${JSON.stringify(a.slice(0, 100))}`);
      root = { address: a };
    } else if (id !== null && a === null) {
      if (!isHex64(id)) return error(400, '"id" must be a 64-character lowercase hex event id');
      root = { id };
    } else {
      return error(400, 'give exactly one of "a" (an address) or "id" (an event id)');
    }
    let bundle;
    try {
      // HTTP carries no NIP-42 identity: the read rules see an anonymous client.
      bundle = await this.deps.bundles.get(root, Math.floor(Date.now() / 1000), viewersFor(this.deps.config));
    } catch (err) {
      this.deps.log.error({ err, root }, 'bundle failed');
      return error(500, 'the bundle could not be built');
    }
    if (!bundle) return error(404, 'address' in root ? `no event stored at ${a}` : `no event stored with id ${id}`);
    const headers = { ETag: bundle.etag, 'Cache-Control': 'no-cache' };
    if (req.headers['if-none-match'] === bundle.etag) {
      res.writeHead(304, { ...CORS, ...headers }).end();
      return;
    }
    json(200, bundle.body(httpOrigin(this.deps.config.publicUrl, req.headers.host)), headers);
  }

  private onConnection(ws: import('ws').WebSocket, req: IncomingMessage): void {
    const ip = this.deps.limits.clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for']);
    const log = this.deps.log.child({ ip });
    const blocked = this.deps.moderation.ipRefusal(ip);
    const refused = blocked ?? this.deps.limits.connect(ip);
    if (refused) {
      log.debug({ reason: refused }, 'connection refused');
      ws.send(frames.notice(refused));
      ws.close(1008, blocked ? 'blocked' : 'rate-limited');
      return;
    }
    const session = new Session(ws, this.deps, { ip, relayHost: relayHost(this.deps.config.publicUrl, req.headers.host) }, log);
    this.sessions.add(session);
    session.log.debug('connection opened');
    ws.on('message', (data, isBinary) => session.handle(data, isBinary));
    ws.on('pong', () => (session.alive = true));
    ws.on('error', (err) => session.log.debug({ err }, 'connection error'));
    ws.on('close', (code) => {
      session.dispose();
      this.sessions.delete(session);
      this.deps.limits.disconnect(ip);
      session.log.debug({ code }, 'connection closed');
    });
    session.start();
  }

  get connections(): number {
    return this.sessions.size;
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.deps.config.port, this.deps.config.host, () => {
        this.http.off('error', reject);
        this.pingTimer = setInterval(() => this.ping(), this.deps.config.pingIntervalSeconds * 1000).unref();
        resolve(this.http.address() as AddressInfo);
      });
    });
  }

  /** A peer that did not answer the previous ping is gone (dead NAT entry, sleeping phone). */
  private ping(): void {
    const now = Date.now();
    for (const session of this.sessions) {
      session.closeIfIdle(now);
      session.heartbeat();
    }
  }

  /** Stops accepting connections and closes every open one, telling its subscriptions why. */
  async close(): Promise<void> {
    clearInterval(this.pingTimer);
    const closing = new Promise<void>((resolve) => this.http.close(() => resolve()));
    for (const session of this.sessions) session.shutdown('error: relay is shutting down');
    this.http.closeAllConnections();
    await closing;
  }
}
