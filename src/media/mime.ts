/** Extensions of the types a blob URL gets one for (BUD-02: the URL may carry an extension). */
const EXTENSIONS: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
  'image/gif': 'gif',
  'image/avif': 'avif',
  'video/mp4': 'mp4',
  'video/webm': 'webm',
  'video/quicktime': 'mov',
};
const BY_EXTENSION: Record<string, string> = {
  ...Object.fromEntries(Object.entries(EXTENSIONS).map(([type, ext]) => [ext, type])),
  jpeg: 'image/jpeg',
  m4v: 'video/mp4',
};

/** `image/PNG; charset=x` → `image/png`; undefined for nothing or the "no idea" type. */
export function mediaType(header: string | undefined): string | undefined {
  const type = header?.split(';')[0]!.trim().toLowerCase();
  return type && type !== 'application/octet-stream' ? type : undefined;
}

/** `.mp4` for video/mp4; '' for a type without a known extension. */
export function extensionFor(type: string): string {
  const ext = EXTENSIONS[type];
  return ext ? `.${ext}` : '';
}

/** Where this server serves a blob, from its origin: `/<sha256>.mp4`. */
export const blobPath = (sha256: string, type: string): string => `/${sha256}${extensionFor(type)}`;

/** The type a URL's path ends in an extension of, if any. */
export function typeOfPath(path: string): string | undefined {
  const ext = /\.([a-z0-9]{1,5})$/i.exec(path)?.[1]?.toLowerCase();
  return ext === undefined ? undefined : BY_EXTENSION[ext];
}

/**
 * The type of a blob whose uploader did not say, from its first bytes (the formats of the default
 * allow-list). ISO media files name their brand at offset 8: AVIF images, QuickTime, else MP4.
 */
export function sniffType(head: Buffer): string | undefined {
  const ascii = (from: number, to: number) => head.subarray(from, to).toString('latin1');
  if (head.length >= 8 && head.readUInt32BE(0) === 0x89504e47) return 'image/png';
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'image/jpeg';
  if (ascii(0, 4) === 'GIF8') return 'image/gif';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'image/webp';
  if (head.length >= 4 && head.readUInt32BE(0) === 0x1a45dfa3) return 'video/webm';
  if (ascii(4, 8) === 'ftyp') {
    const brand = ascii(8, 12);
    if (brand === 'avif' || brand === 'avis') return 'image/avif';
    // HEIF photos (iPhone) and audio-only MP4 share the container; neither is a video to play.
    if (['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1'].includes(brand)) return 'image/heic';
    if (brand === 'M4A ' || brand === 'M4B ') return 'audio/mp4';
    return brand === 'qt  ' ? 'video/quicktime' : 'video/mp4';
  }
  return undefined;
}
