import { RECORD_KINDS, isRestrictedKind, mayRead, type Viewers } from '../powr/privacy.js';
import type { BlobPath } from '../store/bundle-cache.js';
import type { CatalogueReads } from '../store/catalogue.js';

/** What every catalogue page is built from. */
export interface PageContext {
  reads: CatalogueReads;
  now: number;
  /** The read rules as an anonymous reader sees them (viewersFor the config); undefined: nothing restricted. */
  viewers: Viewers | undefined;
  /** Where this relay serves a stored blob; undefined when it serves none (media off). */
  blobPath: BlobPath | undefined;
}

/** A page's title and main content; undefined from a page function means 404. */
export interface Page {
  title: string;
  body: string;
  status?: number;
}

/** The catalogue has no AUTH: it reads as an anonymous client, so the read rules hide what they hide from them. */
export function anonymousMayRead(ctx: PageContext, event: { kind: number; pubkey: string; tags: string[][] }): boolean {
  return !ctx.viewers || mayRead(event, ctx.viewers);
}

/** Whether workout records (and what is computed from them: history, charts, PRs) may be listed at all. */
export function recordsListed(ctx: PageContext): boolean {
  return !ctx.viewers || !RECORD_KINDS.some((k) => isRestrictedKind(k, ctx.viewers!));
}
