import type { NostrEvent } from '../protocol/event.js';
import type { CommittedChange, StoragePort } from '../store/port.js';
import type { LiveSubscriptions } from './live-subscriptions.js';

/**
 * Live delivery driven by the committed-change feed: every stored event reaches the live
 * subscriptions after its commit, whichever process or node committed it. Ephemeral events are never
 * stored, so they enter here directly.
 */
export class Fanout {
  constructor(private readonly live: LiveSubscriptions) {}

  /** Subscribes to the store's feed; returns the unsubscribe function. */
  follow(store: StoragePort): () => void {
    return store.onChange((change) => this.onChange(change));
  }

  private onChange(change: CommittedChange): void {
    // Nothing to match against: parsing every stored event would be work on the ingest path for no one.
    if (this.live.size === 0) return;
    for (const { json } of change.stored) this.live.publish(JSON.parse(json) as NostrEvent, json);
  }

  ephemeral(event: NostrEvent, json: string): void {
    this.live.publish(event, json);
  }
}
