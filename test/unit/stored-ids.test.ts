import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { nip77 } from 'nostr-tools';
import { openDatabase } from '../../src/store/sqlite/database.js';
import { StoredIds, addToSum, fingerprint } from '../../src/store/sqlite/stored-ids.js';
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
  const sum = Buffer.alloc(32);
  for (const id of ids) addToSum(sum, id, 1);
  return fingerprint(sum, ids.length);
}

describe('stored-set digest', () => {
  it('is NIP-77\'s fingerprint of the ids, for empty, small and large sets (counts past one varint byte)', () => {
    for (const n of [0, 1, 3, 127, 128, 300, 20_000]) {
      const ids = Array.from({ length: n }, () => randomBytes(32));
      expect(digestOf(ids), `${n} ids`).toBe(negentropyFingerprint(ids));
    }
  });

  it('does not depend on order, and taking an id out undoes adding it (carries and borrows across every limb)', () => {
    const ids = [Buffer.alloc(32, 0xff), Buffer.alloc(32, 0), Buffer.from('01'.padEnd(64, '0'), 'hex'), ...Array.from({ length: 50 }, () => randomBytes(32))];
    const sum = Buffer.alloc(32);
    for (const id of ids) addToSum(sum, id, 1);
    expect(fingerprint(sum, ids.length)).toBe(digestOf([...ids].reverse()));
    const removed = ids.splice(0, 3);
    for (const id of removed) addToSum(sum, id, -1);
    expect(fingerprint(sum, ids.length)).toBe(negentropyFingerprint(ids));
    for (const id of ids) addToSum(sum, id, -1);
    expect(sum.equals(Buffer.alloc(32))).toBe(true);
  });

  it('kept in the database as limb sums, it agrees with a recount as ids come and go (limbs going negative included)', () => {
    const db = openDatabase(tempDb());
    const storedIds = new StoredIds(db);
    const insert = db.prepare("INSERT INTO nostr_events (seq, id, pubkey, kind, created_at, received_at, json) VALUES (?, ?, ?, 1, 0, 0, '{}')");
    const remove = db.prepare('DELETE FROM nostr_events WHERE id = ?');
    const ids = [Buffer.alloc(32, 0xff), ...Array.from({ length: 200 }, () => randomBytes(32))];
    let seq = 0;
    const store = (batch: Buffer[]) => db.transaction(() => {
      for (const id of batch) {
        insert.run(++seq, id, randomBytes(32));
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
