import { MODERATION_LISTS, RELAY_INFO_FIELDS, type ModerationDecision } from './moderation.js';

/**
 * An operator's decision that changes stored state: a moderation decision (NIP-86, `powr-relay
 * ban|allow`) or a retention cut-off (`powr-relay prune`). In cluster mode it travels through the
 * cluster's stream as its own entry, so every node applies it at the same place among the writes.
 */
export type Decision =
  | { op: 'moderate'; decision: ModerationDecision }
  /** Events of `kind` created before `before` (unix seconds) go. */
  | { op: 'prune'; kind: number; before: number };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string';
const isList = (v: unknown) => (MODERATION_LISTS as readonly unknown[]).includes(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

function entryProblem(v: unknown, withReason: boolean): boolean {
  return !isObject(v) || !isList(v.list) || !isString(v.value) || (withReason && !isString(v.reason));
}

function moderationProblem(d: unknown): string | undefined {
  if (!isObject(d) || !Array.isArray(d.add) || !Array.isArray(d.drop)) return 'a moderation decision needs add and drop lists';
  if (d.add.some((e) => entryProblem(e, true)) || d.drop.some((e) => entryProblem(e, false))) return 'a moderation entry is malformed';
  if (d.lift !== undefined && (entryProblem(d.lift, true) || !isList((d.lift as Record<string, unknown>).refusing))) return 'its lift is malformed';
  if (d.info !== undefined && (!isObject(d.info) || !(RELAY_INFO_FIELDS as readonly unknown[]).includes(d.info.field) || !isString(d.info.value))) {
    return 'its relay information is malformed';
  }
  return undefined;
}

/** A decision read from outside this process (the cluster's stream), or why it is not one. */
export function readDecision(raw: unknown): { decision: Decision } | { problem: string } {
  if (!isObject(raw)) return { problem: 'not a JSON object' };
  if (raw.op === 'moderate') {
    const problem = moderationProblem(raw.decision);
    return problem ? { problem } : { decision: { op: 'moderate', decision: raw.decision as ModerationDecision } };
  }
  if (raw.op === 'prune') {
    if (!isInt(raw.kind) || raw.kind < 0 || raw.kind > 65535 || !isInt(raw.before)) return { problem: 'a prune needs a kind and a cut-off time' };
    return { decision: { op: 'prune', kind: raw.kind, before: raw.before } };
  }
  return { problem: `unknown decision ${JSON.stringify(raw.op)}` };
}
