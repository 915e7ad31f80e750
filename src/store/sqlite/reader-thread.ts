import { parentPort, workerData } from 'node:worker_threads';
import { CLUSTER_SEQ_SQL, clusterSeqOf, databaseBytes, openReadConnection } from './database.js';
import { BlobTables } from './blob-tables.js';
import { BundleReads } from './bundles.js';
import { CatalogueQueries } from './catalogue-queries.js';
import { EventReads } from './event-reads.js';
import { StoredIds } from './stored-ids.js';
import type { ReadRequest, ReadResult, ThreadOptions } from './messages.js';
import { QueryTimeout, type QueryFrames, type StoreStats, type StoredSetReport } from '../port.js';
import { idOfCanonical } from '../../protocol/event.js';
import { replyFrames } from '../../protocol/messages.js';
import { announceThread } from '../../workers/thread-cpu.js';

announceThread('reader');

/**
 * A reader thread: one read-only connection answering REQ, COUNT, duplicate checks, bundles, the web
 * catalogue, export pages, stats and backups, so reads run beside each other and beside the writer (WAL snapshots).
 */

const options = workerData as ThreadOptions;
const db = openReadConnection(options.path);
const events = new EventReads(db);
const bundles = new BundleReads(db);
const catalogue = new CatalogueQueries(db);
const storedIds = new StoredIds(db);
const blobs = new BlobTables(db);
const count = (sql: string) => db.prepare(sql).pluck().get() as number;

function stats(): StoreStats {
  const byKind = db.prepare('SELECT kind, COUNT(*) AS n FROM nostr_events GROUP BY kind ORDER BY n DESC').all() as StoreStats['byKind'];
  return {
    engine: `SQLite ${db.prepare('SELECT sqlite_version()').pluck().get() as string}`,
    events: byKind.reduce((a, k) => a + k.n, 0),
    bytes: databaseBytes(options.path),
    byKind,
    flags: db.prepare('SELECT code, COUNT(*) AS n FROM event_flags GROUP BY code ORDER BY n DESC').all() as StoreStats['flags'],
    templates: count('SELECT COUNT(*) FROM templates'),
    incompleteTemplates: count(`SELECT COUNT(DISTINCT m.referrer_seq) FROM missing_dependencies m
      JOIN templates t ON t.event_seq = m.referrer_seq`),
    exercises: count('SELECT COUNT(*) FROM exercises'),
    records: count('SELECT COUNT(*) FROM workout_records'),
    clusterSeq: count(CLUSTER_SEQ_SQL),
  };
}

/** The recount, what the writer kept and the applied sequence, in one read transaction (one snapshot). */
const storedSet = db.transaction((now: number): StoredSetReport => ({
  appliedSeq: count(CLUSTER_SEQ_SQL), ...storedIds.recount(now), kept: storedIds.kept(),
}));

async function answer(request: ReadRequest): Promise<unknown> {
  switch (request.op) {
    case 'query':
      return events.query(request.filters, request.now, request.options);
    case 'queryFrames': {
      const found = events.query(request.filters, request.now, request.options);
      return { frames: replyFrames(request.subId, found), ids: found.map(idOfCanonical).join('') } satisfies QueryFrames;
    }
    case 'count':
      return events.count(request.filters, request.now, request.options);
    case 'syncItems':
      return events.syncItems(request.filter, request.now, request.max, request.options);
    case 'has':
      return events.has(request.id);
    case 'bundle':
      return bundles.get(request.root, request.now);
    case 'exportPage':
      return events.exportPage(request.options, request.now, request.afterSeq, request.limit);
    case 'stats':
      return stats();
    case 'storedSet':
      return storedSet(request.now);
    case 'backup':
      await db.backup(request.target);
      return { clusterSeq: clusterSeqOf(request.target) };
    case 'catalogue':
      return (catalogue[request.method] as (...args: unknown[]) => unknown)(...request.args);
    case 'blobs':
      return blobs.read(request.read);
  }
}

parentPort!.on('message', ({ id, request }: { id: number; request: ReadRequest }) => {
  const reply = (result: ReadResult, transfer: ArrayBuffer[] = []) => parentPort!.postMessage({ id, result }, transfer);
  answer(request).then(
    // The frames are handed over, not copied.
    (value) => reply({ ok: true, value }, request.op === 'queryFrames' ? [(value as QueryFrames).frames.buffer as ArrayBuffer] : []),
    (err: unknown) => reply(err instanceof QueryTimeout
      ? { ok: false, error: 'timeout', message: err.message }
      : { ok: false, error: 'failed', message: (err as Error).message }),
  );
});
