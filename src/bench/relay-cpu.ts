import { readFileSync, readdirSync } from 'node:fs';
import { procCpuSeconds } from '../workers/thread-cpu.js';
import type { RelayProcess } from './relay-process.js';

/**
 * The relay's CPU time by thread role around a phase of the benchmark: from its
 * powr_thread_cpu_seconds_total counters, or, for a build without them (a baseline from before
 * they existed), from /proc per task, the writer being the one thread other than the main one that
 * writes to files (SQLite's WAL): readers, verification and V8's threads write nothing.
 */

export interface CpuSnapshot {
  /** The whole process, from /proc/<pid>/stat (exited threads included). */
  process: number;
  /** Seconds by role from the relay's metrics; undefined when the build does not count them. */
  roles?: Record<string, number>;
  /** Per task, for builds without the metric: seconds and bytes written. */
  tasks: Map<number, { cpu: number; written: number }>;
}

/** CPU seconds used during a phase, whole process and by thread role. */
export interface CpuUse {
  process: number;
  byRole: Record<string, number>;
  /** "metrics" (the relay's own counters) or "proc" (a build without them: main, writer, other found from /proc). */
  source: 'metrics' | 'proc';
}

function tasks(pid: number): CpuSnapshot['tasks'] {
  const out: CpuSnapshot['tasks'] = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    // A thread that exited between the listing and the read is left out: its time is in the process's total.
    const cpu = procCpuSeconds(`/proc/${pid}/task/${tid}/stat`);
    let io = '';
    try {
      io = readFileSync(`/proc/${pid}/task/${tid}/io`, 'utf8');
    } catch {
      continue;
    }
    if (cpu !== undefined) out.set(Number(tid), { cpu, written: Number(/wchar: (\d+)/.exec(io)?.[1] ?? 0) });
  }
  return out;
}

async function roles(relay: RelayProcess): Promise<Record<string, number> | undefined> {
  const text = await (await fetch(`${relay.httpUrl}/metrics`)).text();
  const found: Record<string, number> = {};
  for (const m of text.matchAll(/^powr_thread_cpu_seconds_total\{thread="([a-z]+)"\} (\S+)$/gm)) found[m[1]!] = Number(m[2]);
  return Object.keys(found).length ? found : undefined;
}

export async function cpuSnapshot(relay: RelayProcess): Promise<CpuSnapshot> {
  const byRole = await roles(relay);
  return { roles: byRole, tasks: byRole ? new Map() : tasks(relay.proc.pid!), process: relay.cpuSeconds() };
}

export function cpuUse(before: CpuSnapshot, after: CpuSnapshot, pid: number): CpuUse {
  const whole = after.process - before.process;
  if (before.roles && after.roles) {
    const byRole: Record<string, number> = {};
    for (const [role, s] of Object.entries(after.roles)) byRole[role] = s - (before.roles[role] ?? 0);
    return { process: whole, byRole, source: 'metrics' };
  }
  const delta = (tid: number, pick: 'cpu' | 'written') => (after.tasks.get(tid)?.[pick] ?? 0) - (before.tasks.get(tid)?.[pick] ?? 0);
  const others = [...after.tasks.keys()].filter((tid) => tid !== pid);
  const writer = others.reduce<number | undefined>((best, tid) => (delta(tid, 'written') > (best === undefined ? 0 : delta(best, 'written')) ? tid : best), undefined);
  const main = delta(pid, 'cpu');
  const writerCpu = writer === undefined ? 0 : delta(writer, 'cpu');
  return { process: whole, byRole: { main, writer: writerCpu, other: whole - main - writerCpu }, source: 'proc' };
}

/** Runs a phase and returns its result with the relay's CPU use meanwhile. */
export async function measured<T>(relay: RelayProcess, phase: () => Promise<T>): Promise<{ result: T; cpu: CpuUse }> {
  const before = await cpuSnapshot(relay);
  const result = await phase();
  const after = await cpuSnapshot(relay);
  return { result, cpu: cpuUse(before, after, relay.proc.pid!) };
}
