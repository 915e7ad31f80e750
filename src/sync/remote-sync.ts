import { nip77 } from 'nostr-tools';
import { RemoteRelay, RemoteSilent, type Frame } from './remote-relay.js';

/*
 * Comparing and fetching a remote relay's events, shared by `powr-relay sync` and the background
 * upstreams: NIP-77 negentropy where the remote speaks it, REQ paging where it does not.
 */

/** The remote answered a REQ with CLOSED. */
export class RemoteRefused extends Error {}

/** Ids asked for in one REQ, and events published before waiting for their OKs. */
export const CHUNK = 250;
/** Events asked for in one REQ window while paging a remote without NIP-77. */
const PAGE = 500;
/** How long a remote gets to answer NEG-OPEN before it counts as not speaking NIP-77. */
const NEG_OPEN_TIMEOUT_MS = 10_000;
const SUB = 'powr-sync';

export const chunks = <T>(items: readonly T[], size: number) =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

export type Difference = { have: Set<string>; need: Set<string> };

/**
 * NIP-77 against the remote with nostr-tools' negentropy client; undefined (with the reason) when
 * the remote does not speak it: a NOTICE or NEG-ERR answering NEG-OPEN, or silence.
 */
export async function negentropyDifference(remote: RemoteRelay, filter: Record<string, unknown>, ours: [number, string][]): Promise<Difference | string> {
  const storage = new nip77.NegentropyStorageVector();
  for (const [createdAt, id] of ours) storage.insert(createdAt, id);
  storage.seal();
  const negentropy = new nip77.Negentropy(storage);
  const difference: Difference = { have: new Set(), need: new Set() };
  remote.send(JSON.stringify(['NEG-OPEN', SUB, filter, negentropy.initiate()]));
  let first = true;
  const answer = (frame: Frame): true | string | undefined => {
    if (frame[0] === 'NOTICE' && first) return `it answered NEG-OPEN with NOTICE ${JSON.stringify(frame[1])}`;
    if (frame[1] !== SUB) return undefined;
    if (frame[0] === 'NEG-ERR') return `NEG-ERR ${JSON.stringify(frame[2])}`;
    if (frame[0] !== 'NEG-MSG' || typeof frame[2] !== 'string') return undefined;
    first = false;
    const next = negentropy.reconcile(frame[2], (id) => difference.have.add(id), (id) => difference.need.add(id));
    if (next === null) return true;
    remote.send(JSON.stringify(['NEG-MSG', SUB, next]));
    return undefined;
  };
  try {
    const outcome = await remote.until(answer, NEG_OPEN_TIMEOUT_MS);
    if (typeof outcome === 'string') return outcome;
  } catch (err) {
    if (err instanceof RemoteSilent && first) return `it did not answer NEG-OPEN within ${NEG_OPEN_TIMEOUT_MS / 1000} s`;
    throw err;
  }
  remote.send(JSON.stringify(['NEG-CLOSE', SUB]));
  return difference;
}

/** Sends one REQ and hands each event to `each` until EOSE; a CLOSED rejects with RemoteRefused. */
export async function fetchEvents(remote: RemoteRelay, filter: Record<string, unknown>, each: (raw: unknown) => void): Promise<void> {
  remote.send(JSON.stringify(['REQ', SUB, filter]));
  await remote.until((frame) => {
    if (frame[1] !== SUB) return undefined;
    if (frame[0] === 'EVENT') each(frame[2]);
    else if (frame[0] === 'EOSE') return true;
    else if (frame[0] === 'CLOSED') throw new RemoteRefused(`the remote refused ${JSON.stringify(filter).slice(0, 200)}: ${String(frame[2])}`);
    return undefined;
  });
  remote.send(JSON.stringify(['CLOSE', SUB]));
}

/**
 * Pages through the remote's matching events, newest first, with REQ `until`/`limit` windows. Each
 * window ends at (and includes) the oldest created_at of the one before, so events sharing that
 * created_at across a page edge are all seen; ids already seen are skipped. A window that brings
 * nothing new moves below that created_at. Hands each new event to `each`. Resolves with the
 * created_at values where that may have skipped events: a remote whose pages are smaller than the
 * run of events sharing one created_at cannot be paged past it with REQ.
 */
/**
 * Fetches the events with the ids negentropy found missing, a chunk at a time, handing each asked-for
 * event to `each` once; `written` runs after every chunk, so a large difference is not held in memory.
 */
export async function fetchNeeded(remote: RemoteRelay, need: Iterable<string>, each: (raw: unknown) => void,
  written: () => Promise<void>): Promise<void> {
  for (const ids of chunks([...need], CHUNK)) {
    const asked = new Set(ids);
    await fetchEvents(remote, { ids }, (raw) => {
      const id = (raw as { id?: unknown } | null)?.id;
      if (typeof id === 'string' && asked.delete(id)) each(raw);
    });
    await written();
  }
}

export async function pageRemote(
  remote: RemoteRelay, filter: Record<string, unknown>, each: (raw: unknown, id: string) => void, afterPage: () => Promise<void>,
): Promise<number[]> {
  const seen = new Set<string>();
  const incomplete: number[] = [];
  let until = typeof filter.until === 'number' ? filter.until : undefined;
  let largestPage = 0;
  for (;;) {
    let oldest = Infinity;
    let newest = -Infinity;
    let fresh = 0;
    let received = 0;
    await fetchEvents(remote, { ...filter, limit: PAGE, ...(until === undefined ? {} : { until }) }, (raw) => {
      const { id, created_at: createdAt } = (raw ?? {}) as { id?: unknown; created_at?: unknown };
      if (typeof id !== 'string' || typeof createdAt !== 'number') return;
      received++;
      oldest = Math.min(oldest, createdAt);
      newest = Math.max(newest, createdAt);
      if (seen.has(id)) return;
      seen.add(id);
      fresh++;
      each(raw, id);
    });
    await afterPage();
    if (received === 0) return incomplete;
    largestPage = Math.max(largestPage, received);
    if (fresh > 0) until = oldest;
    else if (until === oldest) {
      if (newest === oldest && received === largestPage) incomplete.push(oldest);
      until = oldest - 1;
    } else until = oldest;
    if (typeof filter.since === 'number' && until < filter.since) return incomplete;
  }
}

