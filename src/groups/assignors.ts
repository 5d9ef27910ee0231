// Partition assignors for the broker-side group coordinator: which member of a group reads which
// partition, as Kafka's RangeAssignor, RoundRobinAssignor and StickyAssignor decide it. Pure functions
// of their arguments: no I/O, no clock, no randomness, no imports but types, so the same members and
// topics always give the same assignment and the coordinator can call them inside a rebalance.
//
// What every strategy guarantees:
// - every partition of every topic that exists and that at least one member subscribes to goes to
//   exactly one member, and only to a member that subscribes to its topic; nothing else is assigned;
// - every member is in the result (an empty list when it gets nothing, e.g. more members than
//   partitions); topics are sorted, partitions ascending;
// - members are ordered by (instanceId ?? memberId, memberId), so a restarted static member that comes
//   back with a new memberId but the same instance id takes the same place (Kafka does this for range);
//   names compare by UTF-16 code units, as Java's String.compareTo does.
//
// sticky (the default) guarantees, in this order:
// 1. Balance. No "cost-reducing path" is left: no chain of moves m0 -> m1 -> ... -> mk (each mi holds a
//    partition of a topic m(i+1) subscribes to) from a member with n partitions to one with n-2 or
//    fewer. By the semi-matching theorem (Harvey, Ladner, Lovász, Tamir 2003) that makes the counts as
//    balanced as the subscriptions allow: the largest count is the smallest possible, and so on down.
//    In particular members with the same subscriptions differ by at most one partition, so when every
//    member subscribes to the same topics all counts are floor(n/m) or ceil(n/m) — also in the
//    classic counter-case where round-robin would load the member with the most subscriptions.
// 2. Few moves. A member keeps the partitions it held in the previous generation that still exist and
//    that it still subscribes to (a partition two members claim stays with the first in member order),
//    as far as balance allows:
//    - when every member subscribes to the same topics (Kafka's constrained case), each keeps
//      min(held, its share), the share being floor(n/m), or ceil(n/m) for n mod m members that held
//      that many (first in member order); the rest fill the members below their share. That is the
//      fewest moves any balanced assignment needs. One pass over the partitions.
//    - otherwise every held partition is kept, partitions nobody holds go to their least loaded
//      subscriber (those with the fewest subscribers first), and balance is then restored along
//      shortest cost-reducing paths, moving partitions their holder only got in this round before ones
//      it held. The balance is exact; the number of moves is not proven minimal. Each move costs a
//      search of the group (members x topics), so a rebalance that moves many partitions costs more.

export type AssignStrategy = 'sticky' | 'range' | 'roundrobin';
export interface TopicPartitions { topic: string; partitions: number[] }
export interface AssignMember {
  memberId: string;
  /** Static members sort by instance id so a restarted member gets the same place (Kafka does this for range). */
  instanceId: string | null;
  /** Topic names this member subscribes to (already resolved from its pattern). */
  topics: string[];
  /** What it owned in the previous generation (sticky uses it; others ignore it). */
  previous: TopicPartitions[];
}
/** topic -> partition count, for the topics any member subscribes to that exist. */
export type TopicCounts = ReadonlyMap<string, number>;

/** memberId -> its assignment (every member present, possibly empty; topics sorted, partitions ascending). */
export function assign(strategy: AssignStrategy, members: AssignMember[], topics: TopicCounts): Map<string, TopicPartitions[]> {
  const g = layout(members, topics);
  const owner = strategy === 'range' ? rangeOwners(g) : strategy === 'roundrobin' ? roundRobinOwners(g) : stickyOwners(g);
  const result = new Map<string, TopicPartitions[]>();
  for (const m of g.members) result.set(m.memberId, []);
  // Partition ids run topic by topic in sorted order, partitions ascending: appending keeps both sorted.
  for (let p = 0; p < owner.length; p++) {
    const list = result.get(g.members[owner[p]].memberId)!;
    const topic = g.topicNames[g.partTopic[p]];
    const last = list[list.length - 1];
    if (last?.topic === topic) last.partitions.push(g.partNum[p]);
    else list.push({ topic, partitions: [g.partNum[p]] });
  }
  return result;
}

/** The problem in indices: members 0..M-1 in assignment order, subscribed topics 0..T-1 sorted, partitions 0..P-1. */
interface Layout {
  members: AssignMember[];
  topicNames: string[];
  topicIndex: Map<string, number>;
  /** First partition id of each topic; its partitions are base[t] .. base[t] + count - 1. */
  base: number[];
  counts: number[];
  partTopic: number[];
  partNum: number[];
  /** subscribed[i][t]: member i subscribes to topic t. */
  subscribed: boolean[][];
  /** Members subscribing to each topic, in member order. */
  subscribers: number[][];
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function layout(input: AssignMember[], topics: TopicCounts): Layout {
  const members = [...input].sort((a, b) => compare(a.instanceId ?? a.memberId, b.instanceId ?? b.memberId) || compare(a.memberId, b.memberId));
  for (let i = 1; i < members.length; i++) {
    // The coordinator keys members by id: two with one id is a bug there, not input to work around.
    if (members[i].memberId === members[i - 1].memberId) throw new Error(`assign: member id ${members[i].memberId} given twice`);
  }
  const wanted = new Set<string>();
  for (const m of members) for (const t of m.topics) if ((topics.get(t) ?? 0) > 0) wanted.add(t);
  const topicNames = [...wanted].sort(compare);
  const topicIndex = new Map(topicNames.map((t, i) => [t, i]));
  const base: number[] = [];
  const counts: number[] = [];
  const partTopic: number[] = [];
  const partNum: number[] = [];
  topicNames.forEach((name, t) => {
    base.push(partTopic.length);
    counts.push(topics.get(name)!);
    for (let q = 0; q < counts[t]; q++) {
      partTopic.push(t);
      partNum.push(q);
    }
  });
  const subscribed = members.map((m) => {
    const row = new Array<boolean>(topicNames.length).fill(false);
    for (const name of m.topics) {
      const t = topicIndex.get(name);
      if (t !== undefined) row[t] = true;
    }
    return row;
  });
  const subscribers = topicNames.map((_, t) => members.flatMap((_m, i) => (subscribed[i][t] ? [i] : [])));
  return { members, topicNames, topicIndex, base, counts, partTopic, partNum, subscribed, subscribers };
}

/** Per topic, its subscribers in order each take a contiguous range; the first (count mod subscribers) one more. */
function rangeOwners(g: Layout): number[] {
  const owner = new Array<number>(g.partTopic.length);
  g.subscribers.forEach((subs, t) => {
    const per = Math.floor(g.counts[t] / subs.length);
    const extra = g.counts[t] % subs.length;
    subs.forEach((member, k) => {
      const start = per * k + Math.min(k, extra);
      const end = start + per + (k < extra ? 1 : 0);
      for (let q = start; q < end; q++) owner[g.base[t] + q] = member;
    });
  });
  return owner;
}

/** All partitions in (topic, partition) order dealt round the members, skipping those not subscribed to the topic. */
function roundRobinOwners(g: Layout): number[] {
  const owner = new Array<number>(g.partTopic.length);
  const m = g.members.length;
  let next = 0;
  for (let p = 0; p < owner.length; p++) {
    // Ends: only topics somebody subscribes to have partitions here.
    while (!g.subscribed[next % m][g.partTopic[p]]) next++;
    owner[p] = next % m;
    next = (next + 1) % m;
  }
  return owner;
}

function stickyOwners(g: Layout): number[] {
  const P = g.partTopic.length;
  const T = g.topicNames.length;
  const owner = new Array<number>(P).fill(-1);
  /** Who held each partition in the previous generation (and was allowed to keep it), -1 none. */
  const held = new Array<number>(P).fill(-1);
  const load = new Array<number>(g.members.length).fill(0);
  /** ownedIn[i][t]: partitions of topic t member i holds now: the edges of the move graph. */
  const ownedIn = g.members.map(() => new Array<number>(T).fill(0));
  const give = (p: number, to: number) => {
    const from = owner[p];
    if (from >= 0) {
      load[from]--;
      ownedIn[from][g.partTopic[p]]--;
    }
    owner[p] = to;
    load[to]++;
    ownedIn[to][g.partTopic[p]]++;
  };

  g.members.forEach((m, i) => {
    for (const tp of m.previous) {
      const t = g.topicIndex.get(tp.topic);
      if (t === undefined || !g.subscribed[i][t]) continue;
      for (const q of tp.partitions) {
        if (!Number.isInteger(q) || q < 0 || q >= g.counts[t] || owner[g.base[t] + q] !== -1) continue;
        held[g.base[t] + q] = i;
        give(g.base[t] + q, i);
      }
    }
  });

  const same = (row: boolean[]) => row.every((v, t) => v === g.subscribed[0][t]);
  if (g.subscribed.every(same)) return equalShares(owner, load.length);

  // The least choice first: a partition few members may take is placed before the flexible ones fill them.
  const free = [...owner.keys()].filter((p) => owner[p] === -1);
  free.sort((a, b) => g.subscribers[g.partTopic[a]].length - g.subscribers[g.partTopic[b]].length || a - b);
  for (const p of free) {
    let best = -1;
    for (const i of g.subscribers[g.partTopic[p]]) if (best === -1 || load[i] < load[best]) best = i;
    give(p, best);
  }

  // Level by level from the top: once no member with `level` partitions has a path to one with
  // level-2 or fewer, moves along paths between lower members cannot create one (such a path cannot
  // touch a member reachable from the top, or its end would be reachable too), so each level is done once.
  // Each move along a path lowers the sum of squared loads, so the loops end.
  const active = [...load.keys()].filter((i) => g.subscribed[i].includes(true));
  for (let level = Math.max(0, ...load); level >= 2; level--) {
    for (;;) {
      const path = shortestPath(g, load, ownedIn, active, level);
      if (path === null) break;
      for (const { from, to, topic } of path) give(pickToMove(g, owner, held, from, topic), to);
    }
  }
  return owner;
}

/**
 * Every member may take every partition (Kafka's constrained case), so the shares are known up front:
 * floor(n/m) each and one more for n mod m members. A member keeps what it held up to its share, the
 * one more going to members that held that many, first in member order: no balanced assignment keeps
 * more. What is left fills the members below their share, in member order. One pass, no search.
 * `owner` holds the previous owners (-1 none) and is filled in.
 */
function equalShares(owner: number[], members: number): number[] {
  const share = Math.floor(owner.length / members);
  let extraLeft = owner.length % members;
  const heldBy: number[][] = Array.from({ length: members }, () => []);
  owner.forEach((i, p) => {
    if (i >= 0) heldBy[i].push(p);
  });
  const quota = heldBy.map((list) => {
    if (list.length <= share) return share;
    if (extraLeft === 0) return share;
    extraLeft--;
    return share + 1;
  });
  heldBy.forEach((list, i) => {
    for (const p of list.slice(quota[i])) owner[p] = -1;
  });
  // Members that still hold fewer than `share` partitions get them first, then the remaining
  // (at most extraLeft) partitions go one each to members that have `share`.
  // There are exactly enough: n = m * share + (n mod m), and the kept ones fit in those shares.
  const count = heldBy.map((list, i) => Math.min(list.length, quota[i]));
  let next = 0;
  const take = (i: number) => {
    while (next < owner.length && owner[next] !== -1) next++;
    // A miscount here is a bug: fail the rebalance rather than loop or leave a partition unassigned.
    if (next === owner.length) throw new Error('assign: sticky shares exceed the partitions');
    owner[next] = i;
    count[i]++;
  };
  for (let i = 0; i < members; i++) while (count[i] < share) take(i);
  for (let i = 0; i < members && extraLeft > 0; i++) {
    if (count[i] > share) continue;
    take(i);
    extraLeft--;
  }
  return owner;
}

interface Step { from: number; to: number; topic: number }

/**
 * Breadth-first from every member holding `level` partitions to the least loaded member it reaches,
 * when that one holds level-2 or fewer (the nearest of those tied); an edge from a to b through topic
 * t means a holds a partition of t and b subscribes to t. Each topic is expanded once: its
 * subscribers are all reached from the first member expanding it.
 * The least loaded, not the nearest: a member filled only to level-1 here could have to give a
 * partition away again at a lower level, one move more than needed.
 */
function shortestPath(g: Layout, load: number[], ownedIn: number[][], active: number[], level: number): Step[] | null {
  const via: (Step | null)[] = g.members.map(() => null);
  const seen = load.map((l) => l === level);
  const expanded = new Array<boolean>(g.topicNames.length).fill(false);
  const queue = [...load.keys()].filter((i) => seen[i]);
  // Nobody reached can hold fewer than the least loaded member that subscribes to anything: the
  // search stops when it reaches one (the nearest of the least loaded, as a full search would pick).
  const lowest = Math.min(...active.map((i) => load[i]));
  let target = -1;
  search: for (let head = 0; head < queue.length; head++) {
    const from = queue[head];
    for (let topic = 0; topic < expanded.length; topic++) {
      if (expanded[topic] || ownedIn[from][topic] === 0) continue;
      expanded[topic] = true;
      for (const to of g.subscribers[topic]) {
        if (seen[to]) continue;
        seen[to] = true;
        via[to] = { from, to, topic };
        if (load[to] <= level - 2 && (target === -1 || load[to] < load[target])) target = to;
        if (target !== -1 && load[target] === lowest) break search;
        queue.push(to);
      }
    }
  }
  if (target === -1) return null;
  const path: Step[] = [];
  for (let step = via[target]; step !== null; step = via[step.from]) path.push(step);
  return path;
}

/** A partition of `topic` that `from` holds: one it did not hold before this round if any (moving it costs the group nothing). */
function pickToMove(g: Layout, owner: number[], held: number[], from: number, topic: number): number {
  let pick = -1;
  for (let p = g.base[topic]; p < g.base[topic] + g.counts[topic]; p++) {
    if (owner[p] !== from) continue;
    if (held[p] !== from) return p;
    if (pick === -1) pick = p;
  }
  return pick;
}
