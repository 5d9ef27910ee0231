// Public face of the Kafka codec: request and response headers, and bodies of every API in the
// schema table (apis.ts), both directions. Pure: no sockets, no I/O, no state.
//
// Framing: `frame` arguments are one message WITHOUT its 4-byte size prefix (the listener cuts
// frames); encoders return the message WITH the prefix, ready to write.
//
// Failures: decoders never throw on input. Bad bytes, an unknown API key or a version outside the
// table come back as a KafkaDecodeFailure ({ ok: false, reason }). Encoders throw RangeError for
// a value the wire cannot carry or an API/version outside the table: that is a bug in the caller.

import { apiTable, type ApiKeyNumber } from './apis.ts';
import { compileMessage, type CompiledMessage, type StructPlan } from './compile.ts';
import { inRange, type StructInput, type StructValue, type VersionRange } from './schema.ts';
import { readStruct, readTaggedFields, sizeStruct, writeStruct } from './struct-codec.ts';
import { MalformedInput, Reader, Writer, uvarintSize } from './wire.ts';

export type KafkaDecodeReason = 'malformed' | 'unknown_api' | 'unsupported_version';

export interface KafkaDecodeFailure {
  readonly ok: false;
  readonly reason: KafkaDecodeReason;
  readonly message: string;
}

/**
 * A request header that names an API or version outside the table still carries what the
 * listener needs to answer it with Kafka's own error (UNSUPPORTED_VERSION, or for ApiVersions a
 * v0 response listing what is supported).
 */
export interface KafkaHeaderFailure extends KafkaDecodeFailure {
  readonly apiKey?: number;
  readonly apiVersion?: number;
  readonly correlationId?: number;
}

export type KafkaDecodeResult<T> = { readonly ok: true; readonly value: T } | KafkaDecodeFailure;

export interface RequestHeader {
  readonly apiKey: number;
  readonly apiVersion: number;
  readonly correlationId: number;
  /** Null when the client sent a null client id (length -1). */
  readonly clientId: string | null;
  /** Bytes the header takes: the body starts here. */
  readonly headerBytes: number;
}

type Entry<K extends ApiKeyNumber> = (typeof apiTable)[K];
export type RequestBody<K extends ApiKeyNumber> = StructValue<Entry<K>['request']['fields']>;
export type ResponseBody<K extends ApiKeyNumber> = StructValue<Entry<K>['response']['fields']>;
export type RequestInput<K extends ApiKeyNumber> = StructInput<Entry<K>['request']['fields']>;
export type ResponseInput<K extends ApiKeyNumber> = StructInput<Entry<K>['response']['fields']>;
type AnyBody = Record<string, unknown>;

interface CompiledApi {
  readonly name: string;
  readonly request: CompiledMessage;
  readonly response: CompiledMessage;
}

const compiled = new Map<number, CompiledApi>(
  Object.entries(apiTable).map(([key, e]) => [
    Number(key),
    { name: e.name, request: compileMessage(e.request), response: compileMessage(e.response) },
  ]),
);

const API_VERSIONS_KEY = 18;
const SIZE_PREFIX_BYTES = 4;

/** Versions this codec decodes and encodes for an API, or null for an API it does not know. */
export function supportedVersions(apiKey: number): VersionRange | null {
  return compiled.get(apiKey)?.request.versions ?? null;
}

/** Every API of the table with its version range (the listener may advertise a narrower one). */
export function supportedApis(): { apiKey: number; name: string; minVersion: number; maxVersion: number }[] {
  return [...compiled.entries()].map(([apiKey, api]) => ({
    apiKey,
    name: api.name,
    minVersion: api.request.versions.min,
    maxVersion: api.request.versions.max,
  }));
}

/** Whether a version uses compact encodings and tagged fields. */
export function isFlexible(apiKey: number, version: number): boolean {
  const api = compiled.get(apiKey);
  return api !== undefined && inRange(api.request.flexible, version);
}

/** Request header v2 for flexible versions, else v1 (v0, without client id, is only ControlledShutdown v0). */
export function requestHeaderVersion(apiKey: number, version: number): 1 | 2 {
  return isFlexible(apiKey, version) ? 2 : 1;
}

/**
 * Response header v1 (with a tagged-field section) for flexible versions, else v0. ApiVersions
 * always answers with v0, even at v3+, so that a client that does not yet know the broker's
 * versions can read the correlation id (ApiVersionsResponse.json: the header length must not change).
 */
export function responseHeaderVersion(apiKey: number, version: number): 0 | 1 {
  return apiKey !== API_VERSIONS_KEY && isFlexible(apiKey, version) ? 1 : 0;
}

function malformed(e: unknown): KafkaDecodeFailure {
  // Only MalformedInput means bad input; anything else is a bug in the codec and must surface.
  if (!(e instanceof MalformedInput)) throw e;
  return { ok: false, reason: 'malformed', message: e.message };
}

function planFor(api: CompiledApi | undefined, side: 'request' | 'response', apiKey: number, version: number): StructPlan | KafkaHeaderFailure {
  if (!api) return { ok: false, reason: 'unknown_api', message: `unknown API key ${apiKey}` };
  const plan = api[side].plans.get(version);
  if (!plan) {
    const { min, max } = api[side].versions;
    return { ok: false, reason: 'unsupported_version', message: `${api.name} v${version} is not supported (v${min}-${max})` };
  }
  return plan;
}

function isFailure(p: StructPlan | KafkaHeaderFailure): p is KafkaHeaderFailure {
  return 'ok' in p;
}

// ---- requests ----

/**
 * Decodes a request header. An unknown API key or an unsupported version is a failure that still
 * carries apiKey, apiVersion and correlationId (the first 8 bytes), so the listener can answer it.
 */
export function decodeRequestHeader(frame: Buffer): KafkaDecodeResult<RequestHeader> | KafkaHeaderFailure {
  const r = new Reader(frame, 0, frame.length);
  try {
    const apiKey = r.int16();
    const apiVersion = r.int16();
    const correlationId = r.int32();
    const plan = planFor(compiled.get(apiKey), 'request', apiKey, apiVersion);
    if (isFailure(plan)) return { ...plan, apiKey, apiVersion, correlationId };
    // The client id stays a non-compact nullable string even in header v2; any negative length
    // is null, as Kafka reads it.
    const length = r.int16();
    const clientId = length < 0 ? null : r.utf8(length);
    if (plan.flexible) readTaggedFields(r, null, {});
    return { ok: true, value: { apiKey, apiVersion, correlationId, clientId, headerBytes: r.pos } };
  } catch (e) {
    return malformed(e);
  }
}

/** Decodes a request body (the frame after the header). Bytes after the body are ignored. */
export function decodeRequest<K extends ApiKeyNumber>(apiKey: K, version: number, body: Buffer): KafkaDecodeResult<RequestBody<K>>;
export function decodeRequest(apiKey: number, version: number, body: Buffer): KafkaDecodeResult<AnyBody>;
export function decodeRequest(apiKey: number, version: number, body: Buffer): KafkaDecodeResult<AnyBody> {
  return decodeBody(compiled.get(apiKey), 'request', apiKey, version, body);
}

/** Decodes a whole request frame: header, then body. */
export function decodeRequestFrame(frame: Buffer): KafkaDecodeResult<{ header: RequestHeader; body: AnyBody }> | KafkaHeaderFailure {
  const header = decodeRequestHeader(frame);
  if (!header.ok) return header;
  const body = decodeRequest(header.value.apiKey, header.value.apiVersion, frame.subarray(header.value.headerBytes));
  if (!body.ok) return body;
  return { ok: true, value: { header: header.value, body: body.value } };
}

/** Encodes a request with its size prefix and header (for tests and a Kafka sink). */
export function encodeRequest<K extends ApiKeyNumber>(
  apiKey: K,
  version: number,
  correlationId: number,
  clientId: string | null,
  body: RequestInput<K>,
): Buffer {
  const plan = encodePlan(apiKey, 'request', version);
  const clientIdBytes = clientId === null ? 0 : Buffer.byteLength(clientId, 'utf8');
  if (clientIdBytes > 0x7fff) throw new RangeError(`client id of ${clientIdBytes} bytes is longer than 32767`);
  const headerBytes = 8 + 2 + clientIdBytes + (plan.flexible ? 1 : 0);
  const bodyBytes = sizeStruct(plan, body as AnyBody, 'request');
  const w = new Writer(Buffer.allocUnsafe(SIZE_PREFIX_BYTES + headerBytes + bodyBytes));
  w.int32(headerBytes + bodyBytes);
  w.int16(apiKey);
  w.int16(version);
  w.int32(correlationId);
  w.int16(clientId === null ? -1 : clientIdBytes);
  if (clientId !== null) w.utf8(clientId, clientIdBytes);
  if (plan.flexible) w.uvarint(0);
  writeStruct(w, plan, body as AnyBody);
  return finish(w);
}

// ---- responses ----

/** Encodes a response with its size prefix and header (v0 or v1, see responseHeaderVersion). */
export function encodeResponse<K extends ApiKeyNumber>(apiKey: K, version: number, correlationId: number, body: ResponseInput<K>): Buffer {
  const plan = encodePlan(apiKey, 'response', version);
  const tagged = responseHeaderVersion(apiKey, version) === 1;
  const headerBytes = 4 + (tagged ? uvarintSize(0) : 0);
  const bodyBytes = sizeStruct(plan, body as AnyBody, 'response');
  const w = new Writer(Buffer.allocUnsafe(SIZE_PREFIX_BYTES + headerBytes + bodyBytes));
  w.int32(headerBytes + bodyBytes);
  w.int32(correlationId);
  if (tagged) w.uvarint(0);
  writeStruct(w, plan, body as AnyBody);
  return finish(w);
}

/** Decodes a response frame (for tests and a Kafka sink): correlation id and body. */
export function decodeResponse<K extends ApiKeyNumber>(
  apiKey: K,
  version: number,
  frame: Buffer,
): KafkaDecodeResult<{ correlationId: number; body: ResponseBody<K> }>;
export function decodeResponse(apiKey: number, version: number, frame: Buffer): KafkaDecodeResult<{ correlationId: number; body: AnyBody }>;
export function decodeResponse(apiKey: number, version: number, frame: Buffer): KafkaDecodeResult<{ correlationId: number; body: AnyBody }> {
  const api = compiled.get(apiKey);
  const plan = planFor(api, 'response', apiKey, version);
  if (isFailure(plan)) return plan;
  const r = new Reader(frame, 0, frame.length);
  let correlationId: number;
  try {
    correlationId = r.int32();
    if (responseHeaderVersion(apiKey, version) === 1) readTaggedFields(r, null, {});
  } catch (e) {
    return malformed(e);
  }
  const body = decodeBody(api, 'response', apiKey, version, frame.subarray(r.pos));
  if (!body.ok) return body;
  return { ok: true, value: { correlationId, body: body.value } };
}

// ---- shared ----

function decodeBody(api: CompiledApi | undefined, side: 'request' | 'response', apiKey: number, version: number, body: Buffer): KafkaDecodeResult<AnyBody> {
  const plan = planFor(api, side, apiKey, version);
  if (isFailure(plan)) return plan;
  const r = new Reader(body, 0, body.length);
  try {
    // Bytes after the body are ignored, as Apache Kafka's broker ignores them (it never checks
    // that a request was read to its end): a client that pads a request still works.
    return { ok: true, value: readStruct(r, plan) };
  } catch (e) {
    return malformed(e);
  }
}

function encodePlan(apiKey: number, side: 'request' | 'response', version: number): StructPlan {
  const plan = planFor(compiled.get(apiKey), side, apiKey, version);
  if (isFailure(plan)) throw new RangeError(plan.message);
  return plan;
}

function finish(w: Writer): Buffer {
  // The size pass and the write pass walk the same plan: a mismatch is a bug in this codec.
  if (w.pos !== w.buf.length) throw new Error(`Kafka codec wrote ${w.pos} of ${w.buf.length} bytes`);
  return w.buf;
}
