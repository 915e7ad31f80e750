/** HTML building blocks for the catalogue: escaping and the page shell. No templates, no build step. */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const STYLE = `
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #fdfdfc; --muted: #5b6470; --line: #d9dde3; --accent: #0b5fff; --warn: #a33a00; }
@media (prefers-color-scheme: dark) { :root { --fg: #e8eaed; --bg: #15181c; --muted: #a3abb5; --line: #343a42; --accent: #7aa7ff; --warn: #ffb079; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header, main, footer { max-width: 60rem; margin: 0 auto; padding: 1rem; }
header { border-bottom: 1px solid var(--line); }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
a { color: var(--accent); } .muted { color: var(--muted); }
.stats { display: flex; flex-wrap: wrap; gap: 1rem; padding: 0; list-style: none; }
.stats li { border: 1px solid var(--line); border-radius: .5rem; padding: .5rem .75rem; min-width: 8rem; }
.stats strong { display: block; font-size: 1.3rem; }
form.filters { display: flex; flex-wrap: wrap; gap: .75rem; align-items: end; }
form.filters label { display: flex; flex-direction: column; font-size: .9rem; }
input, select, button { font: inherit; padding: .35rem .5rem; border: 1px solid var(--line); border-radius: .35rem; background: var(--bg); color: var(--fg); }
button { cursor: pointer; }
ul.cards { list-style: none; padding: 0; display: grid; gap: .75rem; grid-template-columns: repeat(auto-fill, minmax(16rem, 1fr)); }
ul.cards li { border: 1px solid var(--line); border-radius: .5rem; padding: .75rem; }
.tag { display: inline-block; font-size: .8rem; border: 1px solid var(--line); border-radius: 1rem; padding: 0 .5rem; margin: .1rem; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); }
.missing { color: var(--warn); font-weight: 600; }
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
<header><p class="muted"><a href="/">${esc(relayName)}</a> · a Nostr relay for workout events</p></header>
<main id="main">
${body}
</main>
<footer class="muted">Connect a Nostr client to this URL over WebSocket. Data is signed by its authors; this page only shows it.</footer>
${script ? `<script>${script}</script>` : ''}
</body>
</html>`;
}
