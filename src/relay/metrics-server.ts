import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.js';

/** GET /metrics: the Prometheus text format. */
export function sendMetrics(metrics: Metrics, res: ServerResponse, log: Logger): void {
  metrics.registry.metrics().then(
    (body) => res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(body),
    (err: unknown) => {
      log.error({ err }, 'metrics failed');
      res.writeHead(500).end();
    },
  );
}

/** `<address>:<port>` (IPv6 in brackets) as the metricsListen setting gives it. */
export function parseListen(listen: string): { host: string; port: number } {
  const colon = listen.lastIndexOf(':');
  return { host: listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port: Number(listen.slice(colon + 1)) };
}

/**
 * `/metrics` on its own address (`metricsListen`), so Prometheus can reach it on an internal network
 * while the relay's own port is public; it answers nothing else.
 */
export class MetricsServer {
  private readonly http: Server;

  constructor(metrics: Metrics, log: Logger) {
    this.http = createServer((req: IncomingMessage, res: ServerResponse) => {
      if ((req.url ?? '/').split('?')[0] === '/metrics' && (req.method === 'GET' || req.method === 'HEAD')) {
        sendMetrics(metrics, res, log);
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found: this address serves only /metrics\n');
      }
    });
  }

  listen(listen: string): Promise<AddressInfo> {
    const { host, port } = parseListen(listen);
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => {
        this.http.off('error', reject);
        resolve(this.http.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    this.http.closeAllConnections();
    return new Promise((resolve) => this.http.close(() => resolve()));
  }
}
