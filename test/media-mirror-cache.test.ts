import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { nip19 } from 'nostr-tools';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, eventually, signer, sleep, type Signer } from './helpers/client.js';
import { pngBytes, sha256, upload } from './helpers/blossom.js';
import { runFailingRelay, startRelay, type RunningRelay } from './helpers/relay.js';

/**
 * The mirror cache (docs/media.md, "The mirror cache"): relay A, with the cache on, fetches the media
 * its exercises name on relay B (another Blossom server), keeps it only when the bytes hash to the
 * name, serves it as its own, and evicts by template use within its byte bound; uploads stay.
 */

const CACHE_BYTES = 7000;

interface BundleBody {
  media: Record<string, { url: string; sha256: string | null; local: boolean }[]>;
}

const coach = signer();
const uploader = signer();
let a: RunningRelay;
let b: RunningRelay;
let client: RawClient;
/** A server that answers every path with bytes that are not the blob the path names. */
let liar: Server;
let liarUrl: string;
let liarHits = 0;

beforeAll(async () => {
  [a, b] = await Promise.all([
    startRelay({
      POWR_RELAY_MEDIA_MIRROR_CACHE_BYTES: String(CACHE_BYTES), POWR_RELAY_MEDIA_MIRROR_PRIVATE: 'true',
      POWR_RELAY_MEDIA_UPLOADS_PER_MINUTE_PER_IP: '100000',
    }),
    startRelay({ POWR_RELAY_MEDIA_UPLOADS_PER_MINUTE_PER_IP: '100000' }),
  ]);
  client = await RawClient.connect(a.url);
  liar = createServer((_req, res) => {
    liarHits++;
    res.writeHead(200, { 'Content-Type': 'image/png' }).end(pngBytes(1000));
  });
  await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve));
  liarUrl = `http://127.0.0.1:${(liar.address() as AddressInfo).port}`;
});
afterAll(async () => {
  client?.close();
  liar?.close();
  await Promise.all([a?.stop(), b?.stop()]);
});

const address = (kind: number, who: Signer, d: string) => `${kind}:${who.pubkey}:${d}`;
const naddr = (d: string) => nip19.naddrEncode({ kind: 33401, pubkey: coach.pubkey, identifier: d });

async function publish(event: Parameters<Signer['sign']>[0]): Promise<void> {
  const [ok, message] = await client.publish(coach.sign(event));
  expect(ok, message).toBe(true);
}
const exercise = (d: string, url: string) => publish({
  kind: 33401, content: 'Move well.',
  tags: [['d', d], ['title', `Exercise ${d}`], ['format', 'reps'], ['format_units', 'count'], ['imeta', `url ${url}`, 'm image/png']],
});
const template = (d: string, exercises: string[]) => publish({
  kind: 33402, content: '',
  tags: [['d', d], ['title', `Template ${d}`], ['type', 'strength'], ...exercises.map((x) => ['exercise', address(33401, coach, x), '', '10'])],
});

/** A blob uploaded to B; answers its bytes, hash and URL on B. */
async function onB(size: number): Promise<{ bytes: Buffer; hash: string; url: string }> {
  const bytes = pngBytes(size);
  const hash = sha256(bytes);
  expect((await upload(b.httpUrl, coach, bytes)).status).toBe(201);
  return { bytes, hash, url: `${b.httpUrl}/${hash}.png` };
}

const statusOnA = async (hash: string) => (await fetch(`${a.httpUrl}/${hash}`, { method: 'HEAD' })).status;
const servedByA = (hash: string) => eventually(`${hash} on A`, () => statusOnA(hash), (s) => s === 200);
const goneFromA = (hash: string) => eventually(`${hash} evicted from A`, () => statusOnA(hash), (s) => s === 404);
const exercisePage = async (d: string) => (await fetch(`${a.httpUrl}/exercises/${naddr(d)}`, { headers: { Accept: 'text/html' } })).text();

describe('the mirror cache', () => {
  let first: Awaited<ReturnType<typeof onB>>;
  let second: Awaited<ReturnType<typeof onB>>;
  let later: Awaited<ReturnType<typeof onB>>;

  it('fetches the media an exercise names on another server and serves it with ranges', async () => {
    first = await onB(3000);
    expect(await statusOnA(first.hash)).toBe(404);
    await exercise('squat', first.url);
    await servedByA(first.hash);
    const part = await fetch(`${a.httpUrl}/${first.hash}.png`, { headers: { Range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-type')).toBe('image/png');
    expect(part.headers.get('content-range')).toBe('bytes 100-199/3000');
    expect(Buffer.from(await part.arrayBuffer())).toEqual(first.bytes.subarray(100, 200));
    // The page links the local copy; a cached blob is nobody's upload.
    expect(await exercisePage('squat')).toContain(`<img src="/${first.hash}.png"`);
    const list = await fetch(`${a.httpUrl}/list/${coach.pubkey}`);
    expect(await list.json()).toEqual([]);
  });

  it('refuses bytes that do not hash to the name in the URL', async () => {
    const named = sha256(pngBytes(1000));
    await exercise('bad', `${liarUrl}/${named}.png`);
    await eventually('the liar asked', async () => liarHits, (n) => n > 0);
    // One fetch at a time: once a later exercise's blob is cached, the liar's fetch has ended.
    later = await onB(500);
    await exercise('later', later.url);
    await servedByA(later.hash);
    expect(await statusOnA(named)).toBe(404);
    expect(await exercisePage('bad')).toContain(`<img src="${liarUrl}/${named}.png"`);
  });

  it('evicts the media of exercises no template uses first, and the bundle follows', async () => {
    second = await onB(5000);
    await exercise('press', second.url);
    await template('push', ['press']);
    await servedByA(second.hash);
    // 3000 + 500 + 5000 bytes do not fit in 7000: the oldest blob of an exercise no template uses goes.
    await goneFromA(first.hash);
    expect(await statusOnA(second.hash)).toBe(200);
    expect(await exercisePage('squat')).toContain(`<img src="${first.url}"`);
    const bundle = await eventually('push bundle', async () => (await (await fetch(`${a.httpUrl}/api/bundle?a=${address(33402, coach, 'push')}`)).json()) as BundleBody,
      (body) => body.media[address(33401, coach, 'press')]?.[0]?.local === true);
    expect(bundle.media[address(33401, coach, 'press')]).toEqual([{ url: `${a.httpUrl}/${second.hash}.png`, sha256: second.hash, type: 'image/png', local: true }]);
  });

  it('never evicts an upload, also of a hash it had cached', async () => {
    const kept = await onB(1500);
    await exercise('dip', kept.url);
    await servedByA(kept.hash);
    // Uploaded to A as well: now an owned blob, though its exercise ranks first for eviction.
    expect((await upload(a.httpUrl, uploader, kept.bytes)).status).toBe(200);
    const list = (await (await fetch(`${a.httpUrl}/list/${uploader.pubkey}`)).json()) as { sha256: string }[];
    expect(list.map((d) => d.sha256)).toEqual([kept.hash]);
    // 500 + 5000 + 2500 cached bytes do not fit: 'later' (no template) goes, then `second`, cached a
    // second before `third` (cached times are in seconds); `kept`, which would rank first, stays.
    await sleep(1100);
    const third = await onB(2500);
    await exercise('lunge', third.url);
    await template('legs', ['lunge']);
    await servedByA(third.hash);
    await goneFromA(second.hash);
    expect(await statusOnA(later.hash)).toBe(404);
    expect(await statusOnA(kept.hash)).toBe(200);
    expect(await statusOnA(third.hash)).toBe(200);
    // Evicted blobs are not fetched straight back (rounds run every 2 s; this test took longer).
    expect(await statusOnA(first.hash)).toBe(404);
  });

  it('is refused, naming the setting, in cluster mode', async () => {
    const { code, stderr } = await runFailingRelay({ POWR_RELAY_MEDIA_MIRROR_CACHE_BYTES: '1000', POWR_RELAY_CLUSTER_NATS: 'nats://127.0.0.1:4222' });
    expect(code).not.toBe(0);
    expect(stderr).toContain('mediaMirrorCacheBytes (POWR_RELAY_MEDIA_MIRROR_CACHE_BYTES): the mirror cache is for a single relay');
  });
});
