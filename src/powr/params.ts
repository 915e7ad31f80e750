import type { Issue, SetRef } from './types.js';
import { normalise, type Quantity } from './units.js';

/** The format every POWR app publishes; used to read a set whose exercise the relay does not have. */
export const DEFAULT_FORMAT = ['weight', 'reps', 'rpe', 'set_type'];

export const SET_TYPES = ['warmup', 'normal', 'drop', 'failure', 'working'];

const NUMBER = /^-?\d+(\.\d+)?$/;
const NON_NEGATIVE_INTEGER = /^\d+$/;
/** Digits too many for a double (Infinity) or for an exact count are bad values like any other. */
const isNumber = (v: string) => NUMBER.test(v) && Number.isFinite(Number(v));
const isCount = (v: string) => NON_NEGATIVE_INTEGER.test(v) && Number.isSafeInteger(Number(v));

export function isSetTypeWord(value: string | undefined): boolean {
  return value !== undefined && SET_TYPES.includes(value.toLowerCase());
}

/** A set's values split by a known format: the parameter values, then set_number if present. */
export interface ReadSet {
  params: Record<string, string>;
  setNumber: number | null;
}

/**
 * Reads a set's values against the referenced exercise's format. With n format parameters a tag
 * carries n values, or n+1 when set_number is appended (required since 2025-07, absent before).
 * Returns undefined when the count fits neither.
 */
export function readSet(set: SetRef, format: readonly string[]): ReadSet | undefined {
  const n = format.length;
  if (set.values.length !== n && set.values.length !== n + 1) return undefined;
  const params: Record<string, string> = {};
  format.forEach((name, i) => (params[name] = set.values[i]!));
  const raw = set.values.length === n + 1 ? set.values[n]! : undefined;
  const setNumber = raw !== undefined && /^[1-9]\d*$/.test(raw) && isCount(raw) ? Number(raw) : null;
  return { params, setNumber };
}

/** Checks one value against what its parameter means. Returns the problem, or undefined. */
function valueProblem(name: string, value: string): string | undefined {
  switch (name) {
    case 'weight':
      return isNumber(value) ? undefined : `weight ${JSON.stringify(value)} is not a number`;
    case 'reps':
      return isCount(value) ? undefined : `reps ${JSON.stringify(value)} is not a non-negative integer`;
    case 'rpe': {
      const ok = isNumber(value) && Number(value) >= 0 && Number(value) <= 10;
      return ok ? undefined : `rpe ${JSON.stringify(value)} is not a number from 0 to 10`;
    }
    case 'set_type':
      return isSetTypeWord(value) ? undefined : `set_type ${JSON.stringify(value)} is not one of ${SET_TYPES.join(', ')}`;
    case 'duration':
    case 'distance':
      return isNumber(value) && Number(value) >= 0 ? undefined : `${name} ${JSON.stringify(value)} is not a non-negative number`;
    default:
      return undefined; // parameters beyond the spec's list are allowed and not interpreted
  }
}

/**
 * Checks a template's or record's sets against the formats of the exercises they reference (only the
 * exercises the relay has). Templates may leave any value empty; records must give reps and set_type.
 */
export function checkSetsAgainstFormats(
  sets: readonly SetRef[],
  formatOf: (address: string) => readonly string[] | undefined,
  kind: 'template' | 'record',
): Issue[] {
  const issues: Issue[] = [];
  for (const set of sets) {
    const format = set.address ? formatOf(set.address) : undefined;
    if (!format) continue;
    const where = `exercise tag ${set.position}`;
    const read = readSet(set, format);
    if (!read) {
      issues.push({
        severity: 'reject',
        code: 'param_count',
        detail: `${where}: ${set.values.length} values, but ${set.address} has ${format.length} parameters (${format.join(', ')}) plus an optional set_number`,
      });
      continue;
    }
    for (const name of format) {
      const value = read.params[name]!;
      if (value === '') {
        if (kind === 'record' && (name === 'reps' || name === 'set_type')) {
          issues.push({ severity: 'reject', code: 'missing_value', detail: `${where}: ${name} is empty; records need actual values` });
        } else if (kind === 'record') {
          issues.push({ severity: 'flag', code: 'empty_value', detail: `${where}: ${name} is empty` });
        }
        continue;
      }
      const problem = valueProblem(name, value);
      if (problem) issues.push({ severity: 'reject', code: 'bad_value', detail: `${where}: ${problem}` });
    }
    if (read.setNumber === null) {
      issues.push({ severity: 'flag', code: 'missing_set_number', detail: `${where}: no set_number` });
    }
  }
  return issues;
}

/** The units of DEFAULT_FORMAT: what POWR apps meant before exercises could say otherwise. */
export const DEFAULT_UNITS = ['kg', 'count', '0-10', 'enum'];

/**
 * Columns of a record set, read by the exercise's format and units (or POWR's defaults while the
 * exercise is unknown): each value as published with its unit, and weight, distance and duration
 * also normalised to kilograms, metres and seconds.
 */
export function setColumns(set: SetRef, format: readonly string[] | undefined, units: readonly string[] | undefined) {
  const known = format !== undefined;
  const read = readSet(set, known ? format : DEFAULT_FORMAT);
  const unitOf = (name: string) => {
    const i = (known ? format : DEFAULT_FORMAT).indexOf(name);
    return i < 0 ? null : ((known ? units : DEFAULT_UNITS)?.[i] ?? null);
  };
  const num = (v: string | undefined) => (v !== undefined && isNumber(v) ? Number(v) : null);
  const quantity = (name: Quantity) => {
    const value = num(read?.params[name]);
    const unit = value === null ? null : unitOf(name);
    return { value, unit, normalised: normalise(name, value, unit) };
  };
  const weight = quantity('weight');
  const distance = quantity('distance');
  const duration = quantity('duration');
  return {
    setNumber: read?.setNumber ?? null,
    weight: weight.value,
    reps: num(read?.params.reps),
    rpe: num(read?.params.rpe),
    setType: read?.params.set_type ? read.params.set_type.toLowerCase() : null,
    weightUnit: weight.unit,
    distance: distance.value,
    distanceUnit: distance.unit,
    duration: duration.value,
    durationUnit: duration.unit,
    weightKg: weight.normalised,
    distanceM: distance.normalised,
    durationS: duration.normalised,
  };
}
