import type { Database } from 'better-sqlite3';
import { prepare, type PreparedEvent } from '../../powr/prepare.js';
import { DELETION_KIND, addressKey, isHex64, kindClass, parseAddress, type NostrEvent } from '../../protocol/event.js';
import { vanishAppliesHere } from '../../protocol/nip62.js';
import type { VerifiedEvent, WriteOutcome } from '../port.js';
import { CLUSTER_SEQ_SQL } from './database.js';
import { ModerationTables, VANISH_KIND } from './moderation-tables.js';
import { DEPENDENCY_KINDS, PowrTables, type RemovedExercise } from './powr-tables.js';
import { StoredIds } from './stored-ids.js';
import { tagKeyOf, tagKeys } from '../../protocol/tag-index.js';

/** What one write changed: the parts of the committed-change feed it contributes. */
export interface Applied {
  outcome: WriteOutcome;
  stored?: { seq: number; json: string };
  removed: string[];
  addresses: string[];
}

/** What one removal took out of the store. */
interface Removal {
  id: string;
  /** Its address, when it had one. */
  address?: string;
  exercise?: RemovedExercise;
}

/** What the checks before an insert look at. */
type Standing = Pick<PreparedEvent, 'id' | 'pubkey' | 'kind' | 'created_at' | 'd'>;

const blob = (hex: string) => Buffer.from(hex, 'hex');

const GIFT_WRAP_KINDS = new Set([1059, 21059]);

function isRecipientOfGiftWrap(target: { kind: number; json: string }, pubkey: string): boolean {
  if (!GIFT_WRAP_KINDS.has(target.kind)) return false;
  const { tags } = JSON.parse(target.json) as NostrEvent;
  return tags.some((t) => t[0] === 'p' && t[1] === pubkey);
}

/**
 * Every change to stored events: used only on the writer thread's connection, inside its
 * transactions. Each method returns what it changed; nothing is remembered between calls.
 */
export class EventWrites {
  readonly powr: PowrTables;
  readonly moderation: ModerationTables;
  readonly storedIds: StoredIds;
  private readonly sql;

  /** `relayUrl`: this relay's public URL, which a request to vanish (NIP-62) names; '' when unknown. */
  constructor(private readonly db: Database, private readonly relayUrl = '') {
    this.powr = new PowrTables(db);
    this.moderation = new ModerationTables(db);
    this.storedIds = new StoredIds(db);
    const p = (s: string) => db.prepare(s);
    this.sql = {
      lastSeq: p("SELECT value FROM relay_state WHERE key = 'last_seq'").pluck(),
      setLastSeq: p("UPDATE relay_state SET value = ? WHERE key = 'last_seq'"),
      clusterSeq: p(CLUSTER_SEQ_SQL).pluck(),
      setClusterSeq: p("UPDATE relay_state SET value = ? WHERE key = 'cluster_seq'"),
      hasId: p('SELECT 1 FROM nostr_events WHERE id = ?').pluck(),
      byId: p('SELECT seq, pubkey, kind, json FROM nostr_events WHERE id = ?'),
      byAddress: p('SELECT seq, created_at, id FROM nostr_events WHERE kind = ? AND pubkey = ? AND d = ?'),
      insertEvent: p(`INSERT INTO nostr_events (seq, id, pubkey, kind, created_at, d, expires_at, received_at, json)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      insertTag: p('INSERT OR IGNORE INTO event_tags (name, value, kind, created_at, event_seq) VALUES (?, ?, ?, ?, ?)'),
      deleteEvent: p('DELETE FROM nostr_events WHERE seq = ?'),
      identity: p('SELECT id, pubkey, kind, created_at, d, json FROM nostr_events WHERE seq = ?'),
      deleteTag: p('DELETE FROM event_tags WHERE name = ? AND value = ? AND kind = ? AND created_at = ? AND event_seq = ?'),
      isDeletedId: p('SELECT 1 FROM deleted_events WHERE id = ? AND pubkey = ?').pluck(),
      addDeletedId: p('INSERT OR IGNORE INTO deleted_events (id, pubkey) VALUES (?, ?)'),
      deletedUntil: p('SELECT until FROM deleted_addresses WHERE kind = ? AND pubkey = ? AND d = ?').pluck(),
      addDeletedAddress: p(`INSERT INTO deleted_addresses (kind, pubkey, d, until) VALUES (?, ?, ?, ?)
        ON CONFLICT (kind, pubkey, d) DO UPDATE SET until = max(until, excluded.until)`),
      addressVersionsUpTo: p('SELECT seq FROM nostr_events WHERE kind = ? AND pubkey = ? AND d = ? AND created_at <= ?').pluck(),
      olderOfKind: p('SELECT seq FROM nostr_events INDEXED BY events_by_kind WHERE kind = ? AND created_at < ? AND seq <= ? LIMIT ?').pluck(),
      expired: p('SELECT seq FROM nostr_events INDEXED BY events_by_expiry WHERE expires_at <= ? LIMIT ?').pluck(),
      eventsAfter: p('SELECT seq, json FROM nostr_events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?'),
    };
  }

  /**
   * The highest sequence number ever given out. Sequence numbers are assigned here rather than by
   * SQLite's rowid, which reuses the number of a deleted last row: the change feed follows commits,
   * ours and other processes', by sequence number, so a number must never come back.
   */
  lastSeq(): number {
    return this.sql.lastSeq.get() as number;
  }

  /** Cluster mode: the last stream sequence applied to this database. */
  clusterSeq(): number {
    return this.sql.clusterSeq.get() as number;
  }

  /** Records the last stream sequence applied; call in the transaction that applied it. */
  setClusterSeq(seq: number): void {
    this.sql.setClusterSeq.run(seq);
  }

  /** Stored events with sequence numbers in (after, upTo], in order, at most `max`. */
  eventsAfter(after: number, upTo: number, max: number): { seq: number; json: string }[] {
    return this.sql.eventsAfter.all(after, upTo, max) as { seq: number; json: string }[];
  }

  /**
   * Applies one event: duplicate and tombstone checks, replacement of older versions of its address,
   * insertion with its tags, and NIP-09 processing for deletions. Call inside a transaction;
   * `seq` is the number the event gets if stored (see lastSeq); commitSeqs() records the last one used.
   */
  apply(verified: VerifiedEvent, seq: number, receivedAt: number): Applied {
    const { json } = verified;
    // Only deletions and requests to vanish need the event itself here; the rest comes prepared.
    let parsed: NostrEvent | undefined;
    const event = () => (parsed ??= JSON.parse(json) as NostrEvent);
    const p = 'prepared' in verified ? JSON.parse(verified.prepared) as PreparedEvent : prepare(event(), verified.record, verified.flags);
    const { record } = p;
    const removed: string[] = [];
    const addresses: string[] = [];
    const unchanged = (outcome: WriteOutcome): Applied => ({ outcome, removed, addresses });
    const id = blob(p.id);
    const pubkey = blob(p.pubkey);
    const standing = this.standing(p, id, pubkey);
    if ('outcome' in standing) return unchanged(standing.outcome);
    const { current } = standing;
    const refusal = this.powr.refusal(record);
    if (refusal) return unchanged({ status: 'rejected', message: `invalid: ${refusal.detail}` });
    let replaced: RemovedExercise | undefined;
    if (current) {
      const removal = this.remove(current.seq, true);
      if (removal) {
        removed.push(removal.id);
        replaced = removal.exercise;
      }
    }

    if (p.kind === VANISH_KIND && vanishAppliesHere(event(), this.relayUrl)) {
      for (const r of this.vanish(event())) {
        removed.push(r.id);
        if (r.address) addresses.push(r.address);
      }
    }
    this.sql.insertEvent.run(seq, id, pubkey, p.kind, p.created_at, p.d, p.expiresAt, receivedAt, json);
    this.storedIds.change(id, 1);
    for (const [name, value, form] of p.tags) this.sql.insertTag.run(name, tagKeyOf(value, form), p.kind, p.created_at, seq);
    if (p.d !== null) addresses.push(`${p.kind}:${p.pubkey}:${p.d}`);
    this.powr.insert(seq, p, replaced);
    if (p.kind === DELETION_KIND) {
      for (const r of this.applyDeletion(event())) {
        removed.push(r.id);
        if (r.address) addresses.push(r.address);
      }
    }
    return { outcome: { status: 'stored', seq }, stored: { seq, json }, removed, addresses };
  }

  /**
   * Why this event would not be stored (a duplicate, a tombstone, a ban, a newer version), judged from
   * what is committed; undefined when it would. Cluster mode asks before publishing to the stream.
   */
  wouldRefuse(event: NostrEvent): WriteOutcome | undefined {
    const found = this.standing({ ...event, d: addressKey(event) ?? null }, blob(event.id), blob(event.pubkey));
    return 'outcome' in found ? found.outcome : undefined;
  }

  /** The checks before an insert: an outcome that ends the write, or the stored version it replaces. */
  private standing(event: Standing, id: Buffer, pubkey: Buffer):
    { outcome: WriteOutcome } | { current?: { seq: number; created_at: number; id: Buffer } } {
    const refused = (message: string) => ({ outcome: { status: 'rejected', message } as const });
    if (this.sql.hasId.get(id) !== undefined) return { outcome: { status: 'duplicate', message: 'duplicate: already have this event' } };
    if (this.sql.isDeletedId.get(id, pubkey) !== undefined) return refused('blocked: this event was deleted by its author');
    const moderated = this.moderation.refusal(event);
    if (moderated) return refused(moderated);
    const { d } = event;
    if (d === null) return {};
    const until = this.sql.deletedUntil.get(event.kind, pubkey, d) as number | undefined;
    if (until !== undefined && event.created_at <= until) return refused(`blocked: this address was deleted by its author up to ${until}`);
    const current = this.sql.byAddress.get(event.kind, pubkey, d) as { seq: number; created_at: number; id: Buffer } | undefined;
    if (current) {
      const newer = current.created_at > event.created_at ||
        (current.created_at === event.created_at && Buffer.compare(current.id, id) < 0);
      if (newer) return refused('blocked: a newer version of this event is already stored');
    }
    return { current };
  }

  /**
   * What became of an event another process applied on this database: stored (with its sequence
   * number), or the refusal a new attempt would get.
   */
  outcomeOf(event: NostrEvent): WriteOutcome {
    const stored = this.sql.byId.get(blob(event.id)) as { seq: number } | undefined;
    if (stored) return { status: 'stored', seq: stored.seq };
    return this.wouldRefuse(event) ?? { status: 'rejected', message: 'error: the event could not be stored' };
  }

  /** Records the last sequence number given out; call before the transaction commits. */
  commitSeqs(lastSeq: number): void {
    this.sql.setLastSeq.run(lastSeq);
  }

  /**
   * NIP-09: only the author's own events are deleted (and gift wraps by their p-tagged recipient,
   * NIP-59); deletions themselves cannot be deleted. Returns what it removed.
   */
  private applyDeletion(deletion: NostrEvent): Removal[] {
    const author = blob(deletion.pubkey);
    const removals: Removal[] = [];
    const take = (seq: number) => {
      const r = this.remove(seq);
      if (r) removals.push(r);
    };
    for (const tag of deletion.tags) {
      const value = tag[1];
      if (value === undefined) continue;
      if (tag[0] === 'e' && isHex64(value)) {
        const target = this.sql.byId.get(blob(value)) as { seq: number; pubkey: Buffer; kind: number; json: string } | undefined;
        if (target && !target.pubkey.equals(author) && !isRecipientOfGiftWrap(target, deletion.pubkey)) continue;
        if (target?.kind === DELETION_KIND || target?.kind === VANISH_KIND) continue;
        if (target) take(target.seq);
        this.sql.addDeletedId.run(blob(value), target?.pubkey ?? author);
      } else if (tag[0] === 'a') {
        const address = parseAddress(value);
        if (!address || address.pubkey !== deletion.pubkey) continue;
        const cls = kindClass(address.kind);
        if (cls !== 'addressable' && cls !== 'replaceable') continue;
        const d = cls === 'addressable' ? address.d : '';
        for (const seq of this.sql.addressVersionsUpTo.all(address.kind, author, d, deletion.created_at) as number[]) take(seq);
        this.sql.addDeletedAddress.run(address.kind, author, d, deletion.created_at);
      }
    }
    return removals;
  }

  /**
   * NIP-62: every event of the author up to the request's created_at goes, with the gift wraps
   * addressed to them, and older events are refused from now on. Runs before the request is stored,
   * so the request itself stays (it must, to keep refusing re-broadcasts).
   */
  private vanish(request: NostrEvent): Removal[] {
    this.moderation.recordVanish(request.pubkey, request.created_at);
    const removals: Removal[] = [];
    for (;;) {
      const page = this.removeAll(this.moderation.authorEvents(request.pubkey, request.created_at, 1000, true));
      if (page.length === 0) return removals;
      removals.push(...page);
    }
  }

  /**
   * The one way an event leaves the store: replacement, deletion and expiry all come here. When an
   * address disappears (not replaced), whatever references it becomes incomplete again.
   */
  private remove(seq: number, replacing = false): Removal | undefined {
    const row = this.sql.identity.get(seq) as
      { id: Buffer; pubkey: Buffer; kind: number; created_at: number; d: string | null; json: string } | undefined;
    if (!row) return undefined;
    // The tag rows are found from the event again: an index of event_tags by event_seq would hold a
    // second copy of every row (+260 B an event at 20k, 11% of the database) to save a parse on the
    // rare removal (a replacement, a deletion, an expiry).
    for (const [name, value] of tagKeys(JSON.parse(row.json) as NostrEvent)) {
      this.sql.deleteTag.run(name, value, row.kind, row.created_at, seq);
    }
    this.sql.deleteEvent.run(seq);
    this.storedIds.change(row.id, -1);
    const exercise = this.powr.remove(seq);
    const id = row.id.toString('hex');
    if (row.d === null) return { id, exercise };
    const address = `${row.kind}:${row.pubkey.toString('hex')}:${row.d}`;
    if (!replacing && DEPENDENCY_KINDS.has(row.kind)) this.powr.addressChanged(address);
    return { id, address, exercise };
  }

  /** Deletes up to `max` expired events; call inside a transaction. */
  purgeExpired(now: number, max: number): Removal[] {
    return this.removeAll(this.sql.expired.all(now, max) as number[]);
  }

  /**
   * Retention: deletes up to `max` events of `kind` created before `before` and stored up to sequence
   * number `upTo` (what stood when the prune was decided); call inside a transaction.
   */
  pruneKind(kind: number, before: number, max: number, upTo: number): Removal[] {
    return this.removeAll(this.sql.olderOfKind.all(kind, before, upTo, max) as number[]);
  }

  /** Removes the events with these sequence numbers; call inside a transaction. */
  removeAll(seqs: number[]): Removal[] {
    return seqs.map((seq) => this.remove(seq)).filter((r): r is Removal => r !== undefined);
  }
}
