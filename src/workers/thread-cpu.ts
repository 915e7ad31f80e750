import { readFileSync } from 'node:fs';
import { parentPort, type Worker } from 'node:worker_threads';

/**
 * CPU time per thread of the relay, by role (Linux /proc only; elsewhere nothing is known and the
 * metric is absent). Each worker thread tells the thread that started it its Linux thread id when
 * it starts (announceThread); the starter watches it (watchThread). Reading the times costs one
 * small file per thread, only when asked (a Prometheus scrape), never per event or query.
 *
 * The table of threads is process-wide, as the threads are: the pools that start them live in
 * several layers (store, media, relay), and threading one registry through all their constructors
 * would say nothing more.
 */

/** What a thread does; "other" is every task of the process that is none of ours (V8, libuv). */
export type ThreadRole = 'main' | 'writer' | 'reader' | 'verify' | 'media';

/** Linux's USER_HZ, the unit of /proc times: 100 on every common build. */
const TICKS_PER_SECOND = 100;

/** The message a starting thread posts; pools and the writer's handler skip it (no `id`, no `type`). */
interface Announcement {
  powrThread: { role: ThreadRole; tid: number };
}

interface Watched {
  role: ThreadRole;
  tid: number;
  /** Its CPU time at the last reading: what it is counted for once it has stopped. */
  ticks: number;
}

/** utime + stime of a /proc stat file (fields 14 and 15, after the parenthesised name), in ticks. */
function statTicks(path: string): number | undefined {
  try {
    const fields = readFileSync(path, 'utf8');
    const rest = fields.slice(fields.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) of a process or task: /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat. */
export function procCpuSeconds(statPath: string): number | undefined {
  const ticks = statTicks(statPath);
  return ticks === undefined ? undefined : ticks / TICKS_PER_SECOND;
}

/** This thread's Linux thread id, or undefined where /proc/thread-self does not exist. */
function ownTid(): number | undefined {
  try {
    return Number(readFileSync('/proc/thread-self/stat', 'utf8').split(' ', 1)[0]);
  } catch {
    return undefined;
  }
}

/** Called once at the top of a worker thread's entry module. */
export function announceThread(role: ThreadRole): void {
  const tid = ownTid();
  if (tid !== undefined) parentPort?.postMessage({ powrThread: { role, tid } } satisfies Announcement);
}

/** The thread this module runs in; read only in the relay's main thread, the one that owns the sockets. */
const MAIN_TID = ownTid();
const watched = new Map<Worker, Watched>();
/** Ticks of stopped threads, by role: counters never go down. */
const stopped = new Map<ThreadRole, number>();
let otherTicks = 0;

function retire(entry: Watched): void {
  stopped.set(entry.role, (stopped.get(entry.role) ?? 0) + entry.ticks);
}

/** Called by whoever starts a worker thread, right after `new Worker(...)`. */
export function watchThread(worker: Worker): void {
  if (MAIN_TID === undefined) return;
  const onMessage = (message: Partial<Announcement> | null) => {
    if (!message?.powrThread) return;
    worker.off('message', onMessage);
    watched.set(worker, { ...message.powrThread, ticks: 0 });
  };
  worker.on('message', onMessage);
  worker.once('exit', () => {
    const entry = watched.get(worker);
    watched.delete(worker);
    if (entry) retire(entry);
  });
}

/**
 * Reads a thread's time one last time before it is stopped on purpose (an idle pool thread): what it
 * used since the last scrape stays with its role rather than falling to "other".
 */
export function threadStopping(worker: Worker): void {
  const entry = watched.get(worker);
  if (entry) entry.ticks = Math.max(entry.ticks, statTicks(`/proc/self/task/${entry.tid}/stat`) ?? 0);
}

/** Whether per-thread CPU can be read here (Linux). */
export const threadCpuKnown = (): boolean => MAIN_TID !== undefined;

/** CPU seconds since start by role, every thread of the process counted once; empty off Linux. */
export function threadCpuSeconds(): Map<ThreadRole | 'other', number> {
  const ticks = new Map<ThreadRole | 'other', number>(stopped);
  if (MAIN_TID === undefined) return ticks;
  const add = (role: ThreadRole | 'other', n: number) => ticks.set(role, (ticks.get(role) ?? 0) + n);
  const main = statTicks(`/proc/self/task/${MAIN_TID}/stat`) ?? 0;
  add('main', main);
  for (const entry of watched.values()) {
    entry.ticks = Math.max(entry.ticks, statTicks(`/proc/self/task/${entry.tid}/stat`) ?? 0);
    add(entry.role, entry.ticks);
  }
  const ours = [...ticks.values()].reduce((a, n) => a + n, 0);
  // Read last: the process's total (exited threads included) is then at least the sum of its parts.
  const total = statTicks('/proc/self/stat') ?? 0;
  otherTicks = Math.max(otherTicks, total - ours);
  add('other', otherTicks);
  return new Map([...ticks].map(([role, n]) => [role, n / TICKS_PER_SECOND]));
}
