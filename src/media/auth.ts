import { firstTagValue, type NostrEvent } from '../protocol/event.js';

/** Blossom authorization tokens (BUD-11). */
export const BLOSSOM_AUTH_KIND = 24242;
export type BlossomVerb = 'get' | 'upload' | 'list' | 'delete' | 'media';
/** Verbs whose token must name the blob it is for with an `x` tag. */
const NEEDS_X: ReadonlySet<BlossomVerb> = new Set(['upload', 'delete', 'media']);
/** How far a token's created_at may run ahead of the relay's clock. */
const CLOCK_SKEW_SECONDS = 60;

export interface TokenRequest {
  verb: BlossomVerb;
  now: number;
  /** This relay's host name, which a token's `server` tags must include when it has any. */
  host: string | undefined;
}

const tagValues = (event: NostrEvent, name: string) => event.tags.filter((t) => t[0] === name && t[1] !== undefined).map((t) => t[1]!);

/** A `server` tag names a host: a bare domain (BUD-11) or, as some clients write it, a URL. */
function hostOf(value: string): string {
  try {
    return new URL(value).hostname.toLowerCase();
  } catch {
    return value.toLowerCase().replace(/\/+$/, '');
  }
}

/**
 * Why a token (id and signature checked separately) does not authorize this request: kind, times,
 * verb, server scope and, for verbs that need one, an `x` tag. The blob itself is matched by
 * `namesBlob` once its hash is known.
 */
export function tokenProblem(event: NostrEvent, request: TokenRequest): string | undefined {
  if (event.kind !== BLOSSOM_AUTH_KIND) return `the authorization must be a kind ${BLOSSOM_AUTH_KIND} event, got kind ${event.kind}`;
  if (event.created_at > request.now + CLOCK_SKEW_SECONDS) return 'the authorization\'s created_at is in the future';
  const expiration = firstTagValue(event, 'expiration');
  if (expiration === undefined || !/^\d+$/.test(expiration)) return 'the authorization needs an expiration tag (a unix time)';
  if (Number(expiration) <= request.now) return 'the authorization has expired';
  const verb = firstTagValue(event, 't');
  if (verb !== request.verb) return `the authorization's t tag must be "${request.verb}", got ${JSON.stringify(verb ?? null)}`;
  const servers = tagValues(event, 'server');
  if (servers.length > 0 && (request.host === undefined || !servers.some((s) => hostOf(s) === request.host))) {
    return `the authorization is for another server (${servers.slice(0, 3).join(', ')}), not ${request.host ?? 'this one'}`;
  }
  if (NEEDS_X.has(request.verb) && tagValues(event, 'x').length === 0) return 'the authorization has no x tag naming the blob';
  return undefined;
}

/** Whether the token's `x` tags name this blob. */
export function namesBlob(event: NostrEvent, sha256: string): boolean {
  return tagValues(event, 'x').includes(sha256);
}
