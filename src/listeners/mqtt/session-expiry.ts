// MQTT 5 session expiry that survives a restart. aedes expires a session whose client went away with
// an in-process timer only (scheduleSessionExpiry), so a session waiting to expire when the broker
// stopped, or whose client was connected when it was killed, would be kept forever afterwards. This
// keeps each MQTT 5 persistent session's interval, and when its client went away, in the session
// store, and at start expires those past their time and arms a timer for the rest, in aedes' own
// table of expiring sessions: a reconnect clears it as it clears aedes' timers, and the sessions
// count against pendingSessionsLimit. MQTT 3.1.1 sessions (clean session 0) never expire: 3.1.1 has
// no way to tell a client, and they are kept as before until their client connects with clean session 1.

import type { Readable } from 'node:stream';
import type { Aedes, Client } from 'aedes';
import type { Logger } from 'pino';
import type { MqttMetrics } from './metrics.ts';

/** The Session Expiry Interval meaning "never" [MQTT-3.1.2.11.2]. */
const SESSION_NEVER_EXPIRES = 0xffffffff;

/** Node timers stop at 2^31-1 ms (~24.8 days); a longer wait is taken in steps. */
const TIMER_MS_MAX = 2 ** 31 - 1;

/** One session's entry, as src/storage/mqtt/session-expiry.ts stores it (listeners do not import storage). */
export interface SessionExpiryEntry {
  expiryS: number;
  disconnectedMs: number | null;
}

/** Where the entries live: src/storage/mqtt-persistence.ts. */
export interface SessionExpiryStore {
  putSessionExpiry(clientId: string, entry: SessionExpiryEntry): Promise<void>;
  deleteSessionExpiry(clientId: string): Promise<void>;
  sessionExpiries(): [string, SessionExpiryEntry][];
  hasSessionExpiry(clientId: string): boolean;
}

/** The aedes-persistence calls that end a session (aedes' own `_wipeSession` plus its QoS 2 packets). */
interface SessionPersistence {
  cleanSubscriptions(client: { id: string }): Promise<void>;
  cleanIncoming?(client: { id: string }): Promise<void>;
  outgoingStream(client: { id: string }): Readable;
  outgoingClearMessageId(client: { id: string }, packet: object): Promise<unknown>;
}

/** What of aedes 2.0.0-beta.1 (pinned) this reads beyond its declared types. */
interface AedesSessions {
  clients: Record<string, Client | undefined>;
  expiringSessions: Map<string, { clear(): void }>;
  _takingOver: Set<string>;
  persistence: SessionPersistence;
}

/** A client as aedes 2 keeps it after CONNECT. */
type Client5 = Client & { version?: number; sessionExpiryInterval?: number };

export class SessionExpiry {
  private readonly aedes: Aedes & AedesSessions;
  private readonly deadlines: SessionExpiryStore | undefined;
  private readonly maxS: number;
  private readonly metrics: MqttMetrics;
  private readonly log: Logger;

  constructor(opts: { aedes: Aedes; deadlines: SessionExpiryStore | undefined; maxS: number; metrics: MqttMetrics; logger: Logger }) {
    this.aedes = opts.aedes as Aedes & AedesSessions;
    this.deadlines = opts.deadlines;
    this.maxS = opts.maxS;
    this.metrics = opts.metrics;
    this.log = opts.logger;
    if (!(this.aedes.expiringSessions instanceof Map) || !(this.aedes._takingOver instanceof Set)) {
      throw new Error('aedes without expiringSessions/_takingOver: session-expiry.ts reads aedes 2.0.0-beta.1 internals');
    }
    const on = this.aedes.on.bind(this.aedes) as (event: string, listener: (...args: never[]) => void) => void;
    on('clientDisconnect', (client: Client5) => this.disconnected(client));
    // aedes' _wipeSession leaves the QoS 2 packets awaiting PUBREL: they are session state too.
    on('sessionExpired', (client: Client5) => {
      this.cleanIncoming(client.id);
      this.expired(client.id, 'timer');
    });
    on('sessionLimitReached', (client: Client5, info: { reason: string; limit: number }) => {
      this.log.warn({ clientId: client.id, reason: info.reason, pendingSessionsMax: info.limit }, 'MQTT pending sessions limit reached: session ended at once');
      if (info.reason !== 'sessionExpiry') return;
      this.cleanIncoming(client.id);
      this.forget(client.id);
    });
  }

  /**
   * Expires the stored sessions past their time and arms a timer for the others. Run once, before
   * the listener accepts connections. An entry whose client was connected when the broker stopped
   * counts from now; an interval longer than today's cap is cut to it.
   */
  async sweep(): Promise<void> {
    if (this.deadlines === undefined) return;
    const now = Date.now();
    const wipes: Promise<unknown>[] = [];
    let pending = 0;
    for (const [clientId, entry] of this.deadlines.sessionExpiries()) {
      const expiryS = Math.min(entry.expiryS, this.maxS);
      if (expiryS >= SESSION_NEVER_EXPIRES) {
        // Occupies a slot against pendingSessionsLimit, as aedes' own never-expiring sessions do.
        this.aedes.expiringSessions.set(clientId, { clear: () => undefined });
        continue;
      }
      const since = entry.disconnectedMs ?? now;
      if (entry.disconnectedMs === null) this.put(clientId, { expiryS: entry.expiryS, disconnectedMs: now });
      const deadline = since + expiryS * 1000;
      if (deadline <= now) {
        wipes.push(this.wipe(clientId).then((done) => done && this.expired(clientId, 'at start')));
      } else {
        pending++;
        this.arm(clientId, deadline);
      }
    }
    // The wipes of one turn share a transaction.
    await Promise.all(wipes);
    if (wipes.length + pending > 0) this.log.info({ expired: wipes.length, pending, sessionExpiryMaxS: this.maxS }, 'MQTT 5 sessions: expired those past their interval, the rest expire on time');
  }

  /**
   * After authentication, before the CONNACK: an MQTT 5 session that outlives its connection is
   * stored as connected, so a broker killed now still expires it after a restart. The CONNACK waits
   * for that write; any other session drops its entry.
   */
  async connecting(client: Client5): Promise<void> {
    if (this.deadlines === undefined) return;
    const interval = client.sessionExpiryInterval ?? 0;
    if (client.version === 5 && interval > 0) return this.deadlines.putSessionExpiry(client.id, { expiryS: interval, disconnectedMs: null });
    if (this.deadlines.hasSessionExpiry(client.id)) this.forget(client.id);
  }

  /** aedes 'clientDisconnect': the interval the session ends with (a DISCONNECT may have changed it) starts now. */
  private disconnected(client: Client5): void {
    if (this.deadlines === undefined || client.version !== 5 || this.aedes._takingOver.has(client.id)) return;
    const interval = client.sessionExpiryInterval ?? 0;
    if (interval === 0) return this.forget(client.id);
    this.put(client.id, { expiryS: interval, disconnectedMs: Date.now() });
  }

  private arm(clientId: string, deadline: number): void {
    let timer: NodeJS.Timeout;
    const wait = () => {
      timer = setTimeout(
        () => {
          if (Date.now() < deadline) return wait();
          this.aedes.expiringSessions.delete(clientId);
          // Connected again meanwhile: aedes cleared the entry (and this timer) at its registration.
          if (this.aedes.clients[clientId] !== undefined) return;
          void this.wipe(clientId).then((done) => done && this.expired(clientId, 'restored'));
        },
        Math.min(deadline - Date.now(), TIMER_MS_MAX),
      );
      timer.unref();
    };
    wait();
    this.aedes.expiringSessions.set(clientId, { clear: () => clearTimeout(timer) });
  }

  /**
   * What aedes' `_wipeSession` does for a session it knows, for one known only from the store. False
   * when storage refused: the entry stays, and the next start tries again.
   */
  private async wipe(clientId: string): Promise<boolean> {
    const p = this.aedes.persistence;
    const ref = { id: clientId };
    try {
      await p.cleanSubscriptions(ref);
      await p.cleanIncoming?.(ref);
      for await (const packet of p.outgoingStream(ref)) await p.outgoingClearMessageId(ref, packet as object);
      return true;
    } catch (err) {
      this.log.error({ clientId, err }, 'MQTT session expiry: could not remove the session');
      return false;
    }
  }

  private cleanIncoming(clientId: string): void {
    this.aedes.persistence.cleanIncoming?.({ id: clientId }).catch((err: unknown) => this.log.error({ clientId, err }, 'MQTT session expiry: could not remove the QoS 2 packets awaiting PUBREL'));
  }

  private expired(clientId: string, how: 'timer' | 'restored' | 'at start'): void {
    this.metrics.sessionsExpired++;
    this.log.info({ clientId, how }, 'MQTT 5 session expired');
    this.forget(clientId);
  }

  private put(clientId: string, entry: SessionExpiryEntry): void {
    this.deadlines?.putSessionExpiry(clientId, entry).catch((err: unknown) => this.log.error({ clientId, err }, 'MQTT session expiry: could not store the deadline'));
  }

  private forget(clientId: string): void {
    this.deadlines?.deleteSessionExpiry(clientId).catch((err: unknown) => this.log.error({ clientId, err }, 'MQTT session expiry: could not drop the deadline'));
  }
}
