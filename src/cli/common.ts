import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { loadConfig } from '../config/load.js';
import { ConfigError, envName, type Config } from '../config/settings.js';
import type { NostrEvent } from '../protocol/event.js';
import { DatabaseOpenError } from '../store/database.js';
import { EventStore } from '../store/event-store.js';
import type { CheckResult } from '../workers/check-event.js';
import { WorkerPool } from '../workers/pool.js';

export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** A command's failure the operator can act on: printed as one line, exit code 1. */
export class CliError extends Error {}

export function loadConfigOrFail(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message);
    throw err;
  }
}

export function openStore(config: Config): EventStore {
  try {
    return new EventStore(config.db);
  } catch (err) {
    if (err instanceof DatabaseOpenError) throw new CliError(`${envName('db')} / db: ${err.message}`);
    throw err;
  }
}

/** The id/signature/NIP-101e checking threads the relay and the importer share. */
export function verifierPool(config: Config, log: Logger): WorkerPool<NostrEvent, CheckResult> {
  return new WorkerPool<NostrEvent, CheckResult>(
    new URL('../workers/check-thread.js', import.meta.url),
    config.workers || availableParallelism(),
    { mode: config.validationMode },
    log,
  );
}
