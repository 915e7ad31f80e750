import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Actions, createDeleteAuth, createMirrorAuth, createUploadAuth, type EventTemplate } from 'blossom-client-sdk';
import { finalizeEvent } from 'nostr-tools/pure';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signer } from './helpers/client.js';
import { sha256 } from './helpers/blossom.js';
import { startRelay, type RunningRelay } from './helpers/relay.js';

/** Debian's Chromium, installed by scripts/install-chromium.sh (run by pretest and .ci/run). */
const CHROMIUM = process.env.POWR_TEST_CHROMIUM ?? '/usr/bin/chromium';
/** Four seconds of H.264 test pattern, 96x64, 5 fps, faststart (made with ffmpeg; 4 KB). */
const CLIP = readFileSync(join(import.meta.dirname, 'fixtures', 'exercise-clip.mp4'));

const coach = signer();
/** blossom-client-sdk's signer: a draft in, a signed event out. */
const sign = async (draft: EventTemplate) => finalizeEvent(draft, coach.secretKey);

let a: RunningRelay;
let b: RunningRelay;

beforeAll(async () => {
  // b mirrors from a, which is on loopback: b allows private addresses for this.
  [a, b] = await Promise.all([startRelay(), startRelay({ POWR_RELAY_MEDIA_MIRROR_PRIVATE: 'true' })]);
});
afterAll(async () => {
  await Promise.all([a.stop(), b.stop()]);
});

describe('blossom-client-sdk against the relay (default options)', () => {
  it('uploads, lists, mirrors and deletes an exercise video', async () => {
    const video = new Blob([CLIP], { type: 'video/mp4' });
    const hash = sha256(CLIP);
    // No auth up front: HEAD /upload answers 401 and the client signs a token for the PUT.
    const uploaded = await Actions.uploadBlob(a.httpUrl, video, { onAuth: async (_server, sha) => createUploadAuth(sign, sha) });
    expect(uploaded).toMatchObject({ sha256: hash, size: CLIP.length, type: 'video/mp4', url: `${a.httpUrl}/${hash}.mp4` });

    const listed = await Actions.listBlobs(a.httpUrl, coach.pubkey);
    expect(listed.map((d) => d.sha256)).toEqual([hash]);

    const mirrored = await Actions.mirrorBlob(b.httpUrl, uploaded, { onAuth: async (_server, sha) => createMirrorAuth(sign, sha) });
    expect(mirrored).toMatchObject({ sha256: hash, size: CLIP.length, type: 'video/mp4', url: `${b.httpUrl}/${hash}.mp4` });
    expect(Buffer.from(await (await fetch(mirrored.url)).arrayBuffer()).equals(CLIP)).toBe(true);

    expect(await Actions.deleteBlob(b.httpUrl, hash, { onAuth: async (_server, sha) => createDeleteAuth(sign, sha) })).toBe(true);
    expect((await fetch(mirrored.url)).status).toBe(404);
    expect(await Actions.listBlobs(b.httpUrl, coach.pubkey)).toEqual([]);
    // a still has it.
    expect((await fetch(uploaded.url)).status).toBe(200);
  });

  it('surfaces the relay\'s refusal reason to the client', async () => {
    const page = new Blob([Buffer.from('<html></html>')], { type: 'text/html' });
    const error = await Actions.uploadBlob(a.httpUrl, page, { onAuth: async (_server, sha) => createUploadAuth(sign, sha) }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 415 });
    expect(String((error as Error).message)).toContain('text/html');
  });
});

describe('Chromium plays and seeks an uploaded exercise video', () => {
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run scripts/install-chromium.sh (npm test runs it first)`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'] });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('loads the video from its blob URL, plays it, and seeks with range requests', async () => {
    const uploaded = await Actions.uploadBlob(a.httpUrl, new Blob([CLIP], { type: 'video/mp4' }), {
      onAuth: async (_server, sha) => createUploadAuth(sign, sha),
    });
    const page = await browser.newPage();
    const statuses: number[] = [];
    page.on('response', (res) => {
      if (res.url() === uploaded.url) statuses.push(res.status());
    });
    // A page of the relay's own origin (its plain-text root), with the video added to it.
    await page.goto(`${a.httpUrl}/`);
    const result = await page.evaluate(async (src) => {
      const video = document.createElement('video');
      video.muted = true;
      document.body.append(video);
      const once = (event: string) => new Promise<void>((resolve, reject) => {
        video.addEventListener(event, () => resolve(), { once: true });
        video.addEventListener('error', () => reject(new Error(`video error ${video.error?.code}: ${video.error?.message}`)), { once: true });
      });
      const loaded = once('loadedmetadata');
      video.src = src;
      await loaded;
      await video.play();
      const started = performance.now();
      while (video.currentTime < 0.5 && performance.now() - started < 10_000) await new Promise((r) => setTimeout(r, 50));
      const played = video.currentTime;
      video.pause();
      const seeked = once('seeked');
      video.currentTime = 3;
      await seeked;
      return { duration: video.duration, played, position: video.currentTime, width: video.videoWidth };
    }, uploaded.url);
    await page.close();
    expect(result.duration).toBeCloseTo(4, 0);
    expect(result.width).toBe(96);
    expect(result.played).toBeGreaterThan(0.4);
    expect(result.position).toBeCloseTo(3, 0);
    // Media elements fetch with Range; the relay answered with partial content.
    expect(statuses).toContain(206);
  });
});
