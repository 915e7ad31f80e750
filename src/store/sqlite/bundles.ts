import type { Database } from 'better-sqlite3';
import { COLLECTION_KINDS, EXERCISE_KIND, LEGACY_RECORD_KIND, RECORD_KIND, TEMPLATE_KIND } from '../../powr/types.js';
import { addressKey, kindClass, parseAddress, type NostrEvent } from '../../protocol/event.js';
import type { MediaItem } from '../catalogue.js';
import type { Bundle, BundleRoot } from '../port.js';
import { BLOB_VISIBLE } from './blob-tables.js';

/**
 * An exercise's imeta media (exercise_media's primary key) with the blob each names, when stored here
 * and not hidden by a ban (blobs' primary key): joined as it is read, so the link holds whether the
 * blob or the exercise came first.
 */
export const EXERCISE_MEDIA = `SELECT m.url, m.mime, m.alt, m.sha256,
    CASE WHEN ${BLOB_VISIBLE} THEN b.type END AS stored
  FROM exercise_media m LEFT JOIN blobs b ON b.sha256 = m.sha256 WHERE m.event_seq = ? ORDER BY m.position`;

interface RootRow {
  seq: number;
  kind: number;
  json: string;
}

/**
 * Resolves templates (their exercises), workout records (their template and the exercises of both)
 * and collections (their templates and exercises, and the templates' exercises) from the processed
 * tables, each referenced event once and in reference order, with the addresses the relay lacks.
 * Runs on a reader thread; the cache of resolved bundles lives with the sessions (bundle-cache.ts).
 */
export class BundleReads {
  private readonly sql;

  constructor(db: Database) {
    const p = (s: string) => db.prepare(s);
    const live = '(expires_at IS NULL OR expires_at > ?)';
    this.sql = {
      byAddress: p(`SELECT seq, kind, json FROM nostr_events WHERE kind = ? AND pubkey = ? AND d = ? AND ${live}`),
      byId: p(`SELECT seq, kind, json FROM nostr_events WHERE id = ? AND ${live}`),
      templateExercises: p(`SELECT a.address FROM template_exercises s JOIN addresses a ON a.id = s.exercise_id
        WHERE s.template_seq = ? ORDER BY s.position`).pluck(),
      templateSeq: p('SELECT event_seq FROM templates WHERE address = ?').pluck(),
      record: p('SELECT a.address FROM workout_records r JOIN addresses a ON a.id = r.template_id WHERE r.event_seq = ?').pluck(),
      recordExercises: p(`SELECT a.address FROM record_sets s JOIN addresses a ON a.id = s.exercise_id
        WHERE s.record_seq = ? ORDER BY s.position`).pluck(),
      media: p(EXERCISE_MEDIA),
      members: p(`SELECT a.address FROM collection_members m JOIN addresses a ON a.id = m.member_id
        WHERE m.collection_seq = ? ORDER BY m.position`).pluck(),
    };
  }

  /** The bundle rooted at an address or event id; undefined when the root is not stored. */
  get(root: BundleRoot, now: number): Bundle | undefined {
    const row = 'address' in root
      ? this.latest(root.address, now)
      : (this.sql.byId.get(Buffer.from(root.id, 'hex'), now) as RootRow | undefined);
    if (!row) return undefined;
    const bundle = this.resolve(row, now);
    bundle.dependsOn.push('address' in root ? root.address : `id:${root.id}`);
    return bundle;
  }

  private latest(address: string, now: number): RootRow | undefined {
    const a = parseAddress(address);
    if (!a) return undefined;
    const d = kindClass(a.kind) === 'addressable' ? a.d : '';
    return this.sql.byAddress.get(a.kind, Buffer.from(a.pubkey, 'hex'), d, now) as RootRow | undefined;
  }

  private resolve(root: RootRow, now: number): Bundle {
    const events: string[] = [];
    const missing: string[] = [];
    const wanted = new Set<string>();
    const kinds = new Set([root.kind]);
    const media: Record<string, MediaItem[]> = {};
    const mediaOf = (row: RootRow, address: string) => {
      if (row.kind !== EXERCISE_KIND) return;
      const items = this.sql.media.all(row.seq) as MediaItem[];
      if (items.length > 0) media[address] = items;
    };
    // An exercise root's media go stale with its address, also when the bundle was asked for by id.
    const dependsOn: string[] = [];
    if (root.kind === EXERCISE_KIND) {
      const e = JSON.parse(root.json) as NostrEvent;
      const address = `${e.kind}:${e.pubkey}:${addressKey(e) ?? ''}`;
      mediaOf(root, address);
      dependsOn.push(address);
    }
    const want = (address: string) => {
      if (wanted.has(address)) return;
      wanted.add(address);
      const row = this.latest(address, now);
      if (row) {
        events.push(row.json);
        kinds.add(row.kind);
        mediaOf(row, address);
      } else {
        missing.push(address);
      }
    };
    const templateExercises = (seq: number | undefined) => {
      if (seq !== undefined) for (const a of this.sql.templateExercises.all(seq) as string[]) want(a);
    };

    if (root.kind === TEMPLATE_KIND) {
      templateExercises(root.seq);
    } else if (root.kind === RECORD_KIND || root.kind === LEGACY_RECORD_KIND) {
      const template = this.sql.record.get(root.seq) as string | null | undefined;
      if (template) want(template);
      for (const a of this.sql.recordExercises.all(root.seq) as string[]) want(a);
      if (template) templateExercises(this.sql.templateSeq.get(template) as number | undefined);
    } else if (COLLECTION_KINDS.includes(root.kind)) {
      for (const member of this.sql.members.all(root.seq) as string[]) {
        want(member);
        if (member.startsWith(`${TEMPLATE_KIND}:`)) templateExercises(this.sql.templateSeq.get(member) as number | undefined);
      }
    }
    return { root: root.json, events, missing, kinds: [...kinds], dependsOn: [...dependsOn, ...wanted], media };
  }
}
