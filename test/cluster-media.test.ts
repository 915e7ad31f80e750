import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { Objm } from '@nats-io/obj';
import type { BlobDescriptor } from '../src/media/blossom.js';
import { BUSY_TIMEOUT_MS } from '../src/store/sqlite/database.js';
import { signer, sleep } from './helpers/client.js';
import { authorization, blossomToken, eventually, pngBytes, putMedia, sha256, upload } from './helpers/blossom.js';
import { clusterEnv, stoppedAfterFile } from './helpers/cluster.js';
import { startNats, uniqueStream, type NatsServer } from './helpers/nats.js';
import { runCli, type RunningRelay } from './helpers/relay.js';

/**
 * Cluster mode for media (docs/media.md#cluster): two real relay nodes on a NATS server of the test's
 * own (stopped in the last test), blob bytes in the object store bucket `<stream>-blobs`, metadata
 * through the stream.
 */

const { relayNode, tracked } = stoppedAfterFile();
const SIZE = 20 * 1024 * 1024;

let nats: NatsServer;
let stream: string;
let a: RunningRelay;
let b: RunningRelay;

const nodeEnv = () => ({ ...clusterEnv(nats.url, stream), POWR_RELAY_MEDIA_UPLOADS_PER_MINUTE_PER_IP: '100000' });

/** Where a node keeps its copy of a blob (the default media folder beside its database). */
const copyOf = (node: RunningRelay, hash: string) => join(dirname(node.db), 'blobs', hash.slice(0, 2), hash.slice(2, 4), hash);

/** Milliseconds to the response's headers and to its last byte, and the body. */
async function timed(url: string, headers: Record<string, string> = {}): Promise<{ res: Response; body: Buffer; firstByteMs: number; totalMs: number }> {
  const started = performance.now();
  const res = await fetch(url, { headers });
  const firstByteMs = performance.now() - started;
  const body = Buffer.from(await res.arrayBuffer());
  return { res, body, firstByteMs, totalMs: performance.now() - started };
}

async function bucketHas(hash: string): Promise<boolean> {
  const nc = await connect({ servers: nats.url });
  try {
    const bucket = await new Objm(nc).open(`${stream}-blobs`);
    const info = await bucket.info(hash);
    return info !== null && !info.deleted;
  } finally {
    await nc.close();
  }
}

beforeAll(async () => {
  [nats] = tracked([await startNats()]);
  stream = uniqueStream('media');
  [a, b] = await Promise.all([relayNode(nodeEnv()), relayNode(nodeEnv())]);
}, 60_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

describe('media in a two-node cluster', () => {
  it('a blob uploaded to node A is listed and served by node B, ranges included; a DELETE on B stops A serving it', async () => {
    const alice = signer();
    const bytes = pngBytes(SIZE);
    const hash = sha256(bytes);
    const putAt = performance.now();
    const put = await upload(a.httpUrl, alice, bytes);
    const uploadMs = performance.now() - putAt;
    expect(put.status, put.headers.get('x-reason') ?? '').toBe(201);
    expect(await bucketHas(hash)).toBe(true);

    const uploaded = performance.now();
    // The metadata reached B through the stream, and B copied the bytes ahead of any request.
    const listed = await eventually(async () => (await (await fetch(`${b.httpUrl}/list/${alice.pubkey}`)).json()) as { sha256: string; size: number }[],
      (rows) => rows.length === 1, 10_000);
    expect(listed.map((r) => [r.sha256, r.size])).toEqual([[hash, SIZE]]);
    expect(await eventually(() => existsSync(copyOf(b, hash)), (there) => there, 20_000)).toBe(true);
    const copiedAheadMs = performance.now() - uploaded;

    const start = 5 * 1024 * 1024 + 17;
    const end = start + 256 * 1024 - 1;
    const ahead = await timed(`${b.httpUrl}/${hash}`, { Range: `bytes=${start}-${end}` });
    expect(ahead.res.status).toBe(206);
    expect(ahead.res.headers.get('content-range')).toBe(`bytes ${start}-${end}/${SIZE}`);
    expect(ahead.body.equals(bytes.subarray(start, end + 1))).toBe(true);
    // A node without its copy (lost, or its copy ahead failed) fetches the blob from the bucket when asked.
    rmSync(copyOf(b, hash));
    const onDemand = await timed(`${b.httpUrl}/${hash}`, { Range: `bytes=${start}-${end}` });
    expect(onDemand.res.status).toBe(206);
    expect(onDemand.body.equals(bytes.subarray(start, end + 1))).toBe(true);
    expect(existsSync(copyOf(b, hash))).toBe(true);
    const tail = await timed(`${b.httpUrl}/${hash}`, { Range: 'bytes=-100' });
    expect(tail.res.status).toBe(206);
    expect(tail.body.equals(bytes.subarray(SIZE - 100))).toBe(true);
    const whole = await timed(`${b.httpUrl}/${hash}.png`);
    expect(whole.res.status).toBe(200);
    expect(sha256(whole.body)).toBe(hash);
    console.log(`20 MiB blob uploaded to A in ${uploadMs.toFixed(0)} ms, copied to B ${copiedAheadMs.toFixed(0)} ms after; first byte of a 256 KiB range on B: `
      + `${ahead.firstByteMs.toFixed(1)} ms from the copy made ahead, ${onDemand.firstByteMs.toFixed(0)} ms fetched on demand; whole blob ${whole.totalMs.toFixed(0)} ms`);

    const token = authorization(blossomToken(alice, 'delete', { x: [hash] }));
    const deleted = await fetch(`${b.httpUrl}/${hash}`, { method: 'DELETE', headers: { Authorization: token } });
    expect(deleted.status, deleted.headers.get('x-reason') ?? '').toBe(204);
    expect((await fetch(`${b.httpUrl}/${hash}`)).status).toBe(404);
    const onA = await eventually(async () => (await fetch(`${a.httpUrl}/${hash}`, { method: 'HEAD' })).status, (s) => s === 404, 10_000);
    expect(onA).toBe(404);
    expect(await (await fetch(`${a.httpUrl}/list/${alice.pubkey}`)).json()).toEqual([]);
    // Both copies and the bucket's object are gone.
    expect(await eventually(() => existsSync(copyOf(a, hash)), (there) => !there, 5000)).toBe(false);
    expect(existsSync(copyOf(b, hash))).toBe(false);
    expect(await bucketHas(hash)).toBe(false);
  }, 120_000);

  it('a blob with two owners stays until the last owner deletes it, on both nodes', async () => {
    const [alice, bob] = [signer(), signer()];
    const bytes = pngBytes(64 * 1024);
    const hash = sha256(bytes);
    expect((await upload(a.httpUrl, alice, bytes)).status).toBe(201);
    // B's upload of the same bytes finds them in the bucket: 200, a second owner.
    const second = await upload(b.httpUrl, bob, bytes);
    expect(second.status, second.headers.get('x-reason') ?? '').toBe(200);
    const del = (node: RunningRelay, who: typeof alice) => fetch(`${node.httpUrl}/${hash}`, {
      method: 'DELETE', headers: { Authorization: authorization(blossomToken(who, 'delete', { x: [hash] })) },
    });
    expect((await del(a, alice)).status).toBe(204);
    expect(await eventually(async () => (await (await fetch(`${b.httpUrl}/list/${alice.pubkey}`)).json()) as unknown[], (r) => r.length === 0)).toEqual([]);
    const stillThere = await fetch(`${b.httpUrl}/${hash}`);
    expect(stillThere.status).toBe(200);
    expect(sha256(Buffer.from(await stillThere.arrayBuffer()))).toBe(hash);
    expect(await bucketHas(hash)).toBe(true);
    expect((await del(a, bob)).status).toBe(204);
    expect(await eventually(async () => (await fetch(`${b.httpUrl}/${hash}`)).status, (s) => s === 404)).toBe(404);
    expect(await bucketHas(hash)).toBe(false);
  }, 60_000);

  it('a node that joins later copies the blobs from the bucket ahead of any request', async () => {
    const alice = signer();
    const bytes = pngBytes(300 * 1024);
    const hash = sha256(bytes);
    expect((await upload(a.httpUrl, alice, bytes)).status).toBe(201);
    const c = await relayNode(nodeEnv());
    expect(await eventually(() => existsSync(copyOf(c, hash)), (there) => there, 20_000)).toBe(true);
    const res = await fetch(`${c.httpUrl}/${hash}`, { headers: { Range: 'bytes=1000-1999' } });
    expect(res.status).toBe(206);
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes.subarray(1000, 2000))).toBe(true);
    await c.stop();
  }, 60_000);

  it('PUT /media on A: the optimised blob and its thumbnail go into the bucket, and B lists and serves them with the same NIP-94 tags', async () => {
    const alice = signer();
    const picture = await sharp({ create: { width: 800, height: 600, channels: 3, background: { r: 10, g: 200, b: 90 } } }).png().toBuffer();
    const res = await putMedia(a.httpUrl, alice, picture, 'image/png');
    expect(res.status, res.headers.get('x-reason') ?? '').toBe(201);
    const d = (await res.json()) as BlobDescriptor;
    const thumb = d.nip94.find((t) => t[0] === 'thumb')![2]!;
    expect(d.nip94).toContainEqual(['ox', sha256(picture)]);
    expect(d.nip94).toContainEqual(['dim', '800x600']);
    for (const hash of [d.sha256, thumb]) expect(await bucketHas(hash)).toBe(true);
    // The upload itself is kept nowhere: not in the bucket either.
    expect(await bucketHas(sha256(picture))).toBe(false);

    const listed = await eventually(async () => (await (await fetch(`${b.httpUrl}/list/${alice.pubkey}`)).json()) as BlobDescriptor[],
      (rows) => rows.length === 2, 10_000);
    expect(listed.map((r) => r.sha256).sort()).toEqual([d.sha256, thumb].sort());
    // B names the blobs by its own URLs, and knows every other value A made.
    const onB = JSON.parse(JSON.stringify(d.nip94).replaceAll(a.httpUrl, b.httpUrl)) as string[][];
    expect(listed.find((r) => r.sha256 === d.sha256)!.nip94).toEqual(onB);
    for (const hash of [d.sha256, thumb]) {
      const served = await fetch(`${b.httpUrl}/${hash}`);
      expect(served.status).toBe(200);
      expect(served.headers.get('content-type')).toBe('image/webp');
      expect(sha256(Buffer.from(await served.arrayBuffer()))).toBe(hash);
    }
  }, 60_000);

  it('a blob entry B\'s database cannot take for a while (locked) waits and is applied once it can, not skipped', async () => {
    const alice = signer();
    const bytes = pngBytes(48 * 1024);
    const hash = sha256(bytes);
    // Another process holds B's write lock: B's writer fails the entry past busy_timeout (5 s) and tries again.
    const lock = new BetterSqlite3(b.db);
    lock.exec('BEGIN IMMEDIATE');
    try {
      expect((await upload(a.httpUrl, alice, bytes)).status).toBe(201);
      await sleep(BUSY_TIMEOUT_MS + 2000);
      expect(await (await fetch(`${b.httpUrl}/list/${alice.pubkey}`)).json()).toEqual([]);
      lock.exec('ROLLBACK');
    } finally {
      if (lock.inTransaction) lock.exec('ROLLBACK');
      lock.close();
    }
    const listed = await eventually(async () => (await (await fetch(`${b.httpUrl}/list/${alice.pubkey}`)).json()) as { sha256: string }[],
      (rows) => rows.length === 1, 15_000);
    expect(listed.map((r) => r.sha256)).toEqual([hash]);
    expect(await eventually(() => existsSync(copyOf(b, hash)), (there) => there, 10_000)).toBe(true);
  }, 60_000);

  it('powr-relay media on a node: rm is refused (it would change one node only), gc keeps the metadata of a blob whose copy is missing', async () => {
    const alice = signer();
    const bytes = pngBytes(16 * 1024);
    const hash = sha256(bytes);
    expect((await upload(a.httpUrl, alice, bytes)).status).toBe(201);
    await eventually(() => existsSync(copyOf(b, hash)), (there) => there, 10_000);
    const env = { ...nodeEnv(), POWR_RELAY_DB: b.db };
    const rm = await runCli(['media', 'rm', hash], env, '', 60_000);
    expect(rm.code).toBe(1);
    expect(rm.stderr).toMatch(/^powr-relay: media rm is not available in cluster mode: it would remove the blob from this node's database only/);
    rmSync(copyOf(b, hash));
    const gc = await runCli(['media', 'gc', '--min-age', '0'], env, '', 60_000);
    expect(gc.code, gc.stderr).toBe(0);
    expect(gc.stdout).toContain('metadata rows without a file on this node left alone');
    expect(gc.stdout).toMatch(/0 metadata rows without a file/);
    // B still lists the blob, and serves it from the bucket.
    expect(((await (await fetch(`${b.httpUrl}/list/${alice.pubkey}`)).json()) as { sha256: string }[]).map((r) => r.sha256)).toEqual([hash]);
    const served = await fetch(`${b.httpUrl}/${hash}`);
    expect(served.status).toBe(200);
    expect(sha256(Buffer.from(await served.arrayBuffer()))).toBe(hash);
  }, 120_000);

  it('with NATS out of reach, uploads get 503 with a reason and blobs a node holds are still served', async () => {
    const alice = signer();
    const bytes = pngBytes(32 * 1024);
    const hash = sha256(bytes);
    expect((await upload(a.httpUrl, alice, bytes)).status).toBe(201);
    await eventually(async () => (await fetch(`${b.httpUrl}/${hash}`)).status, (s) => s === 200, 10_000);
    await nats.stop();
    const refused = await eventually(() => upload(b.httpUrl, alice, pngBytes(1024)), (res) => res.status === 503, 10_000);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('x-reason')).toMatch(/NATS|bucket|stream/);
    const deleteRefused = await fetch(`${a.httpUrl}/${hash}`, {
      method: 'DELETE', headers: { Authorization: authorization(blossomToken(alice, 'delete', { x: [hash] })) },
    });
    expect(deleteRefused.status).toBe(503);
    expect(deleteRefused.headers.get('x-reason')).toMatch(/stream/);
    for (const node of [a, b]) {
      const res = await fetch(`${node.httpUrl}/${hash}`, { headers: { Range: 'bytes=0-99' } });
      expect(res.status).toBe(206);
      expect(Buffer.from(await res.arrayBuffer()).equals(bytes.subarray(0, 100))).toBe(true);
    }
    await nats.start();
    const again = await eventually(() => upload(b.httpUrl, alice, pngBytes(1024)), (res) => res.status === 201, 20_000);
    expect(again.status, again.headers.get('x-reason') ?? '').toBe(201);
  }, 60_000);
});
