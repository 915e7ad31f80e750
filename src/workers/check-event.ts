import { createHash } from 'node:crypto';
import { analyze, verdict } from '../powr/analyze.js';
import { prepare, type PreparedEvent } from '../powr/prepare.js';
import type { Flag, PowrRecord, ValidationMode } from '../powr/types.js';
import { canonicalJson, idPreimage, kindClass, type NostrEvent } from '../protocol/event.js';
import { signatureValid } from './schnorr.js';

export type CheckResult =
  | { ok: true; json: string; record: PowrRecord | null; flags: Flag[]; prepared?: PreparedEvent }
  | { ok: false; reason: string };

/**
 * Everything about one event that needs CPU but no database, in one pass off the main thread: the id
 * recomputed from the NIP-01 serialisation, the signature, the NIP-101e validation, and the canonical
 * JSON the store keeps, and what the writer would otherwise compute inside its transaction (prepare.ts;
 * not for ephemeral events, which are never stored). `verifySignature` false (import --no-verify) skips the id and signature.
 */
export function checkEvent(event: NostrEvent, mode: ValidationMode, verifySignature = true): CheckResult {
  if (verifySignature) {
    const id = createHash('sha256').update(idPreimage(event)).digest('hex');
    if (id !== event.id) return { ok: false, reason: 'invalid: event id does not match the hash of its content' };
    if (!signatureValid(event)) return { ok: false, reason: 'invalid: signature verification failed' };
  }
  const { record, issues } = analyze(event);
  const v = verdict(issues, mode);
  if (!v.accepted) return { ok: false, reason: v.reason };
  const prepared = kindClass(event.kind) === 'ephemeral' ? undefined : prepare(event, record);
  return { ok: true, json: canonicalJson(event), record, flags: v.flags, prepared };
}
