import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';

interface Task<Res> {
  resolve: (result: Res) => void;
  reject: (err: Error) => void;
}

interface Slot<Res> {
  worker: Worker;
  inFlight: Map<number, Task<Res>>;
}

/**
 * A fixed set of worker threads running one module. Each task goes to the least busy thread; a thread
 * that dies fails only its own tasks and is replaced, so one poisoned input cannot stop the relay.
 */
export class WorkerPool<Req, Res> {
  private readonly slots: Slot<Res>[] = [];
  private nextId = 0;
  private closing = false;

  constructor(
    private readonly file: URL,
    size: number,
    private readonly workerData: unknown,
    private readonly log: Logger,
  ) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  get size(): number {
    return this.slots.length;
  }

  /** Tasks sent to threads and not yet answered. */
  get queued(): number {
    return this.slots.reduce((n, s) => n + s.inFlight.size, 0);
  }

  private spawn(): Slot<Res> {
    const slot: Slot<Res> = { worker: new Worker(this.file, { workerData: this.workerData }), inFlight: new Map() };
    slot.worker.on('message', ({ id, result }: { id: number; result: Res }) => {
      const task = slot.inFlight.get(id);
      slot.inFlight.delete(id);
      task?.resolve(result);
    });
    const fail = (err: Error) => {
      for (const task of slot.inFlight.values()) task.reject(err);
      slot.inFlight.clear();
      if (this.closing) return;
      this.log.error({ err }, 'worker thread died; starting a new one');
      const index = this.slots.indexOf(slot);
      if (index >= 0) this.slots[index] = this.spawn();
    };
    slot.worker.on('error', fail);
    slot.worker.on('exit', (code) => {
      if (!this.closing) fail(new Error(`worker thread exited with code ${code}`));
    });
    return slot;
  }

  run(request: Req): Promise<Res> {
    if (this.closing) return Promise.reject(new Error('worker pool is closed'));
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.inFlight.size < slot.inFlight.size) slot = s;
    const id = this.nextId++;
    return new Promise<Res>((resolve, reject) => {
      slot.inFlight.set(id, { resolve, reject });
      slot.worker.postMessage({ id, request });
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
