/** One byte range of a blob to send, inclusive (RFC 9110 section 14). */
export type RangeChoice =
  | { kind: 'whole' }
  | { kind: 'part'; start: number; end: number }
  | { kind: 'unsatisfiable' };

const SPEC = /^bytes=(\d*)-(\d*)$/;

/**
 * Reads a Range header for a blob of `size` bytes. One range is served as a 206; a header that is
 * not one well-formed byte range (another unit, several ranges, last < first) is ignored and the
 * whole blob sent, as RFC 9110 allows; a range starting past the end is unsatisfiable (416).
 */
export function chooseRange(header: string | undefined, size: number): RangeChoice {
  const match = header === undefined ? null : SPEC.exec(header.trim());
  if (!match) return { kind: 'whole' };
  const [, first, last] = match as unknown as [string, string, string];
  if (first === '' && last === '') return { kind: 'whole' };
  if (first === '') {
    // bytes=-n: the last n bytes.
    const n = Number(last);
    if (!Number.isSafeInteger(n)) return { kind: 'whole' };
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'part', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? Number.MAX_SAFE_INTEGER : Number(last);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return { kind: 'whole' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'part', start, end: Math.min(end, size - 1) };
}
