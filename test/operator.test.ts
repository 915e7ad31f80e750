import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { RawClient, signer } from './helpers/client.js';
import { runCli, runFailingRelay, startRelay, tempDb, type RunningRelay } from './helpers/relay.js';
import { loadConfig } from '../src/config/load.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const tempDir = () => mkdtempSync(join(tmpdir(), 'powr-operator-'));

describe('start-up configuration', () => {
  it('stops on an unknown POWR_RELAY_* variable, naming the closest real one', async () => {
    for (const [name, meant] of [['POWR_RELAY_PORTT', 'POWR_RELAY_PORT'], ['POWR_RELAY_RESTRICTED_READ_KIND', 'POWR_RELAY_RESTRICTED_READ_KINDS'],
      ['POWR_RELAY_AUTH_ONCONNECT', 'POWR_RELAY_AUTH_ON_CONNECT']]) {
      const { code, stderr } = await runFailingRelay({ [name!]: '1' });
      expect(code).toBe(1);
      expect(stderr).toBe(`powr-relay: ${name}: not a powr-relay setting; did you mean ${meant}?\n`);
    }
  });

  it('reads the config file as JSONC: comments and trailing commas, and names the line of a syntax error', async () => {
    const dir = tempDir();
    const file = join(dir, 'relay.jsonc');
    writeFileSync(file, '{\n  // the name\n  "name": "Trailing commas", /* block */\n  "restrictedReadKinds": [4, 1059,],\n}\n');
    const relay = await startRelay({ POWR_RELAY_CONFIG: file });
    const info = await (await fetch(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } })).json();
    expect(info.name).toBe('Trailing commas');
    await relay.stop();

    writeFileSync(file, '{\n  "name": "x"\n  "port": 1\n}\n');
    const bad = await runFailingRelay({ POWR_RELAY_CONFIG: file });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(`powr-relay: config file ${file}: line 3: CommaExpected\n`);
  });

  it('serves /metrics on its own address when metricsListen is set, and not on the relay port', async () => {
    const relay = await startRelay({ POWR_RELAY_METRICS_LISTEN: '127.0.0.1:0' });
    const started = relay.logs.find((l) => typeof l.metricsUrl === 'string');
    const metricsUrl = started!.metricsUrl as string;
    expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(new URL(metricsUrl).port).not.toBe(new URL(relay.httpUrl).port);
    const res = await fetch(metricsUrl);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('powr_');
    expect((await fetch(`${relay.httpUrl}/metrics`)).status).toBe(404);
    expect((await fetch(metricsUrl.replace('/metrics', '/health'))).status).toBe(404);
    await relay.stop();
  });
});

describe('import and export failures end with one line and a non-zero exit', () => {
  it('export to a folder that does not exist', async () => {
    const target = join(tempDir(), 'missing', 'out.jsonl');
    const run = await runCli(['export', target], { POWR_RELAY_DB: tempDb() });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^powr-relay: export: cannot write .*out\.jsonl: the folder .*missing does not exist\n$/);
  });

  it('import of a folder', async () => {
    const dir = tempDir();
    const run = await runCli(['import', dir], { POWR_RELAY_DB: tempDb() });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`powr-relay: import: ${dir} is a folder; give a JSONL file, or - for standard input\n`);
  });

  it('an import in which every line was rejected', async () => {
    const s = signer();
    const tampered = { ...s.sign({ content: 'a' }), content: 'changed' };
    const run = await runCli(['import', '-'], { POWR_RELAY_DB: tempDb() }, `not json\n${JSON.stringify(tampered)}\n`);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^2 lines .*: 0 accepted, 0 duplicates, 2 rejected\n/);
    expect(run.stderr).toBe('powr-relay: import: all 2 lines were rejected; nothing was imported (reasons above)\n');
  });
});

describe('HTTP and WebSocket answers', () => {
  let relay: RunningRelay;
  beforeAll(async () => {
    relay = await startRelay();
  });
  afterAll(() => relay.stop());

  it('answers unknown HTTP paths with 404, and / with the relay line', async () => {
    for (const accept of ['*/*', 'text/html']) {
      const res = await fetch(`${relay.httpUrl}/no/such/page`, { headers: { Accept: accept } });
      expect(res.status).toBe(404);
    }
    expect(await (await fetch(`${relay.httpUrl}/favicon.ico`)).text()).toBe('not found: /favicon.ico\n');
    const root = await fetch(`${relay.httpUrl}/`);
    expect(root.status).toBe(200);
    expect(await root.text()).toMatch(/a Nostr relay/);
  });

  it('names the address or id asked for in a bundle 404', async () => {
    const address = `33402:${'a'.repeat(64)}:push-day`;
    const byAddress = await fetch(`${relay.httpUrl}/api/bundle?a=${encodeURIComponent(address)}`);
    expect(byAddress.status).toBe(404);
    expect(await byAddress.json()).toEqual({ error: `no event stored at ${address}` });
    const id = 'b'.repeat(64);
    expect(await (await fetch(`${relay.httpUrl}/api/bundle?id=${id}`)).json()).toEqual({ error: `no event stored with id ${id}` });
  });

  it('never echoes a malformed id in an OK: it answers with a NOTICE', async () => {
    const c = await RawClient.connect(relay.url);
    const good = signer().sign({ content: 'x' });
    for (const id of ['not-an-id', 'A'.repeat(64), 'a'.repeat(65)]) {
      const from = c.frames.length;
      c.send(['EVENT', { ...good, id }]);
      const answer = await c.next((f) => f[0] === 'NOTICE' || f[0] === 'OK', 5000, from);
      expect(answer).toEqual(['NOTICE', 'invalid: id must be 64 lowercase hex characters']);
    }
    c.close();
  });
});

describe('packaging and deployment', () => {
  it('npx powr-relay --help works right after npm install (the prepare script builds dist)', () => {
    const dir = tempDir();
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'README.md']) cpSync(join(ROOT, f), join(dir, f));
    for (const d of ['src', 'config']) cpSync(join(ROOT, d), join(dir, d), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    const env = { ...process.env, npm_config_update_notifier: 'false' };
    // What `npm install` runs for this package once dependencies are in place (no network needed here).
    const prepare = spawnSync('npm', ['run', 'prepare'], { cwd: dir, env, encoding: 'utf8', timeout: 180_000 });
    expect(prepare.status, prepare.stderr).toBe(0);
    const help = spawnSync('npx', ['--no-install', 'powr-relay', '--help'], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^powr-relay \d+\.\d+\.\d+: a Nostr relay/);
  }, 240_000);

  it('docker-compose.yml: public URL from the environment, only its own proxy trusted, known settings only', () => {
    const compose = parseYaml(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'));
    const env = compose.services.relay.environment as Record<string, string>;
    expect(env.POWR_RELAY_PUBLIC_URL).toMatch(/^wss:\/\/\$\{RELAY_DOMAIN:\?/);
    expect(compose.services.proxy.command).toContain('${RELAY_DOMAIN:?');
    expect(env.POWR_RELAY_TRUSTED_PROXIES).toBe(compose.services.proxy.networks['relay-net'].ipv4_address);
    // Every POWR_RELAY_* it sets must be a setting, or the relay refuses to start.
    const settings = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8');
    for (const name of Object.keys(env)) expect(settings, name).toContain(`\`${name}\``);
    const prometheus = readFileSync(join(ROOT, 'deploy/prometheus.yml'), 'utf8');
    expect(prometheus).toContain(`relay:${env.POWR_RELAY_METRICS_LISTEN!.split(':')[1]}`);
  });

  it('deploy/cluster-compose.yml: three relays on one stream over all three NATS servers, a settings set the relay accepts', () => {
    const compose = parseYaml(readFileSync(join(ROOT, 'deploy/cluster-compose.yml'), 'utf8'), { merge: true });
    const services = compose.services as Record<string, { environment?: Record<string, string>; command?: string[] }>;
    const relays = Object.keys(services).filter((name) => name.startsWith('relay-'));
    const nats = Object.keys(services).filter((name) => name.startsWith('nats-'));
    expect(relays).toHaveLength(3);
    expect(nats).toHaveLength(3);
    for (const name of relays) {
      // As compose would pass it, with the domain filled in: the relay must accept every value.
      const env = Object.fromEntries(Object.entries(services[name]!.environment!)
        .map(([key, value]) => [key, String(value).replace(/\$\{RELAY_DOMAIN[^}]*\}/, 'relay.example.com')]));
      const config = loadConfig({ ...env, POWR_RELAY_CONFIG: join(ROOT, 'config/powr-relay.jsonc') });
      expect(config.clusterNats.map((url) => new URL(url).hostname).sort()).toEqual(nats.sort());
      expect(config.clusterStream).toBe('powr-events');
      expect(config.clusterReplicas).toBe(3);
      expect(config.trustedProxies).toEqual([compose.services.proxy.networks['cluster-net'].ipv4_address]);
    }
    // Each NATS server routes to the other two, under one cluster name, with JetStream on.
    for (const name of nats) {
      const command = services[name]!.command!.join(' ');
      expect(command).toContain('-js');
      for (const other of nats.filter((n) => n !== name)) expect(command).toContain(`nats://${other}:6222`);
    }
    const caddyfile = readFileSync(join(ROOT, 'deploy/Caddyfile.cluster'), 'utf8');
    for (const name of relays) expect(caddyfile).toContain(`${name}:7447`);
    expect(caddyfile).toContain('health_uri /health');
  });

  it('the compose and Dockerfile health checks follow the relay port', async () => {
    const compose = parseYaml(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'));
    const composeScript = (compose.services.relay.healthcheck.test as string[]).at(-1)!;
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const dockerScript = /CMD node -e "(.*)"/.exec(dockerfile)![1]!;
    const relay = await startRelay();
    const port = new URL(relay.httpUrl).port;
    const check = (script: string, env: Record<string, string>) =>
      spawnSync(process.execPath, ['-e', script], { env: { ...process.env, ...env }, timeout: 10_000 }).status;
    for (const script of [composeScript, dockerScript]) {
      expect(check(script, { POWR_RELAY_PORT: port })).toBe(0);
      expect(check(script, { POWR_RELAY_PORT: '9' })).toBe(1);
    }
    await relay.stop();
  });
});
