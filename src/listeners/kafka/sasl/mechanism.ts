// What one SASL exchange on a Kafka connection looks like to the connection: client tokens in,
// server tokens out, until it ends authenticated (with the username) or refused (with the reason,
// for the log only: the client is told no more than "authentication failed").

export type SaslStep =
  | { kind: 'challenge'; token: Buffer }
  | { kind: 'ok'; username: string; token: Buffer }
  | { kind: 'fail'; reason: string; username: string | null };

export interface SaslExchange {
  step(token: Buffer): Promise<SaslStep>;
}

export type SaslMechanismName = 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
