import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, headers } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { deleteStream as removeStream, streamLastSeq as lastSeqOf } from '../../src/store/cluster/nats-log.js';
import { sleep } from './client.js';
import { freePort } from './relay.js';

/**
 * Real NATS servers for the cluster tests: the machine's own (127.0.0.1:4222, started before the
 * session) for the plain cases, and servers of the tests' own on free loopback ports with temporary
 * store folders where one must be stopped, restarted or clustered.
 */

export const NATS_SERVER = '/usr/sbin/nats-server';
export const SYSTEM_NATS = 'nats://127.0.0.1:4222';

async function accepting(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = tcpConnect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nats-server on port ${port} did not start within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** One nats-server with JetStream; stop() and start() keep its port and store folder. */
export class NatsServer {
  private proc: ChildProcess | undefined;

  private constructor(readonly port: number, private readonly store: string, private readonly args: string[]) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** A lone server (on `port`, or a free one), or one member of a cluster (see startNatsCluster). */
  static async create(cluster?: { name: string; port: number; routes: number[] }, port?: number): Promise<NatsServer> {
    port ??= await freePort();
    const store = mkdtempSync(join(tmpdir(), 'powr-nats-'));
    const args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store, '-n', `powr-test-${port}`];
    if (cluster) {
      args.push('--cluster_name', cluster.name, '--cluster', `nats://127.0.0.1:${cluster.port}`,
        '--routes', cluster.routes.map((p) => `nats://127.0.0.1:${p}`).join(','));
    }
    return new NatsServer(port, store, args);
  }

  async start(): Promise<void> {
    this.proc = spawn(NATS_SERVER, this.args, { stdio: 'ignore' });
    await accepting(this.port, 10_000);
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    await exited;
  }

  /** Stops the server and deletes its store folder. */
  async remove(): Promise<void> {
    await this.stop();
    rmSync(this.store, { recursive: true, force: true });
  }
}

export async function startNats(port?: number): Promise<NatsServer> {
  const server = await NatsServer.create(undefined, port);
  await server.start();
  return server;
}

/** Three clustered servers; resolves once JetStream answers through the first (a meta leader exists). */
export async function startNatsCluster(): Promise<NatsServer[]> {
  const clusterPorts = [await freePort(), await freePort(), await freePort()];
  const name = `powr-test-${process.pid}`;
  const servers = await Promise.all(clusterPorts.map((port) => NatsServer.create({ name, port, routes: clusterPorts.filter((p) => p !== port) })));
  await Promise.all(servers.map((s) => s.start()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const nc = await connect({ servers: servers.map((s) => s.url) });
      try {
        await (await jetstreamManager(nc, { timeout: 2000 })).getAccountInfo();
        return servers;
      } finally {
        await nc.close();
      }
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`the NATS cluster did not elect a JetStream leader: ${(err as Error).message}`);
      await sleep(250);
    }
  }
}

/** Publishes a raw message on a subject, with these headers (what any NATS client with access could do). */
export async function publishRaw(servers: string, subject: string, data: string, headerValues: Record<string, string> = {}): Promise<void> {
  const nc = await connect({ servers: servers.split(',') });
  try {
    const h = headers();
    for (const [key, value] of Object.entries(headerValues)) h.set(key, value);
    nc.publish(subject, data, { headers: h });
    await nc.flush();
  } finally {
    await nc.close();
  }
}

/** A stream name no other test uses, on a shared server. */
export function uniqueStream(label: string): string {
  return `powr-test-${label}-${process.pid}-${Math.floor(Math.random() * 1e9)}`;
}

/** Removes a test's stream from a server that outlives the test. */
export function deleteStream(servers: string, stream: string): Promise<void> {
  return removeStream(servers.split(','), stream);
}

/** The stream's last sequence, as NATS has it. */
export async function streamLastSeq(servers: string, stream: string): Promise<number> {
  const last = await lastSeqOf(servers.split(','), stream);
  if (last === undefined) throw new Error(`no stream ${stream}`);
  return last;
}

/** The message id (the event id a node published it under) of every message the stream holds, in order. */
export async function streamMessageIds(servers: string, stream: string): Promise<string[]> {
  const nc = await connect({ servers: servers.split(',') });
  try {
    const jsm = await jetstreamManager(nc);
    const { first_seq: first, last_seq: last } = (await jsm.streams.info(stream)).state;
    const ids: string[] = [];
    for (let seq = first; seq > 0 && seq <= last; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq });
      ids.push(m?.header?.get('Nats-Msg-Id') ?? '');
    }
    return ids;
  } finally {
    await nc.close();
  }
}
