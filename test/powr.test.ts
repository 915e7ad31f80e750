import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, signer, type Signer } from './helpers/client.js';
import { openStorage, startBothModes, stopBothModes, tempDb, type RunningRelay } from './helpers/relay.js';
import { EXAMPLES, LIB, USER } from './fixtures/nip101e-examples.js';

const lib = signer();
const user = signer();

/** A spec example re-signed: LIB and USER become keys we hold, in the pubkey and in every reference. */
function example(name: string, change: (tags: string[][]) => string[][] = (t) => t, later = 0) {
  const swapped = JSON.parse(JSON.stringify(EXAMPLES[name]).replaceAll(LIB, lib.pubkey).replaceAll(USER, user.pubkey));
  const key: Signer = EXAMPLES[name]!.pubkey === LIB ? lib : user;
  return key.sign({ kind: swapped.kind, created_at: swapped.created_at + later, content: swapped.content, tags: change(swapped.tags) });
}

const libExercise = (d: string, title: string, extra: string[][] = []) =>
  lib.sign({
    kind: 33401,
    created_at: 1753500000,
    content: '',
    tags: [['d', d], ['title', title], ['format', 'weight', 'reps', 'rpe', 'set_type'], ['format_units', 'kg', 'count', '0-10', 'enum'],
      ['equipment', 'bodyweight'], ...extra],
  });
const coord = (kind: number, pubkey: string, d: string) => `${kind}:${pubkey}:${d}`;

function flagsOf(relay: RunningRelay, id: string): string[] {
  const db = new BetterSqlite3(relay.db, { readonly: true });
  try {
    return (db.prepare(`SELECT f.code FROM event_flags f JOIN nostr_events e ON e.seq = f.event_seq WHERE e.id = ? ORDER BY f.code`)
      .pluck().all(Buffer.from(id, 'hex')) as string[]);
  } finally {
    db.close();
  }
}

async function bundle(relay: RunningRelay, query: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${relay.httpUrl}/api/bundle?${query}`, { headers });
  const text = await res.text();
  return { status: res.status, etag: res.headers.get('etag'), body: text ? JSON.parse(text) : undefined };
}

let compat: RunningRelay;
let strict: RunningRelay;
let c: RawClient;
let s: RawClient;

beforeAll(async () => {
  ({ compat, strict, c, s } = await startBothModes());
});
afterAll(() => stopBothModes({ compat, strict, c, s }));

describe('spec section 4 examples, signed, in both modes', () => {
  const pushUp = libExercise('push-up', 'Push-Up', [['t', 'chest']]);
  const pullUp = libExercise('pull-up', 'Pull-Up');

  it('E1 exercise template: accepted in both modes, also with the legacy set_type unit', async () => {
    expect(await c.publish(example('E1'))).toEqual([true, '']);
    expect(await s.publish(example('E1'))).toEqual([true, '']);
    // A second later, so it replaces E1 whichever id is lower.
    const legacy = example('E1', (tags) => tags.map((t) => (t[0] === 'format_units' ? ['format_units', 'kg', 'count', '0-10', 'warmup|normal|drop|failure'] : t)), 1);
    expect((await s.publish(legacy))[0]).toBe(true);
    for (const e of [pushUp, pullUp]) {
      expect(await c.publish(e)).toEqual([true, '']);
      expect(await s.publish(e)).toEqual([true, '']);
    }
  });

  it('E2 workout template: accepted, complete once its exercises are stored', async () => {
    const e2 = example('E2');
    expect(await c.publish(e2)).toEqual([true, '']);
    expect(await s.publish(e2)).toEqual([true, '']);
    const b = await bundle(compat, `a=${encodeURIComponent(coord(33402, user.pubkey, 'squat-push-pull-1753560000'))}`);
    expect(b.status).toBe(200);
    expect(b.body.missing).toEqual([]);
    expect(b.body.events.map((e: { tags: string[][] }) => e.tags.find((t) => t[0] === 'd')![1])).toEqual(['barbell-back-squat', 'push-up', 'pull-up']);
    expect(flagsOf(compat, e2.id)).toEqual([]);
  });

  it('E3 workout record: accepted; the millisecond variant is accepted and flagged', async () => {
    const e3 = example('E3');
    expect(await c.publish(e3)).toEqual([true, '']);
    expect(await s.publish(e3)).toEqual([true, '']);
    const ms = example('E3', (tags) => tags.map((t) => (t[0] === 'start' ? ['start', '1753600200000'] : t[0] === 'end' ? ['end', '1753603700000'] : t)));
    expect(await c.publish(ms)).toEqual([true, '']);
    expect(await s.publish(ms)).toEqual([true, '']);
    expect(flagsOf(compat, ms.id)).toEqual(['ms_timestamps', 'ms_timestamps']);
    expect(flagsOf(strict, ms.id)).toEqual(['ms_timestamps', 'ms_timestamps']);
    const db = new BetterSqlite3(compat.db, { readonly: true });
    const row = db.prepare(`SELECT start_at, end_at, completed, a.address AS template_address FROM workout_records r
      JOIN nostr_events e ON e.seq = r.event_seq JOIN addresses a ON a.id = r.template_id WHERE e.id = ?`)
      .get(Buffer.from(ms.id, 'hex'));
    expect(row).toEqual({ start_at: 1753600200, end_at: 1753603700, completed: 1, template_address: coord(33402, user.pubkey, 'squat-push-pull-1753560000') });
    const sets = db.prepare(`SELECT position, set_number, weight, reps, rpe, set_type FROM record_sets s JOIN nostr_events e ON e.seq = s.record_seq
      WHERE e.id = ? ORDER BY position`).all(Buffer.from(ms.id, 'hex'));
    db.close();
    expect(sets[1]).toEqual({ position: 2, set_number: 2, weight: 102.5, reps: 5, rpe: 8, set_type: 'normal' });
    expect(sets[6]).toEqual({ position: 7, set_number: 2, weight: 0, reps: 6, rpe: 10, set_type: 'failure' });
  });

  it('E4 template with a missing exercise: stored and tracked as incomplete', async () => {
    const e4 = example('E4');
    expect(await c.publish(e4)).toEqual([true, '']);
    expect(await s.publish(e4)).toEqual([true, '']);
    const b = await bundle(strict, `id=${e4.id}`);
    expect(b.body.missing).toEqual([coord(33401, lib.pubkey, 'kettlebell-swing')]);
    expect(b.body.events.map((e: { id: string }) => e.id)).toEqual([pushUp.id]);
  });

  it('E5 React Native record with client-local references: flagged in compat, refused in strict', async () => {
    const e5 = example('E5');
    expect(await c.publish(e5)).toEqual([true, '']);
    expect(flagsOf(compat, e5.id)).toEqual(expect.arrayContaining(['legacy_rn_local_refs', 'bad_template_ref', 'shifted_params']));
    const [ok, msg] = await s.publish(e5);
    expect(ok).toBe(false);
    expect(msg).toBe('invalid: template tag: "33402::local:m8l4p7sp-t3z81ndyajf" is not a 33402:<64-hex pubkey>:<d> coordinate');
    const withoutTemplate = example('E5', (tags) => tags.filter((t) => t[0] !== 'template'));
    expect((await s.publish(withoutTemplate))[1]).toMatch(/^invalid: exercise tag 1: "33401:local:m8l4pktv-bbjg6yus28d" is a client-local reference/);
  });

  it('E6 template with bad set values: refused in both modes, naming the tag', async () => {
    for (const client of [c, s]) {
      const [ok, msg] = await client.publish(example('E6'));
      expect(ok).toBe(false);
      expect(msg).toBe('invalid: exercise tag 3: "100,5,8,normal" packs several values into one element');
    }
    // Without the packed tag, the values are checked against the stored exercise's format.
    const unpacked = example('E6', (tags) => tags.filter((t) => t[3] !== '100,5,8,normal'));
    expect(await c.publish(unpacked)).toEqual([false, 'invalid: exercise tag 1: weight "heavy" is not a number']);
    const negative = example('E6', (tags) => tags.filter((t) => t[0] !== 'exercise' || t[3] === '100' && t[4] === '-5'));
    expect(await c.publish(negative)).toEqual([false, 'invalid: exercise tag 1: reps "-5" is not a non-negative integer']);
  });

  it('E7 template with wrong reference formats: refused in both modes', async () => {
    for (const client of [c, s]) {
      const [ok, msg] = await client.publish(example('E7'));
      expect(ok).toBe(false);
      expect(msg).toBe('invalid: exercise tag 1: "33401:barbell-back-squat" is not a 33401:<64-hex pubkey>:<d> coordinate');
    }
    const nestedTemplate = example('E7', (tags) => tags.filter((t) => t[0] !== 'exercise' || t[1]!.startsWith('33402:')));
    expect((await c.publish(nestedTemplate))[1]).toMatch(/^invalid: exercise tag 1: .* references kind 33402, not an exercise/);
  });

  it('E8 exercise in the React Native shape: refused for its flattened format_units', async () => {
    for (const client of [c, s]) {
      expect(await client.publish(example('E8'))).toEqual([false, 'invalid: format_units has 8 values but format has 4 parameters']);
    }
    const emptyEquipment = example('E8', (tags) => tags.map((t) => (t[0] === 'format_units' ? ['format_units', 'kg', 'count', '0-10', 'enum'] : t)));
    expect(await c.publish(emptyEquipment)).toEqual([true, '']);
    expect(flagsOf(compat, emptyEquipment.id)).toEqual(['client_local_id', 'missing_equipment']);
    expect(await s.publish(emptyEquipment)).toEqual([false, 'invalid: equipment tag is missing or empty']);
  });

  it('E9 kind 1 share and E10 collection: accepted; a bad collection member is flagged', async () => {
    expect(await c.publish(example('E9'))).toEqual([true, '']);
    expect(await s.publish(example('E9'))).toEqual([true, '']);
    expect(await s.publish(example('E10'))).toEqual([true, '']);
    const bad = example('E10', (tags) => [...tags, ['a', `33402:${lib.pubkey}`]]);
    expect(await c.publish(bad)).toEqual([true, '']);
    expect(flagsOf(compat, bad.id)).toEqual(['bad_member']);
  });

  it('RUNSTR-dialect 1301 records are stored as plain events', async () => {
    const runstr = user.sign({ kind: 1301, content: 'Morning run', tags: [['exercise', 'running'], ['distance', '5.2', 'km'], ['duration', '00:31:10']] });
    expect(await s.publish(runstr)).toEqual([true, '']);
    expect(flagsOf(strict, runstr.id)).toEqual([]);
  });
});

describe('dependency tracking and bundles', () => {
  const author = signer();
  const exA = () => author.sign({ kind: 33401, content: '', tags: [['d', 'goblet-squat'], ['title', 'Goblet Squat'],
    ['format', 'weight', 'reps'], ['format_units', 'kg', 'count'], ['equipment', 'kettlebell']] });
  const template = author.sign({ kind: 33402, content: '', tags: [['d', 'legs'], ['title', 'Legs'], ['type', 'strength'],
    ['exercise', coord(33401, author.pubkey, 'goblet-squat'), '', '20', '10', '1'],
    ['exercise', coord(33401, author.pubkey, 'goblet-squat'), '', '20', '10', '2'],
    ['exercise', coord(33401, author.pubkey, 'lunge'), '', '', '12', '', 'normal', '1']] });
  const address = coord(33402, author.pubkey, 'legs');
  const resolveReq = (client: RawClient, sub: string) =>
    client.req(sub, { kinds: [33402], authors: [author.pubkey], '#d': ['legs'], resolve: true }, { kinds: [33401], limit: 0 });

  it('reports a template published before its exercises as incomplete, then complete (HTTP and resolve)', async () => {
    expect(await c.publish(template)).toEqual([true, '']);
    const before = await bundle(compat, `a=${encodeURIComponent(address)}`);
    expect(before.body.missing).toEqual([coord(33401, author.pubkey, 'goblet-squat'), coord(33401, author.pubkey, 'lunge')]);
    expect(before.body.events).toEqual([]);
    expect((await resolveReq(c, 'r1')).map((e) => e.id)).toEqual([template.id]);

    const squat = exA();
    const lunge = author.sign({ kind: 33401, content: '', tags: [['d', 'lunge'], ['title', 'Lunge'],
      ['format', 'weight', 'reps', 'rpe', 'set_type'], ['format_units', 'kg', 'count', '0-10', 'enum'], ['equipment', 'bodyweight']] });
    expect(await c.publish(squat)).toEqual([true, '']);
    const half = await bundle(compat, `a=${encodeURIComponent(address)}`);
    expect(half.body.missing).toEqual([coord(33401, author.pubkey, 'lunge')]);
    expect(await c.publish(lunge)).toEqual([true, '']);
    const after = await bundle(compat, `a=${encodeURIComponent(address)}`);
    expect(after.body.missing).toEqual([]);
    expect(after.body.root.id).toBe(template.id);
    expect(after.body.events.map((e: { id: string }) => e.id)).toEqual([squat.id, lunge.id]);
    expect((await resolveReq(c, 'r2')).map((e) => e.id)).toEqual([template.id, squat.id, lunge.id]);
  });

  it('changes every bundle containing an exercise on the next request when it is replaced or deleted', async () => {
    const first = await bundle(compat, `a=${encodeURIComponent(address)}`);
    expect((await bundle(compat, `a=${encodeURIComponent(address)}`, { 'If-None-Match': first.etag! })).status).toBe(304);
    const replacement = author.sign({ kind: 33401, content: 'updated cues', tags: [['d', 'goblet-squat'], ['title', 'Goblet Squat v2'],
      ['format', 'weight', 'reps'], ['format_units', 'kg', 'count'], ['equipment', 'kettlebell']] });
    expect(await c.publish(replacement)).toEqual([true, '']);
    const replaced = await bundle(compat, `a=${encodeURIComponent(address)}`, { 'If-None-Match': first.etag! });
    expect(replaced.status).toBe(200);
    expect(replaced.etag).not.toBe(first.etag);
    expect(replaced.body.events[0].id).toBe(replacement.id);

    expect(await c.publish(author.sign({ kind: 5, tags: [['a', coord(33401, author.pubkey, 'goblet-squat')]] }))).toEqual([true, '']);
    const deleted = await bundle(compat, `a=${encodeURIComponent(address)}`);
    expect(deleted.body.missing).toEqual([coord(33401, author.pubkey, 'goblet-squat')]);
    expect(deleted.body.events.map((e: { tags: string[][] }) => e.tags[0]![1])).toEqual(['lunge']);
  });

  it('resolves records (template and all exercises) and collections (templates and their exercises)', async () => {
    const ex = lib.sign({ kind: 33401, content: '', tags: [['d', 'row'], ['title', 'Row'], ['format', 'weight', 'reps'],
      ['format_units', 'kg', 'count'], ['equipment', 'machine']] });
    await c.publish(ex);
    const record = author.sign({ kind: 1301, content: '', tags: [['d', 'w1'], ['title', 'Legs'], ['type', 'strength'],
      ['start', '1753600200'], ['end', '1753603700'], ['completed', 'true'], ['template', address, ''],
      ['exercise', coord(33401, lib.pubkey, 'row'), '', '40', '12', '1']] });
    expect(await c.publish(record)).toEqual([true, '']);
    const rb = await bundle(compat, `id=${record.id}`);
    expect(rb.body.events.map((e: { kind: number; tags: string[][] }) => `${e.kind}:${e.tags[0]![1]}`)).toEqual(['33402:legs', '33401:row', '33401:lunge']);
    expect(rb.body.missing).toEqual([coord(33401, author.pubkey, 'goblet-squat')]);

    const collection = author.sign({ kind: 30004, content: '', tags: [['d', 'pack'], ['name', 'Pack'],
      ['a', address], ['a', coord(33401, lib.pubkey, 'row')], ['a', coord(33402, author.pubkey, 'nope')]] });
    expect(await c.publish(collection)).toEqual([true, '']);
    const cb = await bundle(compat, `a=${encodeURIComponent(coord(30004, author.pubkey, 'pack'))}`);
    expect(cb.body.events.map((e: { kind: number; tags: string[][] }) => `${e.kind}:${e.tags[0]![1]}`)).toEqual(['33402:legs', '33401:lunge', '33401:row']);
    expect(cb.body.missing).toEqual([coord(33401, author.pubkey, 'goblet-squat'), coord(33402, author.pubkey, 'nope')]);
    const viaReq = await c.req('coll', { kinds: [30004], authors: [author.pubkey], resolve: true });
    expect(viaReq.map((e) => e.id)).toEqual([collection.id, ...cb.body.events.map((e: { id: string }) => e.id)]);
  });

  it('sends references of live templates to resolve subscriptions, each once', async () => {
    const listener = await RawClient.connect(compat.url);
    const who = signer();
    await listener.subscribe('live', { kinds: [33402], authors: [who.pubkey], resolve: true }, { kinds: [33401], limit: 0 });
    const from = listener.frames.length;
    const t1 = who.sign({ kind: 33402, content: '', tags: [['d', 't1'], ['title', 'T1'], ['type', 'strength'],
      ['exercise', coord(33401, lib.pubkey, 'row'), '', '40', '12', '1']] });
    await c.publish(t1);
    const t2 = who.sign({ kind: 33402, content: '', tags: [['d', 't2'], ['title', 'T2'], ['type', 'strength'],
      ['exercise', coord(33401, lib.pubkey, 'row'), '', '40', '12', '1']] });
    await c.publish(t2);
    await listener.next((f) => f[0] === 'EVENT' && (f[2] as { id: string }).id === t2.id, 5000, from);
    await new Promise((r) => setTimeout(r, 100));
    const ids = listener.frames.slice(from).filter((f) => f[0] === 'EVENT').map((f) => (f[2] as { id: string }).id);
    const row = (await c.req('row', { kinds: [33401], authors: [lib.pubkey], '#d': ['row'] }))[0]!;
    expect(ids).toEqual([t1.id, row.id, t2.id]);
    listener.close();
  });

  it('answers HTTP bundle errors with 400 and 404', async () => {
    expect(await bundle(compat, 'a=33402:nothex:x')).toMatchObject({ status: 400, body: { error: expect.stringMatching(/"a" must be/) } });
    expect(await bundle(compat, 'id=123')).toMatchObject({ status: 400, body: { error: expect.stringMatching(/"id" must be/) } });
    expect((await bundle(compat, '')).status).toBe(400);
    expect((await bundle(compat, `id=${'0'.repeat(64)}`)).status).toBe(404);
    expect((await bundle(compat, `a=${encodeURIComponent(coord(33402, author.pubkey, 'unknown'))}`)).status).toBe(404);
  });
});

describe('#exercise and #template filters', () => {
  it('find the templates that use an exercise and the records that followed a template, on REQ and COUNT', async () => {
    const squat = coord(33401, lib.pubkey, 'barbell-back-squat');
    const templates = await c.req('uses', { kinds: [33402], '#exercise': [squat] });
    expect(templates.map((e) => e.tags.find((t) => t[0] === 'd')![1])).toEqual(['squat-push-pull-1753560000']);
    const tmpl = coord(33402, user.pubkey, 'squat-push-pull-1753560000');
    const records = await c.req('followed', { kinds: [1301], '#template': [tmpl] });
    expect(records).toHaveLength(2);
    c.send(['COUNT', 'n', { kinds: [1301], '#template': [tmpl] }]);
    expect((await c.next((f) => f[0] === 'COUNT' && f[1] === 'n'))[2]).toEqual({ count: 2 });
  });

  it('serve the app\'s #title search; answer other multi-letter tags from the filter\'s other conditions, and refuse them alone', async () => {
    const title = 'Squat + Push/Pull';
    const tagged = (events: { id: string; tags: string[][] }[], name: string, value: string) =>
      events.filter((e) => e.tags.some((t) => t[0] === name && t[1] === value)).map((e) => e.id).sort();
    const all = await c.req('all', { kinds: [33402, 1301] });
    const found = await c.req('title', { '#title': [title] });
    expect(found.map((e) => e.id).sort()).toEqual(tagged(all, 'title', title));
    expect(found.map((e) => e.kind).sort()).toEqual([1301, 1301, 33402]);
    // `client` is not indexed: the kinds select the candidates, each is checked for the tag.
    const records = all.filter((e) => e.kind === 1301);
    expect(tagged(records, 'client', 'POWR').length).toBeGreaterThan(0);
    expect(await c.count('clients', { kinds: [1301], '#client': ['POWR'] })).toBe(tagged(records, 'client', 'POWR').length);
    const template = coord(33402, user.pubkey, 'squat-push-pull-1753560000');
    const followed = await c.req('both', { '#client': ['POWR'], '#template': [template] });
    const expected = tagged(records, 'client', 'POWR').filter((id) => tagged(records, 'template', template).includes(id));
    expect(expected.length).toBeGreaterThan(0);
    expect(followed.map((e) => e.id).sort()).toEqual(expected);
    const refusal = 'unsupported: #client is not indexed on this relay; add ids, authors or kinds to the filter '
      + '(indexed tags: single letters, #exercise, #template, #title, #description)';
    expect(await c.refused('alone', { '#client': ['POWR'] })).toBe(refusal);
    await expect(c.count('alone-count', { '#client': ['POWR'], since: 1 })).rejects.toThrow(refusal);
  });

  it('NIP-11 advertises the extensions', async () => {
    const info = await (await fetch(compat.httpUrl, { headers: { Accept: 'application/nostr+json' } })).json();
    expect(info.powr).toMatchObject({ bundle_endpoint: '/api/bundle', filter_extensions: expect.arrayContaining(['resolve', '#exercise', '#template']) });
  });
});

describe('processed tables', () => {
  it('a rebuild from the raw events equals what incremental processing produced', async () => {
    const copy = tempDb();
    const live = new BetterSqlite3(compat.db, { readonly: true });
    await live.backup(copy);
    live.close();
    const db = new BetterSqlite3(copy);
    const rows = (t: string) => db.prepare(`SELECT COUNT(*) FROM ${t}`).pluck().get() as number;
    expect(rows('templates')).toBeGreaterThan(3);
    expect(rows('missing_dependencies')).toBeGreaterThan(2);
    expect(rows('record_sets')).toBeGreaterThan(10);
    expect(rows('event_flags')).toBeGreaterThan(5);
    const store = await openStorage(copy);
    expect((await store.check()).differing).toEqual([]);
    // The check is real: a processed row the raw events do not explain is found.
    db.prepare(`UPDATE record_sets SET reps = coalesce(reps, 0) + 1
      WHERE (record_seq, position) = (SELECT record_seq, position FROM record_sets LIMIT 1)`).run();
    expect((await store.check()).differing).toEqual(['record_sets']);
    await store.close();
    db.close();
  });

  it('a number too large for a double is NULL when ingested and when rebuilt', async () => {
    const huge = '9'.repeat(400);
    const template = lib.sign({ kind: 33402, content: '', tags: [['d', 'huge-rounds'], ['title', 'Huge'], ['type', 'amrap'], ['rounds', huge],
      ['exercise', coord(33401, lib.pubkey, 'not-stored-huge'), '', huge, '5', '', 'normal', '1']] });
    const record = user.sign({ kind: 1301, content: '', tags: [['d', 'huge-record'], ['title', 'Huge'], ['type', 'strength'], ['completed', 'true'],
      ['exercise', coord(33401, lib.pubkey, 'not-stored-huge'), '', huge, '5', '8', 'normal', '1']] });
    const run = user.sign({ kind: 1301, content: '', tags: [['exercise', 'running'], ['distance', huge, 'km'], ['duration', huge],
      ['weight_set', huge, huge, 'lbs'], ['calories', huge]] });
    for (const e of [template, record, run]) expect(await c.publish(e)).toEqual([true, '']);
    expect(flagsOf(compat, template.id)).toContain('bad_number');
    const copy = tempDb();
    const live = new BetterSqlite3(compat.db, { readonly: true });
    await live.backup(copy);
    live.close();
    const store = await openStorage(copy);
    expect((await store.check()).differing).toEqual([]);
    const db = new BetterSqlite3(copy);
    const seq = (id: string) => db.prepare('SELECT seq FROM nostr_events WHERE id = ?').pluck().get(Buffer.from(id, 'hex'));
    expect(db.prepare('SELECT rounds FROM templates WHERE event_seq = ?').pluck().get(seq(template.id))).toBeNull();
    // The check tells Inf from NULL (JSON writes both as null).
    db.prepare('UPDATE templates SET rounds = 9e999 WHERE event_seq = ?').run(seq(template.id));
    expect((await store.check()).differing).toEqual(['templates']);
    db.prepare('UPDATE templates SET rounds = NULL WHERE event_seq = ?').run(seq(template.id));
    await store.close();
    expect(db.prepare('SELECT weight, weight_kg FROM record_sets WHERE record_seq = ?').get(seq(record.id))).toEqual({ weight: null, weight_kg: null });
    expect(db.prepare('SELECT distance, distance_m, duration_s, pace_s_per_km, calories FROM activity_records WHERE event_seq = ?').get(seq(run.id)))
      .toEqual({ distance: null, distance_m: null, duration_s: null, pace_s_per_km: null, calories: null });
    expect(db.prepare('SELECT COUNT(*) FROM activity_sets WHERE record_seq = ?').pluck().get(seq(run.id))).toBe(0);
    db.close();
  });
});
