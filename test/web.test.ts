import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { nip19 } from 'nostr-tools';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KG_PER_LB } from '../src/powr/units.js';
import { RawClient, signer, type Signer } from './helpers/client.js';
import { startRelay, type RunningRelay } from './helpers/relay.js';

/** Debian's Chromium, installed by scripts/install-chromium.sh (run by pretest and .ci/run). */
const CHROMIUM = process.env.POWR_TEST_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts');
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
/** The phone is checked in dark mode, so both colour schemes meet the contrast rules. */
const VIEWPORTS = [{ width: 1280, height: 900, colorScheme: 'light' }, { width: 390, height: 844, colorScheme: 'dark' }] as const;

const lib = signer();
const user = signer();
const lifter = signer();
const IMAGE = `data:image/svg+xml,${encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" width="320" height="180"><rect width="320" height="180" fill="#cfe0ff"/><circle cx="160" cy="90" r="50" fill="#0a58e0"/></svg>')}`;

const exercise = (who: Signer, d: string, title: string, equipment: string, tags: string[][], difficulty = 'beginner', units = 'kg') => who.sign({
  kind: 33401, content: `How to do a ${title.toLowerCase()}.\n\nKeep your back straight.`,
  tags: [['d', d], ['title', title], ['format', 'weight', 'reps', 'rpe', 'set_type'], ['format_units', units, 'count', '0-10', 'enum'],
    ['equipment', equipment], ['difficulty', difficulty], ...tags],
});
const squat = exercise(lib, 'back-squat', 'Barbell Back Squat', 'barbell', [['t', 'legs'], ['imeta', `url ${IMAGE}`, 'm image/svg+xml', 'alt Bottom of a back squat']], 'intermediate');
const goblet = exercise(lib, 'goblet', 'Goblet Squat', 'kettlebell', [['t', 'legs']]);
const bench = exercise(lib, 'bench', 'Bench Press', 'barbell', [['t', 'chest']], 'beginner', 'lbs');
const pushUpAuthors = [lib, user, lifter, signer()];
const pushUps = pushUpAuthors.map((who) => exercise(who, 'push-up', 'Push-up', 'bodyweight', [['t', 'chest']]));
const ref = (d: string, who = lib) => `33401:${who.pubkey}:${d}`;
const legDay = lib.sign({ kind: 33402, content: 'Squat heavy, then light.', tags: [['d', 'leg-day'], ['title', 'Leg Day'], ['type', 'strength'],
  ['rest_between_sets', '120'],
  ...[1, 2, 3].map((n) => ['exercise', ref('back-squat'), '', '100', '5', '8', 'normal', String(n)]),
  ['exercise', ref('goblet'), '', '24', '10', '', 'normal', '1'], ['exercise', ref('lunge'), '', '0', '12', '', 'normal', '1']] });
const superset = lib.sign({ kind: 33402, content: '', tags: [['d', 'push-legs'], ['title', 'Push and Legs Superset'], ['type', 'superset'],
  ['rounds', '2'], ['rest_between_rounds', '90'],
  ...[1, 2].flatMap((n) => [['exercise', ref('bench'), '', '95', '8', '', 'normal', String(n)], ['exercise', ref('goblet'), '', '24', '12', '', 'normal', String(n)]])] });
const record = user.sign({ kind: 1301, content: 'Felt strong', tags: [['d', 'w1'], ['title', 'Monday legs'], ['type', 'strength'],
  ['start', '1753600200'], ['end', '1753603700'], ['completed', 'true'], ['template', `33402:${lib.pubkey}:leg-day`, ''],
  ['exercise', ref('back-squat'), '', '100', '5', '8', 'normal', '1']] });

/** Ten weeks of a lifter: squats every Monday and Thursday, 2.5 kg more each time; bench (in lb) on Thursdays. */
const MONDAY = Date.UTC(2026, 0, 5) / 1000;
const sessions = Array.from({ length: 20 }, (_, i) => {
  const start = MONDAY + Math.floor(i / 2) * 7 * 86_400 + (i % 2) * 3 * 86_400 + 18 * 3600;
  const weight = 80 + 2.5 * i;
  const sets = [['exercise', ref('back-squat'), '', '40', '5', '', 'warmup', '1'],
    ...[2, 3, 4].map((n) => ['exercise', ref('back-squat'), '', String(weight), '5', '8', 'normal', String(n)])];
  if (i % 2 === 1) sets.push(...[1, 2, 3].map((n) => ['exercise', ref('bench'), '', '135', '5', '7', 'normal', String(n)]));
  const event = lifter.sign({ kind: 1301, content: '', tags: [['d', `s${i}`], ['title', `Session ${i + 1}`], ['type', 'strength'],
    ['start', String(start)], ['end', String(start + 3600)], ['completed', 'true'], ['template', `33402:${lib.pubkey}:leg-day`, ''], ...sets] });
  return { event, start, weight, day: new Date(start * 1000).toISOString().slice(0, 10) };
});
const sessionVolume = (i: number) => 40 * 5 + 3 * 5 * sessions[i]!.weight + (i % 2 === 1 ? 3 * 5 * 135 * KG_PER_LB : 0);
/**
 * A runner, after the lifter's ten weeks: five weekly runs from RUNSTR (one published in miles) and a
 * ride from Amethyst (no title, no client), so the catalogue's recent workouts show both people.
 */
const runner = signer();
const METRES_PER_MILE = 1609.344;
const RUNS_FROM = MONDAY + 10 * 7 * 86_400 + 2 * 86_400 + 7 * 3600;
const clockTag = (s: number) => [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60].map((n) => String(n).padStart(2, '0')).join(':');
const runnerActivity = (d: string, verb: string, start: number, seconds: number, distance: string, unit: string, content = '') => runner.sign({
  kind: 1301, created_at: start + seconds, content, tags: [['d', d], ['title', `${verb[0]!.toUpperCase()}${verb.slice(1)} Workout`], ['exercise', verb],
    ['duration', clockTag(seconds)], ['source', 'gps'], ['client', 'RUNSTR', '1.4.9'], ['t', 'Running'], ['distance', distance, unit],
    ['workout_start_time', String(start)]],
});
const runs = [['5.00', 'km', 5000, 1695], ['5.50', 'km', 5500, 1830], ['6.00', 'km', 6000, 1980], ['5.00', 'mi', 5 * METRES_PER_MILE, 2700],
  ['10.00', 'km', 10_000, 3300]].map(([distance, unit, metres, seconds], i) => {
  const start = RUNS_FROM + i * 7 * 86_400;
  const event = runnerActivity(`run-${i}`, 'running', start, seconds as number, distance as string, unit as string, i === 0 ? 'Morning 5K - felt great!' : '');
  return { event, metres: metres as number, seconds: seconds as number, day: new Date(start * 1000).toISOString().slice(0, 10) };
});
const RIDE_AT = RUNS_FROM + 3 * 86_400;
const ride = runner.sign({ kind: 1301, created_at: RIDE_AT + 3600, content: 'Gravel loop', tags: [['d', 'c0ffee00-1111-4222-8333-444455556666'],
  ['exercise', 'cycling'], ['t', 'cycling'], ['duration', '01:00:00'], ['distance', '30', 'km'], ['workout_start_time', String(RIDE_AT)]] });
const round2 = (v: number) => Math.round(v * 100) / 100;

const profiles = [
  lib.sign({ kind: 0, content: JSON.stringify({ name: 'powr-library', display_name: 'POWR Library' }) }),
  lifter.sign({ kind: 0, content: JSON.stringify({ name: 'alex', display_name: 'Alex Lifter', about: 'Squats on Mondays.' }) }),
  runner.sign({ kind: 0, content: JSON.stringify({ name: 'riley', display_name: 'Riley Runner' }) }),
];

const npub = (pubkey: string) => nip19.npubEncode(pubkey);
const naddr = (kind: number, who: Signer, d: string) => nip19.naddrEncode({ kind, pubkey: who.pubkey, identifier: d });

/** One URL per page type, as the links from `/` lead to them. */
const pageTypes = () => ({
  library: '/',
  templates: '/templates',
  exercise: `/exercises/${naddr(33401, lib, 'back-squat')}`,
  template: `/templates/${naddr(33402, lib, 'leg-day')}`,
  superset: `/templates/${naddr(33402, lib, 'push-legs')}`,
  record: `/records/${nip19.neventEncode({ id: sessions[19]!.event.id, author: lifter.pubkey, kind: 1301 })}`,
  profile: `/profiles/${npub(lifter.pubkey)}`,
  runner: `/profiles/${npub(runner.pubkey)}`,
  activity: `/records/${nip19.neventEncode({ id: runs[3]!.event.id, author: runner.pubkey, kind: 1301 })}`,
});

async function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run scripts/install-chromium.sh (npm test runs it first)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

async function publishAll(url: string, events: { id: string }[]): Promise<void> {
  const c = await RawClient.connect(url);
  for (const e of events) expect(await c.publish(e), JSON.stringify(e)).toEqual([true, '']);
  c.close();
}

const ALL_EVENTS = [squat, goblet, bench, ...pushUps, legDay, superset, record, ...sessions.map((s) => s.event), ...runs.map((r) => r.event), ride,
  ...profiles];

describe('web catalogue in headless Chromium', () => {
  let relay: RunningRelay;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    relay = await startRelay();
    await publishAll(relay.url, ALL_EVENTS);
    browser = await launch();
    page = await browser.newPage();
    mkdirSync(ARTIFACTS, { recursive: true });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await relay?.stop();
  });

  it('shows the relay, live numbers and a library of linked cards with authors', async () => {
    const res = await page.goto(relay.httpUrl);
    expect(res?.status()).toBe(200);
    expect(await page.title()).toBe('Exercise library · powr-relay');
    expect(await page.locator('html').getAttribute('lang')).toBe('en');
    expect(await page.locator('[data-stat="exercises"]').textContent()).toBe('7');
    expect(await page.locator('[data-stat="templates"]').textContent()).toBe('2');
    expect(await page.locator('#exercises > li').count()).toBe(7);
    // Four push-ups by four people are told apart by their authors.
    const pushUpCards = page.locator('#exercises > li', { hasText: 'Push-up' });
    expect(await pushUpCards.count()).toBe(4);
    const bylines = await pushUpCards.locator('.byline a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    expect(new Set(bylines).size).toBe(4);
    expect(await page.locator('#exercises > li', { hasText: 'Barbell Back Squat' }).locator('.byline').textContent()).toContain('POWR Library');
    expect(await page.locator('#exercises img.thumb').count()).toBe(1);
  });

  it('searches and filters by equipment, muscle group and difficulty, through labelled controls', async () => {
    await page.goto(relay.httpUrl);
    await page.getByLabel('Search').fill('squat');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForURL(/q=squat/);
    expect((await page.locator('#exercises h3').allTextContents()).sort()).toEqual(['Barbell Back Squat', 'Goblet Squat']);
    await page.getByLabel('Equipment').selectOption('kettlebell');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForURL(/equipment=kettlebell/);
    expect(await page.locator('#exercises h3').allTextContents()).toEqual(['Goblet Squat']);
    await page.goto(`${relay.httpUrl}/?difficulty=intermediate`);
    expect(await page.locator('#exercises h3').allTextContents()).toEqual(['Barbell Back Squat']);
  });

  it('browses templates by words, type and difficulty', async () => {
    await page.goto(`${relay.httpUrl}/templates`);
    expect((await page.locator('#templates h3').allTextContents()).sort()).toEqual(['Leg Day', 'Push and Legs Superset']);
    await page.getByLabel('Type').selectOption('strength');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForURL(/type=strength/);
    expect(await page.locator('#templates h3').allTextContents()).toEqual(['Leg Day']);
    await page.goto(`${relay.httpUrl}/templates?q=superset`);
    expect(await page.locator('#templates h3').allTextContents()).toEqual(['Push and Legs Superset']);
  });

  it('an exercise page: title, instructions, image, equipment, difficulty, muscles, author, templates using it', async () => {
    await page.goto(relay.httpUrl + pageTypes().exercise);
    expect(await page.locator('h1').textContent()).toBe('Barbell Back Squat');
    const main = (await page.locator('main').textContent())!;
    for (const text of ['Keep your back straight.', 'barbell', 'intermediate', 'legs', 'POWR Library']) expect(main).toContain(text);
    expect(await page.getByRole('img', { name: 'Bottom of a back squat' }).count()).toBe(1);
    expect(await page.locator('#used-by a').allTextContents()).toEqual(['Leg Day']);
    expect(main).not.toContain('Session'); // nothing from anyone's records
  });

  it('a template page: sets as lifters write them, units, rests, the missing exercise marked', async () => {
    await page.goto(relay.httpUrl + pageTypes().template);
    expect(await page.locator('h1').textContent()).toBe('Leg Day');
    const groups = page.locator('#sets > li');
    expect(await groups.count()).toBe(3);
    expect(await groups.nth(0).locator('h3 a').textContent()).toBe('Barbell Back Squat');
    expect(await groups.nth(0).locator('.prescription').allTextContents()).toEqual(['3 × 5 @ 100 kg, RPE 8']);
    expect(await groups.nth(1).locator('.prescription').allTextContents()).toEqual(['10 @ 24 kg']);
    expect(await groups.nth(2).textContent()).toContain('Missing exercise');
    expect(await page.locator('#missing').textContent()).toContain('1 referenced exercise is not on this relay');
    expect(await page.locator('main').textContent()).toContain('2 min');
  });

  it('a superset template is shown by round, in the exercise\'s own units', async () => {
    await page.goto(relay.httpUrl + pageTypes().superset);
    const rounds = page.locator('#sets > li');
    expect(await rounds.locator('h3').allTextContents()).toEqual(['Round 1', 'Round 2']);
    expect(await rounds.nth(0).locator('li').allTextContents()).toEqual(['Bench Press: 8 @ 95 lb', 'Goblet Squat: 12 @ 24 kg']);
    expect(await page.locator('main').textContent()).toContain('90 s');
  });

  it('a record page: date, duration, template link, sets with units, total volume and PRs', async () => {
    const last = sessions[19]!;
    await page.goto(relay.httpUrl + pageTypes().record);
    expect(await page.locator('h1').textContent()).toBe('Session 20');
    const main = (await page.locator('main').textContent())!;
    expect(main).toContain(`${last.day} 18:00 UTC`);
    expect(main).toContain('60 min');
    expect(await page.getByRole('link', { name: 'Leg Day' }).getAttribute('href')).toBe(pageTypes().template);
    const squatGroup = page.locator('#sets > li', { hasText: 'Barbell Back Squat' });
    expect(await squatGroup.locator('.prescription').allTextContents()).toEqual(['5 @ 40 kg (warm-up)', `3 × 5 @ ${last.weight} kg, RPE 8`]);
    expect(await squatGroup.locator('.pr').count()).toBe(1);
    expect(await page.locator('#sets > li', { hasText: 'Bench Press' }).locator('.pr').count()).toBe(0);
    expect(main).toContain(`${Math.round(sessionVolume(19)).toLocaleString('en')} kg`);
    // The old way in: a hex id still opens it, and 404s for what is not there.
    expect((await page.goto(`${relay.httpUrl}/records/${last.event.id}`))?.status()).toBe(200);
    expect((await page.goto(`${relay.httpUrl}/records/${'0'.repeat(64)}`))?.status()).toBe(404);
    expect(await page.locator('#why').textContent()).toBe('This relay has no public workout record with that identifier.');
    expect((await page.goto(`${relay.httpUrl}/templates/nonsense`))?.status()).toBe(404);
    expect(await page.locator('#why').textContent()).toBe('“nonsense” is not a template address (naddr or 33402:<pubkey>:<d>).');
    expect((await page.goto(`${relay.httpUrl}/profiles/%E0%A4%A`))?.status()).toBe(404);
    expect((await page.goto(`${relay.httpUrl}/profiles/${npub(signer().pubkey)}`))?.status()).toBe(404);
  });

  it('a profile: name, ten weeks on the calendar, weekly volume and the progress chart with one point per session', async () => {
    await page.goto(relay.httpUrl + pageTypes().profile + `?exercise=${naddr(33401, lib, 'back-squat')}`);
    expect(await page.locator('h1').textContent()).toBe('Alex Lifter');
    const trained = await page.locator('#calendar rect.trained').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-date')));
    expect(trained.sort()).toEqual(sessions.map((s) => s.day).sort());
    const heaviest = await page.locator('#progress circle[data-series="heaviest"]').evaluateAll((cs) =>
      cs.map((c) => [c.getAttribute('data-date'), Number(c.getAttribute('data-value'))]));
    expect(heaviest).toEqual(sessions.map((s) => [s.day, s.weight]));
    const e1rm = await page.locator('#progress circle[data-series="e1rm"]').evaluateAll((cs) => cs.map((c) => Number(c.getAttribute('data-value'))));
    expect(e1rm).toEqual(sessions.map((s) => Math.round(s.weight * (1 + 5 / 30) * 10) / 10));
    const weeks = await page.locator('#weekly-volume rect[data-week]').evaluateAll((rs) => rs.map((r) => [r.getAttribute('data-week'), Number(r.getAttribute('data-value'))]));
    expect(weeks).toEqual(Array.from({ length: 10 }, (_, w) => [
      new Date((MONDAY + w * 7 * 86_400) * 1000).toISOString().slice(0, 10), Math.round(sessionVolume(2 * w) + sessionVolume(2 * w + 1))]));
    expect(await page.locator('#progress-title').textContent()).toBe('Progress in Barbell Back Squat');
    expect(await page.locator('#pr-table tbody tr', { hasText: 'Barbell Back Squat' }).textContent()).toContain(`${sessions[19]!.weight} kg`);
    // Bench is logged in lb: charted in kg.
    await page.getByRole('link', { name: 'Bench Press' }).first().click();
    await page.waitForURL(/exercise=/);
    const benchPoints = await page.locator('#progress circle[data-series="heaviest"]').evaluateAll((cs) => cs.map((c) => Number(c.getAttribute('data-value'))));
    expect(benchPoints).toEqual(Array(10).fill(Math.round(135 * KG_PER_LB * 10) / 10));
  });

  it('a runner\'s profile: runs on the calendar, distance and pace with one point per run, totals, and a run\'s own page', async () => {
    await page.goto(relay.httpUrl + pageTypes().runner);
    expect(await page.locator('h1').textContent()).toBe('Riley Runner');
    const trained = await page.locator('#calendar rect.trained').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-date')));
    const rideDay = new Date(RIDE_AT * 1000).toISOString().slice(0, 10);
    expect(trained.sort()).toEqual([...runs.map((r) => r.day), rideDay].sort());
    const series = (chart: string) => page.locator(`#${chart} circle`).evaluateAll((cs) => cs.map((c) => [c.getAttribute('data-date'), Number(c.getAttribute('data-value'))]));
    expect(await series('activity-distance')).toEqual(runs.map((r) => [r.day, round2(r.metres / 1000)]));
    expect(await series('activity-pace')).toEqual(runs.map((r) => [r.day, round2(r.seconds / (r.metres / 1000) / 60)]));
    expect(await page.locator('#activity-distance-title').textContent()).toBe('Running: distance per session');
    expect(await page.locator('#activity-table tbody tr').count()).toBe(runs.length);
    const totals = await page.locator('#totals [data-total]').evaluateAll((ts) => ts.map((t) => [t.getAttribute('data-total'), Number(t.getAttribute('data-value'))]));
    expect(totals).toEqual([['activities', 6],
      ['distance', Math.round((runs.reduce((sum, r) => sum + r.metres, 0) + 30_000) * 10) / 10], ['time', runs.reduce((sum, r) => sum + r.seconds, 3600)]]);
    expect(await page.locator('#history li').count()).toBe(6);
    expect(await page.locator('#history li', { hasText: rideDay }).textContent()).toContain('Cycling');
    expect(await page.locator('#progress, #weekly-volume, #pr-table').count()).toBe(0);
    await page.locator('.choices').getByRole('link', { name: 'Cycling' }).click();
    await page.waitForURL(/activity=cycling/);
    expect(await series('activity-distance')).toEqual([[rideDay, 30]]);

    await page.goto(relay.httpUrl + pageTypes().activity);
    expect(await page.locator('h1').textContent()).toBe('Running Workout');
    const facts = Object.fromEntries(await page.locator('.facts div').evaluateAll((ds) => ds.map((d) => [d.querySelector('dt')!.textContent, d.querySelector('dd')!.textContent])));
    expect(facts).toMatchObject({ Activity: 'Running', Distance: '5 mi (8.05 km)', Duration: '45:00', Pace: '5:36 /km', 'Logged with': 'RUNSTR' });
    expect(await page.getByRole('link', { name: 'Riley Runner\'s training' }).getAttribute('href')).toBe(`${pageTypes().runner}#training`);
  });

  it('identifiers as NIP-19 codes, shortened, with a copy control and a nostr: link', async () => {
    await page.goto(relay.httpUrl + pageTypes().exercise);
    const code = naddr(33401, lib, 'back-squat');
    const ident = page.locator('.ident', { hasText: 'Exercise' });
    expect(await ident.locator('code').getAttribute('title')).toBe(code);
    expect((await ident.locator('code').textContent())!.length).toBeLessThan(20);
    expect(await ident.locator('button').getAttribute('data-copy')).toBe(code);
    expect(await ident.locator('a').getAttribute('href')).toBe(`nostr:${code}`);
    expect(await page.locator('main').textContent()).not.toMatch(/[0-9a-f]{64}/);
    // The copy button (shown only where the clipboard works) copies the whole code.
    const context = await browser.newContext({ permissions: ['clipboard-read', 'clipboard-write'] });
    const tab = await context.newPage();
    await tab.goto(relay.httpUrl + pageTypes().exercise);
    const button = tab.locator('.ident', { hasText: 'Exercise' }).getByRole('button', { name: 'Copy Exercise code' });
    await button.click();
    await tab.waitForFunction(() => document.querySelector('button.copy')?.textContent === 'Copied');
    expect(await tab.evaluate(() => navigator.clipboard.readText())).toBe(code);
    await context.close();
  });

  it('every page type is reachable by links from /, and every link on them leads to a page', async () => {
    const seen = new Map<string, number>();
    const queue = ['/'];
    while (queue.length > 0 && seen.size < 120) {
      const path = queue.shift()!;
      if (seen.has(path)) continue;
      const res = await page.goto(relay.httpUrl + path);
      seen.set(path, res?.status() ?? 0);
      const hrefs = await page.locator('a[href^="/"]').evaluateAll((as) => as.map((a) => a.getAttribute('href')!));
      for (const href of hrefs) {
        const clean = href.split('#')[0]!;
        if (clean && !seen.has(clean) && !clean.startsWith('/api/')) queue.push(clean);
      }
    }
    expect([...seen].filter(([, status]) => status !== 200)).toEqual([]);
    const paths = [...seen.keys()];
    for (const prefix of ['/exercises/', '/templates/', '/records/', '/profiles/']) expect(paths.some((p) => p.startsWith(prefix)), prefix).toBe(true);
    expect(paths).toContain('/templates');
    for (const url of Object.values(pageTypes())) expect(paths.map((p) => p.split('?')[0]), url).toContain(url);
    // Every exercise, template, record and author shown links to its page (a missing exercise is marked instead).
    for (const path of Object.values(pageTypes())) {
      await page.goto(relay.httpUrl + path);
      for (const card of await page.locator('#exercises > li, #templates > li, #recent-records > li, main .cards > li').all()) {
        expect(await card.locator('h3 a').getAttribute('href'), path).toMatch(/^\/(exercises|templates|records)\/n(addr|event)1/);
      }
      for (const by of await page.locator('.byline').all()) expect(await by.locator('a').getAttribute('href'), path).toMatch(/^\/profiles\/npub1/);
      for (const group of await page.locator('#sets > li:not(:has(.missing)) > h3:not(.round), #sets li.member:not(:has(.missing))').all()) {
        expect(await group.locator('a[href^="/exercises/naddr1"]').count(), path).toBe(1);
      }
      for (const item of await page.locator('#history li, #pr-table tbody tr, #used-by li').all()) {
        expect(await item.locator('a').count(), path).toBeGreaterThan(0);
      }
    }
  }, 120_000);

  for (const viewport of VIEWPORTS) {
    it(`no page is wider than a ${viewport.width} px screen, and none has serious accessibility problems in ${viewport.colorScheme} mode (screenshots)`, async () => {
      const { colorScheme, ...size } = viewport;
      const view = await browser.newPage({ viewport: size, colorScheme });
      for (const [name, path] of Object.entries(pageTypes())) {
        await view.goto(relay.httpUrl + path);
        const { scrollWidth, innerWidth } = await view.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
        expect(scrollWidth, `${name} at ${viewport.width} px`).toBeLessThanOrEqual(innerWidth);
        const shot = await view.screenshot({ fullPage: true, path: join(ARTIFACTS, `${name}-${viewport.width}-${colorScheme}.png`) });
        expect(shot.subarray(1, 4).toString()).toBe('PNG');
        await view.addScriptTag({ path: AXE });
        const violations = await view.evaluate(async () => {
          const result = await (window as unknown as { axe: { run: () => Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe.run();
          return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
        });
        expect(violations, `${name} at ${viewport.width} px`).toEqual([]);
      }
      await view.close();
    }, 120_000);
  }

  it('refreshes the live numbers without a reload', async () => {
    await page.goto(relay.httpUrl);
    const before = Number(await page.locator('[data-stat="connections"]').textContent());
    const c = await RawClient.connect(relay.url);
    await page.waitForFunction((n) => document.querySelector('[data-stat="connections"]')?.textContent === String(n), before + 1, { timeout: 8000 });
    c.close();
  });
});

describe('web catalogue in privacy mode', () => {
  let relay: RunningRelay;
  let browser: Browser;

  beforeAll(async () => {
    relay = await startRelay({ POWR_RELAY_PRIVATE_RECORDS: 'true' });
    await publishAll(relay.url, ALL_EVENTS);
    browser = await launch();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await relay?.stop();
  });

  it('shows no record, history, chart or PR, but still the library, templates and profiles', async () => {
    const page = await browser.newPage();
    const types = pageTypes();
    expect((await page.goto(relay.httpUrl + types.record))?.status()).toBe(404);
    expect((await page.goto(relay.httpUrl + types.profile))?.status()).toBe(200);
    expect(await page.locator('h1').textContent()).toBe('Alex Lifter');
    expect(await page.locator('#private').count()).toBe(1);
    expect(await page.locator('#calendar, #weekly-volume, #progress, #pr-table, #history, #totals, #activity-distance').count()).toBe(0);
    expect((await page.goto(relay.httpUrl + types.activity))?.status()).toBe(404);
    await page.goto(relay.httpUrl);
    expect(await page.locator('a[href^="/records/"]').count()).toBe(0);
    expect(await page.locator('main').textContent()).not.toContain('Session');
    expect((await page.goto(relay.httpUrl + types.template))?.status()).toBe(200);
    await page.close();
  });
});
