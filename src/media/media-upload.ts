import { HttpRefusal } from '../http/body.js';
import type { BlobFiles, BlobMeta, BlobRecords, BlobRow, ReceivedBlob } from '../store/blobs/port.js';
import { OptimiseError, OptimiserBusyError, UnsupportedMediaError, mediaKind, optimisedMeta, type MediaOptimiser, type Optimised, type OptimisedFile } from './optimise.js';

/** What storing an optimised upload needs of the Blossom server: its store and the rules it applies to every blob. */
export interface OptimisedStoreDeps {
  optimiser: MediaOptimiser;
  files: BlobFiles;
  records: BlobRecords;
  /** Throws the refusal of a hash the relay does not take (a banned blob). */
  checkHash(sha256: string): void;
  /** Throws the refusal when `adding` more bytes would pass the pubkey's quota. */
  checkQuota(pubkey: string, adding: number): Promise<void>;
  /** Runs `run` alone for this hash (no delete of the same blob in between). */
  exclusive<T>(sha256: string, run: () => Promise<T>): Promise<T>;
}

/** An optimisation that did not happen, as the HTTP answer to give: its status, and Retry-After when busy. */
export function optimiseRefusal(err: OptimiseError): HttpRefusal {
  const headers = err instanceof OptimiserBusyError ? { 'Retry-After': String(err.retryAfterSeconds) } : undefined;
  return new HttpRefusal(err.status, err.message, headers);
}

async function optimise(optimiser: MediaOptimiser, input: { path: string; type: string }): Promise<Optimised> {
  try {
    return await optimiser.optimise(input);
  } catch (err) {
    throw err instanceof OptimiseError ? optimiseRefusal(err) : err;
  }
}

async function keepFile(deps: OptimisedStoreDeps, file: OptimisedFile, pubkey: string, now: number, meta?: BlobMeta) {
  return deps.exclusive(file.sha256, async () => {
    const created = await deps.files.adopt(file.path, file.sha256);
    const { uploaded } = await deps.records.add({ sha256: file.sha256, size: file.size, type: file.type, pubkey, now, meta });
    return { created, uploaded };
  });
}

/**
 * PUT /media (BUD-05) once the upload is received and its hash checked against the token: the
 * optimiser's result (a WebP image or a faststart MP4), its thumbnail and a video's poster are stored
 * as blobs of `pubkey`, each under the rules of any blob (banned hash, quota). The upload itself is
 * not kept (its EXIF and location are what optimising removes); its hash stays as the result's `ox`.
 * `created`: the optimised blob is new to the relay.
 */
export async function storeOptimised(
  deps: OptimisedStoreDeps, blob: ReceivedBlob, type: string, pubkey: string, now: number,
): Promise<{ created: boolean; row: BlobRow }> {
  let result: Optimised;
  try {
    result = await optimise(deps.optimiser, { path: blob.path, type });
  } finally {
    await blob.discard();
  }
  try {
    const { optimised, thumbnail, poster } = result;
    const extras = poster ? [thumbnail, poster] : [thumbnail];
    for (const file of [optimised, ...extras]) deps.checkHash(file.sha256);
    await deps.checkQuota(pubkey, [optimised, ...extras].reduce((sum, file) => sum + file.size, 0));
    const meta = optimisedMeta(result, blob.sha256);
    // Thumbnail and poster first: the descriptor that names them is answered only once they are served.
    for (const file of extras) await keepFile(deps, file, pubkey, now);
    const { created, uploaded } = await keepFile(deps, optimised, pubkey, now, meta);
    return { created, row: { sha256: optimised.sha256, size: optimised.size, type: optimised.type, uploaded, ...meta } };
  } finally {
    await result.discard();
  }
}

/**
 * Throws what PUT or HEAD /media gets before any byte of the body is read: 415 for a declared type
 * the optimiser does not take, 503 with Retry-After when every optimisation thread is busy and the
 * queue is full.
 */
export function admitMedia(optimiser: MediaOptimiser, declaredType: string | undefined): void {
  if (declaredType !== undefined && !mediaKind(declaredType)) throw optimiseRefusal(new UnsupportedMediaError(declaredType));
  const busy = optimiser.busy();
  if (busy) throw optimiseRefusal(busy);
}
