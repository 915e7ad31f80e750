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

export interface MediaItem {
  url: string;
  mime: string | null;
  alt: string | null;
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
  template(address: string, now: number): Promise<Resolved | undefined>;
  record(id: string, now: number): Promise<(Resolved & { template: { address: string; title: string } | null }) | undefined>;
  authorExercises(pubkey: string): Promise<ExerciseCard[]>;
  authorTemplates(pubkey: string): Promise<TemplateCard[]>;
  exerciseTitles(addresses: string[]): Promise<Record<string, string>>;
  trainingLog(pubkey: string, limit: number): Promise<TrainingLog>;
  recentRecords(limit: number): Promise<(Session & { pubkey: string })[]>;
}

/** Every CatalogueReads method, for backends that forward them by name. */
export const CATALOGUE_METHODS = [
  'stats', 'facets', 'searchExercises', 'browseTemplates', 'profiles', 'exercise', 'template', 'record',
  'authorExercises', 'authorTemplates', 'exerciseTitles', 'trainingLog', 'recentRecords',
] as const satisfies readonly (keyof CatalogueReads)[];
