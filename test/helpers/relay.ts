import { spawn } from 'node:child_process';
import { RELAY_ENTRY, startRelayProcess, tempDb, type RelayProcess } from '../../src/bench/relay-process.js';

export { tempDb };
export type RunningRelay = RelayProcess;

/** The built relay (dist/index.js) in a child process on a free port with a fresh database. */
export const startRelay = startRelayProcess;

/** Runs the relay expecting it to refuse to start; resolves with its exit code and output. */
export function runFailingRelay(env: Record<string, string>): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const proc = spawn(process.execPath, [RELAY_ENTRY], {
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
