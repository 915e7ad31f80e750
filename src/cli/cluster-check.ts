import type { StoredSet } from '../store/port.js';
import { CliError } from './common.js';

/**
 * `powr-relay cluster check <http-url>…`: do the nodes hold the same events? Each node counts its
 * stored ids from its rows (GET /api/digest) at a time given here, so expired events awaiting a purge
 * do not count anywhere; nodes are compared only at one applied stream sequence: a node behind is
 * waited for (it is catching up, not different) until the deadline.
 */

/** One node's answer to GET /api/digest. */
interface NodeDigest extends StoredSet {
  appliedSeq: number;
  rows: StoredSet;
  kept: StoredSet | null;
}

type Asked<T> = { url: string; value: T } | { url: string; error: string };

/** How long one node may take to answer (a recount of millions of events takes seconds). */
const REQUEST_TIMEOUT_MS = 30_000;
const POLL_MS = 200;

/** The node URLs, checked: each must be http:// or https://. */
export function nodeUrls(given: readonly string[]): string[] {
  if (given.length === 0) throw new CliError('cluster check: give the HTTP URL of each node, e.g. http://10.0.0.1:7447');
  return given.map((url) => {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (parsed?.protocol !== 'http:' && parsed?.protocol !== 'https:') {
      throw new CliError(`cluster check: ${JSON.stringify(url)} is not a node's HTTP URL (http:// or https://)`);
    }
    return url;
  });
}

async function ask<T>(url: string, path: string): Promise<Asked<T>> {
  let res: Response;
  try {
    res = await fetch(new URL(path, url), { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = (err as Error).name === 'TimeoutError' ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : cause?.code ?? cause?.message ?? (err as Error).message;
    return { url, error: `cannot reach it (${why})` };
  }
  const text = await res.text().catch(() => '');
  if (!res.ok) return { url, error: `GET ${path.split('?')[0]} answered ${res.status}${text ? `: ${text.trim().slice(0, 200)}` : ''}` };
  try {
    return { url, value: JSON.parse(text) as T };
  } catch {
    return { url, error: `GET ${path.split('?')[0]} did not answer JSON (is it a powr-relay?)` };
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls /health (cheap) until the nodes report one applied sequence; false at the deadline. */
async function sameAppliedSeq(urls: readonly string[], deadline: number): Promise<boolean> {
  while (Date.now() < deadline) {
    const answers = await Promise.all(urls.map((url) => ask<{ cluster?: { appliedSeq: number } }>(url, '/health')));
    const seqs = new Set(answers.map((a) => ('value' in a ? a.value.cluster?.appliedSeq ?? 0 : -1)));
    if (seqs.size === 1) return true;
    await sleep(POLL_MS);
  }
  return false;
}

/** Groups nodes by what they serve; the nodes outside the largest group, or all when no group is largest. */
export function differing(nodes: readonly { url: string; digest: string; stored: number }[]): { url: string }[] {
  const groups = new Map<string, string[]>();
  for (const node of nodes) {
    const key = `${node.digest}/${node.stored}`;
    groups.set(key, [...(groups.get(key) ?? []), node.url]);
  }
  if (groups.size <= 1) return [];
  const sizes = [...groups.values()].map((g) => g.length).sort((a, b) => b - a);
  if (sizes[0] === sizes[1]) return nodes.map(({ url }) => ({ url }));
  const majority = [...groups.values()].find((g) => g.length === sizes[0])!;
  return nodes.filter((n) => !majority.includes(n.url)).map(({ url }) => ({ url }));
}

function table(nodes: readonly { url: string; value: NodeDigest }[]): string[] {
  const width = Math.max(4, ...nodes.map((n) => n.url.length));
  const row = (node: string, seq: string, stored: string, digest: string) =>
    `${node.padEnd(width)}  ${seq.padStart(10)}  ${stored.padStart(9)}  ${digest}`;
  return [row('node', 'appliedSeq', 'stored', 'digest'), ...nodes.map(({ url, value }) =>
    row(url, String(value.appliedSeq), String(value.stored), value.digest))];
}

/**
 * Asks every node, waiting up to `waitMs` for them to reach one applied sequence. Returns the table and
 * verdict, one line per node that could not be asked, and whether every node answered and all agree.
 */
export async function clusterCheck(urls: readonly string[], waitMs: number, progress: (line: string) => void):
  Promise<{ ok: boolean; report: string; errors: string[] }> {
  const started = Date.now();
  const deadline = started + waitMs;
  let answers: Asked<NodeDigest>[];
  let reachable: { url: string; value: NodeDigest }[];
  let waited = false;
  for (;;) {
    const now = Math.floor(Date.now() / 1000);
    answers = await Promise.all(urls.map((url) => ask<NodeDigest>(url, `/api/digest?now=${now}`)));
    reachable = answers.filter((a): a is { url: string; value: NodeDigest } => 'value' in a);
    if (new Set(reachable.map((a) => a.value.appliedSeq)).size <= 1) break;
    const where = reachable.map((a) => `${a.url} at ${a.value.appliedSeq}`).join(', ');
    waited = true;
    progress(`waiting up to ${Math.max(0, Math.ceil((deadline - Date.now()) / 1000))} s for the nodes to reach one applied sequence (${where})`);
    if (!(await sameAppliedSeq(reachable.map((a) => a.url), deadline))) {
      throw new CliError(`cluster check: the nodes did not reach one applied sequence within ${waitMs / 1000} s (${where}); ` +
        'writes kept coming or a node cannot follow the stream (see its /health); run it again or raise --wait');
    }
  }
  const errors = answers.flatMap((a) => ('error' in a ? [`${a.url}: ${a.error}`] : []));
  if (reachable.length === 0) return { ok: false, report: '', errors };
  const lines = table(reachable);
  // Said whenever it said it was waiting, however short the wait turned out.
  if (waited) lines.push(`waited ${((Date.now() - started) / 1000).toFixed(1)} s for the nodes to reach one applied sequence`);
  // Rows that differ from what the writer kept: deleted or added by something other than the relay.
  const changed = reachable.filter(({ value: { rows, kept } }) => kept !== null && (kept.digest !== rows.digest || kept.stored !== rows.stored));
  for (const { url, value: { rows, kept } } of changed) {
    lines.push(`${url}: its database was changed outside the relay (${rows.stored} events stored, ${kept!.stored} applied)`);
  }
  const odd = differing(reachable.map(({ url, value }) => ({ url, ...value })));
  if (odd.length === reachable.length) {
    lines.push(`the nodes differ: ${odd.map((n) => n.url).join(', ')} (no majority to tell which is right)`);
  } else if (odd.length > 0) {
    lines.push(`differ from the other ${reachable.length - odd.length} nodes: ${odd.map((n) => n.url).join(', ')}`);
  } else if (reachable.length > 1) {
    const { stored, appliedSeq } = reachable[0]!.value;
    lines.push(`the ${reachable.length} nodes agree: ${stored} events at stream sequence ${appliedSeq}`);
  }
  const ok = errors.length === 0 && odd.length === 0 && changed.length === 0;
  return { ok, report: lines.join('\n') + '\n', errors };
}
