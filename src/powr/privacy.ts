import { LEGACY_RECORD_KIND, RECORD_KIND } from './types.js';

/**
 * Read rules (`restrictedReadKinds`, and `privateRecords` for workout records): events of a restricted
 * kind are personal data (direct messages, gift wraps, workout records), readable only by their author
 * and the people they p-tag (a recipient, a coach), and only once they have proved who they are.
 */
export const RECORD_KINDS: readonly number[] = [RECORD_KIND, LEGACY_RECORD_KIND];

/**
 * Who is reading, for the read rules: the kinds only their author and p-tagged pubkeys may read, and the
 * pubkeys the reader authenticated as (NIP-42; empty: anonymous). Plain data, so it can cross threads.
 */
export interface Viewers {
  restrictedKinds: readonly number[];
  pubkeys: readonly string[];
}

type ReadRuleSettings = { restrictedReadKinds: readonly number[]; privateRecords: boolean };

/** Worked out once per configuration: live delivery asks for every event and subscription. */
const kindsByConfig = new WeakMap<ReadRuleSettings, readonly number[]>();

/** The kinds the configuration restricts: `restrictedReadKinds`, plus the record kinds in privacy mode. */
export function restrictedKinds(config: ReadRuleSettings): readonly number[] {
  let kinds = kindsByConfig.get(config);
  if (!kinds) {
    kinds = [...new Set([...config.restrictedReadKinds, ...(config.privateRecords ? RECORD_KINDS : [])])];
    kindsByConfig.set(config, kinds);
  }
  return kinds;
}

/** The reader's view under the configured rules; undefined when no kind is restricted (nothing to check). */
export function viewersFor(config: ReadRuleSettings, pubkeys: Iterable<string> = []): Viewers | undefined {
  const kinds = restrictedKinds(config);
  return kinds.length === 0 ? undefined : { restrictedKinds: kinds, pubkeys: [...pubkeys] };
}

export function isRestrictedKind(kind: number, viewers: Viewers): boolean {
  return viewers.restrictedKinds.includes(kind);
}

export function mayRead(event: { kind: number; pubkey: string; tags: string[][] }, viewers: Viewers): boolean {
  if (!isRestrictedKind(event.kind, viewers)) return true;
  if (viewers.pubkeys.length === 0) return false;
  return viewers.pubkeys.includes(event.pubkey) || event.tags.some((t) => t[0] === 'p' && viewers.pubkeys.includes(t[1]!));
}

/** A filter that names only unrestricted kinds can never see a restricted event. */
export function mayMatchRestricted(filter: { kinds?: readonly number[] }, viewers: Viewers): boolean {
  return filter.kinds === undefined || filter.kinds.some((k) => isRestrictedKind(k, viewers));
}
