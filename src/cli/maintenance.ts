import type { Config } from '../config/settings.js';
import { databaseBytes, fileBytes } from '../store/database.js';
import type { EventStore } from '../store/event-store.js';
import { CliError, loadConfigOrFail, openStore } from './common.js';

const DAY = 86_400;

function withStore<T>(run: (store: EventStore, config: Config) => T): T {
  const config = loadConfigOrFail();
  const store = openStore(config);
  try {
    return run(store, config);
  } finally {
    store.close();
  }
}

/** `powr-relay stats`: what the database holds. */
export function stats(): string {
  return withStore((store, config) => {
    const all = <T>(sql: string) => store.db.prepare(sql).all() as T[];
    const one = (sql: string) => store.db.prepare(sql).pluck().get() as number;
    const kinds = all<{ kind: number; n: number }>('SELECT kind, COUNT(*) AS n FROM nostr_events GROUP BY kind ORDER BY n DESC');
    const flags = all<{ code: string; n: number }>('SELECT code, COUNT(*) AS n FROM event_flags GROUP BY code ORDER BY n DESC');
    const total = kinds.reduce((a, k) => a + k.n, 0);
    const bytes = databaseBytes(config.db);
    const lines = [
      `database ${config.db}: ${(bytes / 1024 / 1024).toFixed(1)} MiB, ${total} events` + (total ? `, ${Math.round(bytes / total)} bytes per event` : ''),
      `templates: ${one('SELECT COUNT(*) FROM templates')}, incomplete (missing exercises): ` +
        one(`SELECT COUNT(DISTINCT m.referrer_seq) FROM missing_dependencies m JOIN templates t ON t.event_seq = m.referrer_seq`),
      `exercises: ${one('SELECT COUNT(*) FROM exercises')}, workout records: ${one('SELECT COUNT(*) FROM workout_records')}`,
      'events by kind:',
      ...kinds.map((k) => `  ${String(k.kind).padStart(6)}  ${k.n}`),
      'flags by code:',
      ...(flags.length ? flags.map((f) => `  ${f.code.padEnd(28)} ${f.n}`) : ['  none']),
    ];
    return lines.join('\n') + '\n';
  });
}

/** `powr-relay backup <path>`: SQLite's online backup, consistent while the relay keeps writing. */
export async function backup(target: string): Promise<string> {
  const config = loadConfigOrFail();
  const store = openStore(config);
  try {
    await store.db.backup(target);
  } catch (err) {
    throw new CliError(`backup: cannot write ${target}: ${(err as Error).message}`);
  } finally {
    store.close();
  }
  return `backed up ${config.db} to ${target} (${(fileBytes(target) / 1024 / 1024).toFixed(1)} MiB)\n`;
}

/** `powr-relay vacuum`: rewrites the file without free pages (holds the write lock while it runs). */
export function vacuum(): string {
  return withStore((store, config) => {
    const before = fileBytes(config.db);
    store.db.exec('VACUUM');
    store.checkpoint();
    return `vacuumed ${config.db}: ${(before / 1024 / 1024).toFixed(1)} MiB -> ${(fileBytes(config.db) / 1024 / 1024).toFixed(1)} MiB\n`;
  });
}

/** `powr-relay prune`: deletes events older than the retention of their kind, in small transactions. */
export function prune(retention: string[] | undefined, now = Math.floor(Date.now() / 1000)): string {
  return withStore((store, config) => {
    const rules = (retention ?? config.retention).map((r) => r.split(':').map(Number) as [number, number]);
    if (rules.length === 0) return 'nothing to prune: no retention configured (retention, or --keep <kind>:<days>)\n';
    const lines: string[] = [];
    for (const [kind, days] of rules) {
      let removed = 0;
      for (let n; (n = store.pruneKind(kind, now - days * DAY)) > 0;) removed += n;
      lines.push(`kind ${kind}: ${removed} events older than ${days} days deleted`);
    }
    return lines.join('\n') + '\n';
  });
}

/** `powr-relay reindex`: rebuilds the processed NIP-101e tables from the raw events. */
export function reindex(): string {
  return withStore((store) => {
    const started = Date.now();
    store.db.transaction(() => store.powr.rebuild())();
    return `processed tables rebuilt in ${((Date.now() - started) / 1000).toFixed(1)} s\n`;
  });
}

/** `powr-relay check`: SQLite's integrity check and the processed tables against a rebuild. */
export function check(): { ok: boolean; report: string } {
  return withStore((store) => {
    const integrity = store.db.pragma('integrity_check', { simple: true }) as string;
    const differing = store.powr.differencesFromRebuild();
    const ok = integrity === 'ok' && differing.length === 0;
    const report = [
      `integrity: ${integrity}`,
      `processed tables: ${differing.length === 0 ? 'agree with the raw events' : `differ in ${differing.join(', ')} (run reindex)`}`,
    ].join('\n') + '\n';
    return { ok, report };
  });
}
