import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { NostrEvent } from 'nostr-tools/pure';
import { RawClient, signer, sleep, type Signer } from './helpers/client.js';
import { runCli, startRelay, tempDb, type RunningRelay } from './helpers/relay.js';

const running: RunningRelay[] = [];
const relay = async (env: Record<string, string> = {}) => {
  const r = await startRelay(env);
  running.push(r);
  return r;
};

afterAll(async () => {
  await Promise.all(running.map((r) => r.stop()));
});

async function publishAll(url: string, events: readonly NostrEvent[]): Promise<void> {
  const c = await RawClient.connect(url);
  try {
    for (const e of events) expect(await c.publish(e)).toEqual([true, '']);
  } finally {
    c.close();
  }
}

async function storedIds(url: string, filter: Record<string, unknown> = {}): Promise<string[]> {
  const c = await RawClient.connect(url);
  try {
    return (await c.req('all', { ...filter, limit: 1000 })).map((e) => e.id).sort();
  } finally {
    c.close();
  }
}

/** Bytes a plain REQ for every matching event costs, frames as received. */
async function fullReqBytes(url: string, filter: Record<string, unknown>): Promise<number> {
  const ws = new WebSocket(url);
  await new Promise((resolve) => ws.once('open', resolve));
  let bytes = 0;
  await new Promise<void>((resolve) => {
    ws.on('message', (data: Buffer) => {
      bytes += data.length;
      if (data.toString().startsWith('["EOSE"')) resolve();
    });
    ws.send(JSON.stringify(['REQ', 'full', { ...filter, limit: 1000 }]));
  });
  ws.close();
  return bytes;
}

const sync = (url: string, db: string, ...args: string[]) => runCli(['sync', url, ...args], { POWR_RELAY_DB: db }, '', 60_000);
const ids = (events: readonly NostrEvent[]) => events.map((e) => e.id).sort();
const signers = (n: number) => Array.from({ length: n }, () => signer());

describe('powr-relay sync', () => {
  it('makes two relays with overlapping sets agree with one --direction both, moving only the differing events', async () => {
    const [a, b] = await Promise.all([relay(), relay()]);
    const [alice, bob, carol] = signers(3);
    const common = Array.from({ length: 300 }, (_, i) => alice!.sign({ content: `common ${i} `.repeat(20) }));
    const onlyA = Array.from({ length: 20 }, (_, i) => bob!.sign({ content: `a ${i}` }));
    const onlyB = Array.from({ length: 25 }, (_, i) => carol!.sign({ content: `b ${i}` }));
    await Promise.all([publishAll(a.url, [...common, ...onlyA]), publishAll(b.url, [...common, ...onlyB])]);
    const full = await fullReqBytes(b.url, { kinds: [1] });

    // A live subscriber of the relay running on the database the sync writes to.
    const watcher = await RawClient.connect(a.url);
    await watcher.subscribe('live', { authors: [carol!.pubkey] });

    const run = await sync(b.url, a.db, '--direction', 'both', '--filter', '{"kinds":[1]}');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('by negentropy (NIP-77)');
    expect(run.stdout).toContain('have 20 (here, not there), need 25 (there, not here)');
    expect(run.stdout).toContain('received 25: 25 stored, 0 duplicates, 0 rejected');
    expect(run.stdout).toContain('sent 20: 20 accepted, 0 rejected');
    const bytes = Number(/(\d+) bytes received/.exec(run.stdout)![1]);
    expect(bytes).toBeGreaterThan(0);
    // The 25 missing events and the negentropy rounds, against 300+ events for a full REQ.
    expect(bytes).toBeLessThan(full / 4);

    const union = ids([...common, ...onlyA, ...onlyB]);
    expect(await storedIds(a.url)).toEqual(union);
    expect(await storedIds(b.url)).toEqual(union);
    // The running relay fans out what the sync wrote.
    const live = () => watcher.frames.filter((f) => f[0] === 'EVENT' && f[1] === 'live').map((f) => (f[2] as NostrEvent).id).sort();
    for (const deadline = Date.now() + 2000; live().length < onlyB.length && Date.now() < deadline;) await sleep(50);
    expect(live()).toEqual(ids(onlyB));
    watcher.close();

    const again = await sync(b.url, a.db, '--direction', 'both', '--filter', '{"kinds":[1]}');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('have 0 (here, not there), need 0 (there, not here)');
  }, 90_000);

  it('pages through a remote without NIP-77 by REQ windows, keeping 200 events that share one created_at', async () => {
    const b = await relay({ POWR_RELAY_NEGENTROPY: 'false' });
    const authors = signers(6);
    const base = Math.floor(Date.now() / 1000) - 5000;
    let n = 0;
    const at = (createdAt: number) => authors[n++ % authors.length]!.sign({ content: `e ${n}`, created_at: createdAt });
    const older = Array.from({ length: 300 }, (_, i) => at(base + i));
    const sameSecond = Array.from({ length: 200 }, () => at(base + 1000));
    const newer = Array.from({ length: 400 }, (_, i) => at(base + 2000 + i));
    await publishAll(b.url, [...older, ...sameSecond, ...newer]);

    // Ours only, for --direction both.
    const db = tempDb();
    const mine = Array.from({ length: 10 }, (_, i) => authors[0]!.sign({ content: `mine ${i}` }));
    const imported = await runCli(['import', '-'], { POWR_RELAY_DB: db }, mine.map((e) => JSON.stringify(e)).join('\n'));
    expect(imported.code).toBe(0);

    const run = await sync(b.url, db, '--direction', 'both');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/by REQ paging: the remote does not speak NIP-77 \(it answered NEG-OPEN with NOTICE "unsupported: /);
    expect(run.stdout).toContain('have 10 (here, not there), need 900 (there, not here)');
    expect(run.stdout).toContain('received 900: 900 stored, 0 duplicates, 0 rejected');
    expect(run.stdout).toContain('sent 10: 10 accepted, 0 rejected');

    const exported = await runCli(['export', '-'], { POWR_RELAY_DB: db });
    const local = exported.stdout.trim().split('\n').map((line) => (JSON.parse(line) as NostrEvent).id).sort();
    expect(local).toEqual(ids([...older, ...sameSecond, ...newer, ...mine]));
    expect(await storedIds(b.url, { ids: ids(mine) })).toEqual(ids(mine));
  }, 90_000);

  it('says the sync is incomplete, and exits non-zero, when more events share one created_at than the remote pages', async () => {
    const b = await relay({ POWR_RELAY_NEGENTROPY: 'false', POWR_RELAY_MAX_LIMIT: '100', POWR_RELAY_DEFAULT_LIMIT: '100' });
    const authors = signers(2);
    const second = Math.floor(Date.now() / 1000) - 100;
    await publishAll(b.url, Array.from({ length: 150 }, (_, i) => authors[i % 2]!.sign({ content: `tie ${i}`, created_at: second })));
    const run = await sync(b.url, tempDb());
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('received 100: 100 stored');
    expect(run.stdout).toContain(`incomplete: the remote's pages end inside runs of events sharing created_at ${second};`);
    expect(run.stderr).toBe('powr-relay: sync: incomplete (see the summary above)\n');
  }, 60_000);

  it('refuses forged and invalid events from the remote by the local checks, and counts them by reason', async () => {
    const b = await relay();
    const alice: Signer = signer();
    const good = Array.from({ length: 5 }, (_, i) => alice.sign({ content: `good ${i}` }));
    await publishAll(b.url, good);
    // Stored on the remote without checks (import --no-verify), as a careless relay would.
    const stolenSig = { ...alice.sign({ content: 'forged' }), sig: good[0]!.sig };
    const tampered = { ...alice.sign({ content: 'original' }), content: 'tampered' };
    const lines = [stolenSig, tampered].map((e) => JSON.stringify(e)).join('\n');
    expect((await runCli(['import', '--no-verify', '-'], { POWR_RELAY_DB: b.db }, lines)).code).toBe(0);
    await sleep(500); // the remote's writer picks up the import

    const db = tempDb();
    const run = await sync(b.url, db);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('need 7 (there, not here)');
    expect(run.stdout).toContain('received 7: 5 stored, 0 duplicates, 2 rejected');
    expect(run.stdout).toMatch(/ {7}1 {2}invalid: signature verification failed/);
    expect(run.stdout).toMatch(/ {7}1 {2}invalid: event id does not match the hash of its content/);
    const exported = await runCli(['export', '-'], { POWR_RELAY_DB: db });
    expect(exported.stdout.trim().split('\n').map((line) => (JSON.parse(line) as NostrEvent).id).sort()).toEqual(ids(good));
  }, 60_000);

  it('fails with one line and a non-zero exit when the remote cannot be reached or the arguments are wrong', async () => {
    const db = tempDb();
    const unreachable = await sync('ws://127.0.0.1:1', db);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/^powr-relay: sync: cannot connect to ws:\/\/127\.0\.0\.1:1: .*\n$/);
    const badFilter = await sync('ws://127.0.0.1:1', db, '--filter', '[1]');
    expect(badFilter.code).toBe(1);
    expect(badFilter.stderr).toMatch(/^powr-relay: --filter must be one JSON filter object/);
    const badDirection = await sync('ws://127.0.0.1:1', db, '--direction', 'sideways');
    expect(badDirection.code).toBe(1);
    expect(badDirection.stderr).toMatch(/^powr-relay: --direction must be down, up or both/);
    const noUrl = await runCli(['sync', 'http://example'], { POWR_RELAY_DB: db });
    expect(noUrl.code).toBe(1);
    expect(noUrl.stderr).toMatch(/^powr-relay: sync: give the remote relay as a ws:\/\/ or wss:\/\/ URL/);
  }, 30_000);
});
