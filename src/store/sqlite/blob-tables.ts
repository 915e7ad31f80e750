import type { Database } from 'better-sqlite3';
import type { BlobEntriesQuery, BlobEntry, BlobInfo, BlobListQuery, BlobMeta, BlobRow } from '../blobs/port.js';
import type { BlobRead, BlobWrite } from './messages.js';

/**
 * A blob is hidden when its hash is banned (NIP-86 banevent names it) or, for an uploaded blob, every
 * owner is a banned pubkey; a blob the mirror cache fetched has no owner and is visible unless banned.
 * Each is a point look-up on a primary key.
 */
const HASH_BANNED = "EXISTS (SELECT 1 FROM moderation WHERE list = 'bannedEvents' AND value = b.sha256)";
const SOME_OWNER_ALLOWED = `EXISTS (SELECT 1 FROM blob_owners o WHERE o.sha256 = b.sha256
  AND NOT EXISTS (SELECT 1 FROM moderation m WHERE m.list = 'bannedPubkeys' AND m.value = o.pubkey))`;
const CACHED = 'EXISTS (SELECT 1 FROM blob_cache c WHERE c.sha256 = b.sha256)';
export const BLOB_VISIBLE = `NOT ${HASH_BANNED} AND (${SOME_OWNER_ALLOWED} OR ${CACHED})`;
/** The operator's view of a blob `b` (entries): its owners come from blob_owners' key, (sha256, pubkey). */
const ENTRY_COLUMNS = `b.sha256, b.size, b.type, b.uploaded, b.last_served AS lastServed,
  (${BLOB_VISIBLE}) AS visible,
  (SELECT group_concat(w.pubkey) FROM blob_owners w WHERE w.sha256 = b.sha256) AS owners`;
type EntryRow = Omit<BlobEntry, 'visible' | 'owners'> & { visible: number; owners: string | null };

/** The optimisation's tags of a blob (the optimised-media migration); NULL for a blob stored as sent. */
const META_COLUMNS = ['ox', 'dim', 'blurhash', 'thumb', 'image'] as const satisfies readonly (keyof BlobMeta)[];
const META = META_COLUMNS.map((c) => `b.${c}`).join(', ');

/** A row with its NULL columns left out, as the port's optional fields are. */
function withoutNulls<T extends object>(row: T): T {
  return Object.fromEntries(Object.entries(row).filter(([, v]) => v !== null)) as T;
}

/**
 * The Blossom blob metadata (the blobs migration): `blobs` by hash, `blob_owners` by (hash, pubkey), and
 * `blob_owners_by_time` (pubkey, uploaded, sha256) for a pubkey's list newest first and its quota.
 * Writes run on the writer thread, reads on the readers; values in and out are plain JSON.
 */
export class BlobTables {
  private readonly sql;

  constructor(db: Database) {
    const p = (s: string) => db.prepare(s);
    this.sql = {
      describe: p(`SELECT b.sha256, b.size, b.type, b.uploaded, ${META}, (${BLOB_VISIBLE}) AS visible
        FROM blobs b WHERE b.sha256 = ?`),
      ownerUploaded: p('SELECT uploaded FROM blob_owners WHERE sha256 = ? AND pubkey = ?').pluck(),
      // Row values (uploaded, sha256) < (?, ?) walk the index backwards from the cursor.
      list: p(`SELECT o.sha256, b.size, b.type, o.uploaded, ${META} FROM blob_owners o INDEXED BY blob_owners_by_time
        JOIN blobs b ON b.sha256 = o.sha256
        WHERE o.pubkey = ? AND (o.uploaded, o.sha256) < (?, ?) AND o.uploaded >= ?
          AND NOT EXISTS (SELECT 1 FROM moderation WHERE list = 'bannedEvents' AND value = o.sha256)
        ORDER BY o.uploaded DESC, o.sha256 DESC LIMIT ?`),
      usage: p(`SELECT COALESCE(SUM(b.size), 0) FROM blob_owners o INDEXED BY blob_owners_by_time
        JOIN blobs b ON b.sha256 = o.sha256 WHERE o.pubkey = ?`).pluck(),
      // A blob stored as sent and later made again by an optimisation gets the optimisation's tags.
      addBlob: p(`INSERT INTO blobs (sha256, size, type, uploaded, ox, dim, blurhash, thumb, image) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (sha256) DO UPDATE SET ${META_COLUMNS.map((c) => `${c} = coalesce(${c}, excluded.${c})`).join(', ')}`),
      hasBlob: p('SELECT 1 FROM blobs WHERE sha256 = ?').pluck(),
      addOwner: p('INSERT INTO blob_owners (sha256, pubkey, uploaded) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
      dropOwner: p('DELETE FROM blob_owners WHERE sha256 = ? AND pubkey = ?'),
      anyOwner: p('SELECT 1 FROM blob_owners WHERE sha256 = ? LIMIT 1').pluck(),
      dropBlob: p('DELETE FROM blobs WHERE sha256 = ?'),
      linked: p(`SELECT x.address FROM exercise_media m INDEXED BY exercise_media_by_sha256
        JOIN exercises x ON x.event_seq = m.event_seq WHERE m.sha256 = ?`).pluck(),
      owned: p('SELECT sha256 FROM blob_owners INDEXED BY blob_owners_by_time WHERE pubkey = ?').pluck(),
      touch: p('UPDATE blobs SET last_served = max(coalesce(last_served, 0), ?) WHERE sha256 = ?'),
      totals: p('SELECT count(*) AS blobs, coalesce(sum(size), 0) AS bytes FROM blobs'),
      // Pages in hash order: all blobs along the primary key; a pubkey's through its index, sorted
      // (an operator's command, so a pubkey's few thousand rows sorted per page cost nothing worth an index).
      // The type is a filter on the rows walked: there is no index by type.
      entries: p(`SELECT ${ENTRY_COLUMNS} FROM blobs b WHERE b.sha256 > ? AND b.type GLOB ? ORDER BY b.sha256 LIMIT ?`),
      entriesOf: p(`SELECT ${ENTRY_COLUMNS} FROM blob_owners p INDEXED BY blob_owners_by_time JOIN blobs b ON b.sha256 = p.sha256
        WHERE p.pubkey = ? AND p.sha256 > ? AND b.type GLOB ? ORDER BY p.sha256 LIMIT ?`),
      dropOwners: p('DELETE FROM blob_owners WHERE sha256 = ?'),
      uncache: p('DELETE FROM blob_cache WHERE sha256 = ?'),
      // Hashes in sha256 order from a cursor (exercise_media_by_sha256), one URL each, not stored and not banned.
      wanted: p(`SELECT m.sha256, min(m.url) AS url FROM exercise_media m INDEXED BY exercise_media_by_sha256
        WHERE m.sha256 > ? AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = m.sha256)
          AND NOT EXISTS (SELECT 1 FROM blob_cache c WHERE c.sha256 = m.sha256 AND c.evicted >= ?)
          AND NOT EXISTS (SELECT 1 FROM moderation WHERE list = 'bannedEvents' AND value = m.sha256)
        GROUP BY m.sha256 ORDER BY m.sha256 LIMIT ?`),
      addCached: p('INSERT INTO blobs (sha256, size, type, uploaded) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING'),
      markCached: p(`INSERT INTO blob_cache (sha256, cached) VALUES (?, ?)
        ON CONFLICT (sha256) DO UPDATE SET cached = excluded.cached, evicted = NULL`),
      markEvicted: p('UPDATE blob_cache SET evicted = ? WHERE sha256 = ?'),
      // Evicted first: blobs of exercises no template uses (exercise_media_by_sha256, addresses' UNIQUE
      // index, template_exercises_by_exercise), then the least recently served. The whole cache is read:
      // it holds what fits in mediaMirrorCacheBytes, a few thousand rows at most.
      evictionOrder: p(`SELECT c.sha256, b.size FROM blob_cache c JOIN blobs b ON b.sha256 = c.sha256
        WHERE NOT EXISTS (SELECT 1 FROM blob_owners o WHERE o.sha256 = c.sha256)
        ORDER BY EXISTS (SELECT 1 FROM exercise_media m INDEXED BY exercise_media_by_sha256
            JOIN exercises x ON x.event_seq = m.event_seq JOIN addresses a ON a.address = x.address
            JOIN template_exercises t INDEXED BY template_exercises_by_exercise ON t.exercise_id = a.id
            WHERE m.sha256 = c.sha256),
          coalesce(b.last_served, c.cached), c.sha256`),
    };
  }

  read(request: BlobRead): unknown {
    switch (request.op) {
      case 'describe': {
        const row = this.sql.describe.get(request.sha256) as (Omit<BlobInfo, 'visible'> & { visible: number }) | undefined;
        return row && { ...withoutNulls(row), visible: row.visible === 1 };
      }
      case 'list':
        return this.list(request.query);
      case 'usage':
        return this.sql.usage.get(request.pubkey) as number;
      case 'totals':
        return this.sql.totals.get();
      case 'entries':
        return this.entries(request.query);
      case 'mirrorWanted':
        return this.sql.wanted.all(request.after, request.evictedSince, request.limit);
    }
  }

  private entries({ after = '', limit, pubkey, type = '*' }: BlobEntriesQuery): BlobEntry[] {
    const rows = (pubkey === undefined ? this.sql.entries.all(after, type, limit)
      : this.sql.entriesOf.all(pubkey, after, type, limit)) as EntryRow[];
    return rows.map((row) => ({ ...row, visible: row.visible === 1, owners: row.owners ? row.owners.split(',').sort() : [] }));
  }

  /** undefined: the cursor is not one of this pubkey's blobs. */
  private list({ pubkey, cursor, limit, since, until }: BlobListQuery): BlobRow[] | undefined {
    let from: [number, string] = [until === undefined ? Number.MAX_SAFE_INTEGER : until + 1, ''];
    if (cursor !== undefined) {
      const at = this.sql.ownerUploaded.get(cursor, pubkey) as number | undefined;
      if (at === undefined) return undefined;
      if (until === undefined || at <= until) from = [at, cursor];
    }
    return (this.sql.list.all(pubkey, ...from, since ?? 0, limit) as BlobRow[]).map(withoutNulls);
  }

  /**
   * Call inside a transaction. `linked`: the exercises whose media the change concerns (a blob they
   * name arrived or went), for the change feed.
   */
  write(request: BlobWrite): { result: unknown; linked: string[] } {
    switch (request.op) {
      case 'add': {
        const { sha256, size, type, pubkey, now, meta = {} } = request.blob;
        // Asked first: a blob already here is updated (missing NIP-94 values filled in), which counts as a change too.
        const arrived = this.sql.hasBlob.get(sha256) === undefined;
        this.sql.addBlob.run(sha256, size, type, now, ...META_COLUMNS.map((c) => meta[c] ?? null));
        const newOwner = this.sql.addOwner.run(sha256, pubkey, now).changes === 1;
        this.sql.uncache.run(sha256);
        return { result: { uploaded: this.sql.ownerUploaded.get(sha256, pubkey) as number, newOwner }, linked: arrived ? this.linkedExercises([sha256]) : [] };
      }
      case 'removeOwner': {
        const owned = this.sql.dropOwner.run(request.sha256, request.pubkey).changes === 1;
        const last = owned && this.sql.anyOwner.get(request.sha256) === undefined;
        if (last) this.sql.dropBlob.run(request.sha256);
        return { result: { owned, last }, linked: last ? this.linkedExercises([request.sha256]) : [] };
      }
      case 'touch':
        for (const [sha256, at] of request.served) this.sql.touch.run(at, sha256);
        return { result: undefined, linked: [] };
      case 'forget': {
        this.sql.dropOwners.run(request.sha256);
        this.sql.uncache.run(request.sha256);
        const dropped = this.sql.dropBlob.run(request.sha256).changes === 1;
        return { result: dropped, linked: dropped ? this.linkedExercises([request.sha256]) : [] };
      }
      case 'addCached': {
        const { sha256, size, type, now } = request.blob;
        // A blob uploaded meanwhile stays owned, not cached.
        const arrived = this.sql.addCached.run(sha256, size, type, now).changes === 1;
        if (arrived) this.sql.markCached.run(sha256, now);
        return { result: arrived, linked: arrived ? this.linkedExercises([sha256]) : [] };
      }
      case 'evictCached':
        return this.evictCached(request.maxBytes, request.now);
    }
  }

  /** Drops cached blobs, first in eviction order, until the cache holds at most `maxBytes`; answers their hashes. */
  private evictCached(maxBytes: number, now: number): { result: string[]; linked: string[] } {
    const rows = this.sql.evictionOrder.all() as { sha256: string; size: number }[];
    let bytes = rows.reduce((sum, r) => sum + r.size, 0);
    const evicted: string[] = [];
    for (const { sha256, size } of rows) {
      if (bytes <= maxBytes) break;
      this.sql.markEvicted.run(now, sha256);
      this.sql.dropBlob.run(sha256);
      evicted.push(sha256);
      bytes -= size;
    }
    return { result: evicted, linked: this.linkedExercises(evicted) };
  }

  /** The exercises whose imeta URLs name any of these blobs (exercise_media_by_sha256). */
  linkedExercises(hashes: readonly string[]): string[] {
    const found = new Set<string>();
    for (const sha256 of hashes) for (const address of this.sql.linked.all(sha256) as string[]) found.add(address);
    return [...found];
  }

  /** The blobs a pubkey owns (blob_owners_by_time), whose visibility a ban of it changes. */
  ownedBy(pubkey: string): string[] {
    return this.sql.owned.all(pubkey) as string[];
  }
}
