import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { isBlurhashValid } from 'blurhash';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlobDescriptor } from '../src/media/blossom.js';
import { signer, type Signer } from './helpers/client.js';
import { authorization, blossomToken, eventually, pngBytes, putMedia, sha256, upload } from './helpers/blossom.js';
import { mp4Boxes, photoWithGps } from './helpers/media.js';
import { startRelay, type RunningRelay } from './helpers/relay.js';

const CLIP = readFileSync(join(import.meta.dirname, 'fixtures', 'exercise-clip.mp4'));
const MANY = { POWR_RELAY_MEDIA_UPLOADS_PER_MINUTE_PER_IP: '100000', POWR_RELAY_MEDIA_OPTIMISE_CONCURRENCY: '1' };

/** HEAD /media (BUD-05, as BUD-06's HEAD /upload). */
function headMedia(base: string, who: Signer, bytes: Buffer, type: string, verb = 'media'): Promise<Response> {
  const hash = sha256(bytes);
  return fetch(`${base}/media`, {
    method: 'HEAD',
    headers: { 'X-SHA-256': hash, 'X-Content-Length': String(bytes.length), 'X-Content-Type': type,
      Authorization: authorization(blossomToken(who, verb, { x: [hash] })) },
  });
}

const tag = (d: BlobDescriptor, name: string) => d.nip94.find((t) => t[0] === name);
const bytesOf = async (url: string) => Buffer.from(await (await fetch(url)).arrayBuffer());
const tmpFiles = (relay: RunningRelay) => readdirSync(join(dirname(relay.db), 'blobs', 'tmp'));

/** Sum of the samples of a metric whose labels include `labels` in a Prometheus text exposition. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(match[3]);
  }
  return sum;
}
const scrape = async (relay: RunningRelay) => (await fetch(`${relay.httpUrl}/metrics`)).text();

describe('PUT /media (BUD-05)', () => {
  let relay: RunningRelay;
  let base: string;
  const alice = signer();
  const bob = signer();
  let photo: Buffer;

  beforeAll(async () => {
    relay = await startRelay(MANY);
    base = relay.httpUrl;
    photo = await photoWithGps();
  });
  afterAll(() => relay.stop());

  it('stores a photo as a WebP of at most 1920 px without EXIF, with ox, dim, blurhash and a thumbnail, and drops the original', async () => {
    const ox = sha256(photo);
    expect((await sharp(photo).metadata()).exif).toBeDefined();
    const res = await putMedia(base, alice, photo, 'image/jpeg');
    expect(res.status).toBe(201);
    const d = (await res.json()) as BlobDescriptor;
    expect(d).toMatchObject({ type: 'image/webp', url: `${base}/${d.sha256}.webp` });
    expect(d.sha256).not.toBe(ox);

    const served = await bytesOf(d.url);
    expect(sha256(served)).toBe(d.sha256);
    expect(served.length).toBe(d.size);
    const meta = await sharp(served).metadata();
    expect(meta.format).toBe('webp');
    // Upright (the EXIF orientation applied): 2000×3000 shown, scaled to 1280×1920.
    expect([meta.width, meta.height]).toEqual([1280, 1920]);
    expect(meta.exif).toBeUndefined();
    expect(meta.orientation).toBeUndefined();

    const thumb = tag(d, 'thumb')!;
    const blurhash = tag(d, 'blurhash')![1]!;
    expect(d.nip94.slice(0, 6)).toEqual([['url', d.url], ['m', 'image/webp'], ['x', d.sha256], ['ox', ox], ['size', String(d.size)],
      ['dim', '1280x1920']]);
    expect(isBlurhashValid(blurhash).result).toBe(true);
    expect(thumb).toEqual(['thumb', `${base}/${thumb[2]}.webp`, thumb[2]]);
    expect(tag(d, 'image')).toBeUndefined();
    const thumbRes = await fetch(thumb[1]!);
    expect(thumbRes.status).toBe(200);
    expect(thumbRes.headers.get('content-type')).toBe('image/webp');
    const thumbBytes = Buffer.from(await thumbRes.arrayBuffer());
    expect(sha256(thumbBytes)).toBe(thumb[2]);
    expect(await sharp(thumbBytes).metadata()).toMatchObject({ width: 341, height: 512 });

    // The upload itself is not kept; the uploader owns the result and its thumbnail, listed with the same tags.
    expect((await fetch(`${base}/${ox}`, { method: 'HEAD' })).status).toBe(404);
    const listed = (await (await fetch(`${base}/list/${alice.pubkey}`)).json()) as BlobDescriptor[];
    expect(listed.map((l) => l.sha256).sort()).toEqual([d.sha256, thumb[2]].sort());
    expect(listed.find((l) => l.sha256 === d.sha256)!.nip94).toEqual(d.nip94);
    expect(listed.find((l) => l.sha256 === thumb[2])!.nip94).toHaveLength(4);
    await eventually(() => tmpFiles(relay), (files) => files.length === 0);
    expect(tmpFiles(relay)).toEqual([]);

    // The same photo again: the same result, already stored.
    const again = await putMedia(base, alice, photo, 'image/jpeg');
    expect(again.status).toBe(200);
    expect(((await again.json()) as BlobDescriptor).sha256).toBe(d.sha256);
  });

  it('leaves /upload alone: the same photo is stored byte for byte, EXIF and all', async () => {
    const res = await upload(base, bob, photo, 'image/jpeg');
    expect(res.status).toBe(201);
    const d = (await res.json()) as BlobDescriptor;
    expect(d.sha256).toBe(sha256(photo));
    expect(d.nip94.map((t) => t[0])).toEqual(['url', 'm', 'x', 'size']);
    const served = await bytesOf(d.url);
    expect(served.equals(photo)).toBe(true);
    expect((await sharp(served).metadata()).exif).toBeDefined();
  });

  it('stores a video as a faststart MP4 with a poster and a thumbnail', async () => {
    const res = await putMedia(base, alice, CLIP, 'video/mp4');
    expect(res.status).toBe(201);
    const d = (await res.json()) as BlobDescriptor;
    expect(d).toMatchObject({ type: 'video/mp4', url: `${base}/${d.sha256}.mp4` });
    const served = await bytesOf(d.url);
    expect(sha256(served)).toBe(d.sha256);
    const boxes = mp4Boxes(served);
    expect(boxes.indexOf('moov')).toBeGreaterThanOrEqual(0);
    expect(boxes.indexOf('moov')).toBeLessThan(boxes.indexOf('mdat'));
    expect(tag(d, 'ox')).toEqual(['ox', sha256(CLIP)]);
    expect(tag(d, 'dim')).toEqual(['dim', '96x64']);
    expect(isBlurhashValid(tag(d, 'blurhash')![1]!).result).toBe(true);
    for (const name of ['image', 'thumb']) {
      const [, url, hash] = tag(d, name)!;
      const got = await fetch(url!);
      expect(got.status, name).toBe(200);
      expect(got.headers.get('content-type')).toBe('image/webp');
      const picture = Buffer.from(await got.arrayBuffer());
      expect(sha256(picture)).toBe(hash);
      expect(await sharp(picture).metadata(), name).toMatchObject({ format: 'webp', width: 96, height: 64 });
    }
    // Ranges on the optimised video, as a player seeks.
    const part = await fetch(d.url, { headers: { Range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer()).equals(served.subarray(100, 200))).toBe(true);
  });

  it('answers HEAD /media as HEAD /upload: 200 when an upload would be taken, else the refusal', async () => {
    expect((await headMedia(base, alice, photo, 'image/jpeg')).status).toBe(200);
    const wrongVerb = await headMedia(base, alice, photo, 'image/jpeg', 'upload');
    expect(wrongVerb.status).toBe(401);
    expect(wrongVerb.headers.get('x-reason')).toContain('"media"');
    expect((await headMedia(base, alice, photo, 'application/pdf')).status).toBe(415);
    const noHash = await fetch(`${base}/media`, { method: 'HEAD', headers: { 'X-Content-Length': '10' } });
    expect(noHash.status).toBe(400);
    const preflight = await fetch(`${base}/media`, { method: 'OPTIONS' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('allow')).toBe('PUT, HEAD, OPTIONS');
  });

  it('refuses an upload token, a body whose hash the token does not name, and bytes that are not media, leaving nothing', async () => {
    const wrongVerb = await putMedia(base, alice, photo, 'image/jpeg', 'upload');
    expect(wrongVerb.status).toBe(401);
    expect(wrongVerb.headers.get('x-reason')).toContain('t tag must be "media"');

    const other = pngBytes(2000);
    const misnamed = await fetch(`${base}/media`, {
      method: 'PUT', body: other,
      headers: { 'Content-Type': 'image/png', Authorization: authorization(blossomToken(alice, 'media', { x: [sha256(photo)] })) },
    });
    expect(misnamed.status).toBe(401);

    // PNG's signature, then noise: the decoder refuses it.
    const broken = await putMedia(base, alice, other, 'image/png');
    expect(broken.status).toBe(422);
    expect(broken.headers.get('x-reason')).toMatch(/image could not be read/);
    expect((await fetch(`${base}/${sha256(other)}`, { method: 'HEAD' })).status).toBe(404);
    await eventually(() => tmpFiles(relay), (files) => files.length === 0);
    expect(tmpFiles(relay)).toEqual([]);
  });

  it('counts media in /metrics: blobs and bytes stored, uploads by outcome, bytes served, ranges, optimisations', async () => {
    const before = await scrape(relay);
    for (const family of ['powr_media_blobs', 'powr_media_bytes', 'powr_media_uploads_total', 'powr_media_served_bytes_total',
      'powr_media_range_requests_total', 'powr_media_optimise_queue_depth', 'powr_media_optimise_seconds']) {
      expect(before, family).toMatch(new RegExp(`^# TYPE ${family} `, 'm'));
    }
    const carol = signer();
    const picture = await sharp({ create: { width: 800, height: 600, channels: 3, background: { r: 10, g: 200, b: 90 } } }).png().toBuffer();
    const optimised = (await (await putMedia(base, carol, picture, 'image/png')).json()) as BlobDescriptor;
    const thumbHash = tag(optimised, 'thumb')![2]!;
    const thumbSize = Number((await fetch(`${base}/${thumbHash}`, { method: 'HEAD' })).headers.get('content-length'));
    const plain = pngBytes(5000);
    expect((await upload(base, carol, plain)).status).toBe(201);
    expect((await putMedia(base, carol, picture, 'image/png', 'upload')).status).toBe(401);
    expect((await bytesOf(optimised.url)).length).toBe(optimised.size);
    expect((await fetch(`${base}/${sha256(plain)}`, { headers: { Range: 'bytes=0-99' } })).status).toBe(206);
    expect((await fetch(`${base}/${sha256(plain)}`, { headers: { Range: 'bytes=9000-' } })).status).toBe(416);

    const after = await eventually(() => scrape(relay),
      (text) => metric(text, 'powr_media_served_bytes_total') - metric(before, 'powr_media_served_bytes_total') >= optimised.size + 100);
    const delta = (name: string, labels?: Record<string, string>) => metric(after, name, labels) - metric(before, name, labels);
    expect(delta('powr_media_blobs')).toBe(3);
    expect(delta('powr_media_bytes')).toBe(optimised.size + thumbSize + plain.length);
    expect(delta('powr_media_uploads_total', { route: 'media', outcome: 'stored', status: '201' })).toBe(1);
    expect(delta('powr_media_uploads_total', { route: 'upload', outcome: 'stored', status: '201' })).toBe(1);
    expect(delta('powr_media_uploads_total', { route: 'media', outcome: 'refused', status: '401' })).toBe(1);
    expect(delta('powr_media_served_bytes_total')).toBe(optimised.size + 100);
    expect(delta('powr_media_range_requests_total', { outcome: 'served' })).toBe(1);
    expect(delta('powr_media_range_requests_total', { outcome: 'unsatisfiable' })).toBe(1);
    expect(delta('powr_media_optimise_seconds_count', { kind: 'image', outcome: 'ok' })).toBe(1);
    expect(metric(after, 'powr_media_optimise_queue_depth')).toBe(0);
    // Everything since this relay started: each blob once, whoever owns it, as the lists show them.
    const lists = await Promise.all([alice, bob, carol].map(async (o) => (await (await fetch(`${base}/list/${o.pubkey}`)).json()) as BlobDescriptor[]));
    const stored = new Map(lists.flat().map((l) => [l.sha256, l.size]));
    expect(metric(after, 'powr_media_blobs')).toBe(stored.size);
    expect(metric(after, 'powr_media_bytes')).toBe([...stored.values()].reduce((a, b) => a + b, 0));
  });
});

describe('PUT /media under load and without ffmpeg', () => {
  const alice = signer();
  let gated: RunningRelay;
  let noFfmpeg: RunningRelay;
  let gate: string;

  beforeAll(async () => {
    // ffmpeg and ffprobe as installed, except that ffprobe waits until the test opens the gate: the
    // first video job then holds the only optimisation thread for as long as the test needs.
    const tools = mkdtempSync(join(tmpdir(), 'powr-ffmpeg-'));
    gate = join(tools, 'open');
    for (const tool of ['ffmpeg', 'ffprobe']) {
      const real = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
      const wait = tool === 'ffprobe' ? `while [ ! -e '${gate}' ]; do sleep 0.05; done\n` : '';
      writeFileSync(join(tools, tool), `#!/bin/sh\n${wait}exec '${real}' "$@"\n`);
      chmodSync(join(tools, tool), 0o755);
    }
    [gated, noFfmpeg] = await Promise.all([
      startRelay({ ...MANY, POWR_RELAY_MEDIA_OPTIMISE_QUEUE: '0', POWR_RELAY_FFMPEG_PATH: join(tools, 'ffmpeg') }),
      startRelay({ ...MANY, POWR_RELAY_FFMPEG_PATH: '/nonexistent/bin/ffmpeg' }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([gated.stop(), noFfmpeg.stop()]);
  });

  it('answers 503 with Retry-After while the one thread is busy and no job may wait, before reading the body', async () => {
    const first = putMedia(gated.httpUrl, alice, CLIP, 'video/mp4');
    const running = await eventually(() => scrape(gated), (text) => metric(text, 'powr_media_optimise_queue_depth', { state: 'running' }) === 1, 15_000);
    expect(metric(running, 'powr_media_optimise_queue_depth', { state: 'running' })).toBe(1);

    const photo = pngBytes(3000);
    const busy = await putMedia(gated.httpUrl, alice, photo, 'image/png');
    expect(busy.status).toBe(503);
    expect(Number(busy.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(busy.headers.get('x-reason')).toMatch(/busy/);
    const preflight = await headMedia(gated.httpUrl, alice, photo, 'image/png');
    expect(preflight.status).toBe(503);
    expect(preflight.headers.get('retry-after')).not.toBeNull();
    // Only the running upload's own file: the refused one was never read.
    expect(tmpFiles(gated).filter((f) => !f.startsWith('powr-optimise-'))).toHaveLength(1);

    writeFileSync(gate, '');
    const done = await first;
    expect(done.status).toBe(201);
    expect(((await done.json()) as BlobDescriptor).type).toBe('video/mp4');
    const picture = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#336699' } }).png().toBuffer();
    expect((await putMedia(gated.httpUrl, alice, picture, 'image/png')).status).toBe(201);
    const text = await scrape(gated);
    expect(metric(text, 'powr_media_uploads_total', { route: 'media', outcome: 'failed', status: '503' })).toBe(1);
    expect(metric(text, 'powr_media_uploads_total', { route: 'media', outcome: 'stored' })).toBe(2);
  });

  it('answers a video 422 naming ffmpeg when it is not installed, and still optimises images', async () => {
    const res = await putMedia(noFfmpeg.httpUrl, alice, CLIP, 'video/mp4');
    expect(res.status).toBe(422);
    expect(res.headers.get('x-reason')).toMatch(/ffmpeg is not installed.*\/nonexistent\/bin\/ff(mpeg|probe)/);
    expect((await fetch(`${noFfmpeg.httpUrl}/${sha256(CLIP)}`, { method: 'HEAD' })).status).toBe(404);
    await eventually(() => tmpFiles(noFfmpeg), (files) => files.length === 0);
    expect(tmpFiles(noFfmpeg)).toEqual([]);
    const picture = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#663399' } }).png().toBuffer();
    expect((await putMedia(noFfmpeg.httpUrl, alice, picture, 'image/png')).status).toBe(201);
  });
});
