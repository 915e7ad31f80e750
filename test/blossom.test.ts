import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, signer } from './helpers/client.js';
import { authorization, blossomToken, eventually, pngBytes, rawRequest, sha256, upload } from './helpers/blossom.js';
import { runCli, startRelay, startRelayWithPublicUrl, tempDb, type RunningRelay } from './helpers/relay.js';

const MAX = 256 * 1024;
const QUOTA = 1024 * 1024;
const blobDir = (relay: RunningRelay) => join(dirname(relay.db), 'blobs');
const tmpFiles = (relay: RunningRelay) => readdirSync(join(blobDir(relay), 'tmp'));
const fileOf = (relay: RunningRelay, hash: string) => join(blobDir(relay), hash.slice(0, 2), hash.slice(2, 4), hash);

let relay: RunningRelay;
let base: string;

beforeAll(async () => {
  relay = await startRelay({
    POWR_RELAY_MEDIA_MAX_BYTES: String(MAX), POWR_RELAY_MEDIA_QUOTA_BYTES: String(QUOTA), POWR_RELAY_MEDIA_MIRROR_PRIVATE: 'true',
    POWR_RELAY_MEDIA_UPLOADS_PER_MINUTE_PER_IP: '100000',
  });
  base = relay.httpUrl;
});
afterAll(async () => {
  await relay.stop();
});

/** The refusal's status and X-Reason; and nothing of it was kept (no temporary file, no blob). */
async function refusedWithNothingLeft(res: Response, status: number, hash?: string): Promise<string> {
  expect(res.status).toBe(status);
  const reason = res.headers.get('x-reason') ?? '';
  expect(reason).not.toBe('');
  expect(((await res.json()) as { message: string }).message).toBe(reason);
  expect(res.headers.get('access-control-allow-origin')).toBe('*');
  await eventually(() => tmpFiles(relay).length, (n) => n === 0);
  expect(tmpFiles(relay)).toEqual([]);
  if (hash) {
    expect((await fetch(`${base}/${hash}`, { method: 'HEAD' })).status).toBe(404);
    expect(existsSync(fileOf(relay, hash))).toBe(false);
  }
  return reason;
}

describe('Blossom: upload and retrieval (BUD-01, BUD-02)', () => {
  const alice = signer();

  it('stores the exact bytes and serves them with their type, whatever the extension asked for', async () => {
    const bytes = pngBytes(40_000);
    const hash = sha256(bytes);
    const res = await upload(base, alice, bytes);
    expect(res.status).toBe(201);
    const descriptor = (await res.json()) as Record<string, unknown>;
    expect(descriptor).toMatchObject({ sha256: hash, size: bytes.length, type: 'image/png', url: `${base}/${hash}.png` });
    expect(Math.abs((descriptor.uploaded as number) - Date.now() / 1000)).toBeLessThan(60);
    expect(descriptor.nip94).toEqual([['url', `${base}/${hash}.png`], ['m', 'image/png'], ['x', hash], ['size', String(bytes.length)]]);

    for (const path of [hash, `${hash}.png`, `${hash}.jpg`, `${hash}.pdf`]) {
      const got = await fetch(`${base}/${path}`);
      expect(got.status).toBe(200);
      expect(got.headers.get('content-type')).toBe('image/png');
      expect(got.headers.get('etag')).toBe(`"${hash}"`);
      expect(got.headers.get('accept-ranges')).toBe('bytes');
      expect(got.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(got.headers.get('access-control-allow-origin')).toBe('*');
      expect(Buffer.from(await got.arrayBuffer()).equals(bytes)).toBe(true);
    }
    const head = await fetch(`${base}/${hash}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(bytes.length));
    // The same bytes again: already there, 200 with the same descriptor.
    const again = await upload(base, alice, bytes);
    expect(again.status).toBe(200);
    expect(((await again.json()) as { sha256: string }).sha256).toBe(hash);
  });

  it('recognises the type of an upload sent without one', async () => {
    const bytes = pngBytes(1000);
    const hash = sha256(bytes);
    const res = await fetch(`${base}/upload`, {
      method: 'PUT', body: bytes, headers: { Authorization: authorization(blossomToken(alice, 'upload', { x: [hash] })) },
    });
    expect(res.status).toBe(201);
    expect((await res.json()) as { type: string }).toMatchObject({ type: 'image/png' });
  });

  it('takes base64 with padding as well as base64url, and a server tag naming this relay', async () => {
    const bytes = pngBytes(500);
    const hash = sha256(bytes);
    const res = await fetch(`${base}/upload`, {
      method: 'PUT', body: bytes,
      headers: { 'Content-Type': 'image/png', Authorization: authorization(blossomToken(alice, 'upload', { x: [hash], server: ['127.0.0.1'] }), 'base64') },
    });
    expect(res.status).toBe(201);
  });

  it('serves single byte ranges (206), refuses ranges past the end (416), and answers If-None-Match with 304', async () => {
    const bytes = pngBytes(10_000);
    const hash = sha256(bytes);
    expect((await upload(base, alice, bytes)).status).toBe(201);
    const range = async (header: string) => fetch(`${base}/${hash}.png`, { headers: { Range: header } });
    for (const [header, start, end] of [['bytes=0-9', 0, 9], ['bytes=9990-', 9990, 9999], ['bytes=-100', 9900, 9999],
      ['bytes=5000-99999', 5000, 9999]] as const) {
      const res = await range(header);
      expect(res.status, header).toBe(206);
      expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/10000`);
      expect(res.headers.get('content-length')).toBe(String(end - start + 1));
      expect(Buffer.from(await res.arrayBuffer()).equals(bytes.subarray(start, end + 1))).toBe(true);
    }
    const past = await range('bytes=10000-');
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe('bytes */10000');
    // Several ranges are not served as multipart: the whole blob, as RFC 9110 allows.
    const several = await range('bytes=0-1,5-6');
    expect(several.status).toBe(200);
    expect((await several.arrayBuffer()).byteLength).toBe(10_000);
    const cached = await fetch(`${base}/${hash}`, { headers: { 'If-None-Match': `"${hash}"` } });
    expect(cached.status).toBe(304);
  });

  it('answers CORS preflights as BUD-01 asks', async () => {
    const hash = 'a'.repeat(64);
    for (const path of [`/${hash}`, '/upload', '/mirror', '/report', `/list/${alice.pubkey}`]) {
      const res = await fetch(`${base}${path}`, { method: 'OPTIONS' });
      expect(res.status, path).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      expect(res.headers.get('access-control-allow-headers')).toBe('Authorization, *');
      expect(res.headers.get('access-control-allow-methods')).toContain('PUT');
      expect(res.headers.get('access-control-allow-methods')).toContain('DELETE');
    }
    expect((await fetch(`${base}/report`, { method: 'OPTIONS' })).headers.get('allow')).toContain('PUT');
  });

  it('never serves anything outside the store for path tricks', async () => {
    const bytes = pngBytes(300);
    const hash = sha256(bytes);
    await upload(base, alice, bytes);
    for (const path of [`/${hash.toUpperCase()}`, `/${hash.slice(0, 63)}`, `/${hash}0`, '/../../etc/passwd', `/${hash}%2F..%2F..%2Fetc%2Fpasswd`,
      `/..%2F..%2Fetc%2Fpasswd`, `/%2e%2e/%2e%2e/etc/passwd`, `/${hash}.png%00.txt`, `/list/..%2F..%2Fetc`]) {
      const res = await fetch(`${base}${path}`);
      expect([400, 404], path).toContain(res.status);
      expect(await res.text()).not.toContain('root:');
    }
  });

  it('answers 400 to a request target that is no URL path, and keeps running', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(base).port), '127.0.0.1', () => socket.write('GET //[ HTTP/1.1\r\nHost: x\r\n\r\n'));
      socket.once('data', (d) => {
        resolve(d.toString().split('\r\n')[0]!);
        socket.destroy();
      });
      socket.on('error', reject);
    });
    expect(answer).toBe('HTTP/1.1 400 Bad Request');
    expect((await fetch(`${base}/health`)).status).toBe(200);
  });

  it('answers 405 to a method an endpoint does not take', async () => {
    for (const [method, path] of [['POST', '/upload'], ['DELETE', '/upload'], ['GET', '/mirror'], ['POST', `/${'a'.repeat(64)}`], ['PUT', '/list/x']]) {
      const res = await fetch(`${base}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(res.headers.get('x-reason')).toContain(method);
      expect(res.headers.get('allow'), `${method} ${path}`).toMatch(/^[A-Z]+(, [A-Z]+)*$/);
    }
    expect((await fetch(`${base}/health`)).status).toBe(200);
  });

  it('asks for a token on PUT /media as on /upload (the optimisation itself: blossom-media.test.ts)', async () => {
    const res = await fetch(`${base}/media`, { method: 'PUT', body: 'x', headers: { 'Content-Type': 'image/png' } });
    expect(await refusedWithNothingLeft(res, 401)).toMatch(/authorization/i);
  });
});

describe('Blossom: refused uploads leave nothing behind', () => {
  const mallory = signer();
  const token = (verb: string, options: Parameters<typeof blossomToken>[2]) => authorization(blossomToken(mallory, verb, options));
  const put = (bytes: Buffer, headers: Record<string, string>) => fetch(`${base}/upload`, { method: 'PUT', body: bytes, headers: { 'Content-Type': 'image/png', ...headers } });

  it('refuses a missing, expired, foreign, wrong-verb, hash-less, wrong-hash or badly signed token with 401', async () => {
    const bytes = pngBytes(2000);
    const hash = sha256(bytes);
    const now = Math.floor(Date.now() / 1000);
    const tampered = blossomToken(mallory, 'upload', { x: [hash] });
    const cases: [string, Record<string, string>, RegExp][] = [
      ['no token', {}, /Authorization/],
      ['expired', { Authorization: token('upload', { x: [hash], expiration: now - 10, created_at: now - 100 }) }, /expired/],
      ['no expiration', { Authorization: authorization(mallory.sign({ kind: 24242, content: '', created_at: now, tags: [['t', 'upload'], ['x', hash]] })) }, /expiration/],
      ['another server', { Authorization: token('upload', { x: [hash], server: ['cdn.example.com'] }) }, /another server/],
      ['another verb', { Authorization: token('delete', { x: [hash] }) }, /"upload"/],
      ['no x', { Authorization: token('upload', {}) }, /x tag/],
      ['wrong x', { Authorization: token('upload', { x: ['b'.repeat(64)] }) }, /x tags/],
      ['wrong x with X-SHA-256', { Authorization: token('upload', { x: ['b'.repeat(64)] }), 'X-SHA-256': hash }, /x tags/],
      ['bad signature', { Authorization: authorization({ ...tampered, sig: tampered.sig.replace(/^./, (c) => (c === '0' ? '1' : '0')) }) }, /sign/],
      ['another kind', { Authorization: authorization(mallory.sign({ kind: 27235, content: '', tags: [['t', 'upload'], ['x', hash], ['expiration', String(now + 60)]] })) }, /24242/],
      ['not base64 JSON', { Authorization: 'Nostr !!!' }, /Nostr/],
    ];
    for (const [name, headers, why] of cases) {
      const res = await put(bytes, headers);
      expect(res.status, name).toBe(401);
      expect(await refusedWithNothingLeft(res, 401, hash), name).toMatch(why);
    }
  });

  it('refuses a body whose hash is not its X-SHA-256 with 409', async () => {
    const bytes = pngBytes(3000);
    const claimed = sha256(pngBytes(3000));
    const res = await put(bytes, { 'X-SHA-256': claimed, Authorization: token('upload', { x: [claimed, sha256(bytes)] }) });
    await refusedWithNothingLeft(res, 409, sha256(bytes));
  });

  it('refuses a type outside the allow-list with 415', async () => {
    const bytes = Buffer.from('<html><script>alert(1)</script></html>');
    const hash = sha256(bytes);
    const res = await put(bytes, { 'Content-Type': 'text/html', Authorization: token('upload', { x: [hash] }) });
    await refusedWithNothingLeft(res, 415, hash);
    // Without a type, bytes that are no known media are refused too.
    const untyped = await fetch(`${base}/upload`, { method: 'PUT', body: bytes, headers: { Authorization: token('upload', { x: [hash] }) } });
    await refusedWithNothingLeft(untyped, 415, hash);
  });

  it('answers 413 to a Content-Length over the limit before reading the body', async () => {
    const hash = 'c'.repeat(64);
    const res = await rawRequest(`${base}/upload`, 'PUT', {
      'Content-Type': 'image/png', 'Content-Length': String(MAX + 1), Authorization: token('upload', { x: [hash] }),
    }, (req) => req.flushHeaders()); // headers only: the answer must come without a byte of the body
    expect(res.status).toBe(413);
    expect(String(res.headers['x-reason'])).toContain(String(MAX));
  });

  it('with Expect: 100-continue, asks for the body only when the upload can be taken', async () => {
    const bytes = pngBytes(50_000);
    const hash = sha256(bytes);
    const headers = { 'Content-Type': 'image/png', Expect: '100-continue', Authorization: token('upload', { x: [hash] }) };
    let continued = false;
    const refused = await rawRequest(`${base}/upload`, 'PUT', { ...headers, 'Content-Length': String(MAX + 1) }, (req) => {
      req.on('continue', () => (continued = true));
      req.flushHeaders();
    });
    expect(refused.status).toBe(413);
    expect(continued).toBe(false);
    const taken = await rawRequest(`${base}/upload`, 'PUT', { ...headers, 'Content-Length': String(bytes.length) }, (req) => {
      req.on('continue', () => req.end(bytes));
      req.flushHeaders();
    });
    expect(taken.status).toBe(201);
    expect((JSON.parse(taken.body) as { sha256: string }).sha256).toBe(hash);
  });

  it('answers 413 while streaming a body without Content-Length that passes the limit', async () => {
    const bytes = pngBytes(MAX + 100_000);
    const hash = sha256(bytes);
    const res = await rawRequest(`${base}/upload`, 'PUT', {
      'Content-Type': 'image/png', 'Transfer-Encoding': 'chunked', Authorization: token('upload', { x: [hash] }),
    }, (req) => {
      req.on('error', () => undefined); // the relay may close before the rest is sent
      for (let i = 0; i < bytes.length; i += 16_384) req.write(bytes.subarray(i, i + 16_384));
      req.end();
    });
    expect(res.status).toBe(413);
    await eventually(() => tmpFiles(relay).length, (n) => n === 0);
    expect(tmpFiles(relay)).toEqual([]);
    expect((await fetch(`${base}/${hash}`, { method: 'HEAD' })).status).toBe(404);
  });

  it('keeps nothing of an upload cut off halfway, and the same bytes upload again afterwards', async () => {
    const bytes = pngBytes(200_000);
    const hash = sha256(bytes);
    const auth = token('upload', { x: [hash] });
    await new Promise<void>((resolve) => {
      rawRequest(`${base}/upload`, 'PUT', { 'Content-Type': 'image/png', 'Content-Length': String(bytes.length), 'X-SHA-256': hash, Authorization: auth }, (req) => {
        req.on('error', () => resolve());
        req.write(bytes.subarray(0, 100_000), () => setTimeout(() => {
          req.destroy();
          resolve();
        }, 200));
      }).catch(() => resolve());
    });
    await eventually(() => tmpFiles(relay).length, (n) => n === 0);
    expect(tmpFiles(relay)).toEqual([]);
    expect((await fetch(`${base}/${hash}`, { method: 'HEAD' })).status).toBe(404);
    const res = await put(bytes, { 'X-SHA-256': hash, Authorization: auth });
    expect(res.status).toBe(201);
    expect(Buffer.from(await (await fetch(`${base}/${hash}`)).arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('holds each pubkey to its quota', async () => {
    const hoarder = signer();
    const size = 200 * 1024;
    for (let i = 0; i < QUOTA / size - 1; i++) expect((await upload(base, hoarder, pngBytes(size))).status).toBe(201);
    const bytes = pngBytes(size);
    const res = await upload(base, hoarder, bytes);
    expect(await refusedWithNothingLeft(res, 413, sha256(bytes))).toContain('quota');
  });
});

describe('Blossom: upload requirements (BUD-06)', () => {
  const bob = signer();
  const check = (headers: Record<string, string>) => fetch(`${base}/upload`, { method: 'HEAD', headers });

  it('answers 200 for an upload that would be taken, and says why not otherwise', async () => {
    const hash = 'd'.repeat(64);
    const auth = authorization(blossomToken(bob, 'upload', { x: [hash] }));
    const ok = { 'X-SHA-256': hash, 'X-Content-Length': '1000', 'X-Content-Type': 'video/mp4', Authorization: auth };
    expect((await check(ok)).status).toBe(200);
    const refusals: [Record<string, string>, number][] = [
      [{ ...ok, Authorization: '' }, 401],
      [{ ...ok, 'X-Content-Length': String(MAX + 1) }, 413],
      [{ ...ok, 'X-Content-Type': 'application/pdf' }, 415],
      [{ ...ok, 'X-SHA-256': 'e'.repeat(64) }, 401],
      [{ ...ok, 'X-SHA-256': 'XYZ' }, 400],
      [{ 'X-SHA-256': hash, Authorization: auth }, 411],
    ];
    for (const [headers, status] of refusals) {
      const res = await check(headers);
      expect(res.status, JSON.stringify(headers)).toBe(status);
      expect(res.headers.get('x-reason')).toBeTruthy();
    }
  });
});

describe('Blossom: list and delete (BUD-12)', () => {
  const carol = signer();
  const dave = signer();

  it('lists a pubkey\'s blobs newest first, in pages, with or without a token', async () => {
    const hashes: string[] = [];
    for (let i = 0; i < 5; i++) {
      const bytes = pngBytes(1000 + i);
      hashes.push(sha256(bytes));
      expect((await upload(base, carol, bytes)).status).toBe(201);
    }
    const list = async (query = '', headers: Record<string, string> = {}) => {
      const res = await fetch(`${base}/list/${carol.pubkey}${query}`, { headers });
      expect(res.status).toBe(200);
      return (await res.json()) as { sha256: string; uploaded: number; url: string }[];
    };
    const all = await list();
    expect(all.map((d) => d.sha256).sort()).toEqual([...hashes].sort());
    const order = [...all].sort((a, b) => b.uploaded - a.uploaded || (a.sha256 < b.sha256 ? 1 : -1));
    expect(all.map((d) => d.sha256)).toEqual(order.map((d) => d.sha256));
    const first = await list('?limit=2');
    const second = await list(`?limit=2&cursor=${first[1]!.sha256}`);
    const third = await list(`?limit=2&cursor=${second[1]!.sha256}`);
    expect([...first, ...second, ...third].map((d) => d.sha256)).toEqual(all.map((d) => d.sha256));
    const withToken = await list('', { Authorization: authorization(blossomToken(carol, 'list')) });
    expect(withToken.map((d) => d.sha256)).toEqual(all.map((d) => d.sha256));
    expect(await list('', {}).then((l) => l.length)).toBe(5);
    expect((await fetch(`${base}/list/${dave.pubkey}`).then((r) => r.json()))).toEqual([]);
    expect((await fetch(`${base}/list/not-a-pubkey`)).status).toBe(400);
    expect((await fetch(`${base}/list/${carol.pubkey}?limit=0`)).status).toBe(400);
  });

  it('refuses a delete by a pubkey that does not own the blob, and the blob stays', async () => {
    const bytes = pngBytes(4000);
    const hash = sha256(bytes);
    await upload(base, carol, bytes);
    const del = (who: typeof carol, x = hash) => fetch(`${base}/${hash}`, { method: 'DELETE', headers: { Authorization: authorization(blossomToken(who, 'delete', { x: [x] })) } });
    const byDave = await del(dave);
    expect([401, 403]).toContain(byDave.status);
    expect(byDave.headers.get('x-reason')).toBeTruthy();
    expect((await del(carol, 'f'.repeat(64))).status).toBe(401);
    expect((await fetch(`${base}/${hash}`)).status).toBe(200);
    expect(existsSync(fileOf(relay, hash))).toBe(true);
    // Dave uploads the same bytes: two owners. Carol's delete leaves it to Dave; Dave's removes it.
    expect((await upload(base, dave, bytes)).status).toBe(200);
    expect((await del(carol)).status).toBe(204);
    expect((await fetch(`${base}/${hash}`)).status).toBe(200);
    expect((await fetch(`${base}/list/${carol.pubkey}`).then((r) => r.json()) as { sha256: string }[]).map((d) => d.sha256)).not.toContain(hash);
    expect((await del(dave)).status).toBe(204);
    expect((await fetch(`${base}/${hash}`)).status).toBe(404);
    expect(existsSync(fileOf(relay, hash))).toBe(false);
    expect((await del(dave)).status).toBe(404);
  });
});

describe('Blossom: moderation', () => {
  it('a banned pubkey cannot upload and its blobs are hidden; a banned hash is neither served nor taken again', async () => {
    const spammer = signer();
    const bytes = pngBytes(5000);
    const hash = sha256(bytes);
    expect((await upload(base, spammer, bytes)).status).toBe(201);
    const env = { POWR_RELAY_DB: relay.db };
    expect((await runCli(['ban', 'pubkey', spammer.pubkey], env)).code).toBe(0);
    expect((await eventually(() => fetch(`${base}/${hash}`).then((r) => r.status), (s) => s === 404))).toBe(404);
    expect(await eventually(() => fetch(`${base}/list/${spammer.pubkey}`).then((r) => r.json()), (l) => (l as unknown[]).length === 0)).toEqual([]);
    expect((await eventually(() => upload(base, spammer, pngBytes(100)).then((r) => r.status), (s) => s === 403))).toBe(403);

    const other = signer();
    const picture = pngBytes(6000);
    const banned = sha256(picture);
    expect((await upload(base, other, picture)).status).toBe(201);
    expect((await runCli(['ban', 'event', banned], env)).code).toBe(0);
    expect((await eventually(() => fetch(`${base}/${banned}`).then((r) => r.status), (s) => s === 404))).toBe(404);
    expect((await eventually(() => upload(base, signer(), picture).then((r) => r.status), (s) => s === 403))).toBe(403);
    expect((await fetch(`${base}/list/${other.pubkey}`).then((r) => r.json()))).toEqual([]);
  });
});

describe('Blossom: mirror (BUD-04) and report (BUD-09)', () => {
  let origin: Server;
  let originUrl: string;
  const blobs = new Map<string, Buffer>();

  beforeAll(async () => {
    origin = createServer((req, res) => {
      const path = req.url ?? '/';
      if (path === '/loop') return res.writeHead(302, { Location: '/loop' }).end();
      if (path === '/hop1') return res.writeHead(301, { Location: '/hop2' }).end();
      if (path === '/hop2') return res.writeHead(307, { Location: `/${[...blobs.keys()][0]}.png` }).end();
      if (path === '/huge') return res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': String(MAX * 4) }).end();
      const bytes = blobs.get(path.slice(1).replace(/\.png$/, ''));
      if (!bytes) return res.writeHead(404).end();
      res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': bytes.length }).end(bytes);
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => origin.close(() => resolve())));

  const mirror = (who: ReturnType<typeof signer>, url: string, x: string, to = base) => fetch(`${to}/mirror`, {
    method: 'PUT', body: JSON.stringify({ url }),
    headers: { 'Content-Type': 'application/json', Authorization: authorization(blossomToken(who, 'upload', { x: [x] })) },
  });

  it('copies a blob from a URL, following redirects, and checks its hash', async () => {
    const erin = signer();
    const bytes = pngBytes(20_000);
    const hash = sha256(bytes);
    blobs.set(hash, bytes);
    const res = await mirror(erin, `${originUrl}/hop1`, hash);
    expect(res.status).toBe(201);
    expect((await res.json()) as object).toMatchObject({ sha256: hash, size: bytes.length, type: 'image/png' });
    expect(Buffer.from(await (await fetch(`${base}/${hash}`)).arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('refuses a wrong hash, a redirect loop, a blob over the limit and a URL that is not http', async () => {
    const erin = signer();
    const bytes = pngBytes(1000);
    const hash = sha256(bytes);
    blobs.set(hash, bytes);
    const cases: [string, string, number][] = [
      [`${originUrl}/${hash}.png`, 'a'.repeat(64), 409],
      [`${originUrl}/loop`, hash, 502],
      [`${originUrl}/huge`, hash, 413],
      [`${originUrl}/missing`, hash, 502],
      ['file:///etc/passwd', hash, 400],
      ['not a url', hash, 400],
    ];
    for (const [url, x, status] of cases) {
      const res = await mirror(erin, url, x);
      expect(res.status, url).toBe(status);
      expect(res.headers.get('x-reason'), url).toBeTruthy();
    }
    expect(tmpFiles(relay)).toEqual([]);
    expect((await fetch(`${base}/${hash}`, { method: 'HEAD' })).status).toBe(404);
  });

  it('stores a blob report as a kind 1984 event through the write path', async () => {
    const reporter = signer();
    const reported = 'e'.repeat(64);
    const report = reporter.sign({ kind: 1984, content: 'not an exercise video', tags: [['x', reported, 'spam']] });
    const res = await fetch(`${base}/report`, { method: 'PUT', body: JSON.stringify(report), headers: { 'Content-Type': 'application/json' } });
    expect(res.status).toBe(200);
    const client = await RawClient.connect(relay.url);
    expect((await client.req('r', { kinds: [1984], authors: [reporter.pubkey] })).map((e) => e.id)).toEqual([report.id]);
    client.close();
    const unsigned = await fetch(`${base}/report`, { method: 'PUT', body: JSON.stringify({ ...report, sig: '0'.repeat(128) }) });
    expect(unsigned.status).toBe(400);
    const noBlob = await fetch(`${base}/report`, { method: 'PUT', body: JSON.stringify(reporter.sign({ kind: 1984, content: '', tags: [['p', reporter.pubkey]] })) });
    expect(noBlob.status).toBe(400);
  });
});

describe('Blossom: a relay with a public URL, an uploader list, a rate limit and private mirrors refused', () => {
  let strict: RunningRelay;
  const allowed = signer();

  beforeAll(async () => {
    strict = await startRelayWithPublicUrl('wss://media.example.com', {
      POWR_RELAY_MEDIA_UPLOADERS: allowed.pubkey, POWR_RELAY_MEDIA_UPLOADS_PER_MINUTE_PER_IP: '4',
    });
  });
  afterAll(async () => {
    await strict.stop();
  });

  it('builds URLs from the public URL, takes tokens for its host, refuses others, private mirrors and floods', async () => {
    const bytes = pngBytes(800);
    const hash = sha256(bytes);
    const scoped = authorization(blossomToken(allowed, 'upload', { x: [hash], server: ['media.example.com'] }));
    const res = await fetch(`${strict.httpUrl}/upload`, { method: 'PUT', body: bytes, headers: { 'Content-Type': 'image/png', Authorization: scoped } });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { url: string }).url).toBe(`https://media.example.com/${hash}.png`);
    const stranger = await upload(strict.httpUrl, signer(), pngBytes(100));
    expect(stranger.status).toBe(403);
    const privateMirror = await fetch(`${strict.httpUrl}/mirror`, {
      method: 'PUT', body: JSON.stringify({ url: `${strict.httpUrl}/${hash}` }),
      headers: { Authorization: authorization(blossomToken(allowed, 'upload', { x: [hash] })) },
    });
    expect(privateMirror.status).toBe(403);
    expect(privateMirror.headers.get('x-reason')).toContain('private');
    // A name that resolves to loopback is refused too, on the address it resolves to.
    const byName = await fetch(`${strict.httpUrl}/mirror`, {
      method: 'PUT', body: JSON.stringify({ url: `http://localhost:${new URL(strict.httpUrl).port}/${hash}` }),
      headers: { Authorization: authorization(blossomToken(allowed, 'upload', { x: [hash] })) },
    });
    expect(byName.status).toBe(403);
    expect(byName.headers.get('x-reason')).toContain('localhost');
    const flood = await upload(strict.httpUrl, allowed, pngBytes(100));
    expect(flood.status).toBe(429);
  });
});

describe('Blossom: crash safety', () => {
  it('keeps nothing of an upload the relay was SIGKILLed in the middle of; after a restart the same bytes upload', async () => {
    const db = tempDb();
    const owner = signer();
    const bytes = pngBytes(2_000_000);
    const hash = sha256(bytes);
    const auth = authorization(blossomToken(owner, 'upload', { x: [hash] }));
    const headers = { 'Content-Type': 'image/png', 'Content-Length': String(bytes.length), 'X-SHA-256': hash, Authorization: auth };
    const first = await startRelay({ POWR_RELAY_RATE_LIMITS: 'off' }, db);
    const tmp = join(dirname(db), 'blobs', 'tmp');
    // Half the body sent and written to the temporary file, then the relay is killed where it stands.
    const cut = rawRequest(`${first.httpUrl}/upload`, 'PUT', headers, (req) => {
      req.on('error', () => undefined);
      req.write(bytes.subarray(0, 1_000_000));
    }).catch(() => undefined);
    await eventually(() => (existsSync(tmp) ? readdirSync(tmp).length : 0), (n) => n > 0);
    expect(await first.stop('SIGKILL')).toBeNull();
    await cut;
    const second = await startRelay({ POWR_RELAY_RATE_LIMITS: 'off' }, db);
    try {
      expect(readdirSync(tmp)).toEqual([]);
      expect((await fetch(`${second.httpUrl}/${hash}`, { method: 'HEAD' })).status).toBe(404);
      expect(await (await fetch(`${second.httpUrl}/list/${owner.pubkey}`)).json()).toEqual([]);
      const again = await fetch(`${second.httpUrl}/upload`, { method: 'PUT', body: bytes, headers });
      expect(again.status).toBe(201);
      expect(Buffer.from(await (await fetch(`${second.httpUrl}/${hash}`)).arrayBuffer()).equals(bytes)).toBe(true);
    } finally {
      await second.stop();
    }
  });

  it('removes temporary files a crash left behind when it starts', async () => {
    const db = tempDb();
    mkdirSync(join(dirname(db), 'blobs', 'tmp'), { recursive: true });
    writeFileSync(join(dirname(db), 'blobs', 'tmp', 'half-written'), 'partial');
    const restarted = await startRelay({}, db);
    try {
      expect(readdirSync(join(dirname(db), 'blobs', 'tmp'))).toEqual([]);
    } finally {
      await restarted.stop();
    }
  });
});

describe('Blossom: memory stays flat whatever the size', () => {
  it('streams a 64 MiB upload and download without holding the blob in memory', async () => {
    const big = await startRelay({ POWR_RELAY_MEDIA_MAX_BYTES: String(96 * 1024 * 1024), POWR_RELAY_RATE_LIMITS: 'off' });
    try {
      const owner = signer();
      const bytes = pngBytes(64 * 1024 * 1024);
      // Warm up once with a 16 MiB blob: the first large transfer grows the heap and buffer pools to
      // their working size (measured: about 25 MiB); after that, 64 or 200 MiB add next to nothing.
      const warm = pngBytes(16 * 1024 * 1024);
      expect((await upload(big.httpUrl, owner, warm)).status).toBe(201);
      await (await fetch(`${big.httpUrl}/${sha256(warm)}`)).arrayBuffer();
      const before = big.memory();
      const res = await upload(big.httpUrl, owner, bytes);
      expect(res.status).toBe(201);
      const got = await fetch(`${big.httpUrl}/${sha256(bytes)}`);
      let received = 0;
      for await (const chunk of got.body!) received += (chunk as Uint8Array).length;
      expect(received).toBe(bytes.length);
      const after = big.memory();
      // Buffering the blob would add at least its 64 MiB; streaming adds a few chunks and garbage.
      expect(after.peak - before.peak).toBeLessThan(24 * 1024 * 1024);
    } finally {
      await big.stop();
    }
  }, 60_000);
});

/** A 512 KiB tmpfs to fill, where the tests run as root and may mount one (they do here and in CI). */
function smallDisk(): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'powr-relay-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', dir], { stdio: 'ignore' });
    return dir;
  } catch {
    return undefined;
  }
}

describe('Blossom: a full disk', () => {
  it('answers 507 with a reason, keeps nothing, and takes uploads that fit afterwards', async (ctx) => {
    const disk = smallDisk();
    if (disk === undefined) return ctx.skip();
    const full = await startRelay({ POWR_RELAY_MEDIA_DIR: disk, POWR_RELAY_MEDIA_MAX_BYTES: String(4 * 1024 * 1024) });
    try {
      const owner = signer();
      const res = await upload(full.httpUrl, owner, pngBytes(1024 * 1024));
      expect(res.status).toBe(507);
      expect(res.headers.get('x-reason')).toContain('disk space');
      expect(readdirSync(join(disk, 'tmp'))).toEqual([]);
      expect((await upload(full.httpUrl, owner, pngBytes(100 * 1024))).status).toBe(201);
    } finally {
      await full.stop();
      execFileSync('umount', [disk]);
    }
  });
});

describe('Blossom: every refusal above was the client\'s', () => {
  it('left no error in the relay\'s log', () => {
    expect(relay.logs.filter((entry) => typeof entry.level === 'number' && entry.level >= 50)).toEqual([]);
  });
});
