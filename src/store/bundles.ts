import { createHash } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { COLLECTION_KINDS, LEGACY_RECORD_KIND, RECORD_KIND, TEMPLATE_KIND } from '../powr/types.js';
import { isRestrictedKind, mayRead, type Viewers } from '../powr/privacy.js';
import { kindClass, parseAddress, type NostrEvent } from '../protocol/event.js';
import { PriorityCache, type CacheStats } from './priority-cache.js';

/** A root event and every event it needs, resolved by the relay: one round trip for a client. */
export interface Bundle {
  root: string;
  events: string[];
  missing: string[];
  /** The HTTP response body, built once. */
  body: string;
  etag: string;
  /** The kinds of its root and events (the read rules look closer when one is restricted). */
  kinds: number[];
}

export type BundleRoot = { address: string } | { id: string };

const REFERRER_KINDS = new Set([TEMPLATE_KIND, RECORD_KIND, LEGACY_RECORD_KIND, ...COLLECTION_KINDS]);

interface RootRow {
  seq: number;
  kind: number;
  json: string;
}

/**
 * Resolves templates (their exercises), workout records (their template and the exercises of both)
 * and collections (their templates and exercises, and the templates' exercises) from the processed
 * tables, each referenced event once and in reference order, with the addresses the relay lacks.
 * Results are cached by root and dropped when the root or any member changes.
 */
export class Bundles {
  private readonly cache: PriorityCache<Bundle> | undefined;
  private readonly sql;

  constructor(
    private readonly db: Database,
    cacheBytes: number,
  ) {
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
      members: p(`SELECT a.address FROM collection_members m JOIN addresses a ON a.id = m.member_id
        WHERE m.collection_seq = ? ORDER BY m.position`).pluck(),
      saveCount: p(`INSERT INTO cache_metadata (content_id, content_type, access_count, last_accessed) VALUES (?, 'bundle', ?, ?)
        ON CONFLICT (content_id) DO UPDATE SET access_count = excluded.access_count, last_accessed = excluded.last_accessed
        WHERE access_count <> excluded.access_count`),
      loadCounts: p("SELECT content_id, access_count FROM cache_metadata WHERE content_type = 'bundle'"),
    };
    if (cacheBytes > 0) {
      this.cache = new PriorityCache<Bundle>(cacheBytes);
      const rows = this.sql.loadCounts.all() as { content_id: string; access_count: number }[];
      this.cache.restoreCounts(rows.map((r) => [r.content_id, r.access_count]));
    }
  }

  /** Drops cached bundles that include any of the changed addresses or ids. */
  invalidate(changed: Iterable<string>): void {
    this.cache?.invalidate(changed);
  }

  clear(): void {
    this.cache?.clear();
  }

  stats(): CacheStats | undefined {
    return this.cache?.stats();
  }

  /** Writes access counts to cache_metadata so priorities survive a restart. */
  saveAccessCounts(now: number): void {
    if (!this.cache) return;
    const counts = this.cache.accessCounts();
    this.db.transaction(() => {
      for (const [key, n] of counts) this.sql.saveCount.run(key, n, now);
    })();
  }

  private latest(address: string, now: number): RootRow | undefined {
    const a = parseAddress(address);
    if (!a) return undefined;
    const d = kindClass(a.kind) === 'addressable' ? a.d : '';
    return this.sql.byAddress.get(a.kind, Buffer.from(a.pubkey, 'hex'), d, now) as RootRow | undefined;
  }

  /**
   * The bundle rooted at an address or event id; undefined when the root is not stored. Under read
   * rules (`viewers` given) events the viewers may not read are left out, and a bundle rooted at one
   * does not exist for them.
   */
  get(root: BundleRoot, now: number, viewers?: Viewers): Bundle | undefined {
    const bundle = this.cached(root, now);
    if (!bundle || !viewers || !bundle.kinds.some((k) => isRestrictedKind(k, viewers))) return bundle;
    const readable = (json: string) => mayRead(JSON.parse(json) as NostrEvent, viewers);
    if (!readable(bundle.root)) return undefined;
    const events = bundle.events.filter(readable);
    return events.length === bundle.events.length ? bundle : this.build(bundle.root, events, bundle.missing, bundle.kinds);
  }

  private cached(root: BundleRoot, now: number): Bundle | undefined {
    const key = 'address' in root ? `a:${root.address}` : `id:${root.id}`;
    const cached = this.cache?.get(key);
    if (cached) return cached;
    const row = 'address' in root
      ? this.latest(root.address, now)
      : (this.sql.byId.get(Buffer.from(root.id, 'hex'), now) as RootRow | undefined);
    if (!row) return undefined;
    const bundle = this.resolve(row, now);
    const dependsOn = [...bundle.dependsOn, 'address' in root ? root.address : `id:${root.id}`];
    this.cache?.set(key, bundle.bundle, bundle.bundle.body.length, dependsOn);
    return bundle.bundle;
  }

  /** The events a template, record or collection references, for REQs with `"resolve": true`. */
  referencedEvents(event: NostrEvent, now: number, viewers?: Viewers): string[] {
    if (!REFERRER_KINDS.has(event.kind)) return [];
    const d = event.tags.find((t) => t[0] === 'd')?.[1] ?? '';
    const root = kindClass(event.kind) === 'addressable' ? { address: `${event.kind}:${event.pubkey}:${d}` } : { id: event.id };
    return this.get(root, now, viewers)?.events ?? [];
  }

  private resolve(root: RootRow, now: number): { bundle: Bundle; dependsOn: string[] } {
    const events: string[] = [];
    const missing: string[] = [];
    const wanted = new Set<string>();
    const kinds = new Set([root.kind]);
    const want = (address: string) => {
      if (wanted.has(address)) return;
      wanted.add(address);
      const row = this.latest(address, now);
      if (row) {
        events.push(row.json);
        kinds.add(row.kind);
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
    return { bundle: this.build(root.json, events, missing, [...kinds]), dependsOn: [...wanted] };
  }

  private build(root: string, events: string[], missing: string[], kinds: number[]): Bundle {
    const body = `{"root":${root},"events":[${events.join(',')}],"missing":${JSON.stringify(missing)}}`;
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
    return { root, events, missing, body, etag, kinds };
  }
}
