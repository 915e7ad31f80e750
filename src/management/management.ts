import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../config/settings.js';
import { checkEventShape, type NostrEvent } from '../protocol/event.js';
import { checkHttpAuthEvent, readAuthorization } from '../protocol/nip98.js';
import type { StoragePort } from '../store/port.js';
import type { CheckResult } from '../workers/check-event.js';
import { HttpRefusal, readBody } from '../http/body.js';
import { MethodError, runMethod } from './management-methods.js';
import type { Moderation } from './moderation.js';

export const MANAGEMENT_CONTENT_TYPE = 'application/nostr+json+rpc';
/** Management calls are small; a larger body is refused before it is hashed or parsed. */
const MAX_BODY_BYTES = 64 * 1024;

/** What management needs of the relay's RateLimits, which sit above it: a call spends a token of the caller's REQ bucket. */
interface RequestLimits {
  clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined): string;
  req(ip: string): string | undefined;
}

export interface ManagementDeps {
  config: Config;
  store: StoragePort;
  moderation: Moderation;
  /** Id and signature check in the verification pool (Ingest.verify). */
  verify: (event: NostrEvent) => Promise<CheckResult>;
  limits: RequestLimits;
  log: Logger;
}

/**
 * NIP-86 relay management: JSON-RPC over HTTP POST on the relay's URL, authorized with NIP-98 by a
 * pubkey in `adminPubkeys`. Each decision is logged (admin, method, params) and takes effect at once.
 */
export class Management {
  constructor(private readonly deps: ManagementDeps) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const answer = (status: number, body: unknown): void => {
      res.writeHead(status, { 'Access-Control-Allow-Origin': '*', 'Content-Type': MANAGEMENT_CONTENT_TYPE }).end(JSON.stringify(body));
    };
    try {
      // Each call may cost a signature check: it spends a token of the address's REQ bucket, like a bundle.
      const limited = this.deps.limits.req(this.deps.limits.clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for']));
      if (limited) throw new HttpRefusal(429, limited);
      const body = await readBody(req, MAX_BODY_BYTES);
      const admin = await this.authorize(req, body);
      answer(200, { result: await this.call(admin, body) });
    } catch (err) {
      if (err instanceof HttpRefusal) answer(err.status, { error: err.message });
      else if (err instanceof MethodError) answer(200, { error: err.message });
      else {
        this.deps.log.error({ err }, 'management call failed');
        answer(500, { error: 'error: the call could not be completed' });
      }
    }
  }

  /** The admin pubkey that signed this request (NIP-98); throws 401 or 403. */
  private async authorize(req: IncomingMessage, body: Buffer): Promise<string> {
    const header = readAuthorization(req.headers.authorization);
    if (!header.ok) throw new HttpRefusal(401, header.reason);
    const now = Math.floor(Date.now() / 1000);
    const shape = checkEventShape(header.event, this.deps.config, now);
    if (!shape.ok) throw new HttpRefusal(401, shape.reason);
    const event = shape.value;
    const urls = [`http://${req.headers.host ?? ''}${req.url ?? '/'}`, ...(this.deps.config.publicUrl ? [this.deps.config.publicUrl] : [])];
    const payloadHash = createHash('sha256').update(body).digest('hex');
    const mismatch = checkHttpAuthEvent(event, { urls, method: req.method ?? '', payloadHash, now });
    if (mismatch) throw new HttpRefusal(401, mismatch);
    const verified = await this.deps.verify(event);
    if (!verified.ok) throw new HttpRefusal(401, verified.reason);
    if (!this.deps.config.adminPubkeys.includes(event.pubkey)) {
      throw new HttpRefusal(403, 'restricted: this pubkey is not an admin of this relay');
    }
    return event.pubkey;
  }

  private async call(admin: string, body: Buffer): Promise<unknown> {
    let request: unknown;
    try {
      request = JSON.parse(body.toString('utf8'));
    } catch {
      throw new MethodError('invalid: the body must be JSON: {"method": "...", "params": [...]}');
    }
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
      throw new MethodError('invalid: the body must be a JSON object: {"method": "...", "params": [...]}');
    }
    const { method, params } = request as { method?: unknown; params?: unknown };
    const outcome = await runMethod(method, params ?? [], this.deps.store);
    if (outcome.decided) {
      this.deps.log.info({ admin, method, params }, 'management decision');
      await this.deps.moderation.reload();
    }
    return outcome.result;
  }
}
