import type { NostrEvent } from './event.js';
import { sameRelayUrl } from './relay-url.js';

/** The relay tag value that makes a request to vanish apply everywhere. */
export const ALL_RELAYS = 'ALL_RELAYS';

/**
 * Whether a request to vanish (kind 62) applies to this relay: a `relay` tag names `relayUrl` or
 * ALL_RELAYS. With no public URL configured the relay cannot tell which URL names it, so only
 * ALL_RELAYS applies.
 */
export function vanishAppliesHere(request: NostrEvent, relayUrl: string): boolean {
  return request.tags.some((t) => t[0] === 'relay' && t[1] !== undefined &&
    (t[1] === ALL_RELAYS || (relayUrl !== '' && sameRelayUrl(t[1], relayUrl))));
}
