import { hostname } from 'node:os';
import { pino } from 'pino';
import { Blossom } from '../media/blossom.js';
import { blobPath } from '../media/mime.js';
import { MediaMetrics } from '../media/media-metrics.js';
import { MediaOptimiser, optimiseSettings } from '../media/optimise.js';
import { DiskBlobFiles } from '../store/blobs/blob-files.js';
import { envName } from '../config/settings.js';
import { Fanout } from '../relay/fanout.js';
import { Ingest } from '../relay/ingest.js';
import { LiveSubscriptions } from '../relay/live-subscriptions.js';
import { Management } from '../management/management.js';
import { Metrics } from '../relay/metrics.js';
import { Moderation } from '../management/moderation.js';
import { RateLimits } from '../relay/rate-limits.js';
import { RelayServer } from '../relay/server.js';
import { AnswerCache } from '../relay/answer-cache.js';
import { BundleCache } from '../store/bundle-cache.js';
import type { Upstreams } from '../sync/upstreams.js';
import type { Catalogue } from '../web/catalogue.js';
import { compactHeap, compactWhenQuiet } from '../workers/heap.js';
import { CliError, VERSION, loadConfigOrFail, mediaFolderOf, openStore, verifierPool } from './common.js';
import { listenForMetrics } from './metrics-listener.js';

const SHUTDOWN_DEADLINE_MS = 5000;
const CACHE_METADATA_SAVE_MS = 60_000;

/** `powr-relay start`: the relay, until SIGINT or SIGTERM. */
export async function start(): Promise<void> {
  const config = loadConfigOrFail();
  const log = pino({ level: config.logLevel, base: { service: 'powr-relay' } });
  const store = await openStore(config, log, config.readers, true);
  const verifier = verifierPool(config, log);
  const bundles = new BundleCache(store, config.bundleCacheBytes, config.media ? blobPath : undefined);
  await bundles.restoreCounts();
  const answers = new AnswerCache(config.answerCacheBytes);
  const live = new LiveSubscriptions();
  let server: RelayServer | undefined;
  let upstreams: Upstreams | undefined;
  const metrics = new Metrics({
    connections: () => server?.connections ?? 0, subscriptions: () => live.size, workerQueue: () => verifier.queued,
    readerQueue: () => store.pendingReads,
    cache: () => bundles.stats(), databaseFile: config.db, writes: () => store.writeHealth(),
    cluster: config.clusterNats.length > 0 ? () => store.cluster() : undefined,
  });
  // The committed-change feed drives everything that follows commits.
  const fanout = new Fanout(live, store);
  fanout.follow();
  store.onChange(bundles.onChange);
  store.onChange(answers.onChange);
  store.onChange(metrics.onChange);
  const moderation = new Moderation(store, log);
  await moderation.reload();
  moderation.follow();
  const limits = new RateLimits(config);
  const ingest = new Ingest(config, store, verifier, fanout, limits, log, moderation);
  const management = new Management({ config, store, moderation, verify: (e) => ingest.verify(e), limits, log });
  // The web catalogue's modules load with the first page a browser asks for.
  let pages: Promise<Catalogue> | undefined;
  const catalogue = {
    handle: async (url: URL) => (await (pages ??= import('../web/catalogue.js').then(({ Catalogue }) =>
      new Catalogue({ config, reads: store.catalogue, connections: () => server?.connections ?? 0,
        blobPath: config.media ? blobPath : undefined })))).handle(url),
  };
  const blobFiles = config.media ? await DiskBlobFiles.open(mediaFolderOf(config)) : undefined;
  // Cluster mode: blob bytes shared through NATS' object store, metadata through the stream.
  const clusterMedia = blobFiles && config.clusterNats.length > 0
    ? (await import('../media/cluster-media.js')).clusterMedia(config, store, blobFiles, log) : undefined;
  // Its threads start with the first PUT /media; job folders go beside the blobs, so storing a result is a rename.
  const optimiser = blobFiles && new MediaOptimiser(optimiseSettings(config, blobFiles.tempDir), log, metrics.registry);
  const media = blobFiles && optimiser ? new Blossom({
    config, records: clusterMedia?.records ?? store.blobs, files: clusterMedia?.files ?? blobFiles, moderation, limits,
    verify: (e) => ingest.verify(e), submit: (raw, from, text) => ingest.submit(raw, from, text), optimiser,
    metrics: new MediaMetrics(metrics.registry, () => store.blobs.totals()), log,
  }) : undefined;
  server = new RelayServer({ config, version: VERSION, store, bundles, answers, ingest, live, limits, metrics, catalogue, moderation, management, media, log,
    upstreamLease: () => upstreams?.leaseStatus() });

  let address;
  try {
    address = await server.listen();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    await store.close();
    throw new CliError(`cannot listen on ${config.host}:${config.port} (${envName('host')} / ${envName('port')}): ${e.code ?? e.message}`);
  }
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = config.publicUrl || `ws://${host}:${address.port}`;
  const metricsListener = config.metricsListen ? await listenForMetrics(metrics, log, config.metricsListen) : undefined;
  // What start-up left behind (modules' set-up, the young generation it grew) goes before the relay
  // says it is ready; what a busy spell leaves goes once every pool thread has stopped (below).
  await compactHeap().catch((err: unknown) => log.warn({ err }, 'could not compact the heap'));
  log.info({ url, metricsUrl: metricsListener?.url, db: config.db, workers: verifier.max, readers: store.readerThreads, version: VERSION },
    `powr-relay listening on ${url}`);

  const every = (ms: number, task: () => Promise<unknown>, what: string) =>
    setInterval(() => task().catch((err: unknown) => log.error({ err }, `${what} failed`)), ms);
  // NDK (about 20 MiB once loaded) only when there are upstreams to follow.
  if (config.upstreams.length > 0) {
    const node = config.clusterNats.length === 0 ? undefined : config.clusterNodeName || `${hostname()}:${address.port}`;
    upstreams = new (await import('../sync/upstreams.js')).Upstreams({ config, store, ingest, log, registry: metrics.registry, node });
    await upstreams.start();
  }

  const timers = [
    compactWhenQuiet(() => verifier.size + store.readersRunning, log),
    every(config.expirationPurgeSeconds * 1000, async () => {
      const purged = await store.purgeExpired(Math.floor(Date.now() / 1000));
      if (purged > 0) log.debug({ purged }, 'expired events deleted');
    }, 'expiry purge'),
    every(config.walCheckpointSeconds * 1000, () => store.checkpoint(), 'checkpoint'),
    every(CACHE_METADATA_SAVE_MS, () => bundles.saveCounts(Math.floor(Date.now() / 1000)), 'saving cache counts'),
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
    await upstreams?.stop();
    await server.close();
    await media?.close();
    await optimiser?.close();
    await clusterMedia?.close();
    await metricsListener?.server.close();
    await ingest.drain();
    await verifier.close();
    await bundles.saveCounts(Math.floor(Date.now() / 1000));
    await store.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}
