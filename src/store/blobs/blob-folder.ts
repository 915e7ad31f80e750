import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, open, opendir, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * The media folder's layout, shared by the relay's blob files (blob-files.ts) and the operator's
 * commands (`powr-relay media`, `backup --media`): `<dir>/ab/cd/<sha256>` for a kept blob,
 * `<dir>/tmp/` for uploads on their way.
 */
export const TEMPORARY_FOLDER = 'tmp';
/** Chunk size of reads and writes: large enough that a 20 MiB blob is a few dozen system calls. */
export const CHUNK = 256 * 1024;

const HEX64 = /^[0-9a-f]{64}$/;
const HEX2 = /^[0-9a-f]{2}$/;

export const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

export function blobPath(dir: string, sha256: string): string {
  return join(dir, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
}

/** fsync of a file, or of a folder, which makes a rename or a new file in it durable (the directory entry itself is data). */
export async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** What the media folder holds: kept blobs, uploads' temporary files, and anything else (`stray`). */
export type FolderEntry =
  | { kind: 'blob'; sha256: string; size: number; modified: number }
  | { kind: 'temporary'; path: string; modified: number }
  | { kind: 'stray'; path: string };

/** What copying a blob into another folder did. */
export type CopyOutcome = 'linked' | 'copied' | 'present' | 'missing';

/**
 * The media folder as the operator's commands see it, beside a relay that may be running on it:
 * nothing here empties the temporary folder (the relay does that at its start), and a file is only
 * removed once the caller confirmed nothing refers to it.
 */
export class BlobFolder {
  constructor(readonly dir: string) {}

  path(sha256: string): string {
    return blobPath(this.dir, sha256);
  }

  /** Every file under the folder, in no particular order; what vanishes during the walk is left out. */
  async *entries(): AsyncGenerator<FolderEntry> {
    for (const top of await this.names(this.dir)) {
      const topPath = join(this.dir, top.name);
      if (top.name === TEMPORARY_FOLDER && top.isDirectory()) {
        for (const file of await this.names(topPath)) {
          const path = join(topPath, file.name);
          const info = file.isFile() ? await statOrUndefined(path) : undefined;
          if (info) yield { kind: 'temporary', path, modified: info.mtimeMs };
          else if (!file.isFile()) yield { kind: 'stray', path };
        }
        continue;
      }
      if (!HEX2.test(top.name) || !top.isDirectory()) {
        yield { kind: 'stray', path: topPath };
        continue;
      }
      for (const middle of await this.names(topPath)) {
        const middlePath = join(topPath, middle.name);
        if (!HEX2.test(middle.name) || !middle.isDirectory()) {
          yield { kind: 'stray', path: middlePath };
          continue;
        }
        for (const file of await this.names(middlePath)) {
          const path = join(middlePath, file.name);
          if (!file.isFile() || !HEX64.test(file.name) || !file.name.startsWith(top.name + middle.name)) {
            yield { kind: 'stray', path };
            continue;
          }
          const info = await statOrUndefined(path);
          if (info) yield { kind: 'blob', sha256: file.name, size: info.size, modified: info.mtimeMs };
        }
      }
    }
  }

  private async names(dir: string) {
    const entries = [];
    try {
      for await (const entry of await opendir(dir)) entries.push(entry);
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
    return entries;
  }

  /** The file's size; undefined when there is no file. */
  async size(sha256: string): Promise<number | undefined> {
    return (await statOrUndefined(this.path(sha256)))?.size;
  }

  /** The sha256 of the file's bytes, read in chunks. */
  async hash(sha256: string): Promise<string> {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(this.path(sha256), { highWaterMark: CHUNK })) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  /** Removes a file by path (a temporary one); true when it was there. */
  async removeFile(path: string): Promise<boolean> {
    try {
      await unlink(path);
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  remove(sha256: string): Promise<boolean> {
    return this.removeFile(this.path(sha256));
  }

  /**
   * Removes a blob's file that has no metadata. The file is first moved aside, so a relay that takes
   * an upload of the same bytes meanwhile (it finds the file there and only adds the row) cannot be
   * left with a row and no file: `unowned` is asked again once the file is aside, and when a row has
   * appeared the file goes back.
   */
  async removeUnowned(sha256: string, unowned: () => Promise<boolean>): Promise<boolean> {
    const path = this.path(sha256);
    const aside = `${path}.${randomUUID()}.removing`;
    try {
      await rename(path, aside);
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
    if (await unowned()) {
      await unlink(aside);
      return true;
    }
    await rename(aside, path);
    return false;
  }

  /**
   * Puts a blob into `target` (a backup's folder) under the same layout: a hard link where both are
   * on one filesystem (blob files are never changed in place, so a link is as good as a copy of
   * today's bytes), else a copy that is synced and renamed into place, so a file there is whole.
   */
  async copyTo(target: BlobFolder, sha256: string): Promise<CopyOutcome> {
    const from = this.path(sha256);
    const to = target.path(sha256);
    const [source, present] = await Promise.all([statOrUndefined(from), statOrUndefined(to)]);
    if (!source) return 'missing';
    if (present?.size === source.size) return 'present';
    await mkdir(dirname(to), { recursive: true });
    if (!present) {
      try {
        await link(from, to);
        return 'linked';
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (isMissing(err)) return 'missing';
        if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP') throw err;
      }
    }
    const temporary = join(target.dir, TEMPORARY_FOLDER, randomUUID());
    await mkdir(dirname(temporary), { recursive: true });
    try {
      await copyFile(from, temporary);
      const handle = await open(temporary, 'r+');
      await handle.sync().finally(() => handle.close());
      await rename(temporary, to);
    } catch (err) {
      await unlink(temporary).catch(() => undefined);
      if (isMissing(err)) return 'missing';
      throw err;
    }
    await syncPath(dirname(to));
    return 'copied';
  }
}

async function statOrUndefined(path: string) {
  try {
    return await stat(path);
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}
