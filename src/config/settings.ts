import { isIP } from 'node:net';
import type { ValidationMode } from '../powr/types.js';
import { parseFilter } from '../protocol/filter.js';

/**
 * Every setting the relay reads, in one table: the config file, the environment overrides, the
 * shipped config file and docs/configuration.md are all derived from it, so they cannot drift.
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  host: string;
  port: number;
  db: string;
  logLevel: LogLevel;
  validationMode: ValidationMode;
  bundleCacheBytes: number;
  answerCacheBytes: number;
  workers: number;
  readers: number;
  publicUrl: string;
  name: string;
  description: string;
  contact: string;
  pubkey: string;
  icon: string;
  maxMessageLength: number;
  maxSubscriptions: number;
  maxFilters: number;
  maxFilterValues: number;
  maxLimit: number;
  defaultLimit: number;
  maxSubidLength: number;
  maxEventTags: number;
  maxTagValueLength: number;
  maxContentLength: number;
  createdAtLowerLimit: number;
  createdAtUpperLimit: number;
  writeBatchSize: number;
  expirationPurgeSeconds: number;
  walCheckpointSeconds: number;
  pingIntervalSeconds: number;
  idleTimeoutSeconds: number;
  maxOutboundBytes: number;
  queryTimeoutMs: number;
  negentropy: boolean;
  negentropyMaxRecords: number;
  rateLimits: 'on' | 'off';
  maxConnectionsPerIp: number;
  connectionsPerMinutePerIp: number;
  eventsPerMinutePerIp: number;
  eventsPerMinutePerPubkey: number;
  reqsPerMinutePerIp: number;
  ipAllowlist: string[];
  trustedProxies: string[];
  restrictedWrites: boolean;
  writeAllowlist: string[];
  adminPubkeys: string[];
  privateRecords: boolean;
  authOnConnect: boolean;
  restrictedReadKinds: number[];
  metricsListen: string;
  retention: string[];
  upstreams: string[];
  upstreamFilter: Record<string, unknown>[];
  upstreamRetrySeconds: number;
  clusterNats: string[];
  clusterStream: string;
  clusterReplicas: number;
  clusterRetentionDays: number;
  clusterNodeName: string;
  mediaOptimiseConcurrency: number;
  mediaOptimiseQueue: number;
  mediaOptimiseTimeoutSeconds: number;
  mediaMaxSide: number;
  mediaThumbnailSide: number;
  ffmpegPath: string;
  media: boolean;
  mediaDir: string;
  mediaMaxBytes: number;
  mediaTypes: string[];
  mediaUploaders: string[];
  mediaQuotaBytes: number;
  mediaUploadsPerMinutePerIp: number;
  mediaMirrorPrivate: boolean;
  mediaMirrorCacheBytes: number;
}

/** What a value looked like and where it came from, so errors can name both. */
export class ConfigError extends Error {}

type Parser<T> = (raw: unknown) => T;

export interface Setting<K extends keyof Config = keyof Config> {
  key: K;
  group: string;
  doc: string;
  default: Config[K];
  parse: Parser<Config[K]>;
}

const fail = (why: string): never => {
  throw new ConfigError(why);
};

function integer(min: number, max: number): Parser<number> {
  return (raw) => {
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(n)) fail(`must be a whole number, got ${JSON.stringify(raw)}`);
    if (n < min || n > max) fail(`must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

function text(opts: { nonEmpty?: boolean; pattern?: RegExp; patternDoc?: string } = {}): Parser<string> {
  return (raw) => {
    if (typeof raw !== 'string') return fail(`must be a string, got ${JSON.stringify(raw)}`);
    if (opts.nonEmpty && raw.trim() === '') fail('must not be empty');
    if (opts.pattern && raw !== '' && !opts.pattern.test(raw)) fail(`must be ${opts.patternDoc}, got ${JSON.stringify(raw)}`);
    return raw;
  };
}

/** A ws:// or wss:// URL that parses (a port past 65535, say, is refused here rather than on first use). */
const relayUrl: Parser<string> = (raw) => {
  const value = text({ pattern: /^wss?:\/\/\S+$/, patternDoc: 'a ws:// or wss:// URL' })(raw);
  if (value !== '' && !URL.canParse(value)) fail(`must be a ws:// or wss:// URL, got ${JSON.stringify(value)}, which is not a URL`);
  return value;
};

function oneOf<T extends string>(values: readonly T[]): Parser<T> {
  return (raw) => {
    if (typeof raw !== 'string' || !values.includes(raw as T)) {
      fail(`must be one of ${values.join(', ')}, got ${JSON.stringify(raw)}`);
    }
    return raw as T;
  };
}

/** A JSON array of strings in the config file, or a comma-separated list in an environment variable. */
function list(check: (item: string) => boolean, itemDoc: string): Parser<string[]> {
  return (raw) => {
    const items = typeof raw === 'string' ? raw.split(',').map((v) => v.trim()).filter((v) => v !== '') : raw;
    if (!Array.isArray(items) || items.some((v) => typeof v !== 'string')) {
      return fail(`must be a list of strings (comma-separated in the environment), got ${JSON.stringify(raw)}`);
    }
    const bad = (items as string[]).find((v) => !check(v));
    if (bad !== undefined) fail(`every entry must be ${itemDoc}, got ${JSON.stringify(bad)}`);
    return items as string[];
  };
}

/** Event kinds: a JSON array of numbers in the config file, or a comma-separated list in an environment variable. */
const kindList: Parser<number[]> = (raw) => {
  const items = typeof raw === 'string' ? raw.split(',').map((v) => v.trim()).filter((v) => v !== '') : raw;
  if (!Array.isArray(items)) return fail(`must be a list of event kinds (comma-separated in the environment), got ${JSON.stringify(raw)}`);
  return items.map((v: unknown) => {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < 0 || n > 65535) fail(`every entry must be an event kind (0 to 65535), got ${JSON.stringify(v)}`);
    return n;
  });
};

/** The image and video types an exercise's media comes in. */
const MEDIA_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif', 'image/avif', 'video/mp4', 'video/webm', 'video/quicktime'];

/** The workout kinds a relay keeps in step with its upstreams by default. */
const WORKOUT_KINDS = [33401, 33402, 1301, 30003, 30004];

/**
 * One NIP-01 filter or a JSON array of them, checked as a REQ's filters are; `limit` is refused
 * because an upstream is followed in full. An environment variable holds the JSON text.
 */
const filterList: Parser<Record<string, unknown>[]> = (raw) => {
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      fail(`must be a JSON filter object or an array of them, got ${JSON.stringify(raw)}`);
    }
  }
  const filters = Array.isArray(value) ? value : [value];
  if (filters.length === 0) fail('must hold at least one filter');
  filters.forEach((f: unknown, i) => {
    const where = filters.length > 1 ? `filter ${i + 1}: ` : '';
    const parsed = parseFilter(f, { maxFilterValues: 1000, maxLimit: 1, defaultLimit: 1 });
    if (!parsed.ok) fail(`${where}${parsed.reason}`);
    if ('limit' in (f as object)) fail(`${where}"limit" has no place here: upstreams are followed in full`);
  });
  return filters as Record<string, unknown>[];
};

const boolean: Parser<boolean> = (raw) => {
  if (typeof raw === 'boolean') return raw;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  return fail(`must be true or false, got ${JSON.stringify(raw)}`);
};

/** An IP address or a CIDR block (10.0.0.0/8, fd00::/8). */
export function isAddressOrBlock(value: string): boolean {
  const [address, bits, ...rest] = value.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/** One retention rule: <kind>:<days>. */
export const RETENTION_ENTRY = /^\d{1,5}:\d{1,6}$/;

const MAX_INT = Number.MAX_SAFE_INTEGER;

function setting<K extends keyof Config>(s: Setting<K>): Setting<K> {
  return s;
}

export const SETTINGS: readonly Setting[] = [
  setting({ key: 'host', group: 'Network', default: '127.0.0.1', parse: text({ nonEmpty: true }),
    doc: 'Address the WebSocket and HTTP server binds to. Use 0.0.0.0 to accept connections from other machines.' }),
  setting({ key: 'port', group: 'Network', default: 7447, parse: integer(0, 65535),
    doc: 'TCP port to listen on; 0 picks a free port (the start log line says which).' }),
  setting({ key: 'publicUrl', group: 'Network', default: '', parse: relayUrl,
    doc: 'The URL clients use to reach the relay (behind a proxy: the wss:// URL). Empty: ws://host:port.' }),
  setting({ key: 'db', group: 'Storage', default: './data/relay.db', parse: text({ nonEmpty: true }),
    doc: 'SQLite database file. Parent folders are created; the WAL and SHM files sit beside it.' }),
  setting({ key: 'writeBatchSize', group: 'Storage', default: 1000, parse: integer(1, 100_000),
    doc: 'Most events committed in one write transaction (group commit). OK is sent after the commit.' }),
  setting({ key: 'retention', group: 'Storage', default: [],
    parse: list((v) => RETENTION_ENTRY.test(v), '<kind>:<days>, like 7:90'),
    doc: 'How long `powr-relay prune` keeps events of a kind, as <kind>:<days> entries (7:90 keeps reactions 90 days). Kinds not listed are kept.' }),
  setting({ key: 'expirationPurgeSeconds', group: 'Storage', default: 60, parse: integer(1, 86_400),
    doc: 'How often expired events (NIP-40) are deleted from disk. They are never served once expired.' }),
  setting({ key: 'walCheckpointSeconds', group: 'Storage', default: 60, parse: integer(1, 86_400),
    doc: 'How often the write-ahead log is checkpointed and truncated so it cannot grow without bound.' }),
  setting({ key: 'answerCacheBytes', group: 'Storage', default: 16 * 1024 * 1024, parse: integer(0, 16 * 1024 * 1024 * 1024),
    doc: 'Memory for whole REQ answers, served again to REQs with the same filters until a commit changes them (least recently used go first; an answer is kept the second time its filters come, a sixteenth of this remembering the first); 0 turns the cache off.' }),
  setting({ key: 'logLevel', group: 'Process', default: 'info', parse: oneOf(LOG_LEVELS),
    doc: `Log level of the JSON logs on stdout: ${LOG_LEVELS.join(', ')}.` }),
  setting({ key: 'workers', group: 'Process', default: 0, parse: integer(0, 256),
    doc: 'The most threads verifying event ids and signatures: they start as load needs them, and one idle for a minute stops. 0: one per CPU core.' }),
  setting({ key: 'readers', group: 'Process', default: 0, parse: integer(0, 256),
    doc: 'The most reader threads answering REQ, COUNT, bundles, the catalogue and CLI reads, each with its own read-only SQLite connection: they start as reads need them, and one idle for a minute stops. 0: one per CPU core.' }),
  setting({ key: 'metricsListen', group: 'Process', default: '',
    parse: text({ pattern: /^(\[[0-9a-fA-F:.]+\]|[^\s:\[\]]+):\d{1,5}$/, patternDoc: '<address>:<port>, like 127.0.0.1:9100 or [::1]:9100' }),
    doc: 'Serve /metrics on its own <address>:<port> instead of the relay\'s port (port 0 picks a free one; the start log says which). Empty: on the relay\'s port.' }),
  setting({ key: 'validationMode', group: 'Workout events (NIP-101e)', default: 'compat', parse: oneOf(['compat', 'strict'] as const),
    doc: 'compat: refuse only what makes a workout event unusable and flag the rest; strict: refuse every spec violation.' }),
  setting({ key: 'bundleCacheBytes', group: 'Workout events (NIP-101e)', default: 64 * 1024 * 1024, parse: integer(0, 16 * 1024 * 1024 * 1024),
    doc: 'Memory for resolved template bundles and hot exercise/template events; 0 turns the cache off.' }),
  setting({ key: 'name', group: 'Relay information (NIP-11)', default: 'powr-relay', parse: text(),
    doc: 'Relay name shown to clients.' }),
  setting({ key: 'description', group: 'Relay information (NIP-11)',
    default: 'A Nostr relay for POWR workout events (NIP-101e).', parse: text(),
    doc: 'Relay description shown to clients.' }),
  setting({ key: 'contact', group: 'Relay information (NIP-11)', default: '', parse: text(),
    doc: 'Operator contact (mailto: or https: URI). Empty: not advertised.' }),
  setting({ key: 'pubkey', group: 'Relay information (NIP-11)', default: '',
    parse: text({ pattern: /^[0-9a-f]{64}$/, patternDoc: '64 lowercase hex characters' }),
    doc: "Operator's pubkey (hex). Empty: not advertised." }),
  setting({ key: 'icon', group: 'Relay information (NIP-11)', default: '', parse: text(),
    doc: 'URL of an icon for the relay. Empty: not advertised.' }),
  setting({ key: 'maxMessageLength', group: 'Limits', default: 131_072, parse: integer(1024, 64 * 1024 * 1024),
    doc: 'Largest WebSocket message accepted, in bytes (the whole ["EVENT", …] frame).' }),
  setting({ key: 'maxSubscriptions', group: 'Limits', default: 50, parse: integer(1, 10_000),
    doc: 'Open subscriptions per connection.' }),
  setting({ key: 'maxFilters', group: 'Limits', default: 20, parse: integer(1, 1000),
    doc: 'Filters in one REQ or COUNT.' }),
  setting({ key: 'maxFilterValues', group: 'Limits', default: 1000, parse: integer(1, 100_000),
    doc: 'Values in one filter list (ids, authors, kinds, or one tag key).' }),
  setting({ key: 'maxLimit', group: 'Limits', default: 1000, parse: integer(1, 1_000_000),
    doc: 'Largest limit honoured per filter; larger limits are clamped to it.' }),
  setting({ key: 'defaultLimit', group: 'Limits', default: 500, parse: integer(1, 1_000_000),
    doc: 'Limit applied to a filter that has none (newest events first).' }),
  setting({ key: 'maxSubidLength', group: 'Limits', default: 64, parse: integer(1, 1024),
    doc: 'Longest subscription id.' }),
  setting({ key: 'maxEventTags', group: 'Limits', default: 2000, parse: integer(1, 100_000),
    doc: 'Most tags in one event.' }),
  setting({ key: 'maxTagValueLength', group: 'Limits', default: 1024, parse: integer(64, 1_000_000),
    doc: 'Longest tag element, in characters.' }),
  setting({ key: 'maxContentLength', group: 'Limits', default: 65_536, parse: integer(1, 64 * 1024 * 1024),
    doc: 'Longest event content, in characters (Unicode code points).' }),
  setting({ key: 'createdAtLowerLimit', group: 'Limits', default: 0, parse: integer(0, MAX_INT),
    doc: 'Reject events whose created_at is more than this many seconds in the past. 0: no lower limit.' }),
  setting({ key: 'createdAtUpperLimit', group: 'Limits', default: 900, parse: integer(0, MAX_INT),
    doc: 'Reject events whose created_at is more than this many seconds in the future.' }),
  setting({ key: 'pingIntervalSeconds', group: 'Connections', default: 30, parse: integer(1, 3600),
    doc: 'Interval of WebSocket pings; a peer that has not answered the previous ping is disconnected.' }),
  setting({ key: 'idleTimeoutSeconds', group: 'Connections', default: 600, parse: integer(0, 86_400 * 7),
    doc: 'A connection that has sent nothing for this long and has no open subscription is closed. 0: never.' }),
  setting({ key: 'maxOutboundBytes', group: 'Connections', default: 16 * 1024 * 1024, parse: integer(65_536, 1024 * 1024 * 1024),
    doc: 'Bytes queued for a client that is not reading before the relay sends a NOTICE and disconnects it.' }),
  setting({ key: 'queryTimeoutMs', group: 'Limits', default: 500, parse: integer(10, 60_000),
    doc: 'Longest a REQ or COUNT may spend in the database; one that would take longer ends with CLOSED.' }),
  setting({ key: 'negentropy', group: 'Sync (NIP-77)', default: true, parse: boolean,
    doc: 'Answer NIP-77 negentropy (NEG-OPEN/NEG-MSG/NEG-CLOSE), which `powr-relay sync` and other relays use to find the events two sets differ by. false: NEG-OPEN gets a NOTICE, as on a relay without NIP-77.' }),
  setting({ key: 'negentropyMaxRecords', group: 'Sync (NIP-77)', default: 500_000, parse: integer(1, 100_000_000),
    doc: 'Most stored events one NEG-OPEN may reconcile; a filter matching more is answered NEG-ERR "blocked: …" (narrow it with since/until, kinds or authors).' }),
  setting({ key: 'rateLimits', group: 'Rate limits', default: 'on', parse: oneOf(['on', 'off'] as const),
    doc: 'off turns every limit in this group off (benchmarks, private relays).' }),
  setting({ key: 'maxConnectionsPerIp', group: 'Rate limits', default: 100, parse: integer(1, 1_000_000),
    doc: 'Open connections from one client address.' }),
  setting({ key: 'connectionsPerMinutePerIp', group: 'Rate limits', default: 120, parse: integer(1, 1_000_000),
    doc: 'New connections per minute from one client address (token bucket; bursts up to the same number).' }),
  setting({ key: 'eventsPerMinutePerIp', group: 'Rate limits', default: 3000, parse: integer(1, 10_000_000),
    doc: 'EVENTs per minute from one client address, counted before signature verification.' }),
  setting({ key: 'eventsPerMinutePerPubkey', group: 'Rate limits', default: 1200, parse: integer(1, 10_000_000),
    doc: 'Events per minute by one author, counted after signature verification.' }),
  setting({ key: 'reqsPerMinutePerIp', group: 'Rate limits', default: 3000, parse: integer(1, 10_000_000),
    doc: 'REQs and COUNTs per minute from one client address.' }),
  setting({ key: 'ipAllowlist', group: 'Rate limits', default: [], parse: list(isAddressOrBlock, 'an IP address or CIDR block'),
    doc: 'Client addresses (IPs or CIDR blocks) no rate limit applies to.' }),
  setting({ key: 'trustedProxies', group: 'Rate limits', default: [], parse: list(isAddressOrBlock, 'an IP address or CIDR block'),
    doc: 'Reverse proxies whose X-Forwarded-For names the client. Connections from anywhere else are taken at their own address.' }),
  setting({ key: 'restrictedWrites', group: 'Access (NIP-42)', default: false, parse: boolean,
    doc: 'Only connections that have authenticated (NIP-42 AUTH) may publish.' }),
  setting({ key: 'writeAllowlist', group: 'Access (NIP-42)', default: [],
    parse: list((v) => /^[0-9a-f]{64}$/.test(v), '64 lowercase hex characters'),
    doc: 'If not empty, only events by these pubkeys (hex) are accepted.' }),
  setting({ key: 'adminPubkeys', group: 'Access (NIP-42)', default: [],
    parse: list((v) => /^[0-9a-f]{64}$/.test(v), '64 lowercase hex characters'),
    doc: 'Pubkeys (hex) that may use the NIP-86 management API (requests signed with NIP-98). Empty: the API answers 403 to everyone; the CLI (powr-relay ban|allow|list) works regardless.' }),
  setting({ key: 'privateRecords', group: 'Access (NIP-42)', default: false, parse: boolean,
    doc: 'Workout records (1301, 33403) are served only to their author and the pubkeys they p-tag, after AUTH (adds them to restrictedReadKinds).' }),
  setting({ key: 'restrictedReadKinds', group: 'Access (NIP-42)', default: [4, 1059], parse: kindList,
    doc: 'Events of these kinds are served only to their authenticated author and the pubkeys they p-tag, on every read path (direct messages and gift wraps by default).' }),
  setting({ key: 'authOnConnect', group: 'Access (NIP-42)', default: false, parse: boolean,
    doc: 'Send the AUTH challenge as soon as a client connects. false: only when something needs it, right before the auth-required: answer (some clients stall while a challenge is pending).' }),
  setting({ key: 'upstreams', group: 'Upstreams', default: [],
    parse: list((v) => /^wss?:\/\/[^\s,]+$/.test(v), 'a ws:// or wss:// URL'),
    doc: 'Relays this relay keeps in step with, in the background (comma-separated in the environment): a catch-up (NIP-77 where the upstream speaks it, else REQ paging) on each connection, then a live subscription, reconnecting with backoff. Events fetched go through the same checks as published ones. Nothing is ever sent upstream.' }),
  setting({ key: 'upstreamFilter', group: 'Upstreams', default: [{ kinds: WORKOUT_KINDS }, { kinds: [5], '#k': WORKOUT_KINDS.map(String) }],
    parse: filterList,
    doc: 'What is fetched from upstreams: one NIP-01 filter or a JSON array of them (no limit). Default: the workout kinds (33401, 33402, 1301, 30003, 30004) and deletions of them.' }),
  setting({ key: 'upstreamRetrySeconds', group: 'Upstreams', default: 1, parse: integer(1, 3600),
    doc: 'First wait before reconnecting to an upstream that went away; it doubles on each failure, up to 60 s (or this, if larger).' }),
  setting({ key: 'clusterNats', group: 'Cluster (NATS JetStream)', default: [],
    parse: list((v) => /^((nats|tls|ws|wss):\/\/)?[^\s,/]+(:\d{1,5})?$/.test(v), 'a NATS server address, like nats://127.0.0.1:4222'),
    doc: 'NATS servers (comma-separated in the environment) whose JetStream stream is the ordered log every node of the cluster applies to its own database. Empty: a single node on its own database. See docs/cluster.md.' }),
  setting({ key: 'clusterStream', group: 'Cluster (NATS JetStream)', default: 'powr-events',
    parse: text({ nonEmpty: true, pattern: /^[A-Za-z0-9_-]{1,64}$/, patternDoc: 'a JetStream stream name (letters, digits, - and _, at most 64)' }),
    doc: 'The JetStream stream holding the cluster\'s writes; created (file storage) when missing. Every node of one cluster names the same stream.' }),
  setting({ key: 'clusterReplicas', group: 'Cluster (NATS JetStream)', default: 1, parse: integer(1, 5),
    doc: 'Copies of the stream JetStream keeps on different NATS servers, when this node creates it (3 survives the loss of one server).' }),
  setting({ key: 'clusterRetentionDays', group: 'Cluster (NATS JetStream)', default: 0, parse: integer(0, 36_500),
    doc: 'How long the stream keeps a write, when this node creates it; 0: forever. A node whose database is older than the oldest write kept cannot catch up from the stream: start it from a recent backup (docs/cluster.md).' }),
  setting({ key: 'clusterNodeName', group: 'Cluster (NATS JetStream)', default: '',
    parse: text({ pattern: /^[\x21-\x7e]{1,128}$/, patternDoc: 'printable ASCII without spaces, at most 128 characters' }),
    doc: 'This node\'s name in the cluster: /health and /metrics name the node holding the upstream lease (the one pulling from `upstreams` for every node) by it. Empty: <hostname>:<port>. Every node needs its own.' }),
  setting({ key: 'media', group: 'Media (Blossom)', default: true, parse: boolean,
    doc: 'Serve a Blossom media server (BUD-01/02/04/05/06/08/09/11/12) on the relay\'s HTTP port: PUT /upload, PUT /media (optimised), GET /<sha256>, /list/<pubkey>, DELETE /<sha256>, /mirror, /report. See docs/media.md.' }),
  setting({ key: 'mediaDir', group: 'Media (Blossom)', default: '', parse: text(),
    doc: 'Folder of the stored blobs (content-addressed, <dir>/ab/cd/<sha256>). Empty: a blobs folder beside the database file.' }),
  setting({ key: 'mediaMaxBytes', group: 'Media (Blossom)', default: 100 * 1024 * 1024, parse: integer(1, 64 * 1024 * 1024 * 1024),
    doc: 'Largest blob accepted, in bytes; a larger Content-Length is answered 413 before the body is read.' }),
  setting({ key: 'mediaTypes', group: 'Media (Blossom)', default: [...MEDIA_TYPES],
    parse: list((v) => /^[a-z0-9.+-]+\/[a-z0-9.+-]+$/.test(v), 'a lowercase MIME type like image/png'),
    doc: 'MIME types a blob may have (uploads and mirrors of any other type are answered 415).' }),
  setting({ key: 'mediaUploaders', group: 'Media (Blossom)', default: [],
    parse: list((v) => /^[0-9a-f]{64}$/.test(v), '64 lowercase hex characters'),
    doc: 'If not empty, only these pubkeys (hex) may upload or mirror. Empty: anyone with a valid kind 24242 token.' }),
  setting({ key: 'mediaQuotaBytes', group: 'Media (Blossom)', default: 2 * 1024 * 1024 * 1024, parse: integer(0, MAX_INT),
    doc: 'Bytes of blobs one pubkey may own (an upload that would pass it is answered 413). 0: no quota.' }),
  setting({ key: 'mediaUploadsPerMinutePerIp', group: 'Media (Blossom)', default: 60, parse: integer(1, 1_000_000),
    doc: 'Uploads, mirrors, deletes and reports per minute from one client address (token bucket; off with rateLimits).' }),
  setting({ key: 'mediaMirrorPrivate', group: 'Media (Blossom)', default: false, parse: boolean,
    doc: 'Let /mirror fetch from private, loopback and link-local addresses (tests, a private network). false: such URLs are refused.' }),
  setting({ key: 'mediaMirrorCacheBytes', group: 'Media (Blossom)', default: 0, parse: integer(0, MAX_INT),
    doc: 'Bytes of the mirror cache: the relay fetches the blobs exercises\' imeta URLs name on other servers (checked against their sha256) and serves them itself; over this size the media of exercises no template uses goes first, then the least recently served. Uploaded blobs are never evicted. 0: off; not in cluster mode. See docs/media.md.' }),
  setting({ key: 'mediaOptimiseConcurrency', group: 'Media optimisation', default: 0, parse: integer(0, 256),
    doc: 'Uploads to /media optimised at once, each on its own thread (and ffmpeg process) using one core. 0: half the CPU cores, at least 1.' }),
  setting({ key: 'mediaOptimiseQueue', group: 'Media optimisation', default: 8, parse: integer(0, 10_000),
    doc: 'Uploads to /media that may wait for a free optimisation thread; one more is answered 503 with Retry-After.' }),
  setting({ key: 'mediaOptimiseTimeoutSeconds', group: 'Media optimisation', default: 300, parse: integer(1, 86_400),
    doc: 'Longest one optimisation may take; past it ffmpeg is killed, the temporary files removed and the upload answered 422.' }),
  setting({ key: 'mediaMaxSide', group: 'Media optimisation', default: 1920, parse: integer(16, 16_384),
    doc: 'Longest side, in pixels, of an optimised image or video; larger ones are scaled down, smaller ones kept.' }),
  setting({ key: 'mediaThumbnailSide', group: 'Media optimisation', default: 512, parse: integer(16, 4096),
    doc: 'Longest side, in pixels, of the WebP thumbnail made for every optimised image and video poster.' }),
  setting({ key: 'ffmpegPath', group: 'Media optimisation', default: 'ffmpeg', parse: text({ nonEmpty: true }),
    doc: 'The ffmpeg binary (a name looked up on PATH, or a path); ffprobe is taken from beside it. Without it videos are answered 422 and images still work. Debian: apt-get install ffmpeg.' }),
];

/** POWR_RELAY_ + the key in upper snake case: logLevel -> POWR_RELAY_LOG_LEVEL. */
export function envName(key: string): string {
  return 'POWR_RELAY_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}
