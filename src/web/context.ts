import { isPrivateKind, mayRead } from '../powr/privacy.js';
import { LEGACY_RECORD_KIND, RECORD_KIND } from '../powr/types.js';
import type { CatalogueReads } from '../store/catalogue-queries.js';

/** What every catalogue page is built from. */
export interface PageContext {
  reads: CatalogueReads;
  now: number;
  privateRecords: boolean;
}

/** A page's title and main content; undefined from a page function means 404. */
export interface Page {
  title: string;
  body: string;
  status?: number;
}

/** The catalogue has no AUTH: it reads as an anonymous client, so privacy mode hides what it hides from them. */
const ANONYMOUS: ReadonlySet<string> = new Set();

export function anonymousMayRead(ctx: PageContext, event: { kind: number; pubkey: string; tags: string[][] }): boolean {
  return !ctx.privateRecords || mayRead(event, ANONYMOUS);
}

/** Whether workout records (and what is computed from them: history, charts, PRs) may be listed at all. */
export function recordsListed(ctx: PageContext): boolean {
  return !ctx.privateRecords || ![RECORD_KIND, LEGACY_RECORD_KIND].some(isPrivateKind);
}
