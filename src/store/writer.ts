import type { Logger } from 'pino';
import type { EventStore, VerifiedEvent, WriteOutcome } from './event-store.js';

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
  private idle: (() => void)[] = [];
  private readonly applyOne;
  private readonly applyBatch;

  constructor(
    private readonly store: EventStore,
    private readonly batchSize: number,
    private readonly log: Logger,
  ) {
    // Nested transactions are savepoints: one bad event rolls back alone, the batch still commits.
    this.applyOne = store.db.transaction((item: VerifiedEvent, now: number) => store.apply(item, now));
    this.applyBatch = store.db.transaction((batch: Pending[], now: number) =>
      batch.map(({ item }) => {
        try {
          return this.applyOne(item, now);
        } catch (err) {
          this.log.error({ err, id: item.event.id }, 'event could not be stored');
          return { status: 'rejected', message: 'error: the event could not be stored' } as WriteOutcome;
        }
      }),
    );
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

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue.splice(0, this.batchSize);
    let outcomes: WriteOutcome[];
    try {
      outcomes = this.applyBatch(batch, Math.floor(Date.now() / 1000));
    } catch (err) {
      this.log.error({ err, events: batch.length }, 'write transaction failed');
      outcomes = batch.map(() => ({ status: 'rejected', message: 'error: the database could not commit the event' }));
    }
    this.store.flushChanges();
    batch.forEach((p, i) => p.resolve(outcomes[i]!));
    if (this.queue.length > 0) this.schedule();
    else for (const done of this.idle.splice(0)) done();
  }
}
