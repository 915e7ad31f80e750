import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config/settings.js';
import type { BlobMeta } from '../store/blobs/port.js';
import { WorkerPool } from '../workers/pool.js';
import { OptimiseError, OptimiserBusyError, UnsupportedMediaError, fromFailure } from './optimise-errors.js';
import { bareType, mediaKind } from './optimise-job.js';
import type { MediaKind, OptimiseJob, OptimiseThreadResult, OptimiseThreadSettings, OptimisedFile, OptimisedMedia } from './optimise-job.js';
import { optimiseMetrics, type OptimiseReport } from './optimise-metrics.js';

export * from './optimise-errors.js';
export { mediaKind } from './optimise-job.js';
export type { MediaKind, OptimisedFile, OptimisedMedia } from './optimise-job.js';

export interface OptimiseSettings extends OptimiseThreadSettings {
  concurrency: number;
  queueSize: number;
  /** Where each job's folder is made: on the blob store's file system, moving a result is a rename. */
  tempDir: string;
}

export interface Optimised extends OptimisedMedia {
  /** Time the job took on its thread, waiting not included. */
  seconds: number;
  /** The job's folder, holding every file above. */
  dir: string;
  discard(): Promise<void>;
}

/** ffprobe comes in the same package as ffmpeg and is installed beside it, under the same naming. */
export function ffprobeBeside(ffmpeg: string): string {
  const name = basename(ffmpeg);
  const at = name.lastIndexOf('ffmpeg');
  const probe = at >= 0 ? name.slice(0, at) + 'ffprobe' + name.slice(at + 'ffmpeg'.length) : 'ffprobe';
  return ffmpeg.includes('/') ? join(dirname(ffmpeg), probe) : probe;
}

export function optimiseSettings(config: Config, tempDir = tmpdir()): OptimiseSettings {
  return {
    concurrency: config.mediaOptimiseConcurrency || Math.max(1, Math.floor(availableParallelism() / 2)),
    queueSize: config.mediaOptimiseQueue,
    timeoutSeconds: config.mediaOptimiseTimeoutSeconds,
    maxSide: config.mediaMaxSide,
    thumbnailSide: config.mediaThumbnailSide,
    ffmpegPath: config.ffmpegPath,
    ffprobePath: ffprobeBeside(config.ffmpegPath),
    tempDir,
  };
}

/** Retry-After before any job has been timed. */
const FIRST_GUESS_SECONDS = 5;

const FOLDER_PREFIX = 'powr-optimise-';

/**
 * Job folders a crashed relay left behind: untouched for twice the job timeout, so no live job's
 * folder can be among them.
 */
export async function removeStaleJobFolders(tempDir: string, timeoutSeconds: number): Promise<string[]> {
  const removed: string[] = [];
  const before = Date.now() - 2 * timeoutSeconds * 1000;
  for (const name of await readdir(tempDir)) {
    const path = join(tempDir, name);
    if (!name.startsWith(FOLDER_PREFIX) || (await stat(path)).mtimeMs > before) continue;
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}

const stopped = () => new OptimiseError('media optimisation has stopped: the relay is shutting down', 'failed', 503);

/**
 * Media optimisation for the /media route (BUD-05): images through sharp, videos through ffmpeg, on
 * their own threads behind a bounded queue. The caller moves the files it wants into the blob store
 * and then calls `discard()`, which removes the job's folder and whatever is left in it.
 */
export class MediaOptimiser {
  /** Started on the first job: a relay nobody sends media to keeps no media threads. */
  private pool?: WorkerPool<OptimiseJob, OptimiseThreadResult>;
  private running = 0;
  private readonly waiting: { start: () => void; stop: (err: Error) => void }[] = [];
  private closed = false;
  /** Rejects when close() is called, ending the jobs on the threads it stops. */
  private readonly stopping: Promise<never>;
  private stop!: (err: Error) => void;
  /** Moving mean of recent jobs' times, for Retry-After. */
  private meanSeconds = FIRST_GUESS_SECONDS;
  private readonly report?: (r: OptimiseReport) => void;

  constructor(
    private readonly settings: OptimiseSettings,
    private readonly log: Logger,
    registry?: Registry,
  ) {
    this.report = registry && optimiseMetrics(registry, () => this.depth);
    this.stopping = new Promise<never>((_, reject) => (this.stop = reject));
    this.stopping.catch(() => undefined);
  }

  get depth(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /**
   * Optimises one file. Rejects with an OptimiseError subclass whose `status` is the HTTP answer:
   * busy (503, with retryAfterSeconds), missing ffmpeg (422), unsupported type (415), unreadable
   * input (422), timeout (422); anything else is 500. After a rejection no file of the job is left.
   */
  async optimise(input: { path: string; type: string }): Promise<Optimised> {
    const kind = mediaKind(input.type);
    if (!kind) throw new UnsupportedMediaError(input.type);
    if (this.closed) throw stopped();
    await this.turn();
    const started = performance.now();
    let dir: string | undefined;
    try {
      dir = await mkdtemp(join(this.settings.tempDir, FOLDER_PREFIX));
      if (this.closed) throw stopped();
      this.pool ??= this.startThreads();
      const job = { kind, path: input.path, type: bareType(input.type), dir };
      const result = await Promise.race([this.pool.run(job), this.stopping]);
      if (!result.ok) throw fromFailure(result.failure);
      const seconds = this.finished(kind, 'ok', started);
      const folder = dir;
      return { ...result.media, seconds, dir: folder, discard: () => rm(folder, { recursive: true, force: true }) };
    } catch (err) {
      if (dir) await this.remove(dir);
      const error = err instanceof OptimiseError ? err
        : new OptimiseError(`media optimisation failed: ${err instanceof Error ? err.message : String(err)}`, 'failed', 500);
      if (error.code === 'failed' && !this.closed) this.log.error({ err, type: input.type }, 'media optimisation failed');
      this.finished(kind, error.code, started);
      throw error;
    } finally {
      this.release();
    }
  }

  /**
   * The refusal a job would get now (every thread busy, the waiting queue full), so an upload can be
   * turned away before its body is read; undefined when it would be taken.
   */
  busy(): OptimiserBusyError | undefined {
    if (this.running < this.settings.concurrency || this.waiting.length < this.settings.queueSize) return undefined;
    const ahead = this.waiting.length + 1;
    const estimate = Math.ceil((this.meanSeconds * ahead) / this.settings.concurrency);
    return new OptimiserBusyError(Math.min(Math.max(estimate, 1), this.settings.timeoutSeconds));
  }

  /** Resolves when a thread is free; rejects at once when the waiting queue is full. */
  private turn(): Promise<void> {
    const busy = this.busy();
    if (busy) return Promise.reject(busy);
    if (this.running < this.settings.concurrency) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((start, stop) => this.waiting.push({ start, stop }));
  }

  /** The finished job's thread goes straight to the next waiting job, if any. */
  private release(): void {
    const next = this.waiting.shift();
    if (next) next.start();
    else this.running--;
  }

  private finished(kind: MediaKind, outcome: OptimiseReport['outcome'], started: number): number {
    const seconds = (performance.now() - started) / 1000;
    this.meanSeconds = 0.8 * this.meanSeconds + 0.2 * seconds;
    this.report?.({ kind, outcome, seconds });
    return seconds;
  }

  /** A failed job's folder; retried, since a thread stopped by close() may still be writing into it. */
  private async remove(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 })
      .catch((err: unknown) => this.log.warn({ err, dir }, 'could not remove a media optimisation folder'));
  }

  private startThreads(): WorkerPool<OptimiseJob, OptimiseThreadResult> {
    removeStaleJobFolders(this.settings.tempDir, this.settings.timeoutSeconds).then(
      (removed) => removed.length > 0 && this.log.info({ removed }, 'removed media optimisation folders left by a stopped relay'),
      (err: unknown) => this.log.warn({ err }, 'could not look for stale media optimisation folders'),
    );
    return new WorkerPool(new URL('./optimise-thread.js', import.meta.url), this.settings.concurrency, this.settings, this.log);
  }

  /**
   * Refuses new, waiting and running jobs (503) and stops the threads. An ffmpeg running then ends
   * on its own (or with the relay's container or service); a folder it kept alive is removed by the
   * next start.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.stop(stopped());
    for (const job of this.waiting.splice(0)) job.stop(stopped());
    await this.pool?.close();
  }
}

/**
 * What an optimised blob's descriptor says of it (its NIP-94 tags, nip94.ts): `ox` is the sha256 of
 * the file as uploaded (hashed on the way in), the rest comes from the optimisation.
 */
export function optimisedMeta(media: OptimisedMedia, ox: string): BlobMeta {
  return { ox, dim: `${media.width}x${media.height}`, blurhash: media.blurhash, thumb: media.thumbnail.sha256, image: media.poster?.sha256 };
}
