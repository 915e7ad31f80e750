import { activityCharts, activityLine } from './activities.js';
import type { Page, PageContext } from './context.js';
import { recordsListed } from './context.js';
import { barChart, calendar, lineChart } from './charts.js';
import { esc } from './html.js';
import { identifier, naddr, npub } from './ids.js';
import { displayName, exerciseCards, exerciseHref, plural, readProfile, recordHref, templateCards } from './parts.js';
import { day, progress, volumeBySession, weekOf, weeklyVolume, type ExerciseSession } from './training.js';
import { hoursMinutes, km, num } from './units.js';
import { RECORD_KIND } from '../powr/types.js';
import type { ActivitySession, TrainingLog, TrainingTotals } from '../store/catalogue.js';

/** One person: who they are (kind 0), their training (history, volume, progress, PRs) and what they published. */

/** Sessions read for a profile: years of training for most lifters. */
const HISTORY = 1000;
const CALENDAR_WEEKS = { min: 12, max: 26 };

/** What the profile's charts show, from its query string. */
export interface ChartChoice {
  exercise: string | undefined;
  activity: string | undefined;
}

/** Undefined (404) for a pubkey that has published nothing this page may show. */
export async function profilePage(ctx: PageContext, pubkey: string, chosen: ChartChoice): Promise<Page | undefined> {
  const showRecords = recordsListed(ctx);
  const [profiles, exercises, templates, log, activities, totals] = await Promise.all([
    ctx.reads.profiles([pubkey]), ctx.reads.authorExercises(pubkey), ctx.reads.authorTemplates(pubkey),
    showRecords ? ctx.reads.trainingLog(pubkey, HISTORY) : Promise.resolve({ sessions: [], sets: [] }),
    showRecords ? ctx.reads.activityLog(pubkey, HISTORY) : Promise.resolve([]),
    showRecords ? ctx.reads.trainingTotals(pubkey) : Promise.resolve(undefined),
  ]);
  if (profiles[pubkey] === undefined && exercises.length + templates.length + log.sessions.length + activities.length === 0) return undefined;
  const profile = readProfile(profiles[pubkey]);
  const name = displayName(pubkey, profiles);
  const training = totals
    ? await trainingSection(ctx, pubkey, { log, activities, totals }, chosen)
    : '<p class="muted" id="private">Workout records on this relay are private: only their authors see them, in a Nostr client that signs in.</p>';
  return {
    title: name,
    body: `<div class="profile-head">${profile.picture ? `<img class="avatar" src="${esc(profile.picture)}" alt="">`
    : `<span class="avatar" aria-hidden="true">${esc([...name][0]!.toUpperCase())}</span>`}
<div><h1>${esc(name)}</h1>${profile.about ? `<p>${esc(profile.about)}</p>` : ''}
${identifier('Profile', npub(pubkey))}</div></div>
<h2 id="training">Training</h2>
${training}
<h2 id="templates">Templates</h2>
${templates.length ? `<ul class="cards">${templateCards(templates, profiles, false)}</ul>` : '<p class="muted">No templates on this relay.</p>'}
<h2 id="exercises">Exercises</h2>
${exercises.length ? `<ul class="cards">${exerciseCards(exercises, profiles, false)}</ul>` : '<p class="muted">No exercises on this relay.</p>'}`,
  };
}

interface Training {
  log: TrainingLog;
  activities: ActivitySession[];
  totals: TrainingTotals;
}

async function trainingSection(ctx: PageContext, author: string, { log, activities, totals }: Training, chosen: ChartChoice): Promise<string> {
  const { sessions, sets } = log;
  if (sessions.length + activities.length === 0) return '<p class="muted">No workouts on this relay yet.</p>';
  const starts = [...sessions.map((s) => s.start), ...activities.map((a) => a.start)];
  const lastWeek = Date.parse(weekOf(Math.max(...starts))) / 1000;
  const firstWeek = Date.parse(weekOf(Math.min(...starts))) / 1000;
  const spanned = Math.round((lastWeek - firstWeek) / 604_800) + 1;
  const weeks = Math.min(CALENDAR_WEEKS.max, Math.max(CALENDAR_WEEKS.min, spanned));
  const calendarStart = lastWeek - (weeks - 1) * 604_800;
  const trained = new Set(starts.map(day));
  const volume = weeklyVolume(sessions, sets).filter((w) => Date.parse(w.week) / 1000 >= calendarStart);
  const volumes = volumeBySession(sets);
  const recent = [
    ...sessions.map((s) => {
      const kg = volumes.get(s.id) ?? 0;
      return { start: s.start, html: `<li><a href="${recordHref(s.id, author, s.kind)}">${esc(s.title || '(untitled workout)')}</a>
<span class="muted">${day(s.start)}${s.type ? ` · ${esc(s.type)}` : ''}${kg ? ` · ${num(kg)} kg` : ''}</span></li>` };
    }),
    ...activities.map((a) => ({ start: a.start, html: activityLine(a, author) })),
  ].sort((a, b) => b.start - a.start).slice(0, 20);
  return `${totalsList(totals)}
<p>${plural(trained.size, 'training day')} on this relay. Weights in kg, distances in km, days in UTC.</p>
<div class="side-by-side"><div><h3 id="calendar-heading">Workout calendar</h3>
${calendar('calendar', `Workout calendar, ${weeks} weeks to the week of ${day(lastWeek)}`, calendarStart, weeks, trained)}
</div>${sessions.length ? `<div><h3 id="volume-heading">Weekly volume</h3>
${barChart('weekly-volume', 'Training volume per week', `Weight × reps summed per week (Monday to Sunday), ${volume.length} weeks.`, volume.map((w) => ({ label: w.week, value: w.kg })))}
<details><summary>Weekly volume as a table</summary><div class="table-wrap"><table id="volume-table"><thead><tr><th scope="col">Week of</th><th scope="col">Volume (kg)</th></tr></thead>
<tbody>${volume.map((w) => `<tr><td>${w.week}</td><td>${num(w.kg)}</td></tr>`).join('')}</tbody></table></div></details></div>` : ''}</div>
${sessions.length ? await liftingProgress(ctx, author, log, chosen.exercise) : ''}
${activities.length ? `<h3 id="activities-heading">Activities</h3>\n${activityCharts(activities, chosen.activity, author)}` : ''}
<h3 id="workouts">Recent workouts</h3>
<ul id="history">${recent.map((r) => r.html).join('')}</ul>`;
}

/** Lifetime numbers across workouts and activities; what is zero (a runner's volume) is left out. */
function totalsList(t: TrainingTotals): string {
  const items: [string, number, string][] = [['workouts', t.workouts, t.workouts.toLocaleString('en')],
    ['activities', t.activities, t.activities.toLocaleString('en')], ['volume', t.volumeKg, `${Math.round(t.volumeKg).toLocaleString('en')} kg`],
    ['distance', t.distanceM, km(t.distanceM)], ['time', t.durationS, hoursMinutes(t.durationS)]];
  return `<ul class="stats" id="totals" aria-label="All-time totals">${items.filter(([, value]) => value > 0).map(([key, value, text]) =>
    `<li><strong data-total="${key}" data-value="${Math.round(value * 10) / 10}">${text}</strong>${key}</li>`).join('')}</ul>`;
}

/** Per-exercise progress (heaviest set, estimated 1RM) and personal records. */
async function liftingProgress(ctx: PageContext, author: string, { sessions, sets }: TrainingLog, chosen: string | undefined): Promise<string> {
  const byExercise = progress(sessions, sets);
  const exercises = [...byExercise.keys()];
  const titles = new Map(Object.entries(await ctx.reads.exerciseTitles(exercises)));
  // The default chart is the exercise trained most often.
  const shown = chosen && byExercise.has(chosen) ? chosen : exercises.sort((a, b) => byExercise.get(b)!.length - byExercise.get(a)!.length)[0];
  const points = shown ? byExercise.get(shown)! : [];
  const title = shown ? titles.get(shown) ?? 'an exercise missing from this relay' : '';
  const chart = shown ? lineChart('progress', `Progress in ${title}`,
    `Heaviest set and estimated one-rep max (Epley) per session, ${points.length} sessions from ${day(points[0]!.start)} to ${day(points[points.length - 1]!.start)}.`,
    [{ name: 'heaviest', label: 'Heaviest set', points: points.map((p) => ({ t: p.start, value: p.heaviestKg })) },
      { name: 'e1rm', label: 'Estimated 1RM', points: points.map((p) => ({ t: p.start, value: p.e1rmKg })) }]) : '';
  const choices = exercises.length > 1
    ? `<ul class="choices" aria-label="Exercise to chart">${[...byExercise.keys()].map((x) => `<li><a href="?exercise=${encodeURIComponent(naddr(x))}#progress-heading"${x === shown ? ' aria-current="true"' : ''}>${esc(titles.get(x) ?? 'missing exercise')}</a></li>`).join('')}</ul>`
    : '';
  return `<h3 id="progress-heading">Progress</h3>
${choices}
${shown ? `<p><a href="${exerciseHref(shown)}">${esc(title)}</a></p>` : ''}
${chart}
${shown ? progressTable(points, author) : ''}
<h3 id="prs">Personal records</h3>
${prTable(byExercise, titles, author)}`;
}

function progressTable(points: readonly ExerciseSession[], author: string): string {
  return `<details><summary>Sessions as a table</summary><div class="table-wrap"><table id="progress-table"><thead><tr><th scope="col">Date</th>
<th scope="col">Heaviest set (kg)</th><th scope="col">Estimated 1RM (kg)</th></tr></thead>
<tbody>${points.map((p) => `<tr><td><a href="${recordHref(p.record, author, RECORD_KIND)}">${day(p.start)}</a></td><td>${num(p.heaviestKg)}${p.pr ? '<span class="pr">PR</span>' : ''}</td><td>${num(p.e1rmKg)}</td></tr>`).join('')}</tbody></table></div></details>`;
}

function prTable(byExercise: Map<string, ExerciseSession[]>, titles: Map<string, string>, author: string): string {
  const rows = [...byExercise].map(([address, list]) => {
    const heaviest = list.reduce((a, b) => (b.heaviestKg > a.heaviestKg ? b : a));
    const e1rm = list.reduce((a, b) => (b.e1rmKg > a.e1rmKg ? b : a));
    return `<tr><td><a href="${exerciseHref(address)}">${esc(titles.get(address) ?? 'missing exercise')}</a></td>
<td><a href="${recordHref(heaviest.record, author, RECORD_KIND)}">${num(heaviest.heaviestKg)} kg</a> <span class="muted">${day(heaviest.start)}</span></td>
<td>${num(e1rm.e1rmKg)} kg <span class="muted">${day(e1rm.start)}</span></td></tr>`;
  });
  return rows.length
    ? `<div class="table-wrap"><table id="pr-table"><thead><tr><th scope="col">Exercise</th><th scope="col">Heaviest set</th><th scope="col">Best estimated 1RM</th></tr></thead><tbody>${rows.join('')}</tbody></table></div>`
    : '<p class="muted">No weighted sets yet.</p>';
}
