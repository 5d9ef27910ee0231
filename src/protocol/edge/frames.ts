// The edge protocol's frames as plain data: what the codec decodes to and encodes from.
// Byte layouts live in SPEC.md beside this file; section numbers there are cited as [EDGE-x.y].
// This module (and all of src/protocol) imports nothing else from src/: codecs stay pure.

export const EDGE_PROTOCOL_VERSION = 4;
/** The first version with consumer-group frames ([EDGE-12]). */
export const EDGE_GROUPS_VERSION = 2;
/** The first version in which a FETCH outside the log is answered by OUT_OF_RANGE ([EDGE-5.17]). */
export const EDGE_OUT_OF_RANGE_VERSION = 3;
/** The first version with ALTER_TOPIC ([EDGE-5.18]). */
export const EDGE_ALTER_TOPIC_VERSION = 4;

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
  // Version 2: consumer groups [EDGE-12].
  JOIN_GROUP: 0x10,
  JOINED: 0x11,
  HEARTBEAT: 0x12,
  LEAVE_GROUP: 0x13,
  COMMIT_OFFSETS: 0x14,
  FETCH_OFFSETS: 0x15,
  OFFSETS: 0x16,
  PRODUCE_COMMIT: 0x17,
  PRODUCED: 0x18,
  LIST_GROUPS: 0x19,
  GROUPS: 0x1a,
  DESCRIBE_GROUP: 0x1b,
  GROUP_DESCRIPTION: 0x1c,
  RESET_OFFSETS: 0x1d,
  OFFSETS_RESET: 0x1e,
  DELETE_GROUP: 0x1f,
  // Version 3 [EDGE-5.17].
  OUT_OF_RANGE: 0x20,
  // Version 4 [EDGE-5.18].
  ALTER_TOPIC: 0x21,
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

/** [EDGE-5.18] Changes an existing topic; a field at its "unchanged" value keeps the topic's. */
export interface AlterTopicFrame {
  type: 'alter-topic';
  corr: number;
  name: string;
  /** 0 = unchanged; else the new count, not below the current one. */
  partitions: number;
  /** -2 = unchanged, -1 = no limit, else ms. */
  retentionMs: number;
  /** -2 = unchanged, -1 = no limit, else bytes per partition. */
  retentionBytes: number;
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

/**
 * [EDGE-5.17] version 3: the answer to a FETCH whose offset is outside the partition's log, in place
 * of ERROR OFFSET_OUT_OF_RANGE, with the range a client continues from.
 */
export interface OutOfRangeFrame {
  type: 'out-of-range';
  corr: number;
  partition: number;
  /** The FETCH's offset. */
  offset: number;
  /** 'below': offset < logStartOffset (retention passed it); 'above': offset > nextOffset. */
  side: 'below' | 'above';
  logStartOffset: number;
  nextOffset: number;
}

// ---- Version 2: consumer groups [EDGE-12] ----

/** 0 = the group's current strategy (sticky for a new group). */
export type StrategyCode = 0 | 1 | 2 | 3;
export const Strategy = { GROUP: 0, RANGE: 1, ROUNDROBIN: 2, STICKY: 3 } as const;

export interface TopicPartitionList {
  topic: string;
  partitions: number[];
}

export interface JoinGroupFrame {
  type: 'join-group';
  corr: number;
  group: string;
  /** '' = a new member: the broker names it. */
  memberId: string;
  /** '' = not a static member. */
  instanceId: string;
  /** 0 = the broker's default. */
  sessionTimeoutMs: number;
  /** 0 = the session timeout. */
  rebalanceTimeoutMs: number;
  strategy: StrategyCode;
  /** '' = none; else a regular expression matched against whole topic names. */
  pattern: string;
  topics: string[];
}

/** The answer to JOIN_GROUP, sent when the group is stable again. */
export interface JoinedFrame {
  type: 'joined';
  corr: number;
  generation: number;
  memberId: string;
  /** The session timeout that applies. */
  sessionTimeoutMs: number;
  /** How often the member should send HEARTBEAT (a third of the session timeout). */
  heartbeatMs: number;
  assignment: TopicPartitionList[];
}

export interface HeartbeatFrame {
  type: 'heartbeat';
  corr: number;
  group: string;
  memberId: string;
  generation: number;
}

export interface LeaveGroupFrame {
  type: 'leave-group';
  corr: number;
  group: string;
  memberId: string;
}

export interface OffsetCommitEntry {
  alias: number;
  partition: number;
  offset: number;
  metadata: string;
}

export interface CommitOffsetsFrame {
  type: 'commit-offsets';
  corr: number;
  group: string;
  /** '' with generation -1: a commit from outside the group, accepted only while it has no members. */
  memberId: string;
  generation: number;
  offsets: OffsetCommitEntry[];
}

export interface FetchOffsetsFrame {
  type: 'fetch-offsets';
  corr: number;
  group: string;
  partitions: { alias: number; partition: number }[];
}

export interface OffsetsFrame {
  type: 'offsets';
  corr: number;
  /** offset -1: nothing committed for that partition. */
  offsets: { alias: number; partition: number; offset: number; metadata: string }[];
}

export interface ProduceBatch {
  alias: number;
  /** -1 lets the broker choose, as in PRODUCE. */
  partition: number;
  /** 0 means "use the broker's receive time". */
  baseTimestampMs: number;
  records: EdgeRecord[];
}

/** Records and a group's offset commit stored in one transaction: both or neither. */
export interface ProduceCommitFrame {
  type: 'produce-commit';
  corr: number;
  /** Answer after the transaction is on disk (acks all) instead of after it committed. */
  flush: boolean;
  group: string;
  memberId: string;
  generation: number;
  batches: ProduceBatch[];
  offsets: OffsetCommitEntry[];
}

export interface ProducedFrame {
  type: 'produced';
  corr: number;
  /** One per batch of the request, in its order. */
  batches: { partition: number; baseOffset: number }[];
}

export interface ListGroupsFrame {
  type: 'list-groups';
  corr: number;
}

/** State on the wire: 0 empty, 1 rebalancing, 2 stable, 3 dead. */
export type GroupStateCode = 0 | 1 | 2 | 3;

export interface GroupsFrame {
  type: 'groups';
  corr: number;
  groups: { name: string; state: GroupStateCode; members: number }[];
}

export interface DescribeGroupFrame {
  type: 'describe-group';
  corr: number;
  group: string;
}

export interface GroupMemberDescription {
  memberId: string;
  instanceId: string;
  clientId: string;
  host: string;
  assignment: TopicPartitionList[];
}

export interface GroupPartitionDescription {
  topic: string;
  partition: number;
  /** -1: nothing committed. */
  committed: number;
  metadata: string;
  logStartOffset: number;
  logEndOffset: number;
  /** '' when no member owns it. */
  memberId: string;
}

export interface GroupDescriptionFrame {
  type: 'group-description';
  corr: number;
  group: string;
  state: GroupStateCode;
  strategy: StrategyCode;
  generation: number;
  members: GroupMemberDescription[];
  partitions: GroupPartitionDescription[];
}

/** 0 earliest, 1 latest, 2 offset (value), 3 datetime (value = ms since epoch), 4 shift by (value, signed). */
export type ResetMode = 0 | 1 | 2 | 3 | 4;

export interface ResetOffsetsFrame {
  type: 'reset-offsets';
  corr: number;
  group: string;
  topic: string;
  /** -1 = every partition of the topic. */
  partition: number;
  mode: ResetMode;
  value: number;
  /** false = dry run: the answer says what would be committed. */
  execute: boolean;
}

export interface OffsetsResetFrame {
  type: 'offsets-reset';
  corr: number;
  entries: { topic: string; partition: number; /** -1 none */ previous: number; offset: number }[];
}

export interface DeleteGroupFrame {
  type: 'delete-group';
  corr: number;
  group: string;
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
  | AlterTopicFrame
  | DeleteTopicFrame
  | OkFrame
  | PingFrame
  | PongFrame
  | JoinGroupFrame
  | JoinedFrame
  | HeartbeatFrame
  | LeaveGroupFrame
  | CommitOffsetsFrame
  | FetchOffsetsFrame
  | OffsetsFrame
  | ProduceCommitFrame
  | ProducedFrame
  | ListGroupsFrame
  | GroupsFrame
  | DescribeGroupFrame
  | GroupDescriptionFrame
  | ResetOffsetsFrame
  | OffsetsResetFrame
  | DeleteGroupFrame
  | OutOfRangeFrame
  | ErrorFrame;

/** Why a byte stream could not be decoded. The decoder never throws on input. */
export type DecodeFailure =
  | { ok: false; reason: 'frame-too-large'; frameBytes: number; frameBytesMax: number }
  | { ok: false; reason: 'malformed'; detail: string }
  | { ok: false; reason: 'unknown-type'; frameType: number };
