import type { IncomingMessage } from 'node:http';

/** A request refused with an HTTP status and a reason (and headers the refusal needs, such as Retry-After). */
export class HttpRefusal extends Error {
  constructor(readonly status: number, message: string, readonly headers?: Record<string, string>) {
    super(message);
  }
}

/** A small request body (a management call, a Blossom mirror or report), refused with 413 past `maxBytes`. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (size > maxBytes) return; // refused: the rest is read and dropped, so the answer reaches the client
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
      else reject(new HttpRefusal(413, `invalid: the request body is larger than ${maxBytes} bytes`));
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
