import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { Counter, Gauge, type Registry } from 'prom-client';

/** The Blossom routes that store something. */
export type UploadRoute = 'upload' | 'media' | 'mirror';

/** What an upload's answer says happened to it. */
function outcomeOf(res: ServerResponse): { outcome: string; status: string } {
  // Closed before the answer was sent: the client went away mid-upload.
  if (!res.writableFinished) return { outcome: 'aborted', status: '' };
  const status = res.statusCode;
  const outcome = status === 201 ? 'stored' : status < 300 ? 'existing' : status < 500 ? 'refused' : 'failed';
  return { outcome, status: String(status) };
}

/**
 * The Blossom server's metrics on the relay's registry (docs/media.md): blobs and bytes stored (read
 * from the database at scrape time), uploads by route and outcome, bytes served, range requests. The
 * optimiser registers its own (optimise-metrics.ts).
 */
export class MediaMetrics {
  private readonly uploads: Counter<'route' | 'outcome' | 'status'>;
  private readonly servedBytes: Counter;
  private readonly ranges: Counter<'outcome'>;

  constructor(registry: Registry, totals: () => Promise<{ blobs: number; bytes: number }>) {
    const registers = [registry];
    new Gauge({ name: 'powr_media_blobs', help: 'Blobs stored (each once, whoever owns it)', registers,
      async collect() { this.set((await totals()).blobs); } });
    new Gauge({ name: 'powr_media_bytes', help: 'Bytes of the blobs stored', registers,
      async collect() { this.set((await totals()).bytes); } });
    this.uploads = new Counter({ name: 'powr_media_uploads_total',
      help: 'Uploads (PUT /upload, /media, /mirror) by route and outcome: stored (201), existing (200), refused (4xx), failed (5xx), aborted (the client left); status is the HTTP status',
      labelNames: ['route', 'outcome', 'status'], registers });
    this.servedBytes = new Counter({ name: 'powr_media_served_bytes_total', help: 'Blob bytes sent to clients (GET /<sha256>)', registers });
    this.ranges = new Counter({ name: 'powr_media_range_requests_total',
      help: 'GET /<sha256> with one byte range: served (206) or unsatisfiable (416)', labelNames: ['outcome'], registers });
  }

  /** Counts the upload `res` answers once its answer is sent (or the client has gone). */
  upload(route: UploadRoute, res: ServerResponse): void {
    res.once('close', () => this.uploads.inc({ route, ...outcomeOf(res) }));
  }

  /** Counts the bytes of a blob as they are read out to a client. */
  serving(bytes: Readable): void {
    bytes.on('data', (chunk: Buffer) => this.servedBytes.inc(chunk.length));
  }

  range(outcome: 'served' | 'unsatisfiable'): void {
    this.ranges.inc({ outcome });
  }
}
