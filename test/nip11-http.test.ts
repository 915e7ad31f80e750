import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, signer } from './helpers/client.js';
import { startRelay, type RunningRelay } from './helpers/relay.js';

let relay: RunningRelay;

beforeAll(async () => {
  relay = await startRelay({ POWR_RELAY_NAME: 'Test Gym', POWR_RELAY_MAX_SUBSCRIPTIONS: '3', POWR_RELAY_MAX_LIMIT: '200',
    POWR_RELAY_DEFAULT_LIMIT: '20', POWR_RELAY_MAX_EVENT_TAGS: '40', POWR_RELAY_MAX_CONTENT_LENGTH: '500',
    POWR_RELAY_MAX_MESSAGE_LENGTH: '4096', POWR_RELAY_MAX_SUBID_LENGTH: '16' });
});
afterAll(async () => {
  await relay.stop();
});

describe('NIP-11', () => {
  it('serves the relay information document with CORS on the relay URL', async () => {
    const res = await fetch(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/nostr+json');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-headers')).toBeTruthy();
    expect(res.headers.get('access-control-allow-methods')).toMatch(/GET/);
    const info = await res.json();
    expect(info.name).toBe('Test Gym');
    expect(info.supported_nips).toEqual(expect.arrayContaining([1, 9, 11, 40, 45]));
    expect(info.software).toMatch(/powr-relay/);
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(info.limitation).toMatchObject({
      max_message_length: 4096, max_subscriptions: 3, max_limit: 200, default_limit: 20, max_subid_length: 16,
      max_event_tags: 40, max_content_length: 500, auth_required: false, restricted_writes: false,
      created_at_upper_limit: 900,
    });
    expect(info.limitation).not.toHaveProperty('max_filters');
  });

  it('answers CORS preflight', async () => {
    const res = await fetch(relay.httpUrl, { method: 'OPTIONS' });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('advertises limits the relay really enforces', async () => {
    const info = await (await fetch(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } })).json();
    const c = await RawClient.connect(relay.url);
    const { limitation } = info;
    for (let i = 0; i < limitation.max_subscriptions; i++) await c.subscribe(`s${i}`, { limit: 0 });
    expect(await c.refused('extra', { limit: 0 })).toMatch(/^blocked: /);
    expect(await c.refused('x'.repeat(limitation.max_subid_length + 1), {})).toMatch(/^invalid: /);
    const s = signer();
    const tags = Array.from({ length: limitation.max_event_tags + 1 }, () => ['t', 'x']);
    expect((await c.publish(s.sign({ tags })))[0]).toBe(false);
    expect((await c.publish(s.sign({ content: 'a'.repeat(limitation.max_content_length + 1) })))[0]).toBe(false);
    const [ok, msg] = await c.publish(s.sign({ content: 'a'.repeat(limitation.max_message_length) }));
    expect(ok).toBe(false);
    expect(msg).toMatch(/^invalid: message is larger/);
    c.close();
  });

  it('serves a plain page and /health to browsers', async () => {
    const page = await fetch(relay.httpUrl);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/Nostr relay/);
    const health = await fetch(`${relay.httpUrl}/health`);
    expect(await health.json()).toEqual({ status: 'ok' });
  });

  it('accepts WebSocket connections on any path', async () => {
    const c = await RawClient.connect(`${relay.url}/some/path`);
    const ev = signer().sign({ content: 'via path' });
    expect(await c.publish(ev)).toEqual([true, '']);
    c.close();
  });
});
