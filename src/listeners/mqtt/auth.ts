// MQTT CONNECT authentication: anonymous access, the password check of src/auth/password.ts, and the
// CONNACK return code each refusal gets.

import { UserPasswords, type Identity, type UserSpec } from '../../auth/password.ts';

/** CONNACK return codes of a refused CONNECT (MQTT 3.1.1 table 3.1). */
export const ConnackCode = { IDENTIFIER_REJECTED: 2, SERVER_UNAVAILABLE: 3, BAD_CREDENTIALS: 4, NOT_AUTHORIZED: 5 } as const;

export type AuthResult = { ok: true; identity: Identity } | { ok: false; returnCode: 4 | 5; reason: string };

export class Authenticator {
  private readonly users: UserPasswords;
  private readonly allowAnonymous: boolean;

  constructor(users: readonly UserSpec[], allowAnonymous: boolean) {
    this.users = new UserPasswords(users);
    this.allowAnonymous = allowAnonymous;
  }

  /**
   * Without a username: allowed when anonymous access is on (NOT_AUTHORIZED otherwise). With one:
   * checked against auth.users; when that list is empty there is nothing to check against, and the
   * name is taken as given (as Mosquitto does without a password file).
   */
  async authenticate(clientId: string, username: string | undefined, password: Uint8Array | undefined): Promise<AuthResult> {
    if (username === undefined) {
      if (this.allowAnonymous) return { ok: true, identity: { clientId, username: null } };
      return { ok: false, returnCode: ConnackCode.NOT_AUTHORIZED, reason: 'anonymous access is off' };
    }
    if (this.users.size === 0) return { ok: true, identity: { clientId, username } };
    const check = await this.users.check(username, password);
    if (check !== 'ok') return { ok: false, returnCode: ConnackCode.BAD_CREDENTIALS, reason: check };
    return { ok: true, identity: { clientId, username } };
  }
}
