import { describe, expect, it } from 'vitest';
import { nip77 } from 'nostr-tools';
import { idListsAsMismatches } from '../../src/relay/negentropy.js';

/**
 * The relay's answering side of NIP-77 (nostr-tools' reconcile behind idListsAsMismatches) against
 * nostr-tools' initiating side, in memory: sets large enough to need several frame-limited rounds,
 * timestamps shared by many ids, and empty sides.
 */

const hex = (n: number) => n.toString(16).padStart(64, '0');

function storage(from: number, to: number): nip77.NegentropyStorageVector {
  const s = new nip77.NegentropyStorageVector();
  // Seven timestamps only, so most ranges are split inside one timestamp, by id.
  for (let n = from; n < to; n++) s.insert(1_700_000_000 + (n % 7), hex(n));
  s.seal();
  return s;
}

function reconcile(server: nip77.NegentropyStorageVector, client: nip77.NegentropyStorageVector, rewrite = true) {
  const relay = new nip77.Negentropy(server);
  const initiator = new nip77.Negentropy(client);
  const have = new Set<string>();
  const need = new Set<string>();
  let rounds = 0;
  for (let message: string | null = initiator.initiate(); message !== null; rounds++) {
    const answer = relay.reconcile(rewrite ? idListsAsMismatches(message) : message) ?? '61';
    message = initiator.reconcile(answer, (id) => have.add(id), (id) => need.add(id));
  }
  return { have: [...have].sort(), need: [...need].sort(), rounds };
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => hex(from + i)).sort();

describe('NIP-77 answering side', () => {
  it.each([
    ['overlapping halves', [0, 50], [25, 75]],
    ['an empty client', [0, 40], [0, 0]],
    ['an empty relay', [0, 0], [0, 500]],
    ['sets of thousands, several rounds', [0, 5000], [2500, 7000]],
    ['identical sets', [0, 3000], [0, 3000]],
  ])('finds exactly the difference: %s', (_name, [s0, s1], [c0, c1]) => {
    const { have, need } = reconcile(storage(s0!, s1!), storage(c0!, c1!));
    expect(have).toEqual(range(Math.max(c0!, s1!), c1!).concat(range(c0!, Math.min(c1!, s0!))).sort());
    expect(need).toEqual(range(s0!, Math.min(s1!, c0!)).concat(range(Math.max(s0!, c1!), s1!)).sort());
  });

  it("is needed: nostr-tools' reconcile alone leaves out the relay's ids of ranges the client lists", () => {
    const { need } = reconcile(storage(0, 40), storage(0, 0), false);
    expect(need).toEqual([]);
  });

  it('keeps skip and fingerprint ranges as they are, and refuses a truncated message', () => {
    const initiator = new nip77.Negentropy(storage(0, 5000));
    const message = initiator.initiate();
    expect(idListsAsMismatches(message)).toBe(message); // a large set opens with fingerprints only
    expect(() => idListsAsMismatches(message.slice(0, 20))).toThrow(/prematurely/);
  });
});
