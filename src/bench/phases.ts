import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { IDLE_THREAD_MS } from '../workers/pool.js';
import { measured, type CpuUse } from './relay-cpu.js';
import { RELAY_ENTRY, startRelayProcess, tempDb } from './relay-process.js';
import { round } from './stats.js';
import { ingest, type IngestResult } from './workloads.js';

/** Rate limits off: the benchmark is one client address publishing as fast as it can. */
export const BENCH_ENV = { POWR_RELAY_RATE_LIMITS: 'off' };

const MiB = 1024 * 1024;

/**
 * How long the relay is left alone after a load before its idle RSS is read: the pools stop threads
 * idle for IDLE_THREAD_MS, and 5 s more lets them exit and V8 finish its idle collection.
 */
export const IDLE_QUIET_MS = IDLE_THREAD_MS + 5000;

export interface FreshIngest {
  ingest: IngestResult;
  /** The relay's CPU during the load, by thread role. */
  cpu?: CpuUse;
  /** Relay RSS right after start, before any connection. */
  startRssMiB?: number;
  /** Database directory (WAL included) per stored event right after the load, while running. */
  directoryBytesPerEvent?: number;
}

/** Everything in the database's folder (the file, its WAL and shared memory): what the operator's disk holds. */
export function directoryBytes(db: string): number {
  const dir = dirname(db);
  return readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
}

/**
 * Publishes `lines` over `connections` sockets to a relay started for it on a fresh database (or to
 * `external`). With `idle`, the result comes in two steps: the load's figures at once, and the idle
 * RSS in MiB once the relay has been left alone for IDLE_QUIET_MS, so other phases can run meanwhile
 * (an idle relay uses no CPU; its RSS does not depend on them).
 */
export async function freshIngest(lines: readonly string[], connections: number, options: { external?: string; entry?: string; idle?: boolean } = {}):
  Promise<{ load: FreshIngest; idle: Promise<number | undefined> }> {
  if (options.external) return { load: { ingest: await ingest(options.external, lines, connections) }, idle: Promise.resolve(undefined) };
  const relay = await startRelayProcess(BENCH_ENV, tempDb(), options.entry ?? RELAY_ENTRY);
  try {
    const startRssMiB = round(relay.memory().rss / MiB, 1);
    const { result, cpu } = await measured(relay, () => ingest(relay.url, lines, connections));
    const load: FreshIngest = { ingest: result, cpu, startRssMiB, directoryBytesPerEvent: round(directoryBytes(relay.db) / result.accepted, 0) };
    if (!options.idle) {
      await relay.stop();
      return { load, idle: Promise.resolve(undefined) };
    }
    const idle = new Promise<number>((resolve) => setTimeout(() => resolve(round(relay.memory().rss / MiB, 1)), IDLE_QUIET_MS))
      .finally(() => relay.stop());
    return { load, idle };
  } catch (err) {
    await relay.stop();
    throw err;
  }
}

/** Microseconds of `seconds` per item. */
export const perItemMicros = (seconds: number, items: number) => round((seconds / items) * 1e6, 0);
