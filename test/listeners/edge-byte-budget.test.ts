// The byte budget edge connections share: reservations that do not fit wait in arrival order, a
// small one is not let past a larger one ahead of it, and a cancelled waiter stops blocking others.
import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../../src/listeners/edge/byte-budget.ts';

describe('ByteBudget', () => {
  it('grants waiters in arrival order as bytes are released, never a later one first', async () => {
    const budget = new ByteBudget(100);
    expect(budget.tryTake(80)).toBe(true);
    const granted: string[] = [];
    budget.wait(50, () => granted.push('big'));
    budget.wait(10, () => granted.push('small'));
    // 10 bytes would fit now, but the 50 ahead of them came first.
    expect(budget.tryTake(10)).toBe(false);
    await Promise.resolve();
    expect(granted).toEqual([]);
    budget.release(40);
    expect(granted).toEqual(['big', 'small']);
    expect(budget.usedBytes).toBe(100);
  });

  it('lets the waiters behind a cancelled one through, and refuses a reservation that can never fit', () => {
    const budget = new ByteBudget(100);
    budget.tryTake(60);
    const granted: string[] = [];
    const cancel = budget.wait(50, () => granted.push('big'));
    budget.wait(40, () => granted.push('small'));
    cancel();
    expect(granted).toEqual(['small']);
    expect(budget.waiters).toBe(0);
    expect(() => budget.wait(101, () => undefined)).toThrow(RangeError);
  });
});
