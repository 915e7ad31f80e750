import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCorpus, readLines } from '../src/bench/corpus.js';
import { analyze, verdict } from '../src/powr/analyze.js';
import { setGroups } from '../src/powr/groups.js';
import { checkSetsAgainstFormats, setColumns } from '../src/powr/params.js';
import type { Exercise, PowrRecord } from '../src/powr/types.js';
import type { NostrEvent } from '../src/protocol/event.js';

const dir = mkdtempSync(join(tmpdir(), 'powr-corpus-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('benchmark corpus', () => {
  it('holds the 2026 shapes, and every workout event passes strict validation against its exercises', async () => {
    const corpus = await loadCorpus(dir, 2500, 3, () => {});
    const events = (await readLines(corpus.file)).map((l) => JSON.parse(l) as NostrEvent);
    const analysed = events.map((e) => ({ e, ...analyze(e) }));
    const exercises = new Map<string, Exercise>();
    for (const { record } of analysed) if (record?.type === 'exercise') exercises.set(record.address, record);

    const shapes = { lbs: 0, cardio: 0, grouped: 0, iosTemplate: 0, bothLinks: 0, web: 0, ios: 0, activities: 0, lbsSets: 0 };
    for (const { e, record, issues } of analysed) {
      expect(verdict(issues, 'strict'), JSON.stringify(e.tags)).toMatchObject({ accepted: true });
      const r = record as PowrRecord | null;
      if (r?.type === 'template' || r?.type === 'record') {
        const refused = checkSetsAgainstFormats(r.sets, (a) => exercises.get(a)?.format, r.type).filter((i) => i.severity !== 'flag');
        expect(refused).toEqual([]);
      }
      const has = (name: string) => e.tags.some((t) => t[0] === name);
      if (r?.type === 'exercise') {
        if (r.formatUnits[0] === 'lbs') shapes.lbs++;
        if (r.format.includes('distance')) shapes.cardio++;
      } else if (r?.type === 'template') {
        const numbers = r.sets.map((s) => {
          const ex = exercises.get(s.address!)!;
          return { position: s.position, setNumber: setColumns(s, ex.format, ex.formatUnits).setNumber };
        });
        if (setGroups(r.workoutType, numbers).some((g) => g.positions.length > 1)) shapes.grouped++;
        if (has('alt') && has('client')) shapes.iosTemplate++;
      } else if (r?.type === 'record') {
        expect(r.templateAddress).not.toBeNull();
        if (has('template') && has('a')) shapes.bothLinks++;
        else if (has('template') && r.start !== null && e.tags.find((t) => t[0] === 'start')![1]!.length === 13) shapes.web++;
        else if (has('a') && !has('d') && has('client')) shapes.ios++;
        for (const s of r.sets) {
          const ex = exercises.get(s.address!)!;
          if (setColumns(s, ex.format, ex.formatUnits).weightUnit === 'lbs') shapes.lbsSets++;
        }
      } else if (r?.type === 'activity') {
        expect(r.durationS).toBeGreaterThan(0);
        if (r.activity !== 'strength') expect(r.paceSPerKm).toBeGreaterThan(0);
        else expect(r.sets).toHaveLength(3);
        shapes.activities++;
      }
    }
    const records = shapes.bothLinks + shapes.web + shapes.ios + shapes.activities;
    expect(records).toBeGreaterThan(500);
    // Each 2026 shape is present in roughly the proportion corpus.ts documents.
    for (const [form, share] of [['bothLinks', 1 / 7], ['web', 1 / 3], ['ios', 2 / 7], ['activities', 1 / 4]] as const) {
      expect(shapes[form] / records).toBeGreaterThan(share * 0.6);
      expect(shapes[form] / records).toBeLessThan(share * 1.4);
    }
    expect(shapes.lbs).toBeGreaterThan(5);
    expect(shapes.cardio).toBeGreaterThan(10);
    expect(shapes.grouped).toBeGreaterThan(10);
    expect(shapes.iosTemplate).toBeGreaterThan(10);
    expect(shapes.lbsSets).toBeGreaterThan(100);
  }, 60_000);
});
