// The users a Kafka connection may authenticate as (auth.users) and the mechanisms enabled
// (listeners.kafka.sasl.mechanisms): starts one exchange per SaslHandshake.

import { parseScramCredential, SCRAM, SCRAM_HASHES, type ScramCredential, type ScramHash } from '../../../auth/scram-credential.ts';
import { UserPasswords, type UserSpec } from '../../../auth/password.ts';
import type { SaslExchange, SaslMechanismName } from './mechanism.ts';
import { PlainExchange } from './plain.ts';
import { ScramExchange } from './scram.ts';

export type SaslUser = UserSpec & { scramSha256?: string; scramSha512?: string };

export class SaslAuthority {
  readonly mechanisms: readonly SaslMechanismName[];
  private readonly passwords: UserPasswords;
  private readonly scram = new Map<ScramHash, Map<string, ScramCredential>>();
  /** Per enabled SCRAM mechanism, the users without a credential for it (in auth.users[].userKey): that mechanism refuses them. */
  readonly withoutScram: { mechanism: SaslMechanismName; userKey: string; users: string[] }[] = [];

  constructor(users: readonly SaslUser[], mechanisms: readonly SaslMechanismName[]) {
    this.mechanisms = mechanisms;
    this.passwords = new UserPasswords(users);
    for (const hash of SCRAM_HASHES) {
      const { mechanism, userKey } = SCRAM[hash];
      const credentials = new Map<string, ScramCredential>();
      const without: string[] = [];
      for (const u of users) {
        const text = u[userKey];
        const parsed = text === undefined ? 'absent' : parseScramCredential(hash, text);
        if (typeof parsed === 'string') without.push(u.username);
        else credentials.set(u.username, parsed);
      }
      this.scram.set(hash, credentials);
      if (mechanisms.includes(mechanism) && without.length > 0) this.withoutScram.push({ mechanism, userKey, users: without });
    }
  }

  /** An exchange for `mechanism`, or null when it is not enabled (Kafka's mechanism names are case-sensitive). */
  start(mechanism: string): SaslExchange | null {
    if (!(this.mechanisms as readonly string[]).includes(mechanism)) return null;
    if (mechanism === 'PLAIN') return new PlainExchange(this.passwords);
    const hash = SCRAM_HASHES.find((h) => SCRAM[h].mechanism === mechanism)!;
    return new ScramExchange(hash, this.scram.get(hash)!);
  }
}
