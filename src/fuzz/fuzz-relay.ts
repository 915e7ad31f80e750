import WebSocket from 'ws';
import { FrameFuzzer, type HostileFrame } from './frames.js';

/** NIP-01's machine-readable prefixes, NIP-42's auth-required, and unsupported (seen on CLOSED). */
export const STANDARD_PREFIX = /^(duplicate|pow|blocked|rate-limited|invalid|restricted|mute|error|auth-required|unsupported): /;

export interface FuzzFailure {
  seed: number;
  index: number;
  family: string;
  frame: string;
  problem: string;
}

export interface FuzzReport {
  frames: number;
  answers: number;
  failures: FuzzFailure[];
}

type Frame = [string, ...unknown[]];

/** A socket that queues what it receives so the fuzzer can wait for the next frame. */
class Conn {
  private queue: Frame[] = [];
  private waiter: (() => void) | undefined;
  closed = false;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      let frame: Frame;
      try {
        frame = JSON.parse(data.toString()) as Frame;
      } catch {
        frame = ['UNPARSABLE', data.toString().slice(0, 200)];
      }
      this.queue.push(frame);
      this.waiter?.();
    });
    ws.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
  }

  static open(url: string): Promise<Conn> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Conn(ws)));
      ws.once('error', reject);
    });
  }

  /** The next frame matching `match` (earlier ones are dropped), or undefined after `timeoutMs`. */
  async next(match: (f: Frame) => boolean, timeoutMs: number): Promise<Frame | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.queue.length > 0) {
        const f = this.queue.shift()!;
        if (match(f)) return f;
      }
      if (this.closed || Date.now() >= deadline) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  /** Everything received so far. */
  drain(): Frame[] {
    return this.queue.splice(0);
  }

  close(): void {
    this.ws.terminate();
  }
}

/** A well-formed CLOSE is the one message NIP-01 lets the relay leave unanswered. */
function isValidClose(data: string | Buffer): boolean {
  try {
    const msg = JSON.parse(data.toString()) as unknown[];
    return Array.isArray(msg) && msg.length === 2 && msg[0] === 'CLOSE' && typeof msg[1] === 'string' && msg[1].length > 0 && msg[1].length <= 64;
  } catch {
    return false;
  }
}

/** What is wrong with a relay frame, if anything: a refusal without a standard prefix, or nonsense. */
function badAnswer(f: Frame): string | undefined {
  const [verb] = f;
  const message = verb === 'OK' ? (f[2] === false ? f[3] : undefined) : verb === 'NOTICE' ? f[1] : verb === 'CLOSED' || verb === 'NEG-ERR' ? f[2] : undefined;
  if (!['OK', 'NOTICE', 'CLOSED', 'EOSE', 'EVENT', 'COUNT', 'AUTH', 'NEG-MSG', 'NEG-ERR'].includes(String(verb))) return `unexpected frame ${JSON.stringify(f).slice(0, 200)}`;
  if (message !== undefined && (typeof message !== 'string' || !STANDARD_PREFIX.test(message))) {
    return `${verb} without a standard prefix: ${JSON.stringify(message)}`;
  }
  return undefined;
}

/**
 * Sends hostile frames one at a time on one connection and checks that each is answered (every verb
 * but CLOSE gets a reply), that every refusal carries a standard prefix, and that after each one the
 * same connection and a second, well-behaved one are still served. Stops after `frames` frames or
 * `seconds` seconds, whichever comes first.
 */
export async function fuzzRelay(url: string, seed: number, limits: { frames?: number; seconds?: number }): Promise<FuzzReport> {
  const fuzzer = new FrameFuzzer(seed);
  const report: FuzzReport = { frames: 0, answers: 0, failures: [] };
  let conn = await Conn.open(url);
  const bystander = await Conn.open(url);
  const stopAt = Date.now() + (limits.seconds ?? Infinity) * 1000;
  const maxFrames = limits.frames ?? Infinity;
  const fail = (index: number, frame: HostileFrame, problem: string) =>
    report.failures.push({ seed, index, family: frame.family, frame: String(frame.data).slice(0, 300), problem });

  for (let i = 0; i < maxFrames && Date.now() < stopAt; i++) {
    const frame = fuzzer.next();
    report.frames++;
    conn.ws.send(frame.data, { binary: false });
    if (!isValidClose(frame.data)) {
      const first = await conn.next((f) => f[0] !== 'AUTH', 10_000);
      if (!first) fail(i, frame, conn.closed ? 'the relay closed the connection' : 'no answer within 10 s');
      else report.answers++;
    }
    // A probe on the same connection: its answer also flushes every synchronous answer to the frame.
    // CLOSED counts as served (the fuzzer's own REQs may have used up the subscription cap).
    const probeId = `probe-${i}`;
    conn.ws.send(JSON.stringify(['REQ', probeId, { limit: 0 }]));
    conn.ws.send(JSON.stringify(['CLOSE', probeId]));
    const seen: Frame[] = [];
    const probe = await conn.next((f) => {
      seen.push(f);
      return (f[0] === 'EOSE' || f[0] === 'CLOSED') && f[1] === probeId;
    }, 10_000);
    for (const f of seen) {
      const problem = badAnswer(f);
      if (problem) fail(i, frame, problem);
    }
    if (!probe) {
      fail(i, frame, 'the connection stopped being served');
      conn.close();
      conn = await Conn.open(url);
    }
    bystander.ws.send(JSON.stringify(['REQ', 'ok', { limit: 1 }]));
    bystander.ws.send(JSON.stringify(['CLOSE', 'ok']));
    if (!(await bystander.next((f) => f[0] === 'EOSE' && f[1] === 'ok', 10_000))) {
      fail(i, frame, 'another connection stopped being served');
      break;
    }
    bystander.drain();
  }
  // Late answers (OKs after verification) must carry prefixes too.
  await new Promise((r) => setTimeout(r, 200));
  for (const f of conn.drain()) {
    const problem = badAnswer(f);
    if (problem) report.failures.push({ seed, index: report.frames, family: 'late answer', frame: '', problem });
  }
  conn.close();
  bystander.close();
  return report;
}
