import { isHex64, parseAddress, type NostrEvent } from '../../protocol/event.js';

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

/**
 * The stored form of a tag value: 64 lowercase hex (event ids, pubkeys, whatever the tag) as its 32
 * bytes; an address (`33401:<pubkey>:<d>`, the value of most `exercise`, `template` and `a` tags) as
 * `33401:`, the pubkey's 32 bytes and `:<d>`; anything else as text. Either saves 32 bytes a row. It
 * depends on the value alone, so a 64-hex `#d` finds its row like a `#e` does. No two values share a
 * form: an address's is longer than 32 bytes, and its kind's digits end at the first colon.
 */
export function tagValueKey(value: string): string | Buffer {
  const address = parseAddress(value);
  if (address) {
    const pubkeyAt = value.indexOf(':') + 1;
    return Buffer.concat([Buffer.from(value.slice(0, pubkeyAt)), Buffer.from(address.pubkey, 'hex'), Buffer.from(value.slice(pubkeyAt + 64))]);
  }
  return isHex64(value) ? Buffer.from(value, 'hex') : value;
}

/** The distinct indexed (name, stored first value) pairs of an event; a record repeats each exercise per set. */
export function tagKeys(event: NostrEvent): [string, string | Buffer][] {
  const keys = new Map<string, [string, string | Buffer]>();
  for (const tag of event.tags) {
    if (tag.length > 1 && isIndexedTag(tag[0]!)) keys.set(`${tag[0]}\u0000${tag[1]}`, [tag[0]!, tagValueKey(tag[1]!)]);
  }
  return [...keys.values()];
}
