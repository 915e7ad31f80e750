import { closeSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { migrate } from './migrations.js';

/** Size of a file in bytes; 0 when it does not exist. */
export function fileBytes(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** What the database takes on disk: the file and its write-ahead log. */
export function databaseBytes(path: string): number {
  return fileBytes(path) + fileBytes(`${path}-wal`);
}

/** A database that cannot be opened or read; the message says which file and why. */
export class DatabaseOpenError extends Error {}

const SQLITE_HEADER = Buffer.from('SQLite format 3\u0000', 'latin1');

/** SQLite silently turns a short non-database file into an empty database; refuse that instead. */
function assertDatabaseFile(path: string): void {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return; // does not exist yet: it will be created
  }
  if (size === 0) return;
  const header = Buffer.alloc(SQLITE_HEADER.length);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  if (!header.equals(SQLITE_HEADER)) throw Object.assign(new Error('not a database'), { code: 'SQLITE_NOTADB' });
}

/** Pages the write-ahead log may hold before a commit checkpoints it (16 KiB pages: 4 MiB). */
const WAL_AUTOCHECKPOINT_PAGES = 256;
/** What a checkpointed WAL is truncated to, so the database directory carries no stale log. */
export const WAL_SIZE_LIMIT_BYTES = 4 * 1024 * 1024;
/** The writer's page cache (negative: KiB), 64 MiB; the start-up integrity check's, 2 MiB. */
const WRITER_CACHE_SIZE = -65536;
const CHECK_CACHE_SIZE = -2048;
/** How long a connection waits for another's lock before SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5000;

/**
 * Opens (creating if needed) the SQLite file for writing, checks it really is a readable database,
 * sets the pragmas the relay depends on and brings the schema up to date. Only the writer thread
 * (and the CLI's writer) hold such a connection.
 */
export function openDatabase(path: string): Database {
  let db: Database | undefined;
  try {
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true });
      assertDatabaseFile(path);
    }
    db = new BetterSqlite3(path);
    // WAL: readers never block the writer. synchronous=NORMAL: a commit survives a process crash
    // (the WAL is in the OS before COMMIT returns); only power loss can cost the last commits.
    db.pragma('page_size = 16384');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    db.pragma('temp_store = MEMORY');
    db.pragma('foreign_keys = OFF');
    // The check reads every page once: through a small cache, or the writer's would start full of
    // pages no write needs (a 24 MB database of 10k events: 96 -> 76 MiB at start).
    db.pragma(`cache_size = ${CHECK_CACHE_SIZE}`);
    let check: unknown;
    try {
      check = db.pragma('quick_check', { simple: true });
    } catch (err) {
      check = (err as Error).message;
    }
    if (check !== 'ok') throw new Error(`integrity check failed (restore a backup): ${String(check)}`);
    db.pragma(`cache_size = ${WRITER_CACHE_SIZE}`);
    migrate(db);
    return db;
  } catch (err) {
    db?.close();
    const reason = (err as NodeJS.ErrnoException).code === 'SQLITE_NOTADB' ? 'file is not a SQLite database' : (err as Error).message;
    throw new DatabaseOpenError(`cannot open database ${path}: ${reason}`);
  }
}

/**
 * A read-only connection for a reader thread, on a database the writer has already opened and
 * migrated. WAL lets it read a consistent snapshot while the writer commits.
 */
export function openReadConnection(path: string): Database {
  const db = new BetterSqlite3(path, { fileMustExist: path !== ':memory:' });
  db.pragma('query_only = 1');
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.pragma('cache_size = -16384');
  db.pragma('temp_store = MEMORY');
  return db;
}

/** Cluster mode: the last stream sequence applied to a database (0 on a single node). */
export const CLUSTER_SEQ_SQL = "SELECT value FROM relay_state WHERE key = 'cluster_seq'";

/** The stream sequence a database file (a backup) was applied up to. */
export function clusterSeqOf(path: string): number {
  const db = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(CLUSTER_SEQ_SQL).pluck().get() as number;
  } finally {
    db.close();
  }
}
