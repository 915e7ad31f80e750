import type { SetGroup } from '../powr/groups.js';
import type { ActivitySet } from '../powr/types.js';

/**
 * What the web catalogue reads, backend-neutral: plain JSON in and out, asynchronous, so a backend
 * answers it from wherever its reads run (the SQLite backend: its reader threads).
 */

export interface ExerciseCard {
  address: string;
  title: string;
  equipment: string | null;
  difficulty: string | null;
  hashtags: string[];
  image: string | null;
}

export interface TemplateCard {
  address: string;
  title: string;
  type: string;
  difficulty: string | null;
  sets: number;
  missing: number;
}

/** One imeta of an exercise, with the blob its URL names (exercise_media.sha256) when this relay stores it. */
export interface MediaItem {
  url: string;
  mime: string | null;
  alt: string | null;
  sha256: string | null;
  /** The stored blob's type when the blob is stored here and may be served; null otherwise. */
  stored: string | null;
}

/** A stored event and the exercises it references (JSON as served), with the addresses not stored. */
export interface Resolved {
  json: string;
  exercises: string[];
  missing: string[];
}

export interface Session {
  id: string;
  kind: number;
  start: number;
  end: number | null;
  title: string | null;
  type: string | null;
}


export interface LoggedSet {
  record: string;
  exercise: string | null;
  /** As published, in the exercise's unit. */
  weight: number | null;
  /** Normalised by the processed tables (lbs and other units converted). */
  weightKg: number | null;
  reps: number | null;
  rpe: number | null;
  setType: string | null;
  /** The exercise's format and format_units (JSON arrays), null when the relay lacks the exercise. */
  format: string | null;
  formatUnits: string | null;
}

/** A RUNSTR/Amethyst activity (a 1301 with a verb in exercise[1]) as the processed tables have it. */
export interface ActivitySession {
  id: string;
  /** workout_start_time, or when it was published if it gives none. */
  start: number;
  title: string | null;
  /** Lower-case verb: running, cycling, strength… */
  activity: string;
  /** As published, with its unit. */
  distance: number | null;
  distanceUnit: string | null;
  distanceM: number | null;
  durationS: number | null;
  paceSPerKm: number | null;
  /** Weight × reps over its strength sets, in kg; null when it has none. */
  volumeKg: number | null;
}

export interface ActivityDetail extends ActivitySession {
  elevationGainM: number | null;
  calories: number | null;
  sets: ActivitySet[];
}

/** Everything one person logged, POWR workouts and activities together. */
export interface TrainingTotals {
  workouts: number;
  activities: number;
  /** Weight × reps in kg, over workout sets and activities' strength sets. */
  volumeKg: number;
  /** Metres: distance sets of workouts and activities' distances. */
  distanceM: number;
  /** Seconds: workouts from start to end, and activities' durations. */
  durationS: number;
}

export interface TrainingLog {
  sessions: Session[];
  sets: LoggedSet[];
}

export interface ExerciseFilters {
  q: string;
  equipment: string;
  muscle: string;
  difficulty: string;
}

export interface TemplateFilters {
  q: string;
  type: string;
  difficulty: string;
}

/** The live numbers on the catalogue's home page. */
export interface CatalogueStats {
  events: number;
  exercises: number;
  templates: number;
  records: number;
}

export interface CatalogueReads {
  stats(): Promise<CatalogueStats>;
  facets(): Promise<{ equipment: string[]; difficulty: string[]; muscles: string[]; templateTypes: string[] }>;
  searchExercises(filters: ExerciseFilters): Promise<ExerciseCard[]>;
  browseTemplates(filters: TemplateFilters, limit?: number): Promise<TemplateCard[]>;
  /** Display names from stored kind-0 profiles, by pubkey. */
  profiles(pubkeys: string[]): Promise<Record<string, string>>;
  exercise(address: string, now: number): Promise<{ json: string; media: MediaItem[]; usedBy: { address: string; title: string }[] } | undefined>;
  /**
   * `groups`: the processed set groups of a superset, circuit or metcon template (empty for other types);
   * `media`: the media of each stored exercise that has any, by address.
   */
  template(address: string, now: number): Promise<(Resolved & { groups: SetGroup[]; media: Record<string, MediaItem[]> }) | undefined>;
  /** `activity`: the processed activity when the record is in the RUNSTR/Amethyst dialect. */
  record(id: string, now: number): Promise<(Resolved & { template: { address: string; title: string } | null; activity: ActivityDetail | null }) | undefined>;
  authorExercises(pubkey: string): Promise<ExerciseCard[]>;
  authorTemplates(pubkey: string): Promise<TemplateCard[]>;
  exerciseTitles(addresses: string[]): Promise<Record<string, string>>;
  trainingLog(pubkey: string, limit: number): Promise<TrainingLog>;
  /** An author's newest `limit` activities. */
  activityLog(pubkey: string, limit: number): Promise<ActivitySession[]>;
  /** Lifetime totals of an author's workouts and activities. */
  trainingTotals(pubkey: string): Promise<TrainingTotals>;
  recentRecords(limit: number): Promise<(Session & { pubkey: string })[]>;
  /** The activities received last. */
  recentActivities(limit: number): Promise<(ActivitySession & { pubkey: string })[]>;
}

/** Every CatalogueReads method, for backends that forward them by name. */
export const CATALOGUE_METHODS = [
  'stats', 'facets', 'searchExercises', 'browseTemplates', 'profiles', 'exercise', 'template', 'record',
  'authorExercises', 'authorTemplates', 'exerciseTitles', 'trainingLog', 'activityLog', 'trainingTotals', 'recentRecords',
  'recentActivities',
] as const satisfies readonly (keyof CatalogueReads)[];
