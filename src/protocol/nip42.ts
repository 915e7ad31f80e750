import { AUTH_KIND, firstTagValue, type NostrEvent } from './event.js';

/** How far an AUTH event's created_at may be from the relay's clock (NIP-42 suggests ~10 minutes). */
export const AUTH_WINDOW_SECONDS = 600;

function hostOf(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.protocol === 'ws:' || u.protocol === 'wss:' ? u.hostname.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks a signed AUTH event (its id and signature are checked separately) against the challenges this
 * connection was given and the host the client connected to. Returns why it fails, with its prefix.
 */
export function checkAuthEvent(
  event: NostrEvent,
  challenges: readonly string[],
  relayHost: string | undefined,
  now: number,
): string | undefined {
  if (event.kind !== AUTH_KIND) return `invalid: an AUTH event must be of kind ${AUTH_KIND}`;
  if (Math.abs(event.created_at - now) > AUTH_WINDOW_SECONDS) {
    return `invalid: an AUTH event's created_at must be within ${AUTH_WINDOW_SECONDS / 60} minutes of now`;
  }
  const challenge = firstTagValue(event, 'challenge');
  if (challenge === undefined || !challenges.includes(challenge)) {
    return 'invalid: the challenge tag does not match a challenge this connection was sent';
  }
  const relay = firstTagValue(event, 'relay');
  const host = relay === undefined ? undefined : hostOf(relay);
  if (host === undefined) return 'invalid: an AUTH event needs a relay tag with this relay\'s ws:// or wss:// URL';
  if (relayHost !== undefined && host !== relayHost.toLowerCase()) return `invalid: the relay tag names ${host}, not this relay`;
  return undefined;
}
