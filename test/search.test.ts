import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NostrEvent } from 'nostr-tools/pure';
import { RawClient, signer } from './helpers/client.js';
import { startRelay, type RunningRelay } from './helpers/relay.js';

const lib = signer();
const exercise = (d: string, title: string, content: string, tags: string[][]) => lib.sign({
  kind: 33401, content,
  tags: [['d', d], ['title', title], ['format', 'weight', 'reps'], ['format_units', 'kg', 'count'], ...tags],
});
const squat = exercise('back-squat', 'Barbell Back Squat', 'Bar on the upper back, sit down to parallel.', [['equipment', 'barbell'], ['t', 'legs'], ['t', 'compound']]);
const goblet = exercise('goblet', 'Goblet Squat', 'Hold a kettlebell at the chest.', [['equipment', 'kettlebell'], ['t', 'legs']]);
const press = exercise('bench', 'Bench Press', 'Lower the bar to the chest.', [['equipment', 'barbell'], ['t', 'chest'], ['t', 'push']]);
const sentadilla = exercise('sentadilla', 'Sentadilla búlgara', '', [['equipment', 'dumbbell'], ['t', 'piernas'], ['description', 'Pie trasero en el banco']]);
const legDay = lib.sign({ kind: 33402, content: 'Squats and more squats', tags: [['d', 'leg-day'], ['title', 'Leg Day'], ['type', 'strength'],
  ['t', 'legs'], ['exercise', `33401:${lib.pubkey}:back-squat`, '', '100', '5']] });
const note = lib.sign({ kind: 1, content: 'squat day today', tags: [['t', 'legs']] });

describe('NIP-50 search over exercises and templates', () => {
  let relay: RunningRelay;
  let c: RawClient;
  beforeAll(async () => {
    relay = await startRelay();
    c = await RawClient.connect(relay.url);
    for (const e of [squat, goblet, press, sentadilla, legDay, note]) expect(await c.publish(e)).toEqual([true, '']);
  });
  afterAll(async () => {
    c.close();
    await relay.stop();
  });
  const ids = (events: NostrEvent[]) => events.map((e) => e.id);

  it('finds exercises and templates by title, instructions, hashtags (muscle groups) and equipment, and nothing else', async () => {
    expect(ids(await c.req('a', { search: 'squat' })).sort()).toEqual([squat.id, goblet.id, legDay.id].sort());
    expect(ids(await c.req('b', { kinds: [33401], search: 'squat' })).sort()).toEqual([squat.id, goblet.id].sort());
    expect(ids(await c.req('c', { search: 'chest' })).sort()).toEqual([goblet.id, press.id].sort());
    expect(ids(await c.req('d', { kinds: [33401], search: 'barbell legs' }))).toEqual([squat.id]);
    expect(ids(await c.req('e', { search: 'kettle' }))).toEqual([goblet.id]);
    expect(ids(await c.req('f', { search: 'BULGARA' }))).toEqual([sentadilla.id]);
    expect(ids(await c.req('g', { search: 'banco' }))).toEqual([sentadilla.id]);
    expect(await c.req('h', { search: 'deadlift' })).toEqual([]);
    expect(await c.req('i', { search: '   ' })).toEqual([]);
  });

  it('ranks the best match first and honours limit, authors and unsupported extensions', async () => {
    const ranked = ids(await c.req('r', { kinds: [33401], search: 'squat', limit: 1 }));
    expect(ranked).toHaveLength(1);
    expect([squat.id, goblet.id]).toContain(ranked[0]);
    expect(await c.req('o', { search: 'squat', authors: ['ab'.repeat(32)] })).toEqual([]);
    expect(ids(await c.req('x', { search: 'press language:en nsfw:false' }))).toEqual([press.id]);
    expect(ids(await c.req('q', { search: '"bench" (press* -' }))).toEqual([press.id]);
    c.send(['COUNT', 'n', { search: 'legs' }]);
    expect((await c.next((f) => f[0] === 'COUNT' && f[1] === 'n'))[2]).toEqual({ count: 3 });
  });

  it('matches live exercises, follows replacement, and is advertised in NIP-11', async () => {
    await c.subscribe('live', { search: 'deadlift', limit: 0 });
    const deadlift = exercise('deadlift', 'Romanian Deadlift', 'Hinge at the hips.', [['equipment', 'barbell'], ['t', 'hamstrings']]);
    const other = exercise('row', 'Barbell Row', '', [['equipment', 'barbell']]);
    for (const e of [other, deadlift]) expect(await c.publish(e)).toEqual([true, '']);
    await c.next((f) => f[0] === 'EVENT' && f[1] === 'live');
    expect(c.frames.filter((f) => f[0] === 'EVENT' && f[1] === 'live').map((f) => (f[2] as NostrEvent).id)).toEqual([deadlift.id]);
    const renamed = lib.sign({ kind: 33401, content: '', created_at: squat.created_at + 100,
      tags: [['d', 'back-squat'], ['title', 'High-bar Squat'], ['format', 'weight', 'reps'], ['format_units', 'kg', 'count'], ['equipment', 'barbell']] });
    expect(await c.publish(renamed)).toEqual([true, '']);
    expect(ids(await c.req('hb', { search: 'high-bar' }))).toEqual([renamed.id]);
    expect(ids(await c.req('old', { kinds: [33401], search: 'compound' }))).toEqual([]);
    const info = await (await fetch(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } })).json();
    expect(info.supported_nips).toContain(50);
  });
});
