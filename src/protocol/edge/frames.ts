// The edge protocol's frames as plain data: what the codec decodes to and encodes from.
// Byte layouts live in SPEC.md beside this file; section numbers there are cited as [EDGE-x.y].
// This module (and all of src/protocol) imports nothing else from src/: codecs stay pure.

export const EDGE_PROTOCOL_VERSION = 1;

/** Frame type bytes. Stable wire values: never renumber. */
export const FrameType = {
  HELLO: 0x01,
  WELCOME: 0x02,
  REGISTER: 0x03,
  REGISTERED: 0x04,
  PRODUCE: 0x05,
  ACK: 0x06,
  FETCH: 0x07,
  RECORDS: 0x08,
  METADATA: 0x09,
  METADATA_RESULT: 0x0a,
  CREATE_TOPIC: 0x0b,
  DELETE_TOPIC: 0x0c,
  OK: 0x0d,
  PING: 0x0e,
  PONG: 0x0f,
  ERROR: 0x7f,
} as const;

/** acks on the wire: 0 = none, 1 = after the transaction commits, 2 = after flush to disk ("all"). */
export type Acks = 0 | 1 | 'all';

export interface EdgeHeader {
  key: string;
  value: Uint8Array | null;
}

/** A record as carried by a PRODUCE frame. Its timestamp is the frame's base plus the delta. */
export interface EdgeRecord {
  timestampDeltaMs: number;
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: EdgeHeader[];
}

export interface HelloFrame {
  type: 'hello';
  version: number;
  /** Producer state (last sequence) is kept for this client id when set. */
  idempotent: boolean;
  keepaliveMs: number;
  frameBytesMax: number;
  clientId: string;
  token: Uint8Array | null;
}

export interface WelcomeFrame {
  type: 'welcome';
  version: number;
  keepaliveMs: number;
  frameBytesMax: number;
  /** Highest produce sequence stored for this client id (0 = none): frames at or below it are duplicates. */
  lastSeq: number;
}

export interface RegisterFrame {
  type: 'register';
  corr: number;
  alias: number;
  topic: string;
  /** Create the topic if missing (subject to the broker's auto-create setting). */
  create: boolean;
}

export interface RegisteredFrame {
  type: 'registered';
  corr: number;
  alias: number;
  partitions: number;
}

export interface ProduceFrame {
  type: 'produce';
  /** Per-client sequence, starting at 1, strictly increasing across the client's frames. */
  seq: number;
  alias: number;
  /** -1 lets the broker choose: murmur2 of the first record's key, else round robin. */
  partition: number;
  acks: Acks;
  /** 0 means "use the broker's receive time". */
  baseTimestampMs: number;
  records: EdgeRecord[];
}

export interface AckEntry {
  seq: number;
  partition: number;
  baseOffset: number;
  /** The frame was a retransmission of an already stored sequence: nothing was appended. */
  duplicate: boolean;
}

/** Cumulative: one ACK frame acknowledges many PRODUCE frames, in ascending seq order. */
export interface AckFrame {
  type: 'ack';
  entries: AckEntry[];
}

export interface FetchFrame {
  type: 'fetch';
  corr: number;
  alias: number;
  partition: number;
  offset: number;
  maxBytes: number;
  maxWaitMs: number;
}

export interface RecordsFrame {
  type: 'records';
  corr: number;
  partition: number;
  logStartOffset: number;
  nextOffset: number;
  /** Zero or more whole Kafka RecordBatch v2 batches, byte for byte as stored. */
  batches: Uint8Array;
}

export interface MetadataFrame {
  type: 'metadata';
  corr: number;
  /** Empty = all topics. */
  topics: string[];
}

export interface PartitionMetadata {
  partition: number;
  logStartOffset: number;
  nextOffset: number;
}

export interface TopicMetadata {
  name: string;
  /** -1 = no limit. */
  retentionMs: number;
  /** -1 = no limit. */
  retentionBytes: number;
  partitions: PartitionMetadata[];
}

export interface MetadataResultFrame {
  type: 'metadata-result';
  corr: number;
  topics: TopicMetadata[];
}

export interface CreateTopicFrame {
  type: 'create-topic';
  corr: number;
  name: string;
  /** 0 = broker default. Growing an existing topic's count uses the same frame with grow = true. */
  partitions: number;
  /** -2 = broker default, -1 = no limit. */
  retentionMs: number;
  /** -2 = broker default, -1 = no limit. */
  retentionBytes: number;
  /** Raise the partition count of an existing topic instead of failing with TOPIC_EXISTS. */
  grow: boolean;
}

export interface DeleteTopicFrame {
  type: 'delete-topic';
  corr: number;
  name: string;
}

export interface OkFrame {
  type: 'ok';
  corr: number;
}

export interface PingFrame {
  type: 'ping';
  corr: number;
}

export interface PongFrame {
  type: 'pong';
  corr: number;
}

/** What an ERROR frame refers to. */
export type ErrorRef = 'connection' | 'request' | 'produce';

export interface ErrorFrame {
  type: 'error';
  refKind: ErrorRef;
  /** corr of the failed request, seq of the failed produce frame, 0 for the connection. */
  ref: number;
  code: number;
  message: string;
}

export type Frame =
  | HelloFrame
  | WelcomeFrame
  | RegisterFrame
  | RegisteredFrame
  | ProduceFrame
  | AckFrame
  | FetchFrame
  | RecordsFrame
  | MetadataFrame
  | MetadataResultFrame
  | CreateTopicFrame
  | DeleteTopicFrame
  | OkFrame
  | PingFrame
  | PongFrame
  | ErrorFrame;

/** Why a byte stream could not be decoded. The decoder never throws on input. */
export type DecodeFailure =
  | { ok: false; reason: 'frame-too-large'; frameBytes: number; frameBytesMax: number }
  | { ok: false; reason: 'malformed'; detail: string }
  | { ok: false; reason: 'unknown-type'; frameType: number };
