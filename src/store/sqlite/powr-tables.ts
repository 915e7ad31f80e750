import { createHash } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { growingLru } from '../lru.js';
import { analyze, flagsOf } from '../../powr/analyze.js';
import { checkSetsAgainstFormats, setColumns } from '../../powr/params.js';
import { prepare, setParamsOf, type PreparedEvent } from '../../powr/prepare.js';
import {
  COLLECTION_KINDS,
  EXERCISE_KIND,
  LEGACY_RECORD_KIND,
  RECORD_KIND,
  TEMPLATE_KIND,
  type Issue,
  type PowrRecord,
  type SetRef,
} from '../../powr/types.js';
import { setGroups } from '../../powr/groups.js';
import type { SearchDocument } from '../../powr/search.js';
import { parseAddress, type NostrEvent } from '../../protocol/event.js';

/** Kinds whose address other workout events reference: their arrival or loss changes dependants. */
export const DEPENDENCY_KINDS = new Set([EXERCISE_KIND, TEMPLATE_KIND, ...COLLECTION_KINDS]);

/** Each processed table, the column holding the event it came from, and (if not `*`) what to compare. */
const PROCESSED_TABLES: readonly [string, string, string?][] = [
  ['exercises', 'event_seq'], ['exercise_media', 'event_seq'], ['templates', 'event_seq'],
  ['template_exercises', 'template_seq'], ['workout_records', 'event_seq'], ['record_sets', 'record_seq'],
  ['collections', 'event_seq'], ['collection_members', 'collection_seq'], ['missing_dependencies', 'referrer_seq'],
  ['event_flags', 'event_seq'], ['powr_search', 'rowid', 'rowid, *'], ['activity_records', 'event_seq'],
  ['activity_sets', 'record_seq'],
];

/** What sets referencing an exercise are read by: its parameters and their units. */
interface Schema {
  format: string[];
  units: string[];
}

/**
 * What a referrer's dependency state is computed from: the parts of its record that name other
 * events. A refresh reads them back from the processed rows, never from the raw event.
 */
type Referrer =
  | { type: 'template'; workoutType: string; sets: SetRef[] }
  | { type: 'record'; sets: SetRef[]; templateAddress: string | null }
  | { type: 'collection'; members: string[] };

/** An event's record and flags, with the processed rows that depend on it alone (prepare.ts). */
type Prepared = Pick<PreparedEvent, 'record' | 'flags' | 'search' | 'schema' | 'setParams'>;

/** An exercise whose processed rows were removed: its address, format and units (JSON), to compare a replacement with. */
export interface RemovedExercise {
  address: string;
  format: string;
  format_units: string;
}

/**
 * The processed NIP-101e tables, kept in step with the raw events inside the writer's transaction.
 * A referrer's dependency state (missing addresses, checks against the referenced exercises'
 * formats, set columns) is a function of what is stored now, computed in one place, so incremental
 * processing and a full rebuild arrive at the same tables.
 */
export class PowrTables {
  private readonly sql;
  private readonly deleteBySeq;
  // Every record and template looks up each exercise it names twice (id and format); these caches
  // halve the writer's statements. Both may hold uncommitted rows, so a rollback must clear them.
  private readonly addressIds = growingLru<string, number>(50_000);
  private readonly schemaCache = growingLru<string, Schema | false>(20_000);

  constructor(private readonly db: Database) {
    const p = (s: string) => db.prepare(s);
    this.deleteBySeq = PROCESSED_TABLES.map(([table, column]) => p(`DELETE FROM ${table} WHERE ${column} = ?`));
    this.sql = {
      addressId: p('SELECT id FROM addresses WHERE address = ?').pluck(),
      intern: p('INSERT INTO addresses (address) VALUES (?)'),
      insertExercise: p(`INSERT INTO exercises (event_seq, address, title, equipment, difficulty, format, format_units, hashtags)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      insertMedia: p('INSERT INTO exercise_media (event_seq, position, url, mime, dim, alt, hash, sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      insertTemplate: p(`INSERT INTO templates (event_seq, address, title, type, rounds, duration, interval, rest_between_rounds,
        rest_between_sets, difficulty) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      insertTemplateSet: p(`INSERT INTO template_exercises (template_seq, position, exercise_id, set_number, group_index, params)
        VALUES (?, ?, ?, ?, ?, ?)`),
      insertRecord: p(`INSERT INTO workout_records (event_seq, title, type, start_at, end_at, completed, template_id)
        VALUES (?, ?, ?, ?, ?, ?, ?)`),
      insertRecordSet: p(`INSERT INTO record_sets (record_seq, position, exercise_id, set_number, weight, reps, rpe, set_type,
        weight_unit, distance, distance_unit, duration, duration_unit, weight_kg, distance_m, duration_s, params)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      insertActivity: p(`INSERT INTO activity_records (event_seq, activity, title, start_at, duration_s, distance, distance_unit,
        distance_m, pace_s_per_km, elevation_gain_m, calories) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      insertActivitySet: p(`INSERT INTO activity_sets (record_seq, position, set_number, reps, weight, weight_unit, weight_kg)
        VALUES (?, ?, ?, ?, ?, ?, ?)`),
      insertCollection: p('INSERT INTO collections (event_seq, address, title) VALUES (?, ?, ?)'),
      insertMember: p('INSERT INTO collection_members (collection_seq, position, member_id) VALUES (?, ?, ?)'),
      insertSearch: p('INSERT INTO powr_search (rowid, title, description, hashtags, equipment) VALUES (?, ?, ?, ?, ?)'),
      insertFlag: p('INSERT INTO event_flags (event_seq, source, code, detail) VALUES (?, ?, ?, ?)'),
      deleteDependencyFlags: p("DELETE FROM event_flags WHERE event_seq = ? AND source = 'dependency'"),
      insertMissing: p('INSERT OR IGNORE INTO missing_dependencies (referrer_seq, missing_id) VALUES (?, ?)'),
      deleteMissing: p('DELETE FROM missing_dependencies WHERE referrer_seq = ?'),
      schemaOf: p('SELECT format, format_units FROM exercises WHERE address = ?'),
      schemaOfSeq: p('SELECT address, format, format_units FROM exercises WHERE event_seq = ?'),
      addressExists: p('SELECT 1 FROM nostr_events WHERE kind = ? AND pubkey = ? AND d = ?').pluck(),
      templateOf: p('SELECT type FROM templates WHERE event_seq = ?').pluck(),
      templateSets: p(`SELECT position, address, params FROM template_exercises LEFT JOIN addresses ON id = exercise_id
        WHERE template_seq = ? ORDER BY position`),
      recordOf: p('SELECT address FROM workout_records LEFT JOIN addresses ON id = template_id WHERE event_seq = ?'),
      recordSets: p(`SELECT position, address, params FROM record_sets LEFT JOIN addresses ON id = exercise_id
        WHERE record_seq = ? ORDER BY position`),
      collectionMembers: p(`SELECT address FROM collection_members JOIN addresses ON id = member_id
        WHERE collection_seq = ? ORDER BY position`).pluck(),
      updateTemplateSet: p('UPDATE template_exercises SET set_number = ?, group_index = ? WHERE template_seq = ? AND position = ?'),
      updateRecordSet: p(`UPDATE record_sets SET set_number = ?, weight = ?, reps = ?, rpe = ?, set_type = ?, weight_unit = ?,
        distance = ?, distance_unit = ?, duration = ?, duration_unit = ?, weight_kg = ?, distance_m = ?, duration_s = ?
        WHERE record_seq = ? AND position = ?`),
      dependants: p(`SELECT template_seq FROM template_exercises WHERE exercise_id = @id
        UNION SELECT record_seq FROM record_sets WHERE exercise_id = @id
        UNION SELECT event_seq FROM workout_records WHERE template_id = @id
        UNION SELECT collection_seq FROM collection_members WHERE member_id = @id`).pluck(),
      allReferrers: p('SELECT event_seq FROM templates UNION SELECT event_seq FROM workout_records UNION SELECT event_seq FROM collections').pluck(),
      powrEventsAfter: p(`SELECT seq, json FROM nostr_events WHERE seq > ? AND kind IN (${[EXERCISE_KIND, TEMPLATE_KIND, RECORD_KIND,
        LEGACY_RECORD_KIND, ...COLLECTION_KINDS].join(',')}) ORDER BY seq LIMIT 1000`),
    };
  }

  /** Call after a transaction that touched these tables rolled back, or another process wrote. */
  forgetUncommitted(): void {
    this.addressIds.clear();
    this.schemaCache.clear();
  }

  /** The id of an address, interning it on first use. */
  private intern(address: string): number {
    let id = this.addressIds.get(address) ?? (this.sql.addressId.get(address) as number | undefined);
    id ??= Number(this.sql.intern.run(address).lastInsertRowid);
    this.addressIds.set(address, id);
    return id;
  }

  private schemaOf(address: string): Schema | undefined {
    let schema = this.schemaCache.get(address);
    if (schema === undefined) {
      const row = this.sql.schemaOf.get(address) as { format: string; format_units: string } | undefined;
      schema = row === undefined ? false : { format: JSON.parse(row.format) as string[], units: JSON.parse(row.format_units) as string[] };
      this.schemaCache.set(address, schema);
    }
    return schema || undefined;
  }

  private readonly formatOf = (address: string) => this.schemaOf(address)?.format;

  /** A set's columns, read by its exercise's format and units as stored now. */
  private setColumnsOf(set: SetRef) {
    const schema = set.address ? this.schemaOf(set.address) : undefined;
    return setColumns(set, schema?.format, schema?.units);
  }

  /** Set number and group of each prescribed set (groups only in superset, circuit and metcon templates). */
  private templateSetRows(template: { workoutType: string; sets: SetRef[] }) {
    const rows = template.sets.map((s) => ({ set: s, setNumber: this.setColumnsOf(s).setNumber, groupIndex: null as number | null }));
    const byPosition = new Map(rows.map((r) => [r.set.position, r]));
    setGroups(template.workoutType, rows.map((r) => ({ position: r.set.position, setNumber: r.setNumber })))
      .forEach((g, i) => g.positions.forEach((p) => (byPosition.get(p)!.groupIndex = i + 1)));
    return rows;
  }

  private static recordSetValues(c: ReturnType<typeof setColumns>) {
    return [c.setNumber, c.weight, c.reps, c.rpe, c.setType, c.weightUnit, c.distance, c.distanceUnit, c.duration, c.durationUnit,
      c.weightKg, c.distanceM, c.durationS];
  }

  /** Problems that must refuse a template or record because of an exercise the relay already has. */
  refusal(record: PowrRecord | null): Issue | undefined {
    if (record?.type !== 'template' && record?.type !== 'record') return undefined;
    return checkSetsAgainstFormats(record.sets, this.formatOf, record.type).find((i) => i.severity === 'reject');
  }

  /**
   * Writes the processed rows of a just-inserted event and its dependency state. Unless rebuilding,
   * also re-checks what references its address when that can change: the address is new (nothing
   * `replaced` it), or an exercise's format changed.
   */
  insert(seq: number, prepared: Prepared, replaced?: RemovedExercise, rebuilding = false): void {
    const { record, flags, search, schema, setParams } = prepared;
    for (const f of flags) this.sql.insertFlag.run(seq, 'validation', f.code, f.detail);
    if (!record) return;
    const ref = (address: string | null) => (address === null ? null : this.intern(address));
    switch (record.type) {
      case 'exercise':
        this.sql.insertExercise.run(seq, record.address, record.title, record.equipment, record.difficulty,
          schema!.format, schema!.units, schema!.hashtags);
        this.schemaCache.set(record.address, { format: [...record.format], units: [...record.formatUnits] });
        record.media.forEach((m, i) => this.sql.insertMedia.run(seq, i, m.url, m.mime, m.dim, m.alt, m.hash, m.blob));
        this.index(seq, search!);
        break;
      case 'template':
        this.sql.insertTemplate.run(seq, record.address, record.title, record.workoutType, record.rounds, record.duration,
          record.interval, record.restBetweenRounds, record.restBetweenSets, record.difficulty);
        this.templateSetRows(record).forEach((r, i) =>
          this.sql.insertTemplateSet.run(seq, r.set.position, ref(r.set.address), r.setNumber, r.groupIndex, setParams[i]));
        this.index(seq, search!);
        break;
      case 'record':
        this.sql.insertRecord.run(seq, record.title, record.workoutType, record.start, record.end,
          record.completed === null ? null : Number(record.completed), ref(record.templateAddress));
        record.sets.forEach((s, i) => {
          const [setNumber, ...values] = PowrTables.recordSetValues(this.setColumnsOf(s));
          this.sql.insertRecordSet.run(seq, s.position, ref(s.address), setNumber, ...values, setParams[i]);
        });
        break;
      case 'activity':
        this.sql.insertActivity.run(seq, record.activity, record.title, record.start, record.durationS, record.distance,
          record.distanceUnit, record.distanceM, record.paceSPerKm, record.elevationGainM, record.calories);
        record.sets.forEach((s, i) => this.sql.insertActivitySet.run(seq, i + 1, s.setNumber, s.reps, s.weight, s.weightUnit, s.weightKg));
        return; // an activity references nothing and nothing references it
      case 'collection':
        this.sql.insertCollection.run(seq, record.address, record.title);
        record.members.forEach((m, i) => this.sql.insertMember.run(seq, i, this.intern(m)));
        break;
    }
    if (rebuilding) return;
    this.dependencyState(seq, record, true);
    if (record.type === 'record') return;
    const schemaChanged = record.type === 'exercise' &&
      (replaced?.format !== schema!.format || replaced.format_units !== schema!.units);
    if (!replaced || schemaChanged) this.addressChanged(record.address);
  }

  /** Adds an exercise or template to the NIP-50 search index. */
  private index(seq: number, doc: SearchDocument): void {
    this.sql.insertSearch.run(seq, doc.title, doc.description, doc.hashtags, doc.equipment);
  }

  /** Deletes an event's processed rows; returns the exercise they described, if they did. */
  remove(seq: number): RemovedExercise | undefined {
    const exercise = this.sql.schemaOfSeq.get(seq) as RemovedExercise | undefined;
    if (exercise) this.schemaCache.delete(exercise.address);
    for (const stmt of this.deleteBySeq) stmt.run(seq);
    return exercise;
  }

  /** An address appeared, changed or vanished: everything that references it is re-checked. */
  addressChanged(address: string): void {
    const id = this.addressIds.get(address) ?? (this.sql.addressId.get(address) as number | undefined);
    if (id === undefined) return;
    for (const seq of this.sql.dependants.all({ id }) as number[]) this.refresh(seq);
  }

  /** Recomputes a referrer's set columns and dependency state from its processed rows. */
  private refresh(seq: number): void {
    const referrer = this.referrer(seq);
    if (referrer.type !== 'collection') this.updateSetColumns(seq, referrer);
    this.dependencyState(seq, referrer, false);
  }

  /** A referrer as its processed rows hold it: its sets with their raw values, its template, its members. */
  private referrer(seq: number): Referrer {
    const setsOf = (rows: unknown[]) => (rows as { position: number; address: string | null; params: string }[])
      .map(({ position, address, params }): SetRef => ({ position, address, values: setParamsOf(params) }));
    const workoutType = this.sql.templateOf.get(seq) as string | undefined;
    if (workoutType !== undefined) return { type: 'template', workoutType, sets: setsOf(this.sql.templateSets.all(seq)) };
    const record = this.sql.recordOf.get(seq) as { address: string | null } | undefined;
    if (record) return { type: 'record', templateAddress: record.address, sets: setsOf(this.sql.recordSets.all(seq)) };
    const members = this.sql.collectionMembers.all(seq) as string[];
    return { type: 'collection', members };
  }

  private stored(address: string): boolean {
    // An exercise with processed rows is stored, and its schema is usually cached: no statement then.
    if (address.startsWith(`${EXERCISE_KIND}:`) && this.schemaOf(address)) return true;
    const a = parseAddress(address);
    if (!a) return false;
    const d = a.kind >= 30000 && a.kind < 40000 ? a.d : '';
    return this.sql.addressExists.get(a.kind, Buffer.from(a.pubkey, 'hex'), d) !== undefined;
  }

  /**
   * A referrer's missing addresses and its flags from the referenced exercises, from what is stored
   * now. A fresh referrer has no earlier state to clear.
   */
  private dependencyState(seq: number, record: PowrRecord | Referrer, fresh: boolean): void {
    if (record.type === 'exercise' || record.type === 'activity') return;
    let references: string[];
    if (record.type === 'collection') {
      references = record.members;
    } else {
      if (!fresh) this.sql.deleteDependencyFlags.run(seq);
      for (const issue of checkSetsAgainstFormats(record.sets, this.formatOf, record.type)) {
        this.sql.insertFlag.run(seq, 'dependency', issue.code, issue.detail);
      }
      references = record.sets.map((s) => s.address).filter((a): a is string => a !== null);
      if (record.type === 'record' && record.templateAddress) references.push(record.templateAddress);
    }
    if (!fresh) this.sql.deleteMissing.run(seq);
    for (const address of new Set(references)) if (!this.stored(address)) this.sql.insertMissing.run(seq, this.intern(address));
  }

  private updateSetColumns(seq: number, record: Exclude<Referrer, { type: 'collection' }>): void {
    if (record.type === 'template') {
      for (const r of this.templateSetRows(record)) this.sql.updateTemplateSet.run(r.setNumber, r.groupIndex, seq, r.set.position);
    } else {
      for (const s of record.sets) this.sql.updateRecordSet.run(...PowrTables.recordSetValues(this.setColumnsOf(s)), seq, s.position);
    }
  }

  /**
   * The processed tables whose contents differ from a rebuild from the raw events (none, when
   * incremental processing is right). The rebuild is rolled back; call outside any transaction.
   */
  differencesFromRebuild(): string[] {
    const digest = ([table, , columns = '*']: (typeof PROCESSED_TABLES)[number]) => {
      const stmt = this.db.prepare(`SELECT ${columns} FROM ${table}`);
      const order = stmt.columns().map((_, i) => i + 1).join(', ');
      const hash = createHash('sha256');
      // JSON writes Inf as null: a row holding Inf where the rebuild holds NULL must still differ.
      const lossless = (_: string, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? { nonFinite: String(v) } : v);
      for (const row of this.db.prepare(`SELECT ${columns} FROM ${table} ORDER BY ${order}`).raw().iterate()) hash.update(JSON.stringify(row, lossless));
      return hash.digest('hex');
    };
    const before = PROCESSED_TABLES.map(digest);
    this.db.exec('SAVEPOINT rebuild_check');
    try {
      this.rebuild();
      return PROCESSED_TABLES.filter((t, i) => digest(t) !== before[i]).map(([table]) => table);
    } finally {
      this.db.exec('ROLLBACK TO rebuild_check; RELEASE rebuild_check');
      this.forgetUncommitted();
    }
  }

  /** Rebuilds every processed table from the raw events (after a schema change, or to check them). */
  rebuild(): void {
    for (const [table] of PROCESSED_TABLES) this.db.prepare(`DELETE FROM ${table}`).run();
    this.forgetUncommitted();
    // In pages: the connection cannot write while a statement is still iterating.
    for (let after = 0, rows; (rows = this.sql.powrEventsAfter.all(after) as { seq: number; json: string }[]).length > 0;) {
      for (const row of rows) {
        const event = JSON.parse(row.json) as NostrEvent;
        const { record, issues } = analyze(event);
        // Stored events were accepted under the mode then in force; everything found now is a flag.
        this.insert(row.seq, prepare(event, record, flagsOf(issues)), undefined, true);
      }
      after = rows[rows.length - 1]!.seq;
    }
    // Now that every address is in place, the dependency state of each referrer is final.
    for (const seq of this.sql.allReferrers.all() as number[]) this.refresh(seq);
  }
}
