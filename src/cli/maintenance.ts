import { ChangeRefused } from '../store/port.js';
import { fileBytes } from '../store/sqlite/database.js';
import { CliError, withStore } from './common.js';
import { backupMedia } from './media.js';

const DAY = 86_400;
const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

/** `powr-relay stats`: what the database holds. */
export function stats(): Promise<string> {
  return withStore(async (store, config) => {
    const s = await store.stats();
    const lines = [
      `database ${config.db}: ${mib(s.bytes)} MiB, ${s.events} events` + (s.events ? `, ${Math.round(s.bytes / s.events)} bytes per event` : ''),
      `templates: ${s.templates}, incomplete (missing exercises): ${s.incompleteTemplates}`,
      `exercises: ${s.exercises}, workout records: ${s.records}`,
      ...(s.clusterSeq > 0 ? [`cluster stream applied up to sequence ${s.clusterSeq}`] : []),
      'events by kind:',
      ...s.byKind.map((k) => `  ${String(k.kind).padStart(6)}  ${k.n}`),
      'flags by code:',
      ...(s.flags.length ? s.flags.map((f) => `  ${f.code.padEnd(28)} ${f.n}`) : ['  none']),
    ];
    return lines.join('\n') + '\n';
  });
}

/**
 * `powr-relay backup <path> [--media <dir>]`: SQLite's online backup, consistent while the relay
 * keeps writing; then, with `media`, the files of the blobs that copy knows.
 */
export function backup(target: string, media?: string): Promise<string> {
  return withStore(async (store, config) => {
    let clusterSeq: number;
    try {
      ({ clusterSeq } = await store.backup(target));
    } catch (err) {
      throw new CliError(`backup: cannot write ${target}: ${(err as Error).message}`);
    }
    // A node started from this copy resumes the cluster's stream after this sequence.
    const stream = clusterSeq > 0 ? `, cluster stream applied up to sequence ${clusterSeq}` : '';
    const copied = `backed up ${config.db} to ${target} (${mib(fileBytes(target))} MiB${stream})\n`;
    return media === undefined ? copied : copied + await backupMedia(config, target, media);
  });
}

/** `powr-relay vacuum`: rewrites the file without free pages (holds the write lock while it runs). */
export function vacuum(): Promise<string> {
  return withStore(async (store, config) => {
    const before = fileBytes(config.db);
    await store.vacuum();
    return `vacuumed ${config.db}: ${mib(before)} MiB -> ${mib(fileBytes(config.db))} MiB\n`;
  });
}

/**
 * `powr-relay prune`: deletes events older than the retention of their kind, in small transactions.
 * With POWR_RELAY_CLUSTER_NATS set, each cut-off goes through the cluster's stream to every node.
 */
export function prune(retention: string[] | undefined, now = Math.floor(Date.now() / 1000)): Promise<string> {
  return withStore(async (store, config) => {
    const rules = (retention ?? config.retention).map((r) => r.split(':').map(Number) as [number, number]);
    if (rules.length === 0) return 'nothing to prune: no retention configured (retention, or --keep <kind>:<days>)\n';
    const lines: string[] = [];
    for (const [kind, days] of rules) {
      let removed: number | undefined;
      try {
        removed = await store.prune(kind, now - days * DAY);
      } catch (err) {
        throw err instanceof ChangeRefused ? new CliError(`prune: ${err.message}`) : err;
      }
      // Undefined: the relay running on this database applied it from the cluster's stream first.
      lines.push(removed === undefined
        ? `kind ${kind}: events older than ${days} days deleted (by the relay running on this database)`
        : `kind ${kind}: ${removed} events older than ${days} days deleted`);
    }
    return lines.join('\n') + '\n';
  }, true);
}

/** `powr-relay reindex`: rebuilds the processed NIP-101e tables from the raw events. */
export function reindex(): Promise<string> {
  return withStore(async (store) => {
    const started = Date.now();
    await store.rebuildProcessed();
    return `processed tables rebuilt in ${((Date.now() - started) / 1000).toFixed(1)} s\n`;
  });
}

/**
 * `powr-relay check`: SQLite's integrity check, the processed tables against a rebuild, and the stored
 * ids against what the relay kept of them (a row added or deleted by anything else shows there).
 */
export function check(): Promise<{ ok: boolean; report: string }> {
  return withStore(async (store) => {
    const { integrity, differing } = await store.check();
    const { rows, kept } = await store.storedSet(Math.floor(Date.now() / 1000));
    const idsAgree = kept?.digest === rows.digest;
    const ok = integrity === 'ok' && differing.length === 0 && idsAgree;
    const report = [
      `integrity: ${integrity}`,
      `processed tables: ${differing.length === 0 ? 'agree with the raw events' : `differ in ${differing.join(', ')} (run reindex)`}`,
      `stored events: ${rows.stored}, digest ${rows.digest}, ` + (idsAgree ? 'as the relay kept them'
        : `but the relay kept ${kept?.stored} (digest ${kept?.digest}): the database was changed outside the relay; restore it from a backup`),
    ].join('\n') + '\n';
    return { ok, report };
  });
}
