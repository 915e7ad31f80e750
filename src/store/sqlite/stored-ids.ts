import { createHash } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import type { StoredSet } from '../port.js';

/**
 * The set of stored event ids in brief: how many, and NIP-77's fingerprint of them (SHA-256 of their
 * sum as 256-bit little-endian integers modulo 2^256, followed by the count as a varint, cut to 16
 * bytes). The sum does not depend on order, and an id taken out is subtracted, so the writer keeps it
 * up to date in the transaction that stores or removes an event; nodes holding the same ids show the
 * same digest, whatever order they got them in. Sums are kept as the sums of the ids' eight 32-bit
 * limbs, without carries: adding an id is then plain additions, in JavaScript and in SQL alike.
 */

const ID_BYTES = 32;
const LIMBS = ID_BYTES / 4;
const MODULUS = 1n << 256n;
/**
 * Changes summed in memory before they are written anyway, inside the transaction: each pending limb
 * stays below 2^53 (exact in a JS number) however large one transaction gets.
 */
const MOST_PENDING = 100_000;
/** Ids a recount reads at once; each limb sum of a page stays exact in a JS number. */
const ID_PAGE = 10_000;

/** Adds (or takes out) the limbs of ids laid end to end in `ids` to limb sums. */
export function addLimbs(limbs: number[], ids: Buffer, sign: 1 | -1): void {
  for (let offset = 0; offset < ids.length; offset += ID_BYTES) {
    for (let i = 0; i < LIMBS; i++) limbs[i]! += sign * ids.readUInt32LE(offset + i * 4);
  }
}

/** Negentropy's varint: base 128, most significant group first, the high bit on all but the last. */
function varint(n: number): Buffer {
  const groups = [n % 128];
  for (let rest = Math.floor(n / 128); rest > 0; rest = Math.floor(rest / 128)) groups.unshift((rest % 128) | 128);
  return Buffer.from(groups);
}

/**
 * The digest of a set from its ids' limb sums (limb i weighs 2^(32 i); they may have gone negative as
 * ids were taken out, only their total modulo 2^256 is the ids' sum) and its count.
 */
export function fingerprint(limbs: readonly (bigint | number)[], count: number): StoredSet {
  let total = limbs.reduce<bigint>((acc, limb, i) => acc + (BigInt(limb) << BigInt(32 * i)), 0n) % MODULUS;
  if (total < 0n) total += MODULUS;
  const sum = Buffer.alloc(ID_BYTES);
  for (let i = 0; i < LIMBS; i++) sum.writeUInt32LE(Number((total >> BigInt(32 * i)) & 0xffffffffn), i * 4);
  return { stored: count, digest: createHash('sha256').update(sum).update(varint(count)).digest().subarray(0, 16).toString('hex') };
}

/** The stored ids' figures kept in `stored_ids`, and recounted from `nostr_events`. */
export class StoredIds {
  private readonly sql;
  /** Limb sums and count of the changes not written yet (see change). */
  private readonly pending = new Array<number>(LIMBS + 1).fill(0);
  private pendingChanges = 0;

  constructor(private readonly db: Database) {
    const p = (s: string) => db.prepare(s);
    this.sql = {
      // BigInts: a limb sum passes 2^53 once there are two million ids.
      kept: p('SELECT s0, s1, s2, s3, s4, s5, s6, s7, n FROM stored_ids').raw().safeIntegers(),
      // NULL stays NULL: nothing is kept until fillIfUnknown has counted the rows.
      change: p('UPDATE stored_ids SET s0 = s0 + ?, s1 = s1 + ?, s2 = s2 + ?, s3 = s3 + ?, s4 = s4 + ?, s5 = s5 + ?, s6 = s6 + ?, s7 = s7 + ?, n = n + ?'),
      keep: p('UPDATE stored_ids SET s0 = ?, s1 = ?, s2 = ?, s3 = ?, s4 = ?, s5 = ?, s6 = ?, s7 = ?, n = ?'),
      // A page of the id index (every id and nothing else: the smallest thing to read them from) as one
      // blob of ids end to end, which reads in a third of the time of a row per id.
      idPage: p(`SELECT unhex(group_concat(hex(id), '')) AS ids, max(id) AS last, count(*) AS n
        FROM (SELECT id FROM nostr_events INDEXED BY events_by_id WHERE id > ? ORDER BY id LIMIT ${ID_PAGE})`),
      expiredIds: p(`SELECT unhex(group_concat(hex(id), '')) AS ids, count(*) AS n
        FROM nostr_events INDEXED BY events_by_expiry WHERE expires_at <= ?`),
    };
  }

  /**
   * Counts an id in (stored) or out (removed); call in the transaction that stores or removes it, and
   * flush() before that transaction commits. Summed in memory meanwhile: one UPDATE per transaction
   * rather than one per event (which cost 2.5 µs of a 24 µs apply, measured).
   */
  change(id: Buffer, sign: 1 | -1): void {
    addLimbs(this.pending, id, sign);
    this.pending[LIMBS]! += sign;
    if (++this.pendingChanges >= MOST_PENDING) this.flush();
  }

  /** Writes the changes counted since the last flush; call inside the transaction that made them. */
  flush(): void {
    if (this.pendingChanges === 0) return;
    // As BigInts: a number binds as a REAL, and the limb sums pass 2^53 past four million ids.
    this.sql.change.run(...this.pending.map((v) => BigInt(v)));
    this.forget();
  }

  /** Drops the changes not flushed: their transaction rolled back. */
  forget(): void {
    this.pending.fill(0);
    this.pendingChanges = 0;
  }

  /** The figures kept by the writer; undefined until they were first counted. */
  kept(): StoredSet | undefined {
    const row = this.sql.kept.get() as (bigint | null)[];
    if (row.some((v) => v === null)) return undefined;
    return fingerprint(row.slice(0, LIMBS) as bigint[], Number(row[LIMBS]));
  }

  /**
   * Counts the ids from the rows (a full walk of the id index): every stored id, and those served at
   * `now` (without the expired ones, which stay stored until the next purge but are served nowhere, so
   * nodes purging at different moments still agree). Call in a read transaction: one snapshot.
   */
  recount(now: number): { rows: StoredSet; served: StoredSet } {
    const rows = this.limbSums();
    const expired = this.sql.expiredIds.get(now) as { ids: Buffer | null; n: number };
    const served = [...rows.limbs];
    // A million ids at a time: their limb sums stay below 2^53, exact as numbers.
    for (let at = 0; expired.ids && at < expired.ids.length; at += 32 * 1_000_000) {
      const chunk = new Array<number>(LIMBS).fill(0);
      addLimbs(chunk, expired.ids.subarray(at, at + 32 * 1_000_000), 1);
      for (let i = 0; i < LIMBS; i++) served[i]! -= BigInt(chunk[i]!);
    }
    return { rows: fingerprint(rows.limbs, rows.count), served: fingerprint(served, rows.count - expired.n) };
  }

  /** Every stored id's limb sums and count, read page by page. */
  private limbSums(): { limbs: bigint[]; count: number } {
    const limbs = new Array<bigint>(LIMBS).fill(0n);
    let count = 0;
    for (let after: Buffer = Buffer.alloc(0); ;) {
      const page = this.sql.idPage.get(after) as { ids: Buffer | null; last: Buffer | null; n: number };
      if (!page.ids) break;
      const sums = new Array<number>(LIMBS).fill(0);
      addLimbs(sums, page.ids, 1);
      for (let i = 0; i < LIMBS; i++) limbs[i]! += BigInt(sums[i]!);
      count += page.n;
      if (page.n < ID_PAGE) break;
      after = page.last!;
    }
    return { limbs, count };
  }

  /** Counts the kept figures from the rows when a migration left them unknown; returns whether it did. */
  fillIfUnknown(): boolean {
    return this.db.transaction(() => {
      if (this.kept() !== undefined) return false;
      const { limbs, count } = this.limbSums();
      this.sql.keep.run(...limbs, count);
      return true;
    }).immediate();
  }
}
