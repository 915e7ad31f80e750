import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { HttpRefusal } from '../http/body.js';
import { normalizeAddress } from '../http/address.js';

const MAX_REDIRECTS = 3;
const TIMEOUT_MS = 30_000;

/** Addresses a server must not be made to reach for a client: private, loopback, link-local, reserved. */
const NOT_PUBLIC = new BlockList();
for (const [net, bits] of [['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16],
  ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 3]] as const) {
  NOT_PUBLIC.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96]] as const) {
  NOT_PUBLIC.addSubnet(net, bits, 'ipv6');
}

export function isPublicAddress(address: string): boolean {
  const plain = normalizeAddress(address);
  const family = isIP(plain);
  return family !== 0 && !NOT_PUBLIC.check(plain, family === 6 ? 'ipv6' : 'ipv4');
}

const privateRefusal = (host: string) => new HttpRefusal(403, `refusing to mirror from ${host}: it is a private, loopback or link-local address`);

/**
 * Resolves like dns.lookup, refusing names that resolve to a non-public address. Checked at connect
 * time, on the address actually used, so a name cannot resolve to a public address when checked and a
 * private one when fetched.
 */
function publicOnlyLookup(): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return (callback as (e: Error) => void)(err);
      if (addresses.length === 0 || addresses.some((a) => !isPublicAddress(a.address))) {
        return (callback as (e: Error) => void)(privateRefusal(hostname));
      }
      if (options.all) (callback as (e: null, a: LookupAddress[]) => void)(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

export interface Fetched {
  /** The response body, not yet read. */
  body: IncomingMessage;
  /** Content-Type as sent. */
  type: string | undefined;
  /** The URL that answered, after redirects. */
  url: URL;
}

export interface MirrorOptions {
  allowPrivate: boolean;
  maxBytes: number;
}

function get(url: URL, options: MirrorOptions, signal: AbortSignal): Promise<IncomingMessage> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  // Names are checked when resolved; an address in the URL never is, so it is checked here.
  if (!options.allowPrivate && isIP(host) !== 0 && !isPublicAddress(host)) return Promise.reject(privateRefusal(host));
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { signal, lookup: options.allowPrivate ? undefined : publicOnlyLookup(), headers: { 'user-agent': 'powr-relay' } });
    req.on('response', resolve);
    req.on('error', reject);
    req.end();
  });
}

/**
 * Fetches a blob for PUT /mirror (BUD-04): http or https only, public addresses only (unless
 * `allowPrivate`), at most three redirects, a 200 in the end, and a Content-Length within the limit
 * (the body is counted again as it is stored). Rejects with HttpRefusal.
 */
export async function fetchForMirror(target: string, options: MirrorOptions): Promise<Fetched> {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new HttpRefusal(400, `"url" must be an absolute http or https URL, got ${JSON.stringify(target.slice(0, 200))}`);
  }
  const signal = AbortSignal.timeout(TIMEOUT_MS);
  for (let redirects = 0; ; redirects++) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new HttpRefusal(400, `only http and https URLs can be mirrored, got ${url.protocol}`);
    let res: IncomingMessage;
    try {
      res = await get(url, options, signal);
    } catch (err) {
      if (err instanceof HttpRefusal) throw err;
      throw new HttpRefusal(502, `fetching ${url.host} failed: ${(err as Error).message}`);
    }
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      if (redirects === MAX_REDIRECTS) throw new HttpRefusal(502, `${target} redirects more than ${MAX_REDIRECTS} times`);
      try {
        url = new URL(res.headers.location, url);
      } catch {
        throw new HttpRefusal(502, `${url.host} redirects to ${JSON.stringify(res.headers.location.slice(0, 200))}, which is not a URL`);
      }
      continue;
    }
    if (status !== 200) {
      res.resume();
      throw new HttpRefusal(502, `${url.host} answered ${status} for the blob`);
    }
    const length = Number(res.headers['content-length']);
    if (Number.isFinite(length) && length > options.maxBytes) {
      res.destroy();
      throw new HttpRefusal(413, `the blob is ${length} bytes; this relay takes at most ${options.maxBytes}`);
    }
    return { body: res, type: res.headers['content-type'], url };
  }
}
