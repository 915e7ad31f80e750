/**
 * A database that refuses writes (disk full, I/O errors, locked by another process) fails every write
 * transaction until someone fixes it: hundreds a second under load. The log says so once, then at most
 * one line every TELL_EVERY_MS with what happened since the previous line, and once when writes succeed
 * again; /health and /metrics read the same state. Pure: each function takes the state and returns the
 * next one, with the line to log when one is due.
 */

/** The least time between two lines about failing writes. */
export const TELL_EVERY_MS = 5000;

/**
 * SQLite's codes for a database that cannot write, whatever the event: full, I/O, locked, read-only,
 * damaged. Anything else (a constraint, a bug an event triggers) is that event's failure: it is logged
 * as it happens and leaves /health alone, so no client can make the relay look degraded.
 */
const DATABASE_FAULT = /^SQLITE_(FULL|IOERR|BUSY|LOCKED|READONLY|CANTOPEN|CORRUPT|NOTADB|NOMEM|PERM)/;

export function isDatabaseFault(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && DATABASE_FAULT.test(code);
}

export interface WriteFailures {
  /** Write transactions that failed since the writer started. */
  total: number;
  /** Since the last write that succeeded: when failing began (ms since epoch) and the latest error. */
  failing: { since: number; error: string } | undefined;
  /**
   * What the log tells of: from a first failure to the line saying writes succeed again (short successes
   * between failures do not end it). `told`: a line has said writes fail.
   */
  episode: { since: number; lastFailure: number; failed: number; told: boolean } | undefined;
  /** Failures no line has counted yet: how many, the first and the last error. */
  untold: { count: number; first: string; last: string } | undefined;
  /** When the last line was logged (ms since epoch). */
  toldAt: number;
}

export interface FailureLine {
  level: 'info' | 'error';
  msg: string;
  detail: Record<string, unknown>;
}

export interface Step {
  state: WriteFailures;
  /** The line to log now, if one is due. */
  line?: FailureLine;
}

export const NO_FAILURES: WriteFailures = { total: 0, failing: undefined, episode: undefined, untold: undefined, toldAt: -Infinity };

/** A write transaction failed with `error`. */
export function failed(state: WriteFailures, error: string, now: number): Step {
  const { episode, untold } = state;
  return due({
    total: state.total + 1,
    failing: { since: state.failing?.since ?? now, error },
    episode: { since: episode?.since ?? now, lastFailure: now, failed: (episode?.failed ?? 0) + 1, told: episode?.told ?? false },
    untold: { count: (untold?.count ?? 0) + 1, first: untold?.first ?? error, last: error },
    toldAt: state.toldAt,
  }, now);
}

/** A write transaction committed. */
export function succeeded(state: WriteFailures, now: number): Step {
  if (!state.failing && !state.episode) return { state };
  return due({ ...state, failing: undefined }, now);
}

/**
 * The line due now, if any: call after each failure and success, and on a timer so that failures
 * followed by silence are still told.
 */
export function due(state: WriteFailures, now: number): Step {
  const { episode, untold, failing } = state;
  if (!episode || (failing && !untold) || now - state.toldAt < TELL_EVERY_MS) return { state };
  // failedTransactions: since the previous line; failedInAll: since the first failure.
  const counts = untold ? { failedTransactions: untold.count, firstError: untold.first, lastError: untold.last } : {};
  const failingSeconds = (episode.lastFailure - episode.since) / 1000;
  let line: FailureLine;
  if (failing) {
    line = episode.told
      ? { level: 'error', msg: 'write transactions still fail', detail: { ...counts, failedInAll: episode.failed, failingSince: new Date(episode.since).toISOString() } }
      : { level: 'error', msg: 'write transactions fail; the next lines summarise at most every few seconds', detail: counts };
  } else {
    line = episode.told
      ? { level: 'info', msg: 'write transactions succeed again', detail: { ...counts, failedInAll: episode.failed, failingSeconds } }
      : { level: 'error', msg: 'write transactions failed for a while and succeed again', detail: { ...counts, failingSeconds } };
  }
  return {
    state: { ...state, episode: failing ? { ...episode, told: true } : undefined, untold: undefined, toldAt: now },
    line,
  };
}
