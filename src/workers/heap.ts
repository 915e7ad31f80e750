import type { Logger } from 'pino';

/**
 * A full collection of this thread's heap that also gives back what V8 grew under load: after a
 * 20k-event load the main thread kept a 32 MiB young generation and 42 MiB of old space (23 MiB in
 * use) while it stayed quiet, since V8 collects when something allocates. This is a low-memory
 * notification, asked through the inspector protocol, which needs no flag (measured: that relay
 * 210 -> 152 MiB; 79 -> 74 MiB right after start; 50-200 ms of the main thread, once).
 */
export async function compactHeap(): Promise<void> {
  const { Session } = await import('node:inspector');
  const session = new Session();
  session.connect();
  try {
    await new Promise<void>((resolve, reject) => session.post('HeapProfiler.collectGarbage', (err) => (err ? reject(err) : resolve())));
  } finally {
    session.disconnect();
  }
}

/** How often the relay looks whether its pools have gone quiet. */
export const QUIET_CHECK_MS = 10_000;

/**
 * Runs `compact` once each time the relay goes quiet: the last pool thread has stopped (every pool
 * idle for IDLE_THREAD_MS) after some were running. Never while threads run, never twice in a quiet spell.
 */
export function compactWhenQuiet(threads: () => number, log: Logger, compact = compactHeap, everyMs = QUIET_CHECK_MS): NodeJS.Timeout {
  let busy = false;
  const timer = setInterval(() => {
    const running = threads() > 0;
    if (busy && !running) compact().catch((err: unknown) => log.warn({ err }, 'could not compact the heap'));
    busy = running;
  }, everyMs);
  timer.unref();
  return timer;
}
