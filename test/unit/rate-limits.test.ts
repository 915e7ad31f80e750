import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { RateLimits } from '../../src/relay/rate-limits.js';

const limits = (env: Record<string, string> = {}) => new RateLimits(loadConfig({ POWR_RELAY_CONFIG: '', ...env }));

describe('client address behind proxies', () => {
  const l = limits({ POWR_RELAY_TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1' });

  it('believes X-Forwarded-For only from a trusted proxy', () => {
    expect(l.clientAddress('203.0.113.9', '1.2.3.4')).toBe('203.0.113.9');
    expect(l.clientAddress('127.0.0.1', '1.2.3.4')).toBe('1.2.3.4');
    expect(l.clientAddress('127.0.0.1', undefined)).toBe('127.0.0.1');
  });

  it('takes the rightmost hop that is not a trusted proxy, so a client cannot forge its address', () => {
    expect(l.clientAddress('10.1.2.3', '6.6.6.6, 1.2.3.4, 10.9.9.9')).toBe('1.2.3.4');
    expect(l.clientAddress('10.1.2.3', ['6.6.6.6', '1.2.3.4'])).toBe('1.2.3.4');
    expect(l.clientAddress('10.1.2.3', 'garbage, 10.2.2.2')).toBe('10.2.2.2');
  });

  it('treats IPv4-mapped IPv6 peers as IPv4', () => {
    expect(l.clientAddress('::ffff:127.0.0.1', '1.2.3.4')).toBe('1.2.3.4');
    expect(l.clientAddress('::ffff:198.51.100.1', undefined)).toBe('198.51.100.1');
  });
});

describe('token buckets', () => {
  it('allows a minute of burst, then refuses, per address, and exempts the allowlist', () => {
    const l = limits({ POWR_RELAY_EVENTS_PER_MINUTE_PER_IP: '5', POWR_RELAY_IP_ALLOWLIST: '192.0.2.0/24' });
    const results = Array.from({ length: 7 }, () => l.event('203.0.113.1'));
    expect(results.slice(0, 5)).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(results.slice(5)).toEqual([expect.stringMatching(/^rate-limited: /), expect.stringMatching(/^rate-limited: /)]);
    expect(l.event('203.0.113.2')).toBeUndefined();
    expect(Array.from({ length: 20 }, () => l.event('192.0.2.44')).every((r) => r === undefined)).toBe(true);
  });

  it('counts open connections per address and frees them on disconnect', () => {
    const l = limits({ POWR_RELAY_MAX_CONNECTIONS_PER_IP: '2' });
    expect(l.connect('203.0.113.1')).toBeUndefined();
    expect(l.connect('203.0.113.1')).toBeUndefined();
    expect(l.connect('203.0.113.1')).toMatch(/^rate-limited: too many open connections/);
    l.disconnect('203.0.113.1');
    expect(l.connect('203.0.113.1')).toBeUndefined();
  });

  it('names the key of a bad list entry', () => {
    expect(() => limits({ POWR_RELAY_TRUSTED_PROXIES: '10.0.0.0/33' })).toThrow(/^POWR_RELAY_TRUSTED_PROXIES: every entry must be an IP address or CIDR block, got "10.0.0.0\/33"/);
    expect(() => limits({ POWR_RELAY_WRITE_ALLOWLIST: 'npub1abc' })).toThrow(/^POWR_RELAY_WRITE_ALLOWLIST: every entry must be 64 lowercase hex/);
  });
});
