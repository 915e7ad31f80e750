import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { BenchClient } from '../src/bench/bench-client.js';
import { loadCorpus, readLines } from '../src/bench/corpus.js';
import { kindClass, type NostrEvent } from '../src/protocol/event.js';
import { RawClient, signer } from './helpers/client.js';
import { runCli, startRelay, tempDb } from './helpers/relay.js';

/** `powr-relay <args>` on the database `db`. */
const cli = (db: string, args: string[], stdin?: string) => runCli(args, { POWR_RELAY_DB: db }, stdin, 240_000);

const sortedLines = (text: string) => text.split('\n').filter((l) => l !== '').sort();

describe('import and export', () => {
  it('round-trips 100,000 events byte-exactly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'powr-cli-'));
    const corpus = await loadCorpus(dir, 100_000, 5, () => {});
    const input = await readLines(corpus.file);
    const db = tempDb();
    const imported = await cli(db, ['import', corpus.file]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/^100000 lines in .*: \d+ accepted, \d+ duplicates, 0 rejected\n$/);

    const out = join(dir, 'export.jsonl');
    const exported = await cli(db, ['export', out]);
    expect(exported.code, exported.stderr).toBe(0);
    const lines = sortedLines(readFileSync(out, 'utf8'));
    const inputSet = new Set(input);
    expect(lines.every((l) => inputSet.has(l))).toBe(true);
    // What is not exported was replaced by a newer version of its address, which is.
    const exportedSet = new Set(lines);
    const left = input.filter((l) => !exportedSet.has(l)).map((l) => JSON.parse(l) as NostrEvent);
    expect(left.length).toBeLessThan(input.length / 100);
    for (const e of left) expect(kindClass(e.kind)).toMatch(/replaceable|addressable/);

    // And back again: a fresh database fed the export exports the same bytes.
    const db2 = tempDb();
    expect((await cli(db2, ['import', '--no-verify', out])).code).toBe(0);
    const again = join(dir, 'again.jsonl');
    expect((await cli(db2, ['export', again])).code).toBe(0);
    expect(sortedLines(readFileSync(again, 'utf8'))).toEqual(lines);
  }, 300_000);

  it('reports rejects by reason, reads stdin, filters exports, and --no-verify skips signatures', async () => {
    const s = signer();
    const good = s.sign({ content: 'good', kind: 1 });
    const reaction = s.sign({ content: '+', kind: 7, created_at: 1_700_000_000 });
    const forged = { ...s.sign({ content: 'forged' }), sig: 'ab'.repeat(64) };
    const stdin = [JSON.stringify(good), 'not json', JSON.stringify(forged), JSON.stringify(reaction), ''].join('\n');
    const db = tempDb();
    const run = await cli(db, ['import', '-'], stdin);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^4 lines .*: 2 accepted, 0 duplicates, 2 rejected\n/);
    expect(run.stdout).toMatch(/ 1 {2}invalid: signature verification failed\n/);
    expect(run.stdout).toMatch(/ 1 {2}invalid: the line is not JSON\n/);
    const unverified = await cli(db, ['import', '--no-verify', '-'], JSON.stringify(forged));
    expect(unverified.stdout).toMatch(/1 accepted/);

    const onlyReactions = await cli(db, ['export', '--kinds', '7', '--authors', s.pubkey]);
    expect(sortedLines(onlyReactions.stdout).map((l) => JSON.parse(l))).toEqual([JSON.parse(JSON.stringify(reaction))]);
    const window = await cli(db, ['export', '--since', String(good.created_at), '--until', String(good.created_at)]);
    expect(sortedLines(window.stdout).map((l) => (JSON.parse(l) as NostrEvent).id)).toContain(good.id);
    expect(window.stdout).not.toContain(reaction.id);
  });

  it('imports beside a running relay, which then serves what was imported', async () => {
    const db = tempDb();
    const relay = await startRelay({}, db);
    const s = signer();
    const events = Array.from({ length: 50 }, (_, i) => s.sign({ content: `imported ${i}`, tags: [['t', 'imported']] }));
    const run = await cli(db, ['import', '-'], events.map((e) => JSON.stringify(e)).join('\n'));
    expect(run.code, run.stderr).toBe(0);
    const c = await RawClient.connect(relay.url);
    expect((await c.req('imp', { '#t': ['imported'], limit: 100 })).length).toBe(50);
    c.close();
    await relay.stop();
  });
});

describe('maintenance commands', () => {
  it('backs up under write load to a database that passes check', async () => {
    const db = tempDb();
    const relay = await startRelay({ POWR_RELAY_RATE_LIMITS: 'off' }, db);
    const dir = mkdtempSync(join(tmpdir(), 'powr-backup-'));
    const lines = await readLines((await loadCorpus(dir, 3000, 21, () => {})).file);
    const client = await BenchClient.open(relay.url);
    let stop = false;
    const load = (async () => {
      for (let i = 0; i < lines.length && !stop; i += 50) await Promise.all(lines.slice(i, i + 50).map((l) => client.publish(l)));
    })();
    await new Promise((r) => setTimeout(r, 300));
    const copy = join(dir, 'backup.db');
    const backup = await cli(db, ['backup', copy]);
    stop = true;
    await load;
    client.close();
    await relay.stop();
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(/^backed up .* to .*backup\.db/);
    const checked = await cli(copy, ['check']);
    // The backup's stored ids agree with the figures the writer kept, though the copy was taken under load.
    expect(checked.stdout).toMatch(/^integrity: ok\nprocessed tables: agree with the raw events\nstored events: \d+, digest [0-9a-f]{32}, as the relay kept them\n$/);
    expect(checked.code).toBe(0);
    const stored = new BetterSqlite3(copy, { readonly: true });
    expect(stored.prepare('SELECT COUNT(*) FROM nostr_events').pluck().get()).toBeGreaterThan(0);
    stored.close();
  });

  it('stats, prune, reindex and check do what they say; check fails on damage', async () => {
    const db = tempDb();
    const dir = mkdtempSync(join(tmpdir(), 'powr-maint-'));
    const corpus = await loadCorpus(dir, 2000, 22, () => {});
    expect((await cli(db, ['import', corpus.file])).code).toBe(0);
    const stats = await cli(db, ['stats']);
    expect(stats.stdout).toMatch(/^database .*: [\d.]+ MiB, \d+ events, \d+ bytes per event\n/);
    expect(stats.stdout).toMatch(/templates: \d+, incomplete \(missing exercises\): \d+/);
    expect(stats.stdout).toMatch(/events by kind:\n\s+\d+\s+\d+/);
    const reactions = () => {
      const d = new BetterSqlite3(db, { readonly: true });
      try {
        return d.prepare('SELECT COUNT(*) FROM nostr_events WHERE kind = 7').pluck().get() as number;
      } finally {
        d.close();
      }
    };
    expect(reactions()).toBeGreaterThan(0);
    const pruned = await cli(db, ['prune', '--keep', '7:1']);
    expect(pruned.stdout).toMatch(/^kind 7: \d+ events older than 1 days deleted\n$/);
    expect(reactions()).toBe(0);
    expect((await cli(db, ['prune'])).stdout).toMatch(/^nothing to prune/);
    expect((await cli(db, ['reindex'])).stdout).toMatch(/^processed tables rebuilt in/);
    expect((await cli(db, ['check'])).code).toBe(0);
    const d = new BetterSqlite3(db);
    d.prepare('DELETE FROM template_exercises WHERE template_seq = (SELECT MIN(template_seq) FROM template_exercises)').run();
    d.close();
    const damaged = await cli(db, ['check']);
    expect(damaged.code).toBe(1);
    expect(damaged.stdout).toMatch(/processed tables: differ in template_exercises \(run reindex\)/);
    expect((await cli(db, ['reindex'])).code).toBe(0);
    expect((await cli(db, ['check'])).code).toBe(0);
  });

  it('lists every command in --help and fails with one line on bad input', async () => {
    const db = tempDb();
    const help = await cli(db, ['--help']);
    for (const command of ['start', 'import', 'export', 'stats', 'backup', 'vacuum', 'prune', 'reindex', 'check']) {
      expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    }
    const cases: [string[], RegExp][] = [
      [['frob'], /^powr-relay: unknown command "frob"; see powr-relay --help\n$/],
      [['export', '--authors', 'npub1x'], /^powr-relay: --authors must be 64-character lowercase hex pubkeys, got "npub1x"\n$/],
      [['backup'], /^powr-relay: backup: give the path to write the copy to\n$/],
      [['import', '/nonexistent/file.jsonl'], /^powr-relay: import: cannot read \/nonexistent\/file.jsonl\n$/],
      [['prune', '--keep', 'seven'], /^powr-relay: --keep must be <kind>:<days>/],
      [['stats', '--frob'], /^powr-relay: stats: Unknown option '--frob'/],
    ];
    for (const [args, expected] of cases) {
      const run = await cli(db, args);
      expect(run.code, args.join(' ')).toBe(1);
      expect(run.stderr, args.join(' ')).toMatch(expected);
    }
    const vacuum = await cli(db, ['vacuum']);
    expect(vacuum.stdout).toMatch(/^vacuumed /);
  });
});
