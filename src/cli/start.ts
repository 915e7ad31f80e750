import { pino } from 'pino';
import { envName } from '../config/settings.js';
import { Ingest } from '../relay/ingest.js';
import { LiveSubscriptions } from '../relay/live-subscriptions.js';
import { Metrics } from '../relay/metrics.js';
import { RateLimits } from '../relay/rate-limits.js';
import { RelayServer } from '../relay/server.js';
import { Bundles } from '../store/bundles.js';
import { CatalogueQueries, inlineCatalogueReads } from '../store/catalogue-queries.js';
import { Writer } from '../store/writer.js';
import { Catalogue } from '../web/catalogue.js';
import { CliError, VERSION, loadConfigOrFail, openStore, verifierPool } from './common.js';

const SHUTDOWN_DEADLINE_MS = 5000;
const CACHE_METADATA_SAVE_MS = 60_000;
/** How often to look for commits by another process (an import running beside the relay). */
const EXTERNAL_WRITE_CHECK_MS = 1000;

/** `powr-relay start`: the relay, until SIGINT or SIGTERM. */
export async function start(): Promise<void> {
  const config = loadConfigOrFail();
  const log = pino({ level: config.logLevel, base: { service: 'powr-relay' } });
  const store = openStore(config);
  const verifier = verifierPool(config, log);
  const bundles = new Bundles(store.db, config.bundleCacheBytes);
  const live = new LiveSubscriptions();
  let server: RelayServer | undefined;
  const metrics = new Metrics({
    connections: () => server?.connections ?? 0, subscriptions: () => live.size, workerQueue: () => verifier.queued,
    cache: () => bundles.stats(), databaseFile: config.db,
  });
  const writer = new Writer(store, config.writeBatchSize, log, (events, seconds) => {
    metrics.writeBatch.observe(events);
    metrics.commitSeconds.observe(seconds);
  });
  store.onChange((changed) => bundles.invalidate(changed));
  store.onExternalWrite(() => bundles.clear());
  const limits = new RateLimits(config);
  const ingest = new Ingest(config, store, writer, verifier, live, limits, log);
  const catalogue = new Catalogue({ config, reads: inlineCatalogueReads(new CatalogueQueries(store.db)), connections: () => server?.connections ?? 0 });
  server = new RelayServer({ config, version: VERSION, store, bundles, ingest, live, limits, metrics, catalogue, log });

  let address;
  try {
    address = await server.listen();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CliError(`cannot listen on ${config.host}:${config.port} (${envName('host')} / ${envName('port')}): ${e.code ?? e.message}`);
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
    setInterval(() => store.detectExternalWrites(), EXTERNAL_WRITE_CHECK_MS),
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
