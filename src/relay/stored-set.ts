import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { StoragePort, StoredSetReport } from '../store/port.js';
import type { RateLimits } from './rate-limits.js';

/**
 * GET /api/digest[?now=<unix seconds>]: this node's stored event ids counted from its rows, what its
 * writer kept, and the cluster sequence they belong to: what `powr-relay cluster check` compares. A
 * recount walks the whole id index on a reader thread (40-70 ms of CPU per 100,000 events), so
 * each request spends a token of the address's REQ rate limit, recounts run one after another, and
 * requests for the same time share one.
 */
export class StoredSetEndpoint {
  /** The last recount asked for, shared by requests for the same time until it is done. */
  private latest: { now: number; report: Promise<StoredSetReport> } | undefined;
  private previous: Promise<unknown> = Promise.resolve();

  constructor(private readonly store: StoragePort, private readonly limits: RateLimits, private readonly log: Logger) {}

  async handle(params: URLSearchParams, req: IncomingMessage, res: ServerResponse, headers: Record<string, string>): Promise<void> {
    const json = (status: number, body: unknown) =>
      res.writeHead(status, { ...headers, 'Content-Type': 'application/json' }).end(req.method === 'HEAD' ? undefined : JSON.stringify(body));
    const limited = this.limits.req(this.limits.clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for']));
    if (limited) return void json(429, { error: limited });
    const asked = params.get('now');
    if (asked !== null && !/^\d{1,12}$/.test(asked)) return void json(400, { error: '"now" must be a time in whole seconds since 1970' });
    const now = asked === null ? Math.floor(Date.now() / 1000) : Number(asked);
    try {
      const { appliedSeq, served, rows, kept } = await this.recount(now);
      json(200, { appliedSeq, now, ...served, rows, kept: kept ?? null });
    } catch (err) {
      this.log.error({ err }, 'counting the stored ids failed');
      json(500, { error: 'the stored ids could not be counted' });
    }
  }

  private recount(now: number): Promise<StoredSetReport> {
    if (this.latest?.now === now) return this.latest.report;
    // One recount at a time, whatever `now` callers choose: a stream of requests for other times
    // keeps at most one reader thread busy, and REQs and pages go on on the others.
    const report = this.previous.then(() => this.store.storedSet(now));
    this.previous = report.catch(() => undefined);
    const latest = { now, report };
    this.latest = latest;
    const done = () => {
      if (this.latest === latest) this.latest = undefined;
    };
    report.then(done, done);
    return report;
  }
}
