// Encoder and decoder of the edge binary protocol. SPEC.md beside this file is the normative text;
// [EDGE-x.y] comments cite it. Decoding never throws: hostile input yields a DecodeFailure. Encoding
// throws RangeError only for values the wire cannot carry (programmer error, not peer input).

import {
  FrameType,
  type AckEntry,
  type AckFrame,
  type Acks,
  type CommitOffsetsFrame,
  type CreateTopicFrame,
  type AlterTopicFrame,
  type DecodeFailure,
  type EdgeHeader,
  type EdgeRecord,
  type ErrorFrame,
  type ErrorRef,
  type FetchFrame,
  type FetchOffsetsFrame,
  type Frame,
  type GroupDescriptionFrame,
  type GroupMemberDescription,
  type GroupPartitionDescription,
  type GroupStateCode,
  type GroupsFrame,
  type HelloFrame,
  type JoinGroupFrame,
  type JoinedFrame,
  type MetadataFrame,
  type MetadataResultFrame,
  type OffsetCommitEntry,
  type OffsetsFrame,
  type OffsetsResetFrame,
  type OutOfRangeFrame,
  type PartitionMetadata,
  type ProduceBatch,
  type ProduceCommitFrame,
  type ProduceFrame,
  type ProducedFrame,
  type RecordsFrame,
  type RegisterFrame,
  type ResetMode,
  type ResetOffsetsFrame,
  type StrategyCode,
  type TopicMetadata,
  type TopicPartitionList,
  type WelcomeFrame,
} from './frames.ts';
import {
  UVARINT_MAX,
  VARINT_BYTES_MAX,
  VARINT_MALFORMED,
  VARINT_NEED_MORE,
  readUvarint,
  readZigzag,
  uvarintSize,
  writeUvarint,
  writeZigzag,
  zigzagSize,
  type VarintSlot,
} from './varint.ts';

// Flag bits; every bit not listed is reserved and must be 0 [EDGE-3.7].
const HELLO_IDEMPOTENT = 0x01; // [EDGE-5.1]
const REGISTER_CREATE = 0x01; // [EDGE-5.3]
const RECORD_KEY = 0x01; // [EDGE-5.5.1]
const RECORD_HEADERS = 0x02;
const RECORD_TIMESTAMP_DELTA = 0x04;
const RECORD_NULL_VALUE = 0x08;
const RECORD_FLAGS = RECORD_KEY | RECORD_HEADERS | RECORD_TIMESTAMP_DELTA | RECORD_NULL_VALUE;
const ACK_DUPLICATE = 0x01; // [EDGE-5.6]
const CREATE_GROW = 0x01; // [EDGE-5.11]
const PRODUCE_COMMIT_FLUSH = 0x01; // [EDGE-12.12]
const RESET_EXECUTE = 0x01; // [EDGE-12.18]

// Enum ranges of the group frames [EDGE-12]: a value above the maximum is malformed.
const STRATEGY_MAX = 3;
const GROUP_STATE_MAX = 3;
const RESET_MODE_MAX = 4;

const ACKS_ALL_WIRE = 2; // [EDGE-5.5]
const ERROR_REF_KINDS: readonly ErrorRef[] = ['connection', 'request', 'produce']; // [EDGE-5.16]
const OUT_OF_RANGE_SIDES: readonly OutOfRangeFrame['side'][] = ['below', 'above']; // [EDGE-5.17]

export interface PushResult {
  /** Frames decoded from the pushed bytes, in stream order, up to the first failure. */
  frames: Frame[];
  /** Set once the stream is broken; every later push returns the same failure and no frames. */
  failure?: DecodeFailure;
}

export function isDecodeFailure(result: Frame | DecodeFailure): result is DecodeFailure {
  return 'ok' in result;
}

// ---------------------------------------------------------------------------------------------
// Encoding. Every body is described once, as calls on a Sink, and run twice: first to measure the
// exact size (validating every value), then to write into the single buffer of that size.

interface Sink {
  u8(n: number): void;
  uvarint(n: number): void;
  zigzag(n: number): void;
  str(s: string): void;
  bytes(b: Uint8Array): void;
  nbytes(b: Uint8Array | null): void;
}

class Measure implements Sink {
  size = 0;

  u8(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > 0xff) throw new RangeError(`${n} is not a byte (0..255)`);
    this.size += 1;
  }

  uvarint(n: number): void {
    this.size += uvarintSize(n);
  }

  zigzag(n: number): void {
    this.size += zigzagSize(n);
  }

  str(s: string): void {
    const len = Buffer.byteLength(s, 'utf8');
    this.size += uvarintSize(len) + len;
  }

  bytes(b: Uint8Array): void {
    this.size += uvarintSize(b.length) + b.length;
  }

  nbytes(b: Uint8Array | null): void {
    this.size += b === null ? 1 : uvarintSize(b.length + 1) + b.length;
  }
}

class Write implements Sink {
  pos = 0;

  constructor(private readonly buf: Buffer) {}

  u8(n: number): void {
    this.buf[this.pos++] = n;
  }

  uvarint(n: number): void {
    this.pos = writeUvarint(this.buf, this.pos, n);
  }

  zigzag(n: number): void {
    this.pos = writeZigzag(this.buf, this.pos, n);
  }

  str(s: string): void {
    const len = Buffer.byteLength(s, 'utf8');
    this.uvarint(len);
    this.pos += this.buf.write(s, this.pos, len, 'utf8');
  }

  bytes(b: Uint8Array): void {
    this.uvarint(b.length);
    this.raw(b);
  }

  nbytes(b: Uint8Array | null): void {
    if (b === null) {
      this.buf[this.pos++] = 0;
      return;
    }
    this.uvarint(b.length + 1);
    this.raw(b);
  }

  private raw(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

/**
 * Encodes one frame, length prefix included, into a buffer of exactly its size [EDGE-2.1].
 * Strings are written as UTF-8; a lone surrogate (not representable) becomes U+FFFD.
 * Throws RangeError for values the wire cannot carry (negative or fractional varints, ACK entries
 * not in ascending seq order, ...).
 */
export function encodeFrame(frame: Frame): Buffer {
  const measure = new Measure();
  const type = describeBody(frame, measure);
  const frameLength = 1 + measure.size;
  const buf = Buffer.allocUnsafe(uvarintSize(frameLength) + frameLength);
  const write = new Write(buf);
  write.uvarint(frameLength);
  write.u8(type);
  describeBody(frame, write);
  return buf;
}

/**
 * Everything of a RECORDS frame before its batches [EDGE-5.8]: the head followed by `batchBytes`
 * bytes of batches is exactly encodeFrame() of that frame. Lets a server write stored batches to a
 * socket as they are, instead of copying them into one frame buffer.
 */
export function encodeRecordsHead(frame: Omit<RecordsFrame, 'type' | 'batches'>, batchBytes: number): Buffer {
  const fields = (s: Sink) => {
    s.uvarint(frame.corr);
    s.uvarint(frame.partition);
    s.uvarint(frame.logStartOffset);
    s.uvarint(frame.nextOffset);
    s.uvarint(batchBytes);
  };
  const measure = new Measure();
  fields(measure);
  const frameLength = 1 + measure.size + batchBytes;
  const head = Buffer.allocUnsafe(uvarintSize(frameLength) + 1 + measure.size);
  const write = new Write(head);
  write.uvarint(frameLength);
  write.u8(FrameType.RECORDS);
  fields(write);
  return head;
}

/** The frame's length field (type byte + body): what the peer compares with frameBytesMax [EDGE-2.2]. */
export function frameLength(frame: Frame): number {
  const measure = new Measure();
  describeBody(frame, measure);
  return 1 + measure.size;
}

/** Bytes one record adds to a PRODUCE body [EDGE-7.6]: lets a client fill frames up to frameBytesMax. */
export function recordSize(record: EdgeRecord): number {
  const measure = new Measure();
  describeRecord(record, measure);
  return measure.size;
}

/** Describes the body to the sink and returns the type byte. */
function describeBody(f: Frame, s: Sink): number {
  switch (f.type) {
    case 'hello':
      describeHello(f, s);
      return FrameType.HELLO;
    case 'welcome':
      describeWelcome(f, s);
      return FrameType.WELCOME;
    case 'register':
      describeRegister(f, s);
      return FrameType.REGISTER;
    case 'registered':
      s.uvarint(f.corr);
      s.uvarint(f.alias);
      s.uvarint(f.partitions);
      return FrameType.REGISTERED;
    case 'produce':
      describeProduce(f, s);
      return FrameType.PRODUCE;
    case 'ack':
      describeAck(f, s);
      return FrameType.ACK;
    case 'fetch':
      describeFetch(f, s);
      return FrameType.FETCH;
    case 'records':
      describeRecords(f, s);
      return FrameType.RECORDS;
    case 'metadata':
      s.uvarint(f.corr);
      s.uvarint(f.topics.length);
      for (const topic of f.topics) s.str(topic);
      return FrameType.METADATA;
    case 'metadata-result':
      describeMetadataResult(f, s);
      return FrameType.METADATA_RESULT;
    case 'create-topic':
      describeCreateTopic(f, s);
      return FrameType.CREATE_TOPIC;
    case 'delete-topic':
      s.uvarint(f.corr);
      s.str(f.name);
      return FrameType.DELETE_TOPIC;
    case 'alter-topic':
      describeAlterTopic(f, s);
      return FrameType.ALTER_TOPIC;
    case 'ok':
      s.uvarint(f.corr);
      return FrameType.OK;
    case 'ping':
      s.uvarint(f.corr);
      return FrameType.PING;
    case 'pong':
      s.uvarint(f.corr);
      return FrameType.PONG;
    case 'error':
      describeError(f, s);
      return FrameType.ERROR;
    case 'out-of-range':
      describeOutOfRange(f, s);
      return FrameType.OUT_OF_RANGE;
    default:
      return describeGroupBody(f, s);
  }
}

type GroupFrame = Exclude<
  Frame,
  { type: 'hello' | 'welcome' | 'register' | 'registered' | 'produce' | 'ack' | 'fetch' | 'records' | 'metadata' | 'metadata-result' | 'create-topic' | 'alter-topic' | 'delete-topic' | 'ok' | 'ping' | 'pong' | 'error' | 'out-of-range' }
>;

/** Version 2 frames [EDGE-12]: describes the body and returns the type byte. */
function describeGroupBody(f: GroupFrame, s: Sink): number {
  switch (f.type) {
    case 'join-group':
      describeJoinGroup(f, s);
      return FrameType.JOIN_GROUP;
    case 'joined':
      describeJoined(f, s);
      return FrameType.JOINED;
    case 'heartbeat':
      s.uvarint(f.corr);
      s.str(f.group);
      s.str(f.memberId);
      s.uvarint(f.generation);
      return FrameType.HEARTBEAT;
    case 'leave-group':
      s.uvarint(f.corr);
      s.str(f.group);
      s.str(f.memberId);
      return FrameType.LEAVE_GROUP;
    case 'commit-offsets':
      describeCommitOffsets(f, s);
      return FrameType.COMMIT_OFFSETS;
    case 'fetch-offsets':
      describeFetchOffsets(f, s);
      return FrameType.FETCH_OFFSETS;
    case 'offsets':
      describeOffsets(f, s);
      return FrameType.OFFSETS;
    case 'produce-commit':
      describeProduceCommit(f, s);
      return FrameType.PRODUCE_COMMIT;
    case 'produced':
      describeProduced(f, s);
      return FrameType.PRODUCED;
    case 'list-groups':
      s.uvarint(f.corr);
      return FrameType.LIST_GROUPS;
    case 'groups':
      describeGroups(f, s);
      return FrameType.GROUPS;
    case 'describe-group':
      s.uvarint(f.corr);
      s.str(f.group);
      return FrameType.DESCRIBE_GROUP;
    case 'group-description':
      describeGroupDescription(f, s);
      return FrameType.GROUP_DESCRIPTION;
    case 'reset-offsets':
      describeResetOffsets(f, s);
      return FrameType.RESET_OFFSETS;
    case 'offsets-reset':
      describeOffsetsReset(f, s);
      return FrameType.OFFSETS_RESET;
    case 'delete-group':
      s.uvarint(f.corr);
      s.str(f.group);
      return FrameType.DELETE_GROUP;
  }
}

// [EDGE-5.1]
function describeHello(f: HelloFrame, s: Sink): void {
  s.u8(f.version);
  s.u8(f.idempotent ? HELLO_IDEMPOTENT : 0);
  s.uvarint(f.keepaliveMs);
  s.uvarint(f.frameBytesMax);
  s.str(f.clientId);
  s.nbytes(f.token);
}

// [EDGE-5.2]
function describeWelcome(f: WelcomeFrame, s: Sink): void {
  s.u8(f.version);
  s.uvarint(f.keepaliveMs);
  s.uvarint(f.frameBytesMax);
  s.uvarint(f.lastSeq);
}

// [EDGE-5.3]
function describeRegister(f: RegisterFrame, s: Sink): void {
  s.uvarint(f.corr);
  s.uvarint(f.alias);
  s.u8(f.create ? REGISTER_CREATE : 0);
  s.str(f.topic);
}

// [EDGE-5.5]
function describeProduce(f: ProduceFrame, s: Sink): void {
  s.uvarint(f.seq);
  s.uvarint(f.alias);
  s.zigzag(f.partition);
  s.u8(acksToWire(f.acks));
  s.uvarint(f.baseTimestampMs);
  s.uvarint(f.records.length);
  for (const record of f.records) describeRecord(record, s);
}

function acksToWire(acks: Acks): number {
  if (acks === 'all') return ACKS_ALL_WIRE;
  if (acks === 0 || acks === 1) return acks;
  throw new RangeError(`acks ${String(acks)} is not 0, 1 or 'all'`);
}

// [EDGE-5.5.1] The canonical form: a flag is set only when its field differs from the default.
function describeRecord(r: EdgeRecord, s: Sink): void {
  const hasDelta = r.timestampDeltaMs !== 0;
  const hasHeaders = r.headers.length > 0;
  s.u8(
    (r.key !== null ? RECORD_KEY : 0) |
      (hasHeaders ? RECORD_HEADERS : 0) |
      (hasDelta ? RECORD_TIMESTAMP_DELTA : 0) |
      (r.value === null ? RECORD_NULL_VALUE : 0),
  );
  if (hasDelta) s.zigzag(r.timestampDeltaMs);
  if (r.key !== null) s.bytes(r.key);
  if (r.value !== null) s.bytes(r.value);
  if (!hasHeaders) return;
  s.uvarint(r.headers.length);
  for (const h of r.headers) {
    s.str(h.key);
    s.nbytes(h.value);
  }
}

// [EDGE-5.6]
function describeAck(f: AckFrame, s: Sink): void {
  const entries = f.entries;
  if (entries.length === 0) throw new RangeError('an ACK frame needs at least one entry');
  s.uvarint(entries.length);
  s.uvarint(entries[0].seq);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (i > 0) {
      const delta = e.seq - entries[i - 1].seq;
      if (!(delta >= 1)) throw new RangeError(`ACK entries must have ascending seq: ${entries[i - 1].seq} then ${e.seq}`);
      s.uvarint(delta);
    }
    s.uvarint(e.partition);
    s.uvarint(e.baseOffset);
    s.u8(e.duplicate ? ACK_DUPLICATE : 0);
  }
}

// [EDGE-5.7]
function describeFetch(f: FetchFrame, s: Sink): void {
  s.uvarint(f.corr);
  s.uvarint(f.alias);
  s.uvarint(f.partition);
  s.uvarint(f.offset);
  s.uvarint(f.maxBytes);
  s.uvarint(f.maxWaitMs);
}

// [EDGE-5.8]
function describeRecords(f: RecordsFrame, s: Sink): void {
  s.uvarint(f.corr);
  s.uvarint(f.partition);
  s.uvarint(f.logStartOffset);
  s.uvarint(f.nextOffset);
  s.bytes(f.batches);
}

// [EDGE-5.10]
function describeMetadataResult(f: MetadataResultFrame, s: Sink): void {
  s.uvarint(f.corr);
  s.uvarint(f.topics.length);
  for (const t of f.topics) {
    s.str(t.name);
    s.zigzag(t.retentionMs);
    s.zigzag(t.retentionBytes);
    s.uvarint(t.partitions.length);
    for (const p of t.partitions) {
      s.uvarint(p.partition);
      s.uvarint(p.logStartOffset);
      s.uvarint(p.nextOffset);
    }
  }
}

// [EDGE-5.11]
function describeCreateTopic(f: CreateTopicFrame, s: Sink): void {
  s.uvarint(f.corr);
  s.u8(f.grow ? CREATE_GROW : 0);
  s.str(f.name);
  s.uvarint(f.partitions);
  s.zigzag(f.retentionMs);
  s.zigzag(f.retentionBytes);
}

// [EDGE-5.18]
function describeAlterTopic(f: AlterTopicFrame, s: Sink): void {
  s.uvarint(f.corr);
  s.str(f.name);
  s.uvarint(f.partitions);
  s.zigzag(f.retentionMs);
  s.zigzag(f.retentionBytes);
}

// [EDGE-5.16]
function describeError(f: ErrorFrame, s: Sink): void {
  const refKind = ERROR_REF_KINDS.indexOf(f.refKind);
  if (refKind < 0) throw new RangeError(`refKind ${String(f.refKind)} is not connection, request or produce`);
  s.u8(refKind);
  s.uvarint(f.ref);
  s.uvarint(f.code);
  s.str(f.message);
}

// [EDGE-5.17]
function describeOutOfRange(f: OutOfRangeFrame, s: Sink): void {
  s.uvarint(f.corr);
  s.uvarint(f.partition);
  s.uvarint(f.offset);
  s.u8(OUT_OF_RANGE_SIDES.indexOf(f.side));
  s.uvarint(f.logStartOffset);
  s.uvarint(f.nextOffset);
}

// ---- Version 2: consumer groups [EDGE-12] ----

function enumByte(n: number, max: number, field: string, s: Sink): void {
  if (!Number.isInteger(n) || n < 0 || n > max) throw new RangeError(`${field} ${n} is not 0..${max}`);
  s.u8(n);
}

// [EDGE-12.5]
function describeJoinGroup(f: JoinGroupFrame, s: Sink): void {
  s.uvarint(f.corr);
  s.str(f.group);
  s.str(f.memberId);
  s.str(f.instanceId);
  s.uvarint(f.sessionTimeoutMs);
  s.uvarint(f.rebalanceTimeoutMs);
  enumByte(f.strategy, STRATEGY_MAX, 'strategy', s);
  s.str(f.pattern);
  s.uvarint(f.topics.length);
  for (const topic of f.topics) s.str(topic);
}

// [EDGE-12.6]
function describeJoined(f: JoinedFrame, s: Sink): void {
  s.uvarint(f.corr);
  s.uvarint(f.generation);
  s.str(f.memberId);
  s.uvarint(f.sessionTimeoutMs);
  s.uvarint(f.heartbeatMs);
  describeTopicPartitions(f.assignment, s);
}

// [EDGE-12.4]
function describeTopicPartitions(list: TopicPartitionList[], s: Sink): void {
  s.uvarint(list.length);
  for (const t of list) {
    s.str(t.topic);
    s.uvarint(t.partitions.length);
    for (const p of t.partitions) s.uvarint(p);
  }
}

// [EDGE-12.9]
function describeCommitOffsets(f: CommitOffsetsFrame, s: Sink): void {
  s.uvarint(f.corr);
  s.str(f.group);
  s.str(f.memberId);
  s.zigzag(f.generation);
  describeOffsetCommits(f.offsets, s);
}

function describeOffsetCommits(entries: OffsetCommitEntry[], s: Sink): void {
  s.uvarint(entries.length);
  for (const e of entries) {
    s.uvarint(e.alias);
    s.uvarint(e.partition);
    s.uvarint(e.offset);
    s.str(e.metadata);
  }
}

// [EDGE-12.10]
function describeFetchOffsets(f: FetchOffsetsFrame, s: Sink): void {
  s.uvarint(f.corr);
  s.str(f.group);
  s.uvarint(f.partitions.length);
  for (const p of f.partitions) {
    s.uvarint(p.alias);
    s.uvarint(p.partition);
  }
}

// [EDGE-12.11]
function describeOffsets(f: OffsetsFrame, s: Sink): void {
  s.uvarint(f.corr);
  s.uvarint(f.offsets.length);
  for (const o of f.offsets) {
    s.uvarint(o.alias);
    s.uvarint(o.partition);
    s.zigzag(o.offset);
    s.str(o.metadata);
  }
}

// [EDGE-12.12] Each batch's records have exactly the PRODUCE record layout [EDGE-5.5.1].
function describeProduceCommit(f: ProduceCommitFrame, s: Sink): void {
  s.uvarint(f.corr);
  s.u8(f.flush ? PRODUCE_COMMIT_FLUSH : 0);
  s.str(f.group);
  s.str(f.memberId);
  s.zigzag(f.generation);
  s.uvarint(f.batches.length);
  for (const b of f.batches) {
    s.uvarint(b.alias);
    s.zigzag(b.partition);
    s.uvarint(b.baseTimestampMs);
    s.uvarint(b.records.length);
    for (const record of b.records) describeRecord(record, s);
  }
  describeOffsetCommits(f.offsets, s);
}

// [EDGE-12.13]
function describeProduced(f: ProducedFrame, s: Sink): void {
  s.uvarint(f.corr);
  s.uvarint(f.batches.length);
  for (const b of f.batches) {
    s.uvarint(b.partition);
    s.uvarint(b.baseOffset);
  }
}

// [EDGE-12.15]
function describeGroups(f: GroupsFrame, s: Sink): void {
  s.uvarint(f.corr);
  s.uvarint(f.groups.length);
  for (const g of f.groups) {
    s.str(g.name);
    enumByte(g.state, GROUP_STATE_MAX, 'state', s);
    s.uvarint(g.members);
  }
}

// [EDGE-12.17]
function describeGroupDescription(f: GroupDescriptionFrame, s: Sink): void {
  s.uvarint(f.corr);
  s.str(f.group);
  enumByte(f.state, GROUP_STATE_MAX, 'state', s);
  enumByte(f.strategy, STRATEGY_MAX, 'strategy', s);
  s.uvarint(f.generation);
  s.uvarint(f.members.length);
  for (const m of f.members) {
    s.str(m.memberId);
    s.str(m.instanceId);
    s.str(m.clientId);
    s.str(m.host);
    describeTopicPartitions(m.assignment, s);
  }
  s.uvarint(f.partitions.length);
  for (const p of f.partitions) {
    s.str(p.topic);
    s.uvarint(p.partition);
    s.zigzag(p.committed);
    s.str(p.metadata);
    s.uvarint(p.logStartOffset);
    s.uvarint(p.logEndOffset);
    s.str(p.memberId);
  }
}

// [EDGE-12.18]
function describeResetOffsets(f: ResetOffsetsFrame, s: Sink): void {
  s.uvarint(f.corr);
  s.str(f.group);
  s.str(f.topic);
  s.zigzag(f.partition);
  enumByte(f.mode, RESET_MODE_MAX, 'mode', s);
  s.zigzag(f.value);
  s.u8(f.execute ? RESET_EXECUTE : 0);
}

// [EDGE-12.19]
function describeOffsetsReset(f: OffsetsResetFrame, s: Sink): void {
  s.uvarint(f.corr);
  s.uvarint(f.entries.length);
  for (const e of f.entries) {
    s.str(e.topic);
    s.uvarint(e.partition);
    s.zigzag(e.previous);
    s.uvarint(e.offset);
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding a complete body. The reader's failure is sticky: the first problem is recorded and the
// position jumps to the end, so every later read fails fast and returns a neutral value. Decoders
// can therefore read straight through and check once at the end.

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const EMPTY_STRING = '';

class BodyReader {
  private pos = 0;
  private problem: string | null = null;
  private readonly slot: VarintSlot = { value: 0 };

  constructor(private readonly buf: Uint8Array) {}

  get ok(): boolean {
    return this.problem === null;
  }

  invalid(detail: string): void {
    if (this.problem === null) this.problem = `${detail} (body byte ${this.pos})`;
    this.pos = this.buf.length;
  }

  u8(field: string): number {
    if (this.pos >= this.buf.length) return this.truncated(field);
    return this.buf[this.pos++];
  }

  /** A flag byte whose reserved bits must be 0 [EDGE-3.7]. */
  flags(field: string, allowed: number): number {
    const flags = this.u8(field);
    if ((flags & ~allowed) !== 0) this.invalid(`reserved bits set in ${field} 0x${flags.toString(16).padStart(2, '0')}`);
    return flags;
  }

  uvarint(field: string): number {
    return this.varint(readUvarint(this.buf, this.pos, this.slot), field);
  }

  zigzag(field: string): number {
    return this.varint(readZigzag(this.buf, this.pos, this.slot), field);
  }

  /** An element count; each element takes at least one byte, so larger claims are malformed [EDGE-3.8]. */
  count(field: string): number {
    const n = this.uvarint(field);
    if (n > this.buf.length - this.pos) {
      this.invalid(`${field} ${n} exceeds the ${this.buf.length - this.pos} bytes left`);
      return 0;
    }
    return n;
  }

  bytes(field: string): Uint8Array {
    return this.view(this.uvarint(field), field);
  }

  nbytes(field: string): Uint8Array | null {
    const n = this.uvarint(field);
    return n === 0 ? null : this.view(n - 1, field);
  }

  str(field: string): string {
    const bytes = this.bytes(field);
    if (bytes.length === 0) return EMPTY_STRING;
    try {
      return utf8.decode(bytes);
    } catch {
      this.invalid(`${field} is not valid UTF-8`);
      return EMPTY_STRING;
    }
  }

  /** The failure of the whole body, including bytes left over after its last field [EDGE-2.3]. */
  finish(frame: Frame): DecodeFailure | null {
    if (this.problem === null && this.pos !== this.buf.length) {
      this.problem = `${this.buf.length - this.pos} trailing bytes after the last field`;
    }
    return this.problem === null ? null : { ok: false, reason: 'malformed', detail: `${frame.type} frame: ${this.problem}` };
  }

  private varint(next: number, field: string): number {
    if (next === VARINT_NEED_MORE) return this.truncated(field);
    if (next === VARINT_MALFORMED) {
      this.invalid(`${field} varint is longer than 8 bytes or above 2^53-1`);
      return 0;
    }
    this.pos = next;
    return this.slot.value;
  }

  private view(length: number, field: string): Uint8Array {
    if (length > this.buf.length - this.pos) {
      this.truncated(field);
      return this.buf.subarray(this.pos, this.pos);
    }
    const start = this.pos;
    this.pos += length;
    return this.buf.subarray(start, this.pos);
  }

  private truncated(field: string): 0 {
    this.invalid(`truncated in ${field}`);
    return 0;
  }
}

/**
 * Decodes a complete frame body (the bytes after the type byte) [EDGE-5]. Byte fields are views
 * into `body`, not copies. Never throws.
 */
export function decodeFrame(body: Uint8Array, type: number): Frame | DecodeFailure {
  const decode = bodyDecoders.get(type);
  if (decode === undefined) return { ok: false, reason: 'unknown-type', frameType: type };
  const r = new BodyReader(body);
  const frame = decode(r);
  return r.finish(frame) ?? frame;
}

const bodyDecoders = new Map<number, (r: BodyReader) => Frame>([
  [FrameType.HELLO, readHello],
  [FrameType.WELCOME, readWelcome],
  [FrameType.REGISTER, readRegister],
  [
    FrameType.REGISTERED,
    (r) => ({ type: 'registered', corr: r.uvarint('corr'), alias: r.uvarint('alias'), partitions: r.uvarint('partitions') }),
  ],
  [FrameType.PRODUCE, readProduce],
  [FrameType.ACK, readAck],
  [FrameType.FETCH, readFetch],
  [FrameType.RECORDS, readRecords],
  [FrameType.METADATA, readMetadata],
  [FrameType.METADATA_RESULT, readMetadataResult],
  [FrameType.CREATE_TOPIC, readCreateTopic],
  [FrameType.DELETE_TOPIC, (r) => ({ type: 'delete-topic', corr: r.uvarint('corr'), name: r.str('name') })],
  [FrameType.OK, (r) => ({ type: 'ok', corr: r.uvarint('corr') })],
  [FrameType.PING, (r) => ({ type: 'ping', corr: r.uvarint('corr') })],
  [FrameType.PONG, (r) => ({ type: 'pong', corr: r.uvarint('corr') })],
  [FrameType.ERROR, readError],
  [FrameType.OUT_OF_RANGE, readOutOfRange],
  [
    FrameType.ALTER_TOPIC,
    (r) => ({
      type: 'alter-topic',
      corr: r.uvarint('corr'),
      name: r.str('name'),
      partitions: r.uvarint('partitions'),
      retentionMs: r.zigzag('retentionMs'),
      retentionBytes: r.zigzag('retentionBytes'),
    }),
  ],
  [FrameType.JOIN_GROUP, readJoinGroup],
  [FrameType.JOINED, readJoined],
  [
    FrameType.HEARTBEAT,
    (r) => ({ type: 'heartbeat', corr: r.uvarint('corr'), group: r.str('group'), memberId: r.str('memberId'), generation: r.uvarint('generation') }),
  ],
  [FrameType.LEAVE_GROUP, (r) => ({ type: 'leave-group', corr: r.uvarint('corr'), group: r.str('group'), memberId: r.str('memberId') })],
  [FrameType.COMMIT_OFFSETS, readCommitOffsets],
  [FrameType.FETCH_OFFSETS, readFetchOffsets],
  [FrameType.OFFSETS, readOffsets],
  [FrameType.PRODUCE_COMMIT, readProduceCommit],
  [FrameType.PRODUCED, readProduced],
  [FrameType.LIST_GROUPS, (r) => ({ type: 'list-groups', corr: r.uvarint('corr') })],
  [FrameType.GROUPS, readGroups],
  [FrameType.DESCRIBE_GROUP, (r) => ({ type: 'describe-group', corr: r.uvarint('corr'), group: r.str('group') })],
  [FrameType.GROUP_DESCRIPTION, readGroupDescription],
  [FrameType.RESET_OFFSETS, readResetOffsets],
  [FrameType.OFFSETS_RESET, readOffsetsReset],
  [FrameType.DELETE_GROUP, (r) => ({ type: 'delete-group', corr: r.uvarint('corr'), group: r.str('group') })],
]);

// Object literals evaluate their properties in source order, so each decoder reads the fields in
// wire order simply by listing them.

// [EDGE-5.1]
function readHello(r: BodyReader): HelloFrame {
  return {
    type: 'hello',
    version: r.u8('version'),
    idempotent: (r.flags('flags', HELLO_IDEMPOTENT) & HELLO_IDEMPOTENT) !== 0,
    keepaliveMs: r.uvarint('keepaliveMs'),
    frameBytesMax: r.uvarint('frameBytesMax'),
    clientId: r.str('clientId'),
    token: r.nbytes('token'),
  };
}

// [EDGE-5.2]
function readWelcome(r: BodyReader): WelcomeFrame {
  return {
    type: 'welcome',
    version: r.u8('version'),
    keepaliveMs: r.uvarint('keepaliveMs'),
    frameBytesMax: r.uvarint('frameBytesMax'),
    lastSeq: r.uvarint('lastSeq'),
  };
}

// [EDGE-5.3]
function readRegister(r: BodyReader): RegisterFrame {
  const corr = r.uvarint('corr');
  const alias = r.uvarint('alias');
  const create = (r.flags('flags', REGISTER_CREATE) & REGISTER_CREATE) !== 0;
  return { type: 'register', corr, alias, topic: r.str('topic'), create };
}

// [EDGE-5.5]
function readProduce(r: BodyReader): ProduceFrame {
  const seq = r.uvarint('seq');
  const alias = r.uvarint('alias');
  const partition = r.zigzag('partition');
  const acks = readAcks(r);
  const baseTimestampMs = r.uvarint('baseTimestampMs');
  return { type: 'produce', seq, alias, partition, acks, baseTimestampMs, records: readRecordList(r) };
}

/** A record count and the records [EDGE-5.5.1], as in PRODUCE and each PRODUCE_COMMIT batch. */
function readRecordList(r: BodyReader): EdgeRecord[] {
  const count = r.count('record count');
  const records: EdgeRecord[] = [];
  for (let i = 0; i < count && r.ok; i++) records.push(readRecord(r));
  return records;
}

function readAcks(r: BodyReader): Acks {
  const acks = r.u8('acks');
  if (acks === 0 || acks === 1) return acks;
  if (acks === ACKS_ALL_WIRE) return 'all';
  r.invalid(`acks ${acks} is not 0, 1 or 2`);
  return 0;
}

// [EDGE-5.5.1] Absent fields take their defaults; a flag set for a default value is accepted.
function readRecord(r: BodyReader): EdgeRecord {
  const flags = r.flags('record flags', RECORD_FLAGS);
  return {
    timestampDeltaMs: (flags & RECORD_TIMESTAMP_DELTA) !== 0 ? r.zigzag('record timestampDelta') : 0,
    key: (flags & RECORD_KEY) !== 0 ? r.bytes('record key') : null,
    value: (flags & RECORD_NULL_VALUE) !== 0 ? null : r.bytes('record value'),
    headers: (flags & RECORD_HEADERS) !== 0 ? readHeaders(r) : [],
  };
}

function readHeaders(r: BodyReader): EdgeHeader[] {
  const count = r.count('header count');
  const headers: EdgeHeader[] = [];
  for (let i = 0; i < count && r.ok; i++) headers.push({ key: r.str('header key'), value: r.nbytes('header value') });
  return headers;
}

// [EDGE-5.6]
function readAck(r: BodyReader): AckFrame {
  const count = r.count('entry count');
  if (count === 0) r.invalid('an ACK frame needs at least one entry');
  let seq = r.uvarint('firstSeq');
  const entries: AckEntry[] = [];
  for (let i = 0; i < count && r.ok; i++) {
    if (i > 0) seq = nextAckSeq(r, seq);
    entries.push({
      seq,
      partition: r.uvarint('partition'),
      baseOffset: r.uvarint('baseOffset'),
      duplicate: (r.flags('entry flags', ACK_DUPLICATE) & ACK_DUPLICATE) !== 0,
    });
  }
  return { type: 'ack', entries };
}

function nextAckSeq(r: BodyReader, previous: number): number {
  const delta = r.uvarint('seqDelta');
  if (delta === 0) r.invalid('seqDelta 0: entries must have strictly ascending seq');
  else if (delta > UVARINT_MAX - previous) r.invalid('seq above 2^53-1');
  return previous + delta;
}

// [EDGE-5.7]
function readFetch(r: BodyReader): FetchFrame {
  return {
    type: 'fetch',
    corr: r.uvarint('corr'),
    alias: r.uvarint('alias'),
    partition: r.uvarint('partition'),
    offset: r.uvarint('offset'),
    maxBytes: r.uvarint('maxBytes'),
    maxWaitMs: r.uvarint('maxWaitMs'),
  };
}

// [EDGE-5.8]
function readRecords(r: BodyReader): RecordsFrame {
  return {
    type: 'records',
    corr: r.uvarint('corr'),
    partition: r.uvarint('partition'),
    logStartOffset: r.uvarint('logStartOffset'),
    nextOffset: r.uvarint('nextOffset'),
    batches: r.bytes('batches'),
  };
}

// [EDGE-5.9]
function readMetadata(r: BodyReader): MetadataFrame {
  const corr = r.uvarint('corr');
  const count = r.count('topic count');
  const topics: string[] = [];
  for (let i = 0; i < count && r.ok; i++) topics.push(r.str('topic'));
  return { type: 'metadata', corr, topics };
}

// [EDGE-5.10]
function readMetadataResult(r: BodyReader): MetadataResultFrame {
  const corr = r.uvarint('corr');
  const count = r.count('topic count');
  const topics: TopicMetadata[] = [];
  for (let i = 0; i < count && r.ok; i++) {
    topics.push({
      name: r.str('topic name'),
      retentionMs: r.zigzag('retentionMs'),
      retentionBytes: r.zigzag('retentionBytes'),
      partitions: readPartitionMetadata(r),
    });
  }
  return { type: 'metadata-result', corr, topics };
}

function readPartitionMetadata(r: BodyReader): PartitionMetadata[] {
  const count = r.count('partition count');
  const partitions: PartitionMetadata[] = [];
  for (let i = 0; i < count && r.ok; i++) {
    partitions.push({
      partition: r.uvarint('partition'),
      logStartOffset: r.uvarint('logStartOffset'),
      nextOffset: r.uvarint('nextOffset'),
    });
  }
  return partitions;
}

// [EDGE-5.11]
function readCreateTopic(r: BodyReader): CreateTopicFrame {
  const corr = r.uvarint('corr');
  const grow = (r.flags('flags', CREATE_GROW) & CREATE_GROW) !== 0;
  return {
    type: 'create-topic',
    corr,
    name: r.str('name'),
    partitions: r.uvarint('partitions'),
    retentionMs: r.zigzag('retentionMs'),
    retentionBytes: r.zigzag('retentionBytes'),
    grow,
  };
}

// [EDGE-5.16]
function readError(r: BodyReader): ErrorFrame {
  return {
    type: 'error',
    refKind: readRefKind(r),
    ref: r.uvarint('ref'),
    code: r.uvarint('code'),
    message: r.str('message'),
  };
}

// [EDGE-5.17]
function readOutOfRange(r: BodyReader): OutOfRangeFrame {
  const corr = r.uvarint('corr');
  const partition = r.uvarint('partition');
  const offset = r.uvarint('offset');
  const sideByte = r.u8('side');
  if (r.ok && sideByte >= OUT_OF_RANGE_SIDES.length) r.invalid(`side ${sideByte} is not 0 or 1`);
  const side = OUT_OF_RANGE_SIDES[sideByte] ?? 'below';
  return { type: 'out-of-range', corr, partition, offset, side, logStartOffset: r.uvarint('logStartOffset'), nextOffset: r.uvarint('nextOffset') };
}

function readRefKind(r: BodyReader): ErrorRef {
  const kind = r.u8('refKind');
  if (kind < ERROR_REF_KINDS.length) return ERROR_REF_KINDS[kind];
  r.invalid(`refKind ${kind} is not 0, 1 or 2`);
  return 'connection';
}

// ---- Version 2: consumer groups [EDGE-12] ----

/** A u8 enum: values above max are malformed [EDGE-3.7]. */
function readEnum<T extends number>(r: BodyReader, field: string, max: number): T {
  const n = r.u8(field);
  if (n > max) r.invalid(`${field} ${n} is not 0..${max}`);
  return n as T;
}

/** A list of strings with a count [EDGE-3.8]. */
function readStrings(r: BodyReader, countField: string, field: string): string[] {
  const count = r.count(countField);
  const list: string[] = [];
  for (let i = 0; i < count && r.ok; i++) list.push(r.str(field));
  return list;
}

// [EDGE-12.5]
function readJoinGroup(r: BodyReader): JoinGroupFrame {
  return {
    type: 'join-group',
    corr: r.uvarint('corr'),
    group: r.str('group'),
    memberId: r.str('memberId'),
    instanceId: r.str('instanceId'),
    sessionTimeoutMs: r.uvarint('sessionTimeoutMs'),
    rebalanceTimeoutMs: r.uvarint('rebalanceTimeoutMs'),
    strategy: readEnum<StrategyCode>(r, 'strategy', STRATEGY_MAX),
    pattern: r.str('pattern'),
    topics: readStrings(r, 'topic count', 'topic'),
  };
}

// [EDGE-12.6]
function readJoined(r: BodyReader): JoinedFrame {
  return {
    type: 'joined',
    corr: r.uvarint('corr'),
    generation: r.uvarint('generation'),
    memberId: r.str('memberId'),
    sessionTimeoutMs: r.uvarint('sessionTimeoutMs'),
    heartbeatMs: r.uvarint('heartbeatMs'),
    assignment: readTopicPartitions(r),
  };
}

// [EDGE-12.4]
function readTopicPartitions(r: BodyReader): TopicPartitionList[] {
  const count = r.count('topic count');
  const list: TopicPartitionList[] = [];
  for (let i = 0; i < count && r.ok; i++) {
    const topic = r.str('topic');
    const partitionCount = r.count('partition count');
    const partitions: number[] = [];
    for (let j = 0; j < partitionCount && r.ok; j++) partitions.push(r.uvarint('partition'));
    list.push({ topic, partitions });
  }
  return list;
}

// [EDGE-12.9]
function readCommitOffsets(r: BodyReader): CommitOffsetsFrame {
  return {
    type: 'commit-offsets',
    corr: r.uvarint('corr'),
    group: r.str('group'),
    memberId: r.str('memberId'),
    generation: r.zigzag('generation'),
    offsets: readOffsetCommits(r),
  };
}

function readOffsetCommits(r: BodyReader): OffsetCommitEntry[] {
  const count = r.count('offset count');
  const entries: OffsetCommitEntry[] = [];
  for (let i = 0; i < count && r.ok; i++) {
    entries.push({ alias: r.uvarint('alias'), partition: r.uvarint('partition'), offset: r.uvarint('offset'), metadata: r.str('metadata') });
  }
  return entries;
}

// [EDGE-12.10]
function readFetchOffsets(r: BodyReader): FetchOffsetsFrame {
  const corr = r.uvarint('corr');
  const group = r.str('group');
  const count = r.count('partition count');
  const partitions: FetchOffsetsFrame['partitions'] = [];
  for (let i = 0; i < count && r.ok; i++) partitions.push({ alias: r.uvarint('alias'), partition: r.uvarint('partition') });
  return { type: 'fetch-offsets', corr, group, partitions };
}

// [EDGE-12.11]
function readOffsets(r: BodyReader): OffsetsFrame {
  const corr = r.uvarint('corr');
  const count = r.count('offset count');
  const offsets: OffsetsFrame['offsets'] = [];
  for (let i = 0; i < count && r.ok; i++) {
    offsets.push({ alias: r.uvarint('alias'), partition: r.uvarint('partition'), offset: r.zigzag('offset'), metadata: r.str('metadata') });
  }
  return { type: 'offsets', corr, offsets };
}

// [EDGE-12.12]
function readProduceCommit(r: BodyReader): ProduceCommitFrame {
  const corr = r.uvarint('corr');
  const flush = (r.flags('flags', PRODUCE_COMMIT_FLUSH) & PRODUCE_COMMIT_FLUSH) !== 0;
  const group = r.str('group');
  const memberId = r.str('memberId');
  const generation = r.zigzag('generation');
  const count = r.count('batch count');
  const batches: ProduceBatch[] = [];
  for (let i = 0; i < count && r.ok; i++) {
    batches.push({
      alias: r.uvarint('alias'),
      partition: r.zigzag('partition'),
      baseTimestampMs: r.uvarint('baseTimestampMs'),
      records: readRecordList(r),
    });
  }
  return { type: 'produce-commit', corr, flush, group, memberId, generation, batches, offsets: readOffsetCommits(r) };
}

// [EDGE-12.13]
function readProduced(r: BodyReader): ProducedFrame {
  const corr = r.uvarint('corr');
  const count = r.count('batch count');
  const batches: ProducedFrame['batches'] = [];
  for (let i = 0; i < count && r.ok; i++) batches.push({ partition: r.uvarint('partition'), baseOffset: r.uvarint('baseOffset') });
  return { type: 'produced', corr, batches };
}

// [EDGE-12.15]
function readGroups(r: BodyReader): GroupsFrame {
  const corr = r.uvarint('corr');
  const count = r.count('group count');
  const groups: GroupsFrame['groups'] = [];
  for (let i = 0; i < count && r.ok; i++) {
    groups.push({ name: r.str('name'), state: readEnum<GroupStateCode>(r, 'state', GROUP_STATE_MAX), members: r.uvarint('members') });
  }
  return { type: 'groups', corr, groups };
}

// [EDGE-12.17]
function readGroupDescription(r: BodyReader): GroupDescriptionFrame {
  const corr = r.uvarint('corr');
  const group = r.str('group');
  const state = readEnum<GroupStateCode>(r, 'state', GROUP_STATE_MAX);
  const strategy = readEnum<StrategyCode>(r, 'strategy', STRATEGY_MAX);
  const generation = r.uvarint('generation');
  const memberCount = r.count('member count');
  const members: GroupMemberDescription[] = [];
  for (let i = 0; i < memberCount && r.ok; i++) {
    members.push({
      memberId: r.str('memberId'),
      instanceId: r.str('instanceId'),
      clientId: r.str('clientId'),
      host: r.str('host'),
      assignment: readTopicPartitions(r),
    });
  }
  const partitionCount = r.count('partition count');
  const partitions: GroupPartitionDescription[] = [];
  for (let i = 0; i < partitionCount && r.ok; i++) {
    partitions.push({
      topic: r.str('topic'),
      partition: r.uvarint('partition'),
      committed: r.zigzag('committed'),
      metadata: r.str('metadata'),
      logStartOffset: r.uvarint('logStartOffset'),
      logEndOffset: r.uvarint('logEndOffset'),
      memberId: r.str('memberId'),
    });
  }
  return { type: 'group-description', corr, group, state, strategy, generation, members, partitions };
}

// [EDGE-12.18]
function readResetOffsets(r: BodyReader): ResetOffsetsFrame {
  return {
    type: 'reset-offsets',
    corr: r.uvarint('corr'),
    group: r.str('group'),
    topic: r.str('topic'),
    partition: r.zigzag('partition'),
    mode: readEnum<ResetMode>(r, 'mode', RESET_MODE_MAX),
    value: r.zigzag('value'),
    execute: (r.flags('flags', RESET_EXECUTE) & RESET_EXECUTE) !== 0,
  };
}

// [EDGE-12.19]
function readOffsetsReset(r: BodyReader): OffsetsResetFrame {
  const corr = r.uvarint('corr');
  const count = r.count('entry count');
  const entries: OffsetsResetFrame['entries'] = [];
  for (let i = 0; i < count && r.ok; i++) {
    entries.push({ topic: r.str('topic'), partition: r.uvarint('partition'), previous: r.zigzag('previous'), offset: r.uvarint('offset') });
  }
  return { type: 'offsets-reset', corr, entries };
}

// ---------------------------------------------------------------------------------------------
// Stream decoding [EDGE-2].

/** Smallest buffer started for a partial frame, so byte-by-byte senders do not cause many regrowths. */
const PARTIAL_MIN_BYTES = 512;
const OVERLONG_LENGTH: DecodeFailure = {
  ok: false,
  reason: 'malformed',
  detail: 'frame length varint is longer than 8 bytes or above 2^53-1',
};
const ZERO_LENGTH: DecodeFailure = { ok: false, reason: 'malformed', detail: 'frame length 0: a frame holds at least its type byte' };

/**
 * Splits a byte stream into frames. Never throws; the first failure poisons the decoder.
 *
 * Memory: a length is checked against frameBytesMax as soon as its varint is complete, before any
 * of the frame is buffered. A partial frame is held in a buffer that grows (doubling, never beyond
 * the frame's length) with the bytes actually received, so bufferedBytes ≤ frameBytesMax + 8
 * whatever a peer claims, and each byte is copied O(1) times on average.
 *
 * Lifetime of decoded byte fields: they are views, either into a pushed chunk (frames complete in
 * it) or into a buffer allocated for that one frame. The decoder never writes to a buffer after
 * handing it out, so frames stay valid for as long as the caller keeps them, provided the caller
 * does not mutate chunks after pushing them. A retained view keeps its whole chunk alive: copy small
 * fields that are kept for long.
 */
export class FrameDecoder {
  private frameBytesMax = 0;
  private failure: DecodeFailure | null = null;
  private readonly slot: VarintSlot = { value: 0 };
  /** A length varint split across chunks (at most 8 bytes) [EDGE-3.2]. */
  private readonly lengthBytes = new Uint8Array(VARINT_BYTES_MAX);
  private lengthFilled = 0;
  /** Type byte and body of the frame being assembled; its capacity may be below partialLength. */
  private partial: Buffer | null = null;
  private partialFilled = 0;
  private partialLength = 0;

  constructor(frameBytesMax: number) {
    this.setFrameBytesMax(frameBytesMax);
  }

  /** Applies to every length read from now on; a frame already being assembled keeps its limit. */
  setFrameBytesMax(n: number): void {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`frameBytesMax ${n} must be a positive integer`);
    this.frameBytesMax = n;
  }

  /** The length field of the frame being assembled, 0 when none is: what it will hold once complete. */
  get partialFrameBytes(): number {
    return this.partial === null ? 0 : this.partialLength;
  }

  /** Bytes held for incomplete frames: a header fragment or the partial frame's buffer. */
  get bufferedBytes(): number {
    return this.lengthFilled + (this.partial === null ? 0 : this.partial.length);
  }

  push(chunk: Uint8Array): PushResult {
    const frames: Frame[] = [];
    let pos = 0;
    while (this.failure === null && pos < chunk.length) {
      pos = this.partial === null ? this.startFrame(chunk, pos, frames) : this.fillPartial(chunk, pos, frames);
    }
    return this.failure === null ? { frames } : { frames, failure: this.failure };
  }

  /** Reads a length at pos and then the frame, directly from the chunk when it is complete there. */
  private startFrame(chunk: Uint8Array, pos: number, frames: Frame[]): number {
    const start = this.readLength(chunk, pos);
    if (start === VARINT_NEED_MORE) return chunk.length;
    const failure = start === VARINT_MALFORMED ? OVERLONG_LENGTH : this.checkLength(this.slot.value);
    if (failure !== null) {
      this.fail(failure);
      return chunk.length;
    }
    const length = this.slot.value;
    if (chunk.length - start >= length) {
      this.emit(chunk.subarray(start, start + length), frames);
      return start + length;
    }
    this.partialLength = length;
    this.partialFilled = 0;
    this.partial = Buffer.allocUnsafe(Math.min(length, Math.max(chunk.length - start, PARTIAL_MIN_BYTES)));
    return this.fillPartial(chunk, start, frames);
  }

  // [EDGE-2.1] [EDGE-2.2]
  private checkLength(length: number): DecodeFailure | null {
    if (length === 0) return ZERO_LENGTH;
    if (length > this.frameBytesMax) {
      return { ok: false, reason: 'frame-too-large', frameBytes: length, frameBytesMax: this.frameBytesMax };
    }
    return null;
  }

  /**
   * Returns the position after a length varint that may have begun in earlier chunks, or a
   * VARINT_* status; the length is left in this.slot.
   */
  private readLength(chunk: Uint8Array, pos: number): number {
    const staged = this.lengthFilled;
    if (staged === 0) {
      const next = readUvarint(chunk, pos, this.slot);
      if (next === VARINT_NEED_MORE) {
        this.lengthBytes.set(chunk.subarray(pos));
        this.lengthFilled = chunk.length - pos;
      }
      return next;
    }
    const take = Math.min(VARINT_BYTES_MAX - staged, chunk.length - pos);
    this.lengthBytes.set(chunk.subarray(pos, pos + take), staged);
    const next = readUvarint(this.lengthBytes, 0, this.slot, staged + take);
    if (next === VARINT_NEED_MORE) {
      this.lengthFilled = staged + take;
      return next;
    }
    this.lengthFilled = 0;
    return next < 0 ? next : pos + next - staged;
  }

  private fillPartial(chunk: Uint8Array, pos: number, frames: Frame[]): number {
    const take = Math.min(this.partialLength - this.partialFilled, chunk.length - pos);
    const filled = this.partialFilled + take;
    let partial = this.partial as Buffer;
    if (filled > partial.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.partialLength, Math.max(filled, partial.length * 2)));
      grown.set(partial.subarray(0, this.partialFilled));
      this.partial = partial = grown;
    }
    partial.set(chunk.subarray(pos, pos + take), this.partialFilled);
    this.partialFilled = filled;
    if (filled === this.partialLength) {
      this.partial = null;
      this.emit(partial, frames);
    }
    return pos + take;
  }

  /** frameBytes = type byte + body. */
  private emit(frameBytes: Uint8Array, frames: Frame[]): void {
    const result = decodeFrame(frameBytes.subarray(1), frameBytes[0]);
    if (isDecodeFailure(result)) this.fail(result);
    else frames.push(result);
  }

  private fail(failure: DecodeFailure): void {
    this.failure = failure;
    this.partial = null;
    this.lengthFilled = 0;
  }
}
