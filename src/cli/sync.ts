import { pino } from 'pino';
import type { Config } from '../config/settings.js';
import { viewersFor } from '../powr/privacy.js';
import { checkEventShape } from '../protocol/event.js';
import { matchesFilter, parseFilter, type Filter } from '../protocol/filter.js';
import { CliError, loadConfigOrFail } from './common.js';
import { RemoteRelay } from '../sync/remote-relay.js';
import { CHUNK, RemoteRefused, chunks, fetchNeeded, negentropyDifference, pageRemote } from '../sync/remote-sync.js';
import { openCommandIngest, reasonLines, rejectedCount, tally, type CommandIngest, type Verdicts } from './transfer.js';

export const DIRECTIONS = ['down', 'up', 'both'] as const;
export type Direction = (typeof DIRECTIONS)[number];

export interface SyncOptions {
  url: string;
  /** One NIP-01 filter object, as given; `limit` is ignored (sync covers every matching event). */
  filter: Record<string, unknown>;
  direction: Direction;
}

const unixNow = () => Math.floor(Date.now() / 1000);
const newVerdicts = (): Verdicts => ({ accepted: 0, duplicates: 0, rejected: new Map() });

export interface SyncSummary {
  /** How the two sets were compared, and why not by negentropy when it was not. */
  method: { negentropy: true } | { negentropy: false; because: string };
  /** Matching events here that the remote lacks. */
  have: number;
  /** Matching events on the remote that are not here. */
  need: number;
  /** Events fetched from the remote, by what the local checks said of them. */
  received: Verdicts;
  /** Events published to the remote, by its OK verdicts. */
  sent: Verdicts;
  bytesReceived: number;
  seconds: number;
  /** Paging only: created_at values where the remote may hold events its pages could not reach. */
  incomplete: number[];
}

/** Publishes events (their stored JSON) and tallies the remote's OK verdicts. */
async function publish(remote: RemoteRelay, events: { id: string; json: string }[], sent: Verdicts): Promise<void> {
  for (const batch of chunks(events, CHUNK)) {
    const waiting = new Set(batch.map((e) => e.id));
    for (const e of batch) remote.send(`["EVENT",${e.json}]`);
    await remote.until((frame) => {
      if (frame[0] !== 'OK' || typeof frame[1] !== 'string' || !waiting.delete(frame[1])) return undefined;
      tally(sent, { accepted: frame[2] === true, message: String(frame[3] ?? '') });
      return waiting.size === 0 ? true : undefined;
    });
  }
}

/** Our events with these ids, as stored. */
async function localEvents(ingest: CommandIngest, config: Config, ids: string[]): Promise<{ id: string; json: string }[]> {
  const out: { id: string; json: string }[] = [];
  for (const part of chunks(ids, CHUNK)) {
    const filter = parseFilter({ ids: part, limit: part.length }, { ...config, maxLimit: CHUNK });
    if (!filter.ok) throw new Error(filter.reason);
    for (const json of await ingest.store.query([filter.value], unixNow())) {
      out.push({ id: (JSON.parse(json) as { id: string }).id, json });
    }
  }
  return out;
}

/**
 * `powr-relay sync <ws-url>`: makes the local database and a remote relay agree on the events
 * matching a filter. The sets are compared by NIP-77 negentropy when the remote speaks it, otherwise
 * by paging through the remote. Fetched events go through the relay's own write path (shape, id,
 * signature, NIP-101e), so a relay running on the same database serves and fans them out; `up`
 * publishes ours and tallies the remote's OKs. Only what an anonymous reader may read is compared and
 * published here: restricted kinds stay on this relay.
 */
export async function sync(options: SyncOptions, out: NodeJS.WriteStream = process.stderr): Promise<SyncSummary> {
  const config = loadConfigOrFail();
  const { limit: _ignored, ...remoteFilter } = options.filter;
  const parsed = parseFilter(remoteFilter, config);
  if (!parsed.ok) throw new CliError(`sync: --filter: ${parsed.reason}`);
  const filter: Filter = parsed.value;
  const started = Date.now();
  let remote: RemoteRelay;
  try {
    remote = await RemoteRelay.connect(options.url);
  } catch (err) {
    throw new CliError(`sync: cannot connect to ${options.url}: ${(err as Error).message}`);
  }
  const ingest = await openCommandIngest(config, pino({ level: 'warn' }, pino.destination(2)), true);
  const summary: SyncSummary = {
    method: { negentropy: true }, have: 0, need: 0, received: newVerdicts(), sent: newVerdicts(), bytesReceived: 0, seconds: 0,
    incomplete: [],
  };
  const down = options.direction !== 'up';
  const up = options.direction !== 'down';
  let phase = 'comparing';
  const done = (v: Verdicts) => v.accepted + v.duplicates + rejectedCount(v);
  const ticker = out.isTTY
    ? setInterval(() => out.write(`\r${phase}: received ${done(summary.received)}, sent ${done(summary.sent)}, ${Math.round(remote.bytesReceived / 1024)} KiB   `), 250)
    : undefined;
  try {
    const ours = await ingest.store.syncItems(filter, unixNow(), Number.MAX_SAFE_INTEGER, { viewers: viewersFor(config) });
    const ourIds = new Set(ours.map(([, id]) => id));
    // Events from the remote: only what was asked for, then the relay's own checks.
    const pending: Promise<void>[] = [];
    const receive = (raw: unknown) => {
      const shape = checkEventShape(raw, config, unixNow());
      if (!shape.ok) return tally(summary.received, { accepted: false, message: shape.reason });
      if (!matchesFilter(shape.value, filter)) {
        return tally(summary.received, { accepted: false, message: 'invalid: the remote sent an event the filter does not match' });
      }
      pending.push(ingest.submit(raw).then((result) => tally(summary.received, result)));
    };
    // Written a page or chunk at a time, so a large remote is not held in memory.
    const written = async () => void (await Promise.all(pending.splice(0)));

    const difference = await negentropyDifference(remote, remoteFilter, ours);
    let toSend: string[];
    if (typeof difference === 'string') {
      summary.method = { negentropy: false, because: difference };
      phase = 'paging';
      const theirs = new Set<string>();
      summary.incomplete = await pageRemote(remote, remoteFilter, (raw, id) => {
        theirs.add(id);
        if (ourIds.has(id)) return;
        summary.need++;
        if (down) receive(raw);
      }, written);
      toSend = [...ourIds].filter((id) => !theirs.has(id));
    } else {
      summary.need = difference.need.size;
      toSend = [...difference.have];
      if (down) {
        phase = 'fetching';
        await fetchNeeded(remote, difference.need, receive, written);
      }
    }
    summary.have = toSend.length;
    if (up && toSend.length > 0) {
      phase = 'publishing';
      await publish(remote, await localEvents(ingest, config, toSend), summary.sent);
    }
  } catch (err) {
    if (err instanceof CliError) throw err;
    if (err instanceof RemoteRefused) throw new CliError(`sync: ${err.message}`);
    throw new CliError(`sync: ${options.url}: ${(err as Error).message}`);
  } finally {
    if (ticker) {
      clearInterval(ticker);
      out.write('\n');
    }
    summary.bytesReceived = remote.bytesReceived;
    remote.close();
    await ingest.close();
  }
  summary.seconds = (Date.now() - started) / 1000;
  return summary;
}

export function formatSyncSummary(s: SyncSummary, options: SyncOptions): string {
  const lines = [
    s.method.negentropy
      ? `compared with ${options.url} by negentropy (NIP-77)`
      : `compared with ${options.url} by REQ paging: the remote does not speak NIP-77 (${s.method.because})`,
    `have ${s.have} (here, not there), need ${s.need} (there, not here)`,
  ];
  if (options.direction !== 'up') {
    const r = s.received;
    lines.push(`received ${r.accepted + r.duplicates + rejectedCount(r)}: ${r.accepted} stored, ${r.duplicates} duplicates, ${rejectedCount(r)} rejected`,
      ...reasonLines(r.rejected));
  }
  if (options.direction !== 'down') {
    const t = s.sent;
    lines.push(`sent ${t.accepted + t.duplicates + rejectedCount(t)}: ${t.accepted + t.duplicates} accepted, ${rejectedCount(t)} rejected`,
      ...reasonLines(t.rejected));
  }
  lines.push(`${s.bytesReceived} bytes received in ${s.seconds.toFixed(1)} s`);
  if (s.incomplete.length > 0) {
    lines.push(`incomplete: the remote's pages end inside runs of events sharing created_at ${s.incomplete.join(', ')}; ` +
      'events there may be missing (narrow --filter, e.g. by kinds or authors, and sync again)');
  }
  return lines.join('\n') + '\n';
}
