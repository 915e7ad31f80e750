import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readLines, type Corpus } from './corpus.js';
import { BENCH_ENV, freshIngest, perItemMicros } from './phases.js';
import { measured } from './relay-cpu.js';
import { RELAY_ENTRY, startRelayProcess, tempDb } from './relay-process.js';
import { round } from './stats.js';
import { ingest, queries } from './workloads.js';

/**
 * Two builds of the relay, run alternately phase by phase on the same corpus and seed, each on a
 * fresh database: other sessions' load on a shared machine then weighs on both alike, and the ratio
 * of medians says what the change did.
 */

export interface AbPlan {
  /** The checkout to compare with (built: its dist/index.js). */
  baseline: string;
  runs: number;
  /** The corpus the query mix runs on: loaded once per build, then read by a fresh process each run. */
  corpus: Corpus;
  /** Its first lines loaded by 8 publishers on a fresh database, each run. */
  ingestEvents: number;
  querySeconds: number;
  seed: number;
}

interface Build {
  name: 'baseline' | 'this';
  entry: string;
  /** Its database holding queryCorpus. */
  loaded: string;
}

/** One run's figures, by name (FIGURES). */
type Figures = Record<string, number>;

export interface AbResult {
  baseline: string;
  runs: { build: Build['name']; run: number; figures: Figures }[];
  /** Figure: [baseline median, this median, this / baseline]. */
  medians: Record<string, [number, number, number]>;
}

const FEEDS = { R4: 'R4 global feed', W1: 'W1 social workouts' };

export function baselineEntry(dir: string): string {
  const entry = join(resolve(dir), 'dist', 'index.js');
  if (!existsSync(entry)) throw new Error(`--baseline ${dir}: no ${entry}; build that checkout first (npm run build)`);
  return entry;
}

async function load(build: Omit<Build, 'loaded'>, corpus: Corpus, log: (msg: string) => void): Promise<Build> {
  const lines = await readLines(corpus.file);
  const relay = await startRelayProcess(BENCH_ENV, tempDb(), build.entry);
  try {
    const result = await ingest(relay.url, lines, 8);
    log(`${build.name}: ${corpus.meta.size} events loaded for the query phases at ${Math.round(result.eventsPerSecond)} events/s`);
  } finally {
    await relay.stop();
  }
  return { ...build, loaded: relay.db };
}

/** One run of every phase on one build; the idle RSS comes later (it needs the relay left alone). */
async function run(build: Build, plan: AbPlan, lines: readonly string[]): Promise<{ figures: Figures; idle: Promise<number | undefined> }> {
  const figures: Figures = {};
  const { load: fresh, idle } = await freshIngest(lines, 8, { entry: build.entry, idle: true });
  const events = fresh.ingest.accepted;
  figures['ingest, 8 publishers: events/s'] = round(fresh.ingest.eventsPerSecond, 0);
  figures['ingest: relay µs/event'] = perItemMicros(fresh.cpu!.process, events);
  figures['ingest: writer µs/event'] = perItemMicros(fresh.cpu!.byRole.writer ?? NaN, events);
  figures['ingest: main µs/event'] = perItemMicros(fresh.cpu!.byRole.main ?? NaN, events);
  figures['RSS at start, MiB'] = fresh.startRssMiB!;
  const relay = await startRelayProcess(BENCH_ENV, build.loaded, build.entry);
  try {
    for (const clients of [1, 16]) {
      const { result, cpu } = await measured(relay, () => queries(relay.url, plan.corpus.meta, clients, plan.querySeconds, plan.seed));
      figures[`queries, ${clients} client(s): q/s`] = round(result.queriesPerSecond, 0);
      figures[`queries, ${clients} client(s): relay µs/query`] = perItemMicros(cpu.process, result.queries);
      figures[`queries, ${clients} client(s): main µs/query`] = perItemMicros(cpu.byRole.main ?? NaN, result.queries);
      if (clients !== 1) continue;
      for (const [short, name] of Object.entries(FEEDS)) {
        figures[`${short}, 1 client: p50 ms`] = round(result.byName[name]?.p50 ?? NaN);
        figures[`${short}, 1 client: p99 ms`] = round(result.byName[name]?.p99 ?? NaN);
      }
    }
  } finally {
    await relay.stop();
  }
  return { figures, idle };
}

const median = (values: number[]) => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

export async function abBench(plan: AbPlan, log: (msg: string) => void): Promise<AbResult> {
  const builds: Build[] = [];
  for (const build of [{ name: 'baseline' as const, entry: baselineEntry(plan.baseline) }, { name: 'this' as const, entry: RELAY_ENTRY }]) {
    builds.push(await load(build, plan.corpus, log));
  }
  const lines = await readLines(plan.corpus.file, plan.ingestEvents);
  const runs: AbResult['runs'] = [];
  const idle: Promise<void>[] = [];
  for (let n = 1; n <= plan.runs; n++) {
    // Each build goes first in every other run, so a drift in the machine's load favours neither.
    for (const build of n % 2 ? builds : [...builds].reverse()) {
      log(`run ${n} of ${plan.runs}: ${build.name}`);
      const { figures, idle: rss } = await run(build, plan, lines);
      runs.push({ build: build.name, run: n, figures });
      idle.push(rss.then((mib) => void (figures['idle RSS after the load, MiB'] = mib ?? NaN)));
    }
  }
  log('waiting for the last relays to be idle, to read their RSS');
  await Promise.all(idle);
  const medians: AbResult['medians'] = {};
  for (const figure of Object.keys(runs[0]!.figures)) {
    const of = (name: Build['name']) => median(runs.filter((r) => r.build === name).map((r) => r.figures[figure]!));
    const [a, b] = [of('baseline'), of('this')];
    medians[figure] = [round(a), round(b), round(b / a)];
  }
  return { baseline: plan.baseline, runs, medians };
}

export function abMarkdown(machine: Record<string, unknown>, plan: AbPlan, result: AbResult): string {
  const out: string[] = [];
  out.push(`## powr-relay A/B: this build against ${result.baseline}, ${plan.runs} alternating run(s)`, '');
  out.push(`Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}; client and relays share the cores.`);
  out.push(`Ingest: the first ${plan.ingestEvents} events of the ${plan.corpus.meta.size} corpus, 8 publishers, fresh database each run. ` +
    `Queries: the mix for ${plan.querySeconds} s at 1 and at 16 clients on ${plan.corpus.meta.size} stored events (loaded once per build). ` +
    'CPU from each relay\'s powr_thread_cpu_seconds_total, or /proc per task for a build without it.', '');
  const ingestRatio = result.medians['ingest, 8 publishers: events/s']![2];
  out.push(`Issue 22's ingest target, ≥ 2× the previous commit: ${ingestRatio}× (${ingestRatio >= 2 ? 'met' : 'not met'}).`, '');
  const byBuild = (name: Build['name']) => result.runs.filter((r) => r.build === name);
  out.push('| figure | baseline runs | this build runs | baseline median | this median | this / baseline |', '| --- | --- | --- | --- | --- | --- |');
  for (const [figure, [a, b, ratio]] of Object.entries(result.medians)) {
    const list = (name: Build['name']) => byBuild(name).map((r) => r.figures[figure]).join(', ');
    out.push(`| ${figure} | ${list('baseline')} | ${list('this')} | ${a} | ${b} | ${ratio} |`);
  }
  return out.join('\n') + '\n';
}
