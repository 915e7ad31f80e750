/**
 * The operator's moderation decisions (NIP-86, `powr-relay ban|allow`), as the storage port stores and
 * returns them: plain JSON, so they cross to and from the SQLite threads as they are.
 */

/** The lists a decision puts values on or takes them off. Kinds are kept as their decimal text. */
export const MODERATION_LISTS = ['bannedPubkeys', 'allowedPubkeys', 'bannedEvents', 'allowedKinds', 'disallowedKinds', 'blockedIps'] as const;
export type ModerationList = (typeof MODERATION_LISTS)[number];

export interface ModerationEntry {
  value: string;
  reason: string;
}

/** The relay information an admin may change at run time (NIP-11 fields). */
export const RELAY_INFO_FIELDS = ['name', 'description', 'icon'] as const;
export type RelayInfoField = (typeof RELAY_INFO_FIELDS)[number];

/** One management call's change, applied in one transaction. */
export interface ModerationDecision {
  add: { list: ModerationList; value: string; reason: string }[];
  drop: { list: ModerationList; value: string }[];
  /**
   * Takes `value` off `refusing` when it is there, else puts it on `list`: judged against the lists
   * as they stand when the decision is applied, so in cluster mode by the decisions before it in the
   * stream, the same on every node.
   */
  lift?: { list: ModerationList; refusing: ModerationList; value: string; reason: string };
  info?: { field: RelayInfoField; value: string };
}

export interface ModerationState {
  lists: Record<ModerationList, ModerationEntry[]>;
  info: Partial<Record<RelayInfoField, string>>;
}

/** Refusals the write path gives for moderated events, wherever the check runs. */
export const MODERATION_REFUSALS = {
  bannedPubkey: 'blocked: this author is banned from this relay',
  bannedEvent: 'blocked: this event is banned from this relay',
  vanished: 'blocked: this author asked this relay to forget their events (NIP-62) up to a later time',
} as const;
