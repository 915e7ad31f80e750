import type { Logger } from 'pino';
import type { Config } from '../config/settings.js';
import {
  AUTH_KIND,
  checkEventShape,
  expirationOf,
  isProtected,
  kindClass,
  type NostrEvent,
} from '../protocol/event.js';
import type { Writer } from '../store/writer.js';
import type { EventStore } from '../store/event-store.js';
import type { WorkerPool } from '../workers/pool.js';
import type { CheckResult } from '../workers/check-event.js';
import type { LiveSubscriptions } from './live-subscriptions.js';

export interface IngestResult {
  accepted: boolean;
  message: string;
}

const unixNow = () => Math.floor(Date.now() / 1000);

/**
 * The write path every EVENT takes: cheap checks on the main thread, id and signature in the worker
 * pool, then the single writer; the event is broadcast to live subscriptions only once it is
 * committed (ephemeral events skip the store).
 */
export class Ingest {
  private inFlight = 0;
  private idle: (() => void)[] = [];

  constructor(
    private readonly config: Config,
    private readonly store: EventStore,
    private readonly writer: Writer,
    private readonly verifier: WorkerPool<NostrEvent, CheckResult>,
    private readonly live: LiveSubscriptions,
    private readonly log: Logger,
  ) {}

  /** Every EVENT goes through here; drain() waits for the ones still on their way to the writer. */
  async submit(raw: unknown): Promise<IngestResult> {
    this.inFlight++;
    try {
      return await this.process(raw);
    } finally {
      if (--this.inFlight === 0) for (const done of this.idle.splice(0)) done();
    }
  }

  drain(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.idle.push(resolve));
  }

  private async process(raw: unknown): Promise<IngestResult> {
    const now = unixNow();
    const shape = checkEventShape(raw, this.config, now);
    if (!shape.ok) return { accepted: false, message: shape.reason };
    const event = shape.value;

    if (event.kind === AUTH_KIND) {
      return { accepted: false, message: 'invalid: AUTH events (kind 22242) are never published with EVENT' };
    }
    if (isProtected(event)) {
      return { accepted: false, message: 'blocked: protected events (NIP-70) need AUTH, which this relay does not offer' };
    }
    const expiration = expirationOf(event);
    if (expiration !== undefined && expiration <= now) return { accepted: false, message: 'invalid: event has expired' };
    const ephemeral = kindClass(event.kind) === 'ephemeral';
    if (!ephemeral && this.store.has(event.id)) return { accepted: true, message: 'duplicate: already have this event' };

    let verified: CheckResult;
    try {
      verified = await this.verifier.run(event);
    } catch (err) {
      this.log.error({ err, id: event.id }, 'verification failed');
      return { accepted: false, message: 'error: the event could not be verified, try again' };
    }
    if (!verified.ok) return { accepted: false, message: verified.reason };

    if (ephemeral) {
      this.live.publish(event, verified.json);
      return { accepted: true, message: '' };
    }
    const outcome = await this.writer.write({ event, json: verified.json, record: verified.record, flags: verified.flags });
    if (outcome.status === 'stored') {
      this.live.publish(event, verified.json);
      return { accepted: true, message: '' };
    }
    return { accepted: outcome.status === 'duplicate', message: outcome.message };
  }
}
