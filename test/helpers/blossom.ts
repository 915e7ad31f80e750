import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { NostrEvent } from 'nostr-tools/pure';
import type { Signer } from './client.js';

export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Bytes that start like a PNG (so a type sniffer takes them for one), then random, so each call is a new blob. */
export function pngBytes(size: number): Buffer {
  const bytes = randomBytes(size);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(bytes);
  return bytes;
}

export interface TokenOptions {
  x?: string[];
  server?: string[];
  expiration?: number;
  created_at?: number;
}

/** A kind 24242 Blossom token (BUD-11). */
export function blossomToken(who: Signer, verb: string, options: TokenOptions = {}): NostrEvent {
  const now = Math.floor(Date.now() / 1000);
  return who.sign({
    kind: 24242, content: `${verb} blob`, created_at: options.created_at ?? now - 1,
    tags: [['t', verb], ['expiration', String(options.expiration ?? now + 600)], ...(options.x ?? []).map((x) => ['x', x]),
      ...(options.server ?? []).map((s) => ['server', s])],
  });
}

/** `Nostr <base64url, no padding>` as BUD-11 writes it; `base64` gives the padded standard alphabet. */
export function authorization(token: NostrEvent, encoding: 'base64url' | 'base64' = 'base64url'): string {
  return `Nostr ${Buffer.from(JSON.stringify(token)).toString(encoding)}`;
}

/** PUT /upload of `bytes` by `who` with a token naming them. */
export function upload(base: string, who: Signer, bytes: Buffer, type = 'image/png', extra: Record<string, string> = {}): Promise<Response> {
  const hash = sha256(bytes);
  return fetch(`${base}/upload`, {
    method: 'PUT', body: bytes,
    headers: { 'Content-Type': type, 'X-SHA-256': hash, Authorization: authorization(blossomToken(who, 'upload', { x: [hash] })), ...extra },
  });
}

/** PUT /media of `bytes` by `who`, with a token of `verb` (`media`) naming them (BUD-05). */
export function putMedia(base: string, who: Signer, bytes: Buffer, type: string, verb = 'media'): Promise<Response> {
  const hash = sha256(bytes);
  return fetch(`${base}/media`, {
    method: 'PUT', body: bytes,
    headers: { 'Content-Type': type, 'X-SHA-256': hash, Authorization: authorization(blossomToken(who, verb, { x: [hash] })) },
  });
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * A request with node:http, for what fetch cannot do: send headers and only part of a body (or none),
 * and read the answer while the body is unsent. `write` gets the request to write to (and end, or not).
 */
export function rawRequest(url: string, method: string, headers: Record<string, string>, write: (req: import('node:http').ClientRequest) => void): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    write(req);
  });
}

/** Polls `check` until it holds or `timeoutMs` passes; resolves with its last value. */
export async function eventually<T>(check: () => Promise<T> | T, ok: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
}
