import { MethodError, runMethod } from '../management/management-methods.js';
import { CliError, withStore } from './common.js';

/** `powr-relay ban|allow <what> <value>`: the NIP-86 method each runs. */
const DECISIONS: Record<'ban' | 'allow', Record<string, string>> = {
  ban: { pubkey: 'banpubkey', event: 'banevent', kind: 'disallowkind', ip: 'blockip' },
  allow: { pubkey: 'allowpubkey', event: 'allowevent', kind: 'allowkind', ip: 'unblockip' },
};

/** `powr-relay list <what>`. */
const LISTS: Record<string, string> = {
  'banned-pubkeys': 'listbannedpubkeys',
  'allowed-pubkeys': 'listallowedpubkeys',
  'banned-events': 'listbannedevents',
  'allowed-kinds': 'listallowedkinds',
  'blocked-ips': 'listblockedips',
};

/** Runs a NIP-86 method; `decides`: it changes a decision (so in cluster mode it goes through the stream). */
function call(method: string, params: unknown[], decides = false): Promise<unknown> {
  return withStore(async (store) => {
    try {
      return (await runMethod(method, params, store)).result;
    } catch (err) {
      throw err instanceof MethodError ? new CliError(err.message) : err;
    }
  }, decides);
}

/**
 * The same decisions as the management API, written through the storage port of this process; a
 * relay running on the database notices them within a second (the writer's poll of other commits).
 * With POWR_RELAY_CLUSTER_NATS set they go through the cluster's stream, so every node applies them.
 */
export async function decide(verb: 'ban' | 'allow', what: string | undefined, value: string | undefined, reason: string | undefined): Promise<string> {
  const choices = Object.keys(DECISIONS[verb]).join('|');
  const method = what === undefined ? undefined : DECISIONS[verb][what];
  if (method === undefined) throw new CliError(`${verb}: say what to ${verb}: ${verb} ${choices} <value>`);
  if (value === undefined) throw new CliError(`${verb} ${what}: give the ${what} to ${verb}`);
  const param = what === 'kind' && /^\d+$/.test(value) ? Number(value) : value;
  await call(method, [param, reason ?? ''], true);
  return `${verb === 'ban' ? 'banned' : 'allowed'} ${what} ${value}\n`;
}

export async function list(what: string | undefined): Promise<string> {
  const method = what === undefined ? undefined : LISTS[what];
  if (method === undefined) throw new CliError(`list: say which list: ${Object.keys(LISTS).join('|')}`);
  const entries = (await call(method, [])) as (number | Record<string, string>)[];
  return entries.map((e) => (typeof e === 'number' ? String(e) : Object.values(e).filter((v) => v !== '').join('  '))).join('\n') + (entries.length ? '\n' : '');
}
