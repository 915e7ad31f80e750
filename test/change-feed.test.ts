import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NostrEvent } from '../src/protocol/event.js';
import { RawClient, signer, sleep } from './helpers/client.js';
import { runCli, startRelay, type RunningRelay } from './helpers/relay.js';

/** The committed-change feed as clients see it: live delivery of every commit, and REQs without gaps. */
describe('committed-change feed', () => {
  let relay: RunningRelay;
  beforeAll(async () => {
    relay = await startRelay();
  });
  afterAll(() => relay.stop());

  it('delivers events imported by another process to a live subscriber within a second', async () => {
    const client = await RawClient.connect(relay.url);
    const importer = signer();
    expect(await client.subscribe('imports', { authors: [importer.pubkey] })).toEqual([]);
    const events = Array.from({ length: 20 }, (_, i) => importer.sign({ kind: 1, content: `imported ${i}` }));
    const run = await runCli(['import'], { POWR_RELAY_DB: relay.db }, events.map((e) => JSON.stringify(e)).join('\n'));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('20 accepted');
    // Verified in parallel, the events commit in any order; each is delivered once.
    const delivered = () => client.frames.filter((f) => f[0] === 'EVENT' && f[1] === 'imports').map((f) => (f[2] as NostrEvent).id);
    const imported = Date.now();
    while (delivered().length < events.length && Date.now() - imported < 1000) await sleep(20);
    expect(delivered().sort()).toEqual(events.map((e) => e.id).sort());
    client.close();
  });

  it('leaves no live subscription behind for a client that disconnects before its REQ is answered', async () => {
    for (let i = 0; i < 40; i++) {
      const client = await RawClient.connect(relay.url);
      // The later REQs wait their turn behind the first one's query, while the connection closes.
      for (const n of [1, 2, 3]) client.send(['REQ', `gone-${i}-${n}`, { kinds: [1] }]);
      client.ws.terminate();
    }
    const open = async () => {
      const text = await (await fetch(`${relay.httpUrl}/metrics`)).text();
      return Number(/^powr_subscriptions (\d+)/m.exec(text)?.[1]);
    };
    for (const deadline = Date.now() + 2000; (await open()) !== 0 && Date.now() < deadline;) await sleep(50);
    expect(await open()).toBe(0);
  });

  it('answers a REQ opened during a stream of publishes with every event exactly once: stored, EOSE, then live', async () => {
    const publisher = await RawClient.connect(relay.url);
    const author = signer();
    const events = Array.from({ length: 400 }, (_, i) => author.sign({ kind: 1, content: `stream ${i}` }));
    const acked: Promise<[boolean, string]>[] = [];
    const readers: RawClient[] = [];
    for (let i = 0; i < events.length; i++) {
      acked.push(publisher.publish(events[i]!));
      // Subscribers arrive while events are being committed.
      if (i % 80 === 40) {
        const reader = await RawClient.connect(relay.url);
        reader.send(['REQ', 'all', { authors: [author.pubkey], limit: 5000 }]);
        readers.push(reader);
      }
    }
    expect((await Promise.all(acked)).every(([ok]) => ok)).toBe(true);
    for (const reader of readers) {
      const count = () => reader.frames.filter((f) => f[0] === 'EVENT').length;
      for (const deadline = Date.now() + 5000; count() < events.length && Date.now() < deadline;) await sleep(20);
      const frames = reader.frames.filter((f) => f[1] === 'all');
      const eose = frames.findIndex((f) => f[0] === 'EOSE');
      expect(eose).toBeGreaterThanOrEqual(0);
      const ids = frames.filter((f) => f[0] === 'EVENT').map((f) => (f[2] as NostrEvent).id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(new Set(ids)).toEqual(new Set(events.map((e) => e.id)));
      // Stored events (before EOSE) come newest first; the rest arrived live, after EOSE.
      const stored = frames.slice(0, eose).map((f) => (f[2] as NostrEvent).created_at);
      expect(stored).toEqual([...stored].sort((a, b) => b - a));
      reader.close();
    }
    publisher.close();
  });
});
