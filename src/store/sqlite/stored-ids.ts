import { createHash } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import type { StoredSet } from '../port.js';

/**
 * The set of stored event ids in brief: how many, and NIP-77's fingerprint of them (SHA-256 of their
 * sum as 256-bit little-endian integers modulo 2^256, followed by the count as a varint, cut to 16
 * bytes). The sum does not depend on order, and an id taken out is subtracted, so the writer keeps it
 * up to date in the transaction that stores or removes an event, for the price of two statements;
 * nodes holding the same ids show the same digest, whatever order they got them in.
 */

const ID_BYTES = 32;
const LIMBS = ID_BYTES / 4;

/** `sum` ± `id` modulo 2^256, in place: eight 32-bit limbs with carry (or borrow). */
export function addToSum(sum: Buffer, id: Uint8Array, sign: 1 | -1): void {
  const other = Buffer.from(id.buffer, id.byteOffset, ID_BYTES);
  let carry = 0;
  for (let i = 0; i < LIMBS; i++) {
    const next = sum.readUInt32LE(i * 4) + sign * other.readUInt32LE(i * 4) + carry;
    carry = next > 0xffffffff ? 1 : next < 0 ? -1 : 0;
    sum.writeUInt32LE(next - carry * 0x100000000, i * 4);
  }
}

/** Negentropy's varint: base 128, most significant group first, the high bit on all but the last. */
function varint(n: number): Buffer {
  const groups = [n % 128];
  for (let rest = Math.floor(n / 128); rest > 0; rest = Math.floor(rest / 128)) groups.unshift((rest % 128) | 128);
  return Buffer.from(groups);
}

/** The digest of a set given its sum and count (negentropy's fingerprint, hex). */
export function fingerprint(sum: Buffer, count: number): string {
  return createHash('sha256').update(sum).update(varint(count)).digest().subarray(0, 16).toString('hex');
}

/** The stored ids' figures kept in `stored_ids`, and recounted from `nostr_events`. */
export class StoredIds {
  private readonly sql;

  constructor(private readonly db: Database) {
    const p = (s: string) => db.prepare(s);
    this.sql = {
      kept: p('SELECT id_sum AS sum, id_count AS count FROM stored_ids'),
      keep: p('UPDATE stored_ids SET id_sum = ?, id_count = ?'),
      // The id index holds every id and nothing else: the smallest thing to read them all from.
      allIds: p('SELECT id FROM nostr_events INDEXED BY events_by_id').pluck(),
      expiredIds: p('SELECT id FROM nostr_events INDEXED BY events_by_expiry WHERE expires_at <= ?').pluck(),
    };
  }

  /** Counts an id in (stored) or out (removed); call in the transaction that stores or removes it. */
  change(id: Buffer, sign: 1 | -1): void {
    const row = this.sql.kept.get() as { sum: Buffer | null; count: number | null };
    if (row.sum === null) return; // not counted yet: fillIfUnknown recounts from the rows
    addToSum(row.sum, id, sign);
    this.sql.keep.run(row.sum, row.count! + sign);
  }

  /** The figures kept by the writer; undefined until they were first counted. */
  kept(): StoredSet | undefined {
    const row = this.sql.kept.get() as { sum: Buffer | null; count: number | null };
    return row.sum === null ? undefined : { stored: row.count!, digest: fingerprint(row.sum, row.count!) };
  }

  /**
   * Counts the ids from the rows (a full walk of the id index): every stored id, and those served at
   * `now` (without the expired ones, which stay stored until the next purge but are served nowhere, so
   * nodes purging at different moments still agree). Call in a read transaction: one snapshot.
   */
  recount(now: number): { rows: StoredSet; served: StoredSet } {
    const rows = this.sumOf(this.sql.allIds.iterate() as IterableIterator<Buffer>);
    const expired = this.sumOf(this.sql.expiredIds.iterate(now) as IterableIterator<Buffer>);
    const served = Buffer.from(rows.sum);
    addToSum(served, expired.sum, -1);
    const servedCount = rows.count - expired.count;
    return {
      rows: { stored: rows.count, digest: fingerprint(rows.sum, rows.count) },
      served: { stored: servedCount, digest: fingerprint(served, servedCount) },
    };
  }

  private sumOf(ids: Iterable<Buffer>): { sum: Buffer; count: number } {
    const sum = Buffer.alloc(ID_BYTES);
    let count = 0;
    for (const id of ids) {
      addToSum(sum, id, 1);
      count++;
    }
    return { sum, count };
  }

  /** Counts the kept figures from the rows when a migration left them unknown; returns whether it did. */
  fillIfUnknown(): boolean {
    return this.db.transaction(() => {
      if (this.kept() !== undefined) return false;
      const { sum, count } = this.sumOf(this.sql.allIds.iterate() as IterableIterator<Buffer>);
      this.sql.keep.run(sum, count);
      return true;
    }).immediate();
  }
}
