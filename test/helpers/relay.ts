import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ENTRY = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

export interface RunningRelay {
  url: string;
  httpUrl: string;
  db: string;
  proc: ChildProcess;
  /** Every stdout line so far, parsed as pino JSON where possible. */
  logs: Record<string, unknown>[];
  stderr: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function tempDb(): string {
  return join(mkdtempSync(join(tmpdir(), 'powr-relay-test-')), 'relay.db');
}

/**
 * Starts the built relay (dist/index.js) as a child process on a free port, the way an operator
 * would, and resolves once it logs the URL it listens on.
 */
export function startRelay(env: Record<string, string> = {}, db = tempDb()): Promise<RunningRelay> {
  const proc = spawn(process.execPath, [ENTRY], {
    env: { ...process.env, POWR_RELAY_PORT: '0', POWR_RELAY_DB: db, POWR_RELAY_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
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
          entry = JSON.parse(line);
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

/** Runs the relay expecting it to refuse to start; resolves with its exit code and stderr. */
export function runFailingRelay(env: Record<string, string>): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const proc = spawn(process.execPath, [ENTRY], {
    env: { ...process.env, POWR_RELAY_PORT: '0', POWR_RELAY_DB: tempDb(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  proc.stdout!.on('data', (d) => (stdout += d));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  return new Promise((resolve) =>
    proc.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    }),
  );
}
