// SASL PLAIN (RFC 4616): one token `[authzid] NUL authcid NUL passwd`, checked against auth.users'
// scrypt hashes (src/auth/password.ts, as MQTT's CONNECT), so both protocols accept the same
// passwords. As Kafka, an authorization id other than the username is refused.

import type { UserPasswords } from '../../../auth/password.ts';
import type { SaslExchange, SaslStep } from './mechanism.ts';

export class PlainExchange implements SaslExchange {
  private done = false;

  constructor(private readonly users: UserPasswords) {}

  async step(token: Buffer): Promise<SaslStep> {
    if (this.done) return { kind: 'fail', reason: 'PLAIN takes one token', username: null };
    this.done = true;
    const first = token.indexOf(0);
    const second = first < 0 ? -1 : token.indexOf(0, first + 1);
    if (second < 0 || token.indexOf(0, second + 1) >= 0) return { kind: 'fail', reason: 'PLAIN token is not authzid NUL authcid NUL passwd', username: null };
    const authzid = token.toString('utf8', 0, first);
    const username = token.toString('utf8', first + 1, second);
    if (username.length === 0) return { kind: 'fail', reason: 'empty username', username: null };
    if (authzid.length > 0 && authzid !== username) return { kind: 'fail', reason: 'authorization id differs from the username', username };
    // No users at all: every name is unknown (MQTT takes a name as given then; SASL must not).
    const check = await this.users.check(username, token.subarray(second + 1));
    if (check !== 'ok') return { kind: 'fail', reason: check, username };
    return { kind: 'ok', username, token: Buffer.alloc(0) };
  }
}
