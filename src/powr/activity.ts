import { firstTagValue, type NostrEvent } from '../protocol/event.js';
import type { Activity, ActivitySet } from './types.js';
import { clockSeconds, finite, normalise } from './units.js';

/**
 * The RUNSTR/Amethyst dialect of kind 1301 (shared/spec/nip101e.md 7.3): one `exercise` tag with an
 * activity verb, `duration` as HH:MM:SS, `distance` with its unit, strength sets in `weight_set`.
 * Read leniently, as Amethyst does: what cannot be read is left null, never refused.
 */

const NUMBER = /^\d+(\.\d+)?$/;
const num = (v: string | undefined) => (v !== undefined && NUMBER.test(v.trim()) ? finite(Number(v.trim())) : null);
const tag = (e: NostrEvent, name: string) => e.tags.find((t) => t[0] === name);

/**
 * The dialect test (Amethyst's): POWR records and templates put a coordinate in exercise[1]; RUNSTR
 * records put a verb there, and other apps' 33402s have no exercise references at all.
 */
export function referencesExercises(e: NostrEvent): boolean {
  return e.tags.some((t) => t[0] === 'exercise' && /^\d+:/.test(t[1] ?? ''));
}

/** The activity verb of a RUNSTR-dialect record, or undefined when the event is not one. */
function activityVerb(e: NostrEvent): string | undefined {
  if (referencesExercises(e)) return undefined;
  const verb = e.tags.find((t) => t[0] === 'exercise')?.[1]?.trim().toLowerCase();
  return verb ? verb : undefined;
}

/** Amethyst reads a RUNSTR weight without a unit as pounds (RUNSTR only writes lbs). */
const weightUnitOf = (unit: string | undefined) => (unit && unit.trim() !== '' ? unit.trim().toLowerCase() : 'lbs');

function strengthSets(e: NostrEvent): ActivitySet[] {
  const reps = num(firstTagValue(e, 'reps'));
  const set = (setNumber: number, weightRaw: string | undefined, unitRaw: string | undefined): ActivitySet => {
    const weight = num(weightRaw);
    const weightUnit = weight === null ? null : weightUnitOf(unitRaw);
    return { setNumber, reps, weight, weightUnit, weightKg: normalise('weight', weight, weightUnit) };
  };
  const perSet = e.tags.filter((t) => t[0] === 'weight_set' && /^[1-9]\d*$/.test(t[1] ?? '') && Number.isSafeInteger(Number(t[1])));
  if (perSet.length > 0) return perSet.map((t) => set(Number(t[1]), t[2], t[3]));
  const count = num(firstTagValue(e, 'sets'));
  if (count === null || !Number.isInteger(count) || count < 1 || count > 100) return [];
  const weight = tag(e, 'weight');
  return Array.from({ length: count }, (_, i) => set(i + 1, weight?.[1], weight?.[2]));
}

/** A kind 1301 read as a RUNSTR/Amethyst activity; null when it is not in that dialect. */
export function analyzeActivity(e: NostrEvent): Activity | null {
  const activity = activityVerb(e);
  if (activity === undefined) return null;
  const distanceTag = tag(e, 'distance');
  const distance = num(distanceTag?.[1]);
  const distanceUnit = distance === null ? null : (distanceTag?.[2]?.trim().toLowerCase() || null);
  const distanceM = normalise('distance', distance, distanceUnit);
  const durationS = clockSeconds(firstTagValue(e, 'duration'));
  const elevation = tag(e, 'elevation_gain');
  const start = firstTagValue(e, 'workout_start_time');
  return {
    type: 'activity',
    activity,
    title: firstTagValue(e, 'title') ?? null,
    start: start !== undefined && /^\d{1,10}$/.test(start) ? Number(start) : null,
    durationS,
    distance,
    distanceUnit,
    distanceM,
    paceSPerKm: durationS !== null && distanceM ? finite(durationS / (distanceM / 1000)) : null,
    elevationGainM: normalise('distance', num(elevation?.[1]), elevation?.[2] ?? 'm'),
    calories: num(firstTagValue(e, 'calories')),
    sets: strengthSets(e),
  };
}
