import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { encode } from 'blurhash';
import sharp from 'sharp';
import { MediaInputError, OptimiseTimeoutError } from './optimise-errors.js';
import { describeFile, secondsLeft, type OptimiseThreadSettings, type OptimisedFile } from './optimise-job.js';

/**
 * Phone cameras stop near 50 megapixels; a larger image is refused rather than decoded into
 * gigabytes. For an animation the limit covers all its frames together.
 */
const MAX_INPUT_PIXELS = 100_000_000;

/**
 * The formats sharp may decode here, told by their first bytes before any decoder sees the file:
 * libvips would also read SVG (which can pull in other files beside it), PDF, TIFF and more.
 */
const SIGNATURES: ((head: Buffer) => boolean)[] = [
  (head) => head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff, // JPEG
  (head) => head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), // PNG
  (head) => head.toString('latin1', 0, 4) === 'GIF8',
  (head) => head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WEBP',
  // AVIF: an ISO-BMFF `ftyp` box naming the avif (still) or avis (sequence) brand.
  (head) => head.toString('latin1', 4, 8) === 'ftyp' && /avi[fs]/.test(head.toString('latin1', 8, Math.min(head.readUInt32BE(0), head.length))),
];

async function isAcceptedImage(path: string): Promise<boolean> {
  const file = await open(path);
  try {
    const head = Buffer.alloc(64);
    const { bytesRead } = await file.read(head, 0, head.length, 0);
    return bytesRead >= 12 && SIGNATURES.some((matches) => matches(head.subarray(0, bytesRead)));
  } finally {
    await file.close();
  }
}

/** Animated inputs stay animated (as animated WebP): an exercise demonstration is often a GIF. */
const ANIMATED_TYPES = new Set(['image/gif', 'image/webp']);

/** Blurhash is computed from a tiny copy; 4×3 components (3×4 upright) is the encoder's recommended detail. */
const BLURHASH_SIDE = 32;

// One libvips thread per job: `mediaOptimiseConcurrency` is then the number of cores media work takes
// from the relay. The operation cache only helps when the same image is processed twice.
sharp.concurrency(1);
sharp.cache(false);

export interface OptimisedImage {
  optimised: OptimisedFile;
  thumbnail: OptimisedFile;
  blurhash: string;
  width: number;
  height: number;
}

/**
 * The image auto-oriented from its EXIF orientation, then written as WebP at most `maxSide` on its
 * long side with no metadata at all (sharp writes none unless asked: EXIF, GPS, XMP and ICC are
 * dropped); a WebP thumbnail and a blurhash of it. Outputs are named `<prefix>.webp` and
 * `<prefix>-thumb.webp` in `dir`.
 */
export async function optimiseImage(
  path: string, type: string, dir: string, prefix: string, settings: OptimiseThreadSettings, deadline: number,
): Promise<OptimisedImage> {
  const out = join(dir, `${prefix}.webp`);
  const thumb = join(dir, `${prefix}-thumb.webp`);
  if (!(await isAcceptedImage(path))) throw new MediaInputError('the file is not a PNG, JPEG, WebP, GIF or AVIF image');
  try {
    const info = await sharp(path, {
      autoOrient: true,
      animated: ANIMATED_TYPES.has(type),
      limitInputPixels: MAX_INPUT_PIXELS,
      // 'error' refuses truncated and undecodable data but lets through the harmless warnings
      // (stray bytes after a JPEG's end) that many real phone photos carry.
      failOn: 'error',
    })
      .resize({ width: settings.maxSide, height: settings.maxSide, fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 80 })
      .timeout({ seconds: secondsLeft(deadline) })
      .toFile(out);
    const frame = await sharp(out)
      .resize({ width: settings.thumbnailSide, height: settings.thumbnailSide, fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 70 })
      .timeout({ seconds: secondsLeft(deadline) })
      .toFile(thumb);
    const blurhash = await blurhashOf(thumb, frame.width >= frame.height);
    return {
      optimised: await describeFile(out, 'image/webp'),
      thumbnail: await describeFile(thumb, 'image/webp'),
      blurhash,
      width: info.width,
      // An animation's toFile height is all its frames stacked; the frame's own is pageHeight.
      height: info.pageHeight ?? info.height,
    };
  } catch (err) {
    throw imageError(err, settings.timeoutSeconds);
  }
}

async function blurhashOf(file: string, landscape: boolean): Promise<string> {
  const { data, info } = await sharp(file)
    .resize({ width: BLURHASH_SIDE, height: BLURHASH_SIDE, fit: 'inside' })
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const pixels = new Uint8ClampedArray(data.buffer, data.byteOffset, data.length);
  return encode(pixels, info.width, info.height, landscape ? 4 : 3, landscape ? 3 : 4);
}

function imageError(err: unknown, timeoutSeconds: number): Error {
  const message = err instanceof Error ? err.message : String(err);
  if (/^timeout/i.test(message)) return new OptimiseTimeoutError(timeoutSeconds);
  if (/pixel limit/i.test(message)) {
    return new MediaInputError(`the image has more than ${MAX_INPUT_PIXELS / 1_000_000} megapixels`);
  }
  // sharp's message names the decoder's complaint ("unsupported image format", "premature end of
  // JPEG file"); the first line is enough for the uploader.
  return new MediaInputError(`the image could not be read: ${message.split('\n')[0]}`);
}
