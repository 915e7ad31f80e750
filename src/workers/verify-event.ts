import { createHash } from 'node:crypto';
import { canonicalJson, idPreimage, type NostrEvent } from '../protocol/event.js';

export type Verification = { ok: true; json: string } | { ok: false; reason: string };

/** Throws when the BIP-340 signature over the event id does not verify. */
export type SignatureCheck = (event: NostrEvent) => void;

/**
 * Recomputes the id from the NIP-01 serialisation and checks the signature. On success returns the
 * canonical JSON the store keeps, so serialisation also happens off the main thread.
 */
export function verifyEvent(event: NostrEvent, checkSignature: SignatureCheck): Verification {
  const id = createHash('sha256').update(idPreimage(event)).digest('hex');
  if (id !== event.id) return { ok: false, reason: 'invalid: event id does not match the hash of its content' };
  try {
    checkSignature(event);
  } catch {
    return { ok: false, reason: 'invalid: signature verification failed' };
  }
  return { ok: true, json: canonicalJson(event) };
}
