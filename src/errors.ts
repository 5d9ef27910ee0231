// The one table of error codes shared by every protocol, the CLI and the HTTP API.
// Codes are stable wire values: never renumber, only append. The edge protocol SPEC.md lists the
// same table and a test fails if the two disagree.

export const ErrorCode = {
  UNKNOWN: 1,
  CORRUPT_MESSAGE: 2,
  OFFSET_OUT_OF_RANGE: 3,
  UNKNOWN_TOPIC: 4,
  INVALID_TOPIC: 5,
  INVALID_PARTITION: 6,
  TOPIC_EXISTS: 7,
  FRAME_TOO_LARGE: 8,
  MALFORMED_FRAME: 9,
  UNSUPPORTED_VERSION: 10,
  NOT_AUTHORIZED: 11,
  UNKNOWN_ALIAS: 12,
  RECORD_TOO_LARGE: 13,
  STORAGE_FULL: 14,
  STORAGE_FAILED: 15,
  INVALID_REQUEST: 16,
  THROTTLED: 17,
  SHUTTING_DOWN: 18,
  HANDSHAKE_REQUIRED: 19,
  TIMEOUT: 20,
  INVALID_CONFIG: 21,
  UNKNOWN_MIRROR: 22,
  UPSTREAM_UNAVAILABLE: 23,
  UPSTREAM_REJECTED: 24,
  UNKNOWN_GROUP: 25,
  UNKNOWN_MEMBER: 26,
  ILLEGAL_GENERATION: 27,
  REBALANCE_IN_PROGRESS: 28,
  NOT_ASSIGNED: 29,
  NON_EMPTY_GROUP: 30,
  FENCED_INSTANCE: 31,
  GROUP_FULL: 32,
  UNSUPPORTED_COMPRESSION: 33,
  OUT_OF_ORDER_SEQUENCE: 34,
  INVALID_PRODUCER_EPOCH: 35,
  INCONSISTENT_GROUP_PROTOCOL: 36,
  UPSTREAM_MISCONFIGURED: 37,
} as const;

export type ErrorName = keyof typeof ErrorCode;

/** One sentence per code: what happened and what the client should do. */
export const errorDescriptions: Record<ErrorName, string> = {
  UNKNOWN: 'An unexpected server error; the request may be retried.',
  CORRUPT_MESSAGE: 'A stored batch failed its CRC-32C check, or its compressed records do not decompress; the read names topic, partition and offset.',
  OFFSET_OUT_OF_RANGE: 'The fetch offset is below logStartOffset or above nextOffset; reset to earliest or latest.',
  UNKNOWN_TOPIC: 'The topic does not exist and auto-creation is off (or not allowed for this request).',
  INVALID_TOPIC: 'The topic name breaks the rule [a-zA-Z0-9._-]{1,249} or is reserved.',
  INVALID_PARTITION: 'The partition number is negative or not below the partition count.',
  TOPIC_EXISTS: 'A topic with that name already exists.',
  FRAME_TOO_LARGE: 'A frame is larger than the negotiated maximum; the connection is closed.',
  MALFORMED_FRAME: 'A frame could not be decoded; the connection is closed.',
  UNSUPPORTED_VERSION: 'The protocol version is not supported by this broker.',
  NOT_AUTHORIZED: 'The token is missing or wrong.',
  UNKNOWN_ALIAS: 'The frame names a topic alias that was not registered on this connection.',
  RECORD_TOO_LARGE: 'A record batch is larger than the broker accepts for one append, or its compressed records would decompress to more than 32 MiB.',
  STORAGE_FULL: 'The disk budget, the disk or the LMDB map is full; nothing was written. Retry later.',
  STORAGE_FAILED: 'Storage failed (for example fsync); the broker stopped accepting writes.',
  INVALID_REQUEST: 'A well-formed frame asked for something impossible (bad argument).',
  THROTTLED: 'Too much unacknowledged data is in flight; slow down.',
  SHUTTING_DOWN: 'The broker is shutting down; reconnect later.',
  HANDSHAKE_REQUIRED: 'The first frame on a connection must be HELLO.',
  TIMEOUT: 'The operation did not complete in time.',
  INVALID_CONFIG: 'A configuration value is invalid; the message names the key.',
  UNKNOWN_MIRROR: 'No mirror of that name is configured.',
  UPSTREAM_UNAVAILABLE: 'A mirror cannot reach its upstream, or lost the connection; it backs off and retries.',
  UPSTREAM_REJECTED: 'The upstream refused a record or the connection for good (not authorized, too large); the mirror policy decides.',
  UNKNOWN_GROUP: 'No consumer group of that name exists (no members and no committed offsets).',
  UNKNOWN_MEMBER: 'The group has no member with that id (it left, was evicted or was replaced); join again with an empty member id.',
  ILLEGAL_GENERATION: 'The request names an older generation of the group; join again to get the current one.',
  REBALANCE_IN_PROGRESS: 'The group is rebalancing: commit what was processed, then join again with the same member id.',
  NOT_ASSIGNED: 'The partition is not assigned to this member in this generation; its offset was not committed.',
  NON_EMPTY_GROUP: 'The group has members; stop them (or wait for their sessions to expire) first.',
  FENCED_INSTANCE: 'Another member joined with the same group instance id; this one is replaced.',
  GROUP_FULL: 'The group, the broker or this connection has as many group members as allowed.',
  UNSUPPORTED_COMPRESSION: 'A record batch is compressed with a codec this broker cannot read (attributes bits 0-2 of 5-7, or its package missing on this machine); the message names it.',
  OUT_OF_ORDER_SEQUENCE: "An idempotent Kafka producer's batch does not follow the last sequence stored for its producer id and partition (a gap, or a new epoch not starting at 0); nothing was stored.",
  INVALID_PRODUCER_EPOCH: "An idempotent Kafka producer's batch carries an older epoch than one already stored for its producer id and partition; nothing was stored.",
  INCONSISTENT_GROUP_PROTOCOL: 'The group is joined by clients of the other kind (edge clients with broker-side assignment, or Kafka clients assigning among themselves), or no assignment protocol is common to its members; use another group name.',
  UPSTREAM_MISCONFIGURED: 'The upstream refuses this mirror as configured (authentication or authorization failed, a remote topic is missing and may not be created); the mirror fails until its config or the upstream is fixed and it is resumed.',
};

const nameByCode = new Map<number, ErrorName>(
  (Object.entries(ErrorCode) as [ErrorName, number][]).map(([name, code]) => [code, name]),
);

export function errorName(code: number): ErrorName {
  return nameByCode.get(code) ?? 'UNKNOWN';
}

/** The only error type that crosses a module boundary with a meaning clients can act on. */
export class TributaryError extends Error {
  readonly code: number;
  readonly codeName: ErrorName;
  readonly context: Record<string, unknown> | undefined;

  constructor(name: ErrorName, message: string, context?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TributaryError';
    this.codeName = name;
    this.code = ErrorCode[name];
    this.context = context;
  }

  static fromCode(code: number, message: string): TributaryError {
    return new TributaryError(errorName(code), message);
  }
}

/** Any thrown value as a TributaryError: itself, or UNKNOWN with it as the cause. */
export function asTributaryError(err: unknown): TributaryError {
  if (err instanceof TributaryError) return err;
  return new TributaryError('UNKNOWN', err instanceof Error ? err.message : String(err), undefined, { cause: err });
}

export function isTributaryError(err: unknown, name?: ErrorName): err is TributaryError {
  return err instanceof TributaryError && (name === undefined || err.codeName === name);
}
