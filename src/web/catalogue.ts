import type { Config } from '../config/settings.js';
import { viewersFor } from '../powr/privacy.js';
import { RECORD_KIND } from '../powr/types.js';
import type { BlobPath } from '../store/bundle-cache.js';
import type { CatalogueReads, CatalogueStats } from '../store/catalogue.js';
import { activityName } from './activities.js';
import { recordsListed, type Page, type PageContext } from './context.js';
import { esc, page } from './html.js';
import { addressFrom, COPY_SCRIPT, eventIdFrom, pubkeyFrom } from './ids.js';
import { authorOf, byline, exerciseCards, plural, recordHref, select, templateCards } from './parts.js';
import { profilePage } from './profile-page.js';
import { day } from './training.js';
import { km } from './units.js';
import { exercisePage, recordPage, templatePage } from './workout-pages.js';

export interface CatalogueDeps {
  config: Config;
  reads: CatalogueReads;
  /** Where the relay's blob store serves a blob; undefined when media is off. */
  blobPath?: BlobPath;
  connections(): number;
}

export interface Response {
  status: number;
  type: string;
  body: string;
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

/**
 * A whole-table aggregate (counts, facets) kept for STATS_TTL_MS. Once stale it is still served while
 * one refresh runs behind it, so only the very first page waits for it: at 1M events a count takes
 * tens of milliseconds, and a request every five seconds would pay it.
 */
class Kept<T> {
  private value: T | undefined;
  private at = 0;
  private refreshing: Promise<T> | undefined;

  constructor(private readonly load: () => Promise<T>) {}

  get(): Promise<T> {
    if (this.value !== undefined && Date.now() - this.at <= STATS_TTL_MS) return Promise.resolve(this.value);
    this.refreshing ??= this.load().then(
      (value) => {
        this.value = value;
        this.at = Date.now();
        return value;
      },
    ).finally(() => (this.refreshing = undefined));
    if (this.value === undefined) return this.refreshing;
    // A failed refresh leaves the old value in place; the next request tries again.
    this.refreshing.catch(() => undefined);
    return Promise.resolve(this.value);
  }
}

interface Route {
  pattern: RegExp;
  /** What the identifier should be, and what the page shows, for the 404s. */
  expected: string;
  noun: string;
  parse: (value: string) => string | undefined;
  render: (ctx: PageContext, id: string, url: URL) => Promise<Page | undefined>;
}

/** The pages with an identifier in their path: NIP-19 codes, hex or coordinates. */
const ROUTES: Route[] = [
  { pattern: /^\/exercises\/([^/]+)$/, expected: 'an exercise address (naddr or 33401:<pubkey>:<d>)', noun: 'exercise',
    parse: addressFrom, render: exercisePage },
  { pattern: /^\/templates\/([^/]+)$/, expected: 'a template address (naddr or 33402:<pubkey>:<d>)', noun: 'workout template',
    parse: addressFrom, render: templatePage },
  { pattern: /^\/records\/([^/]+)$/, expected: 'an event id (nevent, note or hex)', noun: 'public workout record',
    parse: eventIdFrom, render: recordPage },
  { pattern: /^\/profiles\/([^/]+)$/, expected: 'a public key (npub, nprofile or hex)', noun: 'profile', parse: pubkeyFrom,
    render: (ctx, pubkey, url) => profilePage(ctx, pubkey, {
      exercise: addressFrom(url.searchParams.get('exercise') ?? ''), activity: url.searchParams.get('activity')?.slice(0, 100) || undefined }) },
];

/**
 * The web catalogue: what a browser sees at the relay's URL. Server-rendered HTML built only from
 * `CatalogueReads`, so it needs no build step and works without JavaScript; small scripts only
 * refresh the live numbers and copy identifiers.
 */
export class Catalogue {
  private readonly stats: Kept<CatalogueStats>;
  private readonly facets: Kept<Awaited<ReturnType<CatalogueReads['facets']>>>;

  constructor(private readonly deps: CatalogueDeps) {
    this.stats = new Kept(() => deps.reads.stats());
    this.facets = new Kept(() => deps.reads.facets());
  }

  /** The response for a GET path, or undefined when the path is not the catalogue's. */
  async handle(url: URL): Promise<Response | undefined> {
    if (url.pathname === '/api/stats') return { status: 200, type: 'application/json', body: JSON.stringify(await this.liveStats()) };
    const ctx: PageContext = { reads: this.deps.reads, now: Math.floor(Date.now() / 1000), viewers: viewersFor(this.deps.config),
      blobPath: this.deps.blobPath };
    if (url.pathname === '/') return this.html(await this.home(ctx, url.searchParams), LIVE_STATS);
    if (url.pathname === '/templates') return this.html(await this.templates(url.searchParams));
    for (const route of ROUTES) {
      const m = route.pattern.exec(url.pathname);
      if (!m) continue;
      let raw: string;
      try {
        raw = decodeURIComponent(m[1]!);
      } catch {
        raw = m[1]!;
      }
      const id = route.parse(raw);
      if (id === undefined) return this.notFound(`“${raw.slice(0, 120)}” is not ${route.expected}.`);
      const found = await route.render(ctx, id, url);
      return found ? this.html(found) : this.notFound(`This relay has no ${route.noun} with that identifier.`);
    }
    return undefined;
  }

  private html(p: Page, script = ''): Response {
    return { status: p.status ?? 200, type: 'text/html; charset=utf-8', body: page(p.title, this.deps.config.name, p.body, script + COPY_SCRIPT) };
  }

  private notFound(why: string): Response {
    return this.html({ status: 404, title: 'Not found', body: `<h1>Not found</h1><p id="why">${esc(why)}</p><p><a href="/">Back to the library</a></p>` });
  }

  private async liveStats(): Promise<CatalogueStats & { connections: number }> {
    return { ...(await this.stats.get()), connections: this.deps.connections() };
  }

  private facetValues() {
    return this.facets.get();
  }

  private async home(ctx: PageContext, params: URLSearchParams): Promise<Page> {
    const { config } = this.deps;
    const [q, equipment, muscle, difficulty] = ['q', 'equipment', 'muscle', 'difficulty'].map((k) => params.get(k)?.slice(0, 100) ?? '') as [string, string, string, string];
    const showRecords = recordsListed(ctx);
    const [stats, facets, found, templates, records, activities] = await Promise.all([
      this.liveStats(), this.facetValues(), ctx.reads.searchExercises({ q, equipment, muscle, difficulty }),
      ctx.reads.browseTemplates({ q: '', type: '', difficulty: '' }, 12), showRecords ? ctx.reads.recentRecords(10) : Promise.resolve([]),
      showRecords ? ctx.reads.recentActivities(10) : Promise.resolve([]),
    ]);
    const authors = [...found.map((x) => authorOf(x.address)), ...templates.map((t) => authorOf(t.address)), ...records.map((r) => r.pubkey),
      ...activities.map((a) => a.pubkey)];
    const profiles = await ctx.reads.profiles(authors);
    const cards = [
      ...records.map((r) => ({ start: r.start, pubkey: r.pubkey, href: recordHref(r.id, r.pubkey, r.kind), title: r.title || '(untitled workout)',
        detail: r.type ? ` · ${esc(r.type)}` : '' })),
      ...activities.map((a) => ({ start: a.start, pubkey: a.pubkey, href: recordHref(a.id, a.pubkey, RECORD_KIND), title: a.title || activityName(a.activity),
        detail: ` · ${esc(activityName(a.activity))}${a.distanceM ? ` · ${km(a.distanceM)}` : ''}` })),
    ].sort((a, b) => b.start - a.start).slice(0, 10);
    const workouts = showRecords
      ? `<ul id="recent-records" class="cards compact">${cards.map((c) => `<li class="card"><h3><a href="${c.href}">${esc(c.title)}</a></h3>
<p class="muted">${day(c.start)}${c.detail}</p>${byline(c.pubkey, profiles)}</li>`).join('\n')}</ul>`
      : '<p class="muted">Workout records on this relay are private: only their authors see them, in a Nostr client that signs in.</p>';
    return {
      title: 'Exercise library',
      body: `<h1>${esc(config.name)}</h1>
<p>${esc(config.description)}</p>
<h2 id="stats-heading">Right now</h2>
<ul class="stats" aria-labelledby="stats-heading" aria-live="polite">
${(['events', 'exercises', 'templates', 'records', 'connections'] as const)
    .map((k) => `<li><strong data-stat="${k}">${stats[k]!.toLocaleString('en')}</strong>${k}</li>`).join('\n')}
</ul>
<h2 id="library">Exercise library</h2>
<form class="filters" method="get" action="/#library" role="search">
  <label>Search<input type="search" name="q" value="${esc(q)}" placeholder="squat, kettlebell, legs…"></label>
  ${select('equipment', 'Equipment', facets.equipment, equipment)}
  ${select('muscle', 'Muscle group', facets.muscles, muscle)}
  ${select('difficulty', 'Difficulty', facets.difficulty, difficulty)}
  <button type="submit">Show</button>
</form>
<p class="muted" id="result-count">${found.length === 100 ? 'The first 100 exercises' : plural(found.length, 'exercise')}</p>
<ul class="cards" id="exercises">${exerciseCards(found, profiles)}</ul>
<h2 id="recent-templates">Recent workout templates</h2>
<ul class="cards" id="templates">${templateCards(templates, profiles)}</ul>
<p><a href="/templates">Browse all templates</a></p>
<h2 id="workouts">Recent workouts</h2>
${workouts}`,
    };
  }

  private async templates(params: URLSearchParams): Promise<Page> {
    const [q, type, difficulty] = ['q', 'type', 'difficulty'].map((k) => params.get(k)?.slice(0, 100) ?? '') as [string, string, string];
    const [facets, found] = await Promise.all([this.facetValues(), this.deps.reads.browseTemplates({ q, type, difficulty })]);
    const profiles = await this.deps.reads.profiles(found.map((t) => authorOf(t.address)));
    return {
      title: 'Workout templates',
      body: `<h1>Workout templates</h1>
<form class="filters" method="get" action="/templates" role="search" aria-label="Filter templates">
  <label>Search<input type="search" name="q" value="${esc(q)}" placeholder="leg day, full body…"></label>
  ${select('type', 'Type', facets.templateTypes, type)}
  ${select('difficulty', 'Difficulty', facets.difficulty, difficulty)}
  <button type="submit">Show</button>
</form>
<p class="muted" id="result-count">${found.length === 100 ? 'The first 100 templates' : plural(found.length, 'template')}</p>
<ul class="cards" id="templates">${templateCards(found, profiles)}</ul>`,
    };
  }
}
