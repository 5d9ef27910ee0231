import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assign, type AssignMember, type AssignStrategy, type TopicPartitions } from '../../src/groups/assignors.ts';

const strategies: AssignStrategy[] = ['sticky', 'range', 'roundrobin'];

const member = (memberId: string, topics: string[], previous: TopicPartitions[] = [], instanceId: string | null = null): AssignMember => ({
  memberId,
  instanceId,
  topics,
  previous,
});

/** "topic/partition" -> memberId, failing on a partition given twice. */
function owners(result: Map<string, TopicPartitions[]>): Map<string, string> {
  const found = new Map<string, string>();
  for (const [memberId, list] of result) {
    for (const { topic, partitions } of list) {
      for (const p of partitions) {
        const key = `${topic}/${p}`;
        expect(found.has(key), `${key} given to ${found.get(key)} and ${memberId}`).toBe(false);
        found.set(key, memberId);
      }
    }
  }
  return found;
}

const count = (list: TopicPartitions[] | undefined) => (list ?? []).reduce((n, tp) => n + tp.partitions.length, 0);

/** The guarantees every strategy gives, checked from the outside. */
function checkValid(result: Map<string, TopicPartitions[]>, members: AssignMember[], topics: Map<string, number>): Map<string, string> {
  expect([...result.keys()].sort()).toEqual(members.map((m) => m.memberId).sort());
  for (const list of result.values()) {
    const names = list.map((tp) => tp.topic);
    expect(names).toEqual([...names].sort());
    expect(new Set(names).size).toBe(names.length);
    for (const tp of list) {
      expect(tp.partitions.length).toBeGreaterThan(0);
      expect(tp.partitions).toEqual([...tp.partitions].sort((a, b) => a - b));
    }
  }
  const found = owners(result);
  const expected = new Set<string>();
  for (const [topic, n] of topics) {
    if (!members.some((m) => m.topics.includes(topic))) continue;
    for (let p = 0; p < n; p++) expected.add(`${topic}/${p}`);
  }
  expect(new Set(found.keys())).toEqual(expected);
  const byId = new Map(members.map((m) => [m.memberId, m]));
  for (const [key, memberId] of found) expect(byId.get(memberId)!.topics).toContain(key.slice(0, key.lastIndexOf('/')));
  return found;
}

describe('every strategy', () => {
  for (const strategy of strategies) {
    it.each([1, 2, 3, 5])(`${strategy}: each partition of a 3-partition topic exactly once among %i members`, (n) => {
      const members = Array.from({ length: n }, (_, i) => member(`m${i}`, ['t']));
      const topics = new Map([['t', 3]]);
      const result = assign(strategy, members, topics);
      checkValid(result, members, topics);
      const counts = [...result.values()].map(count).sort();
      expect(counts).toEqual(n === 5 ? [0, 0, 1, 1, 1] : n === 3 ? [1, 1, 1] : n === 2 ? [1, 2] : [3]);
    });

    it(`${strategy}: assigns nothing of topics nobody subscribes to, ignores topics that do not exist`, () => {
      const members = [member('a', ['t', 'ghost']), member('b', ['ghost'])];
      const topics = new Map([['t', 2], ['other', 4]]);
      const result = assign(strategy, members, topics);
      checkValid(result, members, topics);
      expect(result.get('a')).toEqual([{ topic: 't', partitions: [0, 1] }]);
      expect(result.get('b')).toEqual([]);
    });

    it(`${strategy}: the same input in another order gives the same assignment`, () => {
      const members = [member('c', ['x', 'y']), member('a', ['x']), member('b', ['y', 'x'])];
      const topics = new Map([['x', 5], ['y', 3]]);
      expect(assign(strategy, [...members].reverse(), topics)).toEqual(assign(strategy, members, topics));
    });
  }

  it.each(strategies)('%s: no members, no assignment', (strategy) => {
    expect(assign(strategy, [], new Map([['t', 3]]))).toEqual(new Map());
  });

  it('refuses a member id given twice (a coordinator bug)', () => {
    expect(() => assign('range', [member('a', ['t']), member('a', ['t'])], new Map([['t', 1]]))).toThrow(/given twice/);
  });
});

describe('range', () => {
  it('gives each member a contiguous range per topic, the first ones one more', () => {
    const result = assign('range', [member('c1', ['t0', 't1']), member('c0', ['t0', 't1'])], new Map([['t0', 3], ['t1', 3]]));
    expect(result.get('c0')).toEqual([{ topic: 't0', partitions: [0, 1] }, { topic: 't1', partitions: [0, 1] }]);
    expect(result.get('c1')).toEqual([{ topic: 't0', partitions: [2] }, { topic: 't1', partitions: [2] }]);
  });

  it('splits each topic among its own subscribers only', () => {
    const result = assign('range', [member('a', ['t']), member('b', ['t', 'u']), member('c', ['u'])], new Map([['t', 5], ['u', 2]]));
    expect(result.get('a')).toEqual([{ topic: 't', partitions: [0, 1, 2] }]);
    expect(result.get('b')).toEqual([{ topic: 't', partitions: [3, 4] }, { topic: 'u', partitions: [0] }]);
    expect(result.get('c')).toEqual([{ topic: 'u', partitions: [1] }]);
  });

  it('orders static members by instance id, so a restarted one keeps its range under a new member id', () => {
    const topics = new Map([['t', 4]]);
    const before = assign('range', [member('m-1', ['t'], [], 'i-b'), member('m-2', ['t'], [], 'i-a')], topics);
    const after = assign('range', [member('m-1', ['t'], [], 'i-b'), member('m-9', ['t'], [], 'i-a')], topics);
    expect(before.get('m-2')).toEqual([{ topic: 't', partitions: [0, 1] }]);
    expect(after.get('m-9')).toEqual(before.get('m-2'));
    expect(after.get('m-1')).toEqual([{ topic: 't', partitions: [2, 3] }]);
  });
});

describe('roundrobin', () => {
  it('deals all partitions in (topic, partition) order round the members', () => {
    const result = assign('roundrobin', [member('c0', ['t0', 't1']), member('c1', ['t0', 't1'])], new Map([['t0', 3], ['t1', 3]]));
    expect(result.get('c0')).toEqual([{ topic: 't0', partitions: [0, 2] }, { topic: 't1', partitions: [1] }]);
    expect(result.get('c1')).toEqual([{ topic: 't0', partitions: [1] }, { topic: 't1', partitions: [0, 2] }]);
  });

  it('skips members not subscribed to the topic (the unbalanced classic case)', () => {
    const members = [member('c0', ['t0']), member('c1', ['t0', 't1']), member('c2', ['t0', 't1', 't2'])];
    const result = assign('roundrobin', members, new Map([['t0', 1], ['t1', 2], ['t2', 3]]));
    expect(result.get('c0')).toEqual([{ topic: 't0', partitions: [0] }]);
    expect(result.get('c1')).toEqual([{ topic: 't1', partitions: [0] }]);
    expect(result.get('c2')).toEqual([{ topic: 't1', partitions: [1] }, { topic: 't2', partitions: [0, 1, 2] }]);
  });
});

/** Partitions whose owner changed between two assignments, counting only those some member held before. */
function moved(before: Map<string, string>, after: Map<string, string>): number {
  let n = 0;
  for (const [key, memberId] of before) if (after.get(key) !== undefined && after.get(key) !== memberId) n++;
  return n;
}

const asPrevious = (result: Map<string, TopicPartitions[]>, memberId: string) => result.get(memberId) ?? [];

describe('sticky', () => {
  const topics = new Map([['t', 9]]);

  it('after a member leaves, the others keep what they had and share its partitions', () => {
    const three = [member('a', ['t']), member('b', ['t']), member('c', ['t'])];
    const first = assign('sticky', three, topics);
    const two = [member('a', ['t'], asPrevious(first, 'a')), member('c', ['t'], asPrevious(first, 'c'))];
    const second = assign('sticky', two, topics);
    checkValid(second, two, topics);
    for (const id of ['a', 'c']) {
      expect(second.get(id)![0].partitions).toEqual(expect.arrayContaining(first.get(id)![0].partitions));
    }
    expect([count(second.get('a')), count(second.get('c'))].sort()).toEqual([4, 5]);
  });

  it('after a member joins, only the partitions over the new share move', () => {
    // 9 partitions over 2 members (5 + 4), then 3 members: shares 3 each, so 2 + 1 partitions move.
    const two = [member('a', ['t']), member('b', ['t'])];
    const first = assign('sticky', two, topics);
    const three = [...two.map((m) => member(m.memberId, ['t'], asPrevious(first, m.memberId))), member('c', ['t'])];
    const second = assign('sticky', three, topics);
    const before = checkValid(first, two, topics);
    const after = checkValid(second, three, topics);
    const share = 3;
    const expectedMoves = ['a', 'b'].reduce((n, id) => n + Math.max(0, count(first.get(id)) - share), 0);
    expect(expectedMoves).toBe(3);
    expect(moved(before, after)).toBe(expectedMoves);
    expect([...second.values()].map(count)).toEqual([3, 3, 3]);
  });

  it('with a remainder, members that held more keep the extra partition instead of moving it', () => {
    // 7 partitions: a 4, b 3; then c joins: shares 3, 2, 2 and only 2 partitions need to move.
    const t7 = new Map([['t', 7]]);
    const members = [
      member('a', ['t'], [{ topic: 't', partitions: [0, 1, 2, 3] }]),
      member('b', ['t'], [{ topic: 't', partitions: [4, 5, 6] }]),
      member('c', ['t']),
    ];
    const result = assign('sticky', members, t7);
    checkValid(result, members, t7);
    expect(count(result.get('c'))).toBe(2);
    expect(count(result.get('a')) + count(result.get('b'))).toBe(5);
    expect(result.get('a')![0].partitions.every((p) => p <= 3)).toBe(true);
    expect(result.get('b')![0].partitions.every((p) => p >= 4)).toBe(true);
  });

  it('more members than partitions: the extra members get nothing and the owners keep theirs', () => {
    const t2 = new Map([['t', 2]]);
    const members = [member('a', ['t']), member('b', ['t'], [{ topic: 't', partitions: [0] }]), member('c', ['t'], [{ topic: 't', partitions: [1] }])];
    const result = assign('sticky', members, t2);
    expect(result.get('a')).toEqual([]);
    expect(result.get('b')).toEqual([{ topic: 't', partitions: [0] }]);
    expect(result.get('c')).toEqual([{ topic: 't', partitions: [1] }]);
  });

  it('different subscriptions: balanced where round-robin is not, and sticky when the narrowest member leaves', () => {
    const counts = new Map([['t0', 1], ['t1', 2], ['t2', 3]]);
    const members = [member('c0', ['t0']), member('c1', ['t0', 't1']), member('c2', ['t0', 't1', 't2'])];
    const first = assign('sticky', members, counts);
    expect(first.get('c0')).toEqual([{ topic: 't0', partitions: [0] }]);
    expect(first.get('c1')).toEqual([{ topic: 't1', partitions: [0, 1] }]);
    expect(first.get('c2')).toEqual([{ topic: 't2', partitions: [0, 1, 2] }]);
    const rest = [member('c1', ['t0', 't1'], asPrevious(first, 'c1')), member('c2', ['t0', 't1', 't2'], asPrevious(first, 'c2'))];
    const second = assign('sticky', rest, counts);
    expect(second.get('c1')).toEqual([{ topic: 't0', partitions: [0] }, { topic: 't1', partitions: [0, 1] }]);
    expect(second.get('c2')).toEqual([{ topic: 't2', partitions: [0, 1, 2] }]);
  });

  it('different subscriptions: balances along a chain of moves between members that share no topic', () => {
    // a holds all of x; only b can take x, and b is as loaded as a minus one; b can hand y to c.
    // Balanced, a keeps 3 and c gets 2: one x partition moves a -> b and two y partitions b -> c.
    const counts = new Map([['x', 4], ['y', 3]]);
    const members = [
      member('a', ['x'], [{ topic: 'x', partitions: [0, 1, 2, 3] }]),
      member('b', ['x', 'y'], [{ topic: 'y', partitions: [0, 1, 2] }]),
      member('c', ['y']),
    ];
    const result = assign('sticky', members, counts);
    checkValid(result, members, counts);
    expect([...result.values()].map(count).sort()).toEqual([2, 2, 3]);
    expect(count(result.get('a'))).toBe(3);
    expect(count(result.get('c'))).toBe(2);
  });

  it('different subscriptions: fills the least loaded member first, so no partition moves twice', () => {
    // Four members share t1 and t2, the fifth only z (so this is not the equal-subscriptions case).
    // m0 must give up 2 and m2 keeps its 2; filling m1 up to 2 first would take a third from m0.
    const counts = new Map([['t1', 3], ['t2', 3], ['z', 1]]);
    const members = [
      member('m0', ['t1', 't2'], [{ topic: 't1', partitions: [0, 1, 2] }, { topic: 't2', partitions: [0] }]),
      member('m1', ['t1', 't2']),
      member('m2', ['t1', 't2'], [{ topic: 't2', partitions: [1, 2] }]),
      member('m3', ['t1', 't2']),
      member('zz', ['z']),
    ];
    const result = assign('sticky', members, counts);
    const after = checkValid(result, members, counts);
    const before = new Map([['t1/0', 'm0'], ['t1/1', 'm0'], ['t1/2', 'm0'], ['t2/0', 'm0'], ['t2/1', 'm2'], ['t2/2', 'm2']]);
    expect(moved(before, after)).toBe(2);
    expect(members.map((m) => count(result.get(m.memberId)))).toEqual([2, 1, 2, 1, 1]);
  });

  it('different subscriptions: a member passing a partition on passes one it just got, not one it held', () => {
    // a (x only) holds 4, b holds y0 and gets the free y2, c gets the free y1. Balancing moves one x
    // a -> b and one y b -> c: b hands on y2 and keeps y0.
    const counts = new Map([['x', 4], ['y', 3]]);
    const members = [
      member('a', ['x'], [{ topic: 'x', partitions: [0, 1, 2, 3] }]),
      member('b', ['x', 'y'], [{ topic: 'y', partitions: [0] }]),
      member('c', ['y']),
    ];
    const result = assign('sticky', members, counts);
    const found = checkValid(result, members, counts);
    expect(members.map((m) => count(result.get(m.memberId)))).toEqual([3, 2, 2]);
    expect(found.get('y/0')).toBe('b');
  });

  it('a partition two members claim stays with one of them; stale claims are dropped', () => {
    const counts = new Map([['t', 4], ['u', 1]]);
    const members = [
      member('a', ['t'], [{ topic: 't', partitions: [0, 1, 7, -1] }, { topic: 'gone', partitions: [0] }, { topic: 'u', partitions: [0] }]),
      member('b', ['t', 'u'], [{ topic: 't', partitions: [1, 2] }]),
    ];
    const result = assign('sticky', members, counts);
    const found = checkValid(result, members, counts);
    expect(found.get('t/0')).toBe('a');
    expect(found.get('t/2')).toBe('b');
    expect(['a', 'b']).toContain(found.get('t/1'));
    expect(found.get('u/0')).toBe('b');
  });
});

interface Scenario {
  topics: Map<string, number>;
  members: AssignMember[];
}

const topicPool = ['t0', 't1', 't2', 't3'];

/** Random topics, members, subscriptions (sometimes to a missing topic) and previous claims (sometimes stale or doubled). */
const scenario = (opts: { equalSubscriptions: boolean; cleanPrevious: boolean; membersMax: number; partitionsMax: number }) =>
  fc
    .record({
      counts: fc.array(fc.integer({ min: 0, max: opts.partitionsMax }), { minLength: topicPool.length, maxLength: topicPool.length }),
      subs: fc.array(fc.subarray([...topicPool, 'ghost'], { minLength: 1 }), { minLength: 1, maxLength: opts.membersMax }),
      // Per partition slot: an owner index (members beyond the current ones are members that left).
      claims: fc.array(fc.integer({ min: -1, max: opts.membersMax + 1 }), { minLength: 64, maxLength: 64 }),
      doubles: fc.array(fc.integer({ min: 0, max: opts.membersMax + 1 }), { minLength: 64, maxLength: 64 }),
      statics: fc.array(fc.option(fc.constantFrom('i-a', 'i-b', 'i-c', 'i-d', 'i-e', 'i-f', 'i-g', 'i-h'), { nil: null }), { minLength: opts.membersMax, maxLength: opts.membersMax }),
    })
    .map(({ counts, subs, claims, doubles, statics }): Scenario => {
      const topics = new Map(topicPool.map((t, i) => [t, counts[i]]));
      const usedInstances = new Set<string>();
      const members = subs.map((s, i) => {
        const instance = statics[i];
        const instanceId = instance !== null && !usedInstances.has(instance) ? instance : null;
        if (instanceId !== null) usedInstances.add(instanceId);
        return member(`m${i}`, opts.equalSubscriptions ? subs[0] : s, [], instanceId);
      });
      let slot = 0;
      for (const [topic, n] of topics) {
        for (let p = 0; p < n + (opts.cleanPrevious ? 0 : 1); p++, slot++) {
          const claimants = opts.cleanPrevious ? [claims[slot % 64]] : [claims[slot % 64], doubles[slot % 64]];
          for (const c of claimants) {
            const m = members[c];
            if (m === undefined || (opts.cleanPrevious && !m.topics.includes(topic))) continue;
            const entry = m.previous.find((tp) => tp.topic === topic);
            if (entry) entry.partitions.push(p);
            else m.previous.push({ topic, partitions: [p] });
          }
        }
      }
      return { topics, members };
    });

/** The smallest possible largest load, then second largest and so on, by trying every assignment. */
function bestLoads({ topics, members }: Scenario): number[] {
  const parts: string[][] = [];
  for (const [topic, n] of topics) {
    const eligible = members.filter((m) => m.topics.includes(topic)).map((m) => m.memberId);
    if (eligible.length > 0) for (let p = 0; p < n; p++) parts.push(eligible);
  }
  let best: number[] | null = null;
  const load = new Map(members.map((m) => [m.memberId, 0]));
  const visit = (i: number) => {
    if (i === parts.length) {
      const sorted = [...load.values()].sort((a, b) => b - a);
      const k = best === null ? -1 : sorted.findIndex((v, j) => v !== best![j]);
      if (best === null || (k >= 0 && sorted[k] < best[k])) best = sorted;
      return;
    }
    for (const id of parts[i]) {
      load.set(id, load.get(id)! + 1);
      visit(i + 1);
      load.set(id, load.get(id)! - 1);
    }
  };
  visit(0);
  return best!;
}

describe('properties', () => {
  it('every strategy: each subscribed partition exactly once, only to a subscriber, every member present', () => {
    fc.assert(
      fc.property(scenario({ equalSubscriptions: false, cleanPrevious: false, membersMax: 6, partitionsMax: 8 }), fc.constantFrom(...strategies), ({ topics, members }, strategy) => {
        checkValid(assign(strategy, members, topics), members, topics);
      }),
      { numRuns: 600 },
    );
  });

  it('sticky with equal subscriptions: counts differ by at most one and only the partitions over the new shares move', () => {
    fc.assert(
      fc.property(scenario({ equalSubscriptions: true, cleanPrevious: true, membersMax: 6, partitionsMax: 8 }), ({ topics, members }) => {
        const result = assign('sticky', members, topics);
        const after = checkValid(result, members, topics);
        const loads = members.map((m) => count(result.get(m.memberId)));
        const total = loads.reduce((a, b) => a + b, 0);
        const minShare = Math.floor(total / members.length);
        const extra = total % members.length;
        expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(1);
        // The fewest moves any balanced assignment needs: each member gives up what it held above
        // floor(n/m), less one for each ceil(n/m) share a member that held that many can keep.
        const held = members.map((m) => count(m.previous));
        const fewest = held.reduce((n, h) => n + Math.max(0, h - minShare), 0) - Math.min(extra, held.filter((h) => h >= minShare + 1).length);
        const before = new Map<string, string>();
        for (const m of members) for (const tp of m.previous) for (const p of tp.partitions) before.set(`${tp.topic}/${p}`, m.memberId);
        expect(moved(before, after)).toBe(fewest);
      }),
      { numRuns: 600 },
    );
  });

  it('sticky with any subscriptions: loads as balanced as the subscriptions allow (against every possible assignment)', () => {
    fc.assert(
      fc.property(scenario({ equalSubscriptions: false, cleanPrevious: false, membersMax: 4, partitionsMax: 2 }), (s) => {
        // Trying every assignment is members^partitions: keep it small.
        fc.pre([...s.topics.values()].reduce((a, b) => a + b, 0) <= 6);
        const result = assign('sticky', s.members, s.topics);
        checkValid(result, s.members, s.topics);
        const loads = s.members.map((m) => count(result.get(m.memberId))).sort((a, b) => b - a);
        expect(loads).toEqual(bestLoads(s));
      }),
      { numRuns: 300 },
    );
  });
});
