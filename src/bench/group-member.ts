// A consumer-group member for the group benchmarks, on the client's EdgeClient directly: it joins,
// heartbeats every heartbeatMs the broker gave it, and joins again at once when a heartbeat is
// answered REBALANCE_IN_PROGRESS, as a real client that polls in a tight loop does. It fetches
// nothing, so what the benchmarks time is the group protocol alone. Every JOINED answer is stamped
// with performance.now() as it arrives.

import { asTributaryError, TributaryError } from '../errors.ts';
import { EdgeClient } from '../client/connection.ts';
import { Strategy } from '../protocol/edge/frames.ts';

export interface MemberOptions {
  port: number;
  clientId: string;
  group: string;
  topics: string[];
  sessionTimeoutMs: number;
}

export class BenchMember {
  readonly conn: EdgeClient;
  memberId = '';
  /** -1 before the first JOINED. */
  generation = -1;
  /** performance.now() when the latest JOINED arrived. */
  joinedAtMs = 0;
  heartbeatMs = 0;
  /** Partitions per topic of the latest generation. */
  assignment: { topic: string; partitions: number[] }[] = [];
  /** A join is in flight. */
  joining = false;
  /** Why the member stopped: a group error other than a rebalance, or the connection. */
  failure: TributaryError | null = null;
  /** Called once per heartbeat answered OK (the death bench kills the member from here). */
  onHeartbeatOk: (() => void) | null = null;
  private readonly opts: MemberOptions;
  private timer: NodeJS.Timeout | null = null;
  private heartbeating = false;
  private stopped = false;

  private constructor(conn: EdgeClient, opts: MemberOptions) {
    this.conn = conn;
    this.opts = opts;
    conn.once('close', (err) => {
      if (!this.stopped) this.fail(err ?? new TributaryError('UNKNOWN', 'connection closed'));
    });
  }

  static async connect(opts: MemberOptions): Promise<BenchMember> {
    return new BenchMember(await EdgeClient.connect({ port: opts.port, clientId: opts.clientId }), opts);
  }

  /** Joins (again, with its member id once it has one); resolves with the JOINED's arrival time. A refusal is also recorded as the member's failure. */
  async join(): Promise<number> {
    this.stopHeartbeat();
    this.joining = true;
    try {
      const joined = await this.conn.joinGroup({
        group: this.opts.group,
        memberId: this.memberId,
        instanceId: '',
        sessionTimeoutMs: this.opts.sessionTimeoutMs,
        rebalanceTimeoutMs: 0,
        strategy: Strategy.GROUP,
        pattern: '',
        topics: this.opts.topics,
      });
      this.joinedAtMs = performance.now();
      Object.assign(this, { memberId: joined.memberId, generation: joined.generation, heartbeatMs: joined.heartbeatMs, assignment: joined.assignment });
      if (!this.stopped) this.timer = setInterval(() => this.heartbeat(), joined.heartbeatMs);
      return this.joinedAtMs;
    } catch (err) {
      this.fail(asTributaryError(err));
      throw err;
    } finally {
      this.joining = false;
    }
  }

  /** The socket is destroyed with no LEAVE_GROUP: a crashed client, as the broker sees it. */
  kill(): void {
    this.stopped = true;
    this.stopHeartbeat();
    this.conn.destroy();
  }

  /** LEAVE_GROUP (whatever it answers) and close. */
  async leave(): Promise<void> {
    this.stopped = true;
    this.stopHeartbeat();
    if (this.memberId !== '' && !this.conn.closed) await this.conn.leaveGroup({ group: this.opts.group, memberId: this.memberId }).catch(() => undefined);
    await this.conn.close();
  }

  private heartbeat(): void {
    if (this.heartbeating || this.joining || this.stopped) return;
    this.heartbeating = true;
    this.conn
      .heartbeat({ group: this.opts.group, memberId: this.memberId, generation: this.generation })
      .then(
        () => this.onHeartbeatOk?.(),
        (err: unknown) => {
          const error = asTributaryError(err);
          if (this.stopped) return;
          if (error.codeName === 'REBALANCE_IN_PROGRESS') this.join().catch(() => undefined); // recorded as its failure
          else this.fail(error);
        },
      )
      .finally(() => (this.heartbeating = false));
  }

  private stopHeartbeat(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private fail(error: TributaryError): void {
    if (this.stopped) return;
    this.failure = error;
    this.stopped = true;
    this.stopHeartbeat();
  }
}

/** Resolves once every member has JOINED the same generation and none is joining; rejects on a member's failure or after timeoutMs. */
export async function settled(members: readonly BenchMember[], timeoutMs: number, after = -1): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const failed = members.find((m) => m.failure !== null);
    if (failed) throw new Error(`member ${failed.memberId || failed.conn.clientId}: ${failed.failure!.message}`);
    const gen = members[0].generation;
    if (gen > after && members.every((m) => !m.joining && m.generation === gen)) return gen;
    if (performance.now() > deadline) throw new Error(`the group did not settle within ${timeoutMs} ms (generations ${members.map((m) => m.generation).join(', ')})`);
    // Checked every 2 ms: waiting only, the times measured are the members' own stamps.
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
