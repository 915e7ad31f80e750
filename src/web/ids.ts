import * as nip19 from 'nostr-tools/nip19';
import { isHex64, parseAddress } from '../protocol/event.js';
import { esc } from './html.js';

/**
 * Identifiers as Nostr users know them (NIP-19): npub for people, naddr for exercises and templates,
 * nevent for workout records. URLs use them too, and also accept hex and raw coordinates.
 */

export const npub = (pubkey: string): string => nip19.npubEncode(pubkey);

export function naddr(address: string): string {
  const a = parseAddress(address);
  return a ? nip19.naddrEncode({ kind: a.kind, pubkey: a.pubkey, identifier: a.d }) : address;
}

export const nevent = (id: string, author: string, kind: number): string => nip19.neventEncode({ id, author, kind });

function decoded(value: string): ReturnType<typeof nip19.decode> | undefined {
  try {
    return nip19.decode(value);
  } catch {
    return undefined;
  }
}

/** A pubkey from an npub, nprofile or hex; undefined when it is none of these. */
export function pubkeyFrom(value: string): string | undefined {
  if (isHex64(value)) return value.toLowerCase();
  const d = decoded(value);
  if (d?.type === 'npub') return d.data;
  if (d?.type === 'nprofile') return d.data.pubkey;
  return undefined;
}

/** An address from an naddr or a `<kind>:<pubkey>:<d>` coordinate. */
export function addressFrom(value: string): string | undefined {
  if (parseAddress(value)) return value;
  const d = decoded(value);
  return d?.type === 'naddr' ? `${d.data.kind}:${d.data.pubkey}:${d.data.identifier}` : undefined;
}

/** An event id from an nevent, a note or hex. */
export function eventIdFrom(value: string): string | undefined {
  if (isHex64(value)) return value.toLowerCase();
  const d = decoded(value);
  if (d?.type === 'nevent') return d.data.id;
  if (d?.type === 'note') return d.data;
  return undefined;
}

/** `npub1abcd…wxyz`: enough to tell identifiers apart at a glance. */
export function shorten(code: string): string {
  return code.length > 20 ? `${code.slice(0, 10)}…${code.slice(-6)}` : code;
}

/**
 * An identifier shown short, its full text selectable (for copying without JavaScript), a copy
 * button (with JavaScript) and a `nostr:` link that opens it in a Nostr client.
 */
export function identifier(label: string, code: string): string {
  return `<div class="ident"><span class="ident-label">${esc(label)}</span>
<code title="${esc(code)}">${esc(shorten(code))}</code>
<button type="button" class="copy" hidden data-copy="${esc(code)}" aria-label="Copy ${esc(label)} code">Copy</button>
<a href="nostr:${esc(code)}" aria-label="Open in client: ${esc(label)}">Open in client</a></div>`;
}

/** Copy buttons appear only where they can work; without JavaScript the full code is in the title and the link. */
export const COPY_SCRIPT = `
if (navigator.clipboard) for (const b of document.querySelectorAll('button.copy')) b.hidden = false;
document.addEventListener('click', (e) => {
  const b = e.target.closest('button.copy');
  if (!b || !navigator.clipboard) return;
  navigator.clipboard.writeText(b.dataset.copy).then(() => { b.textContent = 'Copied'; setTimeout(() => (b.textContent = 'Copy'), 1500); });
});`;
