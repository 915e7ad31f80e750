import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOGUE_SQL, exerciseSearch } from '../../src/store/sqlite/catalogue-queries.js';
import type { Database } from 'better-sqlite3';
import { openDatabase } from '../../src/store/sqlite/database.js';
import { tempDb } from '../helpers/relay.js';

/**
 * Which index serves each catalogue query (EXPLAIN QUERY PLAN on an empty database: the plan does
 * not depend on the rows, and INDEXED BY makes a lost index an error rather than a scan).
 */

let db: Database;
beforeAll(() => {
  db = openDatabase(tempDb());
});
afterAll(() => db.close());

const KEY = Buffer.alloc(32);
const PARAMS: Record<string, unknown[]> = {
  exerciseEvent: [{ address: '33401:x:y', now: 0 }],
  media: [1],
  templatesUsing: ['33401:x:y'],
  exerciseTitle: ['33401:x:y'],
  addressEvent: [{ kind: 33402, pubkey: KEY, d: 'd', now: 0 }],
  recordEvent: [{ id: KEY, now: 0 }],
  templateTitle: ['33402:x:y'],
  profile: [KEY],
  browseTemplates: [{ type: '', difficulty: '', limit: 10 }],
  browseTemplatesOfType: [{ type: 'strength', difficulty: '', limit: 10 }],
  searchTemplates: [{ match: '"leg"*', type: '', difficulty: '', limit: 10 }],
  authorTemplates: [KEY],
  authorExercises: [KEY],
  authorRecords: [{ pubkey: KEY, limit: 10 }],
  recordSets: [1],
  recentRecords: [{ limit: 10 }],
  templateTypes: [],
  templateGroups: [1],
  authorActivities: [{ pubkey: KEY, limit: 10 }],
  activity: [1],
  activitySets: [1],
  recordTotals: [KEY],
  activityTotals: [KEY],
  recentActivities: [{ limit: 10 }],
};

/** The index (or key) each query must use; every step listed must appear in its plan. */
const EXPECTED: Record<string, RegExp[]> = {
  exerciseEvent: [/SEARCH x USING (COVERING )?INDEX sqlite_autoindex_exercises_1 \(address=\?\)/, /SEARCH e USING INTEGER PRIMARY KEY/],
  media: [/SEARCH m USING PRIMARY KEY \(event_seq=\?\)/, /SEARCH b USING PRIMARY KEY \(sha256=\?\) LEFT-JOIN/,
    /SEARCH moderation USING PRIMARY KEY \(list=\? AND value=\?\)/, /SEARCH o USING PRIMARY KEY \(sha256=\?\)/],
  templatesUsing: [/SEARCH te USING COVERING INDEX template_exercises_by_exercise \(exercise_id=\?\)/, /sqlite_autoindex_addresses_1 \(address=\?\)/,
    /SEARCH t USING INTEGER PRIMARY KEY/],
  exerciseTitle: [/SEARCH exercises USING INDEX sqlite_autoindex_exercises_1 \(address=\?\)/],
  addressEvent: [/SEARCH e USING INDEX events_by_address \(kind=\? AND pubkey=\? AND d=\?\)/],
  recordEvent: [/SEARCH e USING INDEX events_by_id \(id=\?\)/],
  templateTitle: [/SEARCH templates USING INDEX sqlite_autoindex_templates_1 \(address=\?\)/],
  profile: [/SEARCH e USING INDEX events_by_address \(kind=\? AND pubkey=\? AND d=\?\)/],
  browseTemplates: [/SCAN t\b/, /SEARCH s USING PRIMARY KEY \(template_seq=\?\)/, /SEARCH m USING PRIMARY KEY \(referrer_seq=\?\)/],
  browseTemplatesOfType: [/SEARCH t USING INDEX templates_by_type \(type=\?\)/],
  searchTemplates: [/SCAN powr_search VIRTUAL TABLE INDEX/, /SEARCH t USING INTEGER PRIMARY KEY/],
  authorTemplates: [/SEARCH e USING (COVERING )?INDEX events_by_author_kind \(pubkey=\? AND kind=\?\)/, /SEARCH t USING INTEGER PRIMARY KEY/],
  authorExercises: [/SEARCH e USING (COVERING )?INDEX events_by_author_kind \(pubkey=\? AND kind=\?\)/, /SEARCH x USING INTEGER PRIMARY KEY/],
  authorRecords: [/SEARCH e USING INDEX events_by_author_kind \(pubkey=\? AND kind=\?\)/, /SEARCH w USING INTEGER PRIMARY KEY/],
  recordSets: [/SEARCH s USING PRIMARY KEY \(record_seq=\?\)/, /SEARCH a USING INTEGER PRIMARY KEY/, /sqlite_autoindex_exercises_1 \(address=\?\)/],
  recentRecords: [/SEARCH e USING INDEX events_by_kind \(kind=\?\)/, /SEARCH w USING INTEGER PRIMARY KEY/],
  templateTypes: [/SCAN templates USING COVERING INDEX templates_by_type/],
  templateGroups: [/SEARCH template_exercises USING PRIMARY KEY \(template_seq=\?\)/],
  authorActivities: [/SEARCH e USING INDEX events_by_author_kind \(pubkey=\? AND kind=\?\)/, /SEARCH a USING INTEGER PRIMARY KEY/,
    /SEARCH s USING PRIMARY KEY \(record_seq=\?\)/],
  activity: [/SEARCH a USING INTEGER PRIMARY KEY/, /SEARCH e USING INTEGER PRIMARY KEY/, /SEARCH s USING PRIMARY KEY \(record_seq=\?\)/],
  activitySets: [/SEARCH activity_sets USING PRIMARY KEY \(record_seq=\?\)/],
  recordTotals: [/SEARCH e USING (COVERING )?INDEX events_by_author_kind \(pubkey=\? AND kind=\?\)/, /SEARCH w USING INTEGER PRIMARY KEY/,
    /SEARCH s USING PRIMARY KEY \(record_seq=\?\)/],
  activityTotals: [/SEARCH e USING (COVERING )?INDEX events_by_author_kind \(pubkey=\? AND kind=\?\)/, /SEARCH a USING INTEGER PRIMARY KEY/,
    /SEARCH s USING PRIMARY KEY \(record_seq=\?\)/],
  recentActivities: [/SCAN a\b/, /SEARCH e USING INTEGER PRIMARY KEY/],
};

/** Small per-page aggregates over the processed tables, which the catalogue caches for seconds. */
const CACHED_AGGREGATES = ['count', 'equipment', 'difficulty', 'muscles'];

function plan(sql: string, params: unknown[]): string {
  return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail).join('\n');
}

describe('catalogue query plans', () => {
  it('names an expected plan for every page query', () => {
    const named = Object.keys(CATALOGUE_SQL).filter((k) => !CACHED_AGGREGATES.includes(k)).sort();
    expect(Object.keys(EXPECTED).sort()).toEqual(named);
  });

  for (const [name, steps] of Object.entries(EXPECTED)) {
    it(`${name} uses its index and sorts nothing it could walk in order`, () => {
      const details = plan(CATALOGUE_SQL[name as keyof typeof CATALOGUE_SQL] as string, PARAMS[name]!);
      for (const step of steps) expect(details, details).toMatch(step);
      // No page query walks a whole table other than templates and activities in rowid order (which stops at its limit).
      const walked = name === 'recentActivities' ? /^SCAN (e|s|w|x|te|nostr_events|record_sets|template_exercises)\b/
        : /^SCAN (e|s|w|x|a|te|nostr_events|record_sets|template_exercises)\b/;
      for (const line of details.split('\n')) expect(line, details).not.toMatch(walked);
      // Newest-first and title-ordered pages come in index order. Sorted: the merge of two limited
      // index walks (records of both kinds), one author's own exercises by title, and the best of a
      // search's newest candidates (a bounded set).
      if (!['authorRecords', 'recentRecords', 'authorExercises', 'searchTemplates'].includes(name)) expect(details, details).not.toMatch(/TEMP B-TREE FOR ORDER BY/);
    });
  }

  it('the exercise library walks exercises_by_title, or the search index when there are words', () => {
    const byTitle = exerciseSearch({ q: '', equipment: 'barbell', muscle: 'legs', difficulty: '' });
    const titleOrder = plan(byTitle.sql, byTitle.params);
    expect(titleOrder).toMatch(/SCAN x USING INDEX exercises_by_title/);
    expect(titleOrder).not.toMatch(/TEMP B-TREE FOR ORDER BY/);
    const search = exerciseSearch({ q: 'squat', equipment: '', muscle: '', difficulty: '' });
    const matched = plan(search.sql, search.params);
    expect(matched).toMatch(/SCAN s VIRTUAL TABLE INDEX/);
    expect(matched).toMatch(/SEARCH x USING INTEGER PRIMARY KEY/);
  });
});
