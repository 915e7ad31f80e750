import type { Database } from 'better-sqlite3';
import { analyze } from '../powr/analyze.js';
import { checkSetsAgainstFormats, setColumns } from '../powr/params.js';
import {
  COLLECTION_KINDS,
  EXERCISE_KIND,
  LEGACY_RECORD_KIND,
  RECORD_KIND,
  TEMPLATE_KIND,
  type Flag,
  type Issue,
  type PowrRecord,
  type SetRef,
} from '../powr/types.js';
import { parseAddress, type NostrEvent } from '../protocol/event.js';

/** Kinds whose address other workout events reference: their arrival or loss changes dependants. */
export const DEPENDENCY_KINDS = new Set([EXERCISE_KIND, TEMPLATE_KIND, ...COLLECTION_KINDS]);

/** Each processed table and the column holding the event it came from. */
const PROCESSED_TABLES: readonly [string, string][] = [
  ['exercises', 'event_seq'], ['exercise_media', 'event_seq'], ['templates', 'event_seq'],
  ['template_exercises', 'template_seq'], ['workout_records', 'event_seq'], ['record_sets', 'record_seq'],
  ['collections', 'event_seq'], ['collection_members', 'collection_seq'], ['missing_dependencies', 'referrer_seq'],
  ['event_flags', 'event_seq'],
];

/**
 * The processed NIP-101e tables, kept in step with the raw events inside the writer's transaction.
 * `refresh` is the single place dependency state is computed (missing addresses, checks against the
 * referenced exercises' formats, set columns), and it depends only on what is stored now — so
 * incremental processing and a full rebuild arrive at the same tables.
 */
export class PowrTables {
  private readonly sql;
  private readonly deleteBySeq;

  constructor(private readonly db: Database) {
    const p = (s: string) => db.prepare(s);
    this.deleteBySeq = PROCESSED_TABLES.map(([table, column]) => p(`DELETE FROM ${table} WHERE ${column} = ?`));
    this.sql = {
      insertExercise: p(`INSERT INTO exercises (event_seq, address, title, equipment, difficulty, format, format_units, hashtags)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      insertMedia: p('INSERT INTO exercise_media (event_seq, position, url, mime, dim, alt, hash) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      insertTemplate: p(`INSERT INTO templates (event_seq, address, title, type, rounds, duration, interval, rest_between_rounds,
        rest_between_sets, difficulty) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      insertTemplateSet: p('INSERT INTO template_exercises (template_seq, position, exercise_address, params) VALUES (?, ?, ?, ?)'),
      insertRecord: p(`INSERT INTO workout_records (event_seq, title, type, start_at, end_at, completed, template_address)
        VALUES (?, ?, ?, ?, ?, ?, ?)`),
      insertRecordSet: p('INSERT INTO record_sets (record_seq, position, exercise_address, params) VALUES (?, ?, ?, ?)'),
      insertCollection: p('INSERT INTO collections (event_seq, address, title) VALUES (?, ?, ?)'),
      insertMember: p('INSERT INTO collection_members (collection_seq, position, member_address) VALUES (?, ?, ?)'),
      insertFlag: p('INSERT INTO event_flags (event_seq, source, code, detail) VALUES (?, ?, ?, ?)'),
      deleteDependencyFlags: p("DELETE FROM event_flags WHERE event_seq = ? AND source = 'dependency'"),
      insertMissing: p('INSERT OR IGNORE INTO missing_dependencies (referrer_seq, missing_address) VALUES (?, ?)'),
      deleteMissing: p('DELETE FROM missing_dependencies WHERE referrer_seq = ?'),
      formatOf: p('SELECT format FROM exercises WHERE address = ?').pluck(),
      addressExists: p('SELECT 1 FROM nostr_events WHERE kind = ? AND pubkey = ? AND d = ?').pluck(),
      templateSets: p('SELECT position, exercise_address AS address, params FROM template_exercises WHERE template_seq = ? ORDER BY position'),
      recordSets: p('SELECT position, exercise_address AS address, params FROM record_sets WHERE record_seq = ? ORDER BY position'),
      recordTemplate: p('SELECT template_address FROM workout_records WHERE event_seq = ?').pluck(),
      members: p('SELECT member_address FROM collection_members WHERE collection_seq = ? ORDER BY position').pluck(),
      isTemplate: p('SELECT 1 FROM templates WHERE event_seq = ?').pluck(),
      isRecord: p('SELECT 1 FROM workout_records WHERE event_seq = ?').pluck(),
      isCollection: p('SELECT 1 FROM collections WHERE event_seq = ?').pluck(),
      setTemplateSetNumber: p('UPDATE template_exercises SET set_number = ? WHERE template_seq = ? AND position = ?'),
      setRecordColumns: p(`UPDATE record_sets SET set_number = ?, weight = ?, reps = ?, rpe = ?, set_type = ?
        WHERE record_seq = ? AND position = ?`),
      dependants: p(`SELECT template_seq FROM template_exercises WHERE exercise_address = @address
        UNION SELECT record_seq FROM record_sets WHERE exercise_address = @address
        UNION SELECT event_seq FROM workout_records WHERE template_address = @address
        UNION SELECT collection_seq FROM collection_members WHERE member_address = @address`).pluck(),
      allReferrers: p('SELECT event_seq FROM templates UNION SELECT event_seq FROM workout_records UNION SELECT event_seq FROM collections').pluck(),
      powrEventsAfter: p(`SELECT seq, json FROM nostr_events WHERE seq > ? AND kind IN (${[EXERCISE_KIND, TEMPLATE_KIND, RECORD_KIND,
        LEGACY_RECORD_KIND, ...COLLECTION_KINDS].join(',')}) ORDER BY seq LIMIT 1000`),
    };
  }

  private formatOf = (address: string): string[] | undefined => {
    const json = this.sql.formatOf.get(address) as string | undefined;
    return json === undefined ? undefined : (JSON.parse(json) as string[]);
  };

  /** Problems that must refuse a template or record because of an exercise the relay already has. */
  refusal(record: PowrRecord | null): Issue | undefined {
    if (record?.type !== 'template' && record?.type !== 'record') return undefined;
    return checkSetsAgainstFormats(record.sets, this.formatOf, record.type).find((i) => i.severity === 'reject');
  }

  /** Writes the processed rows of a just-inserted event, then brings every affected dependant up to date. */
  insert(seq: number, record: PowrRecord | null, flags: readonly Flag[]): void {
    for (const f of flags) this.sql.insertFlag.run(seq, 'validation', f.code, f.detail);
    if (!record) return;
    const json = JSON.stringify;
    switch (record.type) {
      case 'exercise':
        this.sql.insertExercise.run(seq, record.address, record.title, record.equipment, record.difficulty,
          json(record.format), json(record.formatUnits), json(record.hashtags));
        record.media.forEach((m, i) => this.sql.insertMedia.run(seq, i, m.url, m.mime, m.dim, m.alt, m.hash));
        break;
      case 'template':
        this.sql.insertTemplate.run(seq, record.address, record.title, record.workoutType, record.rounds, record.duration,
          record.interval, record.restBetweenRounds, record.restBetweenSets, record.difficulty);
        for (const s of record.sets) this.sql.insertTemplateSet.run(seq, s.position, s.address, json(s.values));
        break;
      case 'record':
        this.sql.insertRecord.run(seq, record.title, record.workoutType, record.start, record.end,
          record.completed === null ? null : Number(record.completed), record.templateAddress);
        for (const s of record.sets) this.sql.insertRecordSet.run(seq, s.position, s.address, json(s.values));
        break;
      case 'collection':
        this.sql.insertCollection.run(seq, record.address, record.title);
        record.members.forEach((m, i) => this.sql.insertMember.run(seq, i, m));
        break;
    }
    if (record.type !== 'exercise') this.refresh(seq);
    if (record.type !== 'record') this.addressChanged(record.address);
  }

  /** Deletes an event's processed rows. */
  remove(seq: number): void {
    for (const stmt of this.deleteBySeq) stmt.run(seq);
  }

  /** An address appeared, changed or vanished: everything that references it is re-checked. */
  addressChanged(address: string): void {
    for (const seq of this.sql.dependants.all({ address }) as number[]) this.refresh(seq);
  }

  private storedSets(seq: number, table: 'template' | 'record'): SetRef[] {
    const rows = (table === 'template' ? this.sql.templateSets : this.sql.recordSets).all(seq) as
      { position: number; address: string | null; params: string }[];
    return rows.map((r) => ({ position: r.position, address: r.address, values: JSON.parse(r.params) as string[] }));
  }

  private stored(address: string): boolean {
    const a = parseAddress(address);
    if (!a) return false;
    const d = a.kind >= 30000 && a.kind < 40000 ? a.d : '';
    return this.sql.addressExists.get(a.kind, Buffer.from(a.pubkey, 'hex'), d) !== undefined;
  }

  /** Recomputes a referrer's dependency state from what is stored now. */
  private refresh(seq: number): void {
    let references: string[] = [];
    this.sql.deleteDependencyFlags.run(seq);
    const kind = this.sql.isTemplate.get(seq) ? 'template' : this.sql.isRecord.get(seq) ? 'record' : this.sql.isCollection.get(seq) ? 'collection' : undefined;
    if (kind === 'template' || kind === 'record') {
      const sets = this.storedSets(seq, kind);
      for (const issue of checkSetsAgainstFormats(sets, this.formatOf, kind)) {
        this.sql.insertFlag.run(seq, 'dependency', issue.code, issue.detail);
      }
      for (const s of sets) {
        const format = s.address ? this.formatOf(s.address) : undefined;
        const cols = setColumns(s, format);
        if (kind === 'template') this.sql.setTemplateSetNumber.run(cols.setNumber, seq, s.position);
        else this.sql.setRecordColumns.run(cols.setNumber, cols.weight, cols.reps, cols.rpe, cols.setType, seq, s.position);
      }
      references = sets.map((s) => s.address).filter((a): a is string => a !== null);
      const template = kind === 'record' ? (this.sql.recordTemplate.get(seq) as string | null) : null;
      if (template) references.push(template);
    } else if (kind === 'collection') {
      references = this.sql.members.all(seq) as string[];
    }
    this.sql.deleteMissing.run(seq);
    for (const address of new Set(references)) if (!this.stored(address)) this.sql.insertMissing.run(seq, address);
  }

  /** Rebuilds every processed table from the raw events (after a schema change, or to check them). */
  rebuild(): void {
    for (const [table] of PROCESSED_TABLES) this.db.prepare(`DELETE FROM ${table}`).run();
    // In pages: the connection cannot write while a statement is still iterating.
    for (let after = 0, rows; (rows = this.sql.powrEventsAfter.all(after) as { seq: number; json: string }[]).length > 0;) {
      for (const row of rows) {
        const { record, issues } = analyze(JSON.parse(row.json) as NostrEvent);
        // Stored events were accepted under the mode then in force; everything found now is a flag.
        this.insert(row.seq, record, issues.map(({ code, detail }) => ({ code, detail })));
      }
      after = rows[rows.length - 1]!.seq;
    }
    for (const seq of this.sql.allReferrers.all() as number[]) this.refresh(seq);
  }
}
