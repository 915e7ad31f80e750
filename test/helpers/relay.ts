import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { pino } from 'pino';
import { RawClient } from './client.js';
import type { SqliteStorage } from '../../src/store/sqlite/sqlite-storage.js';
import { RELAY_ENTRY, startRelayProcess, tempDb, type RelayProcess } from '../../src/bench/relay-process.js';

export { tempDb };
export type RunningRelay = RelayProcess;

/** The built relay (dist/index.js) in a child process on a free port with a fresh database. */
export const startRelay = startRelayProcess;

export interface CommandRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `powr-relay <args>` to completion as an operator would, with `stdin` as its input; one that
 * does not finish within `timeoutMs` is killed.
 */
export function runCli(args: string[], env: Record<string, string>, stdin = '', timeoutMs = 10_000): Promise<CommandRun> {
  const proc = spawn(process.execPath, [RELAY_ENTRY, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  proc.stderr.on('data', (d) => (stderr += d));
  proc.stdout.on('data', (d) => (stdout += d));
  proc.stdin.end(stdin);
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    proc.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    }),
  );
}

/** Runs the relay expecting it to refuse to start; resolves with its exit code and output. */
export function runFailingRelay(env: Record<string, string>): Promise<CommandRun> {
  return runCli([], { POWR_RELAY_PORT: '0', POWR_RELAY_DB: tempDb(), ...env });
}

/**
 * The SQLite storage port on a database file, as the relay opens it (writer thread, one reader).
 * Thread entry points are loaded from the build (dist/), which `npm test` makes first.
 */
export async function openStorage(path: string): Promise<SqliteStorage> {
  const entry = '../../dist/store/sqlite/sqlite-storage.js';
  const built = (await import(entry)) as typeof import('../../src/store/sqlite/sqlite-storage.js');
  return built.SqliteStorage.open({ path, readers: 1, batchSize: 1000, log: pino({ level: 'silent' }) });
}

/** A loopback port nothing listens on right now. */
export function freePort(): Promise<number> {
  const server = createServer();
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    server.close(() => resolve(port));
  }));
}

/**
 * A relay configured with a public URL (which its start log names instead of the address it listens
 * on), with `url` and `httpUrl` pointing at the loopback port clients reach it on.
 */
export async function startRelayWithPublicUrl(publicUrl: string, env: Record<string, string> = {}): Promise<RunningRelay> {
  const port = await freePort();
  const relay = await startRelayProcess({ ...env, POWR_RELAY_PORT: String(port), POWR_RELAY_PUBLIC_URL: publicUrl });
  return { ...relay, url: `ws://127.0.0.1:${port}`, httpUrl: `http://127.0.0.1:${port}` };
}

/** The same events checked by both validation modes: a compat relay and a strict one, each with a raw client. */
export interface BothModes {
  compat: RunningRelay;
  strict: RunningRelay;
  c: RawClient;
  s: RawClient;
}

export async function startBothModes(): Promise<BothModes> {
  const [compat, strict] = await Promise.all([startRelay(), startRelay({ POWR_RELAY_VALIDATION_MODE: 'strict' })]);
  const [c, s] = await Promise.all([RawClient.connect(compat.url), RawClient.connect(strict.url)]);
  return { compat, strict, c, s };
}

export async function stopBothModes({ compat, strict, c, s }: BothModes): Promise<void> {
  c.close();
  s.close();
  await Promise.all([compat.stop(), strict.stop()]);
}
