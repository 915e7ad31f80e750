import type { Database } from 'better-sqlite3';
import type { CheckReport } from '../port.js';
import { BUSY_TIMEOUT_MS, WAL_SIZE_LIMIT_BYTES, fileBytes } from './database.js';
import type { PowrTables } from './powr-tables.js';

/** How far past its limit an idle write-ahead log may stay: more than a lone event's commit. */
const TRIM_MARGIN_BYTES = 1024 * 1024;

/** The writer thread's maintenance: integrity and processed-table checks, VACUUM, checkpoints, cache counts. */
export class Maintenance {
  private readonly saveCount;

  constructor(
    private readonly db: Database,
    private readonly powr: PowrTables,
  ) {
    this.saveCount = db.prepare(`INSERT INTO cache_metadata (content_id, content_type, access_count, last_accessed)
      VALUES (?, 'bundle', ?, ?)
      ON CONFLICT (content_id) DO UPDATE SET access_count = excluded.access_count, last_accessed = excluded.last_accessed
      WHERE access_count <> excluded.access_count`);
  }

  /** The bundle cache's saved access counts, which saveCacheCounts wrote. */
  cacheCounts(): [string, number][] {
    return this.db.prepare("SELECT content_id, access_count FROM cache_metadata WHERE content_type = 'bundle'").raw().all() as [string, number][];
  }

  /** Rebuilds the processed tables if a migration asked for it; returns whether it did. */
  rebuildIfMarked(): boolean {
    const marked = this.db.prepare("SELECT 1 FROM relay_state WHERE key = 'rebuild_processed'").pluck().get() !== undefined;
    if (!marked) return false;
    this.db.transaction(() => {
      this.powr.rebuild();
      this.db.prepare("DELETE FROM relay_state WHERE key = 'rebuild_processed'").run();
    })();
    return true;
  }

  /** SQLite's integrity check, and the processed tables against a rebuild from the raw events. */
  check(): CheckReport {
    const integrity = this.db.pragma('integrity_check', { simple: true }) as string;
    return { integrity, differing: this.powr.differencesFromRebuild() };
  }

  /** Rewrites the file without free pages (holds the write lock while it runs). */
  vacuum(): void {
    this.db.exec('VACUUM');
    this.checkpoint();
  }

  /** Copies the write-ahead log into the database and truncates it. */
  checkpoint(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /**
   * Call when the writer falls idle. A burst's last commit stays in the write-ahead log (up to a
   * thousand 16 KiB pages, far past journal_size_limit) until the next write, which may never come:
   * more than TRIM_MARGIN_BYTES past the limit, the log is copied in and truncated now. Lone events
   * keep the log within the limit plus one small commit (about 20 pages); truncating that every dozen
   * events would make each following commit grow the file again (0.1 ms more per lone OK, measured).
   * It does not wait for readers: one still on an older snapshot leaves the log for the next idle
   * moment. Returns whether it truncated.
   */
  trimWal(): boolean {
    if (fileBytes(`${this.db.name}-wal`) <= WAL_SIZE_LIMIT_BYTES + TRIM_MARGIN_BYTES) return false;
    this.db.pragma('busy_timeout = 0');
    try {
      const [result] = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
      return result?.busy === 0;
    } finally {
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }

  /** Access counts of cached bundles, so cache priorities survive restarts; call inside a transaction. */
  saveCacheCounts(counts: readonly [string, number][], now: number): void {
    for (const [key, n] of counts) this.saveCount.run(key, n, now);
  }
}
