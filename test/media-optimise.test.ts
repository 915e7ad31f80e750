import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { decode, isBlurhashValid } from 'blurhash';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { nip94Tags } from '../src/media/nip94.js';
import { mp4Boxes, photoWithGps } from './helpers/media.js';

// The optimiser runs on worker threads, which load the built JavaScript: test what ships.
type OptimiseModule = typeof import('../src/media/optimise.js');
const built = (await import('../dist/media/optimise.js' as string)) as OptimiseModule;
const { MediaOptimiser, optimiseSettings, ffprobeBeside, optimisedMeta, removeStaleJobFolders } = built;
type Settings = import('../src/media/optimise.js').OptimiseSettings;
type Optimiser = import('../src/media/optimise.js').MediaOptimiser;

const run = promisify(execFile);
const log = pino({ level: 'silent' });

let media: string; // inputs made here
let work: string; // the optimiser's temp folder: must be empty whenever no result is held
const optimisers: Optimiser[] = [];

function optimiser(overrides: Partial<Settings> = {}, registry?: Registry): Optimiser {
  const settings = { ...optimiseSettings(loadConfig({ POWR_RELAY_CONFIG: '' }), work), concurrency: 1, ...overrides };
  const made = new MediaOptimiser(settings, log, registry);
  optimisers.push(made);
  return made;
}

async function ffmpeg(...args: string[]): Promise<void> {
  await run('ffmpeg', ['-v', 'error', '-y', ...args]);
}

async function probe(path: string): Promise<{ streams: { codec_name: string; codec_type: string; width?: number; height?: number }[];
  format: { tags?: Record<string, string> } }> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', path]);
  return JSON.parse(stdout);
}

async function topLevelBoxes(path: string): Promise<string[]> {
  return mp4Boxes(await readFile(path));
}

async function sha256(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

async function expectWorkEmpty(): Promise<void> {
  expect(await readdir(work)).toEqual([]);
}

/** Mean red and blue of a horizontal band of an image (fractions of its height). */
async function bandColour(path: string, from: number, to: number): Promise<{ r: number; b: number }> {
  const { width, height } = await sharp(path).metadata();
  const top = Math.floor(height * from);
  const { data, info } = await sharp(path).extract({ left: 0, top, width, height: Math.floor(height * to) - top })
    .removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let r = 0;
  let b = 0;
  for (let i = 0; i < data.length; i += info.channels) {
    r += data[i]!;
    b += data[i + 2]!;
  }
  const pixels = data.length / info.channels;
  return { r: r / pixels, b: b / pixels };
}

beforeAll(async () => {
  media = await mkdtemp(join(tmpdir(), 'powr-media-in-'));
  work = await mkdtemp(join(tmpdir(), 'powr-media-work-'));
  await writeFile(join(media, 'gps.jpg'), await photoWithGps());
  await ffmpeg('-f', 'lavfi', '-i', 'testsrc=duration=1:size=200x100:rate=5', join(media, 'anim.gif'));
  // As a phone or an editor writes it: H.264/AAC with a location tag and the index (moov) at the end.
  await ffmpeg('-f', 'lavfi', '-i', 'testsrc=duration=2:size=320x240:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=2',
    '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', '-metadata', 'location=+51.5074-000.1278/', join(media, 'plain.mp4'));
  await ffmpeg('-f', 'lavfi', '-i', 'testsrc=duration=2:size=640x360:rate=25', '-c:v', 'libvpx', '-b:v', '500k', join(media, 'clip.webm'));
  // A portrait phone clip: stored 320×240 with a quarter-turn rotation to show it 240×320.
  await ffmpeg('-i', join(media, 'plain.mp4'), '-c', 'copy', '-metadata:s:v:0', 'rotate=90', join(media, 'portrait.mp4'));
}, 60_000);

afterAll(async () => {
  await Promise.all(optimisers.map((o) => o.close()));
  await rm(media, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

describe('image optimisation', () => {
  it('auto-orients, scales to 1920 px, strips EXIF and GPS, and makes a 512 px thumbnail and a blurhash', async () => {
    const input = join(media, 'gps.jpg');
    const before = await sharp(input).metadata();
    expect(before.orientation).toBe(6);
    // The GPS IFD pointer (tag 0x8825, little-endian) is in the input's EXIF.
    expect(before.exif?.includes(Buffer.from([0x25, 0x88]))).toBe(true);

    const result = await optimiser().optimise({ path: input, type: 'image/jpeg' });
    const out = await sharp(result.optimised.path).metadata();
    expect(out.format).toBe('webp');
    expect([out.width, out.height]).toEqual([1280, 1920]);
    expect([result.width, result.height]).toEqual([1280, 1920]);
    expect(out.exif).toBeUndefined();
    expect(out.xmp).toBeUndefined();
    expect(out.iptc).toBeUndefined();
    expect(out.orientation).toBeUndefined();
    const top = await bandColour(result.optimised.path, 0, 0.3);
    const bottom = await bandColour(result.optimised.path, 0.4, 1);
    expect(top.b).toBeGreaterThan(top.r);
    expect(bottom.r).toBeGreaterThan(bottom.b);

    const thumb = await sharp(result.thumbnail.path).metadata();
    expect(thumb.format).toBe('webp');
    expect(Math.max(thumb.width, thumb.height)).toBe(512);
    expect(thumb.exif).toBeUndefined();

    expect(isBlurhashValid(result.blurhash).result).toBe(true);
    const pixels = decode(result.blurhash, 8, 12);
    expect(pixels.length).toBe(8 * 12 * 4);
    // The decoded placeholder keeps the picture's layout: blue above, red below.
    const at = (x: number, y: number) => pixels.subarray((y * 8 + x) * 4, (y * 8 + x) * 4 + 3);
    expect(at(4, 0)[2]!).toBeGreaterThan(at(4, 0)[0]!);
    expect(at(4, 11)[0]!).toBeGreaterThan(at(4, 11)[2]!);

    for (const file of [result.optimised, result.thumbnail]) {
      expect(file.type).toBe('image/webp');
      expect(file.size).toBe((await stat(file.path)).size);
      expect(file.sha256).toBe(await sha256(file.path));
      expect(file.path.startsWith(result.dir)).toBe(true);
    }
    expect(result.poster).toBeUndefined();
    await result.discard();
    await expectWorkEmpty();
  });

  it('keeps an animated GIF animated, as animated WebP with the frame size as its height', async () => {
    const result = await optimiser().optimise({ path: join(media, 'anim.gif'), type: 'image/gif' });
    const out = await sharp(result.optimised.path, { animated: true }).metadata();
    expect(out.format).toBe('webp');
    expect(out.pages).toBe(5);
    expect([result.width, result.height]).toEqual([200, 100]);
    expect(isBlurhashValid(result.blurhash).result).toBe(true);
    await result.discard();
  });

  it('reads AVIF and transparent PNG, keeping the transparency', async () => {
    const o = optimiser();
    const transparent = { width: 300, height: 200, channels: 4 as const, background: { r: 0, g: 128, b: 0, alpha: 0.5 } };
    await sharp({ create: transparent }).avif().toFile(join(media, 'still.avif'));
    await sharp({ create: transparent }).png().toFile(join(media, 'still.png'));
    for (const [file, type] of [['still.avif', 'image/avif'], ['still.png', 'image/png']]) {
      const result = await o.optimise({ path: join(media, file!), type: type! });
      const out = await sharp(result.optimised.path).metadata();
      expect([out.format, out.width, out.height, out.hasAlpha]).toEqual(['webp', 300, 200, true]);
      await result.discard();
    }
  });

  it('answers a corrupt or truncated image with a typed 422, leaves no file and goes on working', async () => {
    const truncated = join(media, 'truncated.jpg');
    const photo = await readFile(join(media, 'gps.jpg'));
    await writeFile(truncated, photo.subarray(0, photo.length / 2));
    const garbage = join(media, 'garbage.png');
    await writeFile(garbage, Buffer.from('\x89PNG\r\n\x1a\nthis is not really a png at all'.repeat(20), 'latin1'));
    const o = optimiser();
    for (const [path, type] of [[truncated, 'image/jpeg'], [garbage, 'image/png']] as const) {
      const err = await o.optimise({ path, type }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(built.MediaInputError);
      expect((err as InstanceType<typeof built.MediaInputError>).status).toBe(422);
      expect((err as Error).message).toMatch(/^the image could not be read: ./);
      await expectWorkEmpty();
    }
    const after = await o.optimise({ path: join(media, 'anim.gif'), type: 'image/gif' });
    expect(after.width).toBe(200);
    await after.discard();
  });

  it('decodes only PNG, JPEG, WebP, GIF and AVIF, whatever the bytes claim: an SVG sent as PNG is refused', async () => {
    const svg = join(media, 'drawing.png');
    await writeFile(svg, `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><image href="gps.jpg" width="64" height="64"/></svg>`);
    expect(await sharp(svg).metadata()).toMatchObject({ format: 'svg' }); // sharp alone would render it
    const err = await optimiser().optimise({ path: svg, type: 'image/png' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(built.MediaInputError);
    expect((err as Error).message).toBe('the file is not a PNG, JPEG, WebP, GIF or AVIF image');
    await expectWorkEmpty();
  });

  it('refuses a type it does not optimise with a typed 415', async () => {
    const err = await optimiser().optimise({ path: join(media, 'gps.jpg'), type: 'image/tiff' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(built.UnsupportedMediaError);
    expect((err as InstanceType<typeof built.UnsupportedMediaError>).status).toBe(415);
  });
});

// Real ffmpeg work on a shared machine: give these room.
describe('video optimisation', { timeout: 60_000 }, () => {
  it('remuxes an H.264/AAC file to faststart (moov before mdat) without its location tag, with a poster', async () => {
    const input = join(media, 'plain.mp4');
    const inBoxes = await topLevelBoxes(input);
    expect(inBoxes.indexOf('moov')).toBeGreaterThan(inBoxes.indexOf('mdat'));
    expect((await probe(input)).format.tags?.location).toBeDefined();

    const result = await optimiser().optimise({ path: input, type: 'video/mp4' });
    const boxes = await topLevelBoxes(result.optimised.path);
    expect(boxes).toContain('mdat');
    expect(boxes.indexOf('moov')).toBeLessThan(boxes.indexOf('mdat'));
    const out = await probe(result.optimised.path);
    expect(out.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
    expect(Object.keys(out.format.tags ?? {}).filter((k) => k.startsWith('location'))).toEqual([]);
    expect(result.optimised).toMatchObject({ type: 'video/mp4', sha256: await sha256(result.optimised.path) });
    expect([result.width, result.height]).toEqual([320, 240]);
    expect(result.durationSeconds).toBeCloseTo(2, 0);

    const poster = await sharp(result.poster!.path).metadata();
    expect([poster.format, poster.width, poster.height]).toEqual(['webp', 320, 240]);
    const thumb = await sharp(result.thumbnail.path).metadata();
    expect([thumb.width, thumb.height]).toEqual([320, 240]);
    expect(isBlurhashValid(result.blurhash).result).toBe(true);
    await result.discard();
    await expectWorkEmpty();
  });

  it('re-encodes a WebM to H.264 within the size limit, faststart', async () => {
    const result = await optimiser({ maxSide: 320, thumbnailSide: 128 }).optimise({ path: join(media, 'clip.webm'), type: 'video/webm' });
    const out = await probe(result.optimised.path);
    expect(out.streams).toEqual([expect.objectContaining({ codec_type: 'video', codec_name: 'h264', width: 320, height: 180 })]);
    const boxes = await topLevelBoxes(result.optimised.path);
    expect(boxes.indexOf('moov')).toBeLessThan(boxes.indexOf('mdat'));
    expect([result.width, result.height]).toEqual([320, 180]);
    const thumb = await sharp(result.thumbnail.path).metadata();
    expect([thumb.width, thumb.height]).toEqual([128, 72]);
    await result.discard();
  });

  it('turns a portrait phone clip upright: its size is the shown size', async () => {
    const result = await optimiser().optimise({ path: join(media, 'portrait.mp4'), type: 'video/mp4' });
    expect([result.width, result.height]).toEqual([240, 320]);
    const poster = await sharp(result.poster!.path).metadata();
    expect([poster.width, poster.height]).toEqual([240, 320]);
    await result.discard();
  });

  it('never lets ffmpeg guess the container: a concat script sent as MP4 cannot pull in another file', async () => {
    const script = join(media, 'script.mp4');
    await writeFile(script, "ffconcat version 1.0\nfile 'plain.mp4'\n");
    const guessed = await probe(script); // ffprobe left to guess reads plain.mp4 through it
    expect(guessed.streams.length).toBeGreaterThan(0);
    const err = await optimiser().optimise({ path: script, type: 'video/mp4' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(built.MediaInputError);
    expect((err as Error).message).toMatch(/^the video could not be read: ffprobe: /);
    await expectWorkEmpty();
  });

  it('names ffmpeg as missing (422) when the ffmpeg path leads nowhere, and still optimises images', async () => {
    const o = optimiser({ ffmpegPath: '/nonexistent/bin/ffmpeg', ffprobePath: ffprobeBeside('/nonexistent/bin/ffmpeg') });
    const err = await o.optimise({ path: join(media, 'plain.mp4'), type: 'video/mp4' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(built.MissingToolError);
    expect((err as InstanceType<typeof built.MissingToolError>).status).toBe(422);
    expect((err as Error).message).toMatch(/^ffmpeg is not installed on this relay .*video optimisation is unavailable$/);
    await expectWorkEmpty();
    const image = await o.optimise({ path: join(media, 'anim.gif'), type: 'image/gif' });
    expect(image.kind).toBe('image');
    await image.discard();
  });

  it('kills ffmpeg past the job timeout: a typed timeout error and no file left', async () => {
    // Eight seconds of 1080p (one second made, then repeated by copying): several CPU-seconds of
    // single-threaded x264 work, well past a 1 s limit.
    const second = join(media, 'second.mov');
    const heavy = join(media, 'heavy.mov');
    await ffmpeg('-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=25:duration=1', '-c:v', 'mjpeg', '-q:v', '8', second);
    await ffmpeg('-stream_loop', '7', '-i', second, '-c', 'copy', heavy);
    const err = await optimiser({ timeoutSeconds: 1 }).optimise({ path: heavy, type: 'video/quicktime' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(built.OptimiseTimeoutError);
    expect((err as InstanceType<typeof built.OptimiseTimeoutError>).status).toBe(422);
    await expectWorkEmpty();
  });

  it('on close, refuses running, waiting and new jobs with 503 and leaves no folder', async () => {
    const o = optimiser({ concurrency: 1, queueSize: 1 });
    const heavy = { path: join(media, 'heavy.mov'), type: 'video/quicktime' };
    const running = o.optimise(heavy).catch((e: unknown) => e);
    const waiting = o.optimise(heavy).catch((e: unknown) => e);
    // Close once ffmpeg is writing the first job's video.
    const deadline = Date.now() + 30_000;
    const writing = async () => (await readdir(work)).some((d) => existsSync(join(work, d, 'video.mp4')));
    while (!(await writing())) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 20));
    }
    await o.close();
    for (const err of [await running, await waiting, await o.optimise(heavy).catch((e: unknown) => e)]) {
      expect(err).toBeInstanceOf(built.OptimiseError);
      expect((err as InstanceType<typeof built.OptimiseError>).status).toBe(503);
      expect((err as Error).message).toMatch(/shutting down/);
    }
    await expectWorkEmpty();
  });
});

describe('the queue', { timeout: 60_000 }, () => {
  it('answers busy (503 with Retry-After) once the threads and the queue are full, and reports its depth', async () => {
    const registry = new Registry();
    const o = optimiser({ concurrency: 1, queueSize: 1 }, registry);
    const input = { path: join(media, 'clip.webm'), type: 'video/webm' };
    const first = o.optimise(input);
    const second = o.optimise(input);
    const third = o.optimise(input).catch((e: unknown) => e);
    expect(o.depth).toEqual({ running: 1, waiting: 1 });
    const depth = await registry.getSingleMetricAsString('powr_media_optimise_queue_depth');
    expect(depth).toContain('powr_media_optimise_queue_depth{state="running"} 1');
    expect(depth).toContain('powr_media_optimise_queue_depth{state="waiting"} 1');

    const busy = await third;
    expect(busy).toBeInstanceOf(built.OptimiserBusyError);
    expect((busy as InstanceType<typeof built.OptimiserBusyError>).status).toBe(503);
    expect((busy as InstanceType<typeof built.OptimiserBusyError>).retryAfterSeconds).toBeGreaterThanOrEqual(1);

    for (const result of await Promise.all([first, second])) await result.discard();
    expect(o.depth).toEqual({ running: 0, waiting: 0 });
    const seconds = await registry.getSingleMetricAsString('powr_media_optimise_seconds');
    expect(seconds).toContain('powr_media_optimise_seconds_count{kind="video",outcome="ok"} 2');
    // Once a thread is free again a job is taken.
    const fourth = await o.optimise(input);
    await fourth.discard();
  });
});

describe('folders left by a stopped relay', () => {
  it('removes job folders untouched for twice the timeout, and only those', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'powr-media-stale-'));
    for (const name of ['powr-optimise-old', 'powr-optimise-new', 'unrelated-old']) await mkdir(join(dir, name));
    const hourAgo = new Date(Date.now() - 3600_000);
    for (const name of ['powr-optimise-old', 'unrelated-old']) await utimes(join(dir, name), hourAgo, hourAgo);
    expect(await removeStaleJobFolders(dir, 60)).toEqual([join(dir, 'powr-optimise-old')]);
    expect((await readdir(dir)).sort()).toEqual(['powr-optimise-new', 'unrelated-old']);
    await rm(dir, { recursive: true });
  });
});

describe('interface', () => {
  it('builds BUD-08 nip94 tags from a result', async () => {
    const result = await optimiser().optimise({ path: join(media, 'plain.mp4'), type: 'video/mp4' });
    const ox = 'a'.repeat(64);
    const tags = nip94Tags({ ...result.optimised, uploaded: 0, ...optimisedMeta(result, ox) }, (f) => `https://relay.example/${f.sha256}.${f.type === 'video/mp4' ? 'mp4' : 'webp'}`);
    expect(tags).toEqual([
      ['url', `https://relay.example/${result.optimised.sha256}.mp4`],
      ['m', 'video/mp4'],
      ['x', result.optimised.sha256],
      ['ox', ox],
      ['size', String(result.optimised.size)],
      ['dim', '320x240'],
      ['blurhash', result.blurhash],
      ['thumb', `https://relay.example/${result.thumbnail.sha256}.webp`, result.thumbnail.sha256],
      ['image', `https://relay.example/${result.poster!.sha256}.webp`, result.poster!.sha256],
    ]);
    await result.discard();
  });

  it('takes its settings from the config: half the cores (one on two), ffprobe beside ffmpeg', () => {
    const settings = optimiseSettings(loadConfig({ POWR_RELAY_CONFIG: '' }));
    expect(settings).toMatchObject({ maxSide: 1920, thumbnailSide: 512, ffmpegPath: 'ffmpeg', ffprobePath: 'ffprobe' });
    expect(settings.concurrency).toBe(Math.max(1, Math.floor(availableParallelism() / 2)));
    const env = loadConfig({ POWR_RELAY_CONFIG: '', POWR_RELAY_MEDIA_OPTIMISE_CONCURRENCY: '3', POWR_RELAY_FFMPEG_PATH: '/opt/ffmpeg-7/bin/ffmpeg' });
    expect(optimiseSettings(env)).toMatchObject({ concurrency: 3, ffprobePath: '/opt/ffmpeg-7/bin/ffprobe' });
    expect(ffprobeBeside('/usr/local/bin/ffmpeg7')).toBe('/usr/local/bin/ffprobe7');
  });
});
