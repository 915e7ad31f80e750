import { LRUCache } from 'lru-cache';
import { mayMatchRestricted, type Viewers } from '../powr/privacy.js';
import type { NostrEvent } from '../protocol/event.js';
import { matchesFilter, type Filter } from '../protocol/filter.js';
import { reframe } from '../protocol/messages.js';
import type { CommittedChange } from '../store/port.js';
import { FilterIndex } from './live-subscriptions.js';

/** A REQ's stored answer as a reader thread builds it: its frames (replyFrames) and the ids sent, run together. */
export interface StoredAnswer {
  frames: Uint8Array;
  ids: string;
}

interface Entry {
  readonly key: string;
  readonly filters: readonly Filter[];
  /** The subscription id the frames carry. */
  readonly subId: string;
  readonly answer: StoredAnswer;
}

/** Bytes an entry holds beyond its frames: the key, the ids (UTF-16), the filters and the index's sets, roughly. */
const ENTRY_OVERHEAD = 512;
/**
 * Most ids, authors and tag values a kept answer's filters name in all: filters naming more (a following
 * list, a batch of ids) are one reader's, rarely asked again, and would cost each miss a long key and
 * an index entry per value (a 100-author following feed: ~0.4 ms of the main thread).
 */
const MAX_VALUES = 32;
/** The share of the cache's bytes that remembers keys asked once (see `put`). */
const ASKED_SHARE = 1 / 16;
/** An event that expires (NIP-40) leaves answers at a time no commit reports: such answers are not kept. */
const EXPIRATION_TAG = Buffer.from('"expiration"');

/**
 * Whole REQ answers, kept for the next client that sends the same filters (many feeds are the same
 * for everyone). Exact at all times, driven by the committed-change feed alone: a committed event that
 * matches a cached answer's filter drops that answer, a removed event drops the answers holding it,
 * and a change the feed cannot detail (another process's commit, a moderation decision) drops them all.
 * An answer read while a commit arrived may predate it, and is not kept; nor is the first answer to
 * filters not asked before (most REQs name one user's data, and are not asked again by others).
 */
export class AnswerCache {
  private readonly entries: LRUCache<string, Entry> | undefined;
  private readonly index = new FilterIndex<Entry>();
  private readonly byId = new Map<string, Set<Entry>>();
  /** Keys asked once: an answer is kept when its filters come a second time, so one-off REQs cost no keeping. */
  private readonly asked: LRUCache<string, true> | undefined;
  /** Commits seen so far: `put` keeps an answer only when none arrived since its read began. */
  commits = 0;

  constructor(cacheBytes: number) {
    if (cacheBytes > 0) {
      this.entries = new LRUCache<string, Entry>({
        maxSize: cacheBytes,
        sizeCalculation: (e, key) => e.answer.frames.byteLength + e.answer.ids.length * 2 + key.length * 2 + ENTRY_OVERHEAD,
        dispose: (e) => this.unindex(e),
      });
      this.asked = new LRUCache<string, true>({ maxSize: Math.max(1, Math.floor(cacheBytes * ASKED_SHARE)), sizeCalculation: (_, key) => key.length });
    }
  }

  /**
   * The cache key of a REQ's filters (the parsed filters, in order); undefined when its answer is not
   * kept: the cache is off, a filter searches (NIP-50), resolves references, or may match events the
   * read rules restrict (the answer then depends on who asks), or they name too many values.
   */
  keyOf(filters: readonly Filter[], viewers: Viewers | undefined): string | undefined {
    if (!this.entries) return undefined;
    let values = 0;
    for (const f of filters) {
      if (f.search !== undefined || f.resolve || (viewers && mayMatchRestricted(f, viewers))) return undefined;
      values += (f.ids?.length ?? 0) + (f.authors?.length ?? 0);
      for (const t of f.tags) values += t.values.length;
    }
    if (values > MAX_VALUES) return undefined;
    return JSON.stringify(filters.map((f) => [f.ids, f.authors, f.kinds, f.since, f.until, f.limit, f.tags.map((t) => [t.name, t.values])]));
  }

  /** The cached answer for `key`, framed for subscription `subId`. */
  get(key: string, subId: string): StoredAnswer | undefined {
    const entry = this.entries?.get(key);
    if (!entry) return undefined;
    return { frames: reframe(entry.answer.frames, entry.subId, subId), ids: entry.answer.ids };
  }

  /** Keeps an answer read for subscription `subId`, unless a commit arrived since `commitsBefore` (this.commits then). */
  put(key: string, filters: readonly Filter[], subId: string, answer: StoredAnswer, commitsBefore: number): void {
    if (!this.entries || !this.asked || this.commits !== commitsBefore) return;
    if (!this.asked.has(key)) {
      this.asked.set(key, true);
      return;
    }
    const frames = answer.frames;
    if (Buffer.from(frames.buffer, frames.byteOffset, frames.byteLength).includes(EXPIRATION_TAG)) return;
    const entry: Entry = { key, filters, subId, answer };
    this.entries.set(key, entry);
    // Too large for the cache: not stored.
    if (this.entries.peek(key) !== entry) return;
    this.index.add(entry);
    for (let at = 0; at < answer.ids.length; at += 64) {
      const id = answer.ids.slice(at, at + 64);
      let holders = this.byId.get(id);
      if (!holders) this.byId.set(id, (holders = new Set()));
      holders.add(entry);
    }
  }

  /** Feed subscriber: drops every answer a commit may have changed. */
  readonly onChange = (change: CommittedChange, events: () => readonly NostrEvent[]): void => {
    this.commits++;
    const entries = this.entries;
    if (!entries || entries.size === 0) return;
    if (change.external || change.moderation) {
      entries.clear();
      return;
    }
    for (const id of change.removed) this.byId.get(id)?.forEach((e) => this.drop(e));
    for (const event of events()) {
      for (const e of this.index.candidates(event)) if (e.filters.some((f) => matchesFilter(event, f))) this.drop(e);
    }
  };

  private drop(entry: Entry): void {
    if (this.entries?.peek(entry.key) === entry) this.entries.delete(entry.key);
  }

  private unindex(entry: Entry): void {
    this.index.remove(entry);
    for (let at = 0; at < entry.answer.ids.length; at += 64) {
      const id = entry.answer.ids.slice(at, at + 64);
      const holders = this.byId.get(id);
      holders?.delete(entry);
      if (holders?.size === 0) this.byId.delete(id);
    }
  }
}
