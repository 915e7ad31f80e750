import { finalizeEvent, generateSecretKey } from 'nostr-tools/pure';
import { describe, expect, it } from 'vitest';
import { namesBlob, tokenProblem } from '../../src/media/auth.js';
import { isPublicAddress } from '../../src/media/mirror.js';
import { extensionFor, mediaType, sniffType, typeOfPath } from '../../src/media/mime.js';
import { chooseRange } from '../../src/media/ranges.js';

describe('byte ranges', () => {
  it('serves one range, ignores what it cannot serve, and knows what is unsatisfiable', () => {
    expect(chooseRange(undefined, 100)).toEqual({ kind: 'whole' });
    expect(chooseRange('bytes=0-0', 100)).toEqual({ kind: 'part', start: 0, end: 0 });
    expect(chooseRange('bytes=10-', 100)).toEqual({ kind: 'part', start: 10, end: 99 });
    expect(chooseRange('bytes=-10', 100)).toEqual({ kind: 'part', start: 90, end: 99 });
    expect(chooseRange('bytes=-1000', 100)).toEqual({ kind: 'part', start: 0, end: 99 });
    expect(chooseRange('bytes=50-5000', 100)).toEqual({ kind: 'part', start: 50, end: 99 });
    expect(chooseRange('bytes=100-', 100)).toEqual({ kind: 'unsatisfiable' });
    expect(chooseRange('bytes=100-200', 100)).toEqual({ kind: 'unsatisfiable' });
    expect(chooseRange('bytes=-0', 100)).toEqual({ kind: 'unsatisfiable' });
    expect(chooseRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    for (const ignored of ['bytes=5-1', 'items=0-1', 'bytes=0-1,3-4', 'bytes=-', 'bytes=a-b', `bytes=${'9'.repeat(30)}-`]) {
      expect(chooseRange(ignored, 100), ignored).toEqual({ kind: 'whole' });
    }
  });
});

describe('media types', () => {
  it('reads declared types, extensions and the first bytes of the allowed formats', () => {
    expect(mediaType('Image/PNG; charset=binary')).toBe('image/png');
    expect(mediaType('application/octet-stream')).toBeUndefined();
    expect(mediaType(undefined)).toBeUndefined();
    expect(extensionFor('video/quicktime')).toBe('.mov');
    expect(extensionFor('application/x-unknown')).toBe('');
    expect(typeOfPath('/clips/squat.JPEG')).toBe('image/jpeg');
    expect(typeOfPath('/clips/squat')).toBeUndefined();
    const ftyp = (brand: string) => Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from(`ftyp${brand}`, 'latin1')]);
    expect(sniffType(ftyp('isom'))).toBe('video/mp4');
    expect(sniffType(ftyp('qt  '))).toBe('video/quicktime');
    expect(sniffType(ftyp('avif'))).toBe('image/avif');
    expect(sniffType(ftyp('heic'))).toBe('image/heic');
    expect(sniffType(ftyp('mif1'))).toBe('image/heic');
    expect(sniffType(ftyp('M4A '))).toBe('audio/mp4');
    expect(sniffType(Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0]))).toBe('video/webm');
    expect(sniffType(Buffer.from('RIFF\0\0\0\0WEBPVP8 ', 'latin1'))).toBe('image/webp');
    expect(sniffType(Buffer.from('GIF89a'))).toBe('image/gif');
    expect(sniffType(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))).toBe('image/jpeg');
    expect(sniffType(Buffer.from('<html>'))).toBeUndefined();
    expect(sniffType(Buffer.alloc(0))).toBeUndefined();
  });
});

describe('mirror address checks', () => {
  it('takes only public addresses', () => {
    for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0',
      '::1', '::', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '224.0.0.1']) {
      expect(isPublicAddress(address), address).toBe(false);
    }
    for (const address of ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946', '8.8.8.8']) expect(isPublicAddress(address), address).toBe(true);
  });
});

describe('Blossom tokens (BUD-11)', () => {
  const key = generateSecretKey();
  const now = 1_800_000_000;
  const hash = 'a'.repeat(64);
  const token = (tags: string[][], created_at = now - 5, kind = 24242) => finalizeEvent({ kind, created_at, content: 'Upload', tags }, key);
  const request = { verb: 'upload' as const, now, host: 'relay.example.com' };

  it('accepts a token for this verb, unexpired, unscoped or scoped to this host, naming the blob', () => {
    const ok = token([['t', 'upload'], ['expiration', String(now + 60)], ['x', hash]]);
    expect(tokenProblem(ok, request)).toBeUndefined();
    expect(namesBlob(ok, hash)).toBe(true);
    expect(namesBlob(ok, 'b'.repeat(64))).toBe(false);
    for (const server of ['relay.example.com', 'https://relay.example.com/', 'RELAY.example.com']) {
      expect(tokenProblem(token([['t', 'upload'], ['expiration', String(now + 60)], ['x', hash], ['server', 'other.example'], ['server', server]]), request), server).toBeUndefined();
    }
    // list and get need no x tag.
    expect(tokenProblem(token([['t', 'list'], ['expiration', String(now + 60)]]), { ...request, verb: 'list' })).toBeUndefined();
  });

  it('says what is wrong with a token that does not authorize the request', () => {
    const cases: [string[][], RegExp, number?, number?][] = [
      [[['t', 'upload'], ['x', hash]], /expiration/],
      [[['t', 'upload'], ['expiration', 'soon'], ['x', hash]], /expiration/],
      [[['t', 'upload'], ['expiration', String(now)], ['x', hash]], /expired/],
      [[['t', 'get'], ['expiration', String(now + 60)], ['x', hash]], /"upload"/],
      [[['expiration', String(now + 60)], ['x', hash]], /"upload"/],
      [[['t', 'upload'], ['expiration', String(now + 60)]], /x tag/],
      [[['t', 'upload'], ['expiration', String(now + 60)], ['x', hash], ['server', 'cdn.example.com']], /another server/],
      [[['t', 'upload'], ['expiration', String(now + 60)], ['x', hash]], /future/, now + 3600],
      [[['t', 'upload'], ['expiration', String(now + 60)], ['x', hash]], /24242/, undefined, 27235],
    ];
    for (const [tags, why, created_at, kind] of cases) {
      expect(tokenProblem(token(tags, created_at, kind), request), JSON.stringify(tags)).toMatch(why);
    }
  });
});
