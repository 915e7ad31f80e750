import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { Logger } from 'pino';
import { threadStopping, watchThread } from './thread-cpu.js';

interface Task<Res> {
  resolve: (result: Res) => void;
  reject: (err: Error) => void;
}

interface Slot<Res> {
  worker: Worker;
  /** Its module has loaded (a reader's connection is open): a task sent now does not wait for a start. */
  ready: boolean;
  inFlight: Map<number, Task<Res>>;
  /** Set while the thread has nothing to do: it is stopped when this fires. */
  idle: NodeJS.Timeout | undefined;
}

/**
 * How long a thread may sit with nothing to do before it is stopped. Each thread holds 9 MiB or more;
 * starting one again costs 80-100 ms of CPU (its modules, its connection), paid by the first request
 * after a quiet minute.
 */
export const IDLE_THREAD_MS = 60_000;

/**
 * Every worker thread's heap limits. V8 grows a busy thread's young generation to about 48 MiB and keeps
 * it when the thread goes quiet; a thread's tasks (one event, one read) leave little alive, so 6 MiB
 * costs more scavenges but no measurable time (20k events loaded, then 2,000 REQs: the same relay CPU,
 * 45-55 MiB less RSS; docs/benchmarks.md).
 */
export const THREAD_LIMITS: ResourceLimits = { maxYoungGenerationSizeMb: 6 };

/** What a thread posts once its module has loaded. */
const READY = 'ready';

/**
 * Up to `max` worker threads running one module, started as load needs them: the first task starts
 * the first thread, and a task that finds every thread busy starts another while there are fewer than
 * `max`. Each task goes to the least busy ready thread: while one is ready, tasks queue on it rather
 * than on a thread still starting (a start costs about 100 ms, many queries' worth), which starts beside
 * them and takes tasks once ready, so the head of a burst does not wait for it. A thread idle for
 * IDLE_THREAD_MS is stopped. A thread that dies fails only its own tasks (the next task starts a new
 * one), so one poisoned input cannot stop the relay.
 */
export class WorkerPool<Req, Res> {
  private readonly slots: Slot<Res>[] = [];
  private nextId = 0;
  private closing = false;

  constructor(
    private readonly file: URL,
    /** The most threads the pool runs. */
    readonly max: number,
    private readonly workerData: unknown,
    private readonly log: Logger,
    private readonly idleMs = IDLE_THREAD_MS,
  ) {}

  /** Threads running now. */
  get size(): number {
    return this.slots.length;
  }

  /** Tasks sent to threads and not yet answered. */
  get queued(): number {
    return this.slots.reduce((n, s) => n + s.inFlight.size, 0);
  }

  private spawn(): Slot<Res> {
    // The thread runs a two-line module that imports the pool's module, then reports that it has loaded.
    const start = `import ${JSON.stringify(this.file.href)};\nimport { parentPort } from 'node:worker_threads';\nparentPort.postMessage('${READY}');`;
    const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(start)}`), { workerData: this.workerData, resourceLimits: THREAD_LIMITS });
    const slot: Slot<Res> = { worker, ready: false, inFlight: new Map(), idle: undefined };
    watchThread(worker);
    slot.worker.on('message', (message: { id?: number; result: Res } | typeof READY) => {
      if (message === READY) {
        slot.ready = true;
        if (slot.inFlight.size === 0) this.idleFrom(slot);
        return;
      }
      const { id, result } = message;
      if (id === undefined) return; // the thread's announcement (thread-cpu.ts)
      const task = slot.inFlight.get(id);
      slot.inFlight.delete(id);
      if (slot.inFlight.size === 0) this.idleFrom(slot);
      task?.resolve(result);
    });
    const fail = (err: Error) => {
      for (const task of slot.inFlight.values()) task.reject(err);
      slot.inFlight.clear();
      if (this.remove(slot)) this.log.error({ err }, 'worker thread died; the next task starts a new one');
    };
    slot.worker.on('error', fail);
    slot.worker.on('exit', (code) => fail(new Error(`worker thread exited with code ${code}`)));
    this.slots.push(slot);
    return slot;
  }

  /** Takes a thread out of the pool; false if it was not in it (stopped on purpose, or already gone). */
  private remove(slot: Slot<Res>): boolean {
    clearTimeout(slot.idle);
    const index = this.slots.indexOf(slot);
    if (index < 0) return false;
    this.slots.splice(index, 1);
    return true;
  }

  private idleFrom(slot: Slot<Res>): void {
    clearTimeout(slot.idle);
    slot.idle = setTimeout(() => {
      if (!this.remove(slot)) return;
      threadStopping(slot.worker);
      void slot.worker.terminate();
    }, this.idleMs);
    slot.idle.unref();
  }

  run(request: Req): Promise<Res> {
    if (this.closing) return Promise.reject(new Error('worker pool is closed'));
    const ready = this.slots.filter((s) => s.ready);
    let slot = leastBusy(ready.length > 0 ? ready : this.slots);
    if ((slot === undefined || slot.inFlight.size > 0) && this.slots.length < this.max) {
      const starting = this.slots.length > ready.length;
      // With a ready thread busy, one more starts beside it (one at a time) and the task stays queued on it.
      if (ready.length === 0) slot = this.spawn();
      else if (!starting) this.spawn();
    }
    clearTimeout(slot!.idle);
    const id = this.nextId++;
    return new Promise<Res>((resolve, reject) => {
      slot!.inFlight.set(id, { resolve, reject });
      slot!.worker.postMessage({ id, request });
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    const slots = this.slots.splice(0);
    for (const s of slots) clearTimeout(s.idle);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}

function leastBusy<Res>(slots: Slot<Res>[]): Slot<Res> | undefined {
  let best = slots[0];
  for (const s of slots) if (s.inFlight.size < best!.inFlight.size) best = s;
  return best;
}
