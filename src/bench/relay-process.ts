import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { procCpuSeconds } from '../workers/thread-cpu.js';

/** The built relay entry point (dist/index.js). */
// From src/bench (tests) and dist/bench (the benchmark) alike.
export const RELAY_ENTRY = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

export interface RelayProcess {
  url: string;
  httpUrl: string;
  db: string;
  proc: ChildProcess;
  /** Every stdout line so far, parsed as pino JSON where possible. */
  logs: Record<string, unknown>[];
  stderr: () => string;
  /** Resident and peak resident memory of the relay process, in bytes (Linux /proc). */
  memory(): { rss: number; peak: number };
  /** CPU time the relay process has used so far (all threads, user + system), in seconds (Linux /proc). */
  cpuSeconds(): number;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function tempDb(): string {
  return join(mkdtempSync(join(tmpdir(), 'powr-relay-')), 'relay.db');
}

/**
 * Starts the relay as a child process on a free port, the way an operator would, and resolves once
 * it logs the URL it listens on. Used by the test suite and the benchmark; `entry` is another build's
 * dist/index.js when the benchmark compares two.
 */
export function startRelayProcess(env: Record<string, string> = {}, db = tempDb(), entry = RELAY_ENTRY): Promise<RelayProcess> {
  const proc = spawn(process.execPath, [entry], {
    env: { ...process.env, POWR_RELAY_PORT: '0', POWR_RELAY_DB: db, POWR_RELAY_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const memory = () => {
    const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  };
  const cpuSeconds = () => procCpuSeconds(`/proc/${proc.pid}/stat`) ?? NaN;
  return new Promise((resolve, reject) => {
    let buffer = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          entry = { raw: line };
        }
        logs.push(entry);
        if (typeof entry.url === 'string' && String(entry.msg).includes('listening')) {
          const url = entry.url;
          resolve({
            url,
            httpUrl: url.replace(/^ws/, 'http'),
            db,
            proc,
            logs,
            stderr: () => err,
            memory,
            cpuSeconds,
            stop: (signal = 'SIGTERM') => {
              if (proc.exitCode === null) proc.kill(signal);
              return exited;
            },
          });
        }
      }
    });
    void exited.then((code) => reject(new Error(`relay exited with ${code} before listening: ${err}`)));
  });
}
