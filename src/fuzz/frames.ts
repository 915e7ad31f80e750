import { createHash } from 'node:crypto';
import { Rng } from '../bench/rng.js';
import type { NostrEvent } from '../protocol/event.js';
import { signEvent } from '../workers/schnorr.js';

/** One client frame for the fuzzer: text or raw bytes sent as a text frame. */
export interface HostileFrame {
  data: string | Buffer;
  /** What it mutates, for reports. */
  family: string;
}

const JUNK = ['\u0000', '\uffff', '\ud800', '"', '\\', '{', '[', ']', '}', ',', ':', 'null', '\n', 'é', '💪', 'A', '0'];
const VERBS = ['EVENT', 'REQ', 'COUNT', 'CLOSE', 'AUTH', 'event', 'HELLO', '', 'NEG-OPEN', 'REQ '];
const ODD_NUMBERS = [-1, 0, 1.5, 2 ** 53 + 1, 1e308, -1e308, 4294967296, 65536, 1e21];
const ODD_VALUES: unknown[] = [null, true, {}, [], '', 'x', '\u0000', ...ODD_NUMBERS, 'A'.repeat(64), 'g'.repeat(64), 'a'.repeat(63), 'a'.repeat(65)];

function junk(rng: Rng, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += rng.chance(0.5) ? rng.pick(JUNK) : String.fromCharCode(rng.int(0, 0x2fff));
  return s;
}

function hexish(rng: Rng): string {
  return rng.pick(['a'.repeat(64), 'A'.repeat(64), 'a'.repeat(63), '0x' + 'a'.repeat(62), 'z'.repeat(64), '', 'a'.repeat(128)]);
}

/** A deterministic key, so a seed reproduces the same signed events. */
function keyFor(seed: number): Buffer {
  return createHash('sha256').update(`powr-fuzz-${seed}`).digest();
}

/**
 * Hostile and malformed client frames, from a seed: garbage, invalid UTF-8, deep nesting, wrong
 * types, odd numbers, enormous arrays, unknown verbs, bad hex, and valid events and filters with
 * one thing broken. Some stay valid; the relay must answer every one sensibly either way.
 */
export class FrameFuzzer {
  private readonly rng: Rng;
  private readonly key: Buffer;
  private n = 0;

  constructor(seed: number) {
    this.rng = new Rng(seed);
    this.key = keyFor(seed);
  }

  private event(): NostrEvent {
    const rng = this.rng;
    return signEvent({
      kind: rng.pick([1, 7, 1301, 33401, 33402, 5, 0, 20001, 30003]), created_at: Math.floor(Date.now() / 1000) - rng.int(0, 1000),
      content: rng.chance(0.3) ? junk(rng, rng.int(0, 40)) : `fuzz ${this.n}`,
      tags: rng.chance(0.5) ? [['t', 'fuzz'], ['d', `d${rng.int(0, 5)}`]] : [['exercise', `33401:${'a'.repeat(64)}:x`, '', '1', '2']],
    }, this.key);
  }

  /** A filter with one field likely wrong. */
  private filter(): Record<string, unknown> {
    const rng = this.rng;
    const f: Record<string, unknown> = {};
    if (rng.chance(0.4)) f.kinds = rng.chance(0.7) ? [rng.pick([1, 1301, 33402, 7])] : [rng.pick(ODD_VALUES)];
    if (rng.chance(0.3)) f.authors = [hexish(rng)];
    if (rng.chance(0.2)) f.ids = [hexish(rng)];
    if (rng.chance(0.3)) f[rng.pick(['#e', '#p', '#t', '#exercise', '#', '#ab', 'e'])] = [rng.chance(0.5) ? hexish(rng) : rng.pick(ODD_VALUES)];
    if (rng.chance(0.3)) f[rng.pick(['since', 'until', 'limit'])] = rng.pick(ODD_VALUES);
    if (rng.chance(0.1)) f.resolve = rng.pick([true, 'yes', 1]);
    if (rng.chance(0.1)) f[junk(rng, 3)] = rng.pick(ODD_VALUES);
    return f;
  }

  next(): HostileFrame {
    const rng = this.rng;
    this.n++;
    const sub = () => (rng.chance(0.8) ? `s${this.n}` : rng.pick(ODD_VALUES));
    switch (rng.int(0, 11)) {
      case 0:
        return { family: 'garbage text', data: junk(rng, rng.int(0, 200)) };
      case 1: {
        const bytes = Buffer.alloc(rng.int(1, 64));
        for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(0x80, 0xff);
        return { family: 'invalid UTF-8', data: Buffer.concat([Buffer.from('["REQ","u",{"#t":["'), bytes, Buffer.from('"]}]')]) };
      }
      case 2: {
        const depth = rng.pick([100, 5000, 50_000]);
        return { family: 'deep nesting', data: rng.chance(0.5) ? '['.repeat(depth) + ']'.repeat(depth) : `["REQ","deep",${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}]` };
      }
      case 3:
        return { family: 'enormous array', data: JSON.stringify(['REQ', 'big', { kinds: Array.from({ length: rng.pick([1001, 30_000]) }, (_, i) => i) }]) };
      case 4:
        return { family: 'unknown or odd verb', data: JSON.stringify([rng.pick(VERBS), ...Array.from({ length: rng.int(0, 3) }, () => rng.pick(ODD_VALUES))]) };
      case 5:
        return { family: 'not a message', data: JSON.stringify(rng.pick([{}, 'EVENT', 42, null, [], [1, 2], [['REQ']], { 0: 'REQ' }])) };
      case 6:
        return { family: 'odd filter', data: JSON.stringify([rng.pick(['REQ', 'COUNT']), sub(), ...Array.from({ length: rng.int(0, 3) }, () => this.filter())]) };
      case 7: {
        const e: Record<string, unknown> = { ...this.event() };
        const field = rng.pick(['id', 'pubkey', 'sig', 'kind', 'created_at', 'tags', 'content']);
        e[field] = rng.pick([...ODD_VALUES, [['t']], [[1, 2]], [['t', 'x'.repeat(5000)]], { t: 'x' }]);
        return { family: `event with odd ${field}`, data: JSON.stringify(['EVENT', e]) };
      }
      case 8: {
        const e = this.event();
        const flip = rng.pick(['id', 'sig', 'content'] as const);
        const value = e[flip];
        const at = rng.int(0, Math.max(0, value.length - 1));
        const broken = { ...e, [flip]: value.slice(0, at) + (value[at] === 'a' ? 'b' : 'a') + value.slice(at + 1) };
        return { family: 'event with one character changed', data: JSON.stringify(['EVENT', rng.chance(0.3) ? e : broken]) };
      }
      case 9:
        return { family: 'AUTH', data: JSON.stringify(['AUTH', rng.chance(0.5) ? { ...this.event(), kind: 22242 } : rng.pick(ODD_VALUES)]) };
      case 10:
        return { family: 'CLOSE', data: JSON.stringify(['CLOSE', ...Array.from({ length: rng.int(0, 2) }, () => sub())]) };
      default:
        return { family: 'NUL and control characters', data: JSON.stringify(['REQ', `n\u0000${this.n}`, { '#t': ['\u0000', '\u0007'], kinds: [1] }]) };
    }
  }
}
