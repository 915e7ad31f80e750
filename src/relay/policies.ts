import type { Config } from '../config/settings.js';
import { mayMatchRestricted, type Viewers } from '../powr/privacy.js';
import { AUTH_KIND, isProtected, type NostrEvent } from '../protocol/event.js';
import type { Filter } from '../protocol/filter.js';
import type { Moderation } from '../management/moderation.js';
import { unanchoredTag } from '../store/sqlite/planner.js';
import { INDEXED_MULTI_LETTER_TAGS } from '../protocol/tag-index.js';
import type { RateLimits } from './rate-limits.js';

/**
 * The relay's policies as ordered chains: each entry looks at one request and returns why it is refused
 * (with its NIP-01 prefix) or undefined to let the next one decide. The first refusal wins, so cheap and
 * definite rules come before the ones that spend a rate-limit token. A new rule is a new entry.
 */
export type Policy<C> = (ctx: C) => string | undefined;

export function firstRefusal<C>(chain: readonly Policy<C>[], ctx: C): string | undefined {
  for (const policy of chain) {
    const refusal = policy(ctx);
    if (refusal !== undefined) return refusal;
  }
  return undefined;
}

/** An EVENT about to be verified: who sends it (`trusted` is the operator's own import). */
export interface WriteContext {
  event: NostrEvent;
  ip: string;
  authed: ReadonlySet<string>;
  trusted: boolean;
  config: Config;
  limits: RateLimits;
  /** The operator's decisions (NIP-86); absent in a process that does not load them (the CLI's import). */
  moderation?: Moderation;
}

/** A REQ or COUNT about to be queried, and who asks. */
export interface ReadContext {
  filters: readonly Filter[];
  ip: string;
  authed: ReadonlySet<string>;
  /** The read rules for this reader; undefined when no kind is restricted. */
  viewers: Viewers | undefined;
  limits: RateLimits;
}

/** Access rules and limits apply to clients, not to the operator's own import. */
const clientsOnly =
  (policy: Policy<WriteContext>): Policy<WriteContext> =>
  (ctx) =>
    ctx.trusted ? undefined : policy(ctx);

const noAuthEvents: Policy<WriteContext> = ({ event }) =>
  event.kind === AUTH_KIND ? 'invalid: AUTH events (kind 22242) are never published with EVENT' : undefined;

/** NIP-70: a protected event only from its authenticated author. */
const protectedEvents: Policy<WriteContext> = ({ event, authed }) => {
  if (!isProtected(event) || authed.has(event.pubkey)) return undefined;
  return authed.size === 0
    ? 'auth-required: this event is protected (NIP-70); authenticate as its author to publish it'
    : 'restricted: a protected event (NIP-70) may only be published by its authenticated author';
};

const restrictedWrites: Policy<WriteContext> = ({ config, authed }) =>
  config.restrictedWrites && authed.size === 0
    ? 'auth-required: this relay accepts events only from authenticated clients (NIP-42)'
    : undefined;

/** Banned authors and events, refused kinds. */
const moderated: Policy<WriteContext> = ({ moderation, event }) => moderation?.refusal(event);

/** The configured allowlist and the authors an admin allowed (NIP-86 allowpubkey) form one list. */
const writeAllowlist: Policy<WriteContext> = ({ config, event, moderation }) => {
  const allowed = moderation?.allowedAuthors;
  if (config.writeAllowlist.length === 0 && !allowed?.size) return undefined;
  return config.writeAllowlist.includes(event.pubkey) || allowed?.has(event.pubkey)
    ? undefined
    : 'restricted: this relay accepts events only from its allowed authors';
};

/** Last: a token is spent only on an event every other rule lets through. */
const eventRate: Policy<WriteContext> = ({ limits, ip }) => limits.event(ip);

export const WRITE_POLICIES: readonly Policy<WriteContext>[] = [
  noAuthEvents,
  moderated,
  clientsOnly(protectedEvents),
  clientsOnly(restrictedWrites),
  clientsOnly(writeAllowlist),
  clientsOnly(eventRate),
];

/**
 * A tag the store does not index is checked on the events another condition selects; with no other
 * condition that would be every stored event, so such a filter is refused rather than left to time out.
 */
const unindexedTagNeedsAnotherCondition: Policy<ReadContext> = ({ filters }) => {
  const tag = filters.map(unanchoredTag).find((t) => t !== undefined);
  if (!tag) return undefined;
  const indexed = INDEXED_MULTI_LETTER_TAGS.map((n) => `#${n}`).join(', ');
  return `unsupported: #${tag.name} is not indexed on this relay; add ids, authors or kinds to the filter (indexed tags: single letters, ${indexed})`;
};

const reqRate: Policy<ReadContext> = ({ limits, ip }) => limits.req(ip);

/**
 * A filter that names a restricted kind from a client that has not authenticated can only be answered
 * after AUTH; one without kinds is served, with the restricted events left out row by row.
 */
const restrictedKindsNeedAuth: Policy<ReadContext> = ({ viewers, authed, filters }) =>
  viewers && authed.size === 0 && filters.some((f) => f.kinds && mayMatchRestricted(f, viewers))
    ? `auth-required: events of kinds ${viewers.restrictedKinds.join(', ')} on this relay are private; authenticate (NIP-42) to read your own`
    : undefined;

export const READ_POLICIES: readonly Policy<ReadContext>[] = [unindexedTagNeedsAnotherCondition, reqRate, restrictedKindsNeedAuth];
