import { parentPort, workerData } from 'node:worker_threads';
import { initNostrWasm } from 'nostr-wasm';
import type { ValidationMode } from '../powr/types.js';
import type { NostrEvent } from '../protocol/event.js';
import { checkEvent } from './check-event.js';

// libsecp256k1 compiled to WebAssembly: about five times the speed of the pure-JS verifier here.
const secp = await initNostrWasm();
const mode = (workerData as { mode: ValidationMode }).mode;

parentPort!.on('message', ({ id, request }: { id: number; request: NostrEvent }) => {
  parentPort!.postMessage({ id, result: checkEvent(request, (e) => secp.verifyEvent(e), mode) });
});
