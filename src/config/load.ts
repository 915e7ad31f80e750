import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, SETTINGS, envName, type Config } from './settings.js';

/** The shipped config file; POWR_RELAY_CONFIG points elsewhere. */
export const DEFAULT_CONFIG_FILE = fileURLToPath(new URL('../../config/powr-relay.jsonc', import.meta.url));

/**
 * Strips // and /* *\/ comments outside strings, so the config file can document itself and still be
 * read with JSON.parse.
 */
export function stripJsonComments(source: string): string {
  let out = '';
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < source.length && source[j] !== '"') j += source[j] === '\\' ? 2 : 1;
      out += source.slice(i, j + 1);
      i = j + 1;
    } else if (c === '/' && source[i + 1] === '/') {
      while (i < source.length && source[i] !== '\n') i++;
    } else if (c === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2);
      i = end === -1 ? source.length : end + 2;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function readConfigFile(path: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stripJsonComments(readFileSync(path, 'utf8')));
  } catch (err) {
    throw new ConfigError(`config file ${path}: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path}: must hold a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * Built-in defaults, then the config file, then POWR_RELAY_* environment variables. Any bad value
 * throws a ConfigError whose message names the setting and where it came from.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
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
  return result;
}
