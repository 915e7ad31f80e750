import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setParamsOf, setParamsText } from '../src/powr/prepare.js';
import { KG_PER_LB } from '../src/powr/units.js';
import { MIGRATIONS } from '../src/store/sqlite/migrations.js';
import { RawClient, signer, type Signer } from './helpers/client.js';
import { openStorage, startBothModes, stopBothModes, tempDb, type RunningRelay } from './helpers/relay.js';
import { EXAMPLES, LIB, PARTNER, RUNNER, USER } from './fixtures/nip101e-examples.js';

/**
 * The 2026 shapes of shared/spec/nip101e.md section 7.6 (E11-E18), published signed to a compat and a
 * strict relay, each checked against its verdict and handling in section 7.7.
 */

const lib = signer();
const user = signer();
const runner = signer();
const keyOf: Record<string, Signer> = { [LIB]: lib, [USER]: user, [RUNNER]: runner };

/** A spec example re-signed: LIB, USER and RUNNER become keys we hold, in the pubkey and in every reference. */
function example(name: string, change: (tags: string[][]) => string[][] = (t) => t) {
  let text = JSON.stringify(EXAMPLES[name]);
  for (const [spec, key] of Object.entries(keyOf)) text = text.replaceAll(spec, key.pubkey);
  const e = JSON.parse(text);
  return keyOf[EXAMPLES[name]!.pubkey]!.sign({ kind: e.kind, created_at: e.created_at, content: e.content, tags: change(e.tags) });
}

/** An exercise by LIB in E1's shape (the spec's illustrative barbell-bench-press, barbell-row, push-up). */
const libExercise = (d: string, title: string, units = ['kg', 'count', '0-10', 'enum']) =>
  lib.sign({ kind: 33401, created_at: 1753500000, content: '', tags: [['d', d], ['title', title],
    ['format', 'weight', 'reps', 'rpe', 'set_type'], ['format_units', ...units], ['equipment', 'barbell']] });
const coord = (kind: number, pubkey: string, d: string) => `${kind}:${pubkey}:${d}`;
const exerciseAddress = (d: string) => coord(33401, lib.pubkey, d);

function query<T>(relay: RunningRelay, sql: string, ...params: unknown[]): T[] {
  const db = new BetterSqlite3(relay.db, { readonly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}
const byId = (id: string) => Buffer.from(id, 'hex');
const flagsOf = (relay: RunningRelay, id: string) =>
  query<{ code: string }>(relay, 'SELECT f.code FROM event_flags f JOIN nostr_events e ON e.seq = f.event_seq WHERE e.id = ? ORDER BY f.code', byId(id))
    .map((r) => r.code);

async function bundle(relay: RunningRelay, query: string) {
  const res = await fetch(`${relay.httpUrl}/api/bundle?${query}`);
  return { status: res.status, body: (await res.json()) as { root: { id: string }; events: { id: string }[]; missing: string[] } };
}

let compat: RunningRelay;
let strict: RunningRelay;
let c: RawClient;
let s: RawClient;
const both = () => [c, s];

beforeAll(async () => {
  ({ compat, strict, c, s } = await startBothModes());
});
afterAll(() => stopBothModes({ compat, strict, c, s }));

const bench = libExercise('barbell-bench-press', 'Barbell Bench Press');
const row = libExercise('barbell-row', 'Barbell Row');
const pushUp = libExercise('push-up', 'Push-Up');
const e11 = example('E11');
const e12 = example('E12');
const e13 = example('E13');
const e14 = example('E14');
const e15 = example('E15');
const e16 = example('E16');
const e16s = example('E16s');
const e17 = example('E17');
const e18 = example('E18', (tags) => tags.map((t) => (t[0] === 'e' ? ['e', e17.id] : t)));
const e14Address = coord(33402, user.pubkey, 'row-swing-metcon');

describe('E11-E14: exercises in lbs and with distance/duration, superset and metcon templates', () => {
  it('E11 and E12 are accepted in both modes; their units are kept with the format', async () => {
    for (const client of both()) {
      for (const e of [bench, row, pushUp, e11, e12]) expect(await client.publish(e)).toEqual([true, '']);
    }
    const rows = query<{ address: string; format: string; format_units: string }>(compat,
      'SELECT address, format, format_units FROM exercises WHERE address IN (?, ?) ORDER BY address',
      exerciseAddress('rowing-erg'), exerciseAddress('russian-kettlebell-swing'));
    expect(rows).toEqual([
      { address: exerciseAddress('rowing-erg'), format: '["distance","duration"]', format_units: '["meters","seconds"]' },
      { address: exerciseAddress('russian-kettlebell-swing'), format: '["weight","reps","rpe","set_type"]', format_units: '["lbs","count","0-10","enum"]' },
    ]);
    expect(flagsOf(strict, e11.id)).toEqual([]);
    for (const client of both()) {
      expect((await client.req('lbs', { kinds: [33401], '#d': ['russian-kettlebell-swing'], '#t': ['posterior'] })).map((e) => e.id)).toEqual([e11.id]);
      expect((await client.req('erg', { kinds: [33401], '#d': ['rowing-erg'], '#t': ['cardio'] })).map((e) => e.id)).toEqual([e12.id]);
    }
  });

  it('E13 superset template: accepted in both modes (working is a set_type), sets grouped by set_number', async () => {
    for (const client of both()) expect(await client.publish(e13)).toEqual([true, '']);
    expect(flagsOf(compat, e13.id)).toEqual([]);
    const [template] = query(compat, `SELECT type, rest_between_sets FROM templates t JOIN nostr_events e ON e.seq = t.event_seq
      WHERE e.id = ?`, byId(e13.id));
    expect(template).toEqual({ type: 'superset', rest_between_sets: 180 });
    const sets = query<{ set_number: number; group_index: number }>(compat, `SELECT s.set_number, s.group_index FROM template_exercises s
      JOIN nostr_events e ON e.seq = s.template_seq WHERE e.id = ? ORDER BY s.position`, byId(e13.id));
    expect(sets.map((r) => [r.set_number, r.group_index])).toEqual([[1, 1], [1, 1], [2, 2], [2, 2], [3, 3], [3, 3]]);
    const b = await bundle(strict, `id=${e13.id}`);
    expect(b.body.events.map((e) => e.id)).toEqual([bench.id, row.id]);
    expect(b.body.missing).toEqual([]);
    for (const d of ['barbell-bench-press', 'barbell-row']) {
      expect((await c.req(`uses-${d}`, { kinds: [33402], '#exercise': [exerciseAddress(d)] })).map((e) => e.id)).toEqual([e13.id]);
    }
  });

  it('E13 with a bad value is still checked against the stored formats', async () => {
    const bad = example('E13', (tags) => [...tags.filter((t) => t[0] !== 'd'), ['d', 'bad-superset'],
      ['exercise', exerciseAddress('barbell-row'), '', '70', '8', '7', 'resting', '4']]);
    expect(await c.publish(bad)).toEqual([false, 'invalid: exercise tag 7: set_type "resting" is not one of warmup, normal, drop, failure, working']);
  });

  it('E14 metcon template: rounds, time cap, rest between rounds and difficulty; one group of three', async () => {
    for (const client of both()) expect(await client.publish(e14)).toEqual([true, '']);
    expect(flagsOf(strict, e14.id)).toEqual([]);
    const [template] = query(compat, `SELECT type, rounds, duration, rest_between_rounds, difficulty FROM templates t
      JOIN nostr_events e ON e.seq = t.event_seq WHERE e.id = ?`, byId(e14.id));
    expect(template).toEqual({ type: 'metcon', rounds: 3, duration: 1200, rest_between_rounds: 60, difficulty: 'intermediate' });
    const groups = query<{ set_number: number; group_index: number }>(compat, `SELECT s.set_number, s.group_index FROM template_exercises s
      JOIN nostr_events e ON e.seq = s.template_seq WHERE e.id = ? ORDER BY s.position`, byId(e14.id));
    expect(groups).toEqual([{ set_number: 1, group_index: 1 }, { set_number: 1, group_index: 1 }, { set_number: 1, group_index: 1 }]);
    const b = await bundle(compat, `a=${encodeURIComponent(e14Address)}`);
    expect(b.body.events.map((e) => e.id)).toEqual([e12.id, e11.id, pushUp.id]);
    for (const d of ['rowing-erg', 'russian-kettlebell-swing', 'push-up']) {
      expect((await s.req(`m-${d}`, { kinds: [33402], '#exercise': [exerciseAddress(d)] })).map((e) => e.id)).toContain(e14.id);
    }
  });
});

describe('E15: the iOS record (template via a, no d, ms times, pr elements, partner)', () => {
  it('is accepted in both modes, flagged missing_d and ms_timestamps', async () => {
    for (const client of both()) expect(await client.publish(e15)).toEqual([true, '']);
    expect(flagsOf(compat, e15.id)).toEqual(['missing_d', 'ms_timestamps', 'ms_timestamps']);
    expect(flagsOf(strict, e15.id)).toEqual(['missing_d', 'ms_timestamps', 'ms_timestamps']);
  });

  it('is processed with the a coordinate as its template, times in seconds and every set in its units', () => {
    const [record] = query(compat, `SELECT r.start_at, r.end_at, r.completed, a.address AS template FROM workout_records r
      JOIN nostr_events e ON e.seq = r.event_seq JOIN addresses a ON a.id = r.template_id WHERE e.id = ?`, byId(e15.id));
    expect(record).toEqual({ start_at: 1774453800, end_at: 1774455060, completed: 1, template: e14Address });
    const sets = query<Record<string, unknown>>(compat, `SELECT s.set_number, s.weight, s.weight_unit, s.weight_kg, s.reps, s.rpe,
      s.set_type, s.distance, s.distance_unit, s.distance_m, s.duration, s.duration_unit, s.duration_s
      FROM record_sets s JOIN nostr_events e ON e.seq = s.record_seq WHERE e.id = ? ORDER BY s.position`, byId(e15.id));
    expect(sets).toHaveLength(9);
    expect(sets[0]).toEqual({ set_number: 1, weight: null, weight_unit: null, weight_kg: null, reps: null, rpe: null, set_type: null,
      distance: 500, distance_unit: 'meters', distance_m: 500, duration: 118, duration_unit: 'seconds', duration_s: 118 });
    expect(sets[1]).toMatchObject({ set_number: 1, weight: 53, weight_unit: 'lbs', reps: 15, rpe: 8, set_type: 'normal', distance_m: null });
    expect(sets[1]!.weight_kg).toBeCloseTo(53 * KG_PER_LB, 9);
    expect(sets[2]).toMatchObject({ weight: 0, weight_unit: 'kg', weight_kg: 0, reps: 12 });
    expect(sets[8]).toMatchObject({ set_number: 3, reps: 8, rpe: 10, set_type: 'failure' });
  });

  it('bundles with its template and each exercise of both once, over HTTP and resolve', async () => {
    const expected = [e14.id, e12.id, e11.id, pushUp.id];
    for (const relay of [compat, strict]) {
      const b = await bundle(relay, `id=${e15.id}`);
      expect(b.body.events.map((e) => e.id)).toEqual(expected);
      expect(b.body.missing).toEqual([]);
    }
    const resolved = await c.req('res', { kinds: [1301], authors: [user.pubkey], '#a': [e14Address], resolve: true },
      { kinds: [33401, 33402], limit: 0 });
    expect(resolved.map((e) => e.id)).toEqual([e15.id, ...expected]);
  });

  it('tag filters keep their literal meaning: #a finds it, #template does not; #p and #exercise find it', async () => {
    expect((await s.req('a', { kinds: [1301], '#a': [e14Address] })).map((e) => e.id)).toEqual([e15.id]);
    expect(await s.req('tpl', { kinds: [1301], '#template': [e14Address] })).toEqual([]);
    expect((await s.req('p', { kinds: [1301], '#p': [PARTNER] })).map((e) => e.id)).toEqual([e15.id]);
    for (const d of ['rowing-erg', 'russian-kettlebell-swing', 'push-up']) {
      expect((await s.req(`x-${d}`, { kinds: [1301], '#exercise': [exerciseAddress(d)] })).map((e) => e.id)).toEqual([e15.id]);
    }
  });

  it('a record whose template arrives later is incomplete until it does, whichever tag links it', async () => {
    const author = signer();
    const later = author.sign({ kind: 33402, content: '', tags: [['d', 'later'], ['title', 'Later'], ['type', 'circuit'],
      ['exercise', exerciseAddress('push-up'), '', '0', '10', '', 'normal', '1']] });
    const address = coord(33402, author.pubkey, 'later');
    const base = [['title', 'Later'], ['type', 'circuit'], ['start', '1774453800'], ['end', '1774455060'], ['completed', 'true'],
      ['exercise', exerciseAddress('push-up'), '', '0', '10', '8', 'normal', '1']];
    const viaA = author.sign({ kind: 1301, content: '', tags: [...base, ['a', address, '']] });
    // An a tag naming something other than a template is no template link; the template tag is.
    const viaTemplate = author.sign({ kind: 1301, content: '', tags: [...base, ['a', coord(30023, author.pubkey, 'blog')], ['template', address, '']] });
    for (const r of [viaA, viaTemplate]) {
      expect(await c.publish(r)).toEqual([true, '']);
      expect((await bundle(compat, `id=${r.id}`)).body.missing).toEqual([address]);
    }
    expect(await c.publish(later)).toEqual([true, '']);
    for (const r of [viaA, viaTemplate]) {
      const b = await bundle(compat, `id=${r.id}`);
      expect(b.body.missing).toEqual([]);
      expect(b.body.events.map((e) => e.id)).toEqual([later.id, pushUp.id]);
    }
    const linked = query<{ address: string }>(compat, `SELECT a.address FROM workout_records r JOIN addresses a ON a.id = r.template_id
      JOIN nostr_events e ON e.seq = r.event_seq WHERE e.pubkey = ?`, byId(author.pubkey));
    expect(linked).toEqual([{ address }, { address }]);
  });
});

describe('E16: RUNSTR records', () => {
  it('are accepted in both modes without flags, and processed into activities with distance, duration and pace', async () => {
    for (const client of both()) {
      for (const e of [e16, e16s]) expect(await client.publish(e)).toEqual([true, '']);
    }
    expect(flagsOf(strict, e16.id)).toEqual([]);
    const activities = query(compat, `SELECT activity, title, start_at, duration_s, distance, distance_unit, distance_m, pace_s_per_km,
      elevation_gain_m, calories FROM activity_records a JOIN nostr_events e ON e.seq = a.event_seq WHERE e.pubkey = ? ORDER BY e.created_at`,
    byId(runner.pubkey));
    expect(activities).toEqual([
      { activity: 'running', title: 'Running Workout', start_at: 1767600000, duration_s: 1695, distance: 5, distance_unit: 'km',
        distance_m: 5000, pace_s_per_km: 339, elevation_gain_m: 45, calories: 285 },
      { activity: 'strength', title: 'Strength Workout', start_at: null, duration_s: 2530, distance: null, distance_unit: null,
        distance_m: null, pace_s_per_km: null, elevation_gain_m: null, calories: null },
    ]);
    const sets = query<{ set_number: number; weight: number; weight_unit: string; weight_kg: number; reps: number }>(compat,
      `SELECT s.set_number, s.reps, s.weight, s.weight_unit, s.weight_kg FROM activity_sets s JOIN nostr_events e ON e.seq = s.record_seq
      WHERE e.id = ? ORDER BY s.position`, byId(e16s.id));
    expect(sets.map((r) => [r.set_number, r.reps, r.weight, r.weight_unit])).toEqual([[1, 10, 135, 'lbs'], [2, 10, 135, 'lbs'], [3, 10, 145, 'lbs']]);
    expect(sets[2]!.weight_kg).toBeCloseTo(145 * KG_PER_LB, 9);
    expect(query(compat, 'SELECT * FROM workout_records r JOIN nostr_events e ON e.seq = r.event_seq WHERE e.pubkey = ?', byId(runner.pubkey))).toEqual([]);
  });

  it('bundle alone, and #exercise on the verb finds only that activity', async () => {
    const b = await bundle(compat, `id=${e16.id}`);
    expect(b).toMatchObject({ status: 200, body: { root: { id: e16.id }, events: [], missing: [] } });
    expect((await s.req('run', { kinds: [1301], '#exercise': ['running'] })).map((e) => e.id)).toEqual([e16.id]);
  });
});

describe('E17 and E18: the reserved kinds 1300 and 31300', () => {
  it('E17 is stored as a regular event in both modes, found by #a and #p, no bundle members', async () => {
    for (const client of both()) expect(await client.publish(e17)).toEqual([true, '']);
    expect(flagsOf(strict, e17.id)).toEqual([]);
    expect((await s.req('a17', { kinds: [1300], '#a': [e14Address] })).map((e) => e.id)).toEqual([e17.id]);
    expect((await s.req('p17', { kinds: [1300], '#p': [PARTNER] })).map((e) => e.id)).toEqual([e17.id]);
    expect((await bundle(compat, `id=${e17.id}`)).body).toMatchObject({ events: [], missing: [] });
  });

  it('E18 is addressable: found by #d, #e and #a; a newer version replaces it, an older one is never served', async () => {
    for (const client of both()) expect(await client.publish(e18)).toEqual([true, '']);
    expect(flagsOf(strict, e18.id)).toEqual([]);
    const filter = { kinds: [31300], authors: [user.pubkey] };
    expect((await s.req('d18', { ...filter, '#d': ['row-swing-metcon-1774453800000'] })).map((e) => e.id)).toEqual([e18.id]);
    expect((await s.req('e18', { ...filter, '#e': [e17.id] })).map((e) => e.id)).toEqual([e18.id]);
    expect((await s.req('a18', { ...filter, '#a': [e14Address] })).map((e) => e.id)).toEqual([e18.id]);
    const round2 = user.sign({ kind: 31300, created_at: e18.created_at + 300, content: 'Round 2 done.', tags: [...e18.tags,
      ['exercise', exerciseAddress('push-up'), '', '0', '12', '8', 'normal', '1']] });
    const older = user.sign({ kind: 31300, created_at: e18.created_at - 300, content: 'Warming up.', tags: e18.tags });
    for (const client of both()) {
      expect(await client.publish(round2)).toEqual([true, '']);
      expect(await client.publish(older)).toEqual([false, 'blocked: a newer version of this event is already stored']);
      expect((await client.req('live', filter)).map((e) => e.id)).toEqual([round2.id]);
    }
  });
});

describe('33402 from unrelated apps', () => {
  const app = signer();
  const checkpoint = app.sign({ kind: 33402, content: 'Find the bench by the lake.', tags: [['d', 'checkpoint-7'], ['title', 'Checkpoint 7'],
    ['g', 'u4pruyd']] });

  it('is accepted in compat mode with a flag and is no template; strict mode refuses it', async () => {
    expect(await c.publish(checkpoint)).toEqual([true, '']);
    expect(flagsOf(compat, checkpoint.id)).toEqual(['not_a_workout_template']);
    expect(query(compat, 'SELECT * FROM templates WHERE address = ?', coord(33402, app.pubkey, 'checkpoint-7'))).toEqual([]);
    expect((await c.req('cp', { kinds: [33402], authors: [app.pubkey] })).map((e) => e.id)).toEqual([checkpoint.id]);
    expect(await s.publish(checkpoint)).toEqual([false, 'invalid: kind 33402 without exercise references: not a NIP-101e workout template']);
  });
});

describe('units follow the exercise', () => {
  it('a record set is re-read when its exercise arrives or changes units', async () => {
    const author = signer();
    const address = coord(33401, author.pubkey, 'sled-push');
    const record = author.sign({ kind: 1301, content: '', tags: [['d', 'sled'], ['title', 'Sled'], ['type', 'strength'],
      ['start', '1774453800'], ['end', '1774455060'], ['completed', 'true'], ['exercise', address, '', '200', '20', '', 'normal', '1']] });
    const exercise = (units: string[], created_at: number) => author.sign({ kind: 33401, created_at, content: '', tags: [['d', 'sled-push'],
      ['title', 'Sled Push'], ['format', 'weight', 'distance', 'rpe', 'set_type'], ['format_units', ...units], ['equipment', 'machine']] });
    const setOf = () => query(compat, `SELECT weight, weight_unit, weight_kg, distance, distance_unit, distance_m, rpe FROM record_sets s
      JOIN nostr_events e ON e.seq = s.record_seq WHERE e.id = ?`, byId(record.id))[0];

    expect(await c.publish(record)).toEqual([true, '']);
    // Unknown exercise: POWR's default format (weight, reps, rpe, set_type in kg).
    expect(setOf()).toEqual({ weight: 200, weight_unit: 'kg', weight_kg: 200, distance: null, distance_unit: null, distance_m: null, rpe: null });
    expect(await c.publish(exercise(['lbs', 'yards', '0-10', 'enum'], 1774400000))).toEqual([true, '']);
    expect(setOf()).toMatchObject({ weight: 200, weight_unit: 'lbs', distance: 20, distance_unit: 'yards' });
    expect((setOf() as { weight_kg: number }).weight_kg).toBeCloseTo(200 * KG_PER_LB, 9);
    expect((setOf() as { distance_m: number }).distance_m).toBeCloseTo(18.288, 9);
    expect(await c.publish(exercise(['kg', 'meters', '0-10', 'enum'], 1774400100))).toEqual([true, '']);
    expect(setOf()).toEqual({ weight: 200, weight_unit: 'kg', weight_kg: 200, distance: 20, distance_unit: 'meters', distance_m: 20, rpe: null });
  });
});

describe('the catalogue shows the 2026 shapes from the processed tables', () => {
  async function html(relay: RunningRelay, path: string): Promise<string> {
    const res = await fetch(relay.httpUrl + path, { headers: { accept: 'text/html' } });
    expect(res.status, path).toBe(200);
    return res.text();
  }
  const all = (text: string, pattern: RegExp) => [...text.matchAll(pattern)].map((m) => m.slice(1));
  const points = (page: string, series: string) =>
    all(page, new RegExp(`data-series="${series}" data-date="([^"]+)" data-value="([^"]+)"`, 'g')).map(([d, v]) => [d, Number(v)]);
  const totals = (page: string) => Object.fromEntries(all(page, /data-total="(\w+)" data-value="([^"]+)"/g).map(([k, v]) => [k, Number(v)]));
  const tenths = (v: number) => Math.round(v * 10) / 10;
  const text = (page: string) => page.replace(/<[^>]+>/g, '');

  it('a record counts lbs sets in kg and shows rowing sets in metres and seconds', async () => {
    const page = text(await html(strict, `/records/${e15.id}`));
    expect(page).toContain(`${tenths(3 * 53 * 15 * KG_PER_LB).toLocaleString('en')} kg`);
    for (const set of ['500 m, 118 s', '500 m, 121 s', '500 m, 124 s', '15 @ 53 lb, RPE 9']) expect(page).toContain(set);
    expect(totals(await html(compat, `/profiles/${user.pubkey}`))).toEqual({ workouts: 1,
      volume: tenths(3 * 53 * 15 * KG_PER_LB), distance: 1500, time: 1774455060 - 1774453800 });
  });

  it('charts a runner\'s distance and pace per run like a lifter\'s progress, and totals activities with workouts', async () => {
    const page = await html(compat, `/profiles/${runner.pubkey}`);
    expect(points(page, 'distance')).toEqual([['2026-01-05', 5]]);
    expect(points(page, 'pace')).toEqual([['2026-01-05', Math.round((339 / 60) * 100) / 100]]);
    expect(totals(page)).toEqual({ activities: 2, volume: tenths(10 * (135 + 135 + 145) * KG_PER_LB), distance: 5000,
      time: 1695 + 2530 });
    expect(all(page, /<ul id="history">(.*?)<\/ul>/gs).flat().join('')).toMatch(/Strength Workout.*Running Workout/s);
  });

  it('a RUNSTR record has a page: activity, distance with its unit, duration, pace; strength sets in their unit', async () => {
    const run = text(await html(compat, `/records/${e16.id}`));
    for (const fact of ['Running Workout', 'Running', '5 km', '28:15', '5:39 /km', '45 m', 'RUNSTR', 'Morning 5K']) expect(run).toContain(fact);
    const lift = text(await html(compat, `/records/${e16s.id}`));
    for (const set of ['Set 1: 10 reps @ 135 lb', 'Set 3: 10 reps @ 145 lb', `${tenths(10 * 415 * KG_PER_LB).toLocaleString('en')} kg`]) expect(lift).toContain(set);
  });

  it('shows superset and metcon templates by their processed set groups', async () => {
    const rounds = (page: string) => all(page, /<h3 class="round">([^<]+)<\/h3>\s*<ul>(.*?)<\/ul>/gs)
      .map(([heading, members]) => [heading, all(members!, /class="member"><a [^>]+>([^<]+)<\/a>/g).flat()]);
    const superset = await html(compat, `/templates/${coord(33402, user.pubkey, 'bench-press-barbell-row-superset-1754006400000')}`);
    expect(rounds(superset)).toEqual([1, 2, 3].map((n) => [`Round ${n}`, ['Barbell Bench Press', 'Barbell Row']]));
    expect(rounds(await html(compat, `/templates/${e14Address}`))).toEqual([['Each round', ['Rowing (Erg)', 'Russian Kettlebell Swing', 'Push-Up']]]);
  });
});

describe('processed tables', () => {
  it('a record published before its exercise is read again from its stored set values when the exercise arrives', async () => {
    const d = 'incline-press-lbs';
    const record = user.sign({ kind: 1301, created_at: 1774460000, content: '', tags: [['d', 'incline-before-exercise'],
      ['title', 'Incline day'], ['type', 'strength'], ['start', '1774456400'], ['end', '1774460000'], ['completed', 'true'],
      ['exercise', exerciseAddress(d), '', '100', '8', '8', 'normal', '1'], ['exercise', exerciseAddress(d), '', '105', '6', '9', 'normal', '2']] });
    expect(await c.publish(record)).toEqual([true, '']);
    const sets = () => query<{ weight_unit: string; weight_kg: number; params: string }>(compat,
      `SELECT s.weight_unit, s.weight_kg, s.params FROM record_sets s JOIN nostr_events e ON e.seq = s.record_seq
       WHERE e.id = ? ORDER BY s.position`, byId(record.id));
    // Read by POWR's default units (kg) while the exercise is unknown.
    expect(sets().map((s) => [s.weight_unit, s.weight_kg])).toEqual([['kg', 100], ['kg', 105]]);
    expect(sets().map((s) => setParamsOf(s.params))).toEqual([['100', '8', '8', 'normal', '1'], ['105', '6', '9', 'normal', '2']]);
    expect(await c.publish(libExercise(d, 'Incline Press', ['lbs', 'count', '0-10', 'enum']))).toEqual([true, '']);
    expect(sets().map((s) => [s.weight_unit, s.weight_kg])).toEqual([['lbs', 100 * KG_PER_LB], ['lbs', 105 * KG_PER_LB]]);
  });

  it('keeps set values as written, separators and all', () => {
    for (const values of [[], [''], ['', ''], ['100', '8', '8', 'normal', '1'], ['a\u001fb', 'c'], ['\u001ex', ''], ['[1]']]) {
      expect(setParamsOf(setParamsText(values)), JSON.stringify(values)).toEqual(values);
    }
    expect(setParamsText(['100', '8', '8', 'normal', '1']).length).toBeLessThan(JSON.stringify(['100', '8', '8', 'normal', '1']).length);
  });

  it('gives a database made before sets kept their values those values, as incremental processing writes them', async () => {
    const copy = tempDb();
    const live = new BetterSqlite3(compat.db, { readonly: true });
    await live.backup(copy);
    live.close();
    const db = new BetterSqlite3(copy);
    const params = () => [
      ...db.prepare('SELECT template_seq, position, params FROM template_exercises ORDER BY 1, 2').raw().all(),
      ...db.prepare('SELECT record_seq, position, params FROM record_sets ORDER BY 1, 2').raw().all(),
    ];
    const written = params();
    expect(written.length).toBeGreaterThan(20);
    // The previous version's tables, then the migration as it runs on them.
    db.exec('ALTER TABLE template_exercises DROP COLUMN params; ALTER TABLE record_sets DROP COLUMN params');
    const migration = MIGRATIONS.find((m) => m.includes('ADD COLUMN params'))!;
    db.exec(migration);
    expect(db.prepare("SELECT COUNT(*) FROM record_sets WHERE params <> ''").pluck().get()).toBe(0);
    const store = await openStorage(copy);
    expect((await store.check()).differing).toEqual([]);
    await store.close();
    expect(params()).toEqual(written);
    expect(db.prepare("SELECT COUNT(*) FROM relay_state WHERE key = 'rebuild_processed'").pluck().get()).toBe(0);
    db.close();
  });

  it('a rebuild from the raw events equals incremental processing, new columns and tables included', async () => {
    for (const relay of [compat, strict]) {
      const copy = tempDb();
      const live = new BetterSqlite3(relay.db, { readonly: true });
      await live.backup(copy);
      live.close();
      const db = new BetterSqlite3(copy);
      const count = (sql: string) => db.prepare(sql).pluck().get() as number;
      expect(count('SELECT COUNT(*) FROM activity_sets')).toBe(3);
      expect(count('SELECT COUNT(*) FROM record_sets WHERE weight_kg <> weight')).toBeGreaterThan(0);
      expect(count('SELECT COUNT(*) FROM template_exercises WHERE group_index IS NOT NULL')).toBeGreaterThan(8);
      const store = await openStorage(copy);
      expect((await store.check()).differing).toEqual([]);
      db.prepare('UPDATE activity_records SET pace_s_per_km = pace_s_per_km + 1').run();
      db.prepare('UPDATE template_exercises SET group_index = NULL').run();
      expect((await store.check()).differing).toEqual(['template_exercises', 'activity_records']);
      await store.close();
      db.close();
    }
  });

  it('fills new processed columns and tables by itself when a migration marked the database', async () => {
    const copy = tempDb();
    const live = new BetterSqlite3(compat.db, { readonly: true });
    await live.backup(copy);
    live.close();
    // What an upgraded database looks like before its first start: the new tables empty, the mark set.
    const db = new BetterSqlite3(copy);
    db.exec("DELETE FROM activity_sets; DELETE FROM activity_records; INSERT INTO relay_state (key, value) VALUES ('rebuild_processed', 1)");
    const store = await openStorage(copy);
    expect((await store.check()).differing).toEqual([]);
    await store.close();
    expect(db.prepare('SELECT COUNT(*) FROM activity_sets').pluck().get()).toBe(3);
    expect(db.prepare("SELECT COUNT(*) FROM relay_state WHERE key = 'rebuild_processed'").pluck().get()).toBe(0);
    db.close();
  });
});

