import { performance } from 'node:perf_hooks';
import { BenchClient, eventIdOfFrame } from './bench-client.js';
import { END, type CorpusMeta } from './corpus.js';
import { Rng } from './rng.js';
import { summarize, type Summary } from './stats.js';

const DAY = 86_400;
const FEED_TAGS = ['workout', 'fitness', 'powr', '31days', 'crossfit', 'wod', 'gym', 'strength', 'cardio', 'training', 'exercise'];

export interface IngestResult {
  connections: number;
  events: number;
  accepted: number;
  seconds: number;
  eventsPerSecond: number;
  ok: Summary;
}

/**
 * Publishes `lines` over `connections` sockets, each keeping up to `window` events in flight, until
 * every OK has arrived.
 */
export async function ingest(url: string, lines: readonly string[], connections: number, window = 200): Promise<IngestResult> {
  const clients = await Promise.all(Array.from({ length: connections }, () => BenchClient.open(url)));
  const latencies: number[] = [];
  let accepted = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    clients.map(async (client) => {
      const inFlight = new Set<Promise<void>>();
      while (next < lines.length) {
        const line = lines[next++]!;
        const sent = performance.now();
        const p: Promise<void> = client.publish(line).then((ok) => {
          latencies.push(performance.now() - sent);
          if (ok) accepted++;
          inFlight.delete(p);
        });
        inFlight.add(p);
        if (inFlight.size >= window) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  for (const c of clients) c.close();
  return { connections, events: lines.length, accepted, seconds, eventsPerSecond: lines.length / seconds, ok: summarize(latencies) };
}

export interface NamedQuery {
  name: string;
  filters: unknown[];
}

/** The filters the POWR apps really send (shared/spec/nip101e.md section 3), with values from the corpus. */
export function queryMix(meta: CorpusMeta, seed: number): () => NamedQuery {
  const rng = new Rng(seed);
  const user = () => rng.pick(meta.users);
  const since = (days: number) => END - days * DAY;
  const coordParts = (a: string) => {
    const [kind, pubkey, ...d] = a.split(':');
    return { kind: Number(kind), pubkey: pubkey!, d: d.join(':') };
  };
  const makers: (() => NamedQuery)[] = [
    () => ({ name: 'R1 profile feed', filters: [
      { kinds: [1301, 33401, 33402], authors: [user()], since: since(60), limit: 30 },
      { kinds: [1, 30023], authors: [user()], since: since(60), limit: 30 }] }),
    () => ({ name: 'R2 powr feed', filters: [{ kinds: [1301, 33401, 33402, 1, 30023], authors: [meta.library], since: since(30), limit: 30 }] }),
    () => {
      const contacts = Array.from({ length: 100 }, user);
      return { name: 'R3 following feed', filters: [
        { kinds: [1301, 33401, 33402], authors: contacts, since: since(30), limit: 30 },
        { kinds: [1, 30023], authors: contacts, '#t': FEED_TAGS, since: since(30), limit: 30 }] };
    },
    () => ({ name: 'R4 global feed', filters: [
      { kinds: [1301, 33401, 33402], since: since(7), limit: 30 },
      { kinds: [1, 30023], '#t': FEED_TAGS, since: since(7), limit: 30 }] }),
    () => ({ name: 'R5 comments', filters: [{ kinds: [1111], '#e': [rng.pick(meta.recordIds)] }] }),
    () => ({ name: 'R6 likes', filters: [{ kinds: [7], '#e': [rng.pick(meta.recordIds)] }] }),
    () => ({ name: 'R7 workout detail', filters: [{ ids: [rng.pick(meta.recordIds)], kinds: [1301] }] }),
    () => {
      const t = coordParts(rng.pick(meta.templateAddresses));
      return { name: 'R8/W2 template by coordinate', filters: [{ kinds: [33402], authors: [t.pubkey], '#d': [t.d], limit: 1 }] };
    },
    () => ({ name: 'R9/W10 own history', filters: [{ kinds: [1301], authors: [user()], limit: 50 }] }),
    () => ({ name: 'R11 pack discovery', filters: [{ kinds: [30004], authors: [meta.library], limit: 30 }] }),
    () => ({ name: 'W1 social workouts', filters: [{ kinds: [1301], limit: 5 }] }),
    () => ({ name: 'W3 template discovery', filters: [{ kinds: [33402], limit: 6 }] }),
    () => ({ name: 'W4 my templates', filters: [{ kinds: [33402], authors: [user()], '#t': ['fitness'] }] }),
    () => {
      const exercises = Array.from({ length: 6 }, () => coordParts(rng.pick(meta.exerciseAddresses)));
      return { name: 'W5 exercise batch', filters: [{ kinds: [33401], authors: [...new Set(exercises.map((e) => e.pubkey))],
        '#d': [...new Set(exercises.map((e) => e.d))] }] };
    },
    () => ({ name: 'W8 library lists', filters: [{ kinds: [30003], authors: [meta.library], '#t': ['fitness'] }] }),
  ];
  let i = 0;
  return () => makers[i++ % makers.length]!();
}

export interface QueryResult {
  clients: number;
  queries: number;
  seconds: number;
  queriesPerSecond: number;
  overall: Summary;
  byName: Record<string, Summary & { meanEvents: number }>;
  refused: number;
}

/** `clients` connections each run the mix back to back for `seconds`, timing REQ to EOSE. */
export async function queries(url: string, meta: CorpusMeta, clients: number, seconds: number, seed: number): Promise<QueryResult> {
  const conns = await Promise.all(Array.from({ length: clients }, () => BenchClient.open(url)));
  const times = new Map<string, number[]>();
  const events = new Map<string, number>();
  let refused = 0;
  let total = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    conns.map(async (conn, c) => {
      const next = queryMix(meta, seed + c);
      for (let n = 0; performance.now() < deadline; n++) {
        const q = next();
        const t0 = performance.now();
        const r = await conn.query(`q${n}`, q.filters);
        const ms = performance.now() - t0;
        if (r.closed) refused++;
        total++;
        (times.get(q.name) ?? times.set(q.name, []).get(q.name)!).push(ms);
        events.set(q.name, (events.get(q.name) ?? 0) + r.events);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  for (const c of conns) c.close();
  const byName: QueryResult['byName'] = {};
  for (const [name, list] of times) byName[name] = { ...summarize(list), meanEvents: events.get(name)! / list.length };
  return { clients, queries: total, seconds: elapsed, queriesPerSecond: total / elapsed, overall: summarize([...times.values()].flat()), byName, refused };
}

export interface ResolutionResult {
  twoReq: Summary;
  resolveReq: Summary | 'skipped';
  httpBundle: Summary | 'skipped';
  meanExercises: number;
}

/**
 * Time to a complete template three ways: the client path the apps use today (REQ the template, then
 * REQ its exercises), one REQ with `"resolve": true`, and the HTTP bundle.
 */
export async function resolution(url: string, meta: CorpusMeta, samples: number, extensions: boolean, seed: number): Promise<ResolutionResult> {
  const rng = new Rng(seed);
  const client = await BenchClient.open(url);
  const httpUrl = url.replace(/^ws/, 'http');
  const twoReq: number[] = [];
  const resolveReq: number[] = [];
  const http: number[] = [];
  let exercises = 0;
  for (let i = 0; i < samples; i++) {
    const address = rng.pick(meta.templateAddresses);
    const [, pubkey, ...rest] = address.split(':');
    const d = rest.join(':');
    const templateFilter = { kinds: [33402], authors: [pubkey], '#d': [d], limit: 1 };

    let t0 = performance.now();
    const { frames } = await client.query(`t${i}`, [templateFilter], true);
    const template = JSON.parse(frames[0]!)[2] as { tags: string[][] };
    const coords = [...new Set(template.tags.filter((t) => t[0] === 'exercise').map((t) => t[1]!))];
    const parts = coords.map((c) => c.split(':'));
    await client.query(`e${i}`, [{ kinds: [33401], authors: [...new Set(parts.map((p) => p[1]))], '#d': [...new Set(parts.map((p) => p.slice(2).join(':')))] }]);
    twoReq.push(performance.now() - t0);
    exercises += coords.length;

    if (!extensions) continue;
    t0 = performance.now();
    await client.query(`r${i}`, [{ ...templateFilter, resolve: true }, { kinds: [33401], limit: 0 }]);
    resolveReq.push(performance.now() - t0);
    t0 = performance.now();
    const res = await fetch(`${httpUrl}/api/bundle?a=${encodeURIComponent(address)}`);
    await res.text();
    http.push(performance.now() - t0);
  }
  client.close();
  return {
    twoReq: summarize(twoReq),
    resolveReq: extensions ? summarize(resolveReq) : 'skipped',
    httpBundle: extensions ? summarize(http) : 'skipped',
    meanExercises: exercises / samples,
  };
}

export interface FanoutResult {
  subscribers: number;
  events: number;
  deliveries: number;
  latency: Summary;
}

/** `subscribers` connections subscribe to workout records; each published record's delivery latency to all. */
export async function fanout(url: string, subscribers: number, lines: readonly string[]): Promise<FanoutResult> {
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const subs: BenchClient[] = [];
  for (let i = 0; i < subscribers; i += 100) {
    const batch = await Promise.all(Array.from({ length: Math.min(100, subscribers - i) }, () => BenchClient.open(url)));
    subs.push(...batch);
  }
  await Promise.all(subs.map((s) => s.subscribe('feed', [{ kinds: [1301], '#t': ['fitness'], limit: 0 }], (frame) => {
    const sent = sentAt.get(eventIdOfFrame(frame));
    if (sent !== undefined) latencies.push(performance.now() - sent);
  })));
  const publisher = await BenchClient.open(url);
  for (const line of lines) {
    sentAt.set(line.slice(7, 71), performance.now());
    await publisher.publish(line);
    const expected = latencies.length + subscribers;
    const deadline = performance.now() + 5000;
    while (latencies.length < expected && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  }
  publisher.close();
  for (const s of subs) s.close();
  return { subscribers, events: lines.length, deliveries: latencies.length, latency: summarize(latencies) };
}

/** Opens `count` idle connections and keeps them open until `close` is called. */
export async function idleConnections(url: string, count: number): Promise<{ close: () => void }> {
  const conns: BenchClient[] = [];
  for (let i = 0; i < count; i += 200) {
    conns.push(...(await Promise.all(Array.from({ length: Math.min(200, count - i) }, () => BenchClient.open(url)))));
  }
  return { close: () => conns.forEach((c) => c.close()) };
}
