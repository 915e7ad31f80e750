import type { Logger } from 'pino';
import type { Config } from '../config/settings.js';
import {
  checkEventShape,
  expirationOf,
  kindClass,
  type NostrEvent,
} from '../protocol/event.js';
import type { StoragePort } from '../store/port.js';
import type { CheckResult } from '../workers/check-event.js';
import type { Fanout } from './fanout.js';
import type { Moderation } from '../management/moderation.js';
import { WRITE_POLICIES, firstRefusal } from './policies.js';
import type { RateLimits } from './rate-limits.js';

export interface IngestResult {
  accepted: boolean;
  message: string;
}

/**
 * Who is publishing: the client's address (for rate limits) and the pubkeys it authenticated as. The
 * operator's own import is `trusted`: no access rules or rate limits, the same validation.
 */
export interface Publisher {
  ip: string;
  authed: ReadonlySet<string>;
  trusted?: boolean;
}

/** Checks id, signature and NIP-101e rules: the worker pool, or in-process for an unverified import. */
export interface Verifier {
  /** `eventText`: the event's JSON; it crosses to the verification threads as text. */
  run(eventText: string): Promise<CheckResult>;
}

const unixNow = () => Math.floor(Date.now() / 1000);

/**
 * The write path every EVENT takes: cheap checks on the main thread, id and signature in the worker
 * pool, then the storage port's writer. Live subscribers hear of stored events from the change feed
 * once they are committed; ephemeral events skip the store and go straight to the fan-out.
 */
export class Ingest {
  private inFlight = 0;
  private idle: (() => void)[] = [];

  constructor(
    private readonly config: Config,
    private readonly store: StoragePort,
    private readonly verifier: Verifier,
    private readonly fanout: Fanout | undefined,
    private readonly limits: RateLimits,
    private readonly log: Logger,
    private readonly moderation?: Moderation,
  ) {}

  /** Id, signature (and NIP-101e validation) in the worker pool; `text` is the event's JSON when at hand. */
  verify(event: NostrEvent, text = JSON.stringify(event)): Promise<CheckResult> {
    return this.verifier.run(text);
  }

  /** Every EVENT goes through here; drain() waits for the ones still on their way to the writer. */
  async submit(raw: unknown, from: Publisher, text?: string): Promise<IngestResult> {
    this.inFlight++;
    try {
      return await this.process(raw, from, text);
    } finally {
      if (--this.inFlight === 0) for (const done of this.idle.splice(0)) done();
    }
  }

  drain(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.idle.push(resolve));
  }

  /** Why this publisher may not publish this event, before any verification work is spent on it. */
  private refusal(event: NostrEvent, from: Publisher): string | undefined {
    return firstRefusal(WRITE_POLICIES, { event, ...from, trusted: from.trusted ?? false, config: this.config, limits: this.limits,
      moderation: this.moderation });
  }

  private async process(raw: unknown, from: Publisher, text: string | undefined): Promise<IngestResult> {
    const now = unixNow();
    const shape = checkEventShape(raw, this.config, now);
    if (!shape.ok) return { accepted: false, message: shape.reason };
    const event = shape.value;
    const refusal = this.refusal(event, from);
    if (refusal) return { accepted: false, message: refusal };
    const expiration = expirationOf(event);
    if (expiration !== undefined && expiration <= now) return { accepted: false, message: 'invalid: event has expired' };
    // Duplicates are found by the writer, in the transaction that would store them: a look-up here
    // would cost every event a round trip to a reader thread to save a signature check on a few.
    const ephemeral = kindClass(event.kind) === 'ephemeral';

    let verified: CheckResult;
    try {
      verified = await this.verify(event, text);
    } catch (err) {
      this.log.error({ err, id: event.id }, 'verification failed');
      return { accepted: false, message: 'error: the event could not be verified, try again' };
    }
    if (!verified.ok) return { accepted: false, message: verified.reason };
    const limited = from.trusted ? undefined : this.limits.author(from.ip, event.pubkey);
    if (limited) return { accepted: false, message: limited };

    if (ephemeral) {
      this.fanout?.ephemeral(event, verified.json);
      return { accepted: true, message: '' };
    }
    const outcome = await this.store.write({ json: verified.json, prepared: verified.prepared });
    if (outcome.status === 'stored') return { accepted: true, message: '' };
    return { accepted: outcome.status === 'duplicate', message: outcome.message };
  }
}
