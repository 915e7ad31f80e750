import { expect } from 'vitest';
import type { NostrEvent } from 'nostr-tools/pure';
import { RawClient, type Signer } from './client.js';

/** What the upstream tests publish on one relay and expect to find followed on another. */

export const now = () => Math.floor(Date.now() / 1000);

/** A valid exercise template (33401) with its own `d`. */
export const exercise = (who: Signer, d: string, createdAt = now()) => who.sign({ kind: 33401, content: '', created_at: createdAt,
  tags: [['d', d], ['title', d], ['format', 'weight', 'reps', 'rpe', 'set_type'], ['format_units', 'kg', 'count', '0-10', 'enum'],
    ['equipment', 'barbell']] });

/** Publishes one event over a connection of its own, expecting `OK true ""`. */
export async function publish(url: string, event: NostrEvent): Promise<void> {
  const c = await RawClient.connect(url);
  try {
    expect(await c.publish(event)).toEqual([true, '']);
  } finally {
    c.close();
  }
}
