// Closing the broker while members wait in a join: they are answered SHUTTING_DOWN and none of the
// coordinator's timers (sessions, rebalance, offset expiry) is left armed.
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.ts';
import { startEdgeBroker } from '../helpers/raw-edge.ts';
import { codeOf, GroupPeer, Member, rejoinAll } from './group-peer.ts';

type TimerState = 'armed' | 'fired' | 'cleared';

/**
 * Records the timers created from src/groups/coordinator.ts through the global timer functions, and
 * whether each is still armed: fired (a timeout), cleared, or armed again by refresh().
 */
function watchCoordinatorTimers(): { armed: () => number; created: () => number; restore: () => void } {
  const states = new Map<NodeJS.Timeout, TimerState>();
  const original = { setTimeout, clearTimeout, setInterval, clearInterval };
  const fromCoordinator = () => (new Error().stack ?? '').includes('groups/coordinator.ts');
  const track = (t: NodeJS.Timeout) => {
    const refresh = t.refresh.bind(t);
    t.refresh = () => {
      if (states.get(t) !== 'cleared') states.set(t, 'armed');
      return refresh();
    };
    states.set(t, 'armed');
    return t;
  };
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    if (!fromCoordinator()) return original.setTimeout(fn, ms);
    const t: NodeJS.Timeout = original.setTimeout(() => {
      states.set(t, 'fired');
      fn();
    }, ms);
    return track(t);
  }) as typeof setTimeout;
  globalThis.setInterval = ((fn: () => void, ms?: number) => {
    const t = original.setInterval(fn, ms);
    return fromCoordinator() ? track(t) : t;
  }) as typeof setInterval;
  const clear = (t: NodeJS.Timeout | undefined) => {
    if (t !== undefined && states.has(t)) states.set(t, 'cleared');
  };
  globalThis.clearTimeout = ((t: NodeJS.Timeout | undefined) => {
    clear(t);
    original.clearTimeout(t);
  }) as typeof clearTimeout;
  globalThis.clearInterval = ((t: NodeJS.Timeout | undefined) => {
    clear(t);
    original.clearInterval(t);
  }) as typeof clearInterval;
  return {
    armed: () => [...states.values()].filter((s) => s === 'armed').length,
    created: () => states.size,
    restore: () => Object.assign(globalThis, original),
  };
}

let restore: (() => void) | null = null;
afterEach(() => {
  restore?.();
  restore = null;
});

describe('coordinator shutdown', () => {
  it('answers members waiting in a join SHUTTING_DOWN and leaves no timer armed', async () => {
    const timers = watchCoordinatorTimers();
    restore = timers.restore;
    const running = await startEdgeBroker();
    const port = running.edge!.port;
    const admin = await GroupPeer.connect(port, 'admin');
    await admin.createTopic('t', 3);
    const a = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: 5000 }, 'a');
    const b = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: 5000 }, 'b');
    await rejoinAll([], [a]);
    await rejoinAll([a], [b]);
    // c waits in a join for a and b, who are never told: a rebalance timer and three sessions run.
    const c = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: 5000 }, 'c');
    c.startJoin();
    expect(await a.heartbeat()).toBe('REBALANCE_IN_PROGRESS');
    // A static member too: its session timer survives a restart under a new member id.
    const s1 = await Member.connect(port, 's', { topics: ['t'], instanceId: 'gw' }, 's1');
    await s1.join();
    const s2 = await Member.connect(port, 's', { topics: ['t'], instanceId: 'gw' }, 's2');
    await s2.join();
    expect(timers.armed()).toBeGreaterThanOrEqual(5);

    await running.close();
    const error = await c.peer.raw.waitFor((f) => f.type === 'error');
    expect(error).toMatchObject({ code: ErrorCode.SHUTTING_DOWN });
    await c.peer.raw.waitClosed();
    expect(timers.created()).toBeGreaterThan(0);
    expect(timers.armed()).toBe(0);
  });

  it('a pending join is answered SHUTTING_DOWN on its connection when the coordinator closes, and later joins too', async () => {
    const running = await startEdgeBroker();
    const port = running.edge!.port;
    const admin = await GroupPeer.connect(port, 'admin');
    await admin.createTopic('t', 3);
    const a = await Member.connect(port, 'g', { topics: ['t'] }, 'a');
    await a.join();
    const b = await Member.connect(port, 'g', { topics: ['t'] }, 'b');
    b.startJoin();
    const waiting = b.peer.lastCorr;
    expect(await a.heartbeat()).toBe('REBALANCE_IN_PROGRESS');
    expect(b.peer.answered(waiting)).toBe(false);
    running.broker.groups.close();
    await expect(b.joined()).rejects.toThrow(/SHUTTING_DOWN/);
    expect(codeOf(await new Member(admin, 'h', { topics: ['t'] }).peer.call({ type: 'join-group', group: 'h', memberId: '', instanceId: '', sessionTimeoutMs: 0, rebalanceTimeoutMs: 0, strategy: 0, pattern: '', topics: ['t'] }))).toBe('SHUTTING_DOWN');
  });
});
