import { parentPort } from 'node:worker_threads';
import { initNostrWasm } from 'nostr-wasm';
import type { NostrEvent } from '../protocol/event.js';
import { verifyEvent } from './verify-event.js';

// libsecp256k1 compiled to WebAssembly: about five times the speed of the pure-JS verifier here.
const secp = await initNostrWasm();

parentPort!.on('message', ({ id, request }: { id: number; request: NostrEvent }) => {
  parentPort!.postMessage({ id, result: verifyEvent(request, (e) => secp.verifyEvent(e)) });
});
