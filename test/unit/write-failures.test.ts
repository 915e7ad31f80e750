import { describe, expect, it } from 'vitest';
import { NO_FAILURES, TELL_EVERY_MS, due, failed, isDatabaseFault, succeeded, type FailureLine, type Step, type WriteFailures } from '../../src/store/sqlite/write-failures.js';

const FULL = 'database or disk is full';
const T0 = Date.parse('2026-12-05T12:00:00Z');

/** Runs steps in order from `state`, collecting the lines they log. */
function run(state: WriteFailures, steps: ((s: WriteFailures) => Step)[]): { state: WriteFailures; lines: FailureLine[] } {
  const lines: FailureLine[] = [];
  for (const step of steps) {
    const next = step(state);
    state = next.state;
    if (next.line) lines.push(next.line);
  }
  return { state, lines };
}

describe('failing write transactions', () => {
  it('costs nothing while writes succeed', () => {
    expect(succeeded(NO_FAILURES, T0)).toEqual({ state: NO_FAILURES });
    expect(due(NO_FAILURES, T0)).toEqual({ state: NO_FAILURES });
  });

  it('logs the first failure at once, with the error, and reports failing since then', () => {
    const { state, line } = failed(NO_FAILURES, FULL, T0);
    expect(line).toEqual({ level: 'error', msg: expect.stringMatching(/^write transactions fail/),
      detail: { failedTransactions: 1, firstError: FULL, lastError: FULL } });
    expect(state.failing).toEqual({ since: T0, error: FULL });
    expect(state.total).toBe(1);
  });

  it('then at most one summary per interval, counting what happened since the previous line', () => {
    const steps = [];
    // 1,000 failures over 12 s, the last with another error.
    for (let i = 0; i < 1000; i++) steps.push((s: WriteFailures) => failed(s, i === 999 ? 'disk I/O error' : FULL, T0 + i * 12));
    const { state, lines } = run(NO_FAILURES, steps);
    expect(lines.map((l) => l.msg)).toEqual([
      expect.stringMatching(/^write transactions fail/), 'write transactions still fail', 'write transactions still fail',
    ]);
    // The summaries come at the first failure once the interval has passed: 5,004 ms and 10,008 ms.
    expect(lines[1]!.detail).toEqual({ failedTransactions: 417, firstError: FULL, lastError: FULL, failedInAll: 418,
      failingSince: new Date(T0).toISOString() });
    expect(lines[2]!.detail).toMatchObject({ failedTransactions: 417, failedInAll: 835 });
    // The rest is not told yet; /health already has the latest error.
    expect(state.untold).toEqual({ count: 165, first: FULL, last: 'disk I/O error' });
    expect(state.failing).toEqual({ since: T0, error: 'disk I/O error' });
    expect(state.total).toBe(1000);
  });

  it('tells failures followed by silence when the timer finds them due', () => {
    const { state } = run(NO_FAILURES, [(s) => failed(s, FULL, T0), (s) => failed(s, FULL, T0 + 10)]);
    expect(due(state, T0 + TELL_EVERY_MS - 1).line).toBeUndefined();
    const { state: after, line } = due(state, T0 + TELL_EVERY_MS);
    expect(line).toMatchObject({ msg: 'write transactions still fail', detail: { failedTransactions: 1, failedInAll: 2 } });
    // Nothing new: nothing more to say, however long it stays silent.
    expect(due(after, T0 + 10 * TELL_EVERY_MS)).toEqual({ state: after });
  });

  it('clears /health at the first success, and logs the recovery once the interval allows', () => {
    const { state } = run(NO_FAILURES, [(s) => failed(s, FULL, T0), (s) => failed(s, FULL, T0 + 2000)]);
    const ok = succeeded(state, T0 + 3000);
    expect(ok.state.failing).toBeUndefined();
    expect(ok.line).toBeUndefined();
    const { state: done, line } = due(ok.state, T0 + TELL_EVERY_MS);
    expect(line).toEqual({ level: 'info', msg: 'write transactions succeed again',
      detail: { failedTransactions: 1, firstError: FULL, lastError: FULL, failedInAll: 2, failingSeconds: 2 } });
    expect(done).toEqual({ ...NO_FAILURES, total: 2, toldAt: T0 + TELL_EVERY_MS });
    // Successes after that say nothing.
    expect(succeeded(done, T0 + 6000)).toEqual({ state: done });
  });

  it('logs the recovery at once when the last line is old enough', () => {
    const { lines } = run(NO_FAILURES, [(s) => failed(s, FULL, T0), (s) => succeeded(s, T0 + 7000)]);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([['error', expect.stringMatching(/^write transactions fail/)],
      ['info', 'write transactions succeed again']]);
    expect(lines[1]!.detail).toEqual({ failedInAll: 1, failingSeconds: 0 });
  });

  it('does not log a line per flap when failures and successes alternate', () => {
    const steps = [];
    for (let i = 0; i < 1000; i++) {
      steps.push((s: WriteFailures) => failed(s, FULL, T0 + i * 10));
      steps.push((s: WriteFailures) => succeeded(s, T0 + i * 10 + 5));
    }
    const { state, lines } = run(NO_FAILURES, steps);
    // 10 s of flapping (the last failure at 9,990 ms): the first line and one 5 s later, as one episode.
    expect(lines.map((l) => l.msg)).toEqual([expect.stringMatching(/^write transactions fail/), 'write transactions still fail']);
    expect(lines[1]!.detail).toMatchObject({ failedTransactions: 500, failedInAll: 501 });
    expect(state.failing).toBeUndefined();
    expect(state.total).toBe(1000);
    expect(due(state, T0 + 10_000).line).toMatchObject({ msg: 'write transactions succeed again',
      detail: { failedTransactions: 499, failedInAll: 1000, failingSeconds: 9.99 } });
  });

  it('tells failures that came and went between two lines in one line', () => {
    // A recovery line at T0 + 7 s, then one failure 1 s later and a success: within the interval.
    const { state, lines } = run(NO_FAILURES, [(s) => failed(s, FULL, T0), (s) => succeeded(s, T0 + 7000),
      (s) => failed(s, 'disk I/O error', T0 + 8000), (s) => succeeded(s, T0 + 8001)]);
    expect(lines).toHaveLength(2);
    const { line, state: after } = due(state, T0 + 12_000);
    expect(line).toEqual({ level: 'error', msg: 'write transactions failed for a while and succeed again',
      detail: { failedTransactions: 1, firstError: 'disk I/O error', lastError: 'disk I/O error', failingSeconds: 0 } });
    expect(after.episode).toBeUndefined();
  });

  it('counts the database\'s faults, not an event\'s', () => {
    const sqlite = (code: string, message: string) => Object.assign(new Error(message), { code });
    for (const code of ['SQLITE_FULL', 'SQLITE_IOERR_WRITE', 'SQLITE_BUSY', 'SQLITE_READONLY', 'SQLITE_CORRUPT']) {
      expect(isDatabaseFault(sqlite(code, 'x')), code).toBe(true);
    }
    expect(isDatabaseFault(sqlite('SQLITE_CONSTRAINT_UNIQUE', 'UNIQUE constraint failed'))).toBe(false);
    expect(isDatabaseFault(new TypeError('a bug an event triggers'))).toBe(false);
    expect(isDatabaseFault(undefined)).toBe(false);
  });
});
