import { randomBytes } from 'node:crypto';

/** How many of a connection's latest challenges an AUTH may answer. */
const KEPT = 4;

/**
 * The NIP-42 challenges one connection was sent. A new one goes out with every `auth-required:`
 * answer, and a client may sign the one before while the next is on its way, so the last few are all
 * accepted.
 */
export class AuthChallenges {
  private readonly issued: string[] = [];

  issue(): string {
    const challenge = randomBytes(16).toString('hex');
    this.issued.push(challenge);
    if (this.issued.length > KEPT) this.issued.shift();
    return challenge;
  }

  get recent(): readonly string[] {
    return this.issued;
  }
}

/** Whether a refusal is one the client can lift by authenticating: it then needs a challenge to sign. */
export function needsAuth(reason: string): boolean {
  return reason.startsWith('auth-required:');
}
