import type { NostrEvent } from '../protocol/event.js';
import { EXERCISE_KIND, TEMPLATE_KIND, type Exercise, type Template } from './types.js';

/** NIP-50 search covers the workout library: exercises and workout templates. */
export const SEARCH_KINDS: readonly number[] = [EXERCISE_KIND, TEMPLATE_KIND];

/** The searchable fields of an exercise or template, as stored in the full-text index. */
export interface SearchDocument {
  title: string;
  description: string;
  hashtags: string;
  equipment: string | null;
}

export function searchDocument(record: Exercise | Template): SearchDocument {
  return {
    title: record.title,
    description: record.description,
    hashtags: record.hashtags.join(' '),
    equipment: record.type === 'exercise' ? record.equipment : null,
  };
}

/** Lower case without diacritics, split into words: what the full-text index (unicode61) does. */
function words(text: string): string[] {
  return text.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w !== '');
}

/**
 * The terms of a NIP-50 search string. `key:value` extensions this relay does not support are
 * ignored, as NIP-50 asks; FTS5 syntax never reaches SQLite, only plain words.
 */
export function searchTerms(search: string): string[] {
  const plain = search.split(/\s+/).filter((w) => !/^[a-z_]+:/.test(w)).join(' ');
  return [...new Set(words(plain))].slice(0, 8);
}

/**
 * The FTS5 MATCH expression for a search string: every term as a quoted prefix, so no FTS syntax from
 * the client reaches SQLite. Undefined when there is nothing to look for.
 */
export function ftsMatch(search: string): string | undefined {
  const terms = searchTerms(search);
  return terms.length === 0 ? undefined : terms.map((t) => `"${t}"*`).join(' ');
}

/** The same match for live events: every term starts a word of the title, description, hashtags or equipment. */
export function matchesSearch(event: NostrEvent, terms: readonly string[]): boolean {
  if (!SEARCH_KINDS.includes(event.kind)) return false;
  const first = (name: string) => event.tags.find((t) => t[0] === name)?.[1] ?? '';
  const fields = [
    first('title'),
    event.content.trim() !== '' ? event.content : first('description'),
    ...event.tags.filter((t) => t[0] === 't').map((t) => t[1] ?? ''),
    event.kind === EXERCISE_KIND ? first('equipment') : '',
  ];
  const found = words(fields.join(' '));
  return terms.every((term) => found.some((w) => w.startsWith(term)));
}
