import type { Database, Statement } from 'better-sqlite3';
import { LRUCache } from 'lru-cache';
import { newestFirst } from '../../protocol/event.js';
import type { Filter } from '../../protocol/filter.js';
import type { Viewers } from '../../powr/privacy.js';
import { QueryTimeout, type ExportOptions, type QueryOptions, type SyncItem } from '../port.js';
import { planFilter, planKeys, splitForTimeOrder, walksInTimeOrder } from './planner.js';

interface Key {
  seq: number;
  created_at: number;
}

interface Row extends Key {
  id: Buffer;
  json: string;
}

const blob = (hex: string) => Buffer.from(hex, 'hex');

/**
 * The reads that serve REQ, COUNT, duplicate checks and export, on one connection (a reader
 * thread's). Every filter query is planned onto a chosen index (planner.ts) and runs under a time
 * budget enforced inside SQLite.
 */
export class EventReads {
  private readonly statements = new LRUCache<string, Statement>({ max: 500 });
  private readonly hasId: Statement;
  private readonly rowsBySeq: Statement;
  private deadline = Infinity;

  constructor(private readonly db: Database) {
    let rows = 0;
    // Checking the clock on every row would cost more than the rows; every 256th is within 0.1 ms.
    // Its argument (the driving row) only ties it to the loop over rows; the arity comes from it.
    db.function('powr_budget', { deterministic: false }, (_row: unknown) => {
      if ((++rows & 255) === 0 && performance.now() > this.deadline) throw new QueryTimeout();
      return 1;
    });
    this.hasId = db.prepare('SELECT 1 FROM nostr_events WHERE id = ?').pluck();
    this.rowsBySeq = db.prepare('SELECT seq, created_at, id, json, expires_at FROM nostr_events WHERE seq IN (SELECT value FROM json_each(?))');
  }

  has(id: string): boolean {
    return this.hasId.get(blob(id)) !== undefined;
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
    if (parts.length > 1 || !walksInTimeOrder(f)) {
      const rows = this.newestByKeys(f, parts, now, viewers);
      if (rows) return rows;
    }
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
    return this.distinct(this.statement(select).iterate(...plan.params) as IterableIterator<Row>, f.limit);
  }

  /**
   * Keys first: the newest `limit` (seq, created_at) pairs of the parts' union (planKeys: one merged
   * statement), then whole rows for those only. A feed filter's candidates (a following feed's 100
   * authors, a global feed's 25 parts) are many times its limit, and every row read is a table page.
   * Exact like the rows path: every event tied at the cut-off timestamp is read, and ties go to the
   * lowest id. Expiry is checked on the rows read; undefined (read rows instead) when one had
   * expired, since it may have hidden a live one (the NIP-40 purge keeps those rare).
   */
  private newestByKeys(f: Filter, parts: Filter[], now: number, viewers: Viewers | undefined): Row[] | undefined {
    const max = f.limit;
    const { sql, params, limited } = planKeys(f, parts, now, viewers);
    // A merge stops by itself past the cut-off. A limited read takes one key past `max`, which shows
    // whether the cut fell between timestamps; when not (a tie at the cut-off, or a tag's repeats),
    // it reads again with twice the bound.
    let chosen: Set<number>;
    for (let bound = max + 1; ; bound *= 2) {
      chosen = new Set();
      let cutoff = -Infinity;
      let read = 0;
      let complete = false;
      for (const key of this.statement(sql).iterate(...params, ...(limited ? [bound] : [])) as IterableIterator<Key>) {
        read++;
        if (key.created_at < cutoff) {
          complete = true;
          break;
        }
        chosen.add(key.seq);
        if (chosen.size === max) cutoff = key.created_at;
      }
      if (complete || !limited || read < bound) break;
    }
    const rows = this.rowsBySeq.all(JSON.stringify([...chosen])) as (Row & { expires_at: number | null })[];
    // A row gone since its key was read (replaced or deleted meanwhile), or expired: read rows instead.
    if (rows.length < chosen.size || rows.some((r) => r.expires_at !== null && r.expires_at <= now)) return undefined;
    return rows.sort(newestFirst).slice(0, max);
  }

  /** The first `max` rows of distinct events, in the order they arrive (a tag-driven join repeats an event per matching tag). */
  private distinct<T extends Key>(rows: IterableIterator<T>, max: number): T[] {
    const out: T[] = [];
    const seen = new Set<number>();
    for (const row of rows) {
      if (seen.has(row.seq)) continue;
      seen.add(row.seq);
      out.push(row);
      if (out.length >= max) break;
    }
    return out;
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
   * NIP-77: [created_at, id] of the stored events matching one filter, planned like REQ (read rules
   * included) but without its limit, at most `max` of them.
   */
  syncItems(f: Filter, now: number, max: number, options: QueryOptions = {}): SyncItem[] {
    if (f.matchesNothing) return [];
    const plan = planFilter(f, now, options.viewers);
    // DISTINCT: a tag-driven plan yields an event once per matching tag.
    const sql = `SELECT DISTINCT e.created_at, lower(hex(e.id)) FROM ${plan.from} LIMIT ?`;
    return this.withinBudget(options.timeoutMs, () => this.statement(sql).raw().all(...plan.params, max) as SyncItem[]);
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
   * A page of `powr-relay export`: stored events in storage order (seq), the one order every event
   * has; an export reads most of the table anyway, so no filter index would save work.
   */
  exportPage(options: ExportOptions, now: number, afterSeq: number, limit: number): { events: string[]; lastSeq: number } {
    const where: string[] = ['seq > ?', '(expires_at IS NULL OR expires_at > ?)'];
    const params: unknown[] = [afterSeq, now];
    const inList = (column: string, values: unknown[]) => {
      where.push(`${column} IN (${values.map(() => '?').join(',')})`);
      params.push(...values);
    };
    if (options.kinds) inList('kind', options.kinds);
    if (options.authors) inList('pubkey', options.authors.map(blob));
    if (options.since !== undefined) {
      where.push('created_at >= ?');
      params.push(options.since);
    }
    if (options.until !== undefined) {
      where.push('created_at <= ?');
      params.push(options.until);
    }
    const rows = this.statement(`SELECT seq, json FROM nostr_events WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`)
      .all(...params, limit) as { seq: number; json: string }[];
    return { events: rows.map((r) => r.json), lastSeq: rows.length > 0 ? rows[rows.length - 1]!.seq : afterSeq };
  }
}
