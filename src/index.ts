#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { CliError, VERSION } from './cli/common.js';
import { RETENTION_ENTRY } from './config/settings.js';
import type { Direction } from './cli/sync.js';

const HELP = `powr-relay ${VERSION}: a Nostr relay for POWR workout events (NIP-101e)

Usage: powr-relay [command] [options]        (no command: start)

Commands:
  start                    run the relay (config/powr-relay.jsonc, POWR_RELAY_* variables)
  import [file|-]          add JSONL events through the relay's checks; --no-verify skips ids and
                           signatures. Safe while the relay runs. Prints accepted, duplicates and
                           rejected by reason; a progress line on a terminal
  sync <ws-url>            make this database and another relay agree on the events matching
                           --filter '<one JSON filter>' (default: all), --direction down|up|both
                           (default down: fetch theirs; up: publish ours). NIP-77 negentropy when
                           the remote speaks it, REQ paging otherwise; fetched events pass the
                           relay's checks. Safe while the relay runs. Prints have, need, sent,
                           received and rejected by reason
  export [file|-]          stored events as JSONL, as served; --kinds 1,7 --authors <hex>,<hex>
                           --since <unix> --until <unix>
  stats                    events by kind, database size, incomplete templates, flags by code
  backup <path> [--media <dir>]
                           a consistent copy of the database, also while the relay runs; --media:
                           and the files of the blobs in that copy, into <dir> (hard links on the
                           same filesystem, else copies; files already there are kept)
  vacuum                   compact the database file
  prune                    delete events past their kind's retention (setting retention, or
                           --keep <kind>:<days>, repeatable); on every node of the cluster
                           when POWR_RELAY_CLUSTER_NATS is set
  reindex                  rebuild the processed workout tables from the raw events
  check                    integrity check, and processed tables against the raw events (exit 1 if not)
  ban pubkey|event|kind|ip <value> [--reason <text>]
                           ban an author (their events are deleted), an event, a kind, an address;
                           a running relay applies it within a second (same as the NIP-86 API); with
                           POWR_RELAY_CLUSTER_NATS set, every node of the cluster does
  allow pubkey|event|kind|ip <value> [--reason <text>]
                           lift a ban; allowing a pubkey or kind that was not refused starts an
                           allow list (then only listed pubkeys or kinds are accepted)
  list banned-pubkeys|allowed-pubkeys|banned-events|allowed-kinds|blocked-ips
  media list [--pubkey <hex>] [--type <type>|<family>/*] [--json]
                           stored blobs: sha256, size, type, uploaded, last served, served or hidden
                           (banned), owners; a table, or JSON lines
  media verify             hash every blob file against its name and metadata: names missing files,
                           files without metadata, hash and size mismatches (exit 1 if any)
  media gc [--dry-run] [--min-age <seconds>]
                           remove temporary files and files without metadata older than --min-age
                           (default 3600), and metadata whose file is missing
  media rm <sha256>        remove a blob whoever owns it (metadata, then file); a running relay stops
                           serving it at once
  cluster check <http-url> [<http-url> ...]
                           ask each node (its HTTP URL) for the digest of the events it stores and
                           compare them at one stream sequence: a table, then exit 0 when all agree,
                           1 naming the nodes that differ or cannot be asked. --wait <seconds>: how
                           long to wait for a node behind the others (default 30)

Every command reads the same configuration as the relay (POWR_RELAY_DB names the database).
Errors print one line and exit with a non-zero code.`;

function ints(name: string, value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',').map((v) => v.trim());
  if (items.some((v) => !/^\d+$/.test(v))) throw new CliError(`--${name} must be comma-separated whole numbers, got ${JSON.stringify(value)}`);
  return items.map(Number);
}

function int(name: string, value: string | undefined): number | undefined {
  return ints(name, value)?.[0];
}

async function run(argv: string[]): Promise<number> {
  const command = argv[0] === undefined || argv[0].startsWith('-') ? 'start' : argv[0];
  const args = argv[0] === command ? argv.slice(1) : argv;
  type Options = Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;
  type Parsed = { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] };
  const parse = (options: Options = {}, positionals = 0): Parsed => {
    try {
      const parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean' }, version: { type: 'boolean' } }, allowPositionals: true }) as Parsed;
      if (parsed.positionals.length > positionals) throw new CliError(`${command}: unexpected argument ${parsed.positionals[positionals]}`);
      return parsed;
    } catch (err) {
      throw err instanceof CliError ? err : new CliError(`${command}: ${(err as Error).message}`);
    }
  };
  if (args.includes('--help') || args.includes('-h') || command === 'help') {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (args.includes('--version')) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  // Each command loads only its own modules: the relay never carries the importer's, sync's or
  // the maintenance commands' (nostr-tools, bcrypto on the main thread).
  if (command === 'stats' || command === 'vacuum' || command === 'reindex') {
    parse();
    process.stdout.write(await (await import('./cli/maintenance.js'))[command]());
    return 0;
  }
  switch (command) {
    case 'start':
      parse();
      await (await import('./cli/start.js')).start();
      return -1; // keeps running
    case 'import': {
      const { values, positionals } = parse({ 'no-verify': { type: 'boolean' } }, 1);
      const { formatImportSummary, importEvents } = await import('./cli/transfer.js');
      const summary = await importEvents(positionals[0] ?? '-', !values['no-verify']);
      process.stdout.write(formatImportSummary(summary));
      if (summary.lines > 0 && summary.accepted + summary.duplicates === 0) {
        throw new CliError(`import: all ${summary.lines} lines were rejected; nothing was imported (reasons above)`);
      }
      return 0;
    }
    case 'sync': {
      const { values, positionals } = parse({ filter: { type: 'string' }, direction: { type: 'string' } }, 1);
      const url = positionals[0];
      if (!url || !/^wss?:\/\/\S+$/.test(url)) throw new CliError('sync: give the remote relay as a ws:// or wss:// URL');
      const { DIRECTIONS, formatSyncSummary, sync } = await import('./cli/sync.js');
      const direction = (values.direction ?? 'down') as Direction;
      if (!DIRECTIONS.includes(direction)) throw new CliError(`--direction must be down, up or both, got ${JSON.stringify(direction)}`);
      let filter: unknown = {};
      if (typeof values.filter === 'string') {
        try {
          filter = JSON.parse(values.filter);
        } catch {
          throw new CliError(`--filter must be one JSON filter object, got ${JSON.stringify(values.filter)}`);
        }
      }
      if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) {
        throw new CliError(`--filter must be one JSON filter object, got ${JSON.stringify(values.filter)}`);
      }
      const options = { url, filter: filter as Record<string, unknown>, direction };
      const summary = await sync(options);
      process.stdout.write(formatSyncSummary(summary, options));
      if (summary.incomplete.length > 0) throw new CliError('sync: incomplete (see the summary above)');
      return 0;
    }
    case 'export': {
      const { values, positionals } = parse({
        kinds: { type: 'string' }, authors: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' },
      }, 1);
      const authors = typeof values.authors === 'string' ? values.authors.split(',').map((a: string) => a.trim()) : undefined;
      const bad = authors?.find((a) => !/^[0-9a-f]{64}$/.test(a));
      if (bad !== undefined) throw new CliError(`--authors must be 64-character lowercase hex pubkeys, got ${JSON.stringify(bad)}`);
      const count = await (await import('./cli/transfer.js')).exportEvents(positionals[0] ?? '-', {
        kinds: ints('kinds', values.kinds as string | undefined), authors,
        since: int('since', values.since as string | undefined), until: int('until', values.until as string | undefined),
      });
      process.stderr.write(`exported ${count} events\n`);
      return 0;
    }
    case 'backup': {
      const { values, positionals } = parse({ media: { type: 'string' } }, 1);
      if (!positionals[0]) throw new CliError('backup: give the path to write the copy to');
      process.stdout.write(await (await import('./cli/maintenance.js')).backup(positionals[0], values.media as string | undefined));
      return 0;
    }
    case 'media': {
      const { media, MEDIA_COMMANDS, mediaUsage } = await import('./cli/media.js');
      const sub = MEDIA_COMMANDS[args[0] ?? ''];
      if (!sub) throw new CliError(mediaUsage());
      const { values, positionals } = parse(sub.options, 1 + sub.args);
      return media(positionals[0]!, positionals.slice(1), values, (text) => process.stdout.write(text));
    }
    case 'prune': {
      const { values } = parse({ keep: { type: 'string', multiple: true } });
      const keep = values.keep as string[] | undefined;
      const bad = keep?.find((k) => !RETENTION_ENTRY.test(k));
      if (bad !== undefined) throw new CliError(`--keep must be <kind>:<days>, like 7:90, got ${JSON.stringify(bad)}`);
      process.stdout.write(await (await import('./cli/maintenance.js')).prune(keep));
      return 0;
    }
    case 'ban':
    case 'allow': {
      const { values, positionals } = parse({ reason: { type: 'string' } }, 2);
      process.stdout.write(await (await import('./cli/moderation.js')).decide(command, positionals[0], positionals[1], values.reason as string | undefined));
      return 0;
    }
    case 'list': {
      const { positionals } = parse({}, 1);
      process.stdout.write(await (await import('./cli/moderation.js')).list(positionals[0]));
      return 0;
    }
    case 'cluster': {
      const { values, positionals } = parse({ wait: { type: 'string' } }, Number.MAX_SAFE_INTEGER);
      if (positionals[0] !== 'check') throw new CliError('cluster: the only subcommand is check: powr-relay cluster check <http-url> ...');
      const wait = int('wait', values.wait as string | undefined) ?? 30;
      const progress = (line: string) => process.stderr.write(`${line}\n`);
      const { clusterCheck, nodeUrls } = await import('./cli/cluster-check.js');
      const { ok, report, errors } = await clusterCheck(nodeUrls(positionals.slice(1)), wait * 1000, progress);
      process.stdout.write(report);
      for (const error of errors) process.stderr.write(`powr-relay: cluster check: ${error}\n`);
      return ok ? 0 : 1;
    }
    case 'check': {
      parse();
      const { ok, report } = await (await import('./cli/maintenance.js')).check();
      process.stdout.write(report);
      return ok ? 0 : 1;
    }
    default:
      throw new CliError(`unknown command ${JSON.stringify(command)}; see powr-relay --help`);
  }
}

run(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    if (err instanceof CliError) process.stderr.write(`powr-relay: ${err.message}\n`);
    else process.stderr.write(`powr-relay: fatal: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
