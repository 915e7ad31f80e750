import { createReadStream, createWriteStream, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { Config } from '../config/settings.js';
import { Ingest, type IngestResult } from '../relay/ingest.js';
import { RateLimits } from '../relay/rate-limits.js';
import type { ExportOptions } from '../store/port.js';
import type { NostrEvent } from '../protocol/event.js';
import type { SqliteStorage } from '../store/sqlite/sqlite-storage.js';
import { checkEvent, forWriter } from '../workers/check-event.js';
import { CliError, loadConfigOrFail, openStore, verifierPool, withStore } from './common.js';

/** Events being verified or written at once: enough to keep the workers and group commit busy. */
const IN_FLIGHT = 4000;

/** What the relay's write path said of a run of events. */
export interface Verdicts {
  accepted: number;
  duplicates: number;
  /** Refused events by reason. */
  rejected: Map<string, number>;
}

export interface ImportSummary extends Verdicts {
  lines: number;
  seconds: number;
}

/** How many events the verdicts refused, whatever the reason. */
export function rejectedCount(verdicts: Verdicts): number {
  return [...verdicts.rejected.values()].reduce((a, b) => a + b, 0);
}

export function tally(verdicts: Verdicts, { accepted, message }: IngestResult): void {
  if (!accepted) verdicts.rejected.set(message, (verdicts.rejected.get(message) ?? 0) + 1);
  else if (message.startsWith('duplicate:')) verdicts.duplicates++;
  else verdicts.accepted++;
}

/** A command's way into the relay's own write path, and the storage port behind it. */
export interface CommandIngest {
  store: SqliteStorage;
  /**
   * Shape checks, id and signature (unless not verifying), NIP-101e validation, then the writer;
   * `text`, the event's JSON as read, crosses to the verification threads as it is.
   */
  submit(raw: unknown, text?: string): Promise<IngestResult>;
  close(): Promise<void>;
}

/**
 * Opens the storage port and the relay's `Ingest` for a command, as a trusted publisher (no rate
 * limits or write restrictions), with the verifier pool unless `verify` is false.
 */
export async function openCommandIngest(config: Config, log: Logger, verify: boolean): Promise<CommandIngest> {
  const store = await openStore(config, log, 1, true);
  const verifier = verify
    ? verifierPool(config, log)
    : { run: async (text: string) => forWriter(checkEvent(JSON.parse(text) as NostrEvent, config.validationMode, false)) };
  // No live subscribers here: a relay running on the same database follows these commits itself.
  const ingest = new Ingest(config, store, verifier, undefined, new RateLimits(config), log);
  const publisher = { ip: 'import', authed: new Set<string>(), trusted: true };
  return {
    store,
    submit: (raw, text) => ingest.submit(raw, publisher, text)
      .catch(() => ({ accepted: false, message: 'error: the event could not be handled' })),
    close: async () => {
      if ('close' in verifier) await verifier.close();
      await store.close();
    },
  };
}

function progress(done: number, started: number, bytes: number, total: number | undefined): string {
  const seconds = (Date.now() - started) / 1000;
  const rate = done / Math.max(seconds, 0.001);
  const parts = [`${done.toLocaleString('en')} events`, `${Math.round(rate).toLocaleString('en')}/s`];
  if (total) {
    const share = bytes / total;
    const eta = share > 0 ? (seconds / share) * (1 - share) : 0;
    parts.push(`${Math.floor(share * 100)}%`, `ETA ${Math.floor(eta / 60)}:${String(Math.round(eta % 60)).padStart(2, '0')}`);
  }
  return parts.join('  ');
}

/**
 * `powr-relay import [file|-] [--no-verify]`: JSONL events through the relay's own write path (shape
 * checks, id and signature in the worker threads unless --no-verify, NIP-101e validation, the single
 * writer). SQLite's locking makes it safe beside a running relay, which notices the new data.
 */
export async function importEvents(source: string, verify: boolean, out: NodeJS.WriteStream = process.stderr): Promise<ImportSummary> {
  const config = loadConfigOrFail();
  const log = pino({ level: 'warn' }, pino.destination(2));
  let input: NodeJS.ReadableStream & { bytesRead?: number };
  let total: number | undefined;
  if (source === '-') {
    input = process.stdin;
  } else {
    let stat;
    try {
      stat = statSync(source);
    } catch {
      throw new CliError(`import: cannot read ${source}`);
    }
    if (stat.isDirectory()) throw new CliError(`import: ${source} is a folder; give a JSONL file, or - for standard input`);
    total = stat.size;
    input = createReadStream(source);
  }
  const ingest = await openCommandIngest(config, log, verify);
  const summary: ImportSummary = { lines: 0, accepted: 0, duplicates: 0, rejected: new Map(), seconds: 0 };
  const started = Date.now();
  const ticker = out.isTTY
    ? setInterval(() => out.write(`\r${progress(summary.lines, started, input.bytesRead ?? 0, total)}   `), 250)
    : undefined;
  let inFlight = 0;
  let slotFree: (() => void) | undefined;
  let allDone: (() => void) | undefined;
  const finished = () => {
    inFlight--;
    slotFree?.();
    slotFree = undefined;
    if (inFlight === 0) allDone?.();
  };
  try {
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      if (line.trim() === '') continue;
      summary.lines++;
      let raw: unknown;
      try {
        raw = JSON.parse(line);
      } catch {
        tally(summary, { accepted: false, message: 'invalid: the line is not JSON' });
        continue;
      }
      inFlight++;
      void ingest.submit(raw, line).then((result) => tally(summary, result)).finally(finished);
      if (inFlight >= IN_FLIGHT) await new Promise<void>((resolve) => (slotFree = resolve));
    }
    if (inFlight > 0) await new Promise<void>((resolve) => (allDone = resolve));
  } finally {
    if (ticker) {
      clearInterval(ticker);
      out.write('\n');
    }
    await ingest.close();
  }
  summary.seconds = (Date.now() - started) / 1000;
  return summary;
}

export function formatImportSummary(s: ImportSummary): string {
  const rejected = rejectedCount(s);
  const lines = [
    `${s.lines} lines in ${s.seconds.toFixed(1)} s (${Math.round(s.lines / Math.max(s.seconds, 0.001))}/s): ` +
      `${s.accepted} accepted, ${s.duplicates} duplicates, ${rejected} rejected`,
    ...reasonLines(s.rejected),
  ];
  return lines.join('\n') + '\n';
}

/** Refusals by reason, most frequent first, one indented line each. */
export function reasonLines(rejected: Map<string, number>): string[] {
  const reasons = [...rejected].sort((a, b) => b[1] - a[1]);
  const lines = reasons.slice(0, 20).map(([reason, n]) => `  ${String(n).padStart(8)}  ${reason}`);
  if (reasons.length > 20) lines.push(`  … and ${reasons.length - 20} other reasons`);
  return lines;
}

/** Events per page read from a reader thread while exporting. */
const EXPORT_PAGE = 5000;

async function write(out: Writable, chunk: string): Promise<void> {
  if (!out.write(chunk)) await once(out, 'drain');
}

/**
 * `powr-relay export [file|-]`: stored events as JSONL, exactly as they are served, in the order they
 * were stored. It walks the table in its own key order (seq), the one order every event has; an
 * export reads most of the table anyway, so no filter index would save work.
 */
export async function exportEvents(target: string, options: ExportOptions): Promise<number> {
  // Opened before any work, so a missing folder or a folder as the target is one line, not a crash.
  let fd: number | undefined;
  if (target !== '-') {
    try {
      fd = openSync(target, 'w');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? `the folder ${dirname(target)} does not exist` : code === 'EISDIR' ? 'it is a folder' : code;
      throw new CliError(`export: cannot write ${target}: ${why}`);
    }
  }
  return withStore(async (store) => {
    const out = fd === undefined ? process.stdout : createWriteStream('', { fd });
    const now = Math.floor(Date.now() / 1000);
    let count = 0;
    for (let after = 0; ;) {
      const page = await store.exportPage(options, now, after, EXPORT_PAGE);
      if (page.events.length === 0) break;
      await write(out, page.events.join('\n') + '\n');
      count += page.events.length;
      after = page.lastSeq;
    }
    if (out !== process.stdout) await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    return count;
  });
}
