import { IncomingMessage, type ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import type { Config } from '../config/settings.js';
import { checkEventShape, isHex64, type NostrEvent } from '../protocol/event.js';
import { readAuthorization } from '../protocol/nip98.js';
import { httpOrigin, relayHost } from '../protocol/relay-url.js';
import { HttpRefusal, readBody } from '../http/body.js';
import type { Moderation } from '../management/moderation.js';
import { BlobStorageFull, BlobStoreUnavailable, BlobTooLarge, type BlobFiles, type BlobRecords, type BlobRow, type ReceivedBlob } from '../store/blobs/port.js';
import type { CheckResult } from '../workers/check-event.js';
import { namesBlob, tokenProblem, type BlossomVerb } from './auth.js';
import { fetchForMirror } from './mirror.js';
import { MirrorCache } from './mirror-cache.js';
import { extensionFor, mediaType, sniffType, typeOfPath } from './mime.js';
import type { MediaMetrics, UploadRoute } from './media-metrics.js';
import { admitMedia, storeOptimised, type OptimisedStoreDeps } from './media-upload.js';
import { nip94Tags } from './nip94.js';
import type { MediaOptimiser } from './optimise.js';
import { chooseRange } from './ranges.js';

/** What media needs of the relay's RateLimits, which sit above it. */
interface MediaLimits {
  clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined): string;
  req(ip: string): string | undefined;
  mediaWrite(ip: string): string | undefined;
}

export interface BlossomDeps {
  config: Config;
  records: BlobRecords;
  files: BlobFiles;
  moderation: Moderation;
  limits: MediaLimits;
  /** Id and signature check in the verification pool (Ingest.verify). */
  verify: (event: NostrEvent) => Promise<CheckResult>;
  /** The relay's write path (Ingest.submit), which a report (BUD-09) takes. */
  submit: (raw: unknown, from: { ip: string; authed: Set<string> }, text: string) => Promise<{ accepted: boolean; message: string }>;
  /** PUT /media (BUD-05). */
  optimiser: MediaOptimiser;
  metrics: MediaMetrics;
  log: Logger;
}

/** BUD-01: every answer carries these, so web apps on other origins can use the server. */
const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': 'Authorization, *',
  'Access-Control-Allow-Methods': 'GET, HEAD, PUT, DELETE, OPTIONS',
  'Access-Control-Expose-Headers': '*',
};
const BLOB_PATH = /^\/([0-9a-f]{64})(\.[a-z0-9]{1,10})?$/;
/** Looks like a blob's name but is not one (upper case, wrong length, odd extension): 400, not the catalogue. */
const HEX_LIKE_PATH = /^\/[0-9a-f]{32,}(\.[^/]*)?$/i;
const LIST_PATH = /^\/list\/([^/]*)$/;
const UPLOAD_ROUTES: ReadonlySet<string> = new Set(['/upload', '/media', '/mirror'] satisfies `/${UploadRoute}`[]);
/** Mirror and report bodies: a URL or one event. */
const SMALL_BODY_BYTES = 64 * 1024;
/** An unread request body up to this size is drained after a refusal (keeping the connection); a larger one closes it. */
const DRAIN_BYTES = 1024 * 1024;
const LIST_DEFAULT = 100;
const LIST_MAX = 1000;
const SERVED_FLUSH_MS = 60_000;
const UPLOAD_IDLE_MS = 60_000;
const CACHE_FOREVER = 'public, max-age=31536000, immutable';

/** BUD-02 blob descriptor, with BUD-08's NIP-94 tags. */
export interface BlobDescriptor {
  url: string;
  sha256: string;
  size: number;
  type: string;
  uploaded: number;
  nip94: string[][];
}

const unixNow = () => Math.floor(Date.now() / 1000);

/** The client waits for `100 Continue` before sending the body (Expect: 100-continue). */
export const expectsContinue = (req: IncomingMessage) => req.headers.expect?.toLowerCase() === '100-continue';
/** X-Reason must be a valid header value: printable ASCII only. */
const headerText = (text: string) => text.replace(/[^\x20-\x7e]/g, '?').slice(0, 500);
const refusal = (status: number, reason: string) => new HttpRefusal(status, reason);

/** What a write refused by the relay's write path means over HTTP. */
function statusOf(message: string): number {
  const prefix = /^([a-z-]+):/.exec(message)?.[1];
  switch (prefix) {
    case 'rate-limited': return 429;
    case 'auth-required': return 401;
    case 'restricted':
    case 'blocked': return 403;
    case 'error': return 500;
    default: return 400;
  }
}

/**
 * A Blossom media server on the relay's HTTP port (docs/media.md): blobs named by their sha256, stored
 * by `files` with their metadata in `records`, uploads authorized by kind 24242 tokens (BUD-11)
 * checked on the verification pool. `handle` takes the request when its path is Blossom's.
 */
export class Blossom {
  /** Keeping or deleting one hash runs alone, so a delete cannot remove a file an upload just counted on. */
  private readonly locks = new Map<string, Promise<void>>();
  /** When blobs were last served, written to the database once a minute rather than on every GET. */
  private served = new Map<string, number>();
  private readonly flushTimer: NodeJS.Timeout;
  private readonly optimising: OptimisedStoreDeps;
  private readonly mirrorCache: MirrorCache | undefined;

  constructor(private readonly deps: BlossomDeps) {
    this.flushTimer = setInterval(() => void this.flushServed(), SERVED_FLUSH_MS).unref();
    if (deps.config.mediaMirrorCacheBytes > 0) {
      const { config, records, files, log } = deps;
      this.mirrorCache = new MirrorCache({ config, records, files, log, exclusive: (sha256, run) => this.exclusive(sha256, run) });
    }
    this.optimising = {
      optimiser: deps.optimiser, files: deps.files, records: deps.records, checkHash: (sha256) => this.checkHash(sha256),
      checkQuota: (pubkey, adding) => this.checkQuota(pubkey, adding), exclusive: (sha256, run) => this.exclusive(sha256, run),
    };
  }

  /** Takes the request when its path is a Blossom endpoint; false leaves it to the rest of the server. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    const route = this.route(req, res, url);
    if (!route) return false;
    if (req.method === 'PUT' && UPLOAD_ROUTES.has(url.pathname)) this.deps.metrics.upload(url.pathname.slice(1) as UploadRoute, res);
    route().catch((err: unknown) => this.fail(req, res, err));
    return true;
  }

  private route(req: IncomingMessage, res: ServerResponse, url: URL): (() => Promise<void>) | undefined {
    const path = url.pathname;
    const method = req.method ?? 'GET';
    // async: a refusal (405) must reject the route's promise, not throw out of the request handler.
    const methods = (allowed: Record<string, () => Promise<void>>) => async () => {
      if (method === 'OPTIONS') return this.preflight(res, Object.keys(allowed));
      const run = allowed[method];
      if (!run) {
        const allow = Object.keys(allowed).join(', ');
        throw new HttpRefusal(405, `${method} is not allowed on ${path}; allowed: ${allow}`, { Allow: allow });
      }
      return run();
    };
    if (path === '/upload' || path === '/media') {
      const verb = path === '/upload' ? 'upload' : 'media';
      return methods({ PUT: () => this.upload(req, res, verb), HEAD: () => this.uploadCheck(req, res, verb) });
    }
    if (path === '/mirror') return methods({ PUT: () => this.mirror(req, res) });
    if (path === '/report') return methods({ PUT: () => this.report(req, res) });
    const list = LIST_PATH.exec(path);
    if (list) {
      const run = () => this.list(req, res, list[1]!, url.searchParams);
      return methods({ GET: run, HEAD: run });
    }
    const blob = BLOB_PATH.exec(path);
    if (blob) {
      const sha256 = blob[1]!;
      const get = () => this.get(req, res, sha256);
      return methods({ GET: get, HEAD: get, DELETE: () => this.delete(req, res, sha256) });
    }
    if (HEX_LIKE_PATH.test(path)) {
      return async () => {
        throw refusal(400, 'a blob is named /<sha256>[.ext]: 64 lowercase hex characters, then an optional extension');
      };
    }
    return undefined;
  }

  private async preflight(res: ServerResponse, methods: string[]): Promise<void> {
    res.writeHead(204, { ...CORS, Allow: [...methods, 'OPTIONS'].join(', '), 'Access-Control-Max-Age': '86400' }).end();
  }

  private ip(req: IncomingMessage): string {
    return this.deps.limits.clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for']);
  }

  private json(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { ...CORS, 'Content-Type': 'application/json' }).end(req.method === 'HEAD' ? undefined : JSON.stringify(body));
  }

  private fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    let status = 500;
    let reason = 'the request could not be completed';
    if (err instanceof HttpRefusal) {
      ({ status, message: reason } = err);
    } else if (err instanceof BlobStoreUnavailable) {
      status = 503;
      reason = err.message;
    } else if (req.destroyed) {
      // The client went away mid-request (an upload cut off): nobody to answer.
      this.deps.log.debug({ err, path: req.url }, 'media request ended by the client');
      return;
    } else {
      this.deps.log.error({ err, path: req.url }, 'media request failed');
    }
    const headers: Record<string, string> = { ...CORS, 'Content-Type': 'application/json', 'X-Reason': headerText(reason) };
    if (err instanceof HttpRefusal) Object.assign(headers, err.headers);
    // A body still coming in is drained when small, so the connection stays usable; a large one is not read at all.
    if (!req.complete) {
      const length = Number(req.headers['content-length']);
      if (Number.isFinite(length) && length <= DRAIN_BYTES) req.resume();
      else headers.Connection = 'close';
    }
    res.writeHead(status, headers).end(req.method === 'HEAD' ? undefined : JSON.stringify({ message: reason }));
  }

  /** The kind 24242 token of the request, checked for this verb (BUD-11); refuses with 401. */
  private async authorize(req: IncomingMessage, verb: BlossomVerb): Promise<NostrEvent> {
    const header = readAuthorization(req.headers.authorization, 'BUD-11');
    if (!header.ok) throw refusal(401, header.reason);
    const now = unixNow();
    const shape = checkEventShape(header.event, this.deps.config, now);
    if (!shape.ok) throw refusal(401, `the authorization is not a valid event: ${shape.reason}`);
    const problem = tokenProblem(shape.value, { verb, now, host: relayHost(this.deps.config.publicUrl, req.headers.host) });
    if (problem) throw refusal(401, problem);
    const verified = await this.deps.verify(shape.value);
    if (!verified.ok) throw refusal(401, `the authorization is not signed correctly: ${verified.reason}`);
    return shape.value;
  }

  /** Who may store blobs: not a banned pubkey, and one of `mediaUploaders` when that list is set. */
  private checkUploader(pubkey: string): void {
    if (this.deps.moderation.pubkeyBanned(pubkey)) throw refusal(403, 'this pubkey is banned from this relay');
    const uploaders = this.deps.config.mediaUploaders;
    if (uploaders.length > 0 && !uploaders.includes(pubkey)) throw refusal(403, 'this relay takes media only from the pubkeys its operator lists');
  }

  private checkHash(sha256: string): void {
    if (this.deps.moderation.idBanned(sha256)) throw refusal(403, 'this blob is banned from this relay');
  }

  private checkSize(size: number): void {
    const max = this.deps.config.mediaMaxBytes;
    if (size > max) throw refusal(413, `the blob is ${size} bytes; this relay takes at most ${max}`);
  }

  private checkType(type: string | undefined): void {
    if (type !== undefined && !this.deps.config.mediaTypes.includes(type)) {
      throw refusal(415, `${type} is not a media type this relay stores (${this.deps.config.mediaTypes.join(', ')})`);
    }
  }

  private async checkQuota(pubkey: string, adding: number): Promise<void> {
    const quota = this.deps.config.mediaQuotaBytes;
    if (quota === 0) return;
    const used = await this.deps.records.usage(pubkey);
    if (used + adding > quota) throw refusal(413, `this pubkey stores ${used} bytes; ${adding} more would pass its quota of ${quota}`);
  }

  /** The hash a client declares in X-SHA-256, if it does. */
  private declaredHash(req: IncomingMessage): string | undefined {
    const value = req.headers['x-sha-256'];
    if (value === undefined) return undefined;
    if (!isHex64(value)) throw refusal(400, 'X-SHA-256 must be the blob\'s sha256 as 64 lowercase hex characters');
    return value;
  }

  private async receive(body: Readable): Promise<ReceivedBlob> {
    // A client that stops sending for a minute is gone: its temporary file is removed like a cut-off one.
    if (body instanceof IncomingMessage) body.setTimeout(UPLOAD_IDLE_MS, () => body.destroy(new Error('the upload stalled')));
    try {
      return await this.deps.files.receive(body, this.deps.config.mediaMaxBytes);
    } catch (err) {
      if (err instanceof BlobTooLarge) throw refusal(413, `the blob is larger than ${err.limit} bytes, the most this relay takes`);
      if (err instanceof BlobStorageFull) throw refusal(507, err.message);
      throw err;
    }
  }

  private descriptor(req: IncomingMessage, row: BlobRow): BlobDescriptor {
    const origin = httpOrigin(this.deps.config.publicUrl, req.headers.host);
    const urlOf = (blob: { sha256: string; type: string }) => `${origin}/${blob.sha256}${extensionFor(blob.type)}`;
    return { url: urlOf(row), sha256: row.sha256, size: row.size, type: row.type, uploaded: row.uploaded, nip94: nip94Tags(row, urlOf) };
  }

  private async exclusive<T>(sha256: string, run: () => Promise<T>): Promise<T> {
    const result = (this.locks.get(sha256) ?? Promise.resolve()).then(run);
    const done = result.then(() => undefined, () => undefined);
    this.locks.set(sha256, done);
    try {
      return await result;
    } finally {
      if (this.locks.get(sha256) === done) this.locks.delete(sha256);
    }
  }

  /**
   * Keeps a received blob for `pubkey`, once its hash is known to be the one authorized: the rules
   * that need the bytes (type, ban, quota), then the file under its hash and the metadata row.
   * Answers 201 for a blob new to the relay, 200 for one it had. `optimise` (PUT /media) stores the
   * optimised blobs made of it instead (media-upload.ts).
   */
  private async store(
    req: IncomingMessage, res: ServerResponse, blob: ReceivedBlob, declaredType: string | undefined, pubkey: string, optimise = false,
  ): Promise<void> {
    try {
      this.checkHash(blob.sha256);
      const type = declaredType ?? sniffType(blob.head) ?? 'application/octet-stream';
      this.checkType(type);
      if (optimise) {
        const { created, row } = await storeOptimised(this.optimising, blob, type, pubkey, unixNow());
        return this.json(req, res, created ? 201 : 200, this.descriptor(req, row));
      }
      await this.checkQuota(pubkey, blob.size);
      const row = await this.exclusive(blob.sha256, async () => {
        const created = await blob.keep();
        const { uploaded } = await this.deps.records.add({ sha256: blob.sha256, size: blob.size, type, pubkey, now: unixNow() });
        return { created, row: { sha256: blob.sha256, size: blob.size, type, uploaded } };
      });
      this.json(req, res, row.created ? 201 : 200, this.descriptor(req, row.row));
    } finally {
      await blob.discard();
    }
  }

  /** Cluster mode: refuses a write while the shared blob store is out of reach (503), before any body is read. */
  private checkWritable(): void {
    const down = this.deps.files.unavailable?.();
    if (down) throw refusal(503, `media cannot be stored now: ${down}`);
  }

  /**
   * PUT /upload (BUD-02), or PUT /media (BUD-05) with a `media` token: everything that can be checked
   * before the body is, so a refusal costs no bytes.
   */
  private async upload(req: IncomingMessage, res: ServerResponse, verb: 'upload' | 'media'): Promise<void> {
    const limited = this.deps.limits.mediaWrite(this.ip(req));
    if (limited) throw refusal(429, limited);
    this.checkWritable();
    const length = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    if (length !== undefined) this.checkSize(length);
    const type = mediaType(req.headers['content-type']);
    this.checkType(type);
    const declared = this.declaredHash(req);
    const token = await this.authorize(req, verb);
    this.checkUploader(token.pubkey);
    if (declared !== undefined) {
      if (!namesBlob(token, declared)) throw refusal(401, 'the authorization\'s x tags do not name the blob in X-SHA-256');
      this.checkHash(declared);
    }
    if (length !== undefined) await this.checkQuota(token.pubkey, length);
    if (verb === 'media') admitMedia(this.deps.optimiser, type);
    if (expectsContinue(req)) res.writeContinue();
    const blob = await this.receive(req);
    if (declared !== undefined && blob.sha256 !== declared) {
      await blob.discard();
      throw refusal(409, `the body's sha256 is ${blob.sha256}, not the ${declared} of X-SHA-256`);
    }
    if (!namesBlob(token, blob.sha256)) {
      await blob.discard();
      throw refusal(401, `the authorization's x tags do not name this blob (${blob.sha256})`);
    }
    await this.store(req, res, blob, type, token.pubkey, verb === 'media');
  }

  /** HEAD /upload (BUD-06), HEAD /media (BUD-05): would an upload of this hash, size and type be taken? */
  private async uploadCheck(req: IncomingMessage, res: ServerResponse, verb: 'upload' | 'media'): Promise<void> {
    const limited = this.deps.limits.req(this.ip(req));
    if (limited) throw refusal(429, limited);
    const declared = this.declaredHash(req);
    if (declared === undefined) throw refusal(400, 'send the blob\'s sha256 in X-SHA-256');
    const lengthHeader = String(req.headers['x-content-length'] ?? '');
    if (lengthHeader === '') throw refusal(411, 'send the blob\'s size in X-Content-Length');
    if (!/^\d+$/.test(lengthHeader)) throw refusal(400, 'X-Content-Length must be a whole number of bytes');
    const length = Number(lengthHeader);
    this.checkSize(length);
    const type = mediaType(req.headers['x-content-type']?.toString());
    this.checkType(type);
    const token = await this.authorize(req, verb);
    this.checkUploader(token.pubkey);
    if (!namesBlob(token, declared)) throw refusal(401, 'the authorization\'s x tags do not name the blob in X-SHA-256');
    this.checkHash(declared);
    await this.checkQuota(token.pubkey, length);
    if (verb === 'media') admitMedia(this.deps.optimiser, type);
    res.writeHead(200, CORS).end();
  }

  /** PUT /mirror (BUD-04): the relay fetches the blob from a URL; it must hash to the token's x. */
  private async mirror(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const limited = this.deps.limits.mediaWrite(this.ip(req));
    if (limited) throw refusal(429, limited);
    this.checkWritable();
    if (expectsContinue(req)) res.writeContinue();
    const body = await readBody(req, SMALL_BODY_BYTES);
    let target: unknown;
    try {
      target = (JSON.parse(body.toString('utf8')) as { url?: unknown }).url;
    } catch {
      throw refusal(400, 'the body must be JSON: {"url": "<the blob\'s URL>"}');
    }
    if (typeof target !== 'string') throw refusal(400, 'the body must be JSON: {"url": "<the blob\'s URL>"}');
    const declared = this.declaredHash(req);
    const token = await this.authorize(req, 'upload');
    this.checkUploader(token.pubkey);
    if (declared !== undefined && !namesBlob(token, declared)) throw refusal(401, 'the authorization\'s x tags do not name the blob in X-SHA-256');
    const fetched = await fetchForMirror(target, { allowPrivate: this.deps.config.mediaMirrorPrivate, maxBytes: this.deps.config.mediaMaxBytes });
    let blob: ReceivedBlob;
    try {
      blob = await this.receive(fetched.body);
    } catch (err) {
      if (err instanceof HttpRefusal) throw err;
      throw refusal(502, `the download from ${fetched.url.host} broke off: ${(err as Error).message}`);
    } finally {
      // After a refusal (too large, disk full) the remote's response would stay open until its timeout.
      fetched.body.destroy();
    }
    if (!namesBlob(token, blob.sha256) || (declared !== undefined && blob.sha256 !== declared)) {
      await blob.discard();
      throw refusal(409, `the blob at that URL has sha256 ${blob.sha256}, which the authorization does not name`);
    }
    await this.store(req, res, blob, mediaType(fetched.type) ?? typeOfPath(fetched.url.pathname), token.pubkey);
  }

  /** PUT /report (BUD-09): a NIP-56 report (kind 1984) naming blobs, stored through the relay's write path. */
  private async report(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (expectsContinue(req)) res.writeContinue();
    const text = (await readBody(req, SMALL_BODY_BYTES)).toString('utf8');
    let event: unknown;
    try {
      event = JSON.parse(text);
    } catch {
      throw refusal(400, 'the body must be a signed kind 1984 report event (JSON)');
    }
    const e = event as Partial<NostrEvent> | null;
    if (typeof e !== 'object' || e === null || e.kind !== 1984) throw refusal(400, 'the body must be a signed kind 1984 report event');
    if (!Array.isArray(e.tags) || !e.tags.some((t) => Array.isArray(t) && t[0] === 'x' && isHex64(t[1]))) {
      throw refusal(400, 'the report must name a blob with an x tag (its sha256)');
    }
    const result = await this.deps.submit(event, { ip: this.ip(req), authed: new Set() }, text);
    if (!result.accepted) throw refusal(statusOf(result.message), result.message);
    this.json(req, res, 200, { message: result.message || 'report stored' });
  }

  /** GET /list/<pubkey> (BUD-12): newest first, paged by `cursor` (the last hash of the previous page) and `limit`. */
  private async list(req: IncomingMessage, res: ServerResponse, pubkey: string, params: URLSearchParams): Promise<void> {
    const limited = this.deps.limits.req(this.ip(req));
    if (limited) throw refusal(429, limited);
    if (!isHex64(pubkey)) throw refusal(400, 'list a pubkey as /list/<64 lowercase hex characters>');
    const whole = (name: string, min: number, max: number): number | undefined => {
      const value = params.get(name);
      if (value === null || value === '') return undefined;
      const n = /^\d+$/.test(value) ? Number(value) : NaN;
      if (!Number.isSafeInteger(n) || n < min || n > max) throw refusal(400, `"${name}" must be a whole number from ${min} to ${max}`);
      return n;
    };
    const cursor = params.get('cursor') || undefined;
    if (cursor !== undefined && !isHex64(cursor)) throw refusal(400, '"cursor" must be the sha256 (64 lowercase hex) of the last blob of the previous page');
    const query = {
      pubkey, cursor, limit: whole('limit', 1, LIST_MAX) ?? LIST_DEFAULT,
      since: whole('since', 0, Number.MAX_SAFE_INTEGER), until: whole('until', 0, Number.MAX_SAFE_INTEGER),
    };
    const rows = this.deps.moderation.pubkeyBanned(pubkey) ? [] : await this.deps.records.list(query);
    if (!rows) throw refusal(400, `"cursor" ${cursor} is not one of this pubkey's blobs`);
    this.json(req, res, 200, rows.map((row) => this.descriptor(req, row)));
  }

  /** GET/HEAD /<sha256>[.ext] (BUD-01): the stored bytes with their stored type, one byte range at most. */
  private async get(req: IncomingMessage, res: ServerResponse, sha256: string): Promise<void> {
    const limited = this.deps.limits.req(this.ip(req));
    if (limited) throw refusal(429, limited);
    const info = await this.deps.records.describe(sha256);
    if (!info || !info.visible || this.deps.moderation.idBanned(sha256)) throw refusal(404, `no blob ${sha256} on this relay`);
    const headers: Record<string, string | number> = {
      ...CORS, 'Content-Type': info.type, 'Accept-Ranges': 'bytes', ETag: `"${sha256}"`, 'Cache-Control': CACHE_FOREVER,
      'X-Content-Type-Options': 'nosniff',
    };
    const match = req.headers['if-none-match'];
    if (match !== undefined && match.split(',').some((tag) => ['*', sha256, `"${sha256}"`, `W/"${sha256}"`].includes(tag.trim()))) {
      res.writeHead(304, headers).end();
      return;
    }
    const range = chooseRange(req.headers.range, info.size);
    if (range.kind !== 'whole') this.deps.metrics.range(range.kind === 'part' ? 'served' : 'unsatisfiable');
    if (range.kind === 'unsatisfiable') {
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${info.size}`, 'X-Reason': 'the range starts past the end of the blob' }).end();
      return;
    }
    const part = range.kind === 'part' ? range : undefined;
    const status = part ? 206 : 200;
    if (part) headers['Content-Range'] = `bytes ${part.start}-${part.end}/${info.size}`;
    headers['Content-Length'] = part ? part.end - part.start + 1 : info.size;
    if (req.method === 'HEAD') {
      res.writeHead(status, headers).end();
      return;
    }
    const bytes = await this.deps.files.open(sha256, part);
    if (!bytes) {
      this.deps.log.error({ sha256 }, 'a blob in the database has no file');
      throw refusal(404, `no blob ${sha256} on this relay`);
    }
    this.served.set(sha256, unixNow());
    this.deps.metrics.serving(bytes);
    res.writeHead(status, headers);
    // A client that stops reading (a video seeking elsewhere) ends the pipeline: nothing to report.
    await pipeline(bytes, res).catch(() => undefined);
  }

  /** DELETE /<sha256> (BUD-12): takes the token's pubkey off the owners; the last owner's delete removes the file. */
  private async delete(req: IncomingMessage, res: ServerResponse, sha256: string): Promise<void> {
    const limited = this.deps.limits.mediaWrite(this.ip(req));
    if (limited) throw refusal(429, limited);
    const token = await this.authorize(req, 'delete');
    if (!namesBlob(token, sha256)) throw refusal(401, 'the authorization\'s x tags do not name this blob');
    await this.exclusive(sha256, async () => {
      const { owned, last } = await this.deps.records.removeOwner(sha256, token.pubkey);
      if (!owned) {
        if (await this.deps.records.describe(sha256)) throw refusal(403, 'only a pubkey that uploaded this blob can delete it');
        throw refusal(404, `no blob ${sha256} on this relay`);
      }
      if (last) await this.deps.files.remove(sha256);
    });
    res.writeHead(204, CORS).end();
  }

  private async flushServed(): Promise<void> {
    if (this.served.size === 0) return;
    const served = [...this.served];
    this.served = new Map();
    await this.deps.records.touch(served).catch((err: unknown) => this.deps.log.error({ err }, 'recording when blobs were served failed'));
  }

  /** Stops the timer and the mirror cache, and records the last serving times. */
  async close(): Promise<void> {
    clearInterval(this.flushTimer);
    await this.mirrorCache?.close();
    await this.flushServed();
  }
}
