import { describe, expect, it } from 'vitest';
import { analyze, verdict } from '../src/powr/analyze.js';
import { setGroups } from '../src/powr/groups.js';
import { setColumns } from '../src/powr/params.js';
import type { Activity, Template, WorkoutRecord } from '../src/powr/types.js';
import { KG_PER_LB, clockSeconds, normalise } from '../src/powr/units.js';
import type { NostrEvent } from '../src/protocol/event.js';
import { EXAMPLES } from './fixtures/nip101e-examples.js';

/** The pure NIP-101e layer reads events without signatures; id and sig are not looked at. */
const event = (name: string): NostrEvent => ({ ...EXAMPLES[name]!, id: '0'.repeat(64), sig: '0'.repeat(128) });

describe('units', () => {
  it('normalise weights to kg, durations to seconds and distances to metres', () => {
    expect(normalise('weight', 135, 'lbs')).toBeCloseTo(61.235, 3);
    expect(normalise('weight', 100, 'kg')).toBe(100);
    expect(normalise('weight', 0, 'bodyweight')).toBe(0);
    expect(normalise('duration', 2.5, 'minutes')).toBe(150);
    expect(normalise('duration', 90, 'sec')).toBe(90);
    expect(normalise('distance', 5, 'km')).toBe(5000);
    expect(normalise('distance', 1, 'miles')).toBeCloseTo(1609.344, 6);
    expect(normalise('distance', 3.1, 'mi')).toBeCloseTo(4988.97, 2);
  });

  it('give null for an unknown unit or value rather than a guess', () => {
    expect(normalise('weight', 10, 'stone')).toBeNull();
    expect(normalise('distance', 10, undefined)).toBeNull();
    expect(normalise('duration', null, 'seconds')).toBeNull();
  });

  it('read HH:MM:SS, MM:SS and plain seconds', () => {
    expect(clockSeconds('00:28:15')).toBe(1695);
    expect(clockSeconds('1:02:03')).toBe(3723);
    expect(clockSeconds('05:39')).toBe(339);
    expect(clockSeconds('1200')).toBe(1200);
    expect(clockSeconds('00:61:00')).toBeNull();
    expect(clockSeconds('about an hour')).toBeNull();
    expect(clockSeconds(undefined)).toBeNull();
  });
});

describe('set columns', () => {
  it('keep the published value and unit and add the normalised one', () => {
    const swing = { position: 1, address: 'x', values: ['53', '15', '8', 'normal', '1'] };
    expect(setColumns(swing, ['weight', 'reps', 'rpe', 'set_type'], ['lbs', 'count', '0-10', 'enum'])).toMatchObject({
      setNumber: 1, weight: 53, weightUnit: 'lbs', weightKg: 53 * KG_PER_LB, reps: 15, rpe: 8, setType: 'normal',
      distance: null, duration: null, distanceM: null, durationS: null,
    });
    const row = { position: 1, address: 'x', values: ['0.5', '2', '3'] };
    expect(setColumns(row, ['distance', 'duration'], ['km', 'minutes'])).toMatchObject({
      setNumber: 3, distance: 0.5, distanceUnit: 'km', distanceM: 500, duration: 2, durationUnit: 'minutes', durationS: 120,
      weight: null, reps: null, setType: null,
    });
  });

  it('read a set whose exercise is unknown by the POWR default format and units (kg)', () => {
    const set = { position: 1, address: 'x', values: ['100', '5', '8', 'normal', '2'] };
    expect(setColumns(set, undefined, undefined)).toMatchObject({ setNumber: 2, weight: 100, weightUnit: 'kg', weightKg: 100 });
  });
});

describe('set groups', () => {
  const sets = (numbers: (number | null)[]) => numbers.map((setNumber, i) => ({ position: i + 1, setNumber }));

  it('group superset, circuit and metcon sets by set_number, in order of first appearance', () => {
    expect(setGroups('superset', sets([1, 1, 2, 2, 3, 3]))).toEqual([
      { setNumber: 1, positions: [1, 2] }, { setNumber: 2, positions: [3, 4] }, { setNumber: 3, positions: [5, 6] },
    ]);
    expect(setGroups('metcon', sets([1, 1, 1]))).toEqual([{ setNumber: 1, positions: [1, 2, 3] }]);
    expect(setGroups('circuit', sets([1, null, 1]))).toEqual([{ setNumber: 1, positions: [1, 3] }, { setNumber: null, positions: [2] }]);
  });

  it('leave straight-set templates ungrouped', () => {
    expect(setGroups('strength', sets([1, 2, 1, 2]))).toEqual([]);
  });
});

describe('the 2026 examples, analysed', () => {
  it('E13 superset template: type, rest between sets, working sets', () => {
    const { record, issues } = analyze(event('E13'));
    const t = record as Template;
    expect(t).toMatchObject({ type: 'template', workoutType: 'superset', restBetweenSets: 180 });
    expect(t.sets).toHaveLength(6);
    expect(issues).toEqual([]);
  });

  it('E15 iOS record: template link from the a tag, ms times, 3-element pr, flagged only', () => {
    const { record, issues } = analyze(event('E15'));
    const r = record as WorkoutRecord;
    expect(r.templateAddress).toBe(EXAMPLES.E15!.tags.find((t) => t[0] === 'a')![1]);
    expect([r.start, r.end]).toEqual([1774453800, 1774455060]);
    expect(issues.map((i) => i.code).sort()).toEqual(['missing_d', 'ms_timestamps', 'ms_timestamps']);
    expect(verdict(issues, 'strict').accepted).toBe(true);
  });

  it('E16 RUNSTR run: an activity with distance, duration and pace; E16s: strength sets in lbs', () => {
    const run = analyze(event('E16'));
    expect(run.issues).toEqual([]);
    expect(run.record).toMatchObject({ type: 'activity', activity: 'running', title: 'Running Workout', start: 1767600000,
      durationS: 1695, distance: 5, distanceUnit: 'km', distanceM: 5000, paceSPerKm: 339, elevationGainM: 45, calories: 285, sets: [] });
    const strength = analyze(event('E16s')).record as Activity;
    expect(strength).toMatchObject({ activity: 'strength', durationS: 2530, distanceM: null, paceSPerKm: null });
    expect(strength.sets.map((s) => [s.setNumber, s.reps, s.weight, s.weightUnit])).toEqual([[1, 10, 135, 'lbs'], [2, 10, 135, 'lbs'], [3, 10, 145, 'lbs']]);
    expect(strength.sets[2]!.weightKg).toBeCloseTo(145 * KG_PER_LB, 9);
  });

  it('RUNSTR sets given only as sets x weight, with Amethyst\'s lbs default for a unit-less weight', () => {
    const e = { ...event('E16s'), tags: [['exercise', 'strength'], ['sets', '2'], ['reps', '8'], ['weight', '100']] };
    const a = analyze(e).record as Activity;
    expect(a.sets.map((s) => [s.setNumber, s.reps, s.weight, s.weightUnit])).toEqual([[1, 8, 100, 'lbs'], [2, 8, 100, 'lbs']]);
  });

  it('E17 and E18 (reserved kinds) are not NIP-101e events', () => {
    for (const name of ['E17', 'E18']) expect(analyze(event(name))).toEqual({ record: null, issues: [] });
  });

  it('a 33402 without exercise references is another app\'s: no template, flagged, refused only in strict mode', () => {
    const geocache = { ...event('E14'), tags: [['d', 'checkpoint-7'], ['title', 'Checkpoint 7'], ['g', 'u4pruyd']] };
    const workstr = { ...event('E14'), tags: [['d', 'program'], ['title', 'Program'], ['exercise', 'bench-press', '3x10']] };
    for (const e of [geocache, workstr]) {
      const { record, issues } = analyze(e);
      expect(record).toBeNull();
      expect(issues.map((i) => i.code)).toEqual(['not_a_workout_template']);
      expect(verdict(issues, 'compat')).toEqual({ accepted: true, flags: [expect.objectContaining({ code: 'not_a_workout_template' })] });
      expect(verdict(issues, 'strict').accepted).toBe(false);
    }
  });
});
