import { setColumns } from '../powr/params.js';
import { analyze } from '../powr/analyze.js';
import type { SetGroup } from '../powr/groups.js';
import type { PowrRecord, SetRef } from '../powr/types.js';
import { firstTagValue, type NostrEvent } from '../protocol/event.js';
import type { BlobPath } from '../store/bundle-cache.js';
import type { LoggedSet, MediaItem } from '../store/catalogue.js';
import { activityPage } from './activities.js';
import { anonymousMayRead, recordsListed, type Page, type PageContext } from './context.js';
import { esc } from './html.js';
import { identifier, naddr, nevent, npub, shorten } from './ids.js';
import { byline, displayName, exerciseHref, exerciseMedia, facts, notes, plural, profileHref, templateHref } from './parts.js';
import { dateTime, progress, volumeKg } from './training.js';
import { collapseSets, describeSet, num, UNKNOWN_FORMAT, type Format } from './units.js';

/** Exercise, template and workout record pages. */

interface KnownExercise {
  title: string;
  format: Format;
}

/** A stored event as the catalogue shows it: the event, its NIP-101e record if it is of `type`. */
function workoutOf<T extends PowrRecord['type']>(json: string, type: T): { e: NostrEvent; record: Extract<PowrRecord, { type: T }> | undefined } {
  const e = JSON.parse(json) as NostrEvent;
  const record = analyze(e).record;
  return { e, record: record?.type === type ? (record as Extract<PowrRecord, { type: T }>) : undefined };
}

function knownExercises(jsons: readonly string[]): Map<string, KnownExercise> {
  const known = new Map<string, KnownExercise>();
  for (const json of jsons) {
    const { record } = workoutOf(json, 'exercise');
    if (!record) continue;
    known.set(record.address, { title: record.title, format: { format: record.format, formatUnits: record.formatUnits } });
  }
  return known;
}

const asDuration = (s: number | null) => (s === null ? null : s % 60 === 0 && s >= 60 ? `${s / 60} min` : `${s} s`);

/** An exercise's name linked to its page, or marked as missing without breaking the layout. */
function exerciseName(address: string | null, known: Map<string, KnownExercise>): string {
  const x = address ? known.get(address) : undefined;
  if (x) return `<a href="${exerciseHref(address!)}">${esc(x.title || '(untitled exercise)')}</a>`;
  if (!address) return '<span class="missing">An exercise only its app knows</span>';
  return `<span class="missing">Missing exercise</span> <code title="${esc(address)}">${esc(shorten(naddr(address)))}</code>
<span class="muted">(not on this relay)</span>`;
}

const formatOf = (address: string | null, known: Map<string, KnownExercise>) => (address && known.get(address)?.format) || UNKNOWN_FORMAT;

/** Sets per exercise, in the order each exercise first appears, identical consecutive sets collapsed. */
function perExercise(sets: readonly SetRef[], known: Map<string, KnownExercise>, extra: (address: string | null) => string = () => ''): string {
  const groups = new Map<string | null, SetRef[]>();
  for (const s of sets) groups.set(s.address, [...(groups.get(s.address) ?? []), s]);
  return `<ol class="sets" id="sets">${[...groups].map(([address, group]) => {
    const lines = collapseSets(group.map((s) => describeSet(s, formatOf(address, known))));
    return `<li><h3>${exerciseName(address, known)}</h3>${extra(address)}
<ul>${lines.map((l) => `<li class="prescription">${esc(l)}</li>`).join('')}</ul></li>`;
  }).join('\n')}</ol>`;
}

/**
 * Supersets, circuits and metcons: the processed set groups (sets sharing a set_number are done
 * together), shown round by round. Undefined when no group holds more than one set.
 */
function rounds(groups: readonly SetGroup[], sets: readonly SetRef[], known: Map<string, KnownExercise>): string | undefined {
  if (!groups.some((g) => g.positions.length > 1)) return undefined;
  const byPosition = new Map(sets.map((s) => [s.position, s]));
  // One group is one round repeated (the template's rounds say how often).
  const heading = (i: number) => (groups.length === 1 ? 'Each round' : `Round ${i + 1}`);
  return `<ol class="sets" id="sets">${groups.map((g, i) => `<li><h3 class="round">${heading(i)}</h3>
<ul>${g.positions.map((p) => byPosition.get(p)).filter((s) => s !== undefined).map((s) => `<li class="member">${exerciseName(s.address, known)}: <span class="prescription">${esc(describeSet(s, formatOf(s.address, known)))}</span></li>`).join('')}</ul></li>`).join('\n')}</ol>`;
}

function missingNote(missing: readonly string[]): string {
  return missing.length
    ? `<p class="missing" id="missing">${plural(missing.length, 'referenced exercise')} ${missing.length === 1 ? 'is' : 'are'} not on this relay.</p>`
    : '';
}

/** The media of a template's exercises, each under its name. */
function demonstrations(media: Record<string, MediaItem[]>, known: Map<string, KnownExercise>, blobPath: BlobPath | undefined): string {
  const shown = Object.entries(media).map(([address, items]) => {
    const title = known.get(address)?.title ?? '';
    const tags = exerciseMedia(items, title, blobPath);
    return tags ? `<h3>${exerciseName(address, known)}</h3><div class="media">${tags}</div>` : '';
  }).join('');
  return shown ? `<h2>Demonstrations</h2><div id="demonstrations">${shown}</div>` : '';
}

export async function exercisePage(ctx: PageContext, address: string): Promise<Page | undefined> {
  const found = await ctx.reads.exercise(address, ctx.now);
  if (!found) return undefined;
  const { e, record: x } = workoutOf(found.json, 'exercise');
  if (!x) return undefined;
  const profiles = await ctx.reads.profiles([e.pubkey]);
  const media = exerciseMedia(found.media, x.title, ctx.blobPath);
  const tracks = x.format.map((p, i) => {
    const unit = x.formatUnits[i];
    return `${p === 'rpe' ? 'RPE' : p.replace('_', ' ')}${unit && !['count', 'enum'].includes(unit) ? ` (${unit})` : ''}`;
  });
  const muscles = x.hashtags.filter((h) => h !== 'fitness');
  return {
    title: x.title || 'Exercise',
    body: `<h1>${esc(x.title || '(untitled exercise)')}</h1>
${byline(e.pubkey, profiles)}
${facts([['Equipment', x.equipment], ['Difficulty', x.difficulty], ['Tracks', tracks.join(' · ')]])}
${muscles.length ? `<p aria-label="Muscle groups">${muscles.map((h) => `<span class="tag">${esc(h)}</span>`).join('')}</p>` : ''}
${media ? `<h2>Demonstration</h2><div class="media">${media}</div>` : ''}
<h2>Instructions</h2>
${notes(x.description) || '<p class="muted">The author gave no instructions.</p>'}
<h2>Templates using it</h2>
${found.usedBy.length
    ? `<ul id="used-by">${found.usedBy.map((t) => `<li><a href="${templateHref(t.address)}">${esc(t.title || '(untitled template)')}</a></li>`).join('')}</ul>`
    : '<p class="muted">No template on this relay uses it yet.</p>'}
<h2>Share</h2>
${identifier('Exercise', naddr(address))}${identifier('Author', npub(e.pubkey))}`,
  };
}

export async function templatePage(ctx: PageContext, address: string): Promise<Page | undefined> {
  const found = await ctx.reads.template(address, ctx.now);
  if (!found) return undefined;
  const { e, record: t } = workoutOf(found.json, 'template');
  if (!t) return undefined;
  const known = knownExercises(found.exercises);
  const profiles = await ctx.reads.profiles([e.pubkey]);
  return {
    title: t.title || 'Template',
    body: `<h1>${esc(t.title || '(untitled template)')}</h1>
${byline(e.pubkey, profiles)}
${facts([['Type', t.workoutType], ['Difficulty', t.difficulty], ['Rounds', t.rounds], ['Rest between sets', asDuration(t.restBetweenSets)],
    ['Rest between rounds', asDuration(t.restBetweenRounds)], ['Interval', asDuration(t.interval)], ['Time', asDuration(t.duration)],
    ['Exercises', new Set(t.sets.map((s) => s.address)).size], ['Sets', t.sets.length]])}
${notes(t.description)}
<h2>Sets</h2>
${missingNote(found.missing)}
${rounds(found.groups, t.sets, known) ?? perExercise(t.sets, known)}
${demonstrations(found.media, known, ctx.blobPath)}
<h2>Share</h2>
${identifier('Template', naddr(address))}${identifier('Author', npub(e.pubkey))}`,
  };
}

/** A set of a record as the training log has it, so volume and PRs are computed one way everywhere. */
function loggedSet(record: string, s: SetRef, f: Format): LoggedSet {
  const known = f !== UNKNOWN_FORMAT;
  const c = setColumns(s, known ? f.format : undefined, known ? f.formatUnits : undefined);
  return { record, exercise: s.address, weight: c.weight, weightKg: c.weightKg, reps: c.reps, rpe: c.rpe, setType: c.setType,
    format: JSON.stringify(f.format), formatUnits: JSON.stringify(f.formatUnits) };
}

/** How much of a lifter's log is read to find the records a workout beat. */
const PR_HISTORY = 1000;

export async function recordPage(ctx: PageContext, id: string): Promise<Page | undefined> {
  if (!recordsListed(ctx)) return undefined;
  const found = await ctx.reads.record(id, ctx.now);
  if (!found) return undefined;
  const { e, record: r } = workoutOf(found.json, 'record');
  if (!anonymousMayRead(ctx, e)) return undefined;
  if (found.activity) return activityPage(ctx, e, found.activity);
  if (!r) return undefined;
  const known = knownExercises(found.exercises);
  const [profiles, log] = await Promise.all([ctx.reads.profiles([e.pubkey]), ctx.reads.trainingLog(e.pubkey, PR_HISTORY)]);
  const prs = new Set<string>();
  for (const [exercise, sessions] of progress(log.sessions, log.sets)) {
    if (sessions.some((s) => s.record === id && s.pr)) prs.add(exercise);
  }
  const sets = r.sets.map((s) => loggedSet(id, s, formatOf(s.address, known)));
  const volumeOf = (address: string | null) => volumeKg(sets.filter((s) => s.exercise === address));
  const start = r.start ?? e.created_at;
  const durationTag = firstTagValue(e, 'duration');
  const duration = r.end && r.start && r.end > r.start ? asDuration(Math.round((r.end - r.start) / 60) * 60)
    : durationTag && /^\d+$/.test(durationTag) ? asDuration(Number(durationTag)) : durationTag;
  const templateAddress = r.templateAddress;
  const template = templateAddress
    ? `<p>Followed <a href="${templateHref(templateAddress)}">${found.template ? esc(found.template.title || '(untitled template)') : `template ${esc(shorten(naddr(templateAddress)))}`}</a>${found.template ? '' : ' <span class="missing">(not on this relay)</span>'}</p>`
    : '';
  const total = volumeKg(sets);
  return {
    title: r.title || 'Workout',
    body: `<h1>${esc(r.title || '(untitled workout)')}</h1>
${byline(e.pubkey, profiles)}
${facts([['Date', dateTime(start)], ['Duration', duration], ['Type', r.workoutType],
    ['Completed', r.completed === null ? null : r.completed ? 'yes' : 'no'], ['Sets', r.sets.length], ['Total volume', total ? `${num(total)} kg` : null]])}
${template}
${notes(e.content)}
<h2>Sets</h2>
${missingNote(found.missing)}
${perExercise(r.sets, known, (address) => {
    const v = volumeOf(address);
    const pr = address && prs.has(address) ? '<span class="pr" title="Personal record: heavier than every earlier session">PR</span> ' : '';
    return pr || v ? `<p class="group-note">${pr}${v ? `${num(v)} kg volume` : ''}</p>` : '';
  })}
<p class="muted">Volume is weight × reps over every set, in kg; times are UTC. More of
<a href="${profileHref(e.pubkey)}#training">${esc(displayName(e.pubkey, profiles))}'s training</a>.</p>
<h2>Share</h2>
${identifier('Workout', nevent(id, e.pubkey, e.kind))}${identifier('Author', npub(e.pubkey))}`,
  };
}

