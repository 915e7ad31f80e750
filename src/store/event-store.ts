import type { Database, Statement } from 'better-sqlite3';
import { LRUCache } from 'lru-cache';
import {
  DELETION_KIND,
  addressKey,
  expirationOf,
  isHex64,
  kindClass,
  parseAddress,
  type NostrEvent,
} from '../protocol/event.js';
import type { Filter } from '../protocol/filter.js';
import type { Viewers } from '../powr/privacy.js';
import type { Flag, PowrRecord } from '../powr/types.js';
import { openDatabase } from './database.js';
import { planFilter, splitForTimeOrder } from './planner.js';
import { DEPENDENCY_KINDS, PowrTables } from './powr-tables.js';

/** An event that passed verification, with the canonical JSON it will be stored and served as. */
export interface VerifiedEvent {
  event: NostrEvent;
  json: string;
  /** Its NIP-101e record, when it is a workout event, and the flags validation raised. */
  record: PowrRecord | null;
  flags: Flag[];
}

export type WriteOutcome =
  | { status: 'stored' }
  /** Accepted (OK true) but nothing changed. */
  | { status: 'duplicate'; message: string }
  /** Refused (OK false). */
  | { status: 'rejected'; message: string };

export interface QueryOptions {
  /** Privacy mode: who is asking (workout records are filtered to what they may read). */
  viewers?: Viewers;
  /** Stop with QueryTimeout after this long. */
  timeoutMs?: number;
}

/** A read ran out of its time budget. */
export class QueryTimeout extends Error {
  constructor() {
    super('query ran out of time');
  }
}

interface Row {
  seq: number;
  created_at: number;
  id: Buffer;
  json: string;
}

const blob = (hex: string) => Buffer.from(hex, 'hex');

/** Newest first; equal timestamps by lowest id (NIP-01). */
function newestFirst(a: Row, b: Row): number {
  return b.created_at - a.created_at || Buffer.compare(a.id, b.id);
}

/** The distinct (name, first value) pairs an event is indexed under; a record repeats each exercise per set. */
function tagKeys(event: NostrEvent): [string, string][] {
  const keys = new Map<string, [string, string]>();
  for (const tag of event.tags) if (tag.length > 1) keys.set(`${tag[0]}\u0000${tag[1]}`, [tag[0]!, tag[1]!]);
  return [...keys.values()];
}

const GIFT_WRAP_KINDS = new Set([1059, 21059]);

function isRecipientOfGiftWrap(target: { kind: number; json: string }, pubkey: string): boolean {
  if (!GIFT_WRAP_KINDS.has(target.kind)) return false;
  const { tags } = JSON.parse(target.json) as NostrEvent;
  return tags.some((t) => t[0] === 'p' && t[1] === pubkey);
}

/**
 * Owns the SQLite database: every read and write of events goes through here. Writes are meant to
 * be called by the single Writer, which wraps a batch of them in one transaction.
 */
export class EventStore {
  readonly db: Database;
  readonly powr: PowrTables;
  /** Addresses and `id:<hex>` keys changed since the last flushChanges(), for cache invalidation. */
  private changes = new Set<string>();
  private readonly changeListeners: ((keys: ReadonlySet<string>) => void)[] = [];
  private readonly statements = new LRUCache<string, Statement>({ max: 500 });
  private readonly sql;
  private deadline = Infinity;
  private dataVersion: number | undefined;
  private readonly externalWriteListeners: (() => void)[] = [];

  constructor(path: string) {
    this.db = openDatabase(path);
    let rows = 0;
    // Checking the clock on every row would cost more than the rows; every 256th is within 0.1 ms.
    // Its argument (the driving row) only ties it to the loop over rows; the arity comes from it.
    this.db.function('powr_budget', { deterministic: false }, (_row: unknown) => {
      if ((++rows & 255) === 0 && performance.now() > this.deadline) throw new QueryTimeout();
      return 1;
    });
    this.powr = new PowrTables(this.db);
    const db = this.db;
    this.sql = {
      hasId: db.prepare('SELECT 1 FROM nostr_events WHERE id = ?').pluck(),
      byId: db.prepare('SELECT seq, pubkey, kind, json FROM nostr_events WHERE id = ?'),
      byAddress: db.prepare(
        'SELECT seq, created_at, id FROM nostr_events WHERE kind = ? AND pubkey = ? AND d = ?',
      ),
      insertEvent: db.prepare(
        `INSERT INTO nostr_events (id, pubkey, kind, created_at, d, expires_at, received_at, json)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertTag: db.prepare('INSERT OR IGNORE INTO event_tags (name, value, kind, created_at, event_seq) VALUES (?, ?, ?, ?, ?)'),
      deleteEvent: db.prepare('DELETE FROM nostr_events WHERE seq = ?'),
      identity: db.prepare('SELECT id, pubkey, kind, created_at, d, json FROM nostr_events WHERE seq = ?'),
      deleteTag: db.prepare('DELETE FROM event_tags WHERE name = ? AND value = ? AND kind = ? AND created_at = ? AND event_seq = ?'),
      isDeletedId: db.prepare('SELECT 1 FROM deleted_events WHERE id = ? AND pubkey = ?').pluck(),
      addDeletedId: db.prepare('INSERT OR IGNORE INTO deleted_events (id, pubkey) VALUES (?, ?)'),
      deletedUntil: db.prepare('SELECT until FROM deleted_addresses WHERE kind = ? AND pubkey = ? AND d = ?').pluck(),
      addDeletedAddress: db.prepare(
        `INSERT INTO deleted_addresses (kind, pubkey, d, until) VALUES (?, ?, ?, ?)
         ON CONFLICT (kind, pubkey, d) DO UPDATE SET until = max(until, excluded.until)`,
      ),
      addressVersionsUpTo: db.prepare(
        'SELECT seq FROM nostr_events WHERE kind = ? AND pubkey = ? AND d = ? AND created_at <= ?',
      ).pluck(),
      olderOfKind: db.prepare(
        'SELECT seq FROM nostr_events INDEXED BY events_by_kind WHERE kind = ? AND created_at < ? LIMIT ?',
      ).pluck(),
      expired: db.prepare(
        'SELECT seq FROM nostr_events INDEXED BY events_by_expiry WHERE expires_at <= ? LIMIT ?',
      ).pluck(),
    };
  }

  close(): void {
    this.db.close();
  }

  /** A transaction whose rollback also drops the caches that may hold its uncommitted rows. */
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
    const run = this.db.transaction(fn);
    return (...args) => {
      try {
        return run(...args);
      } catch (err) {
        this.powr.forgetUncommitted();
        throw err;
      }
    };
  }

  has(id: string): boolean {
    return this.sql.hasId.get(blob(id)) !== undefined;
  }

  private statement(sql: string): Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  private rowsFor(f: Filter, now: number, viewers: Viewers | undefined): Row[] {
    if (f.matchesNothing || f.limit === 0) return [];
    const parts = splitForTimeOrder(f);
    if (parts.length === 1) return this.newestRows(f, now, viewers);
    const bySeq = new Map<number, Row>();
    for (const part of parts) for (const row of this.newestRows(part, now, viewers)) bySeq.set(row.seq, row);
    return [...bySeq.values()].sort(newestFirst).slice(0, f.limit);
  }

  /** The newest `limit` rows of one filter, from one planned query. */
  private newestRows(f: Filter, now: number, viewers: Viewers | undefined): Row[] {
    const plan = planFilter(f, now, viewers);
    const select = `SELECT e.seq, e.created_at, e.id, e.json FROM ${plan.from} ORDER BY ${plan.orderBy}`;
    if (!plan.mayRepeat) return this.statement(`${select} LIMIT ?`).all(...plan.params, f.limit) as Row[];
    // A tag-driven join repeats an event once per matching tag, so count distinct events and stop
    // once the limit is reached; rows arrive in final order.
    const rows: Row[] = [];
    const seen = new Set<number>();
    for (const row of this.statement(select).iterate(...plan.params) as IterableIterator<Row>) {
      if (seen.has(row.seq)) continue;
      seen.add(row.seq);
      rows.push(row);
      if (rows.length >= f.limit) break;
    }
    return rows;
  }

  /**
   * Stored events matching any of the filters, each filter with its own limit, de-duplicated,
   * newest first with ties broken by lowest id. Returns the JSON to send.
   */
  query(filters: readonly Filter[], now: number, options: QueryOptions = {}): string[] {
    return this.withinBudget(options.timeoutMs, () => {
      if (filters.length === 1) return this.rowsFor(filters[0]!, now, options.viewers).map((r) => r.json);
      const bySeq = new Map<number, Row>();
      for (const f of filters) for (const row of this.rowsFor(f, now, options.viewers)) bySeq.set(row.seq, row);
      return [...bySeq.values()].sort(newestFirst).map((r) => r.json);
    });
  }

  /** NIP-45: distinct stored events matching any filter (limits do not apply). */
  count(filters: readonly Filter[], now: number, options: QueryOptions = {}): number {
    const parts: string[] = [];
    const params: unknown[] = [];
    for (const f of filters) {
      if (f.matchesNothing) continue;
      const plan = planFilter(f, now, options.viewers);
      parts.push(`SELECT e.seq FROM ${plan.from}`);
      params.push(...plan.params);
    }
    if (parts.length === 0) return 0;
    const sql = `SELECT COUNT(DISTINCT seq) FROM (${parts.join(' UNION ALL ')})`;
    return this.withinBudget(options.timeoutMs, () => this.statement(sql).pluck().get(...params) as number);
  }

  /**
   * Runs a read with a time budget. The planner puts powr_budget() on every row the driving index
   * yields, so even a scan that returns nothing is stopped: the statement throws QueryTimeout.
   */
  private withinBudget<T>(timeoutMs: number | undefined, read: () => T): T {
    if (timeoutMs === undefined) return read();
    this.deadline = performance.now() + timeoutMs;
    try {
      return read();
    } finally {
      this.deadline = Infinity;
    }
  }

  /**
   * Applies one event: duplicate and tombstone checks, replacement of older versions of its address,
   * insertion with its tags, and NIP-09 processing for deletions. Call inside a transaction.
   */
  apply({ event, json, record, flags }: VerifiedEvent, receivedAt: number): WriteOutcome {
    const id = blob(event.id);
    const pubkey = blob(event.pubkey);
    if (this.sql.hasId.get(id) !== undefined) return { status: 'duplicate', message: 'duplicate: already have this event' };
    if (this.sql.isDeletedId.get(id, pubkey) !== undefined) {
      return { status: 'rejected', message: 'blocked: this event was deleted by its author' };
    }

    const d = addressKey(event);
    let current: Omit<Row, 'json'> | undefined;
    if (d !== undefined) {
      const until = this.sql.deletedUntil.get(event.kind, pubkey, d) as number | undefined;
      if (until !== undefined && event.created_at <= until) {
        return { status: 'rejected', message: `blocked: this address was deleted by its author up to ${until}` };
      }
      current = this.sql.byAddress.get(event.kind, pubkey, d) as Omit<Row, 'json'> | undefined;
      if (current) {
        const newer = current.created_at > event.created_at ||
          (current.created_at === event.created_at && Buffer.compare(current.id, id) < 0);
        if (newer) return { status: 'rejected', message: 'blocked: a newer version of this event is already stored' };
      }
    }
    const refusal = this.powr.refusal(record);
    if (refusal) return { status: 'rejected', message: `invalid: ${refusal.detail}` };
    if (current) this.remove(current.seq, true);

    const seq = Number(
      this.sql.insertEvent.run(id, pubkey, event.kind, event.created_at, d ?? null, expirationOf(event) ?? null, receivedAt, json)
        .lastInsertRowid,
    );
    for (const [name, value] of tagKeys(event)) this.sql.insertTag.run(name, value, event.kind, event.created_at, seq);
    if (d !== undefined) this.changes.add(`${event.kind}:${event.pubkey}:${d}`);
    this.powr.insert(seq, record, flags);
    if (event.kind === DELETION_KIND) this.applyDeletion(event);
    return { status: 'stored' };
  }

  /**
   * NIP-09: only the author's own events are deleted (and gift wraps by their p-tagged recipient,
   * NIP-59); deletions themselves cannot be deleted.
   */
  private applyDeletion(deletion: NostrEvent): void {
    const author = blob(deletion.pubkey);
    for (const tag of deletion.tags) {
      const value = tag[1];
      if (value === undefined) continue;
      if (tag[0] === 'e' && isHex64(value)) {
        const target = this.sql.byId.get(blob(value)) as { seq: number; pubkey: Buffer; kind: number; json: string } | undefined;
        if (target && !target.pubkey.equals(author) && !isRecipientOfGiftWrap(target, deletion.pubkey)) continue;
        if (target?.kind === DELETION_KIND) continue;
        if (target) this.remove(target.seq);
        this.sql.addDeletedId.run(blob(value), target?.pubkey ?? author);
      } else if (tag[0] === 'a') {
        const address = parseAddress(value);
        if (!address || address.pubkey !== deletion.pubkey) continue;
        const cls = kindClass(address.kind);
        if (cls !== 'addressable' && cls !== 'replaceable') continue;
        const d = cls === 'addressable' ? address.d : '';
        for (const seq of this.sql.addressVersionsUpTo.all(address.kind, author, d, deletion.created_at) as number[]) {
          this.remove(seq);
        }
        this.sql.addDeletedAddress.run(address.kind, author, d, deletion.created_at);
      }
    }
  }

  /**
   * The one way an event leaves the store: replacement, deletion and expiry all come here. When an
   * address disappears (not replaced), whatever references it becomes incomplete again.
   */
  private remove(seq: number, replacing = false): void {
    const row = this.sql.identity.get(seq) as
      { id: Buffer; pubkey: Buffer; kind: number; created_at: number; d: string | null; json: string } | undefined;
    if (!row) return;
    for (const [name, value] of tagKeys(JSON.parse(row.json) as NostrEvent)) {
      this.sql.deleteTag.run(name, value, row.kind, row.created_at, seq);
    }
    this.sql.deleteEvent.run(seq);
    this.powr.remove(seq);
    this.changes.add(`id:${row.id.toString('hex')}`);
    if (row.d === null) return;
    const address = `${row.kind}:${row.pubkey.toString('hex')}:${row.d}`;
    this.changes.add(address);
    if (!replacing && DEPENDENCY_KINDS.has(row.kind)) this.powr.addressChanged(address);
  }

  /**
   * Another process (an import, a prune) committed to the database: everything cached from it may be
   * stale. SQLite's data_version moves only for other connections' commits, so this is one cheap
   * pragma; the writer calls it before each batch, the relay also on a timer.
   */
  detectExternalWrites(): void {
    const version = this.db.pragma('data_version', { simple: true }) as number;
    if (version === this.dataVersion) return;
    const first = this.dataVersion === undefined;
    this.dataVersion = version;
    if (first) return;
    this.powr.forgetUncommitted();
    for (const listener of this.externalWriteListeners) listener();
  }

  onExternalWrite(listener: () => void): void {
    this.externalWriteListeners.push(listener);
  }

  /** Calls `listener` after every commit with the addresses and ids whose stored events changed. */
  onChange(listener: (keys: ReadonlySet<string>) => void): void {
    this.changeListeners.push(listener);
  }

  /** Reports changes to listeners; the writer calls it after each commit. */
  flushChanges(): void {
    if (this.changes.size === 0) return;
    const changed = this.changes;
    this.changes = new Set();
    for (const listener of this.changeListeners) listener(changed);
  }

  /** Deletes up to `max` expired events; returns how many. */
  purgeExpired(now: number, max = 1000): number {
    return this.removeAll(() => this.sql.expired.all(now, max) as number[]);
  }

  /** Retention: deletes up to `max` events of `kind` created before `before`; returns how many. */
  pruneKind(kind: number, before: number, max = 1000): number {
    return this.removeAll(() => this.sql.olderOfKind.all(kind, before, max) as number[]);
  }

  private removeAll(select: () => number[]): number {
    const removed = this.transaction(() => {
      const seqs = select();
      for (const seq of seqs) this.remove(seq);
      return seqs.length;
    })();
    this.flushChanges();
    return removed;
  }

  checkpoint(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }
}
