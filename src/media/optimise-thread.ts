import { parentPort, workerData } from 'node:worker_threads';
import { toFailure } from './optimise-errors.js';
import { optimiseImage } from './optimise-image.js';
import type { OptimiseJob, OptimiseThreadResult, OptimiseThreadSettings, OptimisedMedia } from './optimise-job.js';
import { optimiseVideo } from './optimise-video.js';
import { announceThread } from '../workers/thread-cpu.js';

announceThread('media');

const settings = workerData as OptimiseThreadSettings;

async function optimise(job: OptimiseJob): Promise<OptimisedMedia> {
  const deadline = Date.now() + settings.timeoutSeconds * 1000;
  if (job.kind === 'video') return optimiseVideo(job.path, job.type, job.dir, settings, deadline);
  return { kind: 'image', ...(await optimiseImage(job.path, job.type, job.dir, 'image', settings, deadline)) };
}

// The main thread hands out one job per thread at a time; failures come back as data, never as a
// thrown error, so the pool keeps this thread.
parentPort!.on('message', ({ id, request }: { id: number; request: OptimiseJob }) => {
  optimise(request).then(
    (media): OptimiseThreadResult => ({ ok: true, media }),
    (err: unknown): OptimiseThreadResult => ({ ok: false, failure: toFailure(err) }),
  ).then((result) => parentPort!.postMessage({ id, result }));
});
