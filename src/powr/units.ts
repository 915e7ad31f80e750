/**
 * Units as the apps publish them (shared/spec/nip101e.md 1.2, 7.2, 7.3), converted to one unit per
 * quantity so charts and totals can mix kg with lbs, minutes with seconds and km with miles.
 * Unknown units give null: a guessed conversion would be silently wrong.
 */

export const KG_PER_LB = 0.45359237;
const METRES_PER_MILE = 1609.344;

/** Kilograms per published weight unit. `bodyweight` exercises publish kg (0 = bodyweight). */
const WEIGHT: Record<string, number> = { kg: 1, kgs: 1, bodyweight: 1, lb: KG_PER_LB, lbs: KG_PER_LB };
/** Seconds per published duration unit. */
const DURATION: Record<string, number> = { seconds: 1, second: 1, sec: 1, s: 1, minutes: 60, minute: 60, min: 60, hours: 3600, h: 3600 };
/** Metres per published distance unit (POWR's `meters|km|miles`, RUNSTR's `km|mi|m|ft`). */
const DISTANCE: Record<string, number> = {
  meters: 1, metres: 1, m: 1, km: 1000, kilometers: 1000, miles: METRES_PER_MILE, mile: METRES_PER_MILE, mi: METRES_PER_MILE,
  yards: 0.9144, yd: 0.9144, ft: 0.3048, feet: 0.3048,
};

export type Quantity = 'weight' | 'duration' | 'distance';
const FACTORS: Record<Quantity, Record<string, number>> = { weight: WEIGHT, duration: DURATION, distance: DISTANCE };

/**
 * A number read from a tag, or null when it is not finite: a long enough digit string parses to
 * Infinity, which the prepared event's JSON carries as null while a rebuild would store Inf.
 */
export const finite = (n: number): number | null => (Number.isFinite(n) ? n : null);

/** The value in kilograms, seconds or metres; null when the value or the unit is not understood. */
export function normalise(quantity: Quantity, value: number | null, unit: string | null | undefined): number | null {
  if (value === null || !Number.isFinite(value) || unit === null || unit === undefined) return null;
  const factor = FACTORS[quantity][unit.trim().toLowerCase()];
  return factor === undefined ? null : finite(value * factor);
}

/** Seconds from RUNSTR/Amethyst durations: `HH:MM:SS`, `MM:SS` or plain seconds. */
export function clockSeconds(value: string | undefined): number | null {
  if (value === undefined) return null;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return finite(Number(v));
  const m = /^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$/.exec(v);
  if (!m) return null;
  const [, h = '0', min, s] = m;
  if (Number(min) >= 60 && m[1] !== undefined) return null;
  if (Number(s) >= 60) return null;
  return finite(Number(h) * 3600 + Number(min) * 60 + Number(s));
}
