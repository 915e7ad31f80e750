/**
 * Set groups of superset, circuit and metcon templates (powr_web 2025-07-26, nip101e.md 7.1): sets
 * with the same set_number are performed together, one group after the other. In straight-set types
 * (strength…) set_number only counts the sets of each exercise, so those templates have no groups.
 */

export const GROUPED_WORKOUT_TYPES: readonly string[] = ['superset', 'circuit', 'metcon'];

export interface SetGroup {
  /** The shared set_number; null for a set that has none (it forms a group of its own). */
  setNumber: number | null;
  /** Positions (1-based exercise tag numbers) of the sets performed together, in tag order. */
  positions: number[];
}

/** The groups of a template's sets, in the order their first set appears. */
export function setGroups(workoutType: string, sets: readonly { position: number; setNumber: number | null }[]): SetGroup[] {
  if (!GROUPED_WORKOUT_TYPES.includes(workoutType.toLowerCase())) return [];
  const groups: SetGroup[] = [];
  const byNumber = new Map<number, SetGroup>();
  for (const { position, setNumber } of sets) {
    const existing = setNumber === null ? undefined : byNumber.get(setNumber);
    if (existing) {
      existing.positions.push(position);
      continue;
    }
    const group = { setNumber, positions: [position] };
    groups.push(group);
    if (setNumber !== null) byNumber.set(setNumber, group);
  }
  return groups;
}
