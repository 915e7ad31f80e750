import { isHex64, parseAddress, type NostrEvent } from './event.js';

/**
 * What the tag index (event_tags) holds: the first value of the tags filters can use. Writes, reads
 * and the planner all take names and values from here, so a filter finds exactly what was written.
 *
 * Single letters are the NIP-01 tag filters. Of the multi-letter tags only those filters use are
 * indexed: the relay's own extensions (docs/bundles.md), `exercise` (which templates and records use
 * an exercise; RUNSTR's activity verb) and `template` (which records followed a template), and the
 * POWR app's template search, `title` and `description` (shared/spec/nip101e.md, W13). No filter
 * relies on the others (`client`, `alt`, `format`, `start`, set values …), and indexing them cost
 * a third of the index; a filter naming one is checked on each candidate event instead (planner.ts).
 */
export const INDEXED_MULTI_LETTER_TAGS: readonly string[] = ['exercise', 'template', 'title', 'description'];

const SINGLE_LETTER = /^[A-Za-z]$/;

export function isIndexedTag(name: string): boolean {
  return SINGLE_LETTER.test(name) || INDEXED_MULTI_LETTER_TAGS.includes(name);
}

/** How a tag value is stored: as text, as the 32 bytes of 64 hex, or as an address with its pubkey as bytes. */
export type TagValueForm = 0 | 1 | 2;
const TEXT = 0;
const HEX = 1;
const ADDRESS = 2;

function formOf(value: string): TagValueForm {
  if (parseAddress(value)) return ADDRESS;
  return isHex64(value) ? HEX : TEXT;
}

/**
 * The stored form of a value whose form is known: the writer's half of tagValueKey, which the
 * verification pool's tagRows leave to it (a Buffer does not cross threads cheaply).
 */
export function tagKeyOf(value: string, form: TagValueForm): string | Buffer {
  if (form === TEXT) return value;
  if (form === HEX) return Buffer.from(value, 'hex');
  const pubkeyAt = value.indexOf(':') + 1;
  return Buffer.concat([Buffer.from(value.slice(0, pubkeyAt)), Buffer.from(value.slice(pubkeyAt, pubkeyAt + 64), 'hex'),
    Buffer.from(value.slice(pubkeyAt + 64))]);
}

/**
 * The stored form of a tag value: 64 lowercase hex (event ids, pubkeys, whatever the tag) as its 32
 * bytes; an address (`33401:<pubkey>:<d>`, the value of most `exercise`, `template` and `a` tags) as
 * `33401:`, the pubkey's 32 bytes and `:<d>`; anything else as text. Either saves 32 bytes a row. It
 * depends on the value alone, so a 64-hex `#d` finds its row like a `#e` does. No two values share a
 * form: an address's is longer than 32 bytes, and its kind's digits end at the first colon.
 */
export function tagValueKey(value: string): string | Buffer {
  return tagKeyOf(value, formOf(value));
}

/** One row of the tag index before its value takes its stored form: name, first value, form. */
export type TagRow = [string, string, TagValueForm];

/** The distinct indexed (name, first value) pairs of an event with their forms; a record repeats each exercise per set. */
export function tagRows(event: NostrEvent): TagRow[] {
  const rows = new Map<string, TagRow>();
  for (const tag of event.tags) {
    if (tag.length > 1 && isIndexedTag(tag[0]!)) rows.set(`${tag[0]}\u0000${tag[1]}`, [tag[0]!, tag[1]!, formOf(tag[1]!)]);
  }
  return [...rows.values()];
}

/** The distinct indexed (name, stored first value) pairs of an event. */
export function tagKeys(event: NostrEvent): [string, string | Buffer][] {
  return tagRows(event).map(([name, value, form]) => [name, tagKeyOf(value, form)]);
}
