import type { LoggedSet, Session } from '../store/catalogue.js';

/**
 * What a lifter's log adds up to: volume, heaviest sets, estimated one-rep maxes and personal
 * records. All weights in kilograms; days and weeks in UTC.
 */

const DAY = 86_400;

export const day = (t: number): string => new Date(t * 1000).toISOString().slice(0, 10);

/** Date and time to the minute, UTC. */
export const dateTime = (t: number): string => `${new Date(t * 1000).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/** The Monday (UTC) of the week containing t, as YYYY-MM-DD. */
export function weekOf(t: number): string {
  const dayNumber = Math.floor(t / DAY);
  const monday = dayNumber - ((dayNumber + 3) % 7); // 1970-01-01 was a Thursday
  return day(monday * DAY);
}


/** Weight × reps, in kg. */
export function volumeKg(sets: readonly LoggedSet[]): number {
  let total = 0;
  for (const kg of volumeBySession(sets).values()) total += kg;
  return total;
}

/** Volume (kg) per record id. */
export function volumeBySession(sets: readonly LoggedSet[]): Map<string, number> {
  const totals = new Map<string, number>();
  for (const s of sets) totals.set(s.record, (totals.get(s.record) ?? 0) + (s.weightKg ?? 0) * (s.reps ?? 0));
  return totals;
}

/** Epley's estimate of the one-rep max; a single is its own. */
export function estimatedOneRepMax(kg: number, reps: number): number {
  return reps <= 1 ? kg : kg * (1 + reps / 30);
}

export interface ExerciseSession {
  record: string;
  start: number;
  heaviestKg: number;
  e1rmKg: number;
  /** The heaviest set or the estimated max beat every earlier session of this exercise. */
  pr: boolean;
}

/** Per exercise address: one entry per session that lifted a weight in it, oldest first, PRs marked. */
export function progress(sessions: readonly Session[], sets: readonly LoggedSet[]): Map<string, ExerciseSession[]> {
  const startOf = new Map(sessions.map((s) => [s.id, s.start]));
  const best = new Map<string, ExerciseSession>(); // key: record + exercise
  for (const s of sets) {
    const kg = s.weightKg;
    if (!s.exercise || kg === null || kg <= 0 || !s.reps) continue;
    const key = `${s.record} ${s.exercise}`;
    const entry = best.get(key) ?? { record: s.record, start: startOf.get(s.record)!, heaviestKg: 0, e1rmKg: 0, pr: false };
    entry.heaviestKg = Math.max(entry.heaviestKg, kg);
    entry.e1rmKg = Math.max(entry.e1rmKg, estimatedOneRepMax(kg, s.reps));
    best.set(key, entry);
  }
  const byExercise = new Map<string, ExerciseSession[]>();
  for (const [key, entry] of best) {
    const exercise = key.slice(key.indexOf(' ') + 1);
    byExercise.set(exercise, [...(byExercise.get(exercise) ?? []), entry]);
  }
  for (const list of byExercise.values()) {
    list.sort((a, b) => a.start - b.start || a.record.localeCompare(b.record));
    let heaviest = 0;
    let e1rm = 0;
    list.forEach((entry, i) => {
      entry.pr = i > 0 && (entry.heaviestKg > heaviest || entry.e1rmKg > e1rm);
      heaviest = Math.max(heaviest, entry.heaviestKg);
      e1rm = Math.max(e1rm, entry.e1rmKg);
    });
  }
  return byExercise;
}

/** Training volume (kg) per week (its Monday), for every week from the first session to the last. */
export function weeklyVolume(sessions: readonly Session[], sets: readonly LoggedSet[]): { week: string; kg: number }[] {
  if (sessions.length === 0) return [];
  const weekOfRecord = new Map(sessions.map((s) => [s.id, weekOf(s.start)]));
  const totals = new Map<string, number>();
  for (const [record, kg] of volumeBySession(sets)) {
    const week = weekOfRecord.get(record)!;
    totals.set(week, (totals.get(week) ?? 0) + kg);
  }
  const starts = sessions.map((s) => s.start);
  const out: { week: string; kg: number }[] = [];
  for (let t = Date.parse(weekOf(Math.min(...starts))) / 1000; t <= Math.max(...starts); t += 7 * DAY) {
    out.push({ week: day(t), kg: totals.get(day(t)) ?? 0 });
  }
  return out;
}
