import { describe, expect, it } from 'vitest';
import { readBlobEntry } from '../../src/store/sqlite/cluster-blobs.js';

const hex = (c: string) => c.repeat(64);

describe('blob entries of the cluster stream', () => {
  it('reads the two changes every node applies, as the writer publishes them', () => {
    const add = { op: 'add', blob: { sha256: hex('a'), size: 10, type: 'image/png', pubkey: hex('b'), now: 1_800_000_000 } } as const;
    const remove = { op: 'removeOwner', sha256: hex('a'), pubkey: hex('b') } as const;
    expect(readBlobEntry(JSON.stringify(add))).toEqual(add);
    expect(readBlobEntry(JSON.stringify(remove))).toEqual(remove);
  });

  it('carries an optimised blob\'s NIP-94 values (PUT /media), and names a malformed one', () => {
    const meta = { ox: hex('c'), dim: '640x480', blurhash: 'LEHV6nWB2yk8pyo0adR*.7kCMdnj', thumb: hex('d') };
    const add = { op: 'add', blob: { sha256: hex('a'), size: 10, type: 'image/webp', pubkey: hex('b'), now: 1, meta } } as const;
    expect(readBlobEntry(JSON.stringify(add))).toEqual(add);
    const withMeta = (m: unknown) => JSON.stringify({ ...add, blob: { ...add.blob, meta: m } });
    expect(readBlobEntry(withMeta(null))).toBe('add\'s meta must be an object');
    expect(readBlobEntry(withMeta({ ...meta, thumb: 'x' }))).toBe('add\'s meta.thumb must be 64 lowercase hex');
    expect(readBlobEntry(withMeta({ ...meta, dim: '640 by 480' }))).toBe('add\'s meta.dim must be <width>x<height>');
    expect(readBlobEntry(withMeta({ ...meta, blurhash: 7 }))).toBe('add\'s meta.blurhash must be a short string');
  });

  it('names what is wrong with a message a foreign publisher put in the stream', () => {
    const blob = { sha256: hex('a'), size: 10, type: 'image/png', pubkey: hex('b'), now: 1 };
    expect(readBlobEntry('{')).toBe('not JSON');
    expect(readBlobEntry('null')).toBe('not an object');
    expect(readBlobEntry(JSON.stringify({ op: 'touch', served: [] }))).toBe('unknown op "touch"');
    expect(readBlobEntry(JSON.stringify({ op: 'removeOwner', sha256: hex('A'), pubkey: hex('b') }))).toMatch(/64 lowercase hex/);
    expect(readBlobEntry(JSON.stringify({ op: 'add' }))).toBe('add needs a blob');
    expect(readBlobEntry(JSON.stringify({ op: 'add', blob: { ...blob, size: -1 } }))).toMatch(/whole numbers/);
    expect(readBlobEntry(JSON.stringify({ op: 'add', blob: { ...blob, now: 1.5 } }))).toMatch(/whole numbers/);
    expect(readBlobEntry(JSON.stringify({ op: 'add', blob: { ...blob, type: '' } }))).toBe('add needs a type');
    expect(readBlobEntry(JSON.stringify({ op: 'add', blob: { ...blob, pubkey: 'x' } }))).toMatch(/64 lowercase hex/);
  });
});
