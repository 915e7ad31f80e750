import { createHash } from 'node:crypto';
import { analyze, verdict } from '../powr/analyze.js';
import { prepare, type PreparedEvent } from '../powr/prepare.js';
import type { Flag, PowrRecord, ValidationMode } from '../powr/types.js';
import { canonicalJson, idPreimage, type NostrEvent } from '../protocol/event.js';
import { signatureValid } from './schnorr.js';

export type Checked =
  | { ok: true; json: string; record: PowrRecord | null; flags: Flag[]; prepared: PreparedEvent }
  | { ok: false; reason: string };

/**
 * A check's result as it leaves the verification pool: the prepared event (record and flags included)
 * as JSON text, which the main thread hands on to the writer without looking into it.
 */
export type CheckResult = { ok: true; json: string; prepared: string } | { ok: false; reason: string };

export function forWriter(checked: Checked): CheckResult {
  return checked.ok ? { ok: true, json: checked.json, prepared: JSON.stringify(checked.prepared) } : checked;
}

/**
 * Everything about one event that needs CPU but no database, in one pass off the main thread: the id
 * recomputed from the NIP-01 serialisation, the signature, the NIP-101e validation, and the canonical
 * JSON the store keeps, and what the writer would otherwise compute inside its transaction (prepare.ts).
 * `verifySignature` false (import --no-verify) skips the id and signature.
 */
export function checkEvent(event: NostrEvent, mode: ValidationMode, verifySignature = true): Checked {
  if (verifySignature) {
    const id = createHash('sha256').update(idPreimage(event)).digest('hex');
    if (id !== event.id) return { ok: false, reason: 'invalid: event id does not match the hash of its content' };
    if (!signatureValid(event)) return { ok: false, reason: 'invalid: signature verification failed' };
  }
  const { record, issues } = analyze(event);
  const v = verdict(issues, mode);
  if (!v.accepted) return { ok: false, reason: v.reason };
  return { ok: true, json: canonicalJson(event), record, flags: v.flags, prepared: prepare(event, record, v.flags) };
}
