import { resolve } from 'node:path';
import { pino } from 'pino';
import type { Config } from '../config/settings.js';
import { BlobFolder, type CopyOutcome } from '../store/blobs/blob-folder.js';
import type { BlobEntriesQuery, BlobEntry, BlobRecords } from '../store/blobs/port.js';
import { CliError, mediaFolderOf, openStore, withStore } from './common.js';

/**
 * `powr-relay media list|verify|gc|rm`: the blob store seen by the operator, through the storage
 * port (metadata) and the media folder (files), safe beside a running relay: it reads a blob's
 * metadata on every request, so what these commands change it sees at the next one.
 */

const HEX64 = /^[0-9a-f]{64}$/;
const MEDIA_TYPE = /^[a-z0-9!#$&^_.+-]+\/([a-z0-9!#$&^_.+-]+|\*)$/;
/** Rows per page of the walk. */
const PAGE = 500;
/** Default of `gc --min-age`: a temporary file or an unowned blob younger than this may be an upload finishing. */
const GC_MIN_AGE_SECONDS = 3600;

type Out = (text: string) => void;
type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;
type Options = Record<string, { type: 'string' | 'boolean' }>;

/** Each subcommand's options (index.ts parses them) and how many arguments it takes after its name. */
export const MEDIA_COMMANDS: Record<string, { options: Options; args: number }> = {
  list: { options: { pubkey: { type: 'string' }, type: { type: 'string' }, json: { type: 'boolean' } }, args: 0 },
  verify: { options: {}, args: 0 },
  gc: { options: { 'dry-run': { type: 'boolean' }, 'min-age': { type: 'string' } }, args: 0 },
  rm: { options: {}, args: 1 },
};

export function mediaUsage(): string {
  return `media: say what to do: media ${Object.keys(MEDIA_COMMANDS).join('|')} (see powr-relay --help)`;
}

const size = (bytes: number) => (bytes < 1024 ? `${bytes} B` : bytes < 1024 ** 2 ? `${(bytes / 1024).toFixed(1)} KiB`
  : bytes < 1024 ** 3 ? `${(bytes / 1024 ** 2).toFixed(1)} MiB` : `${(bytes / 1024 ** 3).toFixed(2)} GiB`);
const time = (unix: number | null) => (unix === null ? '-' : new Date(unix * 1000).toISOString().slice(0, 19).replace('T', ' '));

/** Every blob's metadata matching `query`, page by page. */
async function* blobEntries(records: BlobRecords, query: Omit<BlobEntriesQuery, 'limit' | 'after'> = {}): AsyncGenerator<BlobEntry> {
  let after: string | undefined;
  for (;;) {
    const page = await records.entries({ ...query, after, limit: PAGE });
    yield* page;
    if (page.length < PAGE) return;
    after = page[page.length - 1]!.sha256;
  }
}

/** Runs `media <command>`; resolves with the exit code. */
export function media(command: string, args: string[], values: Values, out: Out): Promise<number> {
  switch (command) {
    case 'list':
      return list(values, out);
    case 'verify':
      return verify(out);
    case 'gc':
      return gc(values, out);
    case 'rm':
      return rm(args[0], out);
    default:
      throw new CliError(mediaUsage());
  }
}

function list(values: Values, out: Out): Promise<number> {
  const pubkey = values.pubkey as string | undefined;
  const type = values.type as string | undefined;
  if (pubkey !== undefined && !HEX64.test(pubkey)) throw new CliError(`media list: --pubkey must be 64 lowercase hex characters, got ${JSON.stringify(pubkey)}`);
  if (type !== undefined && !MEDIA_TYPE.test(type)) throw new CliError(`media list: --type must be a media type like video/mp4 or video/*, got ${JSON.stringify(type)}`);
  return withStore(async (store) => {
    let count = 0;
    let bytes = 0;
    if (!values.json) out(`${'sha256'.padEnd(64)}  ${'size'.padStart(10)}  ${'type'.padEnd(16)}  ${'uploaded'.padEnd(19)}  ${'last served'.padEnd(19)}  ${'state'.padEnd(6)}  owners\n`);
    for await (const entry of blobEntries(store.blobs, { pubkey, type })) {
      count++;
      bytes += entry.size;
      out(values.json ? JSON.stringify(entry) + '\n'
        : `${entry.sha256}  ${size(entry.size).padStart(10)}  ${entry.type.padEnd(16)}  ${time(entry.uploaded)}  ${time(entry.lastServed).padEnd(19)}  ` +
          `${(entry.visible ? 'served' : 'hidden').padEnd(6)}  ${entry.owners.join(',')}\n`);
    }
    if (!values.json) out(`${count} blobs, ${size(bytes)}\n`);
    return 0;
  });
}

/**
 * Every file hashed against its name and its metadata, and every row against its file. A file
 * changed or a row missing is a problem (exit 1); temporary files and anything else in the folder
 * are mentioned.
 */
function verify(out: Out): Promise<number> {
  return withStore(async (store, config) => {
    const folder = new BlobFolder(mediaFolderOf(config));
    const started = Date.now();
    const problems: string[] = [];
    const problem = (line: string) => {
      problems.push(line);
      out(line + '\n');
    };
    let files = 0;
    let bytes = 0;
    let temporary = 0;
    for await (const entry of folder.entries()) {
      if (entry.kind === 'temporary') temporary++;
      if (entry.kind === 'stray') out(`not a blob file (left alone): ${entry.path}\n`);
      if (entry.kind !== 'blob') continue;
      files++;
      bytes += entry.size;
      const hash = await folder.hash(entry.sha256).catch(() => undefined);
      // Gone since the walk saw it: a delete by the relay, not a problem.
      if (hash === undefined && (await folder.size(entry.sha256)) === undefined) continue;
      if (hash !== entry.sha256) problem(`hash mismatch: ${entry.sha256} (its ${entry.size} bytes hash to ${hash ?? 'nothing: unreadable'})`);
      else if (!(await store.blobs.describe(entry.sha256)) && (await folder.size(entry.sha256)) !== undefined) {
        problem(`no metadata: ${entry.sha256} (a file of ${size(entry.size)}; media gc removes it)`);
      }
    }
    let rows = 0;
    // In a cluster a node without its copy fetches it from the bucket: its row is needed, and forgetting
    // it here would leave this node's database unlike the others'.
    const clustered = config.clusterNats.length > 0;
    if (clustered) out('metadata rows without a file on this node left alone: in cluster mode the node fetches the file from the cluster\'s bucket\n');
    for await (const entry of clustered ? [] : blobEntries(store.blobs)) {
      rows++;
      const onDisk = await folder.size(entry.sha256);
      if (onDisk === undefined) problem(`missing file: ${entry.sha256} (${entry.type}, ${size(entry.size)}, owners ${entry.owners.join(',') || 'none'})`);
      else if (onDisk !== entry.size) problem(`size mismatch: ${entry.sha256} (the file has ${onDisk} bytes, the metadata says ${entry.size})`);
    }
    if (temporary > 0) out(`${temporary} temporary files (uploads under way, or left by a crash: the relay empties ${folder.dir}/tmp at start, media gc removes old ones)\n`);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    out(`verified ${files} files (${size(bytes)}) against ${rows} metadata rows in ${folder.dir} in ${seconds} s: ` +
      `${problems.length === 0 ? 'no problems' : `${problems.length} problems`}\n`);
    if (problems.length > 0) throw new CliError(`media verify: ${problems.length} problems (listed above)`);
    return 0;
  });
}

/**
 * Removes what no blob needs: temporary files and unowned blob files older than `--min-age` (younger
 * ones may be an upload finishing), and metadata rows whose file is gone (the relay answers them 404
 * anyway; restore the file from a backup before running gc to keep them). A file whose bytes do not
 * match its name is not gc's to remove: verify names it, and it is restored or removed with rm.
 */
function gc(values: Values, out: Out): Promise<number> {
  const minAgeText = values['min-age'] as string | undefined;
  if (minAgeText !== undefined && !/^\d+$/.test(minAgeText)) throw new CliError(`media gc: --min-age must be whole seconds, got ${JSON.stringify(minAgeText)}`);
  const minAge = minAgeText === undefined ? GC_MIN_AGE_SECONDS : Number(minAgeText);
  const dryRun = values['dry-run'] === true;
  return withStore(async (store, config) => {
    const folder = new BlobFolder(mediaFolderOf(config));
    const oldEnough = (modified: number) => Date.now() - modified >= minAge * 1000;
    const verb = dryRun ? 'would remove' : 'removed';
    const unowned = async (sha256: string) => (await store.blobs.describe(sha256)) === undefined;
    let temporaries = 0;
    let files = 0;
    let fileBytes = 0;
    let young = 0;
    for await (const entry of folder.entries()) {
      if (entry.kind === 'stray') out(`left alone (not a blob file): ${entry.path}\n`);
      if (entry.kind === 'temporary') {
        if (!oldEnough(entry.modified)) young++;
        else if (dryRun || (await folder.removeFile(entry.path))) {
          temporaries++;
          out(`${verb} temporary file ${entry.path}\n`);
        }
      }
      if (entry.kind !== 'blob' || !(await unowned(entry.sha256))) continue;
      if (!oldEnough(entry.modified)) young++;
      else if (dryRun || (await folder.removeUnowned(entry.sha256, () => unowned(entry.sha256)))) {
        files++;
        fileBytes += entry.size;
        out(`${verb} file without metadata ${entry.sha256} (${size(entry.size)})\n`);
      }
    }
    let rows = 0;
    // In a cluster a node without its copy fetches it from the bucket: its row is needed, and forgetting
    // it here would leave this node's database unlike the others'.
    const clustered = config.clusterNats.length > 0;
    if (clustered) out('metadata rows without a file on this node left alone: in cluster mode the node fetches the file from the cluster\'s bucket\n');
    for await (const entry of clustered ? [] : blobEntries(store.blobs)) {
      if ((await folder.size(entry.sha256)) !== undefined) continue;
      if (dryRun || (await store.blobs.forget(entry.sha256))) {
        rows++;
        out(`${verb} metadata of ${entry.sha256}, whose file is missing (${entry.type}, ${size(entry.size)}, owners ${entry.owners.join(',') || 'none'})\n`);
      }
    }
    const kept = young > 0 ? `; ${young} files younger than ${minAge} s kept (--min-age)` : '';
    out(`media gc${dryRun ? ' (dry run)' : ''}: ${verb} ${temporaries} temporary files, ${files} files without metadata (${size(fileBytes)}), ` +
      `${rows} metadata rows without a file${kept}\n`);
    return 0;
  });
}

/**
 * Removes a blob whoever owns it: its metadata first (through the writer), so a running relay stops
 * serving it at the next request, then its file.
 */
function rm(hash: string | undefined, out: Out): Promise<number> {
  const sha256 = hash?.toLowerCase();
  if (sha256 === undefined || !HEX64.test(sha256)) throw new CliError(`media rm: give the blob's sha256 (64 hex characters)${hash === undefined ? '' : `, got ${JSON.stringify(hash)}`}`);
  return withStore(async (store, config) => {
    if (config.clusterNats.length > 0) {
      throw new CliError(`media rm is not available in cluster mode: it would remove the blob from this node's database only; have its owners delete it, or ban it on every node: powr-relay ban event ${sha256}`);
    }
    const folder = new BlobFolder(mediaFolderOf(config));
    const info = await store.blobs.describe(sha256);
    const forgot = await store.blobs.forget(sha256);
    const removed = await folder.remove(sha256);
    if (!forgot && !removed) throw new CliError(`media rm: no blob ${sha256} here (no metadata, no file in ${folder.dir})`);
    const what = info ? `${info.type}, ${size(info.size)}` : 'a file without metadata';
    out(`removed blob ${sha256} (${what})${forgot && !removed ? '; it had no file' : ''}. ` +
      `Anyone may upload it again unless it is banned: powr-relay ban event ${sha256}\n`);
    return 0;
  });
}

/**
 * `backup <path> --media <dir>`: the files of the blobs whose metadata is in the backup's database
 * (so the pair agrees, whatever was uploaded or deleted since), into `dir` with the media folder's
 * layout. Resolves with the summary line.
 */
export async function backupMedia(config: Config, databaseCopy: string, target: string): Promise<string> {
  const from = new BlobFolder(mediaFolderOf(config));
  const to = new BlobFolder(target);
  if (resolve(from.dir) === resolve(to.dir)) throw new CliError(`backup: --media ${target} is the relay's own media folder; give another`);
  const copy = await openStore({ ...config, db: databaseCopy }, pino({ level: 'warn' }, pino.destination(2)), 1);
  const counts: Record<CopyOutcome, number> = { linked: 0, copied: 0, present: 0, missing: 0 };
  const missing: string[] = [];
  let bytes = 0;
  try {
    for await (const entry of blobEntries(copy.blobs)) {
      let outcome: CopyOutcome;
      try {
        outcome = await from.copyTo(to, entry.sha256);
      } catch (err) {
        throw new CliError(`backup: cannot copy blob ${entry.sha256} into ${target}: ${(err as Error).message}`);
      }
      counts[outcome]++;
      if (outcome === 'missing') missing.push(entry.sha256);
      else bytes += entry.size;
    }
  } finally {
    await copy.close();
  }
  const blobs = counts.linked + counts.copied + counts.present;
  const lost = missing.length > 0
    ? `; ${missing.length} without a file (deleted since the database was copied, or lost: see media verify): ${missing.join(', ')}` : '';
  return `media: ${blobs} blobs (${size(bytes)}) in ${target}: ${counts.linked} hard-linked, ${counts.copied} copied, ${counts.present} already there${lost}\n`;
}
