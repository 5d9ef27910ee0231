// What a failure of the Kafka client means for the mirror. The client reports Kafka error codes by
// name (ProtocolError.apiId), nested in ResponseError/MultipleErrors; authentication failures and
// network trouble have their own classes.

import { TimeoutError } from '@platformatic/kafka';
import { TributaryError } from '../../../errors.ts';

/** The upstream refuses the mirror itself: retrying cannot help, an operator must act. */
const MISCONFIGURED = new Set([
  'SASL_AUTHENTICATION_FAILED',
  'UNSUPPORTED_SASL_MECHANISM',
  'ILLEGAL_SASL_STATE',
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'UNSUPPORTED_VERSION',
]);

/** The upstream refuses these records for good (Kafka's per-partition produce errors that name the data). */
const REJECTED = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'POLICY_VIOLATION', 'INVALID_TIMESTAMP', 'CORRUPT_MESSAGE', 'INVALID_TOPIC_EXCEPTION']);

/** The Kafka error names (e.g. MESSAGE_TOO_LARGE) anywhere in a client error, and its other messages. */
export function kafkaErrorNames(err: unknown, names = new Set<string>()): Set<string> {
  if (typeof err !== 'object' || err === null) return names;
  const e = err as { apiId?: unknown; code?: unknown; message?: unknown; errors?: unknown; cause?: unknown };
  if (typeof e.apiId === 'string') names.add(e.apiId);
  if (e.code === 'PLT_KFK_AUTHENTICATION') names.add('SASL_AUTHENTICATION_FAILED');
  // Metadata's UNKNOWN_TOPIC_OR_PARTITION comes back replaced by this UserError, the code dropped.
  if (e.code === 'PLT_KFK_USER' && typeof e.message === 'string' && e.message.startsWith('Unknown topic ')) names.add('UNKNOWN_TOPIC_OR_PARTITION');
  if (err instanceof TimeoutError) names.add('REQUEST_TIMED_OUT');
  if (Array.isArray(e.errors)) for (const inner of e.errors) kafkaErrorNames(inner, names);
  if (e.cause !== undefined) kafkaErrorNames(e.cause, names);
  return names;
}

/** Node's TLS error codes: OpenSSL's certificate verdicts (X509_V_ERR_* without the prefix) and its own ERR_TLS_/ERR_SSL_ ones. */
const TLS_FAILURE = /^ERR_TLS_|^ERR_SSL_|CERT|SELF_SIGNED|^UNABLE_TO_/;

/** The deepest messages of a client error: the server's own words when it sent some. */
function describe(err: unknown): string {
  const parts: string[] = [];
  const walk = (e: unknown) => {
    if (typeof e !== 'object' || e === null) return;
    const x = e as { message?: unknown; serverErrorMessage?: unknown; errors?: unknown; cause?: unknown; apiId?: unknown; code?: unknown };
    const inner = [...(Array.isArray(x.errors) ? x.errors : []), ...(x.cause !== undefined ? [x.cause] : [])];
    if (inner.length === 0 || typeof x.apiId === 'string') {
      // Node's words for a refused certificate ("self-signed certificate") do not say TLS.
      const tls = typeof x.code === 'string' && TLS_FAILURE.test(x.code) ? `TLS handshake failed (${x.code})` : undefined;
      const text = [x.apiId, tls, x.message, x.serverErrorMessage].filter((t) => typeof t === 'string' && t !== '').join(': ');
      if (text !== '' && !parts.includes(text)) parts.push(text);
    }
    for (const i of inner) walk(i);
  };
  walk(err);
  return parts.join('; ') || String(err);
}

export type Verdict =
  /** These records (one) are refused for good: onRejected. */
  | { kind: 'rejected'; error: TributaryError }
  /** A batch of several records is too large or holds a bad one: send them one by one to find it. */
  | { kind: 'split' }
  | { kind: 'misconfigured'; error: TributaryError }
  | { kind: 'unavailable'; error: TributaryError };

/** The verdict on a failed produce of `records` records, or a failed connect (records 0). */
export function classify(err: unknown, address: string, records: number, what: string): Verdict {
  const names = kafkaErrorNames(err);
  const text = `${what}: ${describe(err)}`;
  for (const name of names) if (MISCONFIGURED.has(name)) return { kind: 'misconfigured', error: new TributaryError('UPSTREAM_MISCONFIGURED', `${address} ${text}`, { url: address, kafkaError: name }, { cause: err }) };
  for (const name of names)
    if (REJECTED.has(name)) return records > 1 ? { kind: 'split' } : { kind: 'rejected', error: new TributaryError('UPSTREAM_REJECTED', `${address} ${text}`, { url: address, kafkaError: name }, { cause: err }) };
  return { kind: 'unavailable', error: new TributaryError(names.has('REQUEST_TIMED_OUT') ? 'TIMEOUT' : 'UPSTREAM_UNAVAILABLE', `${address} ${text}`, { url: address }, { cause: err }) };
}

/** The error of a failed connect or lookup: the mirror fails (misconfigured) or backs off. */
export function operationError(err: unknown, address: string, what: string): TributaryError {
  const verdict = classify(err, address, 0, what);
  return verdict.kind === 'misconfigured' || verdict.kind === 'unavailable' ? verdict.error : new TributaryError('UPSTREAM_UNAVAILABLE', `${address} ${what}: ${describe(err)}`, { url: address }, { cause: err });
}
