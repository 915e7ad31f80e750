import type { Config } from '../config/settings.js';
import { restrictedKinds } from '../powr/privacy.js';

const SUPPORTED_NIPS = [1, 9, 11, 40, 42, 45, 50, 62, 70, 86];
const NEGENTROPY_NIP = 77;

/** The NIPs this relay speaks: NIP-77 only while negentropy is turned on. */
export function supportedNips(config: Pick<Config, 'negentropy'>): number[] {
  return config.negentropy ? [...SUPPORTED_NIPS, NEGENTROPY_NIP].sort((a, b) => a - b) : SUPPORTED_NIPS;
}

/** The NIP-11 document. Every `limitation` number is one the relay enforces, read from the same config. */
export function relayInformation(config: Config, version: string): Record<string, unknown> {
  const optional = (key: string, value: string) => (value ? { [key]: value } : {});
  return {
    name: config.name,
    description: config.description,
    ...optional('pubkey', config.pubkey),
    ...optional('contact', config.contact),
    ...optional('icon', config.icon),
    supported_nips: supportedNips(config),
    software: 'https://github.com/powr-relay/powr-relay',
    version,
    limitation: {
      max_message_length: config.maxMessageLength,
      max_subscriptions: config.maxSubscriptions,
      max_limit: config.maxLimit,
      default_limit: config.defaultLimit,
      max_subid_length: config.maxSubidLength,
      max_event_tags: config.maxEventTags,
      max_content_length: config.maxContentLength,
      min_pow_difficulty: 0,
      auth_required: false,
      payment_required: false,
      restricted_writes: config.restrictedWrites || config.writeAllowlist.length > 0,
      ...(config.createdAtLowerLimit > 0 ? { created_at_lower_limit: config.createdAtLowerLimit } : {}),
      created_at_upper_limit: config.createdAtUpperLimit,
    },
    // Extensions for NIP-101e workout events; plain NIP-01 clients never see them.
    powr: {
      nip101e_validation: config.validationMode,
      // Workout records served only to their author and p-tagged pubkeys, after AUTH.
      private_records: config.privateRecords,
      // Kinds served only to their authenticated author and p-tagged pubkeys (read rules).
      restricted_read_kinds: restrictedKinds(config),
      bundle_endpoint: '/api/bundle',
      // NIP-50 covers exercises (title, instructions, hashtags incl. muscle groups, equipment) and templates.
      search_kinds: [33401, 33402],
      filter_extensions: ['resolve', '#exercise', '#template', '#title', '#description'],
    },
  };
}
