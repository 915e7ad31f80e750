import type { Logger } from 'pino';
import type { EventStore, VerifiedEvent, WriteOutcome } from './event-store.js';

/** How long a batch may wait for company while the writer is busy. */
const GROUP_COMMIT_WAIT_MS = 5;

interface Pending {
  item: VerifiedEvent;
  resolve: (outcome: WriteOutcome) => void;
}

/**
 * The single writer. Events from every connection are queued and committed together (group commit):
 * one transaction per turn of the event loop, up to `batchSize` events. A promise resolves only after
 * the transaction holding its event has committed, so an OK true is never sent for an event that a
 * crash could lose.
 */
export class Writer {
  private queue: Pending[] = [];
  private scheduled = false;
  private lastFlushEnd = -Infinity;
  private idle: (() => void)[] = [];
  private readonly applyBatch;
  private readonly applyAlone;

  constructor(
    private readonly store: EventStore,
    private readonly batchSize: number,
    private readonly log: Logger,
    /** Told each batch's size and the seconds it took to apply and commit (metrics). */
    private readonly observe: (events: number, seconds: number) => void = () => {},
  ) {
    this.applyBatch = store.transaction((batch: Pending[], now: number) => batch.map(({ item }) => store.apply(item, now)));
    this.applyAlone = store.transaction((item: VerifiedEvent, now: number) => store.apply(item, now));
  }

  write(item: VerifiedEvent): Promise<WriteOutcome> {
    return new Promise((resolve) => {
      this.queue.push({ item, resolve });
      this.schedule();
    });
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Resolves once every queued event has been committed. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && !this.scheduled) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private applyEach(item: VerifiedEvent, now: number): WriteOutcome {
    try {
      return this.applyAlone(item, now);
    } catch (err) {
      this.log.error({ err, id: item.event.id }, 'event could not be stored');
      return { status: 'rejected', message: 'error: the event could not be stored' };
    }
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // Under sustained load (the last commit just ended) a few milliseconds more fill the batch: every
    // commit writes each page it touched once, so small batches cost several times more per event.
    // An isolated event is committed at once.
    const busy = performance.now() - this.lastFlushEnd < GROUP_COMMIT_WAIT_MS;
    if (busy && this.queue.length < this.batchSize) setTimeout(() => this.flush(), GROUP_COMMIT_WAIT_MS);
    else setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue.splice(0, this.batchSize);
    this.store.detectExternalWrites();
    const now = Math.floor(Date.now() / 1000);
    const started = performance.now();
    let outcomes: WriteOutcome[];
    try {
      outcomes = this.applyBatch(batch, now);
    } catch (err) {
      // The whole batch rolled back. Retry each event in its own transaction so one bad event (or a
      // bug it triggers) costs only its own OK; a per-event savepoint on every write would cost a
      // fifth of the writer's time.
      this.log.error({ err, events: batch.length }, 'write transaction failed; retrying its events one by one');
      outcomes = batch.map(({ item }) => this.applyEach(item, now));
    }
    this.lastFlushEnd = performance.now();
    this.observe(batch.length, (this.lastFlushEnd - started) / 1000);
    this.store.flushChanges();
    batch.forEach((p, i) => p.resolve(outcomes[i]!));
    if (this.queue.length > 0) this.schedule();
    else for (const done of this.idle.splice(0)) done();
  }
}
