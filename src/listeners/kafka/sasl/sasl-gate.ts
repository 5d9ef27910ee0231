// One connection's SASL state, answering SaslHandshake (v0-1) and SaslAuthenticate (v0-2) as
// Apache Kafka's SaslServerAuthenticator does:
// - SASL off (a PLAINTEXT/SSL listener): both get ILLEGAL_SASL_STATE (34) and the connection stays;
//   every request is served.
// - SASL on: until authenticated only ApiVersions, SaslHandshake and SaslAuthenticate are admitted
//   (anything else closes the connection, kafka-connection.ts). SaslHandshake names a mechanism: one
//   not enabled gets UNSUPPORTED_SASL_MECHANISM (33) with the enabled list, then the connection
//   closes. After v1 the tokens come in SaslAuthenticate requests; after v0 as bare size-prefixed
//   frames, answered the same way (RawToken). A failed exchange gets SASL_AUTHENTICATION_FAILED (58)
//   (v0 tokens: no answer) and the connection closes. A second handshake (re-authentication, which
//   Kafka serves only with connections.max.reauth.ms) or a token out of turn gets ILLEGAL_SASL_STATE
//   and the connection closes. Session lifetime 0: no re-authentication is asked for.

import { ApiKey, KafkaError } from '../../../protocol/kafka/index.ts';
import type { SaslExchange } from './mechanism.ts';
import type { SaslAuthority } from './sasl-authority.ts';

export interface SaslOutcome {
  /** A response body, raw token bytes (v0 flow), or null: nothing is answered. */
  answer: unknown;
  /** Set when the connection closes after the answer: the log line's context. */
  refusal: Record<string, unknown> | null;
  authenticated: { username: string; mechanism: string } | null;
}

/** failed: the exchange was refused and the connection is closing; nothing more is admitted. */
type State = 'off' | 'handshake' | 'raw' | 'authenticate' | 'done' | 'failed';

/** What the client is told on a failed exchange; the reason is logged only. */
const FAILED = 'Authentication failed: invalid username or password';

export class SaslGate {
  /** A step is running: the connection starts no other request meanwhile. */
  busy = false;
  username: string | null = null;
  private state: State;
  private exchange: SaslExchange | null = null;
  private mechanism = '';

  constructor(private readonly authority: SaslAuthority | null) {
    this.state = authority === null ? 'off' : 'handshake';
  }

  get expectsRawToken(): boolean {
    return this.state === 'raw';
  }

  /** SASL is off, or this connection authenticated: every API is served. */
  get open(): boolean {
    return this.state === 'off' || this.state === 'done';
  }

  /** May a request of this API be served now? */
  admits(apiKey: number): boolean {
    return this.open || apiKey === ApiKey.ApiVersions;
  }

  handshake(version: number, body: { mechanism: string }): Promise<SaslOutcome> {
    const mechanisms = [...(this.authority?.mechanisms ?? [])];
    if (this.authority === null) return settled({ errorCode: KafkaError.ILLEGAL_SASL_STATE, mechanisms });
    if (this.state !== 'handshake')
      return settled({ errorCode: KafkaError.ILLEGAL_SASL_STATE, mechanisms }, { reason: 'illegal_sasl_state', saslState: this.state, mechanism: body.mechanism });
    const exchange = this.authority.start(body.mechanism);
    if (exchange === null) return settled({ errorCode: KafkaError.UNSUPPORTED_SASL_MECHANISM, mechanisms }, { reason: 'unsupported_sasl_mechanism', mechanism: body.mechanism });
    this.exchange = exchange;
    this.mechanism = body.mechanism;
    this.state = version === 0 ? 'raw' : 'authenticate';
    return settled({ errorCode: KafkaError.NONE, mechanisms });
  }

  authenticate(version: number, body: { authBytes: Uint8Array }): Promise<SaslOutcome> {
    const refused = (errorCode: number, errorMessage: string) => ({ errorCode, errorMessage, authBytes: Buffer.alloc(0), sessionLifetimeMs: 0n });
    if (this.state === 'off') return settled(refused(KafkaError.ILLEGAL_SASL_STATE, 'SASL is not enabled on this listener'));
    if (this.state !== 'authenticate')
      return settled(refused(KafkaError.ILLEGAL_SASL_STATE, `unexpected SaslAuthenticate (state ${this.state})`), { reason: 'illegal_sasl_state', saslState: this.state });
    return this.run(Buffer.from(body.authBytes), (step) => {
      if (step.kind === 'fail') return refused(KafkaError.SASL_AUTHENTICATION_FAILED, FAILED);
      return { errorCode: KafkaError.NONE, errorMessage: null, authBytes: step.token, sessionLifetimeMs: 0n };
    });
  }

  /** A bare token after SaslHandshake v0; a failure is not answered (the v0 flow has no error field). */
  rawToken(frame: Buffer): Promise<SaslOutcome> {
    return this.run(frame, (step) => (step.kind === 'fail' ? null : step.token));
  }

  private async run(token: Buffer, answerOf: (step: Awaited<ReturnType<SaslExchange['step']>>) => unknown): Promise<SaslOutcome> {
    this.busy = true;
    try {
      const step = await this.exchange!.step(token);
      const answer = answerOf(step);
      if (step.kind === 'fail') {
        this.state = 'failed';
        this.exchange = null;
        return { answer, refusal: { reason: 'sasl_authentication_failed', mechanism: this.mechanism, username: step.username, detail: step.reason }, authenticated: null };
      }
      if (step.kind === 'challenge') return { answer, refusal: null, authenticated: null };
      this.state = 'done';
      this.exchange = null;
      this.username = step.username;
      return { answer, refusal: null, authenticated: { username: step.username, mechanism: this.mechanism } };
    } finally {
      this.busy = false;
    }
  }
}

function settled(answer: unknown, refusal: Record<string, unknown> | null = null): Promise<SaslOutcome> {
  return Promise.resolve({ answer, refusal, authenticated: null });
}
