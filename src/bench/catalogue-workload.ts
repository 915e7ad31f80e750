import type { CorpusMeta } from './corpus.js';
import { Rng } from './rng.js';
import { summarize, type Summary } from './stats.js';

/** Catalogue page latency (full HTML response) per page type: the web catalogue as browsers load it. */
export type CatalogueResult = Record<string, Summary>;

/** Page type → a path to one such page, drawn from the corpus. */
function pagePaths(meta: CorpusMeta, rng: Rng): Record<string, () => string> {
  const q = encodeURIComponent;
  return {
    library: () => '/',
    'library search': () => `/?q=${rng.pick(['squat', 'press', 'row', 'legs', 'kettlebell'])}`,
    'templates browse': () => '/templates',
    'templates by type': () => `/templates?type=${rng.pick(['strength', 'circuit', 'emom', 'amrap'])}`,
    'templates search': () => `/templates?q=${rng.pick(['workout', 'tpl', 'lib'])}`,
    exercise: () => `/exercises/${q(rng.pick(meta.exerciseAddresses))}`,
    template: () => `/templates/${q(rng.pick(meta.templateAddresses))}`,
    record: () => `/records/${rng.pick(meta.recordIds)}`,
    profile: () => `/profiles/${rng.pick(meta.users)}`,
  };
}

export async function catalogueLatency(url: string, meta: CorpusMeta, samples: number, seed: number): Promise<CatalogueResult> {
  const httpUrl = url.replace(/^ws/, 'http');
  const rng = new Rng(seed);
  const result: CatalogueResult = {};
  for (const [name, path] of Object.entries(pagePaths(meta, rng))) {
    const times: number[] = [];
    for (let i = 0; i < samples; i++) {
      const t0 = performance.now();
      const res = await fetch(httpUrl + path(), { headers: { Accept: 'text/html' } });
      await res.text();
      if (res.status !== 200) throw new Error(`catalogue ${name}: HTTP ${res.status}`);
      times.push(performance.now() - t0);
    }
    result[name] = summarize(times);
  }
  return result;
}
