// The users a Kafka connection may authenticate as (auth.users) and the mechanisms enabled
// (listeners.kafka.sasl.mechanisms): starts one exchange per SaslHandshake.

import { parseScramCredential, type ScramCredential } from '../../../auth/scram-credential.ts';
import { UserPasswords, type UserSpec } from '../../../auth/password.ts';
import type { SaslExchange, SaslMechanismName } from './mechanism.ts';
import { PlainExchange } from './plain.ts';
import { ScramExchange } from './scram.ts';

export type SaslUser = UserSpec & { scramSha256?: string };

export class SaslAuthority {
  readonly mechanisms: readonly SaslMechanismName[];
  private readonly passwords: UserPasswords;
  private readonly scram = new Map<string, ScramCredential>();
  /** Users without a SCRAM-SHA-256 credential: they can use PLAIN only. */
  readonly withoutScram: string[] = [];

  constructor(users: readonly SaslUser[], mechanisms: readonly SaslMechanismName[]) {
    this.mechanisms = mechanisms;
    this.passwords = new UserPasswords(users);
    for (const u of users) {
      const parsed = u.scramSha256 === undefined ? 'absent' : parseScramCredential(u.scramSha256);
      if (typeof parsed === 'string') this.withoutScram.push(u.username);
      else this.scram.set(u.username, parsed);
    }
  }

  /** An exchange for `mechanism`, or null when it is not enabled (Kafka's mechanism names are case-sensitive). */
  start(mechanism: string): SaslExchange | null {
    if (!(this.mechanisms as readonly string[]).includes(mechanism)) return null;
    return mechanism === 'PLAIN' ? new PlainExchange(this.passwords) : new ScramExchange(this.scram);
  }
}
