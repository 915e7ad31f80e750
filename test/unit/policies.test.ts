import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/settings.js';
import { viewersFor } from '../../src/powr/privacy.js';
import { parseFilter, type Filter } from '../../src/protocol/filter.js';
import { READ_POLICIES, WRITE_POLICIES, firstRefusal } from '../../src/relay/policies.js';
import type { RateLimits } from '../../src/relay/rate-limits.js';
import { signer } from '../helpers/client.js';

const base = loadConfig({ POWR_RELAY_CONFIG: '' });

/** Rate limits that record which buckets were charged, and refuse when told to. */
function limits(refuse = false) {
  const charged: string[] = [];
  const take = (bucket: string) => () => {
    charged.push(bucket);
    return refuse ? `rate-limited: ${bucket}` : undefined;
  };
  return { charged, limits: { event: take('event'), req: take('req') } as unknown as RateLimits };
}

function filter(raw: unknown): Filter {
  const parsed = parseFilter(raw, base);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

describe('the write chain', () => {
  const alice = signer();
  const write = (config: Config, authed: string[], trusted = false, refuse = false, tags: string[][] = []) => {
    const l = limits(refuse);
    const refusal = firstRefusal(WRITE_POLICIES, { event: alice.sign({ tags }), ip: '10.0.0.1', authed: new Set(authed), trusted,
      config, limits: l.limits });
    return { refusal, charged: l.charged };
  };

  it('spends an event token only on an event every access rule lets through', () => {
    const allowlisted = { ...base, writeAllowlist: ['b'.repeat(64)] };
    expect(write(allowlisted, [])).toEqual({ refusal: 'restricted: this relay accepts events only from its allowed authors', charged: [] });
    expect(write({ ...base, restrictedWrites: true }, [])).toEqual({
      refusal: 'auth-required: this relay accepts events only from authenticated clients (NIP-42)', charged: [] });
    expect(write(base, [], false, true)).toEqual({ refusal: 'rate-limited: event', charged: ['event'] });
    expect(write(base, [])).toEqual({ refusal: undefined, charged: ['event'] });
  });

  it('asks for AUTH for a protected event, and lets the operator import past the access rules', () => {
    expect(write(base, [], false, false, [['-']]).refusal).toMatch(/^auth-required: this event is protected/);
    expect(write(base, [alice.pubkey], false, false, [['-']]).refusal).toBeUndefined();
    expect(write({ ...base, restrictedWrites: true, writeAllowlist: ['b'.repeat(64)] }, [], true)).toEqual({ refusal: undefined, charged: [] });
  });
});

describe('the read chain', () => {
  const read = (filters: Filter[], authed: string[], refuse = false, config: Config = base) => {
    const l = limits(refuse);
    const refusal = firstRefusal(READ_POLICIES, { filters, ip: '10.0.0.1', authed: new Set(authed),
      viewers: viewersFor(config, authed), limits: l.limits });
    return { refusal, charged: l.charged };
  };

  it('charges the REQ bucket first, then asks anonymous readers of restricted kinds to authenticate', () => {
    expect(read([filter({ kinds: [1] })], [])).toEqual({ refusal: undefined, charged: ['req'] });
    expect(read([filter({ kinds: [4] })], [], true).refusal).toBe('rate-limited: req');
    expect(read([filter({ kinds: [1] }), filter({ kinds: [1059] })], []).refusal).toMatch(/^auth-required: events of kinds 4, 1059 /);
    expect(read([filter({ kinds: [4] })], ['a'.repeat(64)]).refusal).toBeUndefined();
    // Without kinds, restricted events are left out row by row instead.
    expect(read([filter({ authors: ['a'.repeat(64)] })], []).refusal).toBeUndefined();
  });

  it('refuses, without charging a token, a filter whose only conditions are tags the store does not index', () => {
    const alone = read([filter({ kinds: [1] }), filter({ '#client': ['POWR'], since: 10 })], []);
    expect(alone).toEqual({ charged: [], refusal: 'unsupported: #client is not indexed on this relay; add ids, authors or kinds to '
      + 'the filter (indexed tags: single letters, #exercise, #template, #title, #description)' });
    for (const raw of [{ kinds: [33402], '#alt': ['x'] }, { '#title': ['Push Day'] }, { authors: ['a'.repeat(64)], '#client': ['x'] }, { '#t': ['x'], '#client': ['x'] },
      { '#exercise': ['running'] }, { '#Z': ['x'] }, { '#client': [] }]) {
      expect(read([filter(raw)], []).refusal, JSON.stringify(raw)).toBeUndefined();
    }
  });

  it('follows the configured kinds', () => {
    expect(read([filter({ kinds: [4] })], [], false, { ...base, restrictedReadKinds: [] }).refusal).toBeUndefined();
    expect(read([filter({ kinds: [1301] })], [], false, { ...base, privateRecords: true }).refusal).toMatch(/^auth-required: events of kinds 4, 1059, 1301, 33403 /);
  });
});
