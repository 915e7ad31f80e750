import type { Logger } from 'pino';
import type { Config } from '../config/settings.js';
import type { NostrEvent } from '../protocol/event.js';
import { MODERATION_REFUSALS, type ModerationList, type ModerationState } from '../store/moderation.js';
import type { StoragePort } from '../store/port.js';

const values = (state: ModerationState, list: ModerationList) => new Set(state.lists[list].map((e) => e.value));

/**
 * The main thread's copy of the moderation decisions, for the write policy and the connection check
 * (no round trip to storage per event). Re-read after each management call and whenever the feed says
 * the writer applied a decision (another process's, or in cluster mode any node's).
 */
export class Moderation {
  private bannedPubkeys = new Set<string>();
  private bannedEvents = new Set<string>();
  private allowedKinds = new Set<string>();
  private disallowedKinds = new Set<string>();
  private blockedIps = new Set<string>();
  /** Authors allowed by an admin: when there are any, only they (and `writeAllowlist`) may publish. */
  allowedAuthors: ReadonlySet<string> = new Set();
  private info: ModerationState['info'] = {};

  constructor(private readonly store: StoragePort, private readonly log: Logger) {}

  /** The reload in progress: reloads run one after another, so an older read never overwrites a newer one. */
  private loading: Promise<void> = Promise.resolve();

  reload(): Promise<void> {
    this.loading = this.loading.catch(() => undefined).then(() => this.load());
    return this.loading;
  }

  private async load(): Promise<void> {
    const state = await this.store.moderation();
    this.bannedPubkeys = values(state, 'bannedPubkeys');
    this.bannedEvents = values(state, 'bannedEvents');
    this.allowedKinds = values(state, 'allowedKinds');
    this.disallowedKinds = values(state, 'disallowedKinds');
    this.blockedIps = values(state, 'blockedIps');
    this.allowedAuthors = values(state, 'allowedPubkeys');
    this.info = state.info;
  }

  /** Re-reads the decisions whenever the change feed says the writer applied one. */
  follow(): () => void {
    return this.store.onChange((change) => {
      if (change.moderation) this.reload().catch((err: unknown) => this.log.error({ err }, 'reloading moderation decisions failed'));
    });
  }

  /**
   * Why an event is refused by a decision. Kinds: a disallowed kind is refused; once any kind is
   * allowed explicitly, only allowed kinds are accepted.
   */
  refusal(event: NostrEvent): string | undefined {
    if (this.bannedPubkeys.has(event.pubkey)) return MODERATION_REFUSALS.bannedPubkey;
    if (this.bannedEvents.has(event.id)) return MODERATION_REFUSALS.bannedEvent;
    const kind = String(event.kind);
    if (this.disallowedKinds.has(kind) || (this.allowedKinds.size > 0 && !this.allowedKinds.has(kind))) {
      return `blocked: events of kind ${kind} are not accepted by this relay`;
    }
    return undefined;
  }

  /** A banned pubkey may not upload media, and its blobs are hidden (src/media). */
  pubkeyBanned(pubkey: string): boolean {
    return this.bannedPubkeys.has(pubkey);
  }

  /** `banevent` on a blob's sha256 bans the blob: refused on upload, never served. */
  idBanned(id: string): boolean {
    return this.bannedEvents.has(id);
  }

  /** Refuses connections and HTTP requests from a blocked address. */
  ipRefusal(ip: string): string | undefined {
    return this.blockedIps.has(ip) ? 'blocked: this address is blocked by the relay operator' : undefined;
  }

  /** The configuration as NIP-11 describes it: relay information an admin changed, allowed authors. */
  relayConfig(config: Config): Config {
    return { ...config, ...this.info, writeAllowlist: [...config.writeAllowlist, ...this.allowedAuthors] };
  }
}
