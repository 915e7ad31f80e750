import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import jsonc from 'jsonc-parser';
import { parseFilter } from '../protocol/filter.js';
import { closest } from './closest.js';
import { ConfigError, SETTINGS, envName, type Config } from './settings.js';

/** The shipped config file; POWR_RELAY_CONFIG points elsewhere. */
export const DEFAULT_CONFIG_FILE = fileURLToPath(new URL('../../config/powr-relay.jsonc', import.meta.url));

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`config file ${path}: ${(err as Error).message}`);
  }
  // JSONC as editors know it: comments and trailing commas.
  const errors: jsonc.ParseError[] = [];
  const parsed: unknown = jsonc.parse(text, errors, { allowTrailingComma: true, disallowComments: false });
  const first = errors[0];
  if (first) {
    const line = text.slice(0, first.offset).split('\n').length;
    throw new ConfigError(`config file ${path}: line ${line}: ${jsonc.printParseErrorCode(first.error)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path}: must hold a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/** POWR_RELAY_* variables that are not settings but are read all the same. */
const OTHER_VARIABLES = ['POWR_RELAY_CONFIG'];

/** A mistyped variable would otherwise be ignored without a word, and the relay run with the default. */
function checkEnvironmentNames(env: NodeJS.ProcessEnv): void {
  const known = [...SETTINGS.map((s) => envName(s.key)), ...OTHER_VARIABLES];
  for (const name of Object.keys(env)) {
    if (!name.startsWith('POWR_RELAY_') || known.includes(name)) continue;
    throw new ConfigError(`${name}: not a powr-relay setting; did you mean ${closest(name, known)}?`);
  }
}

/**
 * Built-in defaults, then the config file, then POWR_RELAY_* environment variables. Any bad value
 * throws a ConfigError whose message names the setting and where it came from.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  checkEnvironmentNames(env);
  const explicitFile = env.POWR_RELAY_CONFIG;
  const file = explicitFile || DEFAULT_CONFIG_FILE;
  if (explicitFile && !existsSync(explicitFile)) {
    throw new ConfigError(`POWR_RELAY_CONFIG: no config file at ${explicitFile}`);
  }
  const fromFile = existsSync(file) ? readConfigFile(file) : {};
  const known = new Set<string>(SETTINGS.map((s) => s.key));
  for (const key of Object.keys(fromFile)) {
    if (!known.has(key)) throw new ConfigError(`config file ${file}: unknown setting "${key}"`);
  }

  const config: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const name = envName(s.key);
    const [raw, source] =
      env[name] !== undefined ? [env[name], name] : s.key in fromFile ? [fromFile[s.key], `${file}: ${s.key}`] : [s.default, s.key];
    try {
      config[s.key] = s.parse(raw);
    } catch (err) {
      throw new ConfigError(`${source}: ${(err as Error).message}`);
    }
  }
  const result = config as unknown as Config;
  if (result.defaultLimit > result.maxLimit) {
    throw new ConfigError(`defaultLimit (${result.defaultLimit}) must not exceed maxLimit (${result.maxLimit})`);
  }
  // Each node would fetch and evict on its own beside the cluster's shared blob metadata.
  if (result.mediaMirrorCacheBytes > 0 && result.clusterNats.length > 0) {
    throw new ConfigError(`mediaMirrorCacheBytes (${envName('mediaMirrorCacheBytes')}): the mirror cache is for a single relay; set it to 0 in cluster mode (clusterNats)`);
  }
  // The filters are sent upstream and matched here under this relay's own filter limits.
  for (const filter of result.upstreamFilter) {
    const parsed = parseFilter(filter, result);
    if (!parsed.ok) throw new ConfigError(`upstreamFilter (${envName('upstreamFilter')}): ${parsed.reason}`);
  }
  return result;
}
