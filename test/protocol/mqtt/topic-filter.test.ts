import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { filterCovers, filterProblem, matchTopic } from '../../../src/protocol/mqtt/topic-filter.ts';

const levels = (s: string) => s.split('/');
const match = (filter: string, topic: string) => matchTopic(levels(filter), levels(topic));
const covers = (allowed: string, requested: string) => filterCovers(levels(allowed), levels(requested));

describe('MQTT topic filters', () => {
  it.each(['#', '+', 'a/+/b', 'a/#', '+/+', '/a', 'a//b', '$SYS/#'])('accepts %s', (f) => expect(filterProblem(f)).toBeNull());
  it.each([
    ['', /empty/],
    ['a/#/b', /last level/],
    ['a#', /whole level/],
    ['a/b+', /whole level/],
    ['a\u0000b', /U\+0000/],
  ])('rejects %j', (f, why) => expect(filterProblem(f)).toMatch(why));

  it('captures what + and # matched, # including the parent level', () => {
    expect(match('sensors/+/telemetry', 'sensors/s1/telemetry')).toEqual(['s1']);
    expect(match('a/+/#', 'a/x/y/z')).toEqual(['x', 'y/z']);
    expect(match('a/#', 'a')).toEqual(['']);
    expect(match('#', 'a/b')).toEqual(['a/b']);
    expect(match('a/+', 'a/')).toEqual(['']);
    expect(match('a/b', 'a/b')).toEqual([]);
  });

  it('does not match other topics, nor $ topics with a leading wildcard [MQTT-4.7.2-1]', () => {
    expect(match('a/+', 'a/b/c')).toBeNull();
    expect(match('a/+/c', 'a/b')).toBeNull();
    expect(match('a/b', 'a/b/c')).toBeNull();
    expect(match('#', '$SYS/x')).toBeNull();
    expect(match('+/x', '$SYS/x')).toBeNull();
    expect(match('$SYS/#', '$SYS/x')).toEqual(['x']);
  });

  it.each([
    ['a/#', 'a/+/b', true],
    ['a/#', 'a', true],
    ['a/#', 'a/#', true],
    ['a/+', 'a/#', false],
    ['a/+', 'a/b', true],
    ['a/b', 'a/+', false],
    ['a', 'a/#', false],
    ['#', '$SYS/#', false],
    ['#', '+/x', true],
    ['$SYS/#', '$SYS/+/y', true],
  ])('%s covers %s: %s', (allowed, requested, expected) => expect(covers(allowed, requested)).toBe(expected));

  it('a covering filter matches every topic the covered one matches', () => {
    const level = fc.constantFrom('a', 'b', '$s', '');
    const filter = fc
      .tuple(fc.array(fc.oneof(level, fc.constant('+')), { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([ls, hash]) => [...ls, ...(hash ? ['#'] : [])].join('/'));
    const topic = fc.array(level, { minLength: 1, maxLength: 6 }).map((ls) => ls.join('/'));
    fc.assert(
      fc.property(filter, filter, topic, (allowed, requested, t) => {
        if (covers(allowed, requested) && match(requested, t) !== null) expect(match(allowed, t)).not.toBeNull();
      }),
      { numRuns: 5000 },
    );
  });
});
