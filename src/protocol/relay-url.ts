/**
 * Whether two URLs name the same relay endpoint. The scheme is left out (a relay's ws:// and http://
 * URLs are one endpoint, and a TLS proxy turns wss:// into ws://), so is a trailing slash; the host is
 * compared case-insensitively.
 */
export function sameRelayUrl(a: string, b: string): boolean {
  const key = (url: string): string | undefined => {
    try {
      const u = new URL(url);
      if (!['ws:', 'wss:', 'http:', 'https:'].includes(u.protocol)) return undefined;
      return `${u.host}${u.pathname.replace(/\/+$/, '')}${u.search}`;
    } catch {
      return undefined;
    }
  };
  const ka = key(a);
  return ka !== undefined && ka === key(b);
}

/**
 * The host name clients use for this relay, which AUTH events and Blossom tokens name: the public
 * URL's, else the one the request was sent to (its Host header).
 */
export function relayHost(publicUrl: string, hostHeader: string | undefined): string | undefined {
  const url = publicUrl || (hostHeader ? `ws://${hostHeader}` : '');
  try {
    return url ? new URL(url).hostname.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

/** The http(s) origin clients reach this relay's HTTP endpoints at: the public URL's, else the Host header's. */
export function httpOrigin(publicUrl: string, hostHeader: string | undefined): string {
  if (publicUrl) return new URL(publicUrl.replace(/^ws/, 'http')).origin;
  return `http://${hostHeader ?? 'localhost'}`;
}
