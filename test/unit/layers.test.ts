import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The folder map of docs/architecture.md, checked on the source: every relative import (static,
 * dynamic, re-export, type-only, and a worker thread's entry file) of src/ is read, and the files must
 * not depend on themselves through others, nor a folder on one in its own layer or above it.
 */

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/**
 * Lowest first. A file imports from its own folder and from folders of lower layers only; folders of
 * one layer do not import each other. `.` is src/ itself (index.ts, the CLI's entry).
 */
const LAYERS: readonly (readonly string[])[] = [
  ['protocol'], // pure NIP-01
  ['powr'], // pure NIP-101e, on protocol's events
  ['config', 'workers', 'http'], // settings (they parse filters, name validation modes); the verification threads; reading HTTP bodies
  ['store'], // the storage port, its SQLite and NATS parts (the SQLite port spawns its threads with workers' pool)
  ['web', 'management'], // the catalogue pages; NIP-86 and the operator's decisions, which the relay enforces
  ['media'], // Blossom: blobs hidden by the operator's bans
  ['relay'], // sockets, sessions, ingest, policies, NIP-77 answers, NIP-11: hosts web and management
  ['sync'], // other relays: their events come in through the relay's Ingest
  ['cli', 'bench'],
  ['fuzz'], // shares bench's seeded random numbers and relay process
  ['.'],
];

const rank = new Map(LAYERS.flatMap((folders, i) => folders.map((f) => [f, i] as const)));

/** src-relative paths with '/' separators, e.g. 'relay/server.ts'. Declaration files import nothing. */
const files = (readdirSync(SRC, { recursive: true }) as string[])
  .map((f) => f.split(sep).join('/'))
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .sort();

const folderOf = (file: string) => (file.includes('/') ? file.slice(0, file.indexOf('/')) : '.');

/** The relative specifiers a file names: import/export … from, import(), bare import, new URL(…, import.meta.url). */
const SPECIFIER = /(?:\bfrom|\bimport\s*\(?|\bnew URL\()\s*['"](\.\.?\/[^'"]+)['"]/g;

function importsOf(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  return [...text.matchAll(SPECIFIER)]
    .map((m) => m[1]!)
    .filter((spec) => spec.endsWith('.js')) // package.json, docs and config files are data, not modules
    .map((spec) => relative(SRC, join(SRC, dirname(file), spec)).split(sep).join('/'))
    .filter((path) => !path.startsWith('../')) // the built relay (dist/index.js), which bench runs as a process
    .map((path) => path.replace(/\.js$/, '.ts'));
}

const graph = new Map(files.map((f) => [f, [...new Set(importsOf(f))]]));

/** Every cycle found by a depth-first walk, each as the files around it. */
function cycles(): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    path.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') found.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of files) if (!state.has(file)) visit(file);
  return found;
}

describe('layers', () => {
  it('reads the source', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(graph.get('relay/server.ts')).toContain('relay/session.ts');
    expect(graph.get('cli/start.ts')).toContain('sync/upstreams.ts'); // the dynamic import
    expect(graph.get('store/sqlite/sqlite-storage.ts')).toContain('store/sqlite/writer-thread.ts'); // a thread's entry
  });

  it('resolves every relative import to a file in src/', () => {
    const missing = [...graph].flatMap(([file, deps]) => deps.filter((d) => !existsSync(join(SRC, d))).map((d) => `${file} -> ${d}`));
    expect(missing).toEqual([]);
  });

  it('places every folder in a layer', () => {
    expect([...new Set(files.map(folderOf))].filter((f) => !rank.has(f))).toEqual([]);
  });

  it('imports only from the own folder and lower layers', () => {
    const upward = [...graph].flatMap(([file, deps]) =>
      deps.filter((d) => folderOf(d) !== folderOf(file) && rank.get(folderOf(d))! >= rank.get(folderOf(file))!).map((d) => `${file} -> ${d}`));
    expect(upward).toEqual([]);
  });

  it('has no cycle between files', () => {
    expect(cycles().map((c) => c.join(' -> '))).toEqual([]);
  });
});
