#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { pino } from 'pino';
import { loadConfig } from './config/load.js';
import { ConfigError, envName, type Config } from './config/settings.js';
import type { NostrEvent } from './protocol/event.js';
import { Ingest } from './relay/ingest.js';
import { LiveSubscriptions } from './relay/live-subscriptions.js';
import { RateLimits } from './relay/rate-limits.js';
import { RelayServer } from './relay/server.js';
import { Bundles } from './store/bundles.js';
import { DatabaseOpenError } from './store/database.js';
import { EventStore } from './store/event-store.js';
import { Writer } from './store/writer.js';
import { WorkerPool } from './workers/pool.js';
import type { CheckResult } from './workers/check-event.js';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const SHUTDOWN_DEADLINE_MS = 5000;
const CACHE_METADATA_SAVE_MS = 60_000;

/** One line, no stack trace, exit 1: what an operator with a bad setting should see. */
function die(message: string): never {
  process.stderr.write(`powr-relay: ${message}\n`);
  process.exit(1);
}

function openStore(config: Config): EventStore {
  try {
    return new EventStore(config.db);
  } catch (err) {
    if (err instanceof DatabaseOpenError) die(`${envName('db')} / db: ${err.message}`);
    throw err;
  }
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) die(err.message);
    throw err;
  }
  const log = pino({ level: config.logLevel, base: { service: 'powr-relay' } });
  const store = openStore(config);
  const writer = new Writer(store, config.writeBatchSize, log);
  const verifier = new WorkerPool<NostrEvent, CheckResult>(
    new URL('./workers/check-thread.js', import.meta.url),
    config.workers || availableParallelism(),
    { mode: config.validationMode },
    log,
  );
  const bundles = new Bundles(store.db, config.bundleCacheBytes);
  store.onChange((changed) => bundles.invalidate(changed));
  const live = new LiveSubscriptions();
  const limits = new RateLimits(config);
  const ingest = new Ingest(config, store, writer, verifier, live, limits, log);
  const server = new RelayServer({ config, version: VERSION, store, bundles, ingest, live, limits, log });

  let address;
  try {
    address = await server.listen();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    die(`cannot listen on ${config.host}:${config.port} (${envName('host')} / ${envName('port')}): ${e.code ?? e.message}`);
  }
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = config.publicUrl || `ws://${host}:${address.port}`;
  log.info({ url, db: config.db, workers: verifier.size, version: VERSION }, `powr-relay listening on ${url}`);

  const timers = [
    setInterval(() => {
      const purged = store.purgeExpired(Math.floor(Date.now() / 1000));
      if (purged > 0) log.debug({ purged }, 'expired events deleted');
    }, config.expirationPurgeSeconds * 1000),
    setInterval(() => store.checkpoint(), config.walCheckpointSeconds * 1000),
    setInterval(() => bundles.saveAccessCounts(Math.floor(Date.now() / 1000)), CACHE_METADATA_SAVE_MS),
  ];
  for (const t of timers) t.unref();

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    setTimeout(() => {
      log.error('shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    for (const t of timers) clearInterval(t);
    await server.close();
    await ingest.drain();
    await writer.drain();
    await verifier.close();
    bundles.saveAccessCounts(Math.floor(Date.now() / 1000));
    store.checkpoint();
    store.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`powr-relay: fatal: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
