/** NIP-01 events: shape checks, kind classes and the fields the relay derives from tags. */

export interface NostrEvent {
  id: string;
  pubkey: string;
  created_at: number;
  kind: number;
  tags: string[][];
  content: string;
  sig: string;
}

export type KindClass = 'regular' | 'replaceable' | 'ephemeral' | 'addressable';

export function kindClass(kind: number): KindClass {
  if (kind === 0 || kind === 3 || (kind >= 10000 && kind < 20000)) return 'replaceable';
  if (kind >= 20000 && kind < 30000) return 'ephemeral';
  if (kind >= 30000 && kind < 40000) return 'addressable';
  return 'regular';
}

export const DELETION_KIND = 5;
export const AUTH_KIND = 22242;

const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;

export function isHex64(value: unknown): value is string {
  return typeof value === 'string' && HEX64.test(value);
}

export interface EventLimits {
  maxEventTags: number;
  maxTagValueLength: number;
  maxContentLength: number;
  /** Seconds into the past an event may be dated; 0 = unbounded. */
  createdAtLowerLimit: number;
  /** Seconds into the future an event may be dated. */
  createdAtUpperLimit: number;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

const invalid = (reason: string): Checked<never> => ({ ok: false, reason: `invalid: ${reason}` });

/** Counts code points, which is what NIP-11 max_content_length measures. */
function codePointLength(s: string, stopAfter: number): number {
  let n = 0;
  for (const _ of s) if (++n > stopAfter) break;
  return n;
}

/**
 * Checks everything about an event that can be checked without hashing or signature verification:
 * field types, hex encodings, kind range, tag shape, size limits and the created_at window.
 */
export function checkEventShape(raw: unknown, limits: EventLimits, now: number): Checked<NostrEvent> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return invalid('event must be a JSON object');
  const e = raw as Record<string, unknown>;
  if (!isHex64(e.id)) return invalid('id must be 64 lowercase hex characters');
  if (!isHex64(e.pubkey)) return invalid('pubkey must be 64 lowercase hex characters');
  if (typeof e.sig !== 'string' || !HEX128.test(e.sig)) return invalid('sig must be 128 lowercase hex characters');
  if (typeof e.kind !== 'number' || !Number.isInteger(e.kind) || e.kind < 0 || e.kind > 65535) {
    return invalid('kind must be an integer between 0 and 65535');
  }
  if (typeof e.created_at !== 'number' || !Number.isSafeInteger(e.created_at) || e.created_at < 0) {
    return invalid('created_at must be a non-negative integer number of seconds');
  }
  if (typeof e.content !== 'string') return invalid('content must be a string');
  if (!Array.isArray(e.tags)) return invalid('tags must be an array');
  if (e.tags.length > limits.maxEventTags) return invalid(`too many tags (${e.tags.length} > ${limits.maxEventTags})`);
  for (let i = 0; i < e.tags.length; i++) {
    const tag: unknown = e.tags[i];
    if (!Array.isArray(tag) || tag.length === 0) return invalid(`tag ${i} must be a non-empty array of strings`);
    for (const item of tag) {
      if (typeof item !== 'string') return invalid(`tag ${i} must contain only strings`);
      if (item.length > limits.maxTagValueLength) {
        return invalid(`tag ${i} has an element longer than ${limits.maxTagValueLength} characters`);
      }
    }
  }
  if (e.content.length > limits.maxContentLength && codePointLength(e.content, limits.maxContentLength) > limits.maxContentLength) {
    return invalid(`content is longer than ${limits.maxContentLength} characters`);
  }
  if (e.created_at > now + limits.createdAtUpperLimit) {
    return invalid(`created_at is more than ${limits.createdAtUpperLimit} seconds in the future`);
  }
  if (limits.createdAtLowerLimit > 0 && e.created_at < now - limits.createdAtLowerLimit) {
    return invalid(`created_at is more than ${limits.createdAtLowerLimit} seconds in the past`);
  }
  return { ok: true, value: e as unknown as NostrEvent };
}

/** The exact string NIP-01 hashes to get the id. */
export function idPreimage(e: NostrEvent): string {
  return JSON.stringify([0, e.pubkey, e.created_at, e.kind, e.tags, e.content]);
}

/** The event as stored and served: the seven NIP-01 fields, in a fixed order, nothing else. */
export function canonicalJson(e: NostrEvent): string {
  return JSON.stringify({
    id: e.id,
    pubkey: e.pubkey,
    created_at: e.created_at,
    kind: e.kind,
    tags: e.tags,
    content: e.content,
    sig: e.sig,
  });
}

/** The id of an event serialised by canonicalJson, which always starts `{"id":"<64 hex>"`. */
export function idOfCanonical(json: string): string {
  return json.slice(7, 71);
}

/**
 * The order of a REQ's stored events (NIP-01): newest first, equal timestamps by lowest id. The id is
 * compared as lower-case hex or as its 32 bytes (the store's rows), which order alike.
 */
export function newestFirst<I extends string | Uint8Array>(a: { created_at: number; id: I }, b: { created_at: number; id: I }): number {
  if (a.created_at !== b.created_at) return b.created_at - a.created_at;
  if (typeof a.id === 'string') return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  return Buffer.compare(a.id as Uint8Array, b.id as Uint8Array);
}

export function firstTagValue(e: NostrEvent, name: string): string | undefined {
  for (const tag of e.tags) if (tag[0] === name && tag.length > 1) return tag[1];
  return undefined;
}

/**
 * The third part of the event's address: the first d value for addressable kinds, '' for
 * replaceable kinds (one per kind and author), undefined for kinds that are not replaced.
 */
export function addressKey(e: NostrEvent): string | undefined {
  switch (kindClass(e.kind)) {
    case 'addressable':
      return firstTagValue(e, 'd') ?? '';
    case 'replaceable':
      return '';
    default:
      return undefined;
  }
}

/** NIP-40 expiration timestamp, if the event carries a well-formed one. */
export function expirationOf(e: NostrEvent): number | undefined {
  const value = firstTagValue(e, 'expiration');
  if (value === undefined || !/^\d{1,15}$/.test(value)) return undefined;
  return Number(value);
}

/** NIP-70: a ["-"] tag marks an event only its author may publish. */
export function isProtected(e: NostrEvent): boolean {
  return e.tags.some((t) => t.length === 1 && t[0] === '-');
}

export interface Address {
  kind: number;
  pubkey: string;
  d: string;
}

/** Parses `<kind>:<64-hex pubkey>:<d>`; d is everything after the second colon and may contain colons. */
export function parseAddress(value: string): Address | undefined {
  const m = /^(\d{1,5}):([0-9a-f]{64}):(.*)$/s.exec(value);
  if (!m) return undefined;
  const kind = Number(m[1]);
  if (kind > 65535) return undefined;
  return { kind, pubkey: m[2]!, d: m[3]! };
}
