import { createHash } from 'node:crypto';
import type { Signer } from './client.js';
import type { RunningRelay } from './relay.js';

/** NIP-86 relay management over HTTP with NIP-98 authorization, as an admin's tool sends it. */

export interface Nip98Options {
  url?: string;
  method?: string;
  payload?: string;
  created_at?: number;
  kind?: number;
}

/** A NIP-98 Authorization header for `body`, signed by `who`; options spoil one field. */
export function authorization(relay: RunningRelay, who: Signer, body: string, o: Nip98Options = {}): string {
  const event = who.sign({
    kind: o.kind ?? 27235, created_at: o.created_at ?? Math.floor(Date.now() / 1000), content: '',
    tags: [['u', o.url ?? relay.httpUrl], ['method', o.method ?? 'POST'], ['payload', o.payload ?? createHash('sha256').update(body).digest('hex')]],
  });
  return `Nostr ${Buffer.from(JSON.stringify(event)).toString('base64')}`;
}

export interface Answer {
  status: number;
  body: { result?: unknown; error?: string };
}

export async function post(relay: RunningRelay, body: string, auth: string | undefined, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(relay.httpUrl, {
    method: 'POST', body,
    headers: { 'Content-Type': 'application/nostr+json+rpc', ...(auth === undefined ? {} : { Authorization: auth }), ...headers },
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

/** One NIP-86 call signed by `who`. */
export function call(relay: RunningRelay, who: Signer, method: string, params: unknown[] = []): Promise<Answer> {
  const body = JSON.stringify({ method, params });
  return post(relay, body, authorization(relay, who, body));
}
