import type { Database } from 'better-sqlite3';

/**
 * A person's training over time from the processed tables, for charts and totals: lifts in kilograms,
 * distances in metres and times in seconds whatever unit each app published, and RUNSTR/Amethyst
 * activities beside POWR records. Read-only; every value is plain JSON. Privacy mode is the caller's
 * business: these queries return records regardless of who may read them.
 */

/** One workout that included an exercise: its sets summed up. */
export interface ExercisePoint {
  recordId: string;
  /** The workout's start (seconds), or when it was published if it gives none. */
  at: number;
  sets: number;
  reps: number | null;
  topWeightKg: number | null;
  /** Σ weight_kg × reps over the sets that have both. */
  volumeKg: number | null;
  distanceM: number | null;
  durationS: number | null;
}

/** One RUNSTR/Amethyst activity. */
export interface ActivityPoint {
  recordId: string;
  at: number;
  activity: string;
  distanceM: number | null;
  durationS: number | null;
  paceSPerKm: number | null;
}

export interface Totals {
  /** POWR workout records. */
  workouts: number;
  /** RUNSTR/Amethyst activities. */
  activities: number;
  volumeKg: number;
  distanceM: number;
  durationS: number;
}

/** A set group of a superset, circuit or metcon template: the exercises performed together. */
export interface SetGroupRow {
  groupIndex: number;
  setNumber: number | null;
  /** Exercise addresses in tag order, one per set (null for a client-local reference). */
  exercises: (string | null)[];
}

export class WorkoutHistory {
  private readonly sql;

  constructor(db: Database) {
    const p = (s: string) => db.prepare(s);
    this.sql = {
      exercise: p(`SELECT lower(hex(e.id)) AS recordId, coalesce(r.start_at, e.created_at) AS at, COUNT(*) AS sets,
          SUM(s.reps) AS reps, MAX(s.weight_kg) AS topWeightKg, SUM(s.weight_kg * s.reps) AS volumeKg,
          SUM(s.distance_m) AS distanceM, SUM(s.duration_s) AS durationS
        FROM record_sets s JOIN workout_records r ON r.event_seq = s.record_seq JOIN nostr_events e ON e.seq = s.record_seq
        WHERE e.pubkey = ? AND s.exercise_id = (SELECT id FROM addresses WHERE address = ?)
        GROUP BY s.record_seq ORDER BY at, recordId`),
      activities: p(`SELECT lower(hex(e.id)) AS recordId, coalesce(a.start_at, e.created_at) AS at, a.activity,
          a.distance_m AS distanceM, a.duration_s AS durationS, a.pace_s_per_km AS paceSPerKm
        FROM activity_records a JOIN nostr_events e ON e.seq = a.event_seq
        WHERE e.pubkey = @pubkey AND (@activity IS NULL OR a.activity = @activity) ORDER BY at, recordId`),
      recordTotals: p(`SELECT COUNT(DISTINCT r.event_seq) AS workouts, coalesce(SUM(s.weight_kg * s.reps), 0) AS volumeKg,
          coalesce(SUM(s.distance_m), 0) AS distanceM, coalesce(SUM(s.duration_s), 0) AS durationS
        FROM workout_records r JOIN nostr_events e ON e.seq = r.event_seq LEFT JOIN record_sets s ON s.record_seq = r.event_seq
        WHERE e.pubkey = ?`),
      activityTotals: p(`SELECT COUNT(*) AS activities, coalesce(SUM(a.distance_m), 0) AS distanceM,
          coalesce(SUM(a.duration_s), 0) AS durationS, coalesce(SUM(s.volume), 0) AS volumeKg
        FROM activity_records a JOIN nostr_events e ON e.seq = a.event_seq
        LEFT JOIN (SELECT record_seq, SUM(weight_kg * reps) AS volume FROM activity_sets GROUP BY record_seq) s ON s.record_seq = a.event_seq
        WHERE e.pubkey = ?`),
      groups: p(`SELECT s.group_index AS groupIndex, s.set_number AS setNumber, a.address
        FROM templates t JOIN template_exercises s ON s.template_seq = t.event_seq LEFT JOIN addresses a ON a.id = s.exercise_id
        WHERE t.address = ? AND s.group_index IS NOT NULL ORDER BY s.group_index, s.position`),
    };
  }

  /** Every workout of `pubkey` (64 hex) that included the exercise, oldest first. */
  exerciseProgress(pubkey: string, exerciseAddress: string): ExercisePoint[] {
    return this.sql.exercise.all(Buffer.from(pubkey, 'hex'), exerciseAddress) as ExercisePoint[];
  }

  /** The activities of `pubkey`, all or one kind (`running`…), oldest first. */
  activityProgress(pubkey: string, activity?: string): ActivityPoint[] {
    return this.sql.activities.all({ pubkey: Buffer.from(pubkey, 'hex'), activity: activity ?? null }) as ActivityPoint[];
  }

  /** Lifetime totals of `pubkey` across POWR records and activities. */
  totals(pubkey: string): Totals {
    const key = Buffer.from(pubkey, 'hex');
    const r = this.sql.recordTotals.get(key) as Omit<Totals, 'activities'>;
    const a = this.sql.activityTotals.get(key) as Omit<Totals, 'workouts'>;
    return { workouts: r.workouts, activities: a.activities, volumeKg: r.volumeKg + a.volumeKg,
      distanceM: r.distanceM + a.distanceM, durationS: r.durationS + a.durationS };
  }

  /** The set groups of a superset, circuit or metcon template; empty for straight-set templates. */
  templateSetGroups(templateAddress: string): SetGroupRow[] {
    const groups: SetGroupRow[] = [];
    for (const row of this.sql.groups.all(templateAddress) as { groupIndex: number; setNumber: number | null; address: string | null }[]) {
      const last = groups[groups.length - 1];
      if (last?.groupIndex === row.groupIndex) last.exercises.push(row.address);
      else groups.push({ groupIndex: row.groupIndex, setNumber: row.setNumber, exercises: [row.address] });
    }
    return groups;
  }
}
