import { isIP } from 'node:net';
import { isHex64 } from '../protocol/event.js';
import type { ModerationDecision, ModerationList, ModerationState } from '../store/moderation.js';
import { ChangeRefused, type StoragePort } from '../store/port.js';

/** A call the relay refuses; the message carries its NIP-01 prefix and is the JSON-RPC `error`. */
export class MethodError extends Error {}

const MAX_REASON = 1000;
const MAX_INFO = 2000;

type Params = readonly unknown[];

function pubkeyParam(params: Params): string {
  if (!isHex64(params[0])) throw new MethodError('invalid: the first parameter must be a 64-character lowercase hex pubkey');
  return params[0];
}

function idParam(params: Params): string {
  if (!isHex64(params[0])) throw new MethodError('invalid: the first parameter must be a 64-character lowercase hex event id');
  return params[0];
}

function kindParam(params: Params): string {
  const kind = params[0];
  if (typeof kind !== 'number' || !Number.isInteger(kind) || kind < 0 || kind > 65535) {
    throw new MethodError('invalid: the first parameter must be an event kind, a whole number from 0 to 65535');
  }
  return String(kind);
}

function ipParam(params: Params): string {
  if (typeof params[0] !== 'string' || isIP(params[0]) === 0) throw new MethodError('invalid: the first parameter must be an IPv4 or IPv6 address');
  return params[0];
}

function reasonParam(params: Params): string {
  const reason = params[1] ?? '';
  if (typeof reason !== 'string' || reason.length > MAX_REASON) {
    throw new MethodError(`invalid: the reason (second parameter) must be a string of at most ${MAX_REASON} characters`);
  }
  return reason;
}

function textParam(params: Params, what: string): string {
  const value = params[0];
  if (typeof value !== 'string' || value.length > MAX_INFO) throw new MethodError(`invalid: the ${what} must be a string of at most ${MAX_INFO} characters`);
  return value;
}

function iconParam(params: Params): string {
  const icon = textParam(params, 'icon URL');
  if (icon !== '' && !/^https?:\/\/\S+$/.test(icon)) throw new MethodError('invalid: the icon must be an http:// or https:// URL (or empty to remove it)');
  return icon;
}

/** Puts `value` on `list` with the call's reason and takes it off the list that says the opposite. */
const put = (list: ModerationList, opposite: ModerationList | undefined, value: string, reason: string): ModerationDecision => ({
  add: [{ list, value, reason }], drop: opposite ? [{ list: opposite, value }] : [],
});
const take = (list: ModerationList, value: string): ModerationDecision => ({ add: [], drop: [{ list, value }] });

/**
 * Allowing what is refused lifts the refusal and nothing more (so an unban never turns on an allow
 * list); otherwise the value joins `list`, which, once not empty, is the only values accepted. Which
 * of the two is judged where the decision is applied (in cluster mode, at its place in the stream).
 */
const lift = (list: ModerationList, refusing: ModerationList, value: string, reason: string): ModerationDecision => ({
  add: [], drop: [], lift: { list, refusing, value, reason },
});

type Method =
  | { decide: (params: Params) => ModerationDecision }
  | { list: (state: ModerationState) => unknown };

const entries = (key: string, list: ModerationList) => (state: ModerationState) =>
  state.lists[list].map((e) => ({ [key]: e.value, reason: e.reason }));

/**
 * NIP-86 methods. Bans, blocks and disallowkind always refuse at once (and take the value off its
 * allowed list). allowpubkey and allowkind lift a refusal, or else put the value on the allowed list,
 * which, once not empty, holds the only pubkeys or kinds accepted. docs/operators.md states these rules.
 */
const METHODS: Record<string, Method> = {
  banpubkey: { decide: (p) => put('bannedPubkeys', 'allowedPubkeys', pubkeyParam(p), reasonParam(p)) },
  allowpubkey: { decide: (p) => lift('allowedPubkeys', 'bannedPubkeys', pubkeyParam(p), reasonParam(p)) },
  listbannedpubkeys: { list: entries('pubkey', 'bannedPubkeys') },
  listallowedpubkeys: { list: entries('pubkey', 'allowedPubkeys') },
  banevent: { decide: (p) => put('bannedEvents', undefined, idParam(p), reasonParam(p)) },
  allowevent: { decide: (p) => take('bannedEvents', idParam(p)) },
  listbannedevents: { list: entries('id', 'bannedEvents') },
  allowkind: { decide: (p) => lift('allowedKinds', 'disallowedKinds', kindParam(p), '') },
  disallowkind: { decide: (p) => put('disallowedKinds', 'allowedKinds', kindParam(p), '') },
  listallowedkinds: { list: (s) => s.lists.allowedKinds.map((e) => Number(e.value)) },
  blockip: { decide: (p) => put('blockedIps', undefined, ipParam(p), reasonParam(p)) },
  unblockip: { decide: (p) => take('blockedIps', ipParam(p)) },
  listblockedips: { list: entries('ip', 'blockedIps') },
  changerelayname: { decide: (p) => ({ add: [], drop: [], info: { field: 'name', value: textParam(p, 'name') } }) },
  changerelaydescription: { decide: (p) => ({ add: [], drop: [], info: { field: 'description', value: textParam(p, 'description') } }) },
  changerelayicon: { decide: (p) => ({ add: [], drop: [], info: { field: 'icon', value: iconParam(p) } }) },
};

export const METHOD_NAMES = ['supportedmethods', ...Object.keys(METHODS)];

/** The answer to one call, and whether it changed a decision (the caller re-reads them). */
export interface MethodOutcome {
  result: unknown;
  decided: boolean;
}

/** Runs one NIP-86 method against storage; throws MethodError for a bad method or parameters. */
export async function runMethod(name: unknown, params: unknown, store: StoragePort): Promise<MethodOutcome> {
  if (typeof name !== 'string') throw new MethodError('invalid: "method" must be a string');
  if (!Array.isArray(params)) throw new MethodError('invalid: "params" must be an array');
  if (name === 'supportedmethods') return { result: METHOD_NAMES, decided: false };
  const method = Object.hasOwn(METHODS, name) ? METHODS[name]! : undefined;
  if (!method) throw new MethodError(`invalid: unknown method ${JSON.stringify(name.slice(0, 100))}; supportedmethods lists them`);
  if ('list' in method) return { result: method.list(await store.moderation()), decided: false };
  const decision = method.decide(params);
  try {
    await store.moderate(decision);
  } catch (err) {
    if (err instanceof ChangeRefused) throw new MethodError(err.message);
    throw err;
  }
  return { result: true, decided: true };
}
