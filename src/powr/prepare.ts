import { addressKey, expirationOf, type NostrEvent } from '../protocol/event.js';
import { tagRows, type TagRow } from '../protocol/tag-index.js';
import { searchDocument, type SearchDocument } from './search.js';
import type { Flag, PowrRecord } from './types.js';

/**
 * What the writer needs of an event beyond its JSON and record, computed before the write transaction
 * (on the verification pool) so the writer only runs statements: the indexed columns, the tag rows,
 * and the processed rows that depend on the event alone, with the event's NIP-101e record and flags.
 * It crosses two threads as its JSON text (check-event.ts): a string costs the main thread a copy,
 * where a structured clone of the objects cost it three times as much as the rest of the event.
 */
export interface PreparedEvent {
  record: PowrRecord | null;
  flags: Flag[];
  id: string;
  pubkey: string;
  kind: number;
  created_at: number;
  /** The address's d (empty for a replaceable kind); null for an event without an address. */
  d: string | null;
  /** NIP-40 expiration, unix seconds; null when none. */
  expiresAt: number | null;
  tags: TagRow[];
  /** An exercise's or template's full-text search row. */
  search: SearchDocument | null;
  /** An exercise's format, units and hashtags as the exercises table stores them (JSON). */
  schema: { format: string; units: string; hashtags: string } | null;
  /** A template's or record's set values as stored beside each set (setParamsText), by the set's index in `record.sets`. */
  setParams: string[];
}

export function prepare(event: NostrEvent, record: PowrRecord | null, flags: Flag[]): PreparedEvent {
  return {
    record,
    flags,
    id: event.id,
    pubkey: event.pubkey,
    kind: event.kind,
    created_at: event.created_at,
    d: addressKey(event) ?? null,
    expiresAt: expirationOf(event) ?? null,
    tags: tagRows(event),
    search: record?.type === 'exercise' || record?.type === 'template' ? searchDocument(record) : null,
    schema: record?.type === 'exercise'
      ? { format: JSON.stringify(record.format), units: JSON.stringify(record.formatUnits), hashtags: JSON.stringify(record.hashtags) }
      : null,
    setParams: record?.type === 'template' || record?.type === 'record' ? record.sets.map((s) => setParamsText(s.values)) : [],
  };
}

const UNIT = '\u001f';
const RECORD = '\u001e';

/**
 * A set's raw values as stored beside it, for a dependency refresh to read the set again: joined by
 * the unit separator, a third the size of their JSON (records hold most of a database's sets). Values
 * that themselves hold a separator, and the empty list, go as the record separator and their JSON.
 */
export function setParamsText(values: readonly string[]): string {
  if (values.length === 0 || values.some((v) => v.includes(UNIT) || v.includes(RECORD))) return RECORD + JSON.stringify(values);
  return values.join(UNIT);
}

export function setParamsOf(text: string): string[] {
  return text.startsWith(RECORD) ? (JSON.parse(text.slice(1)) as string[]) : text.split(UNIT);
}
