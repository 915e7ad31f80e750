import { RECORD_KIND } from '../powr/types.js';
import type { NostrEvent } from '../protocol/event.js';
import type { ActivityDetail, ActivitySession } from '../store/catalogue.js';
import { lineChart, type Scale } from './charts.js';
import type { Page, PageContext } from './context.js';
import { esc } from './html.js';
import { identifier, nevent, npub } from './ids.js';
import { byline, displayName, facts, notes, plural, profileHref, recordHref } from './parts.js';
import { dateTime, day } from './training.js';
import { amount, clock, km, num, pace } from './units.js';

/**
 * RUNSTR/Amethyst activities (kind 1301 with a verb such as `running`), from the processed activity
 * tables: their record page, and a runner's distance and pace per session on the profile.
 */

/** `running` → `Running`. */
export const activityName = (verb: string): string => verb.charAt(0).toUpperCase() + verb.slice(1);

const titleOf = (a: ActivitySession) => a.title || activityName(a.activity);

/** Distance, duration and pace of an activity as one line: `5 km · 28:15 · 5:39 /km`. */
function summary(a: ActivitySession): string {
  return [a.distanceM ? km(a.distanceM) : null, a.durationS ? clock(a.durationS) : null, a.paceSPerKm ? pace(a.paceSPerKm) : null,
    a.volumeKg ? `${num(a.volumeKg)} kg` : null].filter((x) => x !== null).join(' · ');
}

/** An activity in a person's history list. */
export function activityLine(a: ActivitySession, author: string): string {
  const details = summary(a);
  return `<li><a href="${recordHref(a.id, author, RECORD_KIND)}">${esc(titleOf(a))}</a>
<span class="muted">${day(a.start)} · ${esc(activityName(a.activity))}${details ? ` · ${details}` : ''}</span></li>`;
}

const DISTANCE: Scale = { unit: 'km', text: (v) => km(v * 1000), decimals: 2 };
const PACE: Scale = { unit: 'min/km', text: (v) => pace(v * 60), decimals: 2 };

/**
 * One activity's sessions with a distance, charted like a lifter's progress: distance and pace per
 * session, and the same numbers as a table. The activity shown is `chosen`, else the most frequent.
 */
export function activityCharts(activities: readonly ActivitySession[], chosen: string | undefined, author: string): string {
  const byActivity = new Map<string, ActivitySession[]>();
  for (const a of [...activities].sort((x, y) => x.start - y.start || x.id.localeCompare(y.id))) {
    if (a.distanceM) byActivity.set(a.activity, [...(byActivity.get(a.activity) ?? []), a]);
  }
  if (byActivity.size === 0) return '<p class="muted">No activity with a distance yet.</p>';
  const shown = chosen && byActivity.has(chosen) ? chosen : [...byActivity.keys()].sort((a, b) => byActivity.get(b)!.length - byActivity.get(a)!.length)[0]!;
  const sessions = byActivity.get(shown)!;
  const name = activityName(shown);
  const span = `${plural(sessions.length, 'session')} from ${day(sessions[0]!.start)} to ${day(sessions[sessions.length - 1]!.start)}`;
  const paced = sessions.filter((a) => a.paceSPerKm);
  const choices = byActivity.size > 1
    ? `<ul class="choices" aria-label="Activity to chart">${[...byActivity.keys()].map((x) => `<li><a href="?activity=${encodeURIComponent(x)}#activities-heading"${x === shown ? ' aria-current="true"' : ''}>${esc(activityName(x))}</a></li>`).join('')}</ul>`
    : '';
  return `${choices}
<div class="side-by-side"><div>
${lineChart('activity-distance', `${name}: distance per session`, `Distance in kilometres, ${span}.`,
    [{ name: 'distance', label: 'Distance', points: sessions.map((a) => ({ t: a.start, value: a.distanceM! / 1000 })) }], DISTANCE)}
</div><div>
${lineChart('activity-pace', `${name}: pace per session`, `Minutes per kilometre (lower is faster), ${plural(paced.length, 'session')} with a duration.`,
    [{ name: 'pace', label: 'Pace', points: paced.map((a) => ({ t: a.start, value: a.paceSPerKm! / 60 })) }], PACE)}
</div></div>
<details><summary>${esc(name)} sessions as a table</summary><div class="table-wrap"><table id="activity-table"><thead><tr><th scope="col">Date</th>
<th scope="col">Distance</th><th scope="col">Duration</th><th scope="col">Pace</th></tr></thead>
<tbody>${sessions.map((a) => `<tr><td><a href="${recordHref(a.id, author, RECORD_KIND)}">${day(a.start)}</a></td><td>${km(a.distanceM!)}</td>
<td>${a.durationS ? clock(a.durationS) : ''}</td><td>${a.paceSPerKm ? pace(a.paceSPerKm) : ''}</td></tr>`).join('')}</tbody></table></div></details>`;
}

/** The page of a RUNSTR/Amethyst record: what was done, how far, how long, how fast. */
export async function activityPage(ctx: PageContext, e: NostrEvent, a: ActivityDetail): Promise<Page> {
  const profiles = await ctx.reads.profiles([e.pubkey]);
  const client = e.tags.find((t) => t[0] === 'client')?.[1];
  // A distance published in miles or feet is also given in kilometres, the unit of the pace and of the charts.
  const distance = a.distance !== null && a.distanceM
    ? `${amount(a.distance, a.distanceUnit)}${a.distanceUnit?.toLowerCase() === 'km' ? '' : ` (${km(a.distanceM)})`}`
    : null;
  const sets = a.sets.length
    ? `<h2>Sets</h2><ol class="sets" id="activity-sets"><li><h3>${esc(activityName(a.activity))}</h3><ul>${a.sets.map((s) => `<li>Set ${s.setNumber}: <span class="prescription">${
      [s.reps === null ? null : `${num(s.reps)} reps`, s.weight === null ? null : amount(s.weight, s.weightUnit)].filter((x) => x !== null).join(' @ ') || 'open'}</span></li>`).join('')}</ul></li></ol>`
    : '';
  return {
    title: titleOf(a),
    body: `<h1>${esc(titleOf(a))}</h1>
${byline(e.pubkey, profiles)}
${facts([['Date', dateTime(a.start)], ['Activity', activityName(a.activity)], ['Distance', distance],
    ['Duration', a.durationS === null ? null : clock(a.durationS)], ['Pace', a.paceSPerKm === null ? null : pace(a.paceSPerKm)],
    ['Elevation gain', a.elevationGainM === null ? null : `${num(a.elevationGainM)} m`], ['Calories', a.calories],
    ['Total volume', a.volumeKg ? `${num(a.volumeKg)} kg` : null], ['Logged with', client]])}
${notes(e.content)}
${sets}
<p class="muted">Pace is minutes per kilometre; times are UTC. More of
<a href="${profileHref(e.pubkey)}#training">${esc(displayName(e.pubkey, profiles))}'s training</a>.</p>
<h2>Share</h2>
${identifier('Activity', nevent(e.id, e.pubkey, e.kind))}${identifier('Author', npub(e.pubkey))}`,
  };
}
