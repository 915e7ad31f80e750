import { parentPort, workerData } from 'node:worker_threads';
import type { ValidationMode } from '../powr/types.js';
import type { NostrEvent } from '../protocol/event.js';
import { checkEvent, forWriter } from './check-event.js';
import { announceThread } from './thread-cpu.js';

announceThread('verify');

const mode = (workerData as { mode: ValidationMode }).mode;

// Events arrive as JSON text: parsing here costs this thread, not the main one, what a structured
// clone of the object would have cost the main thread.
parentPort!.on('message', ({ id, request }: { id: number; request: string }) => {
  parentPort!.postMessage({ id, result: forWriter(checkEvent(JSON.parse(request) as NostrEvent, mode)) });
});
