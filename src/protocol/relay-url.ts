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
