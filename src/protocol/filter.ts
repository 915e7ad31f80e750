import { isHex64, type Checked, type NostrEvent } from './event.js';

/** One `#<name>` condition: the event needs a tag called `name` whose first value is one of `values`. */
export interface TagCondition {
  name: string;
  values: string[];
  valueSet: ReadonlySet<string>;
}

/** A REQ/COUNT filter after validation. `limit` is already defaulted and clamped. */
export interface Filter {
  ids?: string[];
  authors?: string[];
  kinds?: number[];
  since?: number;
  until?: number;
  limit: number;
  tags: TagCondition[];
  /** Extension: also send the events each matched template, record or collection references. */
  resolve: boolean;
  /** NIP-50: the search string as given; the store and live matching take their terms from it. */
  search?: string;
  /** True when some list is empty: NIP-01 says such a filter matches nothing. */
  matchesNothing: boolean;
  idSet?: ReadonlySet<string>;
  authorSet?: ReadonlySet<string>;
  kindSet?: ReadonlySet<number>;
}

export interface FilterLimits {
  maxFilterValues: number;
  maxLimit: number;
  defaultLimit: number;
}

/** Tags whose values NIP-01 requires to be 64-character lowercase hex. */
const HEX_TAGS = new Set(['e', 'p']);
const TAG_NAME = /^[A-Za-z0-9_-]{1,64}$/;

const invalid = (reason: string): Checked<never> => ({ ok: false, reason: `invalid: ${reason}` });

function timestamp(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function stringList(key: string, value: unknown, limits: FilterLimits, hex: boolean): Checked<string[]> {
  if (!Array.isArray(value)) return invalid(`"${key}" must be an array`);
  if (value.length > limits.maxFilterValues) {
    return invalid(`"${key}" has ${value.length} values, more than the ${limits.maxFilterValues} allowed`);
  }
  for (const v of value) {
    if (typeof v !== 'string') return invalid(`"${key}" must contain only strings`);
    if (hex && !isHex64(v)) return invalid(`"${key}" values must be 64-character lowercase hex`);
  }
  return { ok: true, value: value as string[] };
}

/**
 * Validates one filter object. Unknown keys are refused (`unsupported:`) rather than ignored: ignoring
 * a key the client relies on would answer a narrow question with everything.
 */
export function parseFilter(raw: unknown, limits: FilterLimits): Checked<Filter> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return invalid('a filter must be a JSON object');
  const filter: Filter = { limit: limits.defaultLimit, tags: [], resolve: false, matchesNothing: false };
  for (const [key, value] of Object.entries(raw)) {
    switch (key) {
      case 'ids':
      case 'authors': {
        const list = stringList(key, value, limits, true);
        if (!list.ok) return list;
        filter[key] = list.value;
        if (list.value.length === 0) filter.matchesNothing = true;
        break;
      }
      case 'kinds': {
        if (!Array.isArray(value)) return invalid('"kinds" must be an array');
        if (value.length > limits.maxFilterValues) {
          return invalid(`"kinds" has ${value.length} values, more than the ${limits.maxFilterValues} allowed`);
        }
        if (!value.every((k) => Number.isInteger(k) && k >= 0 && k <= 65535)) {
          return invalid('"kinds" must contain integers between 0 and 65535');
        }
        filter.kinds = value as number[];
        if (value.length === 0) filter.matchesNothing = true;
        break;
      }
      case 'since':
      case 'until':
        if (!timestamp(value)) return invalid(`"${key}" must be a non-negative integer timestamp`);
        filter[key] = value;
        break;
      case 'limit':
        if (!timestamp(value)) return invalid('"limit" must be a non-negative integer');
        filter.limit = Math.min(value, limits.maxLimit);
        break;
      case 'resolve':
        if (typeof value !== 'boolean') return invalid('"resolve" must be true or false');
        filter.resolve = value;
        break;
      case 'search':
        if (typeof value !== 'string') return invalid('"search" must be a string');
        if (value.length > 256) return invalid('"search" is longer than 256 characters');
        filter.search = value;
        break;
      default: {
        const name = key.slice(1);
        if (!key.startsWith('#') || !TAG_NAME.test(name)) {
          return { ok: false, reason: `unsupported: unknown filter key ${JSON.stringify(key).slice(0, 80)}` };
        }
        const list = stringList(key, value, limits, HEX_TAGS.has(name));
        if (!list.ok) return list;
        filter.tags.push({ name, values: list.value, valueSet: new Set(list.value) });
        if (list.value.length === 0) filter.matchesNothing = true;
      }
    }
  }
  if (filter.since !== undefined && filter.until !== undefined && filter.since > filter.until) filter.matchesNothing = true;
  if (filter.ids) filter.idSet = new Set(filter.ids);
  if (filter.authors) filter.authorSet = new Set(filter.authors);
  if (filter.kinds) filter.kindSet = new Set(filter.kinds);
  return { ok: true, value: filter };
}

/** In-memory NIP-01 match, used for live events; the store answers stored ones with SQL. */
export function matchesFilter(e: NostrEvent, f: Filter): boolean {
  if (f.matchesNothing) return false;
  if (f.idSet && !f.idSet.has(e.id)) return false;
  if (f.authorSet && !f.authorSet.has(e.pubkey)) return false;
  if (f.kindSet && !f.kindSet.has(e.kind)) return false;
  if (f.since !== undefined && e.created_at < f.since) return false;
  if (f.until !== undefined && e.created_at > f.until) return false;
  for (const cond of f.tags) {
    if (!e.tags.some((t) => t[0] === cond.name && t.length > 1 && cond.valueSet.has(t[1]!))) return false;
  }
  return true;
}
