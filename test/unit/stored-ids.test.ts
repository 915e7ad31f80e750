import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { nip77 } from 'nostr-tools';
import { openDatabase } from '../../src/store/sqlite/database.js';
import { StoredIds, addLimbs, fingerprint } from '../../src/store/sqlite/stored-ids.js';
import { tempDb } from '../helpers/relay.js';
import { differing } from '../../src/cli/cluster-check.js';

/** The stored-set digest's arithmetic, against nostr-tools' negentropy fingerprint. */

function negentropyFingerprint(ids: Buffer[]): string {
  const storage = new nip77.NegentropyStorageVector();
  ids.forEach((id, i) => storage.insert(i, id.toString('hex')));
  storage.seal();
  return Buffer.from(storage.fingerprint(0, ids.length)).toString('hex');
}

function digestOf(ids: Buffer[]): string {
  const limbs = new Array<number>(8).fill(0);
  for (const id of ids) addLimbs(limbs, id, 1);
  return fingerprint(limbs, ids.length).digest;
}

describe('stored-set digest', () => {
  it('is NIP-77\'s fingerprint of the ids, for empty, small and large sets (counts past one varint byte)', () => {
    for (const n of [0, 1, 3, 127, 128, 300, 20_000]) {
      const ids = Array.from({ length: n }, () => randomBytes(32));
      expect(digestOf(ids), `${n} ids`).toBe(negentropyFingerprint(ids));
    }
  });

  it('does not depend on order, and taking an id out undoes adding it (limbs going negative, carries past 2^256)', () => {
    const ids = [Buffer.alloc(32, 0xff), Buffer.alloc(32, 0xff), Buffer.alloc(32, 0), ...Array.from({ length: 50 }, () => randomBytes(32))];
    expect(digestOf(ids)).toBe(negentropyFingerprint(ids));
    expect(digestOf([...ids].reverse())).toBe(digestOf(ids));
    const limbs = new Array<number>(8).fill(0);
    for (const id of ids.slice(3)) addLimbs(limbs, id, 1);
    for (const id of ids.slice(0, 3)) addLimbs(limbs, id, -1);
    // Two 0xff..ff ids (2^256 - 1 each) and a zero one taken out without being added: the limbs go
    // negative, and the sum wraps around to the others' sum plus 2.
    const rest = ids.slice(3);
    const wrapped = [...rest, Buffer.from('02'.padEnd(64, '0'), 'hex')];
    expect(fingerprint(limbs, rest.length + 1).digest).toBe(negentropyFingerprint(wrapped));
    for (const id of ids.slice(0, 3)) addLimbs(limbs, id, 1);
    for (const id of rest) addLimbs(limbs, id, -1);
    expect(limbs).toEqual(new Array(8).fill(0));
  });

  it('kept in the database as limb sums, it agrees with a recount as ids come and go (limbs going negative included)', () => {
    const db = openDatabase(tempDb());
    const storedIds = new StoredIds(db);
    const insert = db.prepare("INSERT INTO nostr_events (seq, id, pubkey, kind, created_at, expires_at, received_at, json) VALUES (?, ?, ?, 1, 0, ?, 0, '{}')");
    const remove = db.prepare('DELETE FROM nostr_events WHERE id = ?');
    const ids = [Buffer.alloc(32, 0xff), ...Array.from({ length: 200 }, () => randomBytes(32))];
    let seq = 0;
    const store = (batch: Buffer[], expiresAt: number | null = null) => db.transaction(() => {
      for (const id of batch) {
        insert.run(++seq, id, randomBytes(32), expiresAt);
        storedIds.change(id, 1);
      }
      storedIds.flush();
    })();
    // Counted from the rows at first (a database from before the table), then kept.
    store(ids.slice(0, 100));
    db.prepare('UPDATE stored_ids SET s0 = NULL').run();
    expect(storedIds.kept()).toBeUndefined();
    expect(storedIds.fillIfUnknown()).toBe(true);
    expect(storedIds.fillIfUnknown()).toBe(false);
    store(ids.slice(100));
    db.transaction(() => {
      for (const id of ids.slice(0, 150)) {
        remove.run(id);
        storedIds.change(id, -1);
      }
      storedIds.flush();
    })();
    // A transaction that rolled back leaves nothing behind.
    expect(() => db.transaction(() => {
      storedIds.change(randomBytes(32), 1);
      throw new Error('rolled back');
    })()).toThrow('rolled back');
    storedIds.forget();
    const { rows, served } = db.transaction(() => storedIds.recount(0))();
    expect(rows).toEqual({ stored: 51, digest: negentropyFingerprint(ids.slice(150)) });
    expect(served).toEqual(rows);
    expect(storedIds.kept()).toEqual(rows);

    // Several pages of ids, and some expired at the time asked for: stored, but not served.
    const many = Array.from({ length: 25_000 }, () => randomBytes(32));
    const expiring = Array.from({ length: 30 }, () => randomBytes(32));
    store(many);
    store(expiring, 1000);
    const stored = [...ids.slice(150), ...many, ...expiring];
    const later = db.transaction(() => storedIds.recount(1000))();
    expect(later.rows).toEqual({ stored: stored.length, digest: negentropyFingerprint(stored) });
    expect(later.served).toEqual({ stored: stored.length - 30, digest: negentropyFingerprint([...ids.slice(150), ...many]) });
    expect(db.transaction(() => storedIds.recount(999))().served).toEqual(later.rows);
    expect(storedIds.kept()).toEqual(later.rows);
    db.close();
  });

  it('keeps exact sums past 2^53 (millions of ids), where a number bound as a REAL would round', () => {
    const db = openDatabase(tempDb());
    const storedIds = new StoredIds(db);
    // Five million ids' worth of limb sums, each about 2^31 an id: every limb past 2^53.
    const big = 5_000_000n * 2n ** 31n + 12_345n;
    db.prepare('UPDATE stored_ids SET s0 = ?, s1 = ?, s2 = ?, s3 = ?, s4 = ?, s5 = ?, s6 = ?, s7 = ?, n = ?')
      .run(big, big, big, big, big, big, big, big, 5_000_000n);
    const limbs = new Array<bigint>(8).fill(big);
    for (let i = 0; i < 50; i++) {
      const id = randomBytes(32);
      db.transaction(() => {
        storedIds.change(id, 1);
        storedIds.flush();
      })();
      for (let l = 0; l < 8; l++) limbs[l]! += BigInt(id.readUInt32LE(l * 4));
    }
    expect(storedIds.kept()).toEqual(fingerprint(limbs, 5_000_050));
    db.close();
  });

  it('names the nodes outside the largest group, or every node when no group is largest', () => {
    const node = (url: string, digest: string, stored = 5) => ({ url, digest, stored });
    expect(differing([node('a', 'x'), node('b', 'x'), node('c', 'x')])).toEqual([]);
    expect(differing([node('a', 'x'), node('b', 'y'), node('c', 'x')])).toEqual([{ url: 'b' }]);
    expect(differing([node('a', 'x'), node('b', 'y')])).toEqual([{ url: 'a' }, { url: 'b' }]);
    expect(differing([node('a', 'x'), node('b', 'y'), node('c', 'z')]).length).toBe(3);
    expect(differing([node('a', 'x'), node('b', 'x', 6), node('c', 'x')])).toEqual([{ url: 'b' }]);
  });
});
