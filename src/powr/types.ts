/** Typed NIP-101e records: what the relay keeps in its processed tables. */

export const EXERCISE_KIND = 33401;
export const TEMPLATE_KIND = 33402;
export const RECORD_KIND = 1301;
export const LEGACY_RECORD_KIND = 33403;
export const COLLECTION_KINDS: readonly number[] = [30003, 30004];

export type ValidationMode = 'compat' | 'strict';

/**
 * reject: refused in both modes. strict: refused in strict mode, stored and flagged in compat mode.
 * flag: stored and flagged in both modes.
 */
export type Severity = 'reject' | 'strict' | 'flag';

export interface Issue {
  severity: Severity;
  code: string;
  /** Names the tag and the problem: `exercise tag 2: reps "-5" is not a non-negative integer`. */
  detail: string;
}

export interface Flag {
  code: string;
  detail: string;
}

export interface Media {
  url: string;
  mime: string | null;
  dim: string | null;
  alt: string | null;
  hash: string | null;
  /** The sha256 its URL's last path segment names (`<64 hex>` or `<64 hex>.<ext>`): a Blossom blob, maybe stored here. */
  blob: string | null;
}

export interface Exercise {
  type: 'exercise';
  address: string;
  title: string;
  equipment: string | null;
  difficulty: string | null;
  format: string[];
  formatUnits: string[];
  hashtags: string[];
  /** The instructions: the content, or a description tag when the content is empty. */
  description: string;
  media: Media[];
}

/** One `exercise` tag of a template or record: one prescribed or performed set. */
export interface SetRef {
  /** 1-based number of the exercise tag among the event's exercise tags, as used in messages. */
  position: number;
  /** The coordinate; null when it can never resolve (client-local ids). */
  address: string | null;
  /** Everything after the relay slot: format values, then possibly set_number. */
  values: string[];
}

export interface Template {
  type: 'template';
  address: string;
  title: string;
  workoutType: string;
  rounds: number | null;
  duration: number | null;
  interval: number | null;
  restBetweenRounds: number | null;
  restBetweenSets: number | null;
  difficulty: string | null;
  hashtags: string[];
  description: string;
  sets: SetRef[];
}

export interface WorkoutRecord {
  type: 'record';
  title: string | null;
  workoutType: string | null;
  /** Normalised to seconds (13-digit millisecond values are divided by 1000). */
  start: number | null;
  end: number | null;
  completed: boolean | null;
  templateAddress: string | null;
  sets: SetRef[];
}

export interface Collection {
  type: 'collection';
  address: string;
  title: string | null;
  members: string[];
}

/** One set of a RUNSTR strength workout (`weight_set` tags, or `sets` × `weight`). */
export interface ActivitySet {
  setNumber: number;
  reps: number | null;
  weight: number | null;
  weightUnit: string | null;
  weightKg: number | null;
}

/**
 * A 1301 in the RUNSTR/Amethyst dialect (nip101e.md 7.3): an activity verb instead of exercise
 * coordinates. Distances and durations are kept as published and normalised (metres, seconds).
 */
export interface Activity {
  type: 'activity';
  /** The verb in exercise[1], lower case (`running`, `cycling`, `strength`…). */
  activity: string;
  title: string | null;
  /** workout_start_time, unix seconds. */
  start: number | null;
  durationS: number | null;
  distance: number | null;
  distanceUnit: string | null;
  distanceM: number | null;
  /** Seconds per kilometre, from distance and duration. */
  paceSPerKm: number | null;
  elevationGainM: number | null;
  calories: number | null;
  sets: ActivitySet[];
}

export type PowrRecord = Exercise | Template | WorkoutRecord | Collection | Activity;

/** What the domain layer makes of one event: the typed record (if any) and what is wrong with it. */
export interface Analysis {
  record: PowrRecord | null;
  issues: Issue[];
}
