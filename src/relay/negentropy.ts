import type { nip77 } from 'nostr-tools';
import type { Config } from '../config/settings.js';
import { parseFilter, type Filter } from '../protocol/filter.js';
import { frames, type ClientMessage } from '../protocol/messages.js';
import type { QueryOptions, StoragePort } from '../store/port.js';

/** What a connection lends its negentropy sessions: its storage, access rules and socket. */
export interface NegentropyHost {
  config: Config;
  store: StoragePort;
  send(frame: string): void;
  /** Sends a refusal, with a fresh AUTH challenge first when authenticating would lift it. */
  refuse(frame: string, reason: string): void;
  /** The read policies' answer to these filters, as for REQ. */
  readRefusal(filters: readonly Filter[]): string | undefined;
  queryOptions(): QueryOptions;
  /** The client-facing reason a storage read failed (time budget, or anything else). */
  readFailure(err: unknown, subId: string): string;
}

type NegentropyMessage = Extract<ClientMessage, { type: 'NEG-OPEN' | 'NEG-MSG' | 'NEG-CLOSE' }>;

const unixNow = () => Math.floor(Date.now() / 1000);
/**
 * Open negentropy sessions per connection: each keeps its pairs in memory (up to
 * negentropyMaxRecords), so a few, not one per subscription slot; syncing clients use one at a time.
 */
const MAX_OPEN_SESSIONS = 4;
/** A negentropy message holding only the protocol version byte (V1, 0x61). */
const PROTOCOL_VERSION_ONLY = '61';

const MODE_FINGERPRINT = 1;
const MODE_ID_LIST = 2;
const ID_BYTES = 32;
const FINGERPRINT_BYTES = 16;
/** Stands in for a fingerprint: no set of events hashes to it (a chance of 2^-128). */
const NO_FINGERPRINT = Buffer.alloc(FINGERPRINT_BYTES, 0xff);

/**
 * nostr-tools' `reconcile` is written for the initiating side: given a range as an id list it works out
 * have/need itself and answers nothing for that range, where the responding side must answer with its
 * own ids. A range whose fingerprint does not match gets exactly that answer from it (its ids, or
 * finer fingerprints when there are many), so each id-list range of the client's message is rewritten
 * as a mismatching fingerprint. Bounds are copied byte for byte, so their delta encoding is kept.
 * Throws on a malformed message.
 */
export function idListsAsMismatches(hex: string): string {
  const input = Buffer.from(hex, 'hex');
  let at = 0;
  const take = (n: number) => {
    if (at + n > input.length) throw new Error('negentropy message ends prematurely');
    at += n;
    return input.subarray(at - n, at);
  };
  const varint = () => {
    let value = 0;
    for (;;) {
      const byte = take(1)[0]!;
      value = value * 128 + (byte & 0x7f);
      if ((byte & 0x80) === 0) return value;
    }
  };
  const out: Buffer[] = [take(1)];
  while (at < input.length) {
    const boundStart = at;
    varint(); // timestamp
    take(varint()); // id prefix
    out.push(input.subarray(boundStart, at));
    const modeStart = at;
    const mode = varint();
    if (mode === MODE_ID_LIST) {
      take(varint() * ID_BYTES);
      out.push(Buffer.from([MODE_FINGERPRINT]), NO_FINGERPRINT);
      continue;
    }
    if (mode === MODE_FINGERPRINT) take(FINGERPRINT_BYTES);
    out.push(input.subarray(modeStart, at));
  }
  return Buffer.concat(out).toString('hex');
}

/**
 * NIP-77 on one connection: each NEG-OPEN seals the (created_at, id) pairs of the stored events its
 * filter matches, read like a REQ on a reader thread (read rules apply), into a negentropy storage
 * that answers that session's NEG-MSGs until NEG-CLOSE. The protocol itself is nostr-tools' (the same
 * as strfry's), which answers as the server side as well as the client side.
 */
export class NegentropySessions {
  private readonly sessions = new Map<string, nip77.Negentropy>();

  constructor(private readonly host: NegentropyHost) {}

  get size(): number {
    return this.sessions.size;
  }

  async handle(msg: NegentropyMessage): Promise<void> {
    if (!this.host.config.negentropy) {
      this.host.send(frames.notice('unsupported: NIP-77 negentropy is turned off on this relay'));
      return;
    }
    switch (msg.type) {
      case 'NEG-OPEN':
        return this.open(msg.subId, msg.filter, msg.message);
      case 'NEG-MSG': {
        const negentropy = this.sessions.get(msg.subId);
        if (!negentropy) this.host.send(frames.negErr(msg.subId, 'closed: no open negentropy session with this id'));
        else this.reply(msg.subId, negentropy, msg.message);
        return;
      }
      case 'NEG-CLOSE':
        this.sessions.delete(msg.subId);
        return;
    }
  }

  clear(): void {
    this.sessions.clear();
  }

  /** A NEG-OPEN with the id of an open session replaces it (NIP-77). */
  private async open(subId: string, rawFilter: unknown, message: string): Promise<void> {
    const { config, store } = this.host;
    this.sessions.delete(subId);
    if (this.sessions.size >= MAX_OPEN_SESSIONS) {
      this.host.send(frames.negErr(subId, `blocked: too many open negentropy sessions (max ${MAX_OPEN_SESSIONS}); send NEG-CLOSE for one`));
      return;
    }
    const parsed = parseFilter(rawFilter, config);
    if (!parsed.ok) {
      this.host.send(frames.negErr(subId, parsed.reason));
      return;
    }
    const refusal = this.host.readRefusal([parsed.value]);
    if (refusal) {
      this.host.refuse(frames.negErr(subId, refusal), refusal);
      return;
    }
    const max = config.negentropyMaxRecords;
    let items;
    try {
      // One more than allowed tells "exactly the cap" from "too many".
      items = await store.syncItems(parsed.value, unixNow(), max + 1, this.host.queryOptions());
    } catch (err) {
      this.host.send(frames.negErr(subId, this.host.readFailure(err, subId)));
      return;
    }
    if (items.length > max) {
      this.host.send(frames.negErr(subId,
        `blocked: the filter matches more than ${max} events; narrow it (since/until, kinds, authors) and sync in parts`));
      return;
    }
    // nostr-tools' index (about 4 MiB) loads with the first NEG-OPEN; nip77 is not exported on its own.
    const { nip77 } = await import('nostr-tools');
    const storage = new nip77.NegentropyStorageVector();
    for (const [createdAt, id] of items) storage.insert(createdAt, id);
    storage.seal();
    const negentropy = new nip77.Negentropy(storage);
    this.sessions.set(subId, negentropy);
    this.reply(subId, negentropy, message);
  }

  private reply(subId: string, negentropy: nip77.Negentropy, message: string): void {
    let answer: string | null;
    try {
      answer = negentropy.reconcile(idListsAsMismatches(message));
    } catch (err) {
      this.sessions.delete(subId);
      this.host.send(frames.negErr(subId, `invalid: ${(err as Error).message}`));
      return;
    }
    // The server side always answers: the version byte alone (no ranges) tells the client it is done.
    this.host.send(frames.negMsg(subId, answer ?? PROTOCOL_VERSION_ONLY));
  }
}
