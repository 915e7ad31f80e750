import { createHash, randomUUID, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { finished, Transform, type Readable } from 'node:stream';
import { blobPath, CHUNK, isMissing, syncPath, TEMPORARY_FOLDER } from './blob-folder.js';
import { BlobStorageFull, BlobTooLarge, HEAD_BYTES, type BlobFiles, type ReceivedBlob } from './port.js';

const DISK_FULL = new Set(['ENOSPC', 'EDQUOT']);

/**
 * Blobs as files named by their sha256 under `<dir>/ab/cd/<sha256>`. An upload is streamed into
 * `<dir>/tmp/` while it is hashed, fsynced, then renamed into place, so a file under its hash is
 * always whole; whatever a crash left in `tmp/` is removed at start. Memory stays flat whatever the
 * size: bytes pass through in chunks, with the sockets' backpressure.
 */
export class DiskBlobFiles implements BlobFiles {
  readonly tempDir: string;

  private constructor(private readonly dir: string) {
    this.tempDir = join(dir, 'tmp');
  }

  static async open(dir: string): Promise<DiskBlobFiles> {
    await rm(join(dir, TEMPORARY_FOLDER), { recursive: true, force: true });
    await mkdir(join(dir, TEMPORARY_FOLDER), { recursive: true });
    return new DiskBlobFiles(dir);
  }

  private path(sha256: string): string {
    return blobPath(this.dir, sha256);
  }

  async receive(body: Readable, maxBytes: number): Promise<ReceivedBlob> {
    const tmp = join(this.dir, TEMPORARY_FOLDER, randomUUID());
    const hash = createHash('sha256');
    const head: Buffer[] = [];
    try {
      const size = await this.write(body, tmp, maxBytes, hash, head);
      const sha256 = hash.digest('hex');
      return {
        sha256, size, path: tmp, head: Buffer.concat(head).subarray(0, HEAD_BYTES),
        keep: () => this.keep(tmp, sha256), discard: () => rm(tmp, { force: true }),
      };
    } catch (err) {
      await rm(tmp, { force: true });
      if (DISK_FULL.has((err as NodeJS.ErrnoException).code ?? '')) throw new BlobStorageFull('the media store is out of disk space');
      throw err;
    }
  }

  /**
   * Copies `body` into a new file through a meter that hashes and counts, and resolves once the file
   * is fsynced and closed. Past `maxBytes` the body is unpiped, not destroyed, so the request's
   * socket can still carry the answer.
   */
  private write(body: Readable, path: string, maxBytes: number, hash: Hash, head: Buffer[]): Promise<number> {
    return new Promise((resolve, reject) => {
      let size = 0;
      let failed = false;
      const meter = new Transform({
        highWaterMark: CHUNK,
        transform(chunk: Buffer, _encoding, done) {
          size += chunk.length;
          if (size > maxBytes) return done(new BlobTooLarge(maxBytes));
          if (size - chunk.length < HEAD_BYTES) head.push(chunk.subarray(0, HEAD_BYTES));
          hash.update(chunk);
          done(null, chunk);
        },
      });
      // flush: fsync before close, so the bytes are on disk before the file is renamed into place.
      const out = createWriteStream(path, { flags: 'wx', flush: true, highWaterMark: CHUNK });
      const fail = (err: Error) => {
        if (failed) return;
        failed = true;
        body.unpipe(meter);
        meter.destroy();
        out.destroy();
        // Settle only once the file is closed, so the caller's removal finds nothing open.
        if (out.closed) reject(err);
        else out.once('close', () => reject(err));
      };
      meter.on('error', fail);
      out.on('error', fail);
      // A client that goes away halfway: the request closes before its end.
      finished(body, (err) => {
        if (err) fail(err);
      });
      out.on('close', () => {
        if (!failed) resolve(size);
      });
      body.pipe(meter).pipe(out);
    });
  }

  async adopt(path: string, sha256: string): Promise<boolean> {
    await syncPath(path);
    return this.keep(path, sha256);
  }

  private async keep(tmp: string, sha256: string): Promise<boolean> {
    const target = this.path(sha256);
    try {
      await stat(target);
      await rm(tmp, { force: true });
      return false;
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
    await mkdir(dirname(target), { recursive: true });
    await rename(tmp, target);
    await syncPath(dirname(target));
    return true;
  }

  async open(sha256: string, range?: { start: number; end: number }): Promise<Readable | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(this.path(sha256), 'r');
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    return handle.createReadStream({ ...range, highWaterMark: CHUNK });
  }

  async remove(sha256: string): Promise<void> {
    try {
      await unlink(this.path(sha256));
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  }
}
