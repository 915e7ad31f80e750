import { parentPort, workerData } from 'node:worker_threads';
import type { ValidationMode } from '../powr/types.js';
import type { NostrEvent } from '../protocol/event.js';
import { checkEvent } from './check-event.js';

const mode = (workerData as { mode: ValidationMode }).mode;

parentPort!.on('message', ({ id, request }: { id: number; request: NostrEvent }) => {
  parentPort!.postMessage({ id, result: checkEvent(request, mode) });
});
