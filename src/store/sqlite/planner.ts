import { mayMatchRestricted, type Viewers } from '../../powr/privacy.js';
import { SEARCH_KINDS, ftsMatch } from '../../powr/search.js';
import { kindClass } from '../../protocol/event.js';
import type { Filter, TagCondition } from '../../protocol/filter.js';
import { isIndexedTag, tagValueKey } from '../../protocol/tag-index.js';

/**
 * Turns a NIP-01 filter into one SQL query driven by one index, chosen on purpose:
 *
 *   ids                                   -> events_by_id
 *   kinds (all addressable) + authors + #d -> events_by_address   (POWR: template/exercise by coordinate)
 *   kinds (all replaceable) + authors      -> events_by_address   (profiles, contact lists)
 *   #e / #p / #a / #q / #d present         -> event_tags key       (reactions, comments, collection members)
 *   authors + kinds                        -> events_by_author_kind (feeds, workout history)
 *   authors                                -> events_by_author
 *   any other indexed #tag                 -> event_tags key       (#t hashtags, #exercise, #template)
 *   kinds                                  -> events_by_kind       (discovery: latest templates)
 *   nothing / since / until                -> events_by_time
 *
 * Everything else in the filter becomes a WHERE term checked on the rows the index yields; an extra
 * tag condition is a point lookup in event_tags' key (the candidate's kind, created_at and seq are
 * known), or, for a tag event_tags does not hold (tag-index.ts: `#client`, `#alt` …), a look at the
 * candidate's own tags. Such a tag never drives: a filter with nothing else to drive it would be
 * answered by the time index, a walk of every event, so the relay refuses it (unanchoredTag).
 * INDEXED BY makes SQLite fail loudly rather than fall back to a scan if an index cannot serve the
 * query; event_tags is a WITHOUT ROWID table searched by its own key, which INDEXED BY cannot name
 * (test/unit/store.test.ts checks every shape's plan instead).
 */

export type Driver = 'id' | 'search' | 'address' | 'author_kind' | 'author' | 'tag' | 'kind' | 'time';

export const DRIVER_INDEX: Record<Driver, string> = {
  id: 'events_by_id',
  search: 'powr_search',
  address: 'events_by_address',
  author_kind: 'events_by_author_kind',
  author: 'events_by_author',
  tag: 'event_tags',
  kind: 'events_by_kind',
  time: 'events_by_time',
};

export interface Plan {
  driver: Driver;
  /** FROM … WHERE … without SELECT, ORDER BY or LIMIT; `e` is nostr_events (absent from a tag-driven keys plan). */
  from: string;
  params: unknown[];
  /** ORDER BY: newest first (ties by lowest id; keys by time alone) from the driving index; for a search, best match first. */
  orderBy: string;
  /** The columns of the driving index that hold the event's sequence number and created_at. */
  seq: string;
  time: string;
  /** A tag-driven join yields an event once per matching tag, so rows must be de-duplicated. */
  mayRepeat: boolean;
}

/**
 * 'rows': the query reads whole rows and checks expiry itself. 'keys': it reads sequence numbers and
 * created_at only, from the driving index alone where the filter allows, and leaves expiry to the
 * caller, who reads the rows of the few keys it keeps (see EventReads).
 */
export type PlanMode = 'rows' | 'keys';

/** Tags whose values are ids or coordinates: a handful of rows per value, so they beat any other index. */
const SELECTIVE_TAGS = ['e', 'p', 'a', 'q', 'd'];

const hexBlob = (hex: string) => Buffer.from(hex, 'hex');
const placeholders = (n: number) => new Array(n).fill('?').join(',');

/**
 * The first tag condition of a filter that nothing else can drive: one on a tag event_tags does not
 * hold, in a filter without ids, authors, kinds, search or an indexed tag. Answering it would mean
 * reading every stored event; REQ, COUNT and NEG-OPEN refuse it (`unsupported:`).
 */
export function unanchoredTag(f: Filter): TagCondition | undefined {
  if (f.matchesNothing || chooseDriver(f).driver !== 'time') return undefined;
  return f.tags.find((t) => !isIndexedTag(t.name));
}

/** The index that will drive a filter's query (also its shape in metrics). */
export function chooseDriver(f: Filter): { driver: Driver; tag?: TagCondition } {
  if (f.ids) return { driver: 'id' };
  if (f.search !== undefined) return { driver: 'search' };
  if (f.kinds && f.authors) {
    const classes = new Set(f.kinds.map(kindClass));
    if (classes.size === 1 && classes.has('addressable') && f.tags.some((t) => t.name === 'd')) return { driver: 'address' };
    if (classes.size === 1 && classes.has('replaceable')) return { driver: 'address' };
  }
  const selective = f.tags
    .filter((t) => SELECTIVE_TAGS.includes(t.name))
    .sort((a, b) => a.values.length - b.values.length)[0];
  if (selective) return { driver: 'tag', tag: selective };
  if (f.authors) return { driver: f.kinds ? 'author_kind' : 'author' };
  const anyTag = f.tags.filter((t) => isIndexedTag(t.name)).sort((a, b) => a.values.length - b.values.length)[0];
  if (anyTag) return { driver: 'tag', tag: anyTag };
  if (f.kinds) return { driver: 'kind' };
  return { driver: 'time' };
}

/**
 * Whether the driving index yields the filter's rows newest first from one range, so its query stops
 * after `limit` rows; otherwise every candidate is read and sorted (several authors, kinds or tag
 * values). Id, address and search plans read few rows and count as ordered.
 */
export function walksInTimeOrder(f: Filter): boolean {
  const { driver, tag } = chooseDriver(f);
  const one = (values: readonly unknown[] | undefined) => values === undefined || values.length === 1;
  switch (driver) {
    case 'author_kind':
    case 'author':
      return one(f.authors) && one(f.kinds);
    case 'tag':
      return one(tag!.values) && one(f.kinds);
    case 'kind':
      return one(f.kinds);
    default:
      return true;
  }
}

/** Most sub-queries one filter is split into (see splitForTimeOrder). */
const MAX_PARTS = 256;

/**
 * An index yields rows newest first, so a query can stop after `limit` rows, only within one value
 * of its leading columns. A filter with several (kinds on events_by_kind, tag values and kinds on
 * event_tags) would read every matching row in its time range and sort them: 90 ms for the global
 * workout feed at 1M events. Split into one filter per value, each a range read newest first, and the
 * caller merges them (EventReads: one UNION ALL that SQLite merges, stopping past the newest `limit`).
 * Authors are not split: one author's rows are few, and 100 sub-queries for a following feed cost
 * more than sorting what the 100 authors posted (measured at 1M events).
 */
export function splitForTimeOrder(f: Filter): Filter[] {
  const { driver, tag } = chooseDriver(f);
  if (driver === 'kind' && f.kinds!.length > 1 && f.kinds!.length <= MAX_PARTS) return f.kinds!.map((k) => ({ ...f, kinds: [k] }));
  if (driver === 'tag') {
    const kinds: (number | undefined)[] = f.kinds ?? [undefined];
    const parts = tag!.values.length * kinds.length;
    if (parts > 1 && parts <= MAX_PARTS) {
      return tag!.values.flatMap((value) => kinds.map((k) => ({
        ...f,
        ...(k === undefined ? {} : { kinds: [k] }),
        tags: f.tags.map((t) => (t === tag ? { ...t, values: [value], valueSet: new Set([value]) } : t)),
      })));
    }
  }
  return [f];
}

/**
 * `viewers` restricts events of the restricted kinds (read rules) to those the viewers may read (their
 * own and those that p-tag them): a row condition, so limits and COUNT stay exact.
 */
export function planFilter(f: Filter, now: number, viewers?: Viewers, mode: PlanMode = 'rows'): Plan {
  const { driver, tag: drivingTag } = chooseDriver(f);
  const restricted = viewers !== undefined && mayMatchRestricted(f, viewers);
  // A tag-driven plan joins nostr_events only for what event_tags does not hold.
  const tagOnly = driver === 'tag' && mode === 'keys' && !f.authors && !restricted && f.tags.every((t) => isIndexedTag(t.name));
  const col = (name: 'seq' | 'kind' | 'created_at') =>
    driver !== 'tag' ? `e.${name}` : name === 'seq' ? 't.event_seq' : `t.${name}`;
  const where: string[] = [];
  const params: unknown[] = [];
  const inList = (column: string, values: unknown[]) => {
    where.push(`${column} IN (${placeholders(values.length)})`);
    params.push(...values);
  };

  let from: string;
  const time = col('created_at');
  // First, so it runs on every row the driving index yields (see EventReads' time budget).
  where.push(`powr_budget(${driver === 'search' ? 's.rowid' : col('seq')})`);
  let coveredTags: TagCondition[] = [];
  if (driver === 'search') {
    // NIP-50: only exercises and templates are indexed; terms are quoted prefixes, never FTS syntax.
    from = `powr_search s JOIN nostr_events e ON e.seq = s.rowid`;
    const match = ftsMatch(f.search!);
    if (match === undefined) where.push('0'); // nothing to look for matches nothing
    else {
      where.push('powr_search MATCH ?');
      params.push(match);
    }
    if (!f.kinds) inList('e.kind', [...SEARCH_KINDS]);
  } else if (driver === 'tag') {
    const t = drivingTag!;
    from = tagOnly ? 'event_tags t' : `event_tags t JOIN nostr_events e ON e.seq = t.event_seq`;
    where.push('t.name = ?');
    params.push(t.name);
    inList('t.value', t.values.map(tagValueKey));
    if (f.kinds) inList('t.kind', f.kinds);
    coveredTags = [t];
  } else {
    from = `nostr_events e INDEXED BY ${DRIVER_INDEX[driver]}`;
  }

  if (f.ids) inList('e.id', f.ids.map(hexBlob));
  if (driver === 'address') {
    inList('e.kind', f.kinds!);
    inList('e.pubkey', f.authors!.map(hexBlob));
    where.push('e.d IS NOT NULL');
    const d = f.tags.find((t) => t.name === 'd');
    if (d && kindClass(f.kinds![0]!) === 'addressable') {
      inList('e.d', d.values);
      coveredTags = [d];
    }
  } else {
    if (f.authors) inList('e.pubkey', f.authors.map(hexBlob));
    if (f.kinds && driver !== 'tag') inList('e.kind', f.kinds);
  }
  if (f.since !== undefined) {
    where.push(`${time} >= ?`);
    params.push(f.since);
  }
  if (f.until !== undefined) {
    where.push(`${time} <= ?`);
    params.push(f.until);
  }
  for (const t of f.tags) {
    if (coveredTags.includes(t)) continue;
    if (isIndexedTag(t.name)) {
      where.push(
        `EXISTS (SELECT 1 FROM event_tags x WHERE x.name = ? AND x.value IN (${placeholders(t.values.length)})
          AND x.kind = ${col('kind')} AND x.created_at = ${time} AND x.event_seq = ${col('seq')})`,
      );
      params.push(t.name, ...t.values.map(tagValueKey));
    } else {
      // NIP-01's test on the stored event, as a substring search rather than by parsing its JSON: the
      // JSON is JSON.stringify's (canonicalJson), in which a tag starting with this name and value
      // reads `["name","value"`, and nothing else can (a quote inside a string is escaped, and the
      // only arrays in an event are its tags, arrays of strings).
      const serialised = t.values.map((value) => JSON.stringify([t.name, value]).slice(0, -1));
      where.push(`(${serialised.map(() => 'instr(e.json, ?) > 0').join(' OR ')})`);
      params.push(...serialised);
    }
  }
  if (mode === 'rows') {
    where.push('(e.expires_at IS NULL OR e.expires_at > ?)');
    params.push(now);
  }
  if (viewers && restricted) {
    const v = viewers.pubkeys;
    const readable = v.length === 0 ? '' : ` OR e.pubkey IN (${placeholders(v.length)}) OR EXISTS (SELECT 1 FROM event_tags x
      WHERE x.name = 'p' AND x.value IN (${placeholders(v.length)}) AND x.kind = e.kind AND x.created_at = e.created_at
      AND x.event_seq = e.seq)`;
    where.push(`(e.kind NOT IN (${viewers.restrictedKinds.join(',')})${readable})`);
    params.push(...v.map(hexBlob), ...v.map(tagValueKey));
  }

  // Keys are ordered by time alone (the caller breaks ties by id on the rows it reads).
  const orderBy = driver === 'search' ? 's.rank, e.created_at DESC, e.id ASC' : mode === 'keys' ? `${time} DESC` : `${time} DESC, e.id ASC`;
  return { driver, from: `${from} WHERE ${where.join(' AND ')}`, params, orderBy, seq: col('seq'), time, mayRepeat: driver === 'tag' };
}

/** SQLite's most bound parameters in one statement (SQLITE_MAX_VARIABLE_NUMBER's default). */
const MAX_VARIABLES = 32_766;
/** SQLite's most arms of one compound SELECT (SQLITE_MAX_COMPOUND_SELECT's default). */
const MAX_ARMS = 500;

/**
 * The newest keys (seq, created_at) of a filter's parts (splitForTimeOrder), in one statement: the
 * parts are the arms of a UNION ALL that SQLite merges newest first, so reading stops past the newest
 * few, and nothing is sorted where each arm is a range its index yields newest first (one kind; one
 * tag value with one kind; a tag value without kinds is sorted within its arm). A LIMIT on the merge
 * made SQLite three times slower, so only a single part has one (`?`, bound by the caller): SQLite
 * must sort that part when its index cannot give time order (several authors), and LIMIT keeps the
 * sort to its top. Parts beyond SQLite's bounds (more arms than a compound SELECT may have, or
 * parameters that together exceed its limit, as each arm repeats the filter's other value lists) are
 * read as the whole filter instead, one sorted part.
 */
export function planKeys(
  whole: Filter, parts: readonly Filter[], now: number, viewers?: Viewers,
): { sql: string; params: unknown[]; limited: boolean } {
  let plans = parts.map((part) => planFilter(part, now, viewers, 'keys'));
  if (plans.length > MAX_ARMS || (plans.length > 1 && plans.reduce((n, plan) => n + plan.params.length, 0) > MAX_VARIABLES)) {
    plans = [planFilter(whole, now, viewers, 'keys')];
  }
  const arms = plans.map((plan) => `SELECT ${plan.seq} AS seq, ${plan.time} AS created_at FROM ${plan.from}`);
  const limited = plans.length === 1;
  return {
    sql: `${arms.join(' UNION ALL ')} ORDER BY created_at DESC${limited ? ' LIMIT ?' : ''}`,
    params: plans.flatMap((plan) => plan.params),
    limited,
  };
}
