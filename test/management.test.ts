import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NostrEvent } from 'nostr-tools/pure';
import { RawClient, signer, sleep } from './helpers/client.js';
import { authorization, call, post, type Answer, type Nip98Options } from './helpers/nip86.js';
import { runCli, startRelay, startRelayWithPublicUrl, type RunningRelay } from './helpers/relay.js';

const admin = signer();
const stranger = signer();

const now = () => Math.floor(Date.now() / 1000);

/** One NIP-86 call by the admin. */
function rpc(relay: RunningRelay, method: string, params: unknown[] = [], who = admin): Promise<Answer> {
  return call(relay, who, method, params);
}

async function result(relay: RunningRelay, method: string, params: unknown[] = []): Promise<unknown> {
  const answer = await rpc(relay, method, params);
  expect(answer, JSON.stringify(answer)).toEqual({ status: 200, body: { result: expect.anything() } });
  return answer.body.result;
}

const ADMINS = { POWR_RELAY_ADMIN_PUBKEYS: admin.pubkey };

describe('NIP-86 authorization (NIP-98)', () => {
  let relay: RunningRelay;
  beforeAll(async () => {
    relay = await startRelayWithPublicUrl('wss://relay.example.com', ADMINS);
  });
  afterAll(() => relay.stop());

  const body = JSON.stringify({ method: 'supportedmethods', params: [] });

  it('accepts the request URL with or without a trailing slash, and the relay\'s ws:// and public URLs', async () => {
    for (const url of [relay.httpUrl, `${relay.httpUrl}/`, relay.url, 'wss://relay.example.com', 'wss://relay.example.com/']) {
      const answer = await post(relay, body, authorization(relay, admin, body, { url }));
      expect(answer.status, url).toBe(200);
      expect(answer.body.result).toContain('banpubkey');
    }
  });

  it('answers 401 without a header, with a malformed one and with a bad signature', async () => {
    const signed = JSON.parse(Buffer.from(authorization(relay, admin, body).slice(6), 'base64').toString()) as NostrEvent;
    const forged = `Nostr ${Buffer.from(JSON.stringify({ ...signed, sig: 'ab'.repeat(64) })).toString('base64')}`;
    const cases: [string | undefined, RegExp][] = [
      [undefined, /^auth-required: /],
      ['Bearer abc', /^invalid: the Authorization header must be "Nostr/],
      ['Nostr !!!', /^invalid: the Authorization header must be "Nostr/],
      [`Nostr ${Buffer.from('not json').toString('base64')}`, /^invalid: .*base64-encoded JSON/],
      [`Nostr ${Buffer.from('{"kind":27235}').toString('base64')}`, /^invalid: /],
      [forged, /^invalid: signature/],
    ];
    for (const [auth, expected] of cases) {
      const answer = await post(relay, body, auth);
      expect(answer.status, auth).toBe(401);
      expect(answer.body.error).toMatch(expected);
    }
  });

  it('answers 401 for a wrong payload hash, URL, method, kind or a stale time', async () => {
    const cases: [Nip98Options, RegExp][] = [
      [{ payload: createHash('sha256').update('other').digest('hex') }, /payload tag/],
      [{ url: 'https://elsewhere.example/' }, /u tag/],
      [{ url: `${relay.httpUrl}/admin` }, /u tag/],
      [{ method: 'GET' }, /method tag/],
      [{ kind: 27236 }, /kind 27235/],
      [{ created_at: now() - 120 }, /within 60 seconds/],
      [{ created_at: now() + 120 }, /within 60 seconds/],
    ];
    for (const [spoil, expected] of cases) {
      const answer = await post(relay, body, authorization(relay, admin, body, spoil));
      expect(answer.status, JSON.stringify(spoil)).toBe(401);
      expect(answer.body.error).toMatch(expected);
    }
  });

  it('answers 403 to a valid signature by a pubkey that is not an admin', async () => {
    const answer = await rpc(relay, 'banpubkey', [stranger.pubkey], stranger);
    expect(answer).toEqual({ status: 403, body: { error: 'restricted: this pubkey is not an admin of this relay' } });
    expect(await result(relay, 'listbannedpubkeys')).toEqual([]);
  });

  it('refuses bad bodies, unknown methods and bad parameters with an error naming the fault', async () => {
    const raw = async (text: string) => post(relay, text, authorization(relay, admin, text));
    expect((await raw('not json')).body.error).toMatch(/^invalid: the body must be JSON/);
    expect((await raw('[1]')).body.error).toMatch(/^invalid: the body must be a JSON object/);
    expect((await raw('{"method": 5, "params": []}')).body.error).toBe('invalid: "method" must be a string');
    expect((await raw('{"method": "banpubkey", "params": "x"}')).body.error).toBe('invalid: "params" must be an array');
    const bad: [string, unknown[], RegExp][] = [
      ['nosuchmethod', [], /^invalid: unknown method "nosuchmethod"/],
      ['banpubkey', [], /hex pubkey/],
      ['banpubkey', ['ABC'], /hex pubkey/],
      ['banpubkey', [stranger.pubkey, 5], /reason/],
      ['allowpubkey', [stranger.pubkey.toUpperCase()], /hex pubkey/],
      ['banevent', ['xyz'], /hex event id/],
      ['allowevent', [], /hex event id/],
      ['allowkind', ['1'], /event kind/],
      ['disallowkind', [70000], /event kind/],
      ['disallowkind', [1.5], /event kind/],
      ['blockip', ['300.1.1.1'], /IPv4 or IPv6/],
      ['unblockip', [], /IPv4 or IPv6/],
      ['changerelayname', [42], /name must be a string/],
      ['changerelaydescription', [null], /description must be a string/],
      ['changerelayicon', ['javascript:alert(1)'], /http:\/\/ or https:\/\//],
    ];
    for (const [method, params, expected] of bad) {
      const answer = await rpc(relay, method, params);
      expect(answer.status, method).toBe(200);
      expect(answer.body.error, `${method} ${JSON.stringify(params)}`).toMatch(expected);
    }
    // Nothing of it was stored.
    for (const list of ['listbannedpubkeys', 'listallowedpubkeys', 'listbannedevents', 'listallowedkinds', 'listblockedips']) {
      expect(await result(relay, list), list).toEqual([]);
    }
  });

  it('answers 413 to a body larger than 64 KiB', async () => {
    const big = JSON.stringify({ method: 'changerelaydescription', params: ['x'.repeat(70_000)] });
    const answer = await post(relay, big, authorization(relay, admin, big));
    expect(answer).toEqual({ status: 413, body: { error: 'invalid: the request body is larger than 65536 bytes' } });
  });

  it('answers 429 once the address has used its REQ rate limit', async () => {
    const limited = await startRelay({ ...ADMINS, POWR_RELAY_REQS_PER_MINUTE_PER_IP: '2' });
    try {
      expect((await rpc(limited, 'supportedmethods')).status).toBe(200);
      expect((await rpc(limited, 'supportedmethods')).status).toBe(200);
      const third = await rpc(limited, 'supportedmethods');
      expect(third.status).toBe(429);
      expect(third.body.error).toMatch(/^rate-limited: /);
    } finally {
      await limited.stop();
    }
  });

  it('is not reached with another content type', async () => {
    const res = await fetch(relay.httpUrl, { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } });
    expect(res.status).toBe(405);
  });
});

describe('NIP-86 methods', () => {
  let relay: RunningRelay;
  beforeAll(async () => {
    relay = await startRelay({ ...ADMINS, POWR_RELAY_TRUSTED_PROXIES: '127.0.0.1' });
  });
  afterAll(() => relay.stop());

  it('lists its methods', async () => {
    expect(await result(relay, 'supportedmethods')).toEqual(expect.arrayContaining([
      'supportedmethods', 'banpubkey', 'listbannedpubkeys', 'allowpubkey', 'listallowedpubkeys', 'banevent', 'allowevent',
      'listbannedevents', 'changerelayname', 'changerelaydescription', 'changerelayicon', 'allowkind', 'disallowkind',
      'listallowedkinds', 'blockip', 'unblockip', 'listblockedips',
    ]));
  });

  it('banpubkey: stored events go at once, live subscribers get nothing more, new events are blocked, and it is audited', async () => {
    const spammer = signer();
    const c = await RawClient.connect(relay.url);
    const first = spammer.sign({ content: 'one' });
    const second = spammer.sign({ content: 'two' });
    expect(await c.publish(first)).toEqual([true, '']);
    expect(await c.publish(second)).toEqual([true, '']);
    const watcher = await RawClient.connect(relay.url);
    expect(await watcher.subscribe('live', { authors: [spammer.pubkey] })).toHaveLength(2);

    expect(await result(relay, 'banpubkey', [spammer.pubkey, 'spam'])).toBe(true);
    expect(await c.req('after', { authors: [spammer.pubkey] })).toEqual([]);
    expect(await c.req('by-id', { ids: [first.id, second.id] })).toEqual([]);
    const third = spammer.sign({ content: 'three' });
    expect(await c.publish(third)).toEqual([false, 'blocked: this author is banned from this relay']);
    await sleep(300);
    expect(watcher.frames.filter((f) => f[0] === 'EVENT' && f[1] === 'live')).toHaveLength(2);
    expect(await result(relay, 'listbannedpubkeys')).toEqual([{ pubkey: spammer.pubkey, reason: 'spam' }]);

    const audit = relay.logs.find((l) => l.msg === 'management decision' && l.method === 'banpubkey');
    expect(audit).toMatchObject({ level: 30, admin: admin.pubkey, params: [spammer.pubkey, 'spam'] });
    c.close();
    watcher.close();
  });

  it('banevent removes the event and refuses it later; allowevent lifts that', async () => {
    const author = signer();
    const c = await RawClient.connect(relay.url);
    const note = author.sign({ content: 'off-topic' });
    const other = author.sign({ content: 'fine' });
    expect(await c.publish(note)).toEqual([true, '']);
    expect(await c.publish(other)).toEqual([true, '']);
    expect(await result(relay, 'banevent', [note.id, 'off-topic'])).toBe(true);
    expect((await c.req('a', { authors: [author.pubkey] })).map((e) => e.id)).toEqual([other.id]);
    expect(await c.publish(note)).toEqual([false, 'blocked: this event is banned from this relay']);
    expect(await result(relay, 'listbannedevents')).toEqual([{ id: note.id, reason: 'off-topic' }]);

    expect(await result(relay, 'allowevent', [note.id])).toBe(true);
    expect(await result(relay, 'listbannedevents')).toEqual([]);
    expect(await c.publish(note)).toEqual([true, '']);
    c.close();
  });

  it('disallowkind refuses a kind; allowkind lifts that, or else starts a list of the only kinds accepted', async () => {
    const author = signer();
    const c = await RawClient.connect(relay.url);
    const reaction = () => author.sign({ kind: 7, content: '+' });
    expect(await result(relay, 'disallowkind', [7])).toBe(true);
    expect(await c.publish(reaction())).toEqual([false, 'blocked: events of kind 7 are not accepted by this relay']);
    expect(await c.publish(author.sign({ kind: 1 }))).toEqual([true, '']);
    expect(await result(relay, 'allowkind', [7])).toBe(true);
    expect(await result(relay, 'listallowedkinds')).toEqual([]);
    expect(await c.publish(reaction())).toEqual([true, '']);

    expect(await result(relay, 'allowkind', [1])).toBe(true);
    expect(await result(relay, 'allowkind', [33401])).toBe(true);
    expect(await result(relay, 'listallowedkinds')).toEqual([1, 33401]);
    expect(await c.publish(author.sign({ kind: 1 }))).toEqual([true, '']);
    expect(await c.publish(reaction())).toEqual([false, 'blocked: events of kind 7 are not accepted by this relay']);

    // disallowkind always refuses; allowkind then lifts that, leaving no list: every kind is accepted.
    expect(await result(relay, 'disallowkind', [1])).toBe(true);
    expect(await result(relay, 'listallowedkinds')).toEqual([33401]);
    expect(await c.publish(author.sign({ kind: 1 }))).toEqual([false, 'blocked: events of kind 1 are not accepted by this relay']);
    expect(await result(relay, 'disallowkind', [33401])).toBe(true);
    expect(await result(relay, 'listallowedkinds')).toEqual([]);
    expect(await c.publish(reaction())).toEqual([true, '']);
    expect(await result(relay, 'allowkind', [1])).toBe(true);
    expect(await result(relay, 'allowkind', [33401])).toBe(true);
    expect(await result(relay, 'listallowedkinds')).toEqual([]);
    expect(await c.publish(author.sign({ kind: 1 }))).toEqual([true, '']);
    c.close();
  });

  it('blockip refuses connections and HTTP from the address; unblockip lets it back', async () => {
    const blocked = '203.0.113.7';
    const from = { 'X-Forwarded-For': blocked };
    expect(await result(relay, 'blockip', [blocked, 'abuse'])).toBe(true);
    expect(await result(relay, 'listblockedips')).toEqual([{ ip: blocked, reason: 'abuse' }]);

    const refused = await RawClient.connect(relay.url, { headers: from });
    const notice = await refused.next((f) => f[0] === 'NOTICE');
    expect(notice[1]).toBe('blocked: this address is blocked by the relay operator');
    await sleep(200);
    expect(refused.closeCode).toBe(1008);
    expect((await fetch(`${relay.httpUrl}/health`, { headers: from })).status).toBe(403);
    // Other addresses are unaffected.
    expect((await fetch(`${relay.httpUrl}/health`, { headers: { 'X-Forwarded-For': '203.0.113.8' } })).status).toBe(200);

    expect(await result(relay, 'unblockip', [blocked])).toBe(true);
    expect(await result(relay, 'listblockedips')).toEqual([]);
    expect((await fetch(`${relay.httpUrl}/health`, { headers: from })).status).toBe(200);
    const back = await RawClient.connect(relay.url, { headers: from });
    expect(await back.req('x', { kinds: [1], limit: 1 })).toBeInstanceOf(Array);
    back.close();
  });

  it('changerelayname, changerelaydescription and changerelayicon show in NIP-11 at once', async () => {
    const info = async () => (await fetch(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } })).json() as Promise<Record<string, unknown>>;
    expect((await info()).supported_nips).toEqual(expect.arrayContaining([62, 86]));
    expect(await result(relay, 'changerelayname', ['Gym Relay'])).toBe(true);
    expect(await result(relay, 'changerelaydescription', ['Lifts only.'])).toBe(true);
    expect(await result(relay, 'changerelayicon', ['https://gym.example/icon.png'])).toBe(true);
    expect(await info()).toMatchObject({ name: 'Gym Relay', description: 'Lifts only.', icon: 'https://gym.example/icon.png' });
  });

  it('allowpubkey lifts a ban, or else makes a list of the only pubkeys that may publish', async () => {
    const member = signer();
    const outsider = signer();
    const c = await RawClient.connect(relay.url);
    expect(await result(relay, 'banpubkey', [member.pubkey])).toBe(true);
    expect(await c.publish(member.sign({}))).toEqual([false, 'blocked: this author is banned from this relay']);
    expect(await result(relay, 'allowpubkey', [member.pubkey])).toBe(true);
    expect((await result(relay, 'listbannedpubkeys') as { pubkey: string }[]).map((e) => e.pubkey)).not.toContain(member.pubkey);
    expect(await result(relay, 'listallowedpubkeys')).toEqual([]);
    expect(await c.publish(member.sign({}))).toEqual([true, '']);
    expect(await c.publish(outsider.sign({}))).toEqual([true, '']);

    expect(await result(relay, 'allowpubkey', [member.pubkey, 'paid'])).toBe(true);
    expect(await result(relay, 'listallowedpubkeys')).toEqual([{ pubkey: member.pubkey, reason: 'paid' }]);
    expect(await c.publish(member.sign({}))).toEqual([true, '']);
    expect(await c.publish(outsider.sign({}))).toEqual([false, 'restricted: this relay accepts events only from its allowed authors']);
    const info = await (await fetch(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } })).json() as { limitation: Record<string, unknown> };
    expect(info.limitation.restricted_writes).toBe(true);
    // banpubkey takes a pubkey off the allowed list.
    expect(await result(relay, 'banpubkey', [member.pubkey])).toBe(true);
    expect(await result(relay, 'listallowedpubkeys')).toEqual([]);
    c.close();
  });
});

describe('decisions outlive a restart and come from the CLI too', () => {
  it('keeps a ban across a restart, and a running relay applies the CLI\'s decisions', async () => {
    const spammer = signer();
    const author = signer();
    let relay = await startRelay(ADMINS);
    const db = relay.db;
    expect(await result(relay, 'banpubkey', [spammer.pubkey, 'spam'])).toBe(true);
    expect(await result(relay, 'changerelayname', ['Renamed'])).toBe(true);
    await relay.stop();

    relay = await startRelay(ADMINS, db);
    const c = await RawClient.connect(relay.url);
    expect(await c.publish(spammer.sign({}))).toEqual([false, 'blocked: this author is banned from this relay']);
    expect(await result(relay, 'listbannedpubkeys')).toEqual([{ pubkey: spammer.pubkey, reason: 'spam' }]);
    expect(await (await fetch(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } })).json()).toMatchObject({ name: 'Renamed' });

    // The CLI beside the running relay: a ban removes the author's events and the relay refuses them.
    const note = author.sign({ content: 'soon gone' });
    expect(await c.publish(note)).toEqual([true, '']);
    const cli = (args: string[]) => runCli(args, { POWR_RELAY_DB: db });
    const banned = await cli(['ban', 'pubkey', author.pubkey, '--reason', 'from the CLI']);
    expect(banned, banned.stderr).toMatchObject({ code: 0, stdout: `banned pubkey ${author.pubkey}\n` });
    expect(await c.req('gone', { ids: [note.id] })).toEqual([]);
    expect(await c.publish(author.sign({}))).toEqual([false, 'blocked: this author is banned from this relay']);
    // Kinds are refused only by the running relay's own copy of the decisions: it re-read them.
    expect((await cli(['ban', 'kind', '7'])).code).toBe(0);
    let answer: [boolean, string] = [true, ''];
    for (let i = 0; i < 20 && answer[0]; i++) {
      await sleep(100);
      answer = await c.publish(signer().sign({ kind: 7, content: '+' }));
    }
    expect(answer).toEqual([false, 'blocked: events of kind 7 are not accepted by this relay']);

    const listed = await cli(['list', 'banned-pubkeys']);
    expect(listed.stdout.split('\n').sort()).toEqual(['', `${author.pubkey}  from the CLI`, `${spammer.pubkey}  spam`].sort());
    const allowed = await cli(['allow', 'pubkey', author.pubkey]);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect((await cli(['list', 'banned-pubkeys'])).stdout).toBe(`${spammer.pubkey}  spam\n`);
    expect((await cli(['list', 'allowed-pubkeys'])).stdout).toBe('');
    expect((await cli(['list', 'allowed-kinds'])).stdout).toBe('');
    expect(await c.publish(author.sign({}))).toEqual([true, '']);
    c.close();
    await relay.stop();

    // Bad input: one line naming the fault, exit code 1.
    const bad: [string[], RegExp][] = [
      [['ban'], /^powr-relay: ban: say what to ban: ban pubkey\|event\|kind\|ip <value>\n$/],
      [['ban', 'planet', 'x'], /say what to ban/],
      [['ban', 'pubkey'], /^powr-relay: ban pubkey: give the pubkey to ban\n$/],
      [['ban', 'pubkey', 'xyz'], /^powr-relay: invalid: the first parameter must be a 64-character lowercase hex pubkey\n$/],
      [['allow', 'kind', 'seven'], /event kind/],
      [['ban', 'ip', '1.2.3'], /IPv4 or IPv6/],
      [['list'], /^powr-relay: list: say which list: banned-pubkeys\|/],
      [['list', 'friends'], /say which list/],
    ];
    for (const [args, expected] of bad) {
      const run = await cli(args);
      expect(run.code, args.join(' ')).toBe(1);
      expect(run.stderr).toMatch(expected);
    }
  });
});
