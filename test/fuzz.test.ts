import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/bench/rng.js';
import { loadConfig } from '../src/config/load.js';
import { FrameFuzzer } from '../src/fuzz/frames.js';
import { STANDARD_PREFIX, fuzzRelay } from '../src/fuzz/fuzz-relay.js';
import { checkEventShape } from '../src/protocol/event.js';
import { parseFilter } from '../src/protocol/filter.js';
import { parseClientMessage } from '../src/protocol/messages.js';
import { startRelay, type RunningRelay } from './helpers/relay.js';

const config = loadConfig({ POWR_RELAY_CONFIG: '' });

describe('parser fuzz (seeded)', () => {
  it('never throws on 5,000 hostile frames, and every refusal carries a standard prefix', () => {
    const fuzzer = new FrameFuzzer(1);
    const rng = new Rng(2);
    for (let i = 0; i < 5000; i++) {
      const { data } = fuzzer.next();
      const text = data.toString();
      const msg = parseClientMessage(text, config);
      if ('reply' in msg) {
        const [, a, b] = JSON.parse(msg.reply) as [string, string, string?];
        expect(b ?? a, text.slice(0, 200)).toMatch(STANDARD_PREFIX);
        continue;
      }
      if (msg.type === 'EVENT' || msg.type === 'AUTH') {
        const checked = checkEventShape(msg.event, config, Math.floor(Date.now() / 1000));
        if (!checked.ok) expect(checked.reason).toMatch(STANDARD_PREFIX);
      } else if (msg.type === 'REQ' || msg.type === 'COUNT') {
        for (const f of msg.filters) {
          const parsed = parseFilter(f, config);
          if (!parsed.ok) expect(parsed.reason, text.slice(0, 200)).toMatch(STANDARD_PREFIX);
        }
      }
      // Truncations of valid frames are the commonest real-world garbage.
      const cut = text.slice(0, rng.int(0, text.length));
      const truncated = parseClientMessage(cut, config);
      if ('reply' in truncated) expect(truncated.reply).toMatch(/"(invalid|unsupported): /);
    }
  });
});

describe('live relay fuzz (seeded)', () => {
  let relay: RunningRelay;
  beforeAll(async () => {
    relay = await startRelay({ POWR_RELAY_RATE_LIMITS: 'off' });
  });
  afterAll(() => relay.stop());

  for (const seed of [11, 12]) {
    it(`answers 300 hostile frames (seed ${seed}) with standard prefixes and keeps serving every connection`, async () => {
      const report = await fuzzRelay(relay.url, seed, { frames: 300 });
      expect(report.failures).toEqual([]);
      expect(report.frames).toBe(300);
      expect(report.answers).toBeGreaterThan(250);
      expect(relay.proc.exitCode).toBeNull();
    }, 60_000);
  }
});
