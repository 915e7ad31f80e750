import { parseArgs } from 'node:util';
import { startRelayProcess } from '../bench/relay-process.js';
import { fuzzRelay } from './fuzz-relay.js';

const USAGE = `npm run fuzz -- [--seconds N] [--seed S] [--url ws://host:port]

  Sends seeded hostile frames to a relay (by default powr-relay started on a fresh database) for N
  seconds (default 60), one connection per seed, checking that every frame is answered with a
  standard prefix and that the relay keeps serving. Exits 1 and prints the failing frames otherwise.`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { seconds: { type: 'string', default: '60' }, seed: { type: 'string' }, url: { type: 'string' }, help: { type: 'boolean' } },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const seconds = Number(values.seconds);
  if (!(seconds > 0)) throw new Error(`--seconds must be a positive number, got ${values.seconds}`);
  let seed = values.seed === undefined ? Date.now() % 1_000_000 : Number(values.seed);
  if (!Number.isSafeInteger(seed)) throw new Error(`--seed must be an integer, got ${values.seed}`);
  const relay = values.url ? undefined : await startRelayProcess({ POWR_RELAY_RATE_LIMITS: 'off', POWR_RELAY_LOG_LEVEL: 'info' });
  const url = values.url ?? relay!.url;
  const stopAt = Date.now() + seconds * 1000;
  let frames = 0;
  let failures = 0;
  try {
    // A fresh seed (and connection) every 2,000 frames keeps failures reproducible with --seed.
    while (Date.now() < stopAt) {
      const report = await fuzzRelay(url, seed, { frames: 2000, seconds: (stopAt - Date.now()) / 1000 });
      frames += report.frames;
      failures += report.failures.length;
      for (const f of report.failures) process.stdout.write(`${JSON.stringify(f)}\n`);
      process.stderr.write(`[fuzz] seed ${seed}: ${report.frames} frames, ${report.failures.length} failures\n`);
      if (relay && relay.proc.exitCode !== null) throw new Error(`the relay exited with ${relay.proc.exitCode}: ${relay.stderr()}`);
      seed++;
    }
  } finally {
    await relay?.stop();
  }
  process.stderr.write(`[fuzz] ${frames} frames in ${seconds} s, ${failures} failures\n`);
  return failures === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fuzz: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(1);
  },
);
