import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nip19 } from 'nostr-tools';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, eventually, signer, type Signer } from './helpers/client.js';
import { authorization, blossomToken, pngBytes, sha256, upload } from './helpers/blossom.js';
import { launchChromium } from './helpers/chromium.js';
import { startRelay, type RunningRelay } from './helpers/relay.js';

/**
 * exercise_media knows the blobs (docs/media.md, "Exercises and their media"): an imeta URL naming a
 * blob stored here, on whichever host, is served from here on the catalogue's pages and in bundles,
 * whether the blob arrived before or after the exercise, and no longer once the blob is deleted.
 */

/** Four seconds of H.264 test pattern, 96x64, 5 fps, faststart. */
const CLIP = readFileSync(join(import.meta.dirname, 'fixtures', 'exercise-clip.mp4'));
const CLIP_HASH = sha256(CLIP);
const POSTER = pngBytes(3000);
const POSTER_HASH = sha256(POSTER);

interface BundleMedium {
  url: string;
  sha256: string | null;
  type: string | null;
  local: boolean;
}
interface BundleBody {
  root: { id: string };
  events: { id: string }[];
  media: Record<string, BundleMedium[]>;
}

const coach = signer();
let relay: RunningRelay;
let client: RawClient;

beforeAll(async () => {
  relay = await startRelay({ POWR_RELAY_MEDIA_UPLOADS_PER_MINUTE_PER_IP: '100000' });
  client = await RawClient.connect(relay.url);
});
afterAll(async () => {
  client?.close();
  await relay?.stop();
});

const address = (kind: number, who: Signer, d: string) => `${kind}:${who.pubkey}:${d}`;
const naddr = (kind: number, who: Signer, d: string) => nip19.naddrEncode({ kind, pubkey: who.pubkey, identifier: d });

async function publish(event: Parameters<Signer['sign']>[0]): Promise<void> {
  const [ok, message] = await client.publish(coach.sign(event));
  expect(ok, message).toBe(true);
}

/** An exercise whose imeta tags are `imetas` (each a whole tag: either form). */
const exercise = (d: string, imetas: string[][]) => publish({
  kind: 33401, content: 'Stand tall, brace, sit back.',
  tags: [['d', d], ['title', `Exercise ${d}`], ['format', 'weight', 'reps'], ['format_units', 'kg', 'count'], ['equipment', 'barbell'], ...imetas],
});
const template = (d: string, exercises: string[]) => publish({
  kind: 33402, content: '',
  tags: [['d', d], ['title', `Template ${d}`], ['type', 'strength'], ...exercises.map((x) => ['exercise', address(33401, coach, x), '', '60', '5'])],
});

const page = async (path: string) => {
  const res = await fetch(relay.httpUrl + path, { headers: { Accept: 'text/html' } });
  expect(res.status, path).toBe(200);
  return res.text();
};
const bundle = async (d: string) => {
  const res = await fetch(`${relay.httpUrl}/api/bundle?a=${address(33402, coach, d)}`);
  expect(res.status).toBe(200);
  return { etag: res.headers.get('etag'), body: (await res.json()) as BundleBody };
};
const remove = (hash: string) => fetch(`${relay.httpUrl}/${hash}`, {
  method: 'DELETE', headers: { Authorization: authorization(blossomToken(coach, 'delete', { x: [hash] })) },
});

describe('exercise media linked to the blobs stored here', () => {
  it('serves an uploaded video, named on another host, from here on the pages and in the bundle', async () => {
    expect((await upload(relay.httpUrl, coach, CLIP, 'video/mp4')).status).toBe(201);
    expect((await upload(relay.httpUrl, coach, POSTER, 'image/png')).status).toBe(201);
    // NIP-92 form for the video, with its poster image; both name their blobs on a CDN.
    await exercise('squat', [
      ['imeta', `url https://cdn.example.com/media/${CLIP_HASH}.mp4`, 'm video/mp4', 'alt Squat from the side'],
      ['imeta', `url https://cdn.example.com/${POSTER_HASH}`, 'm image/png'],
      ['imeta', 'url https://img.example.com/diagram.jpg', 'm image/jpeg'],
    ]);
    await template('legs', ['squat']);

    const exerciseHtml = await page(`/exercises/${naddr(33401, coach, 'squat')}`);
    expect(exerciseHtml).toContain(`<video controls preload="metadata" src="/${CLIP_HASH}.mp4" poster="/${POSTER_HASH}.png" aria-label="Squat from the side"></video>`);
    expect(exerciseHtml).toContain(`<img src="/${POSTER_HASH}.png"`);
    expect(exerciseHtml).toContain('<img src="https://img.example.com/diagram.jpg"');
    const templateHtml = await page(`/templates/${naddr(33402, coach, 'legs')}`);
    expect(templateHtml).toContain(`<video controls preload="metadata" src="/${CLIP_HASH}.mp4" poster="/${POSTER_HASH}.png"`);

    const { body } = await bundle('legs');
    expect(body.media).toEqual({
      [address(33401, coach, 'squat')]: [
        { url: `${relay.httpUrl}/${CLIP_HASH}.mp4`, sha256: CLIP_HASH, type: 'video/mp4', local: true },
        { url: `${relay.httpUrl}/${POSTER_HASH}.png`, sha256: POSTER_HASH, type: 'image/png', local: true },
        { url: 'https://img.example.com/diagram.jpg', sha256: null, type: 'image/jpeg', local: false },
      ],
    });
    // The local URL serves the video with ranges.
    const range = await fetch(body.media[address(33401, coach, 'squat')]![0]!.url, { headers: { Range: 'bytes=0-99' } });
    expect(range.status).toBe(206);
    expect(range.headers.get('content-type')).toBe('video/mp4');
  });

  it('links a blob uploaded after the exercise, and the cached bundle follows', async () => {
    const image = pngBytes(2000);
    const hash = sha256(image);
    // powr_web's single-element imeta; upper-case hex in the URL names the same blob.
    await exercise('press', [['imeta', `url https://nostr.build/i/${hash.toUpperCase()}.png?w=640 m image/png alt Press`]]);
    await template('push', ['press']);
    const before = await bundle('push');
    expect(before.body.media[address(33401, coach, 'press')]).toEqual([
      { url: `https://nostr.build/i/${hash.toUpperCase()}.png?w=640`, sha256: hash, type: 'image/png', local: false },
    ]);
    expect((await bundle('push')).etag).toBe(before.etag); // served from the cache

    expect((await upload(relay.httpUrl, coach, image, 'image/png')).status).toBe(201);
    const after = await eventually('bundle after the upload', () => bundle('push'), (b) => b.etag !== before.etag);
    expect(after.body.media[address(33401, coach, 'press')]).toEqual([
      { url: `${relay.httpUrl}/${hash}.png`, sha256: hash, type: 'image/png', local: true },
    ]);
    expect(await page(`/exercises/${naddr(33401, coach, 'press')}`)).toContain(`<img src="/${hash}.png" alt="Press"`);
  });

  it('falls back to the remote URL once the blob is deleted, and links it again when it comes back', async () => {
    const image = pngBytes(1500);
    const hash = sha256(image);
    expect((await upload(relay.httpUrl, coach, image, 'image/png')).status).toBe(201);
    await exercise('row', [['imeta', `url https://cdn.example.com/${hash}.png`, 'm image/png']]);
    await template('pull', ['row']);
    const local = await bundle('pull');
    expect(local.body.media[address(33401, coach, 'row')]![0]).toMatchObject({ url: `${relay.httpUrl}/${hash}.png`, local: true });

    expect((await remove(hash)).status).toBe(204);
    const remote = await eventually('bundle after the delete', () => bundle('pull'), (b) => b.etag !== local.etag);
    expect(remote.body.media[address(33401, coach, 'row')]).toEqual([
      { url: `https://cdn.example.com/${hash}.png`, sha256: hash, type: 'image/png', local: false },
    ]);
    expect(await page(`/exercises/${naddr(33401, coach, 'row')}`)).toContain(`<img src="https://cdn.example.com/${hash}.png"`);

    expect((await upload(relay.httpUrl, coach, image, 'image/png')).status).toBe(201);
    const back = await eventually('bundle after the new upload', () => bundle('pull'), (b) => b.etag !== remote.etag);
    expect(back.body.media[address(33401, coach, 'row')]![0]).toMatchObject({ local: true });
  });

  it('resolves an exercise bundle by id with its own media', async () => {
    const [ex] = await client.req('ex', { kinds: [33401], authors: [coach.pubkey], '#d': ['squat'] });
    const res = await fetch(`${relay.httpUrl}/api/bundle?id=${ex!.id}`);
    const body = (await res.json()) as BundleBody;
    expect(body.events).toEqual([]);
    expect(body.media[address(33401, coach, 'squat')]![0]).toMatchObject({ sha256: CLIP_HASH, local: true });
  });
});

describe('Chromium on an exercise page', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('loads the demonstration video from this relay and seeks in it', async () => {
    const tab = await browser.newPage();
    await tab.goto(`${relay.httpUrl}/exercises/${naddr(33401, coach, 'squat')}`);
    const seen = await tab.evaluate(async () => {
      const video = document.querySelector('video')!;
      const deadline = performance.now() + 10_000;
      while (video.readyState < 1 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const readyState = video.readyState;
      const seeked = new Promise<void>((resolve, reject) => {
        video.addEventListener('seeked', () => resolve(), { once: true });
        setTimeout(() => reject(new Error('no seeked event')), 10_000);
      });
      video.currentTime = 2.5;
      await seeked;
      return { currentSrc: video.currentSrc, poster: video.poster, readyState, position: video.currentTime, duration: video.duration };
    });
    await tab.close();
    expect(seen.currentSrc).toBe(`${relay.httpUrl}/${CLIP_HASH}.mp4`);
    expect(seen.poster).toBe(`${relay.httpUrl}/${POSTER_HASH}.png`);
    expect(seen.readyState).toBeGreaterThanOrEqual(1);
    expect(seen.duration).toBeGreaterThan(3);
    expect(seen.position).toBeCloseTo(2.5, 1);
  });
});
