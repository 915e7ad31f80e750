import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { pino, type Logger } from 'pino';
import { loadConfig } from '../config/load.js';
import { ConfigError, envName, type Config } from '../config/settings.js';
import type { ClusterOptions } from '../store/cluster/nats-log.js';
import { DatabaseOpenError } from '../store/sqlite/database.js';
import { SqliteStorage } from '../store/sqlite/sqlite-storage.js';
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

/** Where blob files live: `mediaDir`, else a `blobs` folder beside the database file. */
export function mediaFolderOf(config: Config): string {
  return config.mediaDir || join(dirname(config.db), 'blobs');
}

/** Cluster mode's settings, or undefined on a single node. */
export function clusterOptions(config: Config): ClusterOptions | undefined {
  if (config.clusterNats.length === 0) return undefined;
  return { servers: config.clusterNats, stream: config.clusterStream, replicas: config.clusterReplicas, retentionDays: config.clusterRetentionDays };
}

/**
 * The storage port on the configured database: its writer thread and `readers` reader threads.
 * `writesEvents`: the command stores events or makes decisions, so in cluster mode they go through
 * the cluster's stream.
 */
export async function openStore(config: Config, log: Logger, readers = config.readers, writesEvents = false): Promise<SqliteStorage> {
  try {
    return await SqliteStorage.open({
      path: config.db, readers, batchSize: config.writeBatchSize, relayUrl: config.publicUrl, log,
      cluster: writesEvents ? clusterOptions(config) : undefined,
    });
  } catch (err) {
    if (err instanceof DatabaseOpenError) throw new CliError(`${envName('db')} / db: ${err.message}`);
    throw err;
  }
}

/** How long a command waits for the cluster's stream before it gives up. */
const CLUSTER_REACH_MS = 10_000;

/** Cluster mode: waits until the writer follows the cluster's stream, so a decision is not refused while it connects. */
async function reachCluster(store: SqliteStorage): Promise<void> {
  const deadline = Date.now() + CLUSTER_REACH_MS;
  for (;;) {
    const status = store.cluster();
    if (!status || status.connected) return;
    if (Date.now() > deadline) {
      throw new CliError(`nothing was changed: the cluster's stream (NATS) is out of reach (${status.problem ?? 'not connected'})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Runs a command against the storage port and closes it afterwards, whatever happens. `decides`: the
 * command makes an operator's decision, which in cluster mode goes through the cluster's stream to
 * every node (docs/cluster.md).
 */
export async function withStore<T>(run: (store: SqliteStorage, config: Config) => Promise<T>, decides = false): Promise<T> {
  const config = loadConfigOrFail();
  // A decision's trouble reaching the cluster ends in the command's own one-line error.
  const store = await openStore(config, pino({ level: decides ? 'fatal' : 'warn' }, pino.destination(2)), 1, decides);
  try {
    if (decides) await reachCluster(store);
    return await run(store, config);
  } finally {
    await store.close();
  }
}

/** The id/signature/NIP-101e checking threads the relay and the importer share. */
export function verifierPool(config: Config, log: Logger): WorkerPool<string, CheckResult> {
  return new WorkerPool<string, CheckResult>(
    new URL('../workers/check-thread.js', import.meta.url),
    config.workers || availableParallelism(),
    { mode: config.validationMode },
    log,
  );
}
