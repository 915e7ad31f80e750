import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, signer } from './helpers/client.js';
import { startRelay, type RunningRelay } from './helpers/relay.js';

/** Debian's Chromium, installed by scripts/install-chromium.sh (run by pretest and .ci/run). */
const CHROMIUM = process.env.POWR_TEST_CHROMIUM ?? '/usr/bin/chromium';

const lib = signer();
const user = signer();
const exercise = (d: string, title: string, equipment: string, tags: string[][], difficulty = 'beginner') => lib.sign({
  kind: 33401, content: `How to do a ${title.toLowerCase()}.`,
  tags: [['d', d], ['title', title], ['format', 'weight', 'reps', 'set_type'], ['format_units', 'kg', 'count', 'enum'],
    ['equipment', equipment], ['difficulty', difficulty], ...tags],
});
const squat = exercise('back-squat', 'Barbell Back Squat', 'barbell', [['t', 'legs']], 'intermediate');
const goblet = exercise('goblet', 'Goblet Squat', 'kettlebell', [['t', 'legs']]);
const press = exercise('bench', 'Bench Press', 'barbell', [['t', 'chest']]);
const ref = (d: string) => `33401:${lib.pubkey}:${d}`;
const legDay = lib.sign({ kind: 33402, content: 'Squat heavy, then light.', tags: [['d', 'leg-day'], ['title', 'Leg Day'], ['type', 'strength'],
  ['exercise', ref('back-squat'), '', '100', '5', 'normal'], ['exercise', ref('goblet'), '', '24', '10', 'normal'],
  ['exercise', ref('lunge'), '', '0', '12', 'normal']] });
const record = user.sign({ kind: 1301, content: 'Felt strong', tags: [['d', 'w1'], ['title', 'Monday legs'], ['type', 'strength'],
  ['start', '1753600200'], ['end', '1753603700'], ['completed', 'true'], ['template', `33402:${lib.pubkey}:leg-day`, ''],
  ['exercise', ref('back-squat'), '', '100', '5', 'normal']] });

describe('web catalogue in headless Chromium', () => {
  let relay: RunningRelay;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run scripts/install-chromium.sh (npm test runs it first)`);
    relay = await startRelay();
    const c = await RawClient.connect(relay.url);
    for (const e of [squat, goblet, press, legDay, record]) expect(await c.publish(e)).toEqual([true, '']);
    c.close();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await relay?.stop();
  });

  it('shows the relay, live numbers and a library that renders (screenshot)', async () => {
    const res = await page.goto(relay.httpUrl);
    expect(res?.status()).toBe(200);
    expect(await page.title()).toBe('Exercise library · powr-relay');
    expect(await page.locator('html').getAttribute('lang')).toBe('en');
    expect(await page.locator('[data-stat="exercises"]').textContent()).toBe('3');
    expect(await page.locator('[data-stat="templates"]').textContent()).toBe('1');
    expect(await page.locator('#exercises li').count()).toBe(3);
    const shot = await page.locator('#exercises').screenshot();
    writeFileSync(join(mkdtempSync(join(tmpdir(), 'powr-web-')), 'library.png'), shot);
    expect(shot.subarray(1, 4).toString()).toBe('PNG');
    const box = await page.locator('#exercises').boundingBox();
    expect(box!.height).toBeGreaterThan(80);
    expect(box!.width).toBeGreaterThan(300);
    // The cards have text, not blank boxes: the screenshot is far from a single colour.
    expect(shot.length).toBeGreaterThan(5000);
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
    await page.goto(`${relay.httpUrl}/?muscle=chest`);
    expect(await page.locator('#exercises h3').allTextContents()).toEqual(['Bench Press']);
    await page.goto(`${relay.httpUrl}/?difficulty=intermediate`);
    expect(await page.locator('#exercises h3').allTextContents()).toEqual(['Barbell Back Squat']);
  });

  it('opens a template with its exercises resolved and the missing one marked', async () => {
    await page.goto(relay.httpUrl);
    await page.getByRole('link', { name: 'Leg Day' }).click();
    await page.waitForURL(/\/templates\//);
    expect(await page.locator('h1').textContent()).toBe('Leg Day');
    const rows = await page.locator('tbody tr').allTextContents();
    expect(rows[0]).toContain('Barbell Back Squat');
    expect(rows[0]).toContain('weight 100');
    expect(rows[1]).toContain('Goblet Squat');
    expect(rows[2]).toContain(`missing: ${ref('lunge')}`);
    expect(await page.locator('#missing').textContent()).toContain('1 referenced event is not on this relay');
    expect(await page.locator('text=The first 100').count()).toBe(0);
  });

  it('shows a workout record, and 404s for what is not there', async () => {
    const res = await page.goto(`${relay.httpUrl}/records/${record.id}`);
    expect(res?.status()).toBe(200);
    expect(await page.locator('h1').textContent()).toBe('Monday legs');
    expect(await page.locator('main').textContent()).toContain('2025-07-27 07:10 UTC');
    expect(await page.locator('tbody tr').first().textContent()).toContain('Barbell Back Squat');
    expect((await page.goto(`${relay.httpUrl}/records/${'0'.repeat(64)}`))?.status()).toBe(404);
    expect((await page.goto(`${relay.httpUrl}/templates/nonsense`))?.status()).toBe(404);
  });

  it('refreshes the live numbers without a reload', async () => {
    await page.goto(relay.httpUrl);
    expect(await page.locator('[data-stat="connections"]').textContent()).toBe('0');
    const c = await RawClient.connect(relay.url);
    await page.waitForFunction(() => document.querySelector('[data-stat="connections"]')?.textContent === '1', undefined, { timeout: 8000 });
    c.close();
  });
});
