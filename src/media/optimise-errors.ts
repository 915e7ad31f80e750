/**
 * Why an optimisation did not happen, each with the HTTP status the /media route answers with, so
 * the route maps them without knowing the cases. Errors cross from the media thread as plain data
 * (a class does not survive structured cloning), hence `code` and the two converters below.
 */

export type OptimiseFailureCode = 'busy' | 'missing-tool' | 'unsupported' | 'input' | 'timeout' | 'failed';

export class OptimiseError extends Error {
  constructor(
    message: string,
    readonly code: OptimiseFailureCode,
    readonly status: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Every optimisation thread is busy and the waiting queue is full: 503 with `Retry-After`. */
export class OptimiserBusyError extends OptimiseError {
  constructor(readonly retryAfterSeconds: number) {
    super('media optimisation is busy; try again later', 'busy', 503);
  }
}

/** ffmpeg (or its ffprobe) is not where the `ffmpegPath` setting points: videos cannot be optimised. */
export class MissingToolError extends OptimiseError {
  constructor(readonly tool: string) {
    super(`ffmpeg is not installed on this relay (no ${tool}); video optimisation is unavailable`, 'missing-tool', 422);
  }
}

/** A MIME type that is neither an image nor a video this module handles. */
export class UnsupportedMediaError extends OptimiseError {
  constructor(type: string) {
    super(`${type || 'an untyped file'} cannot be optimised; send an image or a video`, 'unsupported', 415);
  }
}

/** The bytes are not a readable image or video (corrupt, truncated, too many pixels, no video stream). */
export class MediaInputError extends OptimiseError {
  constructor(message: string) {
    super(message, 'input', 422);
  }
}

/** The job ran past `mediaOptimiseTimeoutSeconds`; its ffmpeg was killed. */
export class OptimiseTimeoutError extends OptimiseError {
  constructor(readonly seconds: number) {
    super(`optimising this file took longer than ${seconds} s; send a shorter or smaller file`, 'timeout', 422);
  }
}

/** What the media thread sends back instead of throwing. */
export interface OptimiseFailure {
  code: OptimiseFailureCode;
  message: string;
  tool?: string;
  seconds?: number;
}

export function toFailure(err: unknown): OptimiseFailure {
  if (err instanceof MissingToolError) return { code: err.code, message: err.message, tool: err.tool };
  if (err instanceof OptimiseTimeoutError) return { code: err.code, message: err.message, seconds: err.seconds };
  if (err instanceof OptimiseError) return { code: err.code, message: err.message };
  return { code: 'failed', message: err instanceof Error ? err.message : String(err) };
}

export function fromFailure(f: OptimiseFailure): OptimiseError {
  switch (f.code) {
    case 'missing-tool': return new MissingToolError(f.tool ?? 'ffmpeg');
    case 'input': return new MediaInputError(f.message);
    case 'timeout': return new OptimiseTimeoutError(f.seconds ?? 0);
    default: return new OptimiseError(`media optimisation failed: ${f.message}`, 'failed', 500);
  }
}
