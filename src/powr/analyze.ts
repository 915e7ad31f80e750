import { firstTagValue, isHex64, parseAddress, type NostrEvent } from '../protocol/event.js';
import { analyzeActivity, referencesExercises } from './activity.js';
import { isSetTypeWord } from './params.js';
import {
  COLLECTION_KINDS,
  EXERCISE_KIND,
  LEGACY_RECORD_KIND,
  RECORD_KIND,
  TEMPLATE_KIND,
  type Analysis,
  type Collection,
  type Exercise,
  type Flag,
  type Issue,
  type Media,
  type SetRef,
  type Severity,
  type Template,
  type ValidationMode,
  type WorkoutRecord,
} from './types.js';

/**
 * NIP-101e as the POWR apps really publish it (shared/spec/nip101e.md section 5): parses an event into
 * its typed record and lists every problem with a severity. Checks that need the referenced exercise
 * (parameter counts and values) live in params.ts and run where the exercises are known.
 */

const KNOWN_PARAMS = ['weight', 'reps', 'rpe', 'set_type', 'duration', 'distance'];
const UNITS: Record<string, string[]> = {
  weight: ['kg', 'lbs', 'bodyweight'],
  reps: ['count', 'reps'],
  rpe: ['0-10', '1-10', 'rpe'],
  set_type: ['enum', 'warmup|normal|drop|failure', 'type'],
  duration: ['seconds', 'minutes', 'sec', 'min'],
  distance: ['meters', 'km', 'miles', 'yards', 'm'],
};
const EQUIPMENT = ['barbell', 'dumbbell', 'bodyweight', 'machine', 'cardio', 'kettlebell', 'cable', 'resistance_band'];
const DIFFICULTY = ['beginner', 'intermediate', 'advanced'];
const WORKOUT_TYPES = ['strength', 'circuit', 'emom', 'amrap', 'superset', 'metcon'];
const PR_METRICS = ['1rm', 'max_weight', 'max_reps', 'max_volume'];

class Issues {
  readonly list: Issue[] = [];
  add(severity: Severity, code: string, detail: string): void {
    this.list.push({ severity, code, detail });
  }
}

const tagsNamed = (e: NostrEvent, name: string) => e.tags.filter((t) => t[0] === name);
const nonEmpty = (v: string | undefined): v is string => v !== undefined && v.trim() !== '';
const addressOf = (e: NostrEvent) => `${e.kind}:${e.pubkey}:${firstTagValue(e, 'd') ?? ''}`;

function optionalCount(e: NostrEvent, name: string, issues: Issues): number | null {
  const v = firstTagValue(e, name);
  if (v === undefined || v === '') return null;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) {
    issues.add('flag', 'bad_number', `${name} tag: ${JSON.stringify(v)} is not a non-negative integer`);
    return null;
  }
  return Number(v);
}

function hashtagsOf(e: NostrEvent): string[] {
  return tagsNamed(e, 't').map((t) => t[1]).filter(nonEmpty);
}

function descriptionOf(e: NostrEvent): string {
  return e.content.trim() !== '' ? e.content : (firstTagValue(e, 'description') ?? '');
}

function requireTag(e: NostrEvent, name: string, severity: Severity, issues: Issues): string | undefined {
  const v = firstTagValue(e, name);
  if (!nonEmpty(v)) issues.add(severity, `missing_${name}`, `${name} tag is missing or empty`);
  return nonEmpty(v) ? v : undefined;
}

/** Reads `imeta` in both the NIP-92 multi-element form and powr_web's single space-joined element. */
function parseImeta(tag: string[]): Media | undefined {
  const keys = new Set(['url', 'm', 'dim', 'alt', 'x', 'blurhash', 'purpose', 'context', 'fallback', 'size', 'thumb', 'image', 'summary']);
  const fields: Record<string, string> = {};
  const words = tag.slice(1).length === 1 ? tag[1]!.split(' ') : undefined;
  if (words) {
    let key: string | undefined;
    for (const w of words) {
      if (keys.has(w) && (key === undefined || fields[key] !== undefined)) {
        key = w;
        fields[key] = '';
      } else if (key) fields[key] = fields[key] ? `${fields[key]} ${w}` : w;
    }
  } else {
    for (const part of tag.slice(1)) {
      const space = part.indexOf(' ');
      if (space > 0) fields[part.slice(0, space)] ??= part.slice(space + 1);
    }
  }
  if (!fields.url) return undefined;
  return { url: fields.url, mime: fields.m ?? null, dim: fields.dim ?? null, alt: fields.alt ?? null, hash: fields.x ?? null,
    blob: blobNamedBy(fields.url) };
}

/**
 * The blob a media URL names, Blossom's way (BUD-01: `<server>/<sha256>[.ext]`, on any server): the
 * last path segment, query and fragment cut off, is 64 hex digits, alone or before a `.`. Lowercase.
 * The exercise_media migration computes the same in SQL for rows stored before; keep them in step.
 */
export function blobNamedBy(url: string): string | null {
  const path = url.split(/[?#]/, 1)[0]!;
  const named = /^([0-9a-f]{64})(\.|$)/i.exec(path.slice(path.lastIndexOf('/') + 1));
  return named ? named[1]!.toLowerCase() : null;
}

function analyzeExercise(e: NostrEvent, issues: Issues): Exercise {
  const d = requireTag(e, 'd', 'reject', issues);
  if (d && (d.includes(':') || d.startsWith('local:'))) issues.add('flag', 'client_local_id', `d tag ${JSON.stringify(d)} is a client-local id`);
  const title = requireTag(e, 'title', 'reject', issues);

  const formatTags = tagsNamed(e, 'format');
  let format: string[] = [];
  if (formatTags.length === 0 || formatTags.every((t) => t.length < 2)) {
    issues.add('reject', 'missing_format', 'format tag is missing or has no parameters');
  } else if (formatTags.length > 1) {
    issues.add('strict', 'split_format', `${formatTags.length} format tags; the spec wants one with every parameter`);
    format = formatTags.flatMap((t) => t.slice(1));
  } else format = formatTags[0]!.slice(1);

  const unitsTag = tagsNamed(e, 'format_units')[0];
  const formatUnits = unitsTag?.slice(1) ?? [];
  if (!unitsTag) issues.add('reject', 'missing_format_units', 'format_units tag is missing');
  else if (format.length > 0 && formatUnits.length !== format.length) {
    issues.add('reject', 'format_units_length', `format_units has ${formatUnits.length} values but format has ${format.length} parameters`);
  }
  format.forEach((param, i) => {
    if (!KNOWN_PARAMS.includes(param)) issues.add('flag', 'unknown_param', `format parameter ${JSON.stringify(param)} is not in the spec`);
    const unit = formatUnits[i];
    const known = UNITS[param];
    if (known && unit !== undefined && !known.includes(unit)) {
      issues.add('flag', 'unknown_unit', `format_units: ${JSON.stringify(unit)} is not a unit for ${param}`);
    }
  });

  const equipment = firstTagValue(e, 'equipment');
  if (!nonEmpty(equipment)) issues.add('strict', 'missing_equipment', 'equipment tag is missing or empty');
  else if (!EQUIPMENT.includes(equipment)) issues.add('flag', 'unknown_equipment', `equipment ${JSON.stringify(equipment)} is not in the spec's list`);
  const difficulty = firstTagValue(e, 'difficulty');
  if (nonEmpty(difficulty) && !DIFFICULTY.includes(difficulty)) {
    issues.add('flag', 'unknown_difficulty', `difficulty ${JSON.stringify(difficulty)} is not one of ${DIFFICULTY.join(', ')}`);
  }
  return {
    type: 'exercise',
    address: addressOf(e),
    title: title ?? '',
    equipment: nonEmpty(equipment) ? equipment : null,
    difficulty: nonEmpty(difficulty) ? difficulty : null,
    format,
    formatUnits,
    hashtags: hashtagsOf(e),
    description: descriptionOf(e),
    media: tagsNamed(e, 'imeta').map(parseImeta).filter((m): m is Media => m !== undefined),
  };
}

/** Reads the `exercise` tags shared by templates and records, checking what needs no exercise event. */
function analyzeSets(e: NostrEvent, issues: Issues): SetRef[] {
  const sets: SetRef[] = [];
  const seen = new Map<string, number>();
  const exerciseTags = tagsNamed(e, 'exercise');
  exerciseTags.forEach((tag, i) => {
    const position = i + 1;
    const where = `exercise tag ${position}`;
    const ref = tag[1] ?? '';
    let address: string | null = null;
    const parsed = parseAddress(ref);
    if (/^33401:local:/.test(ref)) {
      issues.add('strict', 'legacy_rn_local_refs', `${where}: ${JSON.stringify(ref)} is a client-local reference that can never resolve`);
    } else if (!parsed) {
      issues.add('reject', 'bad_exercise_ref', `${where}: ${JSON.stringify(ref)} is not a 33401:<64-hex pubkey>:<d> coordinate`);
    } else if (parsed.kind !== EXERCISE_KIND) {
      issues.add('reject', 'bad_exercise_ref', `${where}: ${JSON.stringify(ref)} references kind ${parsed.kind}, not an exercise (33401)`);
    } else if (parsed.d === '') {
      issues.add('reject', 'bad_exercise_ref', `${where}: ${JSON.stringify(ref)} has an empty d`);
    } else address = ref;

    const relay = tag[2];
    if (relay === undefined || (relay !== '' && !/^wss?:\/\//.test(relay))) {
      issues.add('strict', 'no_relay_slot', `${where}: element 2 should be a relay URL or "", got ${JSON.stringify(relay ?? null)}`);
    }
    const values = tag.slice(3);
    const packed = values.find((v) => v.includes(','));
    if (packed !== undefined) {
      issues.add('reject', 'packed_params', `${where}: ${JSON.stringify(packed)} packs several values into one element`);
    }
    if (isSetTypeWord(values[2]) && values.length < 4) {
      issues.add('strict', 'shifted_params', `${where}: set_type ${JSON.stringify(values[2])} sits in the rpe slot (an empty value was skipped)`);
    }
    const key = JSON.stringify(tag);
    if (seen.has(key)) issues.add('flag', 'identical_exercise_tags', `${where}: identical to exercise tag ${seen.get(key)}`);
    else seen.set(key, position);
    sets.push({ position, address, values });
  });
  return sets;
}

function analyzeTemplate(e: NostrEvent, issues: Issues): Template {
  requireTag(e, 'd', 'reject', issues);
  const title = requireTag(e, 'title', 'reject', issues);
  const workoutType = requireTag(e, 'type', 'reject', issues);
  if (workoutType && !WORKOUT_TYPES.includes(workoutType)) {
    issues.add('flag', 'unknown_type', `type ${JSON.stringify(workoutType)} is not one of ${WORKOUT_TYPES.join(', ')}`);
  }
  const difficulty = firstTagValue(e, 'difficulty');
  return {
    type: 'template',
    address: addressOf(e),
    title: title ?? '',
    workoutType: workoutType ?? '',
    rounds: optionalCount(e, 'rounds', issues),
    duration: optionalCount(e, 'duration', issues),
    interval: optionalCount(e, 'interval', issues),
    restBetweenRounds: optionalCount(e, 'rest_between_rounds', issues),
    restBetweenSets: optionalCount(e, 'rest_between_sets', issues),
    difficulty: nonEmpty(difficulty) ? difficulty : null,
    hashtags: hashtagsOf(e),
    description: descriptionOf(e),
    sets: analyzeSets(e, issues),
  };
}

/** The tags that link a record to its template: every `template` tag, and `a` tags naming a 33402. */
function templateRefs(e: NostrEvent): { name: string; ref: string }[] {
  return [
    ...tagsNamed(e, 'template').map((t) => ({ name: 'template', ref: t[1] ?? '' })),
    ...tagsNamed(e, 'a').map((t) => ({ name: 'a', ref: t[1] ?? '' })).filter((r) => r.ref.startsWith(`${TEMPLATE_KIND}:`)),
  ];
}

function isTemplateAddress(ref: string): boolean {
  const parsed = parseAddress(ref);
  return parsed?.kind === TEMPLATE_KIND && parsed.d !== '';
}

/**
 * The template a workout record follows: the first valid 33402 address of its `template` tags
 * (powr_web), else of its `a` tags (2026 iOS design), as the processed tables and bundles have it.
 */
export function templateAddressOf(e: NostrEvent): string | null {
  return templateRefs(e).find((r) => isTemplateAddress(r.ref))?.ref ?? null;
}

/** Unix seconds from a start/end value; 13-digit values are milliseconds (powr_web, iOS). */
function timestamp(name: string, value: string | undefined, issues: Issues): number | null {
  if (!nonEmpty(value)) return null;
  if (!/^\d{1,13}$/.test(value)) {
    issues.add('strict', 'bad_timestamp', `${name} tag: ${JSON.stringify(value)} is not a unix timestamp`);
    return null;
  }
  if (value.length === 13) {
    issues.add('flag', 'ms_timestamps', `${name} tag: ${value} is in milliseconds`);
    return Math.floor(Number(value) / 1000);
  }
  return Number(value);
}

function analyzeRecord(e: NostrEvent, issues: Issues): WorkoutRecord {
  const required = e.kind === LEGACY_RECORD_KIND ? 'flag' : 'strict';
  if (!nonEmpty(firstTagValue(e, 'd'))) issues.add('flag', 'missing_d', 'd tag is missing');
  const title = requireTag(e, 'title', required, issues);
  const workoutType = requireTag(e, 'type', required, issues);
  if (workoutType && !WORKOUT_TYPES.includes(workoutType)) {
    issues.add('flag', 'unknown_type', `type ${JSON.stringify(workoutType)} is not one of ${WORKOUT_TYPES.join(', ')}`);
  }
  const start = timestamp('start', requireTag(e, 'start', required, issues), issues);
  const end = timestamp('end', requireTag(e, 'end', required, issues), issues);
  if (start !== null && end !== null && (end < start || end - start > 86_400)) {
    issues.add('flag', 'implausible_times', `start ${start} and end ${end} do not describe a workout of under 24 hours`);
  }
  if (start !== null && start > e.created_at + 86_400) {
    issues.add('flag', 'implausible_times', `start ${start} is more than a day after created_at`);
  }
  const completedRaw = requireTag(e, 'completed', required, issues);
  if (completedRaw !== undefined && completedRaw !== 'true' && completedRaw !== 'false') {
    issues.add('reject', 'bad_completed', `completed tag: ${JSON.stringify(completedRaw)} is not "true" or "false"`);
  }

  for (const { name, ref } of templateRefs(e)) {
    if (!isTemplateAddress(ref)) {
      issues.add('strict', 'bad_template_ref', `${name} tag: ${JSON.stringify(ref)} is not a 33402:<64-hex pubkey>:<d> coordinate`);
    }
  }
  const templateAddress = templateAddressOf(e);
  for (const tag of tagsNamed(e, 'pr')) {
    const parts = tag.length === 2 ? (tag[1] ?? '').split(',') : tag.slice(1);
    if (parts.length !== 3 || !parseAddress(parts[0]!) || !PR_METRICS.includes(parts[1]!)) {
      issues.add('flag', 'bad_pr', `pr tag: ${JSON.stringify(tag.slice(1))} is not <coordinate>, <metric>, <value>`);
    }
  }
  return {
    type: 'record',
    title: title ?? null,
    workoutType: workoutType ?? null,
    start,
    end,
    completed: completedRaw === 'true' ? true : completedRaw === 'false' ? false : null,
    templateAddress,
    sets: analyzeSets(e, issues),
  };
}

/** A 30003/30004 set is a POWR collection when it lists exercises or templates. */
function isPowrCollection(e: NostrEvent): boolean {
  return e.tags.some((t) => t[0] === 'a' && /^(33401|33402|30003|30004):/.test(t[1] ?? ''));
}

function analyzeCollection(e: NostrEvent, issues: Issues): Collection {
  requireTag(e, 'd', 'reject', issues);
  const members: string[] = [];
  for (const tag of tagsNamed(e, 'a')) {
    const ref = tag[1] ?? '';
    const parsed = parseAddress(ref);
    if (!parsed || !isHex64(parsed.pubkey) || (parsed.kind >= 30000 && parsed.d === '')) {
      issues.add('flag', 'bad_member', `a tag: ${JSON.stringify(ref)} is not a complete coordinate`);
    } else if (!members.includes(ref)) members.push(ref);
  }
  return { type: 'collection', address: addressOf(e), title: firstTagValue(e, 'title') ?? firstTagValue(e, 'name') ?? null, members };
}

function foreignTemplate(issues: Issues): null {
  issues.add('strict', 'not_a_workout_template', 'kind 33402 without exercise references: not a NIP-101e workout template');
  return null;
}

export function analyze(e: NostrEvent): Analysis {
  const issues = new Issues();
  let record: Analysis['record'] = null;
  if (e.kind === EXERCISE_KIND) record = analyzeExercise(e, issues);
  else if (e.kind === TEMPLATE_KIND) record = referencesExercises(e) ? analyzeTemplate(e, issues) : foreignTemplate(issues);
  else if ((e.kind === RECORD_KIND || e.kind === LEGACY_RECORD_KIND) && referencesExercises(e)) record = analyzeRecord(e, issues);
  else if (e.kind === RECORD_KIND) record = analyzeActivity(e);
  else if (COLLECTION_KINDS.includes(e.kind) && isPowrCollection(e)) record = analyzeCollection(e, issues);
  return { record, issues: issues.list };
}

export type Verdict = { accepted: true; flags: Flag[] } | { accepted: false; reason: string };

/** Every issue found, as flags: what a stored event carries when nothing is refused. */
export function flagsOf(issues: readonly Issue[]): Flag[] {
  return issues.map(({ code, detail }) => ({ code, detail }));
}

/** Applies the validation mode: the first refusing issue becomes the `invalid:` reason; the rest are flags. */
export function verdict(issues: readonly Issue[], mode: ValidationMode): Verdict {
  const refusing = issues.find((i) => i.severity === 'reject' || (mode === 'strict' && i.severity === 'strict'));
  if (refusing) return { accepted: false, reason: `invalid: ${refusing.detail}` };
  return { accepted: true, flags: flagsOf(issues) };
}
