import { parseAddress } from '../protocol/event.js';
import type { BlobPath } from '../store/bundle-cache.js';
import type { ExerciseCard, MediaItem, TemplateCard } from '../store/catalogue.js';
import { esc } from './html.js';
import { naddr, nevent, npub, shorten } from './ids.js';

/** Fragments shared by the catalogue's pages: links to every kind of page, author bylines, cards. */

export const exerciseHref = (address: string) => `/exercises/${naddr(address)}`;
export const templateHref = (address: string) => `/templates/${naddr(address)}`;
export const recordHref = (id: string, author: string, kind: number) => `/records/${nevent(id, author, kind)}`;
export const profileHref = (pubkey: string) => `/profiles/${npub(pubkey)}`;

export interface Profile {
  name: string | null;
  picture: string | null;
  about: string | null;
}

const text = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : null);

/** Reads a kind-0 content; anything unreadable is simply no profile. Pictures only over http(s). */
export function readProfile(content: string | undefined): Profile {
  let p: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(content ?? '{}');
    if (parsed && typeof parsed === 'object') p = parsed as Record<string, unknown>;
  } catch {
    // not JSON: no name, no picture
  }
  const picture = text(p.picture);
  return {
    name: text(p.display_name) ?? text(p.name) ?? text(p.displayName),
    picture: picture && /^https?:\/\//i.test(picture) ? picture : null,
    about: text(p.about),
  };
}

export type Profiles = Record<string, string>;

/** Media the page may embed: web addresses and inline images only. */
export const embeddable = (url: string | null): url is string => url !== null && /^(https?:\/\/|data:image\/)/i.test(url);

/**
 * An exercise's media as a page shows them: served by this relay when it stores the blob (its store
 * answers ranges, so a video seeks), else from where the event points. A video's poster is the
 * exercise's first image, local too when stored here.
 */
export function exerciseMedia(items: readonly MediaItem[], title: string, blobPath: BlobPath | undefined): string {
  const shown = items.map((m) => {
    const local = blobPath && m.stored !== null && m.sha256 !== null ? blobPath(m.sha256, m.stored) : undefined;
    return { src: local ?? m.url, type: (local ? m.stored : m.mime) ?? '', alt: m.alt ?? `${title} demonstration`, local: local !== undefined };
  }).filter((m) => m.local || embeddable(m.src));
  const poster = shown.find((m) => m.type.startsWith('image/'))?.src;
  return shown.map((m) => (m.type.startsWith('video/')
    ? `<video controls preload="metadata" src="${esc(m.src)}"${poster ? ` poster="${esc(poster)}"` : ''} aria-label="${esc(m.alt)}"></video>`
    : `<img src="${esc(m.src)}" alt="${esc(m.alt)}" loading="lazy">`)).join('');
}

export function displayName(pubkey: string, profiles: Profiles): string {
  return readProfile(profiles[pubkey]).name ?? shorten(npub(pubkey));
}

/** "by <name>", linked to the author's profile. */
export function byline(pubkey: string, profiles: Profiles): string {
  const { picture } = readProfile(profiles[pubkey]);
  return `<p class="byline">by <a href="${profileHref(pubkey)}">${picture ? `<img src="${esc(picture)}" alt="" loading="lazy">` : ''}${esc(displayName(pubkey, profiles))}</a></p>`;
}

export const authorOf = (address: string): string => parseAddress(address)?.pubkey ?? '';

export function exerciseCards(cards: readonly ExerciseCard[], profiles: Profiles, withAuthor = true): string {
  return cards.map((x) => `<li class="card">${embeddable(x.image) ? `<img class="thumb" src="${esc(x.image)}" alt="" loading="lazy">` : ''}
<h3><a href="${exerciseHref(x.address)}">${esc(x.title || '(untitled exercise)')}</a></h3>
<p class="muted">${esc(x.equipment ?? 'no equipment given')}${x.difficulty ? ` · ${esc(x.difficulty)}` : ''}</p>
<p>${x.hashtags.filter((h) => h !== 'fitness').map((h) => `<span class="tag">${esc(h)}</span>`).join('')}</p>
${withAuthor ? byline(authorOf(x.address), profiles) : ''}</li>`).join('\n');
}

export function templateCards(cards: readonly TemplateCard[], profiles: Profiles, withAuthor = true): string {
  return cards.map((t) => `<li class="card"><h3><a href="${templateHref(t.address)}">${esc(t.title || '(untitled template)')}</a></h3>
<p class="muted">${esc(t.type)}${t.difficulty ? ` · ${esc(t.difficulty)}` : ''} · ${t.sets} set${t.sets === 1 ? '' : 's'}</p>
${t.missing ? `<p class="missing">${t.missing} exercise${t.missing === 1 ? '' : 's'} missing</p>` : ''}
${withAuthor ? byline(authorOf(t.address), profiles) : ''}</li>`).join('\n');
}

/** A labelled drop-down of a filter form; "any" is the empty choice. */
export function select(name: string, label: string, values: readonly string[], chosen: string): string {
  return `<label>${label}<select name="${name}"><option value="">any</option>${values
    .map((v) => `<option${v === chosen ? ' selected' : ''}>${esc(v)}</option>`).join('')}</select></label>`;
}

/** A page's key facts as a definition list; empty values are left out. */
export function facts(items: [string, string | number | null | undefined][]): string {
  const shown = items.filter(([, v]) => v !== null && v !== undefined && v !== '');
  return shown.length ? `<dl class="facts">${shown.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${esc(v)}</dd></div>`).join('')}</dl>` : '';
}

/** Free text as paragraphs (blank lines), line breaks kept. */
export function notes(text: string): string {
  return text.trim() ? text.trim().split(/\n\s*\n/).map((p) => `<p>${esc(p).replace(/\n/g, '<br>')}</p>`).join('') : '';
}

export const plural = (n: number, word: string) => `${n.toLocaleString('en')} ${word}${n === 1 ? '' : 's'}`;
