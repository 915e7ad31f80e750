import WebSocket from 'ws';

/**
 * A lean WebSocket client for load generation: frames are matched by prefix and parsed only when
 * needed, so the client spends as little of the shared CPU as it can.
 */
export class BenchClient {
  private okWaiters = new Map<string, (accepted: boolean) => void>();
  private subWaiters = new Map<string, { events: number; frames?: string[]; done: (events: number, closed: boolean) => void }>();
  private eventListeners = new Map<string, (frame: string) => void>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => this.onFrame(data.toString()));
  }

  static open(url: string): Promise<BenchClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new BenchClient(ws)));
      ws.once('error', reject);
    });
  }

  private onFrame(text: string): void {
    if (text.startsWith('["OK","')) {
      const id = text.slice(7, 71);
      const waiter = this.okWaiters.get(id);
      if (waiter) {
        this.okWaiters.delete(id);
        waiter(text.charCodeAt(73) === 116); // 't' of true
      }
      return;
    }
    if (text.startsWith('["EVENT","')) {
      const end = text.indexOf('"', 10);
      const subId = text.slice(10, end);
      const listener = this.eventListeners.get(subId);
      if (listener) listener(text);
      const w = this.subWaiters.get(subId);
      if (w) {
        w.events++;
        w.frames?.push(text);
      }
      return;
    }
    if (text.startsWith('["EOSE","') || text.startsWith('["CLOSED","')) {
      const [verb, subId] = JSON.parse(text) as [string, string];
      const w = this.subWaiters.get(subId);
      if (w) {
        this.subWaiters.delete(subId);
        w.done(w.events, verb === 'CLOSED');
      }
    }
  }

  /** Publishes one event (canonical JSON); resolves with its OK's acceptance. */
  publish(line: string): Promise<boolean> {
    return new Promise((resolve) => {
      this.okWaiters.set(line.slice(7, 71), resolve);
      this.ws.send(`["EVENT",${line}]`);
    });
  }

  /** REQ until EOSE, then CLOSE; resolves with the number of events (and their frames if asked). */
  query(subId: string, filters: unknown[], keepFrames = false): Promise<{ events: number; closed: boolean; frames: string[] }> {
    const frames: string[] = [];
    return new Promise<{ events: number; closed: boolean; frames: string[] }>((resolve) => {
      this.subWaiters.set(subId, {
        events: 0,
        ...(keepFrames ? { frames } : {}),
        done: (events, closed) => resolve({ events, closed, frames }),
      });
      this.ws.send(JSON.stringify(['REQ', subId, ...filters]));
    }).then((r) => {
      this.ws.send(JSON.stringify(['CLOSE', subId]));
      return r;
    });
  }

  /** A subscription that stays open; `onEvent` gets each EVENT frame's text. */
  async subscribe(subId: string, filters: unknown[], onEvent: (frame: string) => void): Promise<void> {
    this.eventListeners.set(subId, onEvent);
    await new Promise<void>((resolve) => {
      this.subWaiters.set(subId, { events: 0, done: () => resolve() });
      this.ws.send(JSON.stringify(['REQ', subId, ...filters]));
    });
  }

  /** Waits for the server to have taken everything queued so far. */
  get buffered(): number {
    return this.ws.bufferedAmount;
  }

  close(): void {
    this.ws.terminate();
  }
}

/** The id of the event in an EVENT frame: the canonical JSON starts `{"id":"`. */
export function eventIdOfFrame(frame: string): string {
  const at = frame.indexOf('{"id":"');
  return frame.slice(at + 7, at + 71);
}
