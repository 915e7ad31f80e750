import WebSocket from 'ws';

export type Frame = [string, ...unknown[]];

/** How long the remote may stay silent while we wait for an answer. */
const ANSWER_TIMEOUT_MS = 30_000;

/**
 * A plain WebSocket connection to another relay, for `powr-relay sync` and background upstreams: every frame goes to the
 * waiters and listeners, and the bytes received are counted (the summary reports them).
 */
export class RemoteRelay {
  bytesReceived = 0;
  private readonly listeners = new Set<(frame: Frame) => void>();
  private closedBecause: string | undefined;
  private readonly onClose = new Set<(reason: string) => void>();

  private constructor(private readonly ws: WebSocket, readonly url: string) {
    ws.on('message', (data: Buffer) => {
      this.bytesReceived += data.length;
      let frame: unknown;
      try {
        frame = JSON.parse(data.toString());
      } catch {
        return; // not a Nostr frame: nothing waits for it
      }
      if (!Array.isArray(frame) || typeof frame[0] !== 'string') return;
      for (const listener of [...this.listeners]) listener(frame as Frame);
    });
    const closed = (reason: string) => {
      this.closedBecause ??= reason;
      for (const fail of [...this.onClose]) fail(this.closedBecause);
    };
    ws.on('close', (code) => closed(`the remote relay closed the connection (code ${code})`));
    ws.on('error', (err) => closed(`connection error: ${err.message}`));
  }

  static connect(url: string): Promise<RemoteRelay> {
    const ws = new WebSocket(url, { handshakeTimeout: ANSWER_TIMEOUT_MS });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new RemoteRelay(ws, url)));
      ws.once('error', reject);
    });
  }

  send(frame: string): void {
    if (this.closedBecause) throw new Error(this.closedBecause);
    this.ws.send(frame);
  }

  /**
   * Hands every frame to `each` until it returns a value other than undefined, which this resolves
   * with. Rejects when the connection closes or the remote is silent for `timeoutMs`.
   */
  until<T>(each: (frame: Frame) => T | undefined, timeoutMs = ANSWER_TIMEOUT_MS): Promise<T> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout;
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        this.onClose.delete(fail);
      };
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => (done(), reject(new RemoteSilent(timeoutMs))), timeoutMs);
      };
      const listener = (frame: Frame) => {
        arm();
        let value: T | undefined;
        try {
          value = each(frame);
        } catch (err) {
          done();
          reject(err as Error);
          return;
        }
        if (value !== undefined) {
          done();
          resolve(value);
        }
      };
      const fail = (reason: string) => (done(), reject(new Error(reason)));
      if (this.closedBecause) return reject(new Error(this.closedBecause));
      this.listeners.add(listener);
      this.onClose.add(fail);
      arm();
    });
  }

  close(): void {
    this.closedBecause ??= 'closed';
    this.ws.close();
  }
}

/** The remote said nothing for too long. */
export class RemoteSilent extends Error {
  constructor(ms: number) {
    super(`the remote relay sent nothing for ${ms / 1000} s`);
  }
}
