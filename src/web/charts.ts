import { esc } from './html.js';
import { day } from './training.js';
import { num } from './units.js';

/**
 * Charts drawn on the server as inline SVG: visible without JavaScript, scaled to the page width by
 * their viewBox, each named by a title and description for screen readers and followed by the same
 * numbers as a table. Data points carry data-* attributes with their exact values.
 */

const W = 640;
const H = 240;
const PAD = { left: 52, right: 12, top: 24, bottom: 28 };

function frame(id: string, title: string, desc: string, inner: string, height = H): string {
  return `<svg class="chart" id="${id}" viewBox="0 0 ${W} ${height}" role="img" aria-labelledby="${id}-title ${id}-desc">
<title id="${id}-title">${esc(title)}</title><desc id="${id}-desc">${esc(desc)}</desc>${inner}</svg>`;
}

/** What a chart's values are: the unit on its axis, how one value reads, and to how many decimals data-value keeps it. */
export interface Scale {
  unit: string;
  text: (value: number) => string;
  decimals: number;
}

const KG: Scale = { unit: 'kg', text: (v) => `${num(v)} kg`, decimals: 1 };

const exact = (value: number, decimals: number) => Math.round(value * 10 ** decimals) / 10 ** decimals;

/** Round axis maximum and a few gridlines. */
function yAxis(max: number, unit: string): { top: number; grid: string; y: (v: number) => number } {
  const step = niceStep(max / 4);
  const top = Math.max(step, Math.ceil(max / step) * step);
  const y = (v: number) => PAD.top + (H - PAD.top - PAD.bottom) * (1 - v / top);
  let grid = '';
  for (let v = 0; v <= top + 1e-9; v += step) {
    grid += `<line class="grid" x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(v)}" y2="${y(v)}"/>`
      + `<text class="axis" x="${PAD.left - 6}" y="${y(v) + 4}" text-anchor="end">${v >= 1000 ? `${num(v / 1000)}k` : num(v)}</text>`;
  }
  grid += `<text class="axis" x="${PAD.left + 6}" y="${PAD.top - 6}">${unit}</text>`;
  return { top, grid, y };
}

function niceStep(raw: number): number {
  if (raw <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  return ([1, 2, 2.5, 5, 10].find((m) => m * p >= raw) ?? 10) * p;
}

export interface Point {
  t: number;
  value: number;
}

export interface Series {
  name: string;
  label: string;
  points: Point[];
}

/** Values over time, one marker per point, for one or more series on one scale. */
export function lineChart(id: string, title: string, desc: string, series: Series[], scale: Scale = KG): string {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return '';
  const t0 = Math.min(...all.map((p) => p.t));
  const t1 = Math.max(...all.map((p) => p.t));
  const x = (t: number) => (t1 === t0 ? (PAD.left + W - PAD.right) / 2 : PAD.left + ((W - PAD.left - PAD.right) * (t - t0)) / (t1 - t0));
  const { grid, y } = yAxis(Math.max(...all.map((p) => p.value)), scale.unit);
  const lines = series.map((s, i) => {
    const path = s.points.map((p, j) => `${j ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.value).toFixed(1)}`).join('');
    const marks = s.points.map((p) => `<circle class="s${i}" cx="${x(p.t).toFixed(1)}" cy="${y(p.value).toFixed(1)}" r="4"
 data-series="${esc(s.name)}" data-date="${day(p.t)}" data-value="${exact(p.value, scale.decimals)}"><title>${esc(s.label)} ${day(p.t)}: ${esc(scale.text(p.value))}</title></circle>`).join('');
    return `<path class="s${i}" d="${path}" fill="none"/>${marks}`;
  }).join('');
  const legend = series.map((s, i) => `<span class="key s${i}">${esc(s.label)}</span>`).join(' ');
  const labels = `<text class="axis" x="${PAD.left}" y="${H - 8}">${day(t0)}</text>`
    + (t1 > t0 ? `<text class="axis" x="${W - PAD.right}" y="${H - 8}" text-anchor="end">${day(t1)}</text>` : '');
  return `<figure>${frame(id, title, desc, grid + lines + labels)}<figcaption>${legend}</figcaption></figure>`;
}

/** One bar per labelled value (weekly volume). */
export function barChart(id: string, title: string, desc: string, bars: { label: string; value: number }[]): string {
  if (bars.length === 0) return '';
  const { grid, y } = yAxis(Math.max(...bars.map((b) => b.value)), 'kg');
  const slot = (W - PAD.left - PAD.right) / bars.length;
  const rects = bars.map((b, i) => `<rect x="${(PAD.left + i * slot + slot * 0.15).toFixed(1)}" y="${y(b.value).toFixed(1)}"
 width="${(slot * 0.7).toFixed(1)}" height="${(y(0) - y(b.value)).toFixed(1)}" data-week="${b.label}" data-value="${Math.round(b.value)}"><title>Week of ${b.label}: ${num(b.value)} kg</title></rect>`).join('');
  const labels = `<text class="axis" x="${PAD.left}" y="${H - 8}">${bars[0]!.label}</text>`
    + (bars.length > 1 ? `<text class="axis" x="${W - PAD.right}" y="${H - 8}" text-anchor="end">${bars[bars.length - 1]!.label}</text>` : '');
  return `<figure>${frame(id, title, desc, grid + rects + labels)}</figure>`;
}

const CELL = 16;
const GAP = 3;
const DAY_NAMES = ['Mon', '', 'Wed', '', 'Fri', '', 'Sun'];

/** A training calendar: one column per week (Monday first), trained days filled. */
export function calendar(id: string, title: string, firstMonday: number, weeks: number, trained: ReadonlySet<string>): string {
  const left = 32;
  const top = 18;
  let cells = '';
  for (let w = 0; w < weeks; w++) {
    const monday = firstMonday + w * 7 * 86_400;
    if (w % 4 === 0) cells += `<text class="axis" x="${left + w * (CELL + GAP)}" y="12">${day(monday).slice(5)}</text>`;
    for (let d = 0; d < 7; d++) {
      const date = day(monday + d * 86_400);
      const on = trained.has(date);
      cells += `<rect x="${left + w * (CELL + GAP)}" y="${top + d * (CELL + GAP)}" width="${CELL}" height="${CELL}" rx="3"
 class="${on ? 'trained' : 'rest'}" data-date="${date}"><title>${date}${on ? ': trained' : ''}</title></rect>`;
    }
  }
  DAY_NAMES.forEach((name, d) => {
    if (name) cells += `<text class="axis" x="0" y="${top + d * (CELL + GAP) + 12}">${name}</text>`;
  });
  const width = left + weeks * (CELL + GAP);
  const height = top + 7 * (CELL + GAP);
  const desc = `${trained.size} training day${trained.size === 1 ? '' : 's'} in the ${weeks} weeks from ${day(firstMonday)}.`;
  return `<svg class="calendar" id="${id}" viewBox="0 0 ${width} ${height}" style="max-width:${width * 1.4}px" role="img" aria-labelledby="${id}-title ${id}-desc">
<title id="${id}-title">${esc(title)}</title><desc id="${id}-desc">${esc(desc)}</desc>${cells}</svg>`;
}
