import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { OptimiseFailure } from './optimise-errors.js';

/** What the media thread needs to know, fixed when the thread starts. */
export interface OptimiseThreadSettings {
  maxSide: number;
  thumbnailSide: number;
  ffmpegPath: string;
  ffprobePath: string;
  timeoutSeconds: number;
}

export type MediaKind = 'image' | 'video';

const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/webp', 'image/gif', 'image/avif']);

/**
 * The video types, each with the ffmpeg demuxer that reads it. The demuxer is named, never guessed
 * from the bytes: a guess would let an upload be an HLS playlist or a concat script that makes ffmpeg
 * read other files or URLs into the result. mov reads MP4 and QuickTime (its external references are
 * off by default), matroska reads WebM.
 */
export const VIDEO_DEMUXERS: Readonly<Record<string, string>> = { 'video/mp4': 'mov', 'video/quicktime': 'mov', 'video/webm': 'matroska' };

/** A MIME type without its parameters, lower case. */
export function bareType(type: string): string {
  return type.split(';')[0]!.trim().toLowerCase();
}

/** The optimisation a MIME type gets; undefined for one this module does not handle. */
export function mediaKind(type: string): MediaKind | undefined {
  const bare = bareType(type);
  return IMAGE_TYPES.has(bare) ? 'image' : Object.hasOwn(VIDEO_DEMUXERS, bare) ? 'video' : undefined;
}

/** One optimisation: the input file, and the empty folder of the job that every output goes into. */
export interface OptimiseJob {
  kind: MediaKind;
  path: string;
  /** Bare: one of IMAGE_TYPES or VIDEO_DEMUXERS. */
  type: string;
  dir: string;
}

/** A file the optimiser wrote, described as the blob store will need it. */
export interface OptimisedFile {
  path: string;
  type: string;
  size: number;
  sha256: string;
}

export interface OptimisedMedia {
  kind: MediaKind;
  /** The WebP image, or the faststart H.264/AAC MP4. */
  optimised: OptimisedFile;
  /** At most `mediaThumbnailSide` on its long side, WebP: of the image, or of a video's poster. */
  thumbnail: OptimisedFile;
  /** Video only: one frame at the video's size, WebP. */
  poster?: OptimisedFile;
  /** Of the image, or of a video's poster. */
  blurhash: string;
  width: number;
  height: number;
  /** Video only. */
  durationSeconds?: number;
}

export type OptimiseThreadResult = { ok: true; media: OptimisedMedia } | { ok: false; failure: OptimiseFailure };

/** Size and sha256 of a file, read as a stream so a large video never sits in memory. */
export async function describeFile(path: string, type: string): Promise<OptimisedFile> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return { path, type, size: (await stat(path)).size, sha256: hash.digest('hex') };
}

/** Seconds left before `deadline` (ms since the epoch), at least 1 so a library timeout is never 0 (= none). */
export function secondsLeft(deadline: number): number {
  return Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
}
