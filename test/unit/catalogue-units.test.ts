import { describe, expect, it } from 'vitest';
import { estimatedOneRepMax, weekOf } from '../../src/web/training.js';
import { collapseSets, describeSet, unitOf } from '../../src/web/units.js';

const set = (...values: string[]) => ({ position: 1, address: null, values });
const strength = { format: ['weight', 'reps', 'rpe', 'set_type'], formatUnits: ['kg', 'count', '0-10', 'enum'] };

describe('sets as lifters write them', () => {
  it('weight, reps, RPE and set type', () => {
    expect(describeSet(set('80', '5', '8', 'normal', '1'), strength)).toBe('5 @ 80 kg, RPE 8');
    expect(describeSet(set('60', '8', '', 'warmup'), strength)).toBe('8 @ 60 kg (warm-up)');
    expect(describeSet(set('0', '12', '', 'normal'), strength)).toBe('12 reps');
    expect(describeSet(set('', '', '', 'failure'), strength)).toBe('open (to failure)');
    expect(describeSet(set('135', '5', '7', 'normal'), { ...strength, formatUnits: ['lbs', 'count', '0-10', 'enum'] })).toBe('5 @ 135 lb, RPE 7');
  });

  it('durations and distances in their units', () => {
    expect(describeSet(set('60', '1'), { format: ['duration'], formatUnits: ['seconds'] })).toBe('60 s');
    expect(describeSet(set('5', '30'), { format: ['distance', 'duration'], formatUnits: ['km', 'minutes'] })).toBe('5 km, 30 min');
  });

  it('identical consecutive sets collapse; different ones do not', () => {
    expect(collapseSets(['5 @ 80 kg', '5 @ 80 kg', '5 @ 80 kg', '3 @ 90 kg', '5 @ 80 kg'])).toEqual(['3 × 5 @ 80 kg', '3 @ 90 kg', '5 @ 80 kg']);
  });
});

describe('units and training numbers', () => {
  it('shows the unit the exercise declares, and the spec default when it declares none', () => {
    expect(unitOf('weight', ['weight'], ['lbs'])).toBe('lb');
    expect(unitOf('weight', [], [])).toBe('kg');
  });

  it('Epley one-rep max; a single is its own', () => {
    expect(estimatedOneRepMax(100, 1)).toBe(100);
    expect(estimatedOneRepMax(90, 6)).toBeCloseTo(108, 6);
  });

  it('weeks start on Monday, UTC', () => {
    expect(weekOf(Date.UTC(2026, 0, 11, 23, 59) / 1000)).toBe('2026-01-05'); // a Sunday night
    expect(weekOf(Date.UTC(2026, 0, 12) / 1000)).toBe('2026-01-12');
  });
});
