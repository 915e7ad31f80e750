import type { NostrEvent } from '../protocol/event.js';
import type { CommittedChange, StoragePort } from '../store/port.js';
import type { LiveSubscriptions } from './live-subscriptions.js';

/**
 * Live delivery driven by the committed-change feed: every stored event reaches the live
 * subscriptions after its commit, whichever process or node committed it. Ephemeral events are never
 * stored, so they enter here directly, and in cluster mode they are shared with the other nodes too.
 */
export class Fanout {
  constructor(private readonly live: LiveSubscriptions, private readonly store: StoragePort) {}

  /** Subscribes to the store's feed and to other nodes' ephemeral events; returns the unsubscribe function. */
  follow(): () => void {
    const changes = this.store.onChange((change, events) => this.onChange(change, events));
    const ephemeral = this.store.onEphemeral((json) => this.fromOtherNode(json));
    return () => {
      changes();
      ephemeral();
    };
  }

  /** Another node's ephemeral event; anything else on that NATS subject (not JSON) is dropped. */
  private fromOtherNode(json: string): void {
    let event: NostrEvent;
    try {
      event = JSON.parse(json) as NostrEvent;
    } catch {
      return;
    }
    if (typeof event === 'object' && event !== null && Array.isArray(event.tags)) this.live.publish(event, json);
  }

  private onChange(change: CommittedChange, events: () => readonly NostrEvent[]): void {
    // Nothing to match against: parsing every stored event would be work on the ingest path for no one.
    if (this.live.size === 0) return;
    events().forEach((event, i) => this.live.publish(event, change.stored[i]!.json));
  }

  /** An ephemeral event published here: this node's subscribers at once, other nodes' through the cluster. */
  ephemeral(event: NostrEvent, json: string): void {
    this.live.publish(event, json);
    this.store.shareEphemeral(json);
  }
}
