import { THUMBNAIL_TYPE, type BlobRow } from '../store/blobs/port.js';

/** Where a blob is served, from its hash and type (the URL's extension). */
export type BlobUrl = (blob: { sha256: string; type: string }) => string;

/**
 * The NIP-94 tags of a blob's descriptor (BUD-08): `url`, `m`, `x`, `size`, and for an optimised blob
 * (PUT /media) `ox` (the upload's hash), `dim`, `blurhash`, `thumb` and a video's `image` (its
 * poster), each of those two with its URL and hash.
 */
export function nip94Tags(row: BlobRow, urlOf: BlobUrl): string[][] {
  const tags = [['url', urlOf(row)], ['m', row.type], ['x', row.sha256]];
  if (row.ox) tags.push(['ox', row.ox]);
  tags.push(['size', String(row.size)]);
  if (row.dim) tags.push(['dim', row.dim]);
  if (row.blurhash) tags.push(['blurhash', row.blurhash]);
  for (const name of ['thumb', 'image'] as const) {
    const sha256 = row[name];
    if (sha256) tags.push([name, urlOf({ sha256, type: THUMBNAIL_TYPE }), sha256]);
  }
  return tags;
}
