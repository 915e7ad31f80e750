import { firstTagValue, type NostrEvent } from './event.js';
import { sameRelayUrl } from './relay-url.js';

/** NIP-98 HTTP Auth. */
export const HTTP_AUTH_KIND = 27235;
/** How far the event's created_at may be from the relay's clock. */
export const HTTP_AUTH_WINDOW_SECONDS = 60;

/**
 * The signed event out of `Authorization: Nostr <base64 JSON>`, not yet checked; or why it cannot be
 * read. base64 and base64url are both read, padding or not (Blossom's BUD-11 tokens use base64url).
 * `scheme` names the standard in the reasons.
 */
export function readAuthorization(header: string | undefined, scheme = 'NIP-98'): { ok: true; event: unknown } | { ok: false; reason: string } {
  if (header === undefined || header === '') return { ok: false, reason: `auth-required: send an Authorization: Nostr <base64 event> header (${scheme})` };
  const match = /^Nostr\s+([A-Za-z0-9+/=_-]+)\s*$/.exec(header);
  if (!match) return { ok: false, reason: `invalid: the Authorization header must be "Nostr <base64 event>" (${scheme})` };
  try {
    return { ok: true, event: JSON.parse(Buffer.from(match[1]!, 'base64').toString('utf8')) as unknown };
  } catch {
    return { ok: false, reason: 'invalid: the Authorization header does not hold a base64-encoded JSON event' };
  }
}

export interface HttpRequestFacts {
  /** URLs that name this endpoint: the one the request was sent to, the relay's public URL. */
  urls: readonly string[];
  method: string;
  /** sha256 hex of the request body. */
  payloadHash: string;
  now: number;
}

/** Checks a signed NIP-98 event (id and signature are checked separately) against the request it authorizes. */
export function checkHttpAuthEvent(event: NostrEvent, request: HttpRequestFacts): string | undefined {
  if (event.kind !== HTTP_AUTH_KIND) return `invalid: the authorization event must be of kind ${HTTP_AUTH_KIND}`;
  if (Math.abs(event.created_at - request.now) > HTTP_AUTH_WINDOW_SECONDS) {
    return `invalid: the authorization event's created_at must be within ${HTTP_AUTH_WINDOW_SECONDS} seconds of now`;
  }
  const u = firstTagValue(event, 'u');
  if (u === undefined || !request.urls.some((url) => sameRelayUrl(u, url))) {
    return 'invalid: the authorization event\'s u tag must be this relay\'s URL';
  }
  if (firstTagValue(event, 'method')?.toUpperCase() !== request.method.toUpperCase()) {
    return `invalid: the authorization event's method tag must be ${request.method}`;
  }
  if (firstTagValue(event, 'payload')?.toLowerCase() !== request.payloadHash) {
    return 'invalid: the authorization event\'s payload tag must be the sha256 hex of the request body';
  }
  return undefined;
}
