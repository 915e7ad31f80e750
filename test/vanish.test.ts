import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NostrEvent } from 'nostr-tools/pure';
import { RawClient, signer, type Signer } from './helpers/client.js';
import { startRelay, startRelayWithPublicUrl, type RunningRelay } from './helpers/relay.js';

/** The URL requests to vanish name this relay by. */
const PUBLIC_URL = 'wss://relay.example.com';

const now = () => Math.floor(Date.now() / 1000);

/** An exercise, a template using it and a note by `who`, all created before `before`. */
function workout(who: Signer, d: string, before: number): NostrEvent[] {
  const exercise = who.sign({ kind: 33401, created_at: before - 30, tags: [['d', `${d}-squat`], ['title', 'Squat'],
    ['format', 'weight', 'reps', 'rpe', 'set_type'], ['format_units', 'kg', 'count', '0-10', 'enum'], ['equipment', 'barbell']] });
  const template = who.sign({ kind: 33402, created_at: before - 20, tags: [['d', d], ['title', `Legs ${d}`], ['type', 'strength'],
    ['exercise', `33401:${who.pubkey}:${d}-squat`, '', '100', '5', '8', 'normal']] });
  const note = who.sign({ kind: 1, created_at: before - 10, content: 'leg day' });
  return [exercise, template, note];
}

/** A request to vanish naming `relays`. */
const vanish = (who: Signer, relays: string[], created_at = now()) =>
  who.sign({ kind: 62, created_at, content: 'forget me', tags: relays.map((r) => ['relay', r]) });

async function publishAll(c: RawClient, events: NostrEvent[]): Promise<void> {
  for (const e of events) expect(await c.publish(e), e.kind.toString()).toEqual([true, '']);
}

const status = async (url: string, headers: Record<string, string> = {}) => (await fetch(url, { headers })).status;

describe('NIP-62 request to vanish', () => {
  let relay: RunningRelay;
  let c: RawClient;
  beforeAll(async () => {
    relay = await startRelayWithPublicUrl(PUBLIC_URL);
    c = await RawClient.connect(relay.url);
  });
  afterAll(async () => {
    c.close();
    await relay.stop();
  });

  /** Rows of the processed tables and gift wraps, read from the database file as it is committed. */
  function rows(sql: string, ...params: unknown[]): number {
    const db = new BetterSqlite3(relay.db, { readonly: true });
    try {
      return db.prepare(sql).pluck().get(...params) as number;
    } finally {
      db.close();
    }
  }

  it('removes every event of the author, processed rows and gift wraps to them included, and refuses older ones', async () => {
    const leaving = signer();
    const staying = signer();
    const friend = signer();
    const t = now();
    const mine = workout(leaving, 'legs', t);
    const theirs = workout(staying, 'legs', t);
    await publishAll(c, [...mine, ...theirs]);
    // A gift wrap (signed by a throwaway key, NIP-59) addressed to the author, and one to someone else.
    const wrapToLeaving = signer().sign({ kind: 1059, created_at: t - 3600, content: 'sealed', tags: [['p', leaving.pubkey]] });
    const wrapToFriend = signer().sign({ kind: 1059, created_at: t - 3600, content: 'sealed', tags: [['p', friend.pubkey]] });
    await publishAll(c, [wrapToLeaving, wrapToFriend]);

    const templateUrl = `${relay.httpUrl}/api/bundle?a=${encodeURIComponent(`33402:${leaving.pubkey}:legs`)}`;
    const pageUrl = `${relay.httpUrl}/templates/${encodeURIComponent(`33402:${leaving.pubkey}:legs`)}`;
    expect(await status(templateUrl)).toBe(200);
    expect(await status(pageUrl, { Accept: 'text/html' })).toBe(200);
    expect(rows('SELECT COUNT(*) FROM templates t JOIN nostr_events e ON e.seq = t.event_seq WHERE e.pubkey = ?', Buffer.from(leaving.pubkey, 'hex'))).toBe(1);

    // Named with a trailing slash: the same URL.
    const request = vanish(leaving, [`${PUBLIC_URL}/`]);
    expect(await c.publish(request)).toEqual([true, '']);
    expect((await c.req('after', { authors: [leaving.pubkey] })).map((e) => e.id)).toEqual([request.id]);
    expect(await status(templateUrl)).toBe(404);
    expect(await status(pageUrl, { Accept: 'text/html' })).toBe(404);
    const pk = Buffer.from(leaving.pubkey, 'hex');
    expect(rows('SELECT COUNT(*) FROM templates t JOIN nostr_events e ON e.seq = t.event_seq WHERE e.pubkey = ?', pk)).toBe(0);
    expect(rows('SELECT COUNT(*) FROM exercises x JOIN nostr_events e ON e.seq = x.event_seq WHERE e.pubkey = ?', pk)).toBe(0);
    expect(rows('SELECT COUNT(*) FROM nostr_events WHERE id = ?', Buffer.from(wrapToLeaving.id, 'hex'))).toBe(0);
    expect(rows('SELECT COUNT(*) FROM nostr_events WHERE id = ?', Buffer.from(wrapToFriend.id, 'hex'))).toBe(1);
    // Another author's events are untouched.
    expect(await c.req('theirs', { authors: [staying.pubkey] })).toHaveLength(3);

    // Re-broadcasts of what was removed, and anything else older than the request, are refused.
    for (const old of mine) {
      expect(await c.publish(old)).toEqual([false, 'blocked: this author asked this relay to forget their events (NIP-62) up to a later time']);
    }
    expect((await c.publish(leaving.sign({ created_at: request.created_at, content: 'same second' })))[0]).toBe(false);
    // Newer events are accepted.
    expect(await c.publish(leaving.sign({ created_at: request.created_at + 1, content: 'back again' }))).toEqual([true, '']);
    // A deletion cannot undo the request.
    expect(await c.publish(leaving.sign({ kind: 5, created_at: request.created_at + 2, tags: [['e', request.id]] }))).toEqual([true, '']);
    expect(await c.req('kept', { ids: [request.id] })).toHaveLength(1);
  });

  it('ALL_RELAYS applies here too', async () => {
    const leaving = signer();
    const events = workout(leaving, 'all', now());
    await publishAll(c, events);
    expect(await c.publish(vanish(leaving, ['ALL_RELAYS']))).toEqual([true, '']);
    expect(await c.req('x', { ids: events.map((e) => e.id) })).toEqual([]);
  });

  it('a request naming another relay, or no relay, changes nothing here', async () => {
    const author = signer();
    const events = workout(author, 'other', now());
    await publishAll(c, events);
    expect(await c.publish(vanish(author, ['wss://another.example.com']))).toEqual([true, '']);
    expect(await c.publish(vanish(author, ['wss://relay.example.com.evil.example']))).toEqual([true, '']);
    expect(await c.publish(vanish(author, []))).toEqual([true, '']);
    expect(await c.req('x', { ids: events.map((e) => e.id) })).toHaveLength(3);
    expect(await c.publish(author.sign({ created_at: now() - 100 }))).toEqual([true, '']);
  });
});

describe('NIP-62 without a public URL', () => {
  it('applies only ALL_RELAYS, since the relay does not know which URL names it', async () => {
    const relay = await startRelay();
    const c = await RawClient.connect(relay.url);
    const author = signer();
    const events = workout(author, 'local', now());
    await publishAll(c, events);
    expect(await c.publish(vanish(author, [relay.url]))).toEqual([true, '']);
    expect(await c.req('x', { ids: events.map((e) => e.id) })).toHaveLength(3);
    expect(await c.publish(vanish(author, ['ALL_RELAYS']))).toEqual([true, '']);
    expect(await c.req('y', { ids: events.map((e) => e.id) })).toEqual([]);
    c.close();
    await relay.stop();
  });
});
