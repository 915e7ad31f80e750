import type { Logger } from 'pino';
import { envName } from '../config/settings.js';
import type { Metrics } from '../relay/metrics.js';
import { MetricsServer } from '../relay/metrics-server.js';
import { CliError } from './common.js';

/** The separate /metrics listener (`metricsListen`), and the URL it ended up on (port 0 picks one). */
export async function listenForMetrics(metrics: Metrics, log: Logger, listen: string): Promise<{ server: MetricsServer; url: string }> {
  const server = new MetricsServer(metrics, log);
  try {
    const address = await server.listen(listen);
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return { server, url: `http://${host}:${address.port}/metrics` };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CliError(`cannot listen on ${listen} (${envName('metricsListen')}): ${e.code ?? e.message}`);
  }
}
