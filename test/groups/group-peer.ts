// A consumer-group member as a tiny client would write it: raw edge protocol version 2 frames on one
// socket, no assignor, no background loop. Each call sends one frame and waits for the answer with its
// corr (or the ERROR that refers to it), so tests drive rebalances step by step.
import { ErrorCode, type ErrorName } from '../../src/errors.ts';
import type {
  ErrorFrame,
  Frame,
  JoinedFrame,
  JoinGroupFrame,
  OffsetsFrame,
  StrategyCode,
  TopicPartitionList,
} from '../../src/protocol/edge/frames.ts';
import { RawPeer } from '../helpers/raw-edge.ts';

const nameByCode = new Map<number, ErrorName>(Object.entries(ErrorCode).map(([name, code]) => [code, name as ErrorName]));

/** A request's answer or the stable name of the error it got. */
export type Answer<T extends Frame = Frame> = { ok: true; frame: T } | { ok: false; code: ErrorName; message: string };

type Request = Frame extends infer F ? (F extends { corr: number } ? Omit<F, 'corr'> : never) : never;

export class GroupPeer {
  private nextCorr = 1;
  private nextSeq = 1;
  private readonly aliases = new Map<string, number>();

  private constructor(
    readonly raw: RawPeer,
    readonly port: number,
  ) {}

  static async connect(port: number, clientId = 'tiny'): Promise<GroupPeer> {
    const raw = await RawPeer.hello(port, { version: 2, clientId });
    const welcome = raw.frames[0]!;
    if (welcome.type !== 'welcome' || welcome.version !== 2) throw new Error(`no version 2 welcome: ${JSON.stringify(welcome)}`);
    return new GroupPeer(raw, port);
  }

  /** Sends a request; resolves with its answer or error. Several may be outstanding. */
  async call<T extends Frame = Frame>(req: Request, timeoutMs = 20_000): Promise<Answer<T>> {
    const corr = this.nextCorr++;
    this.raw.send({ ...req, corr } as Frame);
    const f = await this.raw.waitFor((x) => ('corr' in x && x.corr === corr) || (x.type === 'error' && x.refKind === 'request' && x.ref === corr), timeoutMs);
    return answerOf<T>(f);
  }

  /** Sends without waiting; the returned function waits for the answer. */
  send<T extends Frame = Frame>(req: Request): (timeoutMs?: number) => Promise<Answer<T>> {
    const corr = this.nextCorr++;
    this.raw.send({ ...req, corr } as Frame);
    return async (timeoutMs = 20_000) =>
      answerOf<T>(await this.raw.waitFor((x) => ('corr' in x && x.corr === corr) || (x.type === 'error' && x.refKind === 'request' && x.ref === corr), timeoutMs));
  }

  /** Whether the answer to a request sent with send() has arrived (without waiting). */
  answered(corr: number): boolean {
    return this.raw.frames.some((x) => ('corr' in x && x.corr === corr) || (x.type === 'error' && x.refKind === 'request' && x.ref === corr));
  }

  get lastCorr(): number {
    return this.nextCorr - 1;
  }

  async alias(topic: string): Promise<number> {
    let alias = this.aliases.get(topic);
    if (alias !== undefined) return alias;
    alias = this.aliases.size + 1;
    this.aliases.set(topic, alias);
    ok(await this.call({ type: 'register', alias, topic, create: false }));
    return alias;
  }

  async createTopic(name: string, partitions: number, grow = false): Promise<void> {
    ok(await this.call({ type: 'create-topic', name, partitions, retentionMs: -2, retentionBytes: -2, grow }));
  }

  /** Appends the values to one partition (acks 1), timestamps base + i × stepMs (base 0 = now); resolves with the first offset. */
  async produce(topic: string, partition: number, values: string[], baseTimestampMs = 0, stepMs = 0): Promise<number> {
    const alias = await this.alias(topic);
    const seq = this.nextSeq++;
    this.raw.send({
      type: 'produce',
      seq,
      alias,
      partition,
      acks: 1,
      baseTimestampMs,
      records: values.map((v, i) => ({ timestampDeltaMs: i * stepMs, key: null, value: Buffer.from(v), headers: [] })),
    });
    const f = await this.raw.waitFor((x) => (x.type === 'ack' && x.entries.some((e) => e.seq === seq)) || (x.type === 'error' && x.refKind === 'produce' && x.ref === seq));
    if (f.type === 'error') throw new Error(`produce failed: ${f.message}`);
    if (f.type !== 'ack') throw new Error('unreachable');
    return f.entries.find((e) => e.seq === seq)!.baseOffset;
  }

  async commit(group: string, memberId: string, generation: number, offsets: { topic: string; partition: number; offset: number; metadata?: string }[]): Promise<Answer> {
    const entries = [];
    for (const o of offsets) entries.push({ alias: await this.alias(o.topic), partition: o.partition, offset: o.offset, metadata: o.metadata ?? '' });
    return this.call({ type: 'commit-offsets', group, memberId, generation, offsets: entries });
  }

  /** Committed offsets of the partitions, in order (-1 = none). */
  async fetchOffsets(group: string, partitions: { topic: string; partition: number }[]): Promise<{ offset: number; metadata: string }[]> {
    const wanted = [];
    for (const p of partitions) wanted.push({ alias: await this.alias(p.topic), partition: p.partition });
    const f = ok<OffsetsFrame>(await this.call({ type: 'fetch-offsets', group, partitions: wanted }));
    return f.offsets.map((o) => ({ offset: o.offset, metadata: o.metadata }));
  }
}

/** One member: its connection and what the broker last told it. */
export class Member {
  memberId = '';
  generation = -1;
  assignment: TopicPartitionList[] = [];
  private pendingJoin: ((timeoutMs?: number) => Promise<Answer<JoinedFrame>>) | null = null;

  constructor(
    readonly peer: GroupPeer,
    readonly group: string,
    readonly join0: Partial<Omit<JoinGroupFrame, 'type' | 'corr' | 'group'>> = {},
  ) {}

  static async connect(port: number, group: string, join: Partial<Omit<JoinGroupFrame, 'type' | 'corr' | 'group'>> = {}, clientId = 'tiny'): Promise<Member> {
    return new Member(await GroupPeer.connect(port, clientId), group, join);
  }

  /** Sends JOIN_GROUP (with the member id it has, '' at first) without waiting for the rebalance. */
  startJoin(): void {
    this.pendingJoin = this.peer.send<JoinedFrame>({
      type: 'join-group',
      group: this.group,
      memberId: this.memberId,
      instanceId: '',
      sessionTimeoutMs: 2000,
      rebalanceTimeoutMs: 0,
      strategy: 0 as StrategyCode,
      pattern: '',
      topics: [],
      ...this.join0,
    });
  }

  /** Waits for the JOINED of the last startJoin(); remembers member id, generation and assignment. */
  async joined(): Promise<JoinedFrame> {
    const a = await this.pendingJoin!();
    this.pendingJoin = null;
    const f = ok(a);
    Object.assign(this, { memberId: f.memberId, generation: f.generation, assignment: f.assignment });
    return f;
  }

  async join(): Promise<JoinedFrame> {
    this.startJoin();
    return this.joined();
  }

  /** 'OK' or the error's name. */
  async heartbeat(generation = this.generation): Promise<ErrorName | 'OK'> {
    return codeOf(await this.peer.call({ type: 'heartbeat', group: this.group, memberId: this.memberId, generation }));
  }

  async leave(): Promise<ErrorName | 'OK'> {
    return codeOf(await this.peer.call({ type: 'leave-group', group: this.group, memberId: this.memberId }));
  }

  async commit(offsets: { topic: string; partition: number; offset: number; metadata?: string }[], generation = this.generation): Promise<ErrorName | 'OK'> {
    return codeOf(await this.peer.commit(this.group, this.memberId, generation, offsets));
  }

  partitions(topic: string): number[] {
    return [...(this.assignment.find((a) => a.topic === topic)?.partitions ?? [])].sort((a, b) => a - b);
  }
}

function answerOf<T extends Frame>(f: Frame): Answer<T> {
  if (f.type === 'error') return { ok: false, code: nameByCode.get((f as ErrorFrame).code) ?? 'UNKNOWN', message: f.message };
  return { ok: true, frame: f as T };
}

export function ok<T extends Frame = Frame>(a: Answer<T>): T {
  if (!a.ok) throw new Error(`expected an answer, got ${a.code}: ${a.message}`);
  return a.frame;
}

export function codeOf(a: Answer): ErrorName | 'OK' {
  return a.ok ? 'OK' : a.code;
}

/** Every topic-partition of the members' assignments, as "topic/partition", sorted. */
export function assigned(members: Member[], topic?: string): string[] {
  return members
    .flatMap((m) => m.assignment.filter((a) => topic === undefined || a.topic === topic).flatMap((a) => a.partitions.map((p) => `${a.topic}/${p}`)))
    .sort();
}

/**
 * The eager rebalance as a tiny client runs it: each member already in the group learns of the
 * rebalance from its heartbeat and joins again; resolves when all (and the newcomers) are answered.
 */
export async function rejoinAll(existing: Member[], newcomers: Member[] = []): Promise<JoinedFrame[]> {
  for (const m of newcomers) m.startJoin();
  for (const m of existing) {
    const hb = await m.heartbeat();
    if (hb !== 'REBALANCE_IN_PROGRESS') throw new Error(`member ${m.memberId} heartbeat: ${hb}, expected REBALANCE_IN_PROGRESS`);
    m.startJoin();
  }
  const out: JoinedFrame[] = [];
  for (const m of [...existing, ...newcomers]) out.push(await m.joined());
  return out;
}
