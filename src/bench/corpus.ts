import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { canonicalJson, type NostrEvent } from '../protocol/event.js';
import { publicKeyOf, signEvent } from '../workers/schnorr.js';
import { Rng } from './rng.js';

/**
 * A deterministic corpus of the traffic POWR apps generate (shared/spec/nip101e.md): a library
 * account's exercises, templates, collections and packs; users' own exercises, templates of 3-8
 * exercises with set numbers, workout records with real sets, shares (kind 1 with q/k), reactions,
 * comments and bookmark lists, spread over 180 days. Signed once and cached as JSONL.
 *
 * The 2026 shapes (section 7) in assumed proportions, as no app publishes usage numbers: one
 * exercise in ten tracks distance and duration, a fifth of users' exercises are in lbs; half the
 * templates of a grouped type (superset, circuit, metcon: set numbers shared across exercises), half
 * in the iOS form (difficulty, alt, client); of the workout records a seventh carry
 * both template tags (section 4), a third are powr_web's (template tag, ms times), under a third the
 * iOS form (a tag, no d, pr elements, partners) and a quarter RUNSTR/Amethyst activities.
 */

/** Bumped whenever the generated events change, so a cached corpus of older shapes is not reused. */
const CORPUS_VERSION = 2;

export const END = 1_790_000_000; // the corpus's "now"; queries use since/until relative to it
const DAY = 86_400;
const SPAN = 180 * DAY;
const HASHTAGS = ['workout', 'fitness', 'powr', '31days', 'crossfit', 'wod', 'gym', 'strength', 'cardio', 'training', 'exercise'];
const EQUIPMENT = ['barbell', 'dumbbell', 'bodyweight', 'machine', 'kettlebell', 'cable'];
const MUSCLES = ['chest', 'back', 'legs', 'shoulders', 'arms', 'core'];
const TYPES = ['strength', 'emom', 'amrap', 'superset', 'circuit', 'metcon'];
const GROUPED_TYPES = ['superset', 'circuit', 'metcon'];
const ACTIVITIES = ['running', 'running', 'running', 'walking', 'cycling', 'hiking', 'rowing'];
const IOS_RELAY = 'wss://relay.powr.fitness';

/** How an exercise's sets are tracked: weight in kg or lbs, or distance and duration (m/s or km/min). */
type Tracking = 'kg' | 'lbs' | 'm' | 'km';

export interface CorpusMeta {
  size: number;
  seed: number;
  library: string;
  users: string[];
  exerciseAddresses: string[];
  templateAddresses: string[];
  recordIds: string[];
  noteIds: string[];
}

interface Draft {
  kind: number;
  created_at: number;
  tags: string[][];
  content: string;
  author: number; // index into keys; 0 is the library account
}

function secretKey(seed: number, i: number): Buffer {
  for (let n = 0; ; n++) {
    const key = createHash('sha256').update(`powr-bench:${seed}:${i}:${n}`).digest();
    if (key[0] !== 0) return key; // any 32 bytes below the curve order will do; this avoids zero keys
  }
}

const address = (kind: number, pubkey: string, d: string) => `${kind}:${pubkey}:${d}`;

function draft(size: number, seed: number, pubkeys: string[]): { drafts: Draft[]; meta: CorpusMeta } {
  const rng = new Rng(seed);
  const users = pubkeys.length - 1;
  const drafts: Draft[] = [];
  const time = () => END - rng.int(0, SPAN);
  const user = () => rng.int(1, users);
  const exercises: { address: string; author: number; tracking: Tracking }[] = [];
  const trackingOf = new Map<string, Tracking>();
  const tracking = (lbsShare: number): Tracking =>
    rng.chance(0.1) ? (rng.chance(0.5) ? 'm' : 'km') : rng.chance(lbsShare) ? 'lbs' : 'kg';
  const templates: { address: string; type: string; sets: string[][] }[] = [];
  const meta: CorpusMeta = { size, seed, library: pubkeys[0]!, users: pubkeys.slice(1), exerciseAddresses: [],
    templateAddresses: [], recordIds: [], noteIds: [] };

  const addExercise = (author: number, d: string, at: number, how: Tracking) => {
    const a = address(33401, pubkeys[author]!, d);
    exercises.push({ address: a, author, tracking: how });
    trackingOf.set(a, how);
    const cardio = how === 'm' || how === 'km';
    const schema = cardio
      ? [['format', 'distance', 'duration'], ['format_units', how === 'm' ? 'meters' : 'km', how === 'm' ? 'seconds' : 'minutes']]
      : [['format', 'weight', 'reps', 'rpe', 'set_type'], ['format_units', how, 'count', '0-10', 'enum']];
    drafts.push({ kind: 33401, created_at: at, author, content: `How to do ${d}: brace, control the descent, drive up.`,
      tags: [['d', d], ['title', d.replace(/-/g, ' ')], ...schema, ['equipment', cardio ? rng.pick(['cardio', 'machine']) : rng.pick(EQUIPMENT)],
        ['difficulty', 'intermediate'], ['t', cardio ? 'cardio' : rng.pick(MUSCLES)], ['t', 'fitness']] });
  };
  const setValues = (exercise: string): string[] => {
    switch (trackingOf.get(exercise)) {
      case 'm':
        return [String(rng.int(2, 20) * 100), String(rng.int(60, 600))];
      case 'km':
        return [(rng.int(2, 50) / 10).toFixed(1), String(rng.int(2, 40))];
      case 'lbs':
        return [String(rng.int(0, 60) * 5), String(rng.int(3, 15)), String(rng.int(6, 10)), rng.chance(0.15) ? 'warmup' : 'normal'];
      default:
        return [String(rng.int(0, 40) * 2.5), String(rng.int(3, 15)), String(rng.int(6, 10)), rng.chance(0.15) ? 'warmup' : 'normal'];
    }
  };
  const addTemplate = (author: number, d: string, at: number) => {
    const a = address(33402, pubkeys[author]!, d);
    const type = rng.pick(TYPES);
    const grouped = GROUPED_TYPES.includes(type);
    const sets: string[][] = [];
    const chosen = new Set<string>();
    const count = type === 'superset' ? 2 : rng.int(3, grouped ? 5 : 8);
    while (chosen.size < count) chosen.add(rng.chance(0.9) ? rng.pick(exercises.slice(0, 300)).address : rng.pick(exercises).address);
    if (grouped) {
      // Same set number = performed together: round r of every exercise, round after round.
      const rounds = rng.int(2, 4);
      for (let r = 1; r <= rounds; r++) for (const ex of chosen) sets.push(['exercise', ex, '', ...setValues(ex), String(r)]);
    } else {
      for (const ex of chosen) {
        const n = rng.int(2, 4);
        for (let s = 1; s <= n; s++) sets.push(['exercise', ex, '', ...setValues(ex), String(s)]);
      }
    }
    templates.push({ address: a, type, sets });
    const title = `Workout ${d}`;
    const rest = type === 'metcon' ? [['rounds', '3'], ['duration', '1200'], ['rest_between_rounds', '60']] : [['rest_between_sets', '90']];
    const ios = rng.chance(0.5) ? [['difficulty', 'intermediate'], ['alt', `Workout template: ${title}`], ['client', 'POWR']] : [];
    drafts.push({ kind: 33402, created_at: at, author, content: 'Rest 90 seconds between sets.',
      tags: [['d', d], ['title', title], ['type', type], ...rest, ...sets, ...ios, ['t', 'fitness']] });
  };
  const performed = (t: { sets: string[][] }) => t.sets.map((s) => ['exercise', s[1]!, '', ...setValues(s[1]!), s[s.length - 1]!]);
  /** A POWR record of template t; the form decides the template link, d, time unit and extra tags. */
  const addRecord = (form: 'both' | 'web' | 'ios') => {
    const t = rng.pick(templates);
    const at = time();
    const start = at - rng.int(3600, 7200);
    const ms = form === 'both' ? 1 : 1000;
    const times = [['start', String(start * ms)], ['end', String((at - 60) * ms)], ['completed', 'true']];
    const sets = performed(t);
    let tags: string[][];
    if (form === 'ios') {
      const lifted = sets.find((s) => s.length === 8);
      const pr = lifted && rng.chance(0.3) ? [['pr', lifted[1]!, 'max_weight', lifted[3]!]] : [];
      const partner = rng.chance(0.2) ? [['p', pubkeys[user()]!, IOS_RELAY]] : [];
      tags = [['title', 'Workout'], ['type', t.type], ...times, ['a', t.address, IOS_RELAY], ...sets, ...pr, ...partner,
        ['alt', 'Workout record'], ['client', 'POWR'], ['t', 'fitness']];
    } else {
      const link = form === 'web' ? [['template', t.address, '']] : [['template', t.address, ''], ['a', t.address, '']];
      const extra = form === 'web' ? [['duration', String(at - 60 - start)], ['t', t.type], ['client', 'POWR']] : [];
      tags = [['d', `w-${drafts.length}`], ['title', 'Workout'], ['type', t.type], ...times, ...link, ...sets, ['t', 'fitness'], ...extra];
    }
    drafts.push({ kind: 1301, created_at: at, author: user(), content: 'Good session.', tags });
  };
  /** A RUNSTR/Amethyst record: an activity verb, HH:MM:SS duration, distance with its unit. */
  const addActivity = () => {
    const at = time();
    const seconds = rng.int(900, 5400);
    const clock = [seconds / 3600, (seconds % 3600) / 60, seconds % 60].map((n) => String(Math.floor(n)).padStart(2, '0')).join(':');
    const common = [['d', `runstr-${drafts.length}`], ['duration', clock], ['source', rng.chance(0.8) ? 'gps' : 'manual'],
      ['client', 'RUNSTR', '1.4.9'], ['workout_start_time', String(at - seconds)]];
    if (rng.chance(0.2)) {
      const weight = rng.int(19, 45) * 5;
      drafts.push({ kind: 1301, created_at: at, author: user(), content: 'Strength day.', tags: [['title', 'Strength Workout'],
        ['exercise', 'strength'], ...common, ['t', 'Strength'], ['sets', '3'], ['reps', '10'], ['weight', String(weight), 'lbs'],
        ...[1, 2, 3].map((n) => ['weight_set', String(n), String(weight + (n === 3 ? 10 : 0)), 'lbs'])] });
      return;
    }
    const activity = rng.pick(ACTIVITIES);
    const unit = rng.chance(0.7) ? 'km' : 'mi';
    const distance = (seconds / (activity === 'cycling' ? 120 : 360)) / (unit === 'km' ? 1 : 1.609344);
    const verb = activity[0]!.toUpperCase() + activity.slice(1);
    drafts.push({ kind: 1301, created_at: at, author: user(), content: `${verb} done.`, tags: [['title', `${verb} Workout`],
      ['exercise', activity], ...common, ['t', verb], ['distance', distance.toFixed(2), unit], ['calories', String(Math.round(seconds / 6))],
      ['elevation_gain', String(rng.int(0, 200)), 'm']] });
  };

  for (let i = 0; i < 300; i++) addExercise(0, `lib-exercise-${i}`, END - SPAN - DAY + i, tracking(0.05));
  for (let i = 0; i < 20; i++) addTemplate(0, `lib-template-${i}`, END - SPAN - DAY + 300 + i);
  for (let i = 0; i < 5; i++) {
    drafts.push({ kind: 30003, created_at: END - SPAN + i, author: 0, content: 'Curated workouts.',
      tags: [['d', `powr-workout-list-${i}`], ['title', `POWR list ${i}`], ...templates.slice(i * 4, i * 4 + 4).map((t) => ['a', t.address]),
        ['t', 'fitness']] });
    if (i < 3) {
      drafts.push({ kind: 30004, created_at: END - SPAN + 10 + i, author: 0, content: '',
        tags: [['d', `pack-${i}`], ['name', `Pack ${i}`], ['about', 'Starter pack'], ...templates.slice(i * 5, i * 5 + 5).map((t) => ['a', t.address]),
          ...exercises.slice(i * 20, i * 20 + 10).map((e) => ['a', e.address])] });
    }
  }

  const mix: [number, () => void][] = [
    [0.02, () => addExercise(user(), `ex-${drafts.length}`, time(), tracking(0.2))],
    [0.05, () => addTemplate(user(), `tpl-${drafts.length}`, time())],
    [0.06, () => addRecord('both')],
    [0.14, () => addRecord('web')],
    [0.12, () => addRecord('ios')],
    [0.10, addActivity],
    [0.15, () => drafts.push({ kind: 1, created_at: time(), author: user(), content: 'Just finished a workout 💪 #fitness',
      tags: [['q', '0'.repeat(64)], ['k', '1301'], ['t', 'fitness'], ['t', rng.pick(HASHTAGS)], ['client', 'POWR App']] })],
    [0.30, () => drafts.push({ kind: 7, created_at: time(), author: user(), content: '+', tags: [['e', '0'.repeat(64)], ['p', '0'.repeat(64)]] })],
    [0.05, () => drafts.push({ kind: 1111, created_at: time(), author: user(), content: 'Nice work!', tags: [['e', '0'.repeat(64), '', 'root'], ['p', '0'.repeat(64)]] })],
    [0.01, () => drafts.push({ kind: 30003, created_at: time(), author: user(), content: '',
      tags: [['d', `powr-workout-list-${drafts.length}`], ['title', 'My workouts'], ['a', rng.pick(templates).address], ['t', 'fitness']] })],
  ];
  while (drafts.length < size) {
    let r = rng.next() * mix.reduce((a, [w]) => a + w, 0);
    for (const [w, make] of mix) if ((r -= w) < 0) {
      make();
      break;
    }
  }
  drafts.length = size;
  drafts.sort((a, b) => a.created_at - b.created_at);
  meta.exerciseAddresses = exercises.map((e) => e.address).filter((_, i) => i < 300 || i % 7 === 0);
  meta.templateAddresses = templates.map((t) => t.address);
  return { drafts, meta };
}

/**
 * Reactions, shares and comments point at records published before them; ids exist only once
 * signed, so those references are filled in while signing, in created_at order.
 */
function sign(drafts: Draft[], keys: Buffer[], pubkeys: string[], meta: CorpusMeta, write: (line: string) => void, seed: number): void {
  const rng = new Rng(seed ^ 0x5eed);
  const records: { id: string; pubkey: string }[] = [];
  for (const d of drafts) {
    if (records.length > 0 && (d.kind === 7 || d.kind === 1111 || d.kind === 1)) {
      const target = records[records.length - 1 - Math.min(records.length - 1, Math.floor(rng.next() ** 3 * records.length))]!;
      for (const t of d.tags) {
        if (t[0] === 'e' || t[0] === 'q') t[1] = target.id;
        if (t[0] === 'p') t[1] = target.pubkey;
      }
    }
    const event = signEvent({ kind: d.kind, created_at: d.created_at, tags: d.tags, content: d.content }, keys[d.author]!, pubkeys[d.author]!);
    if (event.kind === 1301) {
      records.push({ id: event.id, pubkey: event.pubkey });
      // Record bundles are measured on POWR records (RUNSTR ones have nothing to resolve).
      const powr = event.tags.some((t) => t[0] === 'exercise' && t[1]!.startsWith('33401:'));
      if (powr && meta.recordIds.length < 5000 && rng.chance(0.2)) meta.recordIds.push(event.id);
    }
    if (event.kind === 1 && meta.noteIds.length < 2000 && rng.chance(0.2)) meta.noteIds.push(event.id);
    write(canonicalJson(event));
  }
}

export interface Corpus {
  file: string;
  meta: CorpusMeta;
}

/** Returns the cached corpus for (size, seed), generating and signing it first if needed. */
export async function loadCorpus(dir: string, size: number, seed: number, log: (msg: string) => void): Promise<Corpus> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `corpus-v${CORPUS_VERSION}-${size}-${seed}.jsonl`);
  const metaFile = `${file}.meta.json`;
  if (existsSync(file) && existsSync(metaFile)) {
    return { file, meta: JSON.parse(readFileSync(metaFile, 'utf8')) as CorpusMeta };
  }
  const started = Date.now();
  const userCount = Math.max(50, Math.round(size / 40));
  const keys = Array.from({ length: userCount + 1 }, (_, i) => secretKey(seed, i));
  const pubkeys = keys.map((k) => publicKeyOf(k));
  const { drafts, meta } = draft(size, seed, pubkeys);
  const out = createWriteStream(`${file}.tmp`);
  sign(drafts, keys, pubkeys, meta, (line) => out.write(line + '\n'), seed);
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  renameSync(`${file}.tmp`, file);
  writeFileSync(metaFile, JSON.stringify(meta));
  log(`corpus: ${size} events signed in ${((Date.now() - started) / 1000).toFixed(1)} s -> ${file}`);
  return { file, meta };
}

/** Reads the corpus lines (canonical event JSON, id in characters 7-71). */
export async function readLines(file: string, limit = Infinity): Promise<string[]> {
  const lines: string[] = [];
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of rl) {
    if (line) lines.push(line);
    if (lines.length >= limit) break;
  }
  rl.close();
  return lines;
}

/** Events the corpus does not contain, for measuring ingest into an already full database. */
export function freshEvents(count: number, seed: number): string[] {
  const key = secretKey(seed, 1_000_000_007);
  const pubkey = publicKeyOf(key);
  return Array.from({ length: count }, (_, i) =>
    canonicalJson(signEvent({ kind: 1301, created_at: END + 1 + (i % 100), content: 'fresh',
      tags: [['d', `fresh-${i}`], ['title', 'Fresh'], ['type', 'strength'], ['start', String(END - 3600)], ['end', String(END)],
        ['completed', 'true'], ['exercise', `33401:${pubkey}:x`, '', '50', '5', '8', 'normal', '1'], ['t', 'fitness']] }, key, pubkey)));
}
