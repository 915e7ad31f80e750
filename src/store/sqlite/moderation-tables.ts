import type { Database } from 'better-sqlite3';
import type { NostrEvent } from '../../protocol/event.js';
import {
  MODERATION_LISTS,
  MODERATION_REFUSALS,
  type ModerationDecision,
  type ModerationState,
} from '../moderation.js';
import { tagValueKey } from '../../protocol/tag-index.js';

/** NIP-62 request to vanish. */
export const VANISH_KIND = 62;
const GIFT_WRAP_KIND = 1059;

const blob = (hex: string) => Buffer.from(hex, 'hex');

/**
 * The moderation tables: decisions, run-time relay information and vanish tombstones.
 * Decisions and tombstones are written on the writer thread; load() also runs on a reader. Values in
 * and out are plain JSON.
 */
export class ModerationTables {
  private readonly sql;

  constructor(db: Database) {
    const p = (s: string) => db.prepare(s);
    this.sql = {
      version: p("SELECT value FROM relay_state WHERE key = 'moderation_version'").pluck(),
      bumpVersion: p("UPDATE relay_state SET value = value + 1 WHERE key = 'moderation_version'"),
      add: p(`INSERT INTO moderation (list, value, reason) VALUES (?, ?, ?)
        ON CONFLICT (list, value) DO UPDATE SET reason = excluded.reason`),
      drop: p('DELETE FROM moderation WHERE list = ? AND value = ?'),
      listed: p('SELECT 1 FROM moderation WHERE list = ? AND value = ?').pluck(),
      all: p('SELECT list, value, reason FROM moderation ORDER BY list, value'),
      setInfo: p('INSERT INTO relay_info (field, value) VALUES (?, ?) ON CONFLICT (field) DO UPDATE SET value = excluded.value'),
      info: p('SELECT field, value FROM relay_info'),
      vanishedUntil: p('SELECT until FROM vanished_authors WHERE pubkey = ?').pluck(),
      addVanished: p(`INSERT INTO vanished_authors (pubkey, until) VALUES (?, ?)
        ON CONFLICT (pubkey) DO UPDATE SET until = max(until, excluded.until)`),
      authorEvents: p('SELECT seq FROM nostr_events INDEXED BY events_by_author WHERE pubkey = ? AND created_at <= ? LIMIT ?').pluck(),
      giftWrapsTo: p("SELECT event_seq FROM event_tags WHERE name = 'p' AND value = ? AND kind = ? AND created_at <= ? LIMIT ?").pluck(),
      eventSeq: p('SELECT seq FROM nostr_events WHERE id = ?').pluck(),
    };
  }

  /** Counts decisions ever made; another process's decision shows up as a new number. */
  version(): number {
    return this.sql.version.get() as number;
  }

  /** Why a moderation decision or a vanish request refuses this event, if one does. */
  refusal(event: Pick<NostrEvent, 'id' | 'pubkey' | 'kind' | 'created_at'>): string | undefined {
    if (this.sql.listed.get('bannedPubkeys', event.pubkey) !== undefined) return MODERATION_REFUSALS.bannedPubkey;
    if (this.sql.listed.get('bannedEvents', event.id) !== undefined) return MODERATION_REFUSALS.bannedEvent;
    // A repeated vanish request is harmless and is processed again.
    if (event.kind === VANISH_KIND) return undefined;
    const until = this.sql.vanishedUntil.get(blob(event.pubkey)) as number | undefined;
    return until !== undefined && event.created_at <= until ? MODERATION_REFUSALS.vanished : undefined;
  }

  /** Records one decision; call inside a transaction. */
  decide(decision: ModerationDecision): void {
    for (const { list, value } of decision.drop) this.sql.drop.run(list, value);
    for (const { list, value, reason } of decision.add) this.sql.add.run(list, value, reason);
    const lift = decision.lift;
    if (lift && this.sql.listed.get(lift.refusing, lift.value) !== undefined) this.sql.drop.run(lift.refusing, lift.value);
    else if (lift) this.sql.add.run(lift.list, lift.value, lift.reason);
    if (decision.info) this.sql.setInfo.run(decision.info.field, decision.info.value);
    this.sql.bumpVersion.run();
  }

  load(): ModerationState {
    const lists = Object.fromEntries(MODERATION_LISTS.map((l) => [l, []])) as unknown as ModerationState['lists'];
    for (const row of this.sql.all.all() as { list: keyof ModerationState['lists']; value: string; reason: string }[]) {
      lists[row.list]?.push({ value: row.value, reason: row.reason });
    }
    const info = Object.fromEntries((this.sql.info.all() as { field: string; value: string }[]).map((r) => [r.field, r.value]));
    return { lists, info };
  }

  /** Remembers that `pubkey` vanished up to `until`; call inside a transaction. */
  recordVanish(pubkey: string, until: number): void {
    this.sql.addVanished.run(blob(pubkey), until);
  }

  /**
   * Up to `max` stored events to remove for an author: their own events created up to `until`, then
   * the gift wraps addressed to them (NIP-62: the wraps are the recipient's messages, not the sender's).
   */
  authorEvents(pubkey: string, until: number, max: number, giftWraps: boolean): number[] {
    const own = this.sql.authorEvents.all(blob(pubkey), until, max) as number[];
    if (!giftWraps || own.length >= max) return own;
    return [...own, ...(this.sql.giftWrapsTo.all(tagValueKey(pubkey), GIFT_WRAP_KIND, until, max - own.length) as number[])];
  }

  eventSeqs(id: string): number[] {
    return this.sql.eventSeq.all(blob(id)) as number[];
  }
}
