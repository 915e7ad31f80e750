import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signer } from './helpers/client.js';
import { pngBytes, sha256, upload } from './helpers/blossom.js';
import { runCli, startRelay, type RunningRelay } from './helpers/relay.js';

/** `powr-relay media …` (or any command) on the relay's database, as an operator beside it would run it. */
const cli = (relay: RunningRelay, args: string[], env: Record<string, string> = {}) =>
  runCli(args, { POWR_RELAY_DB: relay.db, ...env }, '', 60_000);
const blobDir = (relay: RunningRelay) => join(dirname(relay.db), 'blobs');
const fileOf = (dir: string, hash: string) => join(dir, hash.slice(0, 2), hash.slice(2, 4), hash);
const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3_600_000);

async function uploaded(relay: RunningRelay, who: ReturnType<typeof signer>, bytes: Buffer, type = 'image/png'): Promise<string> {
  const res = await upload(relay.httpUrl, who, bytes, type);
  expect(res.status).toBe(201);
  return sha256(bytes);
}

let relay: RunningRelay;
const alice = signer();
const bob = signer();

beforeAll(async () => {
  relay = await startRelay({ POWR_RELAY_MEDIA_UPLOADS_PER_MINUTE_PER_IP: '100000' });
});
afterAll(async () => {
  await relay.stop();
});

describe('powr-relay media, beside a running relay', () => {
  it('lists blobs as a table and as JSON lines, by owner and by type', async () => {
    const image = await uploaded(relay, alice, pngBytes(30_000));
    const video = await uploaded(relay, bob, Buffer.concat([Buffer.from('\0\0\0\x18ftypmp42'), pngBytes(50_000).subarray(12)]), 'video/mp4');
    const table = await cli(relay, ['media', 'list']);
    expect(table.code, table.stderr).toBe(0);
    const row = table.stdout.split('\n').find((l) => l.startsWith(image));
    expect(row).toMatch(new RegExp(`^${image} +29\\.3 KiB +image/png +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d +- +served +${alice.pubkey}$`));
    expect(table.stdout).toMatch(/^2 blobs, /m);

    const json = await cli(relay, ['media', 'list', '--json']);
    const entries = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries.find((e) => e.sha256 === video)).toMatchObject({ size: 50_000, type: 'video/mp4', owners: [bob.pubkey], visible: true, lastServed: null });
    const byAlice = await cli(relay, ['media', 'list', '--json', '--pubkey', alice.pubkey]);
    expect(byAlice.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { sha256: string }).sha256)).toEqual([image]);
    const videos = await cli(relay, ['media', 'list', '--json', '--type', 'video/*']);
    expect(videos.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { sha256: string }).sha256)).toEqual([video]);

    const bad = await cli(relay, ['media', 'list', '--pubkey', 'ALICE']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('powr-relay: media list: --pubkey must be 64 lowercase hex characters, got "ALICE"\n');
  });

  it('verify passes on a healthy store, then names a corrupted file, a lost one and one without metadata', async () => {
    const ok = await cli(relay, ['media', 'verify']);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^verified 2 files \(.*\) against 2 metadata rows in .* no problems\n$/m);

    const corrupted = await uploaded(relay, alice, pngBytes(20_000));
    const lost = await uploaded(relay, alice, pngBytes(10_000));
    const bytes = readFileSync(fileOf(blobDir(relay), corrupted));
    bytes[5000] ^= 0xff;
    writeFileSync(fileOf(blobDir(relay), corrupted), bytes);
    rmSync(fileOf(blobDir(relay), lost));
    const stray = pngBytes(5000);
    mkdirSync(dirname(fileOf(blobDir(relay), sha256(stray))), { recursive: true });
    writeFileSync(fileOf(blobDir(relay), sha256(stray)), stray);

    const failed = await cli(relay, ['media', 'verify']);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain(`hash mismatch: ${corrupted} (its 20000 bytes hash to ${sha256(bytes)})\n`);
    expect(failed.stdout).toContain(`missing file: ${lost} (image/png, 9.8 KiB, owners ${alice.pubkey})\n`);
    expect(failed.stdout).toContain(`no metadata: ${sha256(stray)} `);
    expect(failed.stderr).toBe('powr-relay: media verify: 3 problems (listed above)\n');

    // Put things right for what follows: the corrupted blob removed, the others left for gc.
    expect((await cli(relay, ['media', 'rm', corrupted])).code).toBe(0);
  });

  it('gc removes old orphan and temporary files and metadata without a file, keeps what may be an upload under way', async () => {
    const dir = blobDir(relay);
    const orphan = pngBytes(8000);
    const orphanPath = fileOf(dir, sha256(orphan));
    mkdirSync(dirname(orphanPath), { recursive: true });
    writeFileSync(orphanPath, orphan);
    utimesSync(orphanPath, hoursAgo(2), hoursAgo(2));
    const staleTemp = join(dir, 'tmp', 'left-by-a-crash');
    writeFileSync(staleTemp, pngBytes(1000));
    utimesSync(staleTemp, hoursAgo(2), hoursAgo(2));
    const freshTemp = join(dir, 'tmp', 'being-written');
    writeFileSync(freshTemp, pngBytes(1000));
    // The file without metadata from the previous test was written just now: too young for gc.
    const dry = await cli(relay, ['media', 'gc', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`would remove temporary file ${staleTemp}\n`);
    expect(dry.stdout).toContain(`would remove file without metadata ${sha256(orphan)} (7.8 KiB)\n`);
    expect(dry.stdout).toMatch(/would remove metadata of [0-9a-f]{64}, whose file is missing \(image\/png, 9\.8 KiB/);
    expect(dry.stdout).toMatch(/media gc \(dry run\): would remove 1 temporary files, 1 files without metadata \(7\.8 KiB\), 1 metadata rows without a file; 2 files younger than 3600 s kept/);
    expect(existsSync(orphanPath) && existsSync(staleTemp)).toBe(true);

    const gc = await cli(relay, ['media', 'gc']);
    expect(gc.code, gc.stderr).toBe(0);
    expect(gc.stdout).toMatch(/media gc: removed 1 temporary files, 1 files without metadata \(7\.8 KiB\), 1 metadata rows without a file; 2 files younger/);
    expect(existsSync(orphanPath)).toBe(false);
    expect(existsSync(staleTemp)).toBe(false);
    expect(existsSync(freshTemp)).toBe(true);
    // --min-age 0 takes the young orphan too; then the store verifies clean.
    const all = await cli(relay, ['media', 'gc', '--min-age', '0']);
    expect(all.stdout).toMatch(/removed 1 temporary files, 1 files without metadata/);
    const verified = await cli(relay, ['media', 'verify']);
    expect(verified.code, verified.stdout).toBe(0);
  });

  it('rm removes a blob whoever owns it, and the running relay answers 404 for it at once', async () => {
    const bytes = pngBytes(12_000);
    const hash = await uploaded(relay, alice, bytes);
    await upload(relay.httpUrl, bob, bytes);
    expect((await fetch(`${relay.httpUrl}/${hash}`)).status).toBe(200);
    const removed = await cli(relay, ['media', 'rm', hash]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toMatch(new RegExp(`^removed blob ${hash} \\(image/png, 11\\.7 KiB\\)`));
    const res = await fetch(`${relay.httpUrl}/${hash}`);
    expect(res.status).toBe(404);
    expect(existsSync(fileOf(blobDir(relay), hash))).toBe(false);
    const listed = (await (await fetch(`${relay.httpUrl}/list/${bob.pubkey}`)).json()) as { sha256: string }[];
    expect(listed.map((d) => d.sha256)).not.toContain(hash);
    const again = await cli(relay, ['media', 'rm', hash]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(new RegExp(`^powr-relay: media rm: no blob ${hash} here`));
    // The same bytes may come back: rm is not a ban.
    expect((await upload(relay.httpUrl, alice, bytes)).status).toBe(201);
  });
});

describe('powr-relay media: bad input', () => {
  it('is in --help, and each mistake gets one line and exit 1', async () => {
    const help = await cli(relay, ['--help']);
    for (const command of ['list', 'verify', 'gc', 'rm']) expect(help.stdout).toMatch(new RegExp(`^  media ${command}\\b`, 'm'));
    const cases: [string[], string][] = [
      [['media'], 'media: say what to do: media list|verify|gc|rm (see powr-relay --help)'],
      [['media', 'frob'], 'media: say what to do: media list|verify|gc|rm (see powr-relay --help)'],
      [['media', 'rm'], 'media rm: give the blob\'s sha256 (64 hex characters)'],
      [['media', 'rm', 'abc'], 'media rm: give the blob\'s sha256 (64 hex characters), got "abc"'],
      [['media', 'gc', '--min-age', 'soon'], 'media gc: --min-age must be whole seconds, got "soon"'],
      [['media', 'list', '--type', 'video'], 'media list: --type must be a media type like video/mp4 or video/*, got "video"'],
      [['media', 'verify', 'everything'], 'media: unexpected argument everything'],
    ];
    for (const [args, message] of cases) {
      const run = await cli(relay, args);
      expect(run.code, args.join(' ')).toBe(1);
      expect(run.stderr, args.join(' ')).toBe(`powr-relay: ${message}\n`);
    }
  });
});

describe('backup --media', () => {
  it('copies the blobs the database copy knows, and a relay started from the pair serves them', async () => {
    const bytes = pngBytes(64_000);
    const hash = await uploaded(relay, bob, bytes);
    const orphan = pngBytes(4000);
    const orphanPath = fileOf(blobDir(relay), sha256(orphan));
    mkdirSync(dirname(orphanPath), { recursive: true });
    writeFileSync(orphanPath, orphan);

    const target = mkdtempSync(join(tmpdir(), 'powr-backup-'));
    const run = await cli(relay, ['backup', join(target, 'copy.db'), '--media', join(target, 'media')]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^backed up .* to .*copy\.db \(.*\)\nmedia: \d+ blobs \(.*\) in .*: \d+ hard-linked, 0 copied, 0 already there\n$/);
    expect(existsSync(fileOf(join(target, 'media'), hash))).toBe(true);
    // Only what the database copy has metadata for.
    expect(existsSync(fileOf(join(target, 'media'), sha256(orphan)))).toBe(false);
    // Again into the same folder: everything is there already.
    const twice = await cli(relay, ['backup', join(target, 'copy2.db'), '--media', join(target, 'media')]);
    expect(twice.stdout).toMatch(/ 0 hard-linked, 0 copied, \d+ already there\n$/);

    const restored = await startRelay({ POWR_RELAY_MEDIA_DIR: join(target, 'media') }, join(target, 'copy.db'));
    try {
      const res = await fetch(`${restored.httpUrl}/${hash}`);
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
      const listed = (await (await fetch(`${restored.httpUrl}/list/${bob.pubkey}`)).json()) as { sha256: string }[];
      expect(listed.map((d) => d.sha256)).toContain(hash);
      const verified = await runCli(['media', 'verify'], { POWR_RELAY_DB: join(target, 'copy.db'), POWR_RELAY_MEDIA_DIR: join(target, 'media') });
      expect(verified.code, verified.stdout).toBe(0);
    } finally {
      await restored.stop();
    }
    rmSync(orphanPath);
  });

  it('copies (synced, whole) when the backup is on another filesystem, and refuses the relay\'s own folder', async () => {
    const own = await cli(relay, ['backup', join(mkdtempSync(join(tmpdir(), 'powr-backup-')), 'copy.db'), '--media', blobDir(relay)]);
    expect(own.code).toBe(1);
    expect(own.stderr).toMatch(/^powr-relay: backup: --media .* is the relay's own media folder; give another\n$/);
    // /dev/shm is a tmpfs where there is one: a hard link cannot cross into it.
    if (!existsSync('/dev/shm') || statSync('/dev/shm').dev === statSync(blobDir(relay)).dev) return;
    const target = mkdtempSync('/dev/shm/powr-backup-');
    try {
      const run = await cli(relay, ['backup', join(target, 'copy.db'), '--media', join(target, 'media')]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/ 0 hard-linked, [1-9]\d* copied, 0 already there\n$/);
      const verified = await runCli(['media', 'verify'], { POWR_RELAY_DB: join(target, 'copy.db'), POWR_RELAY_MEDIA_DIR: join(target, 'media') });
      expect(verified.code, verified.stdout).toBe(0);
    } finally {
      rmSync(target, { recursive: true, force: true });
    }
  });
});
