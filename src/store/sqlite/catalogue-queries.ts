import type { Database, Statement } from 'better-sqlite3';
import { ftsMatch } from '../../powr/search.js';
import { EXERCISE_KIND, LEGACY_RECORD_KIND, RECORD_KIND, TEMPLATE_KIND } from '../../powr/types.js';
import { kindClass, parseAddress } from '../../protocol/event.js';
import type { SetGroup } from '../../powr/groups.js';
import { EXERCISE_MEDIA } from './bundles.js';
import type {
  ActivityDetail,
  ActivitySession,
  CatalogueReads,
  ExerciseCard,
  ExerciseFilters,
  LoggedSet,
  MediaItem,
  Resolved,
  Session,
  TemplateCard,
  TemplateFilters,
  TrainingLog,
  TrainingTotals,
} from '../catalogue.js';

/** The synchronous form of an asynchronous interface. */
type CatalogueQueriesOf<T> = { [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : never };

/**
 * Every read the web catalogue makes, each served by an index chosen for its page (CATALOGUE_SQL
 * names them; test/unit/catalogue-queries.test.ts checks the plans). Methods take and return plain
 * JSON values only, so the same class can run on a reader thread behind `CatalogueReads`.
 */

const LIVE = '(e.expires_at IS NULL OR e.expires_at > @now)';

/** Matches of a search that are ranked at most (see searchTemplates). */
const SEARCH_CANDIDATES = 2000;

/** What a template card shows: the template row, its set count and how many exercises it lacks. */
const TEMPLATE_CARD = `SELECT t.address, t.title, t.type, t.difficulty,
      (SELECT COUNT(*) FROM template_exercises s WHERE s.template_seq = t.event_seq) AS sets,
      (SELECT COUNT(*) FROM missing_dependencies m WHERE m.referrer_seq = t.event_seq) AS missing`;

/** What an exercise card shows: the exercise row and its first image. */
const EXERCISE_CARD = `SELECT x.address, x.title, x.equipment, x.difficulty, x.hashtags,
      (SELECT url FROM exercise_media m WHERE m.event_seq = x.event_seq AND m.mime LIKE 'image/%' ORDER BY position LIMIT 1) AS image`;

/**
 * The newest workout records matching `where`, walking `index` backwards once per record kind: an
 * `IN` over both kinds would sort every matching record before applying the limit.
 */
function newestRecords(index: string, where: string): string {
  const one = (kind: number) => `SELECT * FROM (SELECT e.seq, lower(hex(e.id)) AS id, lower(hex(e.pubkey)) AS pubkey, e.kind, e.created_at,
      coalesce(w.start_at, e.created_at) AS start, w.end_at AS "end", w.title, w.type
    FROM nostr_events e INDEXED BY ${index} JOIN workout_records w ON w.event_seq = e.seq
    WHERE ${where} AND e.kind = ${kind} ORDER BY e.created_at DESC LIMIT @limit)`;
  return `${one(RECORD_KIND)} UNION ALL ${one(LEGACY_RECORD_KIND)} ORDER BY created_at DESC LIMIT @limit`;
}

/** What the catalogue shows of an activity: its processed row and the volume of its strength sets. */
const ACTIVITY = `SELECT lower(hex(e.id)) AS id, coalesce(a.start_at, e.created_at) AS start, a.title, a.activity, a.distance,
      a.distance_unit AS distanceUnit, a.distance_m AS distanceM, a.duration_s AS durationS, a.pace_s_per_km AS paceSPerKm,
      (SELECT SUM(s.weight_kg * s.reps) FROM activity_sets s WHERE s.record_seq = a.event_seq) AS volumeKg`;

export const CATALOGUE_SQL = {
  /** exercises' UNIQUE index on address, then the event by its primary key. */
  exerciseEvent: `SELECT e.seq, e.json FROM exercises x JOIN nostr_events e ON e.seq = x.event_seq
    WHERE x.address = @address AND ${LIVE}`,
  /** exercise_media's primary key (event_seq, position), each linked blob by blobs' primary key. */
  media: EXERCISE_MEDIA,
  /** addresses' UNIQUE index, then template_exercises_by_exercise. */
  templatesUsing: `SELECT t.address, t.title FROM templates t WHERE t.event_seq IN (
      SELECT DISTINCT te.template_seq FROM template_exercises te INDEXED BY template_exercises_by_exercise
      WHERE te.exercise_id = (SELECT id FROM addresses WHERE address = ?) ORDER BY te.template_seq DESC LIMIT 50)
    ORDER BY t.event_seq DESC`,
  /** exercises' UNIQUE index on address. */
  exerciseTitle: 'SELECT title FROM exercises WHERE address = ?',
  /** events_by_address: the latest version of a template. */
  addressEvent: `SELECT e.seq, e.json FROM nostr_events e INDEXED BY events_by_address
    WHERE e.kind = @kind AND e.pubkey = @pubkey AND e.d = @d AND ${LIVE}`,
  /** events_by_id. */
  recordEvent: `SELECT e.seq, e.json FROM nostr_events e INDEXED BY events_by_id
    WHERE e.id = @id AND e.kind IN (${RECORD_KIND}, ${LEGACY_RECORD_KIND}) AND ${LIVE}`,
  /** templates' UNIQUE index on address. */
  templateTitle: 'SELECT address, title FROM templates WHERE address = ?',
  /** events_by_address (kind 0 is replaceable, d = ''). */
  profile: `SELECT e.json ->> '$.content' FROM nostr_events e INDEXED BY events_by_address
    WHERE e.kind = 0 AND e.pubkey = ? AND e.d = ''`,
  /** Rowid order of templates (newest first), or templates_by_type for a chosen type. */
  browseTemplates: `${TEMPLATE_CARD}
    FROM templates t WHERE (@type = '' OR t.type = @type) AND (@difficulty = '' OR t.difficulty = @difficulty)
    ORDER BY t.event_seq DESC LIMIT @limit`,
  browseTemplatesOfType: `${TEMPLATE_CARD}
    FROM templates t INDEXED BY templates_by_type WHERE t.type = @type AND (@difficulty = '' OR t.difficulty = @difficulty)
    ORDER BY t.event_seq DESC LIMIT @limit`,
  /**
   * The NIP-50 search index (templates are in it with exercises), best match first among the newest
   * SEARCH_CANDIDATES matches: ranking every match of a common word ("workout" at 1M events) took
   * 40 ms; a word that common says little about which of its thousands of matches is best.
   */
  searchTemplates: `${TEMPLATE_CARD}
    FROM (SELECT rowid, rank FROM powr_search WHERE powr_search MATCH @match ORDER BY rowid DESC LIMIT ${SEARCH_CANDIDATES}) p
    JOIN templates t ON t.event_seq = p.rowid
    WHERE (@type = '' OR t.type = @type) AND (@difficulty = '' OR t.difficulty = @difficulty)
    ORDER BY p.rank LIMIT @limit`,
  /** events_by_author_kind: one author's templates, newest first. */
  authorTemplates: `${TEMPLATE_CARD}
    FROM nostr_events e INDEXED BY events_by_author_kind JOIN templates t ON t.event_seq = e.seq
    WHERE e.pubkey = ? AND e.kind = ${TEMPLATE_KIND} ORDER BY e.created_at DESC LIMIT 100`,
  /** events_by_author_kind: one author's exercises. */
  authorExercises: `${EXERCISE_CARD}
    FROM nostr_events e INDEXED BY events_by_author_kind JOIN exercises x ON x.event_seq = e.seq
    WHERE e.pubkey = ? AND e.kind = ${EXERCISE_KIND} ORDER BY x.title COLLATE NOCASE LIMIT 200`,
  /** events_by_author_kind, once per record kind: one author's workout records, newest first. */
  authorRecords: newestRecords('events_by_author_kind', 'e.pubkey = @pubkey'),
  /** record_sets' primary key (record_seq, position), the exercise by addresses' and exercises' UNIQUE indexes. */
  recordSets: `SELECT a.address AS exercise, s.weight, s.weight_kg AS weightKg, s.reps, s.rpe, s.set_type AS setType, x.format, x.format_units AS formatUnits
    FROM record_sets s LEFT JOIN addresses a ON a.id = s.exercise_id LEFT JOIN exercises x ON x.address = a.address
    WHERE s.record_seq = ? ORDER BY s.position`,
  /** template_exercises' primary key (template_seq, position): the sets that belong to a group. */
  templateGroups: `SELECT position, set_number AS setNumber, group_index AS groupIndex FROM template_exercises
    WHERE template_seq = ? AND group_index IS NOT NULL ORDER BY position`,
  /** events_by_author_kind: one author's 1301s, newest first, those that are activities. */
  authorActivities: `${ACTIVITY}
    FROM nostr_events e INDEXED BY events_by_author_kind JOIN activity_records a ON a.event_seq = e.seq
    WHERE e.pubkey = @pubkey AND e.kind = ${RECORD_KIND} ORDER BY e.created_at DESC LIMIT @limit`,
  /** activity_records' primary key. */
  activity: `${ACTIVITY}, a.elevation_gain_m AS elevationGainM, a.calories
    FROM activity_records a JOIN nostr_events e ON e.seq = a.event_seq WHERE a.event_seq = ?`,
  /** activity_sets' primary key (record_seq, position). */
  activitySets: `SELECT set_number AS setNumber, reps, weight, weight_unit AS weightUnit, weight_kg AS weightKg
    FROM activity_sets WHERE record_seq = ? ORDER BY position`,
  /** events_by_author_kind, then each record's sets by record_sets' primary key. */
  recordTotals: `SELECT COUNT(*) AS workouts,
      coalesce(SUM(CASE WHEN w.end_at > w.start_at THEN w.end_at - w.start_at END), 0) AS durationS,
      coalesce(SUM((SELECT SUM(s.weight_kg * s.reps) FROM record_sets s WHERE s.record_seq = w.event_seq)), 0) AS volumeKg,
      coalesce(SUM((SELECT SUM(s.distance_m) FROM record_sets s WHERE s.record_seq = w.event_seq)), 0) AS distanceM
    FROM nostr_events e INDEXED BY events_by_author_kind JOIN workout_records w ON w.event_seq = e.seq
    WHERE e.pubkey = ? AND e.kind IN (${RECORD_KIND}, ${LEGACY_RECORD_KIND})`,
  /** events_by_author_kind, then each activity's strength sets by activity_sets' primary key. */
  activityTotals: `SELECT COUNT(*) AS activities, coalesce(SUM(a.duration_s), 0) AS durationS, coalesce(SUM(a.distance_m), 0) AS distanceM,
      coalesce(SUM((SELECT SUM(s.weight_kg * s.reps) FROM activity_sets s WHERE s.record_seq = a.event_seq)), 0) AS volumeKg
    FROM nostr_events e INDEXED BY events_by_author_kind JOIN activity_records a ON a.event_seq = e.seq
    WHERE e.pubkey = ? AND e.kind = ${RECORD_KIND}`,
  /** activity_records in rowid (arrival) order, newest first, stopping at the limit: no activity index needed. */
  recentActivities: `${ACTIVITY}, lower(hex(e.pubkey)) AS pubkey
    FROM activity_records a JOIN nostr_events e ON e.seq = a.event_seq ORDER BY a.event_seq DESC LIMIT @limit`,
  /** events_by_kind, once per record kind: the newest workout records. */
  recentRecords: newestRecords('events_by_kind', '1'),
  /** Counts and facets: whole-table aggregates, which the catalogue caches for seconds. */
  count: {
    events: 'SELECT COUNT(*) FROM nostr_events',
    exercises: 'SELECT COUNT(*) FROM exercises',
    templates: 'SELECT COUNT(*) FROM templates',
    records: 'SELECT COUNT(*) FROM workout_records',
  },
  equipment: 'SELECT DISTINCT equipment FROM exercises WHERE equipment IS NOT NULL ORDER BY equipment',
  difficulty: 'SELECT DISTINCT difficulty FROM exercises WHERE difficulty IS NOT NULL ORDER BY difficulty',
  muscles: `SELECT h.value FROM exercises x, json_each(x.hashtags) h WHERE h.value <> 'fitness'
    GROUP BY h.value ORDER BY COUNT(*) DESC, h.value LIMIT 40`,
  /** templates_by_type yields the distinct types without touching the table. */
  templateTypes: 'SELECT DISTINCT type FROM templates INDEXED BY templates_by_type ORDER BY type',
} as const;

type RecordRow = Session & { seq: number; pubkey: string; created_at: number };

const LIST_LIMIT = 100;

/** The catalogue's reads on one connection (a reader thread's); the port's CatalogueReads, synchronous. */
export class CatalogueQueries implements CatalogueQueriesOf<CatalogueReads> {
  /** The library's statements, one per combination of filters in use (at most 16). */
  private readonly searches = new Map<string, Statement>();
  private readonly stmt: { [K in keyof typeof CATALOGUE_SQL]: (typeof CATALOGUE_SQL)[K] extends string ? Statement : Record<string, Statement> };

  constructor(private readonly db: Database) {
    const prepared: Record<string, unknown> = {};
    for (const [name, sql] of Object.entries(CATALOGUE_SQL)) {
      prepared[name] = typeof sql === 'string'
        ? db.prepare(sql)
        : Object.fromEntries(Object.entries(sql).map(([k, s]) => [k, db.prepare(s).pluck()]));
    }
    this.stmt = prepared as typeof this.stmt;
  }

  stats(): Record<keyof typeof CATALOGUE_SQL.count, number> {
    const counts = this.stmt.count;
    return Object.fromEntries(Object.entries(counts).map(([k, s]) => [k, s.get() as number])) as Record<keyof typeof CATALOGUE_SQL.count, number>;
  }

  facets(): { equipment: string[]; difficulty: string[]; muscles: string[]; templateTypes: string[] } {
    const list = (s: Statement) => s.pluck().all() as string[];
    return {
      equipment: list(this.stmt.equipment),
      difficulty: list(this.stmt.difficulty),
      muscles: list(this.stmt.muscles),
      templateTypes: list(this.stmt.templateTypes),
    };
  }

  searchExercises(filters: ExerciseFilters): ExerciseCard[] {
    const { sql, params } = exerciseSearch(filters);
    let stmt = this.searches.get(sql);
    if (!stmt) this.searches.set(sql, (stmt = this.db.prepare(sql)));
    return (stmt.all(...params) as (Omit<ExerciseCard, 'hashtags'> & { hashtags: string })[]).map(exerciseCard);
  }

  /** Templates matching words (best match first), else newest first, of a type and difficulty if chosen. */
  browseTemplates(filters: TemplateFilters, limit = LIST_LIMIT): TemplateCard[] {
    const { q, type, difficulty } = filters;
    const match = ftsMatch(q);
    if (match !== undefined) return this.stmt.searchTemplates.all({ match, type, difficulty, limit }) as TemplateCard[];
    const stmt = type ? this.stmt.browseTemplatesOfType : this.stmt.browseTemplates;
    return stmt.all({ type, difficulty, limit }) as TemplateCard[];
  }

  /** Kind-0 contents (JSON text as published) by pubkey, for the pubkeys that have one. */
  profiles(pubkeys: string[]): Record<string, string> {
    const found: Record<string, string> = {};
    for (const pubkey of new Set(pubkeys)) {
      const content = this.stmt.profile.pluck().get(Buffer.from(pubkey, 'hex')) as string | undefined;
      if (content !== undefined) found[pubkey] = content;
    }
    return found;
  }

  exercise(address: string, now: number): { json: string; media: MediaItem[]; usedBy: { address: string; title: string }[] } | undefined {
    const row = this.stmt.exerciseEvent.get({ address, now }) as { seq: number; json: string } | undefined;
    if (!row) return undefined;
    return {
      json: row.json,
      media: this.stmt.media.all(row.seq) as MediaItem[],
      usedBy: this.stmt.templatesUsing.all(address) as { address: string; title: string }[],
    };
  }

  /** A template (the latest version of its address) with the exercises it references and its set groups. */
  template(address: string, now: number): (Resolved & { groups: SetGroup[]; media: Record<string, MediaItem[]> }) | undefined {
    const a = parseAddress(address);
    if (!a || a.kind !== TEMPLATE_KIND) return undefined;
    const row = this.stmt.addressEvent.get({ kind: a.kind, pubkey: Buffer.from(a.pubkey, 'hex'), d: kindClass(a.kind) === 'addressable' ? a.d : '', now }) as
      { seq: number; json: string } | undefined;
    if (!row) return undefined;
    // group_index numbers the groups in the order their first set appears, so walking by position meets them in order.
    const groups = new Map<number, SetGroup>();
    for (const s of this.stmt.templateGroups.all(row.seq) as { position: number; setNumber: number | null; groupIndex: number }[]) {
      const group = groups.get(s.groupIndex);
      if (group) group.positions.push(s.position);
      else groups.set(s.groupIndex, { setNumber: s.setNumber, positions: [s.position] });
    }
    const resolved = resolveExercises(this.stmt.exerciseEvent, row.json, now, this.stmt.media);
    return { ...resolved, media: resolved.media!, groups: [...groups.values()] };
  }

  /** A workout record by id with its exercises, the template it followed (if stored) and, for an activity, its processed row. */
  record(id: string, now: number): (Resolved & { template: { address: string; title: string } | null; activity: ActivityDetail | null }) | undefined {
    const row = this.stmt.recordEvent.get({ id: Buffer.from(id, 'hex'), now }) as { seq: number; json: string } | undefined;
    if (!row) return undefined;
    const activity = this.stmt.activity.get(row.seq) as Omit<ActivityDetail, 'sets'> | undefined;
    const tags = (JSON.parse(row.json) as { tags: string[][] }).tags;
    const templateAddress = tags.find((t) => t[0] === 'template' || (t[0] === 'a' && t[1]?.startsWith(`${TEMPLATE_KIND}:`)))?.[1];
    const template = templateAddress ? (this.stmt.templateTitle.get(templateAddress) as { address: string; title: string } | undefined) : undefined;
    return { ...resolveExercises(this.stmt.exerciseEvent, row.json, now), template: template ?? null,
      activity: activity ? { ...activity, sets: this.stmt.activitySets.all(row.seq) as ActivityDetail['sets'] } : null };
  }

  authorExercises(pubkey: string): ExerciseCard[] {
    return (this.stmt.authorExercises.all(Buffer.from(pubkey, 'hex')) as (Omit<ExerciseCard, 'hashtags'> & { hashtags: string })[]).map(exerciseCard);
  }

  authorTemplates(pubkey: string): TemplateCard[] {
    return this.stmt.authorTemplates.all(Buffer.from(pubkey, 'hex')) as TemplateCard[];
  }

  /** Titles of the stored exercises among `addresses`. */
  exerciseTitles(addresses: string[]): Record<string, string> {
    const titles: Record<string, string> = {};
    for (const address of addresses) {
      const title = this.stmt.exerciseTitle.pluck().get(address) as string | undefined;
      if (title !== undefined) titles[address] = title;
    }
    return titles;
  }

  /** An author's newest `limit` workout records and every set in them: their training log. */
  trainingLog(pubkey: string, limit: number): TrainingLog {
    const rows = this.stmt.authorRecords.all({ pubkey: Buffer.from(pubkey, 'hex'), limit }) as RecordRow[];
    const sets: LoggedSet[] = [];
    const sessions = rows.map(({ seq, id, kind, start, end, title, type }) => {
      for (const s of this.stmt.recordSets.all(seq) as Omit<LoggedSet, 'record'>[]) sets.push({ record: id, ...s });
      return { id, kind, start, end, title, type };
    });
    return { sessions, sets };
  }

  activityLog(pubkey: string, limit: number): ActivitySession[] {
    return this.stmt.authorActivities.all({ pubkey: Buffer.from(pubkey, 'hex'), limit }) as ActivitySession[];
  }

  recentActivities(limit: number): (ActivitySession & { pubkey: string })[] {
    return this.stmt.recentActivities.all({ limit }) as (ActivitySession & { pubkey: string })[];
  }

  trainingTotals(pubkey: string): TrainingTotals {
    const key = Buffer.from(pubkey, 'hex');
    const r = this.stmt.recordTotals.get(key) as Omit<TrainingTotals, 'activities'>;
    const a = this.stmt.activityTotals.get(key) as Omit<TrainingTotals, 'workouts'>;
    return { workouts: r.workouts, activities: a.activities, volumeKg: r.volumeKg + a.volumeKg, distanceM: r.distanceM + a.distanceM,
      durationS: r.durationS + a.durationS };
  }

  recentRecords(limit: number): (Session & { pubkey: string })[] {
    return (this.stmt.recentRecords.all({ limit }) as RecordRow[]).map(({ id, pubkey, kind, start, end, title, type }) => ({ id, pubkey, kind, start, end, title, type }));
  }
}

/**
 * The exercises a template or record references, found by `exerciseEvent`, and those not stored; with
 * a `media` statement, also the media of each stored exercise that has any.
 */
function resolveExercises(exerciseEvent: Statement, json: string, now: number, media?: Statement): Resolved & { media?: Record<string, MediaItem[]> } {
  const tags = (JSON.parse(json) as { tags: string[][] }).tags;
  const referenced = new Set(tags.filter((t) => t[0] === 'exercise' && t[1]).map((t) => t[1]!));
  const exercises: string[] = [];
  const missing: string[] = [];
  const mediaOf: Record<string, MediaItem[]> = {};
  for (const address of referenced) {
    const row = exerciseEvent.get({ address, now }) as { seq: number; json: string } | undefined;
    if (!row) {
      missing.push(address);
      continue;
    }
    exercises.push(row.json);
    const items = media?.all(row.seq) as MediaItem[] | undefined;
    if (items?.length) mediaOf[address] = items;
  }
  return { json, exercises, missing, ...(media && { media: mediaOf }) };
}

/**
 * The library: exercises matching the search (FTS5, best match first) and filters, else in title
 * order (exercises_by_title). The filters are residual conditions on the rows either yields.
 */
export function exerciseSearch(filters: ExerciseFilters): { sql: string; params: unknown[] } {
  const match = ftsMatch(filters.q);
  const where: string[] = [];
  const params: unknown[] = [];
  let from = 'exercises x INDEXED BY exercises_by_title';
  let order = 'x.title COLLATE NOCASE';
  if (match !== undefined) {
    from = 'powr_search s JOIN exercises x ON x.event_seq = s.rowid';
    where.push('powr_search MATCH ?');
    params.push(match);
    order = 's.rank';
  }
  const condition = (sql: string, value: string) => {
    if (!value) return;
    where.push(sql);
    params.push(value);
  };
  condition('x.equipment = ?', filters.equipment);
  condition('x.difficulty = ?', filters.difficulty);
  condition('EXISTS (SELECT 1 FROM json_each(x.hashtags) h WHERE h.value = ?)', filters.muscle);
  const sql = `${EXERCISE_CARD}
    FROM ${from} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${order} LIMIT ${LIST_LIMIT}`;
  return { sql, params };
}

function exerciseCard(row: Omit<ExerciseCard, 'hashtags'> & { hashtags: string }): ExerciseCard {
  return { ...row, hashtags: JSON.parse(row.hashtags) as string[] };
}
