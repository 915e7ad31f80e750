import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CONFIG_FILE } from './load.js';
import { SETTINGS, envName } from './settings.js';

/** The shipped config file: every setting, its default, what it does and its environment variable. */
export function renderConfigFile(): string {
  const lines = [
    '// powr-relay configuration. Every setting is listed with its default value.',
    '// Each one can be overridden by the environment variable named beside it;',
    '// POWR_RELAY_CONFIG=<path> reads another file of this shape instead of this one.',
    '{',
  ];
  let group = '';
  SETTINGS.forEach((s, i) => {
    if (s.group !== group) {
      group = s.group;
      lines.push(`${i === 0 ? '' : '\n'}  // ---- ${group} ----`);
    }
    lines.push(`  // ${s.doc} (env ${envName(s.key)})`);
    lines.push(`  ${JSON.stringify(s.key)}: ${JSON.stringify(s.default)}${i === SETTINGS.length - 1 ? '' : ','}`);
  });
  lines.push('}', '');
  return lines.join('\n');
}

/** The configuration reference in docs/configuration.md. */
export function renderConfigDocs(): string {
  const rows = SETTINGS.map(
    (s) => `| ${s.group} | \`${s.key}\` | \`${envName(s.key)}\` | \`${JSON.stringify(s.default)}\` | ${s.doc.replace(/\|/g, '\\|')} |`,
  );
  return [
    '# Configuration reference',
    '',
    'Generated from `src/config/settings.ts` by `npm run config:render`; a test fails when this file or',
    '`config/powr-relay.jsonc` is out of date.',
    '',
    'Precedence: built-in default < config file (`config/powr-relay.jsonc`, or the file named by',
    '`POWR_RELAY_CONFIG`) < environment variable. A bad value stops start-up with one line naming the',
    'setting and the problem, and exit code 1.',
    '',
    '| group | key | environment variable | default | meaning |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}

export const CONFIG_DOCS_FILE = fileURLToPath(new URL('../../docs/configuration.md', import.meta.url));

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(DEFAULT_CONFIG_FILE, renderConfigFile());
  writeFileSync(CONFIG_DOCS_FILE, renderConfigDocs());
}
