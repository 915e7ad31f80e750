/** HTML building blocks for the catalogue: escaping and the page shell. No templates, no build step. */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const STYLE = `
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #f6f7f9; --card: #ffffff; --muted: #56606b; --line: #d9dde3;
  --accent: #0a58e0; --accent-soft: #e6efff; --warn: #9c3500; --good: #0f7a3d; --chart2: #b34700; --rest: #e4e7ec; }
@media (prefers-color-scheme: dark) { :root { --fg: #e8eaed; --bg: #121417; --card: #1b1e23; --muted: #a3abb5; --line: #343a42;
  --accent: #8ab4ff; --accent-soft: #1e2a40; --warn: #ffb079; --good: #6fd39a; --chart2: #ffab70; --rest: #2a2f36; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header, main, footer { max-width: 64rem; margin: 0 auto; padding: 1rem; }
header { display: flex; flex-wrap: wrap; gap: .5rem 1.25rem; align-items: baseline; border-bottom: 1px solid var(--line); }
header .brand { font-weight: 700; font-size: 1.1rem; text-decoration: none; color: var(--fg); }
header nav a { margin-right: 1rem; }
h1 { font-size: 1.75rem; line-height: 1.2; margin: .5rem 0 .25rem; overflow-wrap: anywhere; }
h2 { font-size: 1.25rem; margin: 2rem 0 .75rem; } h3 { font-size: 1.05rem; margin: 0 0 .25rem; overflow-wrap: anywhere; }
a { color: var(--accent); } .muted { color: var(--muted); }
p, li, td, dd { overflow-wrap: anywhere; }
code { font-size: .9em; }
.stats { display: flex; flex-wrap: wrap; gap: .75rem; padding: 0; list-style: none; }
.cards.compact { grid-template-columns: repeat(auto-fill, minmax(min(100%, 14rem), 1fr)); gap: .6rem; } .cards.compact .card { padding: .6rem .8rem; }
.stats li { background: var(--card); border: 1px solid var(--line); border-radius: .6rem; padding: .5rem .9rem; min-width: 7.5rem; }
.stats strong { display: block; font-size: 1.35rem; }
form.filters { display: flex; flex-wrap: wrap; gap: .75rem; align-items: end; }
form.filters label { display: flex; flex-direction: column; font-size: .9rem; max-width: 100%; }
input, select, button { font: inherit; min-height: 2.4rem; padding: .4rem .55rem; border: 1px solid var(--line); border-radius: .4rem; background: var(--card); color: var(--fg); max-width: 100%; }
button { cursor: pointer; }
.cards { list-style: none; padding: 0; display: grid; gap: .9rem; align-items: start; grid-template-columns: repeat(auto-fill, minmax(min(100%, 17rem), 1fr)); }
.cards h3 a, .sets h3 a { text-decoration: none; } .cards h3 a:hover, .sets h3 a:hover { text-decoration: underline; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: .75rem; padding: .9rem 1rem; min-width: 0; }
.card img.thumb { width: 100%; height: 9rem; object-fit: cover; border-radius: .5rem; margin-bottom: .5rem; background: var(--rest); }
.card p { margin: .25rem 0; }
.tag { display: inline-block; font-size: .8rem; background: var(--accent-soft); border-radius: 1rem; padding: 0 .55rem; margin: .1rem .15rem .1rem 0; }
.byline { font-size: .9rem; color: var(--muted); }
.byline img { width: 1.25rem; height: 1.25rem; border-radius: 50%; vertical-align: middle; margin-right: .3rem; }
.facts { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; margin: .75rem 0; padding: 0; }
.facts div { min-width: 6rem; } .facts dt { font-size: .8rem; color: var(--muted); } .facts dd { margin: 0; font-weight: 600; }
.sets { list-style: none; padding: 0; margin: 0; display: grid; gap: .75rem; }
.sets > li { background: var(--card); border: 1px solid var(--line); border-radius: .75rem; padding: .75rem 1rem; }
.sets ul { list-style: none; margin: .25rem 0 0; padding: 0; } .sets ul li { padding: .1rem 0; }
.group-note { margin: .35rem 0 0; font-size: .9rem; color: var(--muted); } .group-note .pr { margin: 0 .3rem 0 0; }
.prescription { font-variant-numeric: tabular-nums; font-weight: 600; }
.missing { color: var(--warn); font-weight: 600; }
.pr { display: inline-block; font-size: .75rem; font-weight: 700; color: var(--bg); background: var(--good); border-radius: .3rem; padding: 0 .4rem; margin-left: .4rem; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); }
.table-wrap { overflow-x: auto; max-width: 100%; }
.ident { display: flex; flex-wrap: wrap; align-items: center; gap: .35rem .6rem; margin: .35rem 0; font-size: .9rem; }
.ident-label { color: var(--muted); } .ident code { background: var(--accent-soft); padding: .1rem .4rem; border-radius: .3rem; }
.ident button { padding: .1rem .5rem; font-size: .85rem; }
.profile-head { display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; }
.avatar { width: 4.5rem; height: 4.5rem; border-radius: 50%; object-fit: cover; background: var(--accent-soft); flex: none;
  display: grid; place-items: center; font-size: 2rem; font-weight: 700; color: var(--accent); }
.side-by-side { display: grid; gap: 0 1.5rem; grid-template-columns: repeat(auto-fit, minmax(min(100%, 24rem), 1fr)); align-items: start; }
.media { display: grid; gap: .75rem; grid-template-columns: repeat(auto-fill, minmax(min(100%, 16rem), 1fr)); }
.media img, .media video { width: 100%; border-radius: .6rem; background: var(--rest); }
figure { margin: 0 0 1rem; container-type: inline-size; }
svg.chart, svg.calendar { width: 100%; height: auto; display: block; background: var(--card); border: 1px solid var(--line); border-radius: .6rem; }
svg .grid { stroke: var(--line); } svg .axis { fill: var(--muted); font-size: 11px; }
/* Chart text is in viewBox units: a chart drawn at half its 640 units (a phone, a column) needs it doubled. */
@container (max-width: 36rem) { svg.chart .axis { font-size: 20px; } svg.chart circle { r: 6px; } }
svg path.s0 { stroke: var(--accent); stroke-width: 2; } svg circle.s0 { fill: var(--accent); }
svg path.s1 { stroke: var(--chart2); stroke-width: 2; stroke-dasharray: 5 4; } svg circle.s1 { fill: var(--chart2); }
svg rect[data-week] { fill: var(--accent); }
svg rect.rest { fill: var(--rest); } svg rect.trained { fill: var(--good); }
.key::before { content: ""; display: inline-block; width: .8rem; height: .8rem; border-radius: 50%; margin: 0 .3rem 0 .6rem; vertical-align: -.05rem; }
.key.s0::before { background: var(--accent); } .key.s1::before { background: var(--chart2); }
.choices { display: flex; flex-wrap: wrap; gap: .4rem; padding: 0; list-style: none; }
.choices a { display: inline-block; padding: .15rem .6rem; border: 1px solid var(--line); border-radius: 1rem; text-decoration: none; background: var(--card); }
.choices a[aria-current] { background: var(--accent); color: var(--bg); border-color: var(--accent); }
details { margin: .5rem 0 1rem; } summary { cursor: pointer; color: var(--accent); }
`;

export function page(title: string, relayName: string, body: string, script = ''): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · ${esc(relayName)}</title>
<style>${STYLE}</style>
</head>
<body>
<header><a class="brand" href="/">${esc(relayName)}</a>
<nav aria-label="Catalogue"><a href="/#library">Exercises</a><a href="/templates">Templates</a><a href="/#workouts">Workouts</a></nav></header>
<main id="main">
${body}
</main>
<footer class="muted">Connect a Nostr client to this URL over WebSocket. Data is signed by its authors; this page only shows it.</footer>
${script ? `<script>${script}</script>` : ''}
</body>
</html>`;
}
