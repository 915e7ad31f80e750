import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type { StoreStats } from '../store/port.js';
import { SqliteStorage } from '../store/sqlite/sqlite-storage.js';
import { abBench, abMarkdown } from './ab.js';
import { catalogueLatency, type CatalogueResult } from './catalogue-workload.js';
import { clusterBench, clusterMarkdown, type ClusterResult } from './cluster.js';
import { freshEvents, loadCorpus, readLines, type Corpus } from './corpus.js';
import { mediaBench, mediaMarkdown, mediaTargets } from './media.js';
import { BENCH_ENV, IDLE_QUIET_MS, freshIngest, perItemMicros } from './phases.js';
import { measured, type CpuUse } from './relay-cpu.js';
import { startRelayProcess, type RelayProcess } from './relay-process.js';
import { round, type Summary } from './stats.js';
import { fanout, idleConnections, ingest, queries, resolution, type IngestResult, type QueryResult, type ResolutionResult } from './workloads.js';

const USAGE = `npm run bench -- [--size small|medium|full] [--url ws://host:port] [--seed N] [--out results.json]
npm run bench -- --baseline <checkout> [--runs N] [--size small|medium|full] [--seed N] [--out results.json]
npm run bench -- --cluster N [--nats nats://host:port,...] [--size small|full] [--seed N] [--out results.json]
npm run bench -- --media [--size small|full] [--seed N] [--out results.json]

  --size small   a 10k-event corpus, ingest of 3,000; finishes in under three minutes
  --size medium  the 100k-event corpus only (no 1M), ingest of 20,000
  --size full    100k- and 1M-event corpora (default)
  --baseline     instead: compare this build with another checkout of powr-relay (built: its
                 dist/index.js), alternating: each run, both builds load the first 20,000 events
                 (small: 3,000) of the size's first corpus with 8 publishers on a fresh database
                 (events/s; relay, writer and main-thread CPU per event; RSS at start and once
                 idle after the load) and run the query mix at 1 and 16 clients on that whole
                 corpus, loaded once per build (q/s; relay and main-thread CPU per query; R4 and
                 W1 p50 / p99 with 1 client). Prints every run and the ratio of medians.
                 --size medium (the default here) with 3 runs takes about 10 minutes
  --runs         runs of each build for --baseline (default 3)
  --url          load another relay instead of starting powr-relay on a fresh database; the parts
                 that need powr-relay's extensions (resolve, HTTP bundles) and its process
                 (memory, database size) are reported as skipped
  --cluster N    instead: N powr-relay nodes on one NATS JetStream stream on this machine (and one
                 node, to compare): writes through the stream, convergence, reads and the CPU a
                 read costs the node answering it, a new node's catch-up (docs/cluster.md)
  --nats         the NATS servers for --cluster (default nats://127.0.0.1:4222)
  --media        instead: the Blossom media server (docs/media.md): GETs of a 20 MiB blob by 16
                 clients beside Debian's nginx serving the same file (when /usr/sbin/nginx is
                 installed), 256 KiB ranges of a 100 MiB video, a 100 MiB upload and the relay's
                 memory meanwhile, ingest with media traffic beside it; 10 s a phase (small: 4 s)
  --seed         corpus and query seed (default 1)
  --out          where to write the JSON results (default .bench/results-<size>.json)`;

const PLANS = {
  small: { sizes: [10_000], ingestEvents: 3000, querySeconds: 4, resolutionSamples: 100, fanoutEvents: 10, idle: [1000, 5000], pageSamples: 30 },
  medium: { sizes: [100_000], ingestEvents: 20_000, querySeconds: 10, resolutionSamples: 300, fanoutEvents: 20, idle: [1000, 5000], pageSamples: 100 },
  full: { sizes: [100_000, 1_000_000], ingestEvents: 20_000, querySeconds: 10, resolutionSamples: 300, fanoutEvents: 20, idle: [1000, 5000], pageSamples: 100 },
};

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BENCH_DIR = join(ROOT, '.bench');
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const MiB = 1024 * 1024;

interface SizeResult {
  size: number;
  load: IngestResult;
  queries: QueryResult[];
  /** The relay's CPU during each of `queries`, by thread role. */
  queryCpu?: CpuUse[];
  catalogue?: CatalogueResult;
  resolution?: ResolutionResult;
  fanout?: { subscribers: number; events: number; deliveries: number; latency: Summary };
  ingestWhenFull?: IngestResult;
  memory?: { peakRssMiB: number; perIdleConnectionKiB: Record<string, number> };
  dbBytesPerEvent?: number;
  /** The relay's storage engine, read through the storage port. */
  engine?: string;
}

async function withRelay<T>(external: string | undefined, run: (url: string, relay?: RelayProcess) => Promise<T>): Promise<T> {
  if (external) return run(external);
  const relay = await startRelayProcess(BENCH_ENV);
  try {
    return await run(relay.url, relay);
  } finally {
    await relay.stop();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measureSize(corpus: Corpus, plan: (typeof PLANS)['small'], external: string | undefined, seed: number, last: boolean): Promise<SizeResult> {
  const lines = await readLines(corpus.file);
  return withRelay(external, async (url, relay) => {
    log(`loading ${lines.length} events with 8 connections`);
    const load = await ingest(url, lines, 8);
    log(`loaded at ${Math.round(load.eventsPerSecond)} events/s`);
    const result: SizeResult = { size: corpus.meta.size, load, queries: [] };
    for (const clients of [1, 16]) {
      log(`query mix, ${clients} client(s), ${plan.querySeconds} s`);
      const run = () => queries(url, corpus.meta, clients, plan.querySeconds, seed);
      if (!relay) {
        result.queries.push(await run());
        continue;
      }
      const { result: mix, cpu } = await measured(relay, run);
      result.queries.push(mix);
      (result.queryCpu ??= []).push(cpu);
    }
    if (!external) {
      log(`catalogue pages, ${plan.pageSamples} of each type`);
      result.catalogue = await catalogueLatency(url, corpus.meta, plan.pageSamples, seed);
    }
    if (!last) return result;
    log('template resolution');
    result.resolution = await resolution(url, corpus.meta, plan.resolutionSamples, !external, seed);
    log('fan-out to 1000 subscribers');
    result.fanout = await fanout(url, 1000, freshEvents(plan.fanoutEvents, seed + 1));
    log(`ingest of ${plan.ingestEvents} new events with ${lines.length} stored, 8 connections`);
    result.ingestWhenFull = await ingest(url, freshEvents(plan.ingestEvents, seed + 2), 8);
    if (!relay) return result;
    const perIdleConnectionKiB: Record<string, number> = {};
    for (const count of plan.idle) {
      await sleep(1000);
      const before = relay.memory().rss;
      const idle = await idleConnections(url, count);
      await sleep(2000);
      perIdleConnectionKiB[count] = round((relay.memory().rss - before) / count / 1024, 1);
      idle.close();
    }
    result.memory = { peakRssMiB: round(relay.memory().peak / MiB, 1), perIdleConnectionKiB };
    await relay.stop(); // checkpoints the WAL, so the file size is the database's
    const stored = await storedStats(relay.db);
    result.dbBytesPerEvent = round(stored.bytes / stored.events, 0);
    result.engine = stored.engine;
    return result;
  });
}

/** What the stopped relay's database holds, through the storage port (SQL stays in src/store). */
async function storedStats(db: string): Promise<StoreStats> {
  const store = await SqliteStorage.open({ path: db, readers: 1, batchSize: 1, log: pino({ level: 'silent' }) });
  try {
    return await store.stats();
  } finally {
    await store.close();
  }
}

/** One publisher waiting for each OK before sending the next event: the latency a lone app sees. */
const LONE_PUBLISHER_EVENTS = 1000;

interface IngestLevels {
  runs: IngestResult[];
  lone: IngestResult;
  /** Database directory (WAL included) per stored event right after the 8-connection load, while running. */
  directoryBytesPerEvent?: number;
  /** Relay RSS right after start, before any connection. */
  startRssMiB?: number;
  /** The relay's CPU during the 8-connection load, by thread role. */
  cpu?: CpuUse;
  /** Relay RSS once idle after the 8-connection load (phases.ts, IDLE_QUIET_MS). */
  idleRssMiB?: number;
}

async function ingestLevels(corpus: Corpus, events: number, external: string | undefined): Promise<IngestLevels> {
  const lines = await readLines(corpus.file, events);
  const runs: IngestResult[] = [];
  let levels: Partial<IngestLevels> = {};
  let idle: Promise<number | undefined> = Promise.resolve(undefined);
  for (const connections of [1, 8, 32]) {
    log(`ingest: ${events} events over ${connections} connection(s) on a fresh database`);
    // The 8-connection relay is left idle while the other runs go on; its RSS is read at the end.
    const run = await freshIngest(lines, connections, { external, idle: connections === 8 });
    runs.push(run.load.ingest);
    if (connections === 8) {
      const { startRssMiB, directoryBytesPerEvent, cpu } = run.load;
      levels = { startRssMiB, directoryBytesPerEvent, cpu };
      idle = run.idle;
    }
  }
  log(`ingest: ${LONE_PUBLISHER_EVENTS} events from one publisher, one at a time`);
  const lone = await withRelay(external, (url) => ingest(url, lines.slice(0, LONE_PUBLISHER_EVENTS), 1, 1));
  if (!external) log('waiting for the 8-connection relay to be idle, to read its RSS');
  return { ...levels, idleRssMiB: await idle, runs, lone };
}

function ms(s: Summary | 'skipped' | undefined): string {
  if (s === undefined) return '–';
  if (s === 'skipped') return 'skipped';
  return `${round(s.p50)} / ${round(s.p99)}`;
}

function targets(levels: IngestLevels, sizes: SizeResult[]): [string, string, boolean | undefined][] {
  const first = sizes[0]!;
  const largest = sizes[sizes.length - 1]!;
  const eight = levels.runs.find((r) => r.connections === 8)!;
  const sixteen = (s: SizeResult) => s.queries.find((q) => q.clients === 16)!;
  const worstP99 = Math.max(...Object.values(sixteen(largest).byName).map((q) => q.p99));
  const idle = largest.memory ? Math.max(...Object.values(largest.memory.perIdleConnectionKiB)) : undefined;
  const check = (value: number | undefined, ok: (v: number) => boolean) => (value === undefined ? undefined : ok(value));
  const skipped = (value: number | undefined, unit: string) => (value === undefined ? 'skipped' : `${value} ${unit}`);
  return [
    [`ingest, 8 publishers, fresh database ≥ 10,000 events/s`, `${Math.round(eight.eventsPerSecond)}`, eight.eventsPerSecond >= 10_000],
    [`ingest, 8 publishers, ${largest.size} stored ≥ 8,000 events/s`, `${Math.round(largest.ingestWhenFull!.eventsPerSecond)}`,
      largest.ingestWhenFull!.eventsPerSecond >= 8000],
    ['one publisher, one event at a time: OK p50 ≤ 1 ms', `${round(levels.lone.ok.p50)} ms`, levels.lone.ok.p50 <= 1],
    [`query mix at ${first.size}, 16 clients ≥ 6,000 q/s`, `${Math.round(sixteen(first).queriesPerSecond)}`, sixteen(first).queriesPerSecond >= 6000],
    [`query mix at ${first.size}, 16 clients: p99 ≤ 10 ms`, `${round(sixteen(first).overall.p99)} ms`, sixteen(first).overall.p99 <= 10],
    [`every filter at ${largest.size}, 16 clients: p99 ≤ 10 ms`, `worst ${round(worstP99)} ms`, worstP99 <= 10],
    ['fan-out of a record to 1,000 subscribers p99 ≤ 50 ms', `${round(largest.fanout!.latency.p99)} ms`, largest.fanout!.latency.p99 <= 50],
    [`database directory (WAL included) per event, ${eight.events}-event load ≤ 2,700 B`, skipped(levels.directoryBytesPerEvent, 'B'),
      check(levels.directoryBytesPerEvent, (v) => v <= 2700)],
    [`database per event at ${largest.size} ≤ 2,000 B`, skipped(largest.dbBytesPerEvent, 'B'), check(largest.dbBytesPerEvent, (v) => v <= 2000)],
    ['relay memory per idle connection ≤ 16 KiB', skipped(idle, 'KiB'), check(idle, (v) => v <= 16)],
    ['relay RSS at start ≤ 80 MiB', skipped(levels.startRssMiB, 'MiB'), check(levels.startRssMiB, (v) => v <= 80)],
    ...sizes.map((s): [string, string, boolean | undefined] => {
      const worstPage = s.catalogue && Math.max(...Object.values(s.catalogue).map((c) => c.p99));
      return [`every catalogue page at ${s.size}: p99 ≤ 50 ms`, worstPage === undefined ? 'skipped' : `worst ${round(worstPage)} ms`, check(worstPage, (v) => v <= 50)];
    }),
  ];
}

/** Named filters issue 22 holds to a latency target. */
const FEED_QUERIES = ['R4 global feed', 'W1 social workouts'];

/** Issue 22's targets (per-thread CPU, feeds, memory); the A/B comparison (--baseline) shows the ingest ratio. */
function issue22Targets(levels: IngestLevels, sizes: SizeResult[]): [string, string, boolean | undefined][] {
  const eight = levels.runs.find((r) => r.connections === 8)!;
  const check = (value: number | undefined, ok: (v: number) => boolean) => (value === undefined ? undefined : ok(value));
  const skipped = (value: number | undefined, unit: string) => (value === undefined ? 'skipped' : `${value} ${unit}`);
  const perEvent = (seconds: number | undefined) => (seconds === undefined ? undefined : perItemMicros(seconds, eight.accepted));
  const writer = perEvent(levels.cpu?.byRole.writer);
  const relay = perEvent(levels.cpu?.process);
  // The feeds' target is at 100k stored events; a run without that size reports the size it has.
  const feedSize = sizes.find((s) => s.size === 100_000) ?? sizes[sizes.length - 1]!;
  const feedP99 = Math.max(...FEED_QUERIES.map((name) => feedSize.queries[0]!.byName[name]?.p99 ?? NaN));
  const largest = sizes[sizes.length - 1]!;
  return [
    [`ingest, 8 publishers, ${eight.events} events, fresh database ≥ 10,000 events/s (or 2× the previous commit: --baseline)`,
      `${Math.round(eight.eventsPerSecond)}`, eight.eventsPerSecond >= 10_000],
    ['writer thread CPU per event ≤ 40 µs', skipped(writer, 'µs'), check(writer, (v) => v <= 40)],
    ['relay CPU per event ≤ 200 µs', skipped(relay, 'µs'), check(relay, (v) => v <= 200)],
    ...sizes.flatMap((s) => s.queries.map((q, i): [string, string, boolean | undefined] => {
      const micros = s.queryCpu && perItemMicros(s.queryCpu[i]!.process, q.queries);
      return [`relay CPU per query of the mix at ${s.size}, ${q.clients} client(s) ≤ 500 µs`, skipped(micros, 'µs'), check(micros, (v) => v <= 500)];
    })),
    [`R4 and W1 p99 ≤ 2 ms, 1 client at ${feedSize.size}`, FEED_QUERIES.map((n) => `${round(feedSize.queries[0]!.byName[n]?.p99 ?? NaN)}`).join(' / ') + ' ms',
      feedP99 <= 2],
    [`database ≤ 2,000 B per event at ${largest.size}`, skipped(largest.dbBytesPerEvent, 'B'), check(largest.dbBytesPerEvent, (v) => v <= 2000)],
    ['relay RSS at start ≤ 64 MiB', skipped(levels.startRssMiB, 'MiB'), check(levels.startRssMiB, (v) => v <= 64)],
    [`idle RSS after the ${eight.events}-event load ≤ 200 MiB`, skipped(levels.idleRssMiB, 'MiB'), check(levels.idleRssMiB, (v) => v <= 200)],
  ];
}

interface CpuRow {
  phase: string;
  rate: string;
  /** Microseconds of relay CPU per event or query: the whole process, and by thread role. */
  micros: { relay: number; byRole: Record<string, number> };
}

const ROLE_ORDER = ['main', 'writer', 'verify', 'reader', 'media', 'other'];

function cpuRow(phase: string, rate: string, items: number, cpu: CpuUse): CpuRow {
  const byRole: Record<string, number> = {};
  for (const role of Object.keys(cpu.byRole).sort((a, b) => ROLE_ORDER.indexOf(a) - ROLE_ORDER.indexOf(b))) byRole[role] = perItemMicros(cpu.byRole[role]!, items);
  return { phase, rate, micros: { relay: perItemMicros(cpu.process, items), byRole } };
}

/** The 8-connection ingest and every query mix, with the relay's CPU per item. */
function cpuRows(levels: IngestLevels, sizes: SizeResult[]): CpuRow[] {
  if (!levels.cpu) return [];
  const eight = levels.runs.find((r) => r.connections === 8)!;
  const rows = [cpuRow(`ingest, 8 publishers, ${eight.events} events, fresh database`, `${Math.round(eight.eventsPerSecond)} events/s`, eight.accepted, levels.cpu)];
  for (const s of sizes) {
    s.queryCpu?.forEach((cpu, i) => rows.push(cpuRow(`query mix at ${s.size}, ${s.queries[i]!.clients} client(s)`,
      `${Math.round(s.queries[i]!.queriesPerSecond)} q/s`, s.queries[i]!.queries, cpu)));
  }
  return rows;
}

function cpuTable(rows: CpuRow[]): string[] {
  const roles = [...new Set(rows.flatMap((r) => Object.keys(r.micros.byRole)))].sort((a, b) => ROLE_ORDER.indexOf(a) - ROLE_ORDER.indexOf(b));
  const out = [`| phase | rate | relay µs per item | ${roles.map((r) => `${r} µs`).join(' | ')} |`, `| --- | --- | --- | ${roles.map(() => '---').join(' | ')} |`];
  for (const r of rows) out.push(`| ${r.phase} | ${r.rate} | ${r.micros.relay} | ${roles.map((role) => r.micros.byRole[role] ?? '–').join(' | ')} |`);
  return out;
}

function targetTable(rows: [string, string, boolean | undefined][]): string[] {
  return ['| target | measured | met |', '| --- | --- | --- |',
    ...rows.map(([name, value, met]) => `| ${name} | ${value} | ${met === undefined ? 'skipped' : met ? 'yes' : 'no'} |`)];
}

function markdown(machine: Record<string, unknown>, levels: IngestLevels, sizes: SizeResult[], external: string | undefined): string {
  const out: string[] = [];
  out.push(`## powr-relay benchmark (${external ? `external relay ${external}` : 'powr-relay, fresh database per run'})`, '');
  const engine = sizes.find((s) => s.engine)?.engine ?? 'storage engine not measured (external relay)';
  out.push(`Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, ${engine}; client and relay share the cores.`, '');
  out.push('### Ingest (until every OK arrives)', '', '| connections | events | events/s | OK p50 / p99 ms |', '| --- | --- | --- | --- |');
  for (const r of levels.runs) out.push(`| ${r.connections} | ${r.events} | ${Math.round(r.eventsPerSecond)} | ${ms(r.ok)} |`);
  out.push(`| 1, one event at a time | ${levels.lone.events} | ${Math.round(levels.lone.eventsPerSecond)} | ${ms(levels.lone.ok)} |`);
  for (const s of sizes) {
    out.push(`| 8, loading the ${s.size} corpus | ${s.load.events} | ${Math.round(s.load.eventsPerSecond)} | ${ms(s.load.ok)} |`);
    if (s.ingestWhenFull) out.push(`| 8, with ${s.size} stored | ${s.ingestWhenFull.events} | ${Math.round(s.ingestWhenFull.eventsPerSecond)} | ${ms(s.ingestWhenFull.ok)} |`);
  }
  for (const s of sizes) {
    out.push('', `### Queries at ${s.size} stored events (REQ to EOSE)`, '');
    const [one, sixteen] = s.queries;
    out.push(`Throughput: ${Math.round(one!.queriesPerSecond)} q/s with 1 client, ${Math.round(sixteen!.queriesPerSecond)} q/s with 16.`, '');
    out.push('| filter | events returned (mean) | 1 client p50 / p99 ms | 16 clients p50 / p99 ms |', '| --- | --- | --- | --- |');
    for (const name of Object.keys(one!.byName).sort()) {
      out.push(`| ${name} | ${round(one!.byName[name]!.meanEvents, 1)} | ${ms(one!.byName[name])} | ${ms(sixteen!.byName[name])} |`);
    }
  }
  if (levels.cpu) {
    const source = levels.cpu.source === 'metrics' ? 'the relay\'s powr_thread_cpu_seconds_total' : '/proc per task (a build without the metric)';
    out.push('', `### Relay CPU per event or query, by thread (${source})`, '', ...cpuTable(cpuRows(levels, sizes)));
  }
  for (const s of sizes.filter((x) => x.catalogue)) {
    out.push('', `### Catalogue pages at ${s.size} stored events (HTTP GET, full HTML)`, '', '| page | p50 / p99 ms |', '| --- | --- |');
    for (const [name, summary] of Object.entries(s.catalogue!)) out.push(`| ${name} | ${ms(summary)} |`);
  }
  const last = sizes[sizes.length - 1]!;
  if (last.resolution) {
    out.push('', `### Time to a complete template (${last.size} stored; ${round(last.resolution.meanExercises, 1)} exercises on average)`, '');
    out.push('| path | p50 / p99 ms |', '| --- | --- |');
    out.push(`| two REQs (template, then its exercises) | ${ms(last.resolution.twoReq)} |`);
    out.push(`| one REQ with "resolve": true | ${ms(last.resolution.resolveReq)} |`);
    out.push(`| HTTP GET /api/bundle | ${ms(last.resolution.httpBundle)} |`);
  }
  if (last.fanout) {
    out.push('', `### Live fan-out: ${last.fanout.events} records to ${last.fanout.subscribers} subscribers`, '');
    out.push(`${last.fanout.deliveries} deliveries; latency p50 / p99: ${ms(last.fanout.latency)} ms.`);
  }
  out.push('', '### Memory and storage', '');
  out.push(last.memory
    ? `Relay RSS at start ${levels.startRssMiB} MiB, peak ${last.memory.peakRssMiB} MiB; RSS per idle connection: ${Object.entries(last.memory.perIdleConnectionKiB).map(([n, k]) => `${k} KiB at ${n}`).join(', ')}; ` +
      `idle RSS ${levels.idleRssMiB} MiB ${IDLE_QUIET_MS / 1000} s after the ${levels.runs[1]!.events}-event load; ` +
      `database directory ${levels.directoryBytesPerEvent} bytes per event right after the ${levels.runs[1]!.events}-event load (WAL included), database ${last.dbBytesPerEvent} bytes per stored event at ${last.size} (after shutdown).`
    : 'Skipped (external relay).');
  out.push('', '### Targets', '', ...targetTable(targets(levels, sizes)));
  out.push('', '### Issue 22 targets', '', ...targetTable(issue22Targets(levels, sizes)));
  return out.join('\n') + '\n';
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { size: { type: 'string' }, url: { type: 'string' }, seed: { type: 'string', default: '1' },
      out: { type: 'string' }, cluster: { type: 'string' }, nats: { type: 'string', default: 'nats://127.0.0.1:4222' },
      media: { type: 'boolean' }, baseline: { type: 'string' }, runs: { type: 'string', default: '3' }, help: { type: 'boolean' } },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const size = values.size ?? (values.baseline === undefined ? 'full' : 'medium');
  if (size !== 'small' && size !== 'medium' && size !== 'full') throw new Error(`--size must be small, medium or full, got ${size}`);
  if (values.url && !/^wss?:\/\//.test(values.url)) throw new Error(`--url must be a ws:// or wss:// URL, got ${values.url}`);
  const seed = Number(values.seed);
  if (!Number.isSafeInteger(seed)) throw new Error(`--seed must be an integer, got ${values.seed}`);
  const plan = PLANS[size];
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: Math.round(totalmem() / 1024 ** 3),
    node: process.versions.node,
  };
  const started = Date.now();
  if (values.media) {
    if (values.url || values.cluster !== undefined) throw new Error('--media starts its own relay; leave out --url and --cluster');
    const result = await mediaBench(size === 'small' ? 4 : 10, seed, log);
    process.stdout.write(mediaMarkdown(machine, result));
    mkdirSync(BENCH_DIR, { recursive: true });
    const out = values.out ?? join(BENCH_DIR, `results-media-${size}.json`);
    writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), machine, size: size, ...result, targets: mediaTargets(result) }, null, 2));
    log(`done in ${Math.round((Date.now() - started) / 1000)} s; results in ${out}`);
    return;
  }
  if (values.baseline !== undefined) {
    if (values.url || values.cluster !== undefined || values.media) throw new Error('--baseline starts both builds itself; leave out --url, --cluster and --media');
    const runs = Number(values.runs);
    if (!Number.isSafeInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${values.runs}`);
    const corpus = await loadCorpus(BENCH_DIR, plan.sizes[0]!, seed, log);
    const abPlan = { baseline: values.baseline, runs, corpus, ingestEvents: plan.ingestEvents, querySeconds: plan.querySeconds, seed };
    const result = await abBench(abPlan, log);
    process.stdout.write(abMarkdown(machine, abPlan, result));
    mkdirSync(BENCH_DIR, { recursive: true });
    const out = values.out ?? join(BENCH_DIR, `results-ab-${size}.json`);
    writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), machine, size: size, ...result }, null, 2));
    log(`done in ${Math.round((Date.now() - started) / 1000)} s; results in ${out}`);
    return;
  }
  if (values.cluster !== undefined) {
    const nodes = Number(values.cluster);
    if (!Number.isSafeInteger(nodes) || nodes < 1 || nodes > 16) throw new Error(`--cluster must be a number of nodes from 1 to 16, got ${values.cluster}`);
    if (values.url) throw new Error('--cluster starts its own nodes; leave out --url (or run --url against any node of a cluster)');
    const corpus = await loadCorpus(BENCH_DIR, plan.sizes[0]!, seed, log);
    const results: ClusterResult[] = [];
    for (const n of nodes === 1 ? [1] : [1, nodes]) {
      results.push(await clusterBench(corpus, { nodes: n, nats: values.nats.split(','), querySeconds: plan.querySeconds }, seed, log));
    }
    process.stdout.write(clusterMarkdown(machine, results));
    const out = values.out ?? join(BENCH_DIR, `results-cluster-${size}.json`);
    writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), machine, size: size, nats: values.nats, results }, null, 2));
    log(`done in ${Math.round((Date.now() - started) / 1000)} s; results in ${out}`);
    return;
  }
  const corpora: Corpus[] = [];
  for (const n of plan.sizes) corpora.push(await loadCorpus(BENCH_DIR, n, seed, log));
  const levels = await ingestLevels(corpora[0]!, plan.ingestEvents, values.url);
  const sizes: SizeResult[] = [];
  for (const [i, corpus] of corpora.entries()) sizes.push(await measureSize(corpus, plan, values.url, seed, i === corpora.length - 1));
  const report = markdown(machine, levels, sizes, values.url);
  process.stdout.write(report);
  const out = values.out ?? join(BENCH_DIR, `results-${size}.json`);
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), machine, size: size, url: values.url ?? null,
    seconds: (Date.now() - started) / 1000, ingest: levels, sizes, relayCpu: cpuRows(levels, sizes), targets: targets(levels, sizes), issue22Targets: issue22Targets(levels, sizes) }, null, 2));
  log(`done in ${Math.round((Date.now() - started) / 1000)} s; results in ${out}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(1);
  },
);
