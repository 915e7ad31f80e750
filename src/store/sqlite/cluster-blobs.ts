import { randomUUID } from 'node:crypto';
import { isHex64 } from '../../protocol/event.js';
import { intervalKnowingLateness, type LogEntry, type NatsLog } from '../cluster/nats-log.js';
import type { BlobMeta } from '../blobs/port.js';
import type { BlobWrite } from './messages.js';

/**
 * Cluster mode: Blossom blob metadata (an upload's owner, an owner's delete) goes through the
 * cluster's stream as typed entries (header `Powr-Entry: blob`, body the BlobWrite's JSON), applied
 * by every node's writer at its place among the writes, so every node lists and serves the same blobs.
 * The node that published one answers its caller with the outcome of its own apply. When blobs were
 * last served stays per node.
 */

export const BLOB_ENTRY = 'blob';

/** The blob metadata changes every node applies. */
export type SharedBlobWrite = Extract<BlobWrite, { op: 'add' | 'removeOwner' }>;

const isSharedBlobWrite = (write: BlobWrite): write is SharedBlobWrite => write.op === 'add' || write.op === 'removeOwner';

/** A blob entry from the stream, ready for the writer. */
export interface LoggedBlob {
  streamSeq: number;
  id: string;
  write: SharedBlobWrite;
}

export interface BlobEntryIo {
  /** The caller of a blob write this node published hears its failure. */
  fail(ref: number, message: string): void;
  /** The writer's queue is full: the stream is held back, so an entry not back yet may simply be waiting. */
  queueFull(): boolean;
  log(level: 'info' | 'error', msg: string, detail?: Record<string, unknown>): void;
}

/** As the stream's events, an entry not back within this long is answered with an error. */
const APPLY_TIMEOUT_MS = 3000;
const SWEEP_MS = APPLY_TIMEOUT_MS / 6;
const MAX_TYPE_LENGTH = 255;
/** A blurhash of 9x9 components is 166 characters. */
const MAX_BLURHASH_LENGTH = 255;

const isWhole = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** An optimised blob's NIP-94 values (PUT /media), or why they are not. */
function readMeta(raw: unknown): BlobMeta | string {
  if (raw === null || typeof raw !== 'object') return 'add\'s meta must be an object';
  const { ox, dim, blurhash, thumb, image } = raw as Record<string, unknown>;
  for (const [name, value] of Object.entries({ ox, thumb, image })) {
    if (value !== undefined && !isHex64(value)) return `add's meta.${name} must be 64 lowercase hex`;
  }
  if (dim !== undefined && (typeof dim !== 'string' || !/^\d{1,6}x\d{1,6}$/.test(dim))) return 'add\'s meta.dim must be <width>x<height>';
  if (blurhash !== undefined && (typeof blurhash !== 'string' || blurhash.length > MAX_BLURHASH_LENGTH)) return 'add\'s meta.blurhash must be a short string';
  return Object.fromEntries(Object.entries({ ox, dim, blurhash, thumb, image }).filter(([, v]) => v !== undefined)) as BlobMeta;
}

/** The entry's body as a write, or why it is not one (a foreign publisher's message). */
export function readBlobEntry(json: string): SharedBlobWrite | string {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return 'not JSON';
  }
  if (raw === null || typeof raw !== 'object') return 'not an object';
  if (raw.op === 'removeOwner') {
    const { sha256, pubkey } = raw;
    if (!isHex64(sha256) || !isHex64(pubkey)) return 'removeOwner needs sha256 and pubkey as 64 lowercase hex';
    return { op: 'removeOwner', sha256, pubkey };
  }
  if (raw.op === 'add') {
    const blob = raw.blob as Record<string, unknown> | null;
    if (blob === null || typeof blob !== 'object') return 'add needs a blob';
    const { sha256, pubkey, size, type, now } = blob;
    if (!isHex64(sha256) || !isHex64(pubkey)) return 'add needs sha256 and pubkey as 64 lowercase hex';
    if (!isWhole(size) || !isWhole(now)) return 'add needs size and now as whole numbers';
    if (typeof type !== 'string' || type.length === 0 || type.length > MAX_TYPE_LENGTH) return 'add needs a type';
    if (blob.meta === undefined) return { op: 'add', blob: { sha256, pubkey, size, type, now } };
    const meta = readMeta(blob.meta);
    return typeof meta === 'string' ? meta : { op: 'add', blob: { sha256, pubkey, size, type, now, meta } };
  }
  return `unknown op ${JSON.stringify(raw.op)}`;
}

export class ClusterBlobs {
  /** Entries this node published and not yet applied, by message id: the task waiting and since when. */
  private readonly pending = new Map<string, { ref: number; since: number; delivered?: boolean }>();
  private readonly sweep: NodeJS.Timeout;

  constructor(private readonly log: NatsLog, private readonly io: BlobEntryIo) {
    this.sweep = intervalKnowingLateness(SWEEP_MS, (late) => {
      if (!late) this.expire(Date.now() - APPLY_TIMEOUT_MS);
    });
  }

  /**
   * Publishes a blob write every node applies, for task `ref`, which is answered when this node applies
   * it; false (nothing done) for a write that stays on this node.
   */
  submit(ref: number, write: BlobWrite): boolean {
    if (!isSharedBlobWrite(write)) return false;
    const id = randomUUID();
    try {
      this.log.publishEntry(BLOB_ENTRY, id, JSON.stringify(write));
      this.pending.set(id, { ref, since: Date.now() });
    } catch (err) {
      this.io.fail(ref, (err as Error).message);
    }
    return true;
  }

  /** A blob entry from the stream, or undefined (logged) when it is malformed. */
  fromLog(entry: LogEntry): LoggedBlob | undefined {
    const write = readBlobEntry(entry.json);
    if (typeof write === 'string') {
      this.io.log('error', 'cluster stream holds a malformed blob entry; skipped', { seq: entry.seq, reason: write });
      this.claim(entry.id ?? '');
      return undefined;
    }
    const waiting = this.pending.get(entry.id ?? '');
    // Back from the stream and in the writer's queue: it gets the outcome of its apply.
    if (waiting) waiting.delivered = true;
    return { streamSeq: entry.seq, id: entry.id ?? '', write };
  }

  /** At apply time: the task of this node waiting for the entry, if any. */
  claim(id: string): number | undefined {
    const waiting = this.pending.get(id);
    this.pending.delete(id);
    return waiting?.ref;
  }

  private expire(before: number): void {
    if (this.io.queueFull()) return;
    for (const [id, waiting] of this.pending) {
      if (waiting.since >= before || waiting.delivered) continue;
      this.pending.delete(id);
      this.io.fail(waiting.ref, `the cluster's stream did not confirm the change within ${APPLY_TIMEOUT_MS / 1000} s; try again`);
    }
  }

  close(): void {
    clearInterval(this.sweep);
  }
}
