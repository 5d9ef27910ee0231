// Some MQTT brokers refuse a record by dropping the connection instead of answering PUBACK with an
// error (MQTT 3.1.1 brokers on an ACL refusal, or on a malformed property). A broker handles
// publishes in order, so the record it chokes on is the oldest unacknowledged one of the connection;
// records sent after it are innocent. The same record at the head of POISON_SESSIONS connections in a
// row that the upstream itself ended (a clean close or a DISCONNECT, not a socket error and not our
// own close) soon after it was sent is taken as refused, and the mirror's onRejected policy applies.

import { TributaryError } from '../../../errors.ts';

export const POISON_SESSIONS = 5;
/** "Soon": a refusal by disconnect comes within a round trip, not minutes later. */
export const POISON_WINDOW_MS = 5_000;

export class DisconnectRefusals {
  private suspect: { origin: string; sessions: number } | null = null;

  /**
   * A connection ended. `byPeer`: the upstream ended it; `oldest`: its oldest unacknowledged send.
   * Anything else than the upstream ending it soon after that send clears the suspicion.
   */
  connectionEnded(byPeer: boolean, oldest: { origin: string; sentMs: number } | undefined): void {
    if (!byPeer || oldest === undefined || performance.now() - oldest.sentMs > POISON_WINDOW_MS) {
      this.suspect = null;
      return;
    }
    const sessions = this.suspect?.origin === oldest.origin ? this.suspect.sessions + 1 : 1;
    this.suspect = { origin: oldest.origin, sessions };
  }

  /** Why the record of `origin` is taken as refused, once; null when it is not. */
  refusal(origin: string): TributaryError | null {
    const suspect = this.suspect;
    if (suspect === null || suspect.origin !== origin || suspect.sessions < POISON_SESSIONS) return null;
    this.suspect = null;
    return new TributaryError('UPSTREAM_REJECTED', `the upstream closed the connection ${suspect.sessions} times in a row right after ${origin} was sent, unacknowledged`);
  }
}
