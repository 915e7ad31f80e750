import { LEGACY_RECORD_KIND, RECORD_KIND } from './types.js';

/**
 * Privacy mode (`privateRecords`): a workout record is personal data, readable only by its author and
 * the people it p-tags (a coach, a training partner), and only once they have proved who they are.
 */
export const PRIVATE_KINDS: readonly number[] = [RECORD_KIND, LEGACY_RECORD_KIND];

/** The pubkeys a connection has authenticated as (NIP-42). Empty: anonymous. */
export type Viewers = ReadonlySet<string>;

export function isPrivateKind(kind: number): boolean {
  return PRIVATE_KINDS.includes(kind);
}

export function mayRead(event: { kind: number; pubkey: string; tags: string[][] }, viewers: Viewers): boolean {
  if (!isPrivateKind(event.kind)) return true;
  if (viewers.size === 0) return false;
  return viewers.has(event.pubkey) || event.tags.some((t) => t[0] === 'p' && viewers.has(t[1]!));
}

/** A filter that names only public kinds can never see a private record. */
export function mayMatchPrivate(filter: { kinds?: readonly number[] }): boolean {
  return filter.kinds === undefined || filter.kinds.some(isPrivateKind);
}
