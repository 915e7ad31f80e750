import type { NostrEvent } from '../protocol/event.js';
import { matchesSearch, searchTerms } from '../powr/search.js';
import { matchesFilter, type Filter } from '../protocol/filter.js';

export interface LiveSubscription {
  readonly id: string;
  readonly filters: readonly Filter[];
  /** Sends one stored event to the subscriber. */
  deliver(eventJson: string, event: NostrEvent): void;
}

type Bucket<T> = Map<string, Set<T>>;

const searchTermsByFilter = new WeakMap<Filter, string[]>();

/** A live NIP-50 filter's terms, worked out once per subscription rather than per event. */
function termsOf(f: Filter): string[] {
  let terms = searchTermsByFilter.get(f);
  if (!terms) searchTermsByFilter.set(f, (terms = searchTerms(f.search!)));
  return terms;
}

/**
 * Holders of filters (subscriptions, cached answers), indexed so a new event is matched only against
 * those that could want it: each filter is filed under its most specific field (id, author, a tag
 * value, a kind), or in the catch-all set when it has none of them.
 */
export class FilterIndex<T extends { readonly filters: readonly Filter[] }> {
  private readonly buckets = { id: new Map(), author: new Map(), tag: new Map(), kind: new Map() } satisfies Record<string, Bucket<T>>;
  private readonly catchAll = new Set<T>();
  private readonly keys = new Map<T, [Bucket<T>, string][]>();

  get size(): number {
    return this.keys.size;
  }

  add(sub: T): void {
    const placed: [Bucket<T>, string][] = [];
    for (const f of sub.filters) {
      if (f.matchesNothing) continue;
      const [bucket, values] = this.slotFor(f);
      if (!bucket) {
        this.catchAll.add(sub);
        continue;
      }
      for (const value of values) {
        let set = bucket.get(value);
        if (!set) bucket.set(value, (set = new Set()));
        set.add(sub);
        placed.push([bucket, value]);
      }
    }
    this.keys.set(sub, placed);
  }

  remove(sub: T): void {
    for (const [bucket, value] of this.keys.get(sub) ?? []) {
      const set = bucket.get(value);
      set?.delete(sub);
      if (set?.size === 0) bucket.delete(value);
    }
    this.keys.delete(sub);
    this.catchAll.delete(sub);
  }

  private slotFor(f: Filter): [Bucket<T> | undefined, readonly string[]] {
    if (f.ids) return [this.buckets.id, f.ids];
    if (f.authors) return [this.buckets.author, f.authors];
    const tag = f.tags[0];
    if (tag) return [this.buckets.tag, tag.values.map((v) => `${tag.name}\u0000${v}`)];
    if (f.kinds) return [this.buckets.kind, f.kinds.map(String)];
    return [undefined, []];
  }

  /** The holders that may have a filter matching the event, once each (matchesFilter decides). */
  candidates(event: NostrEvent): Set<T> {
    const candidates = new Set<T>(this.catchAll);
    const collect = (bucket: Bucket<T>, key: string) => bucket.get(key)?.forEach((s) => candidates.add(s));
    collect(this.buckets.id, event.id);
    collect(this.buckets.author, event.pubkey);
    collect(this.buckets.kind, String(event.kind));
    for (const tag of event.tags) if (tag.length > 1) collect(this.buckets.tag, `${tag[0]}\u0000${tag[1]}`);
    return candidates;
  }
}

/** Every open subscription on the relay. */
export class LiveSubscriptions extends FilterIndex<LiveSubscription> {
  /** Delivers the event to every subscription with a matching filter, once each. */
  publish(event: NostrEvent, eventJson: string): number {
    let delivered = 0;
    for (const sub of this.candidates(event)) {
      if (sub.filters.some((f) => matchesFilter(event, f) && (f.search === undefined || matchesSearch(event, termsOf(f))))) {
        sub.deliver(eventJson, event);
        delivered++;
      }
    }
    return delivered;
  }
}
