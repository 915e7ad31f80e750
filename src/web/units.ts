import { DEFAULT_FORMAT, readSet } from '../powr/params.js';
import type { SetRef } from '../powr/types.js';

/**
 * Units of set values as the catalogue shows them, from the exercise's format_units. Sums and
 * comparisons use the processed tables' normalised kilograms (record_sets.weight_kg).
 */

const SHORT_UNITS: Record<string, string> = {
  kg: 'kg', kgs: 'kg', lb: 'lb', lbs: 'lb', pounds: 'lb', seconds: 's', sec: 's', s: 's', minutes: 'min', min: 'min',
  meters: 'm', m: 'm', km: 'km', miles: 'mi', mi: 'mi', yards: 'yd', ft: 'ft', feet: 'ft',
};

/** The short unit a parameter's values are in ('' when it has none worth showing: counts, enums). */
export function unitOf(param: string, format: readonly string[], formatUnits: readonly string[]): string {
  const unit = (formatUnits[format.indexOf(param)] ?? '').toLowerCase();
  if (SHORT_UNITS[unit]) return SHORT_UNITS[unit];
  // The spec's units when an exercise gives none: weight in kg, duration in seconds, distance in metres.
  return ({ weight: 'kg', duration: 's', distance: 'm' } as Record<string, string>)[param] ?? '';
}

/** Round for display: whole numbers stay whole, others get at most one decimal. */
export function num(value: number): string {
  return Number.isInteger(value) ? value.toLocaleString('en') : (Math.round(value * 10) / 10).toLocaleString('en');
}

/** A value as published with its short unit, at most two decimals: `5 km`, `3.11 mi`, `135 lb`. */
export function amount(value: number, unit: string | null): string {
  const short = unit ? SHORT_UNITS[unit.toLowerCase()] ?? unit : '';
  return `${(Math.round(value * 100) / 100).toLocaleString('en')} ${short}`.trim();
}

/** Metres as kilometres, at most two decimals. */
export const km = (metres: number): string => `${(Math.round(metres / 10) / 100).toLocaleString('en')} km`;

/** A duration as a stopwatch shows it: `28:15`, `1:02:03`. */
export function clock(seconds: number): string {
  const s = Math.round(seconds);
  const two = (n: number) => String(n).padStart(2, '0');
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}

/** Running pace as runners say it: `5:39 /km`. */
export const pace = (secondsPerKm: number): string => `${clock(secondsPerKm)} /km`;

/** A long time in hours and minutes: `1 h 10 min`, `28 min`. */
export function hoursMinutes(seconds: number): string {
  const minutes = Math.round(seconds / 60);
  const h = Math.floor(minutes / 60);
  return h ? `${h.toLocaleString('en')} h ${minutes % 60} min` : `${minutes} min`;
}

const SET_TYPE_WORDS: Record<string, string> = { warmup: 'warm-up', drop: 'drop set', failure: 'to failure' };

/** An exercise's format, or the one POWR apps publish when the relay does not have the exercise. */
export interface Format {
  format: string[];
  formatUnits: string[];
}

export const UNKNOWN_FORMAT: Format = { format: DEFAULT_FORMAT, formatUnits: [] };

/**
 * One set the way lifters write it, without the count: `5 @ 80 kg, RPE 8`, `60 s`, `400 m`, with
 * a set type other than normal/working after it.
 */
export function describeSet(set: SetRef, { format, formatUnits }: Format): string {
  const read = readSet(set, format) ?? readSet(set, DEFAULT_FORMAT);
  if (!read) return set.values.filter(Boolean).join(' ');
  const p = read.params;
  const has = (name: string) => p[name] !== undefined && p[name] !== '';
  const withUnit = (name: string) => `${p[name]} ${unitOf(name, format, formatUnits)}`.trim();
  const weighted = has('weight') && Number(p.weight) !== 0;
  let text = has('reps') ? (weighted ? p.reps! : `${p.reps} reps`) : '';
  if (weighted) text = text ? `${text} @ ${withUnit('weight')}` : withUnit('weight');
  for (const name of ['distance', 'duration']) if (has(name)) text = text ? `${text}, ${withUnit(name)}` : withUnit(name);
  if (!text) text = has('weight') ? 'bodyweight' : 'open';
  if (has('rpe')) text += `, RPE ${p.rpe}`;
  const type = SET_TYPE_WORDS[(p.set_type ?? '').toLowerCase()];
  return type ? `${text} (${type})` : text;
}

/** Consecutive identical sets as lifters write them: `3 × 5 @ 80 kg, RPE 8`. */
export function collapseSets(descriptions: readonly string[]): string[] {
  const out: { text: string; count: number }[] = [];
  for (const text of descriptions) {
    const last = out[out.length - 1];
    if (last?.text === text) last.count++;
    else out.push({ text, count: 1 });
  }
  return out.map(({ text, count }) => (count > 1 ? `${count} × ${text}` : text));
}
