import type { Config } from '../config/settings.js';
import { viewersFor, type Viewers } from '../powr/privacy.js';
import { ftsMatch } from '../powr/search.js';
import { EXERCISE_KIND, LEGACY_RECORD_KIND, RECORD_KIND } from '../powr/types.js';
import { isHex64, parseAddress, type NostrEvent } from '../protocol/event.js';
import type { Database } from 'better-sqlite3';
import type { BundleCache } from '../store/bundle-cache.js';
import { esc, page } from './html.js';

export interface CatalogueDeps {
  config: Config;
  db: Database;
  bundles: BundleCache;
  connections(): number;
}

export interface Response {
  status: number;
  type: string;
  body: string;
}

interface ExerciseRow {
  title: string;
  equipment: string | null;
  difficulty: string | null;
  hashtags: string;
  address: string;
}

const STATS_TTL_MS = 5000;

/** Refreshes the numbers on the home page without a reload (the page works without it). */
const LIVE_STATS = `
const refresh = () => fetch('/api/stats').then((r) => r.json()).then((s) => {
  for (const [key, value] of Object.entries(s)) {
    const el = document.querySelector('[data-stat="' + key + '"]');
    if (el) el.textContent = Number(value).toLocaleString();
  }
}).catch(() => {});
setInterval(refresh, 5000);`;

const tag = (e: NostrEvent, name: string) => e.tags.find((t) => t[0] === name)?.[1];

/**
 * The web catalogue: what a browser sees at the relay's URL. Server-rendered HTML from the processed
 * tables and bundles, so it needs no build step and works without JavaScript; a small script only
 * refreshes the live numbers.
 */
export class Catalogue {
  private stats: { at: number; value: Record<string, number> } | undefined;
  private facets: { at: number; value: { equipment: string[]; difficulty: string[]; muscles: string[] } } | undefined;

  constructor(private readonly deps: CatalogueDeps) {}

  /** The response for a GET path, or undefined when the path is not the catalogue's. */
  async handle(url: URL): Promise<Response | undefined> {
    if (url.pathname === '/api/stats') return { status: 200, type: 'application/json', body: JSON.stringify(this.liveStats()) };
    if (url.pathname === '/') return this.home(url.searchParams);
    const template = /^\/templates\/(.+)$/.exec(url.pathname);
    if (template) return this.template(decodeURIComponent(template[1]!));
    const record = /^\/records\/([0-9a-f]{64})$/.exec(url.pathname);
    if (record) return this.record(record[1]!);
    return undefined;
  }

  private html(status: number, title: string, body: string, script = ''): Response {
    return { status, type: 'text/html; charset=utf-8', body: page(title, this.deps.config.name, body, script) };
  }

  private notFound(what: string): Response {
    return this.html(404, 'Not found', `<h1>Not found</h1><p>${esc(what)}</p><p><a href="/">Back to the library</a></p>`);
  }

  private liveStats(): Record<string, number> {
    const now = Date.now();
    if (!this.stats || now - this.stats.at > STATS_TTL_MS) {
      const count = (sql: string) => this.deps.db.prepare(sql).pluck().get() as number;
      this.stats = {
        at: now,
        value: {
          events: count('SELECT COUNT(*) FROM nostr_events'),
          exercises: count('SELECT COUNT(*) FROM exercises'),
          templates: count('SELECT COUNT(*) FROM templates'),
          records: count('SELECT COUNT(*) FROM workout_records'),
        },
      };
    }
    return { ...this.stats.value, connections: this.deps.connections() };
  }

  private facetValues() {
    const now = Date.now();
    if (!this.facets || now - this.facets.at > STATS_TTL_MS) {
      const db = this.deps.db;
      const list = (sql: string) => db.prepare(sql).pluck().all() as string[];
      this.facets = {
        at: now,
        value: {
          equipment: list('SELECT DISTINCT equipment FROM exercises WHERE equipment IS NOT NULL ORDER BY equipment'),
          difficulty: list('SELECT DISTINCT difficulty FROM exercises WHERE difficulty IS NOT NULL ORDER BY difficulty'),
          muscles: list(`SELECT h.value FROM exercises x, json_each(x.hashtags) h WHERE h.value <> 'fitness'
            GROUP BY h.value ORDER BY COUNT(*) DESC, h.value LIMIT 40`),
        },
      };
    }
    return this.facets.value;
  }

  /** The library: exercises matching the search and filters (best match first), and recent templates. */
  private exercises(q: string, equipment: string, muscle: string, difficulty: string): ExerciseRow[] {
    const match = ftsMatch(q);
    const where: string[] = [];
    const params: unknown[] = [];
    let from = 'exercises x';
    let order = 'x.title COLLATE NOCASE';
    if (match !== undefined) {
      from = 'powr_search s JOIN exercises x ON x.event_seq = s.rowid';
      where.push('powr_search MATCH ?');
      params.push(match);
      order = 's.rank';
    }
    const condition = (sql: string, value: string) => {
      if (!value) return;
      where.push(sql);
      params.push(value);
    };
    condition('x.equipment = ?', equipment);
    condition('x.difficulty = ?', difficulty);
    condition('EXISTS (SELECT 1 FROM json_each(x.hashtags) h WHERE h.value = ?)', muscle);
    const sql = `SELECT x.title, x.equipment, x.difficulty, x.hashtags, x.address FROM ${from}
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${order} LIMIT 100`;
    return this.deps.db.prepare(sql).all(...params) as ExerciseRow[];
  }

  private home(params: URLSearchParams): Response {
    const { config } = this.deps;
    const [q, equipment, muscle, difficulty] = ['q', 'equipment', 'muscle', 'difficulty'].map((k) => params.get(k)?.slice(0, 100) ?? '');
    const stats = this.liveStats();
    const facets = this.facetValues();
    const select = (name: string, label: string, values: string[], chosen: string) =>
      `<label>${label}<select name="${name}"><option value="">any</option>${values
        .map((v) => `<option${v === chosen ? ' selected' : ''}>${esc(v)}</option>`).join('')}</select></label>`;
    const found = this.exercises(q!, equipment!, muscle!, difficulty!);
    const cards = found.map((x) => `<li><h3>${esc(x.title)}</h3>
      <p class="muted">${esc(x.equipment ?? 'no equipment given')}${x.difficulty ? ` · ${esc(x.difficulty)}` : ''}</p>
      <p>${(JSON.parse(x.hashtags) as string[]).map((h) => `<span class="tag">${esc(h)}</span>`).join('')}</p></li>`).join('');
    const templates = this.deps.db.prepare(`SELECT t.title, t.address, t.type,
        (SELECT COUNT(*) FROM missing_dependencies m WHERE m.referrer_seq = t.event_seq) AS missing
      FROM templates t ORDER BY t.event_seq DESC LIMIT 20`).all() as { title: string; address: string; type: string; missing: number }[];
    const body = `
<h1>${esc(config.name)}</h1>
<p>${esc(config.description)}</p>
<h2 id="stats-heading">Right now</h2>
<ul class="stats" aria-labelledby="stats-heading" aria-live="polite">
${(['events', 'exercises', 'templates', 'records', 'connections'] as const)
    .map((k) => `<li><strong data-stat="${k}">${stats[k]!.toLocaleString('en')}</strong>${k}</li>`).join('\n')}
</ul>
<h2 id="library">Exercise library</h2>
<form class="filters" method="get" action="/#library" role="search">
  <label>Search<input type="search" name="q" value="${esc(q)}" placeholder="squat, kettlebell, legs…"></label>
  ${select('equipment', 'Equipment', facets.equipment, equipment!)}
  ${select('muscle', 'Muscle group', facets.muscles, muscle!)}
  ${select('difficulty', 'Difficulty', facets.difficulty, difficulty!)}
  <button type="submit">Show</button>
</form>
<p class="muted" id="result-count">${found.length === 100 ? 'The first 100' : found.length} exercise${found.length === 1 ? '' : 's'}</p>
<ul class="cards" id="exercises">${cards}</ul>
<h2>Recent workout templates</h2>
<ul id="templates">${templates.map((t) => `<li><a href="/templates/${encodeURIComponent(t.address)}">${esc(t.title || t.address)}</a>
  <span class="muted">${esc(t.type)}</span>${t.missing ? ` <span class="missing">${t.missing} exercise${t.missing === 1 ? '' : 's'} missing</span>` : ''}</li>`).join('')}</ul>`;
    return this.html(200, 'Exercise library', body, LIVE_STATS);
  }

  /** One template with its exercises resolved, set by set; exercises the relay lacks are marked. */
  private async template(address: string): Promise<Response> {
    if (!parseAddress(address)) return this.notFound(`${address} is not an address`);
    const bundle = await this.deps.bundles.get({ address }, Math.floor(Date.now() / 1000), this.viewers());
    if (!bundle) return this.notFound(`No template is stored at ${address}.`);
    const root = JSON.parse(bundle.root) as NostrEvent;
    return this.html(200, tag(root, 'title') ?? 'Template', `
<h1>${esc(tag(root, 'title') ?? '(untitled template)')}</h1>
<p class="muted">${esc(tag(root, 'type') ?? '')} template${root.content ? ` · ${esc(root.content)}` : ''}</p>
${this.setsTable(root, bundle.events, bundle.missing)}`);
  }

  private async record(id: string): Promise<Response> {
    if (!isHex64(id)) return this.notFound('not an event id');
    const bundle = await this.deps.bundles.get({ id }, Math.floor(Date.now() / 1000), this.viewers());
    const root = bundle && (JSON.parse(bundle.root) as NostrEvent);
    if (!bundle || !root || ![RECORD_KIND, LEGACY_RECORD_KIND].includes(root.kind)) return this.notFound(`No workout record with id ${id}.`);
    const start = Number(tag(root, 'start'));
    const when = Number.isFinite(start) && start > 0 ? new Date((start > 1e12 ? start : start * 1000)).toISOString().slice(0, 16).replace('T', ' ') : '';
    const template = tag(root, 'template');
    return this.html(200, tag(root, 'title') ?? 'Workout', `
<h1>${esc(tag(root, 'title') ?? '(untitled workout)')}</h1>
<p class="muted">${esc(tag(root, 'type') ?? '')} workout${when ? ` · ${esc(when)} UTC` : ''}${tag(root, 'completed') === 'true' ? ' · completed' : ''}</p>
${template && parseAddress(template) ? `<p>Template: <a href="/templates/${encodeURIComponent(template)}">${esc(template)}</a></p>` : ''}
${root.content ? `<p>${esc(root.content)}</p>` : ''}
${this.setsTable(root, bundle.events, bundle.missing)}`);
  }

  /** Restricted kinds stay private: the catalogue reads as an anonymous client. */
  private viewers(): Viewers | undefined {
    return viewersFor(this.deps.config);
  }

  private setsTable(root: NostrEvent, events: string[], missing: string[]): string {
    const exercises = new Map<string, NostrEvent>();
    for (const json of events) {
      const e = JSON.parse(json) as NostrEvent;
      if (e.kind === EXERCISE_KIND) exercises.set(`${EXERCISE_KIND}:${e.pubkey}:${tag(e, 'd') ?? ''}`, e);
    }
    const rows = root.tags.filter((t) => t[0] === 'exercise').map((t, i) => {
      const exercise = exercises.get(t[1] ?? '');
      const format = exercise?.tags.find((f) => f[0] === 'format')?.slice(1) ?? [];
      const values = t.slice(3);
      const name = exercise
        ? esc(tag(exercise, 'title') ?? t[1])
        : `<span class="missing" title="the relay does not have this exercise">missing: ${esc(t[1])}</span>`;
      const cells = format.length
        ? format.map((f, j) => `${esc(f)} ${esc(values[j] || '–')}`).join(', ')
        : esc(values.join(' '));
      return `<tr><td>${i + 1}</td><td>${name}</td><td>${cells}</td></tr>`;
    });
    const lacking = missing.length
      ? `<p class="missing" id="missing">${missing.length} referenced event${missing.length === 1 ? ' is' : 's are'} not on this relay: ${missing.map(esc).join(', ')}</p>`
      : '';
    return `<h2>Sets</h2>${lacking}<table><thead><tr><th scope="col">#</th><th scope="col">Exercise</th><th scope="col">Values</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table>`;
  }
}
