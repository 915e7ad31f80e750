import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, createReadStream, existsSync, linkSync, mkdirSync, mkdtempSync, openSync, closeSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { blobPath } from '../store/blobs/blob-folder.js';
import { publicKeyOf, signEvent } from '../workers/schnorr.js';
import { freshEvents } from './corpus.js';
import { startRelayProcess, type RelayProcess } from './relay-process.js';
import { Rng } from './rng.js';
import { round, summarize, type Summary } from './stats.js';
import { ingest, type IngestResult } from './workloads.js';

/**
 * `npm run bench -- --media`: the Blossom server (docs/media.md) against the targets: whole
 * GETs of a 20 MiB blob beside Debian's nginx serving the same file, 256 KiB ranges of a 100 MiB
 * video, a 100 MiB upload with the relay's memory sampled, and the ingest benchmark with media
 * traffic beside it.
 */

const MiB = 1024 * 1024;
const NGINX = '/usr/sbin/nginx';
const CLIENTS = 16;
const RANGE = 256 * 1024;
/** Events per ingest run (a few seconds at the rates the ingest benchmark measures), and pairs of runs. */
const INGEST_EVENTS = 8000;
const INGEST_PAIRS = 2;
/** How often the relay's resident memory is read while an upload runs. */
const RSS_SAMPLE_MS = 10;

export interface Throughput {
  server: string;
  seconds: number;
  requests: number;
  mibPerSecond: number;
  requestsPerSecond: number;
}

export interface MediaResult {
  seconds: number;
  get: { relay: Throughput; nginx: Throughput | string };
  ranges: Summary & { requestsPerSecond: number };
  upload: { mib: number; seconds: number; mibPerSecond: number; rssBeforeMiB: number; rssGrowthMiB: number };
  /** Runs alone and beside media traffic, alternately; the change is of their events/s taken together. */
  ingest: { alone: IngestResult[]; beside: IngestResult[]; changePercent: number; besideMedia: { uploads: number; ranges: number } };
}

/** A file of random bytes, written in chunks (the benchmark never holds a whole blob). */
function randomFile(path: string, bytes: number): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'w');
  for (let left = bytes; left > 0; left -= MiB) {
    const chunk = randomBytes(Math.min(MiB, left));
    hash.update(chunk);
    writeSync(fd, chunk);
  }
  closeSync(fd);
  return hash.digest('hex');
}

class Uploader {
  private readonly key = randomBytes(32);
  private readonly pubkey = publicKeyOf(this.key);

  constructor(private readonly base: string) {}

  /** PUT /upload of a file, streamed from disk; resolves once the descriptor is back. */
  put(file: string, sha256: string, size: number): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    const token = signEvent({ kind: 24242, created_at: now - 1, content: 'bench', tags: [['t', 'upload'], ['x', sha256], ['expiration', String(now + 3600)]] },
      this.key, this.pubkey);
    return new Promise((resolve, reject) => {
      const req = request(`${this.base}/upload`, {
        method: 'PUT',
        headers: { 'Content-Type': 'video/mp4', 'Content-Length': size, 'X-SHA-256': sha256,
          Authorization: `Nostr ${Buffer.from(JSON.stringify(token)).toString('base64url')}` },
      });
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 || res.statusCode === 201 ? resolve()
          : reject(new Error(`upload answered ${res.statusCode}: ${String(res.headers['x-reason'])}`))));
      });
      req.on('error', reject);
      createReadStream(file, { highWaterMark: 256 * 1024 }).pipe(req);
    });
  }
}

/** One GET, the body read and dropped; resolves with the bytes received. */
function get(url: string, agent: Agent, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => (res.statusCode === 200 || res.statusCode === 206 ? resolve(bytes) : reject(new Error(`GET ${url} answered ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** `clients` loops, each doing `one` until `until()` says stop. */
async function loops(clients: number, until: () => boolean, one: (client: number) => Promise<void>): Promise<void> {
  await Promise.all(Array.from({ length: clients }, async (_, client) => {
    while (!until()) await one(client);
  }));
}

/** Whole GETs of `url` by 16 keep-alive clients for `seconds`. */
async function throughput(server: string, url: string, seconds: number): Promise<Throughput> {
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  let bytes = 0;
  let requests = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  await loops(CLIENTS, () => performance.now() >= end, async () => {
    // Not `bytes += await …`: that reads `bytes` before the wait and loses the other clients' additions.
    const received = await get(url, agent);
    bytes += received;
    requests++;
  });
  agent.destroy();
  const elapsed = (performance.now() - started) / 1000;
  return { server, seconds: round(elapsed), requests, mibPerSecond: round(bytes / MiB / elapsed, 1), requestsPerSecond: round(requests / elapsed, 1) };
}

/** 256 KiB ranges at random offsets of a `size`-byte blob, each timed until its last byte. */
async function rangeReads(url: string, size: number, clients: number, until: () => boolean, rng: Rng, latencies?: number[]): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  let requests = 0;
  await loops(clients, until, async () => {
    const start = Math.floor(rng.next() * (size - RANGE));
    const sent = performance.now();
    const bytes = await get(url, agent, { Range: `bytes=${start}-${start + RANGE - 1}` });
    if (bytes !== RANGE) throw new Error(`a range of ${RANGE} bytes came back with ${bytes}`);
    latencies?.push(performance.now() - sent);
    requests++;
  });
  agent.destroy();
  return requests;
}

function freePort(): Promise<number> {
  const server = createServer();
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    server.close(() => resolve(port));
  }));
}

/**
 * Debian's nginx on a loopback port serving `file` as `/<name>`, with Debian's defaults where they
 * matter (`worker_processes auto`, `sendfile on`); undefined (and why) when it is not installed.
 */
async function startNginx(file: string, name: string): Promise<{ url: string; stop: () => Promise<void> } | string> {
  if (!existsSync(NGINX)) return `skipped: ${NGINX} is not installed (apt-get install nginx-light)`;
  const dir = mkdtempSync(join(tmpdir(), 'powr-bench-nginx-'));
  // Started as root, nginx's workers run as nobody: they must be able to read the file.
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'www'));
  linkSync(file, join(dir, 'www', name));
  const port = await freePort();
  writeFileSync(join(dir, 'nginx.conf'), `daemon off;
worker_processes auto;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type video/mp4;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server { listen 127.0.0.1:${port}; root ${dir}/www; }
}
`);
  const proc: ChildProcess = spawn(NGINX, ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}/${name}`;
  const stop = async () => {
    if (proc.exitCode === null) proc.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await get(url, new Agent());
      return { url, stop };
    } catch (err) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        await stop();
        return `skipped: nginx did not start (${stderr.trim() || (err as Error).message})`;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Upload of a `file`, the relay's VmRSS read every few milliseconds meanwhile. */
async function measuredUpload(relay: RelayProcess, uploader: Uploader, file: string, sha256: string, size: number): Promise<MediaResult['upload']> {
  const before = relay.memory().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, relay.memory().rss)), RSS_SAMPLE_MS);
  const started = performance.now();
  try {
    await uploader.put(file, sha256, size);
  } finally {
    clearInterval(sampler);
  }
  const seconds = (performance.now() - started) / 1000;
  peak = Math.max(peak, relay.memory().rss);
  return { mib: size / MiB, seconds: round(seconds), mibPerSecond: round(size / MiB / seconds, 1),
    rssBeforeMiB: round(before / MiB, 1), rssGrowthMiB: round((peak - before) / MiB, 1) };
}

export async function mediaBench(seconds: number, seed: number, log: (msg: string) => void): Promise<MediaResult> {
  const started = performance.now();
  const files = mkdtempSync(join(tmpdir(), 'powr-bench-media-'));
  const small = { file: join(files, 'small'), size: 20 * MiB, sha256: '' };
  const video = { file: join(files, 'video'), size: 100 * MiB, sha256: '' };
  const upload = { file: join(files, 'upload'), size: 100 * MiB, sha256: '' };
  log('writing random blobs: 20 MiB, 100 MiB, and 100 MiB to upload while measured');
  for (const blob of [small, video, upload]) blob.sha256 = randomFile(blob.file, blob.size);
  const relay = await startRelayProcess({
    POWR_RELAY_RATE_LIMITS: 'off', POWR_RELAY_MEDIA_MAX_BYTES: String(256 * MiB), POWR_RELAY_MEDIA_QUOTA_BYTES: '0',
  });
  const rng = new Rng(seed);
  try {
    const uploader = new Uploader(relay.httpUrl);
    await uploader.put(small.file, small.sha256, small.size);
    await uploader.put(video.file, video.sha256, video.size);

    log(`(a) GET of the 20 MiB blob, ${CLIENTS} clients, ${seconds} s: the relay, then nginx`);
    const relayGet = await throughput('powr-relay', `${relay.httpUrl}/${small.sha256}`, seconds);
    const nginx = await startNginx(blobPath(join(dirname(relay.db), 'blobs'), small.sha256), small.sha256);
    let nginxGet: Throughput | string;
    if (typeof nginx === 'string') {
      nginxGet = nginx;
      log(`nginx ${nginx}`);
    } else {
      try {
        nginxGet = await throughput('nginx', nginx.url, seconds);
      } finally {
        await nginx.stop();
      }
    }

    log(`(b) 256 KiB ranges of the 100 MiB blob, ${CLIENTS} clients, ${seconds} s`);
    const latencies: number[] = [];
    const rangesEnd = performance.now() + seconds * 1000;
    const ranges = await rangeReads(`${relay.httpUrl}/${video.sha256}`, video.size, CLIENTS, () => performance.now() >= rangesEnd, rng, latencies);

    log('(c) upload of a 100 MiB blob, the relay\'s RSS sampled');
    const uploaded = await measuredUpload(relay, uploader, upload.file, upload.sha256, upload.size);

    log(`(d) ingest of ${INGEST_EVENTS} events, 8 connections, ${INGEST_PAIRS} times alone and with uploads and range reads beside it, alternately`);
    const alone: IngestResult[] = [];
    const beside: IngestResult[] = [];
    const besideMedia = { uploads: 0, ranges: 0 };
    for (let i = 0; i < INGEST_PAIRS; i++) {
      alone.push(await ingest(relay.url, freshEvents(INGEST_EVENTS, seed + 10 + 2 * i), 8));
      let stop = false;
      // One uploader sending the 20 MiB blob again and again (each is received, hashed and checked
      // in full), and four clients reading ranges of the video.
      const background = Promise.all([
        loops(1, () => stop, async () => {
          await uploader.put(small.file, small.sha256, small.size);
          besideMedia.uploads++;
        }),
        rangeReads(`${relay.httpUrl}/${video.sha256}`, video.size, 4, () => stop, rng),
      ]);
      try {
        beside.push(await ingest(relay.url, freshEvents(INGEST_EVENTS, seed + 11 + 2 * i), 8));
      } finally {
        stop = true;
      }
      besideMedia.ranges += (await background)[1];
    }
    const rate = (runs: IngestResult[]) => runs.reduce((n, r) => n + r.events, 0) / runs.reduce((t, r) => t + r.seconds, 0);
    return {
      seconds: round((performance.now() - started) / 1000, 1),
      get: { relay: relayGet, nginx: nginxGet },
      ranges: { ...summarize(latencies), requestsPerSecond: round(ranges / seconds, 1) },
      upload: uploaded,
      ingest: { alone, beside, changePercent: round((rate(beside) / rate(alone) - 1) * 100, 1), besideMedia },
    };
  } finally {
    await relay.stop();
    rmSync(files, { recursive: true, force: true });
    rmSync(dirname(relay.db), { recursive: true, force: true });
  }
}

export function mediaTargets(r: MediaResult): [string, string, boolean | undefined][] {
  const nginx = typeof r.get.nginx === 'string' ? undefined : r.get.nginx;
  const ratio = nginx && r.get.relay.mibPerSecond / nginx.mibPerSecond;
  return [
    ['GET of a 20 MiB blob, 16 clients ≥ 0.8× nginx', ratio === undefined ? `${r.get.relay.mibPerSecond} MiB/s; nginx ${r.get.nginx as string}`
      : `${r.get.relay.mibPerSecond} vs ${nginx!.mibPerSecond} MiB/s = ${round(ratio)}×`, ratio === undefined ? undefined : ratio >= 0.8],
    ['256 KiB ranges of a 100 MiB video, 16 clients: p99 ≤ 5 ms', `${round(r.ranges.p99)} ms`, r.ranges.p99 <= 5],
    ['upload of a 100 MiB blob ≥ 150 MiB/s', `${r.upload.mibPerSecond} MiB/s`, r.upload.mibPerSecond >= 150],
    ['relay RSS growth during the upload ≤ 32 MiB', `${r.upload.rssGrowthMiB} MiB`, r.upload.rssGrowthMiB <= 32],
    // Faster beside media is noise, not a miss.
    ['ingest events/s with media beside it within 10%', `${r.ingest.changePercent > 0 ? '+' : ''}${r.ingest.changePercent}%`, r.ingest.changePercent >= -10],
  ];
}

export function mediaMarkdown(machine: Record<string, unknown>, r: MediaResult): string {
  const out: string[] = ['## powr-relay media benchmark (Blossom)', ''];
  out.push(`Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}; clients, relay and nginx share the cores. ${r.seconds} s in all.`, '');
  out.push(`### Whole GETs of a 20 MiB blob, ${CLIENTS} keep-alive clients`, '', '| server | seconds | requests | MiB/s | requests/s |', '| --- | --- | --- | --- | --- |');
  for (const t of [r.get.relay, r.get.nginx]) {
    out.push(typeof t === 'string' ? `| nginx | ${t} | | | |` : `| ${t.server} | ${t.seconds} | ${t.requests} | ${t.mibPerSecond} | ${t.requestsPerSecond} |`);
  }
  out.push('', `### 256 KiB ranges at random offsets of a 100 MiB video, ${CLIENTS} clients`, '');
  out.push(`${r.ranges.count} requests (${r.ranges.requestsPerSecond}/s); latency p50 ${round(r.ranges.p50)} ms, p99 ${round(r.ranges.p99)} ms, mean ${round(r.ranges.mean)} ms.`);
  out.push('', '### Upload of a 100 MiB blob', '');
  out.push(`${r.upload.seconds} s, ${r.upload.mibPerSecond} MiB/s; relay RSS ${r.upload.rssBeforeMiB} MiB before, growth ${r.upload.rssGrowthMiB} MiB at most while it ran.`);
  out.push('', '### Ingest (8 connections) with media traffic beside it, runs alternating', '', '| run | events | events/s | OK p50 / p99 ms |', '| --- | --- | --- | --- |');
  const row = (name: string, i: IngestResult) => `| ${name} | ${i.events} | ${Math.round(i.eventsPerSecond)} | ${round(i.ok.p50)} / ${round(i.ok.p99)} |`;
  r.ingest.alone.forEach((run, i) => out.push(row('alone', run), row('beside media', r.ingest.beside[i]!)));
  out.push('', `Beside the ingest runs: ${r.ingest.besideMedia.uploads} uploads of 20 MiB and ${r.ingest.besideMedia.ranges} range reads in all.`);
  out.push('', '### Targets', '', '| target | measured | met |', '| --- | --- | --- |');
  for (const [name, value, met] of mediaTargets(r)) out.push(`| ${name} | ${value} | ${met === undefined ? 'skipped' : met ? 'yes' : 'no'} |`);
  return out.join('\n') + '\n';
}
