import { finalizeEvent, generateSecretKey, getPublicKey, type EventTemplate, type NostrEvent } from 'nostr-tools/pure';
import WebSocket from 'ws';

export type Frame = [string, ...unknown[]];

/** A bare WebSocket client that records every frame, for asserting on exact relay messages. */
export class RawClient {
  readonly frames: Frame[] = [];
  private waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  private closedWith: number | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      this.frames.push(frame);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(frame)) return true;
        w.resolve(frame);
        return false;
      });
    });
    ws.on('close', (code) => (this.closedWith = code));
  }

  static connect(url: string, options?: WebSocket.ClientOptions): Promise<RawClient> {
    const ws = new WebSocket(url, options);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new RawClient(ws)));
      ws.once('error', reject);
    });
  }

  get closeCode(): number | undefined {
    return this.closedWith;
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The first frame (already received or future) that satisfies `match`. */
  next(match: (f: Frame) => boolean, timeoutMs = 5000, from = 0): Promise<Frame> {
    const seen = this.frames.slice(from).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`)), timeoutMs);
      this.waiters.push({ match, resolve: (f) => (clearTimeout(timer), resolve(f)) });
    });
  }

  /** The latest NIP-42 challenge the relay sent (on connect, or with an auth-required: answer). */
  async challenge(): Promise<string> {
    const latest = this.frames.findLast((f) => f[0] === 'AUTH');
    return (latest ?? (await this.next((f) => f[0] === 'AUTH')))[1] as string;
  }

  /** Authenticates as `who` (NIP-42); resolves with the OK: [accepted, message]. */
  async auth(who: Signer, relayUrl: string): Promise<[boolean, string]> {
    const event = who.sign({ kind: 22242, content: '', tags: [['relay', relayUrl], ['challenge', await this.challenge()]],
      created_at: Math.floor(Date.now() / 1000) });
    const from = this.frames.length;
    this.send(['AUTH', event]);
    const ok = await this.next((f) => f[0] === 'OK' && f[1] === event.id, 5000, from);
    return [ok[2] as boolean, ok[3] as string];
  }

  /** Sends COUNT; resolves with the count, or throws with the CLOSED message. */
  async count(subId: string, ...filters: unknown[]): Promise<number> {
    const from = this.frames.length;
    this.send(['COUNT', subId, ...filters]);
    const end = await this.next((f) => (f[0] === 'COUNT' || f[0] === 'CLOSED') && f[1] === subId, 5000, from);
    if (end[0] === 'CLOSED') throw new Error(String(end[2]));
    return (end[2] as { count: number }).count;
  }

  /** Sends EVENT and resolves with its OK: [accepted, message]. */
  async publish(event: NostrEvent | Record<string, unknown>, timeoutMs = 5000): Promise<[boolean, string]> {
    const from = this.frames.length;
    this.send(['EVENT', event]);
    const ok = await this.next((f) => f[0] === 'OK' && f[1] === event.id, timeoutMs, from);
    return [ok[2] as boolean, ok[3] as string];
  }

  /** A one-shot fetch: REQ, the events before EOSE, then CLOSE. */
  async req(subId: string, ...filters: unknown[]): Promise<NostrEvent[]> {
    const events = await this.subscribe(subId, ...filters);
    this.send(['CLOSE', subId]);
    return events;
  }

  /** Sends REQ and resolves with the events received before EOSE; the subscription stays open. */
  async subscribe(subId: string, ...filters: unknown[]): Promise<NostrEvent[]> {
    const from = this.frames.length;
    this.send(['REQ', subId, ...filters]);
    const end = await this.next((f) => (f[0] === 'EOSE' || f[0] === 'CLOSED') && f[1] === subId, 5000, from);
    if (end[0] === 'CLOSED') throw new Error(String(end[2]));
    return this.frames
      .slice(from, this.frames.indexOf(end))
      .filter((f) => f[0] === 'EVENT' && f[1] === subId)
      .map((f) => f[2] as NostrEvent);
  }

  /** Sends REQ expecting refusal; resolves with the CLOSED message. */
  async refused(subId: string, ...filters: unknown[]): Promise<string> {
    const from = this.frames.length;
    this.send(['REQ', subId, ...filters]);
    const end = await this.next((f) => (f[0] === 'EOSE' || f[0] === 'CLOSED') && f[1] === subId, 5000, from);
    if (end[0] !== 'CLOSED') throw new Error(`expected CLOSED, got ${JSON.stringify(end)}`);
    return end[2] as string;
  }

  close(): void {
    this.ws.close();
  }
}

export interface Signer {
  secretKey: Uint8Array;
  pubkey: string;
  sign(template: Partial<EventTemplate>): NostrEvent;
}

let clock = Math.floor(Date.now() / 1000) - 10_000;

/** A key pair that signs events; created_at defaults to a strictly increasing recent time. */
export function signer(): Signer {
  const secretKey = generateSecretKey();
  return {
    secretKey,
    pubkey: getPublicKey(secretKey),
    sign: (t) =>
      finalizeEvent({ kind: 1, content: '', tags: [], created_at: clock++, ...t }, secretKey),
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `get` until `ok` holds of its value, which it resolves with; fails naming `what` and the last value. */
export async function eventually<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await get();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await sleep(100);
  }
}
