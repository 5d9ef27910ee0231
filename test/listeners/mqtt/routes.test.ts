import { describe, expect, it } from 'vitest';
import { routeProblems, Router } from '../../../src/listeners/mqtt/routes.ts';

describe('Router', () => {
  const router = new Router(
    [
      { match: 'sensors/+/telemetry', topic: 'telemetry', key: '{1}', acks: 1 },
      { match: 'sensors/#', topic: 'sensors', key: 'dev-{clientId}', acks: 'all' },
      { match: 'site/+/+/#', topic: 'site', key: '{2}@{1}:{3}', acks: 0 },
      { match: 'raw/#', topic: 'raw', key: null, acks: 1 },
    ],
    { topic: 'mqtt', key: '{topic}', acks: 1 },
  );

  it('takes the first matching route and renders its key', () => {
    expect(router.route('sensors/s1/telemetry', 'c')).toEqual({ topic: 'telemetry', key: 's1', acks: 1, name: 'routes.0' });
    expect(router.route('sensors/s1/status', 'c7')).toEqual({ topic: 'sensors', key: 'dev-c7', acks: 'all', name: 'routes.1' });
    expect(router.route('site/north/pump-3/flow/m3', 'c')).toEqual({ topic: 'site', key: 'pump-3@north:flow/m3', acks: 0, name: 'routes.2' });
    expect(router.route('site/north/pump-3', 'c')?.key).toBe('pump-3@north:');
    expect(router.route('raw/x', 'c')?.key).toBeNull();
  });

  it('sends everything else to the default route, except $ topics', () => {
    expect(router.route('other/thing', 'c')).toEqual({ topic: 'mqtt', key: 'other/thing', acks: 1, name: 'defaultRoute' });
    expect(router.route('$internal/x', 'c')).toBeNull();
  });

  it('without a default route, leaves unmatched topics unrouted', () => {
    expect(new Router([{ match: 'a', topic: 'a', key: null, acks: 1 }], null).route('b', 'c')).toBeNull();
  });
});

describe('routeProblems', () => {
  it('accepts good routes', () => {
    expect(routeProblems({ match: 'a/+/b/#', topic: 'ok.topic-1', key: 'x{1}y{2}{clientId}{topic}' })).toEqual([]);
    expect(routeProblems({ match: null, topic: 'mqtt', key: '{clientId}' })).toEqual([]);
  });

  it.each([
    [{ match: 'a/#/b', topic: 't', key: null }, 'match', /"#" may only be the last level/],
    [{ match: 'a', topic: 'bad topic', key: null }, 'topic', /log topic name/],
    [{ match: 'a/+', topic: 't', key: '{2}' }, 'key', /match "a\/\+" has 1 wildcard: \{1\}\); found unknown placeholder \{2\}/],
    [{ match: 'a', topic: 't', key: '{1}' }, 'key', /no \{1\}\.\. captures/],
    [{ match: 'a/+', topic: 't', key: '{1' }, 'key', /unpaired/],
    [{ match: 'a/+', topic: 't', key: '{user}' }, 'key', /unknown placeholder \{user\}/],
    [{ match: null, topic: 't', key: '{1}' }, 'key', /default route has no wildcards/],
  ])('reports %j at its %s', (route, field, message) => {
    const problems = routeProblems(route);
    expect(problems).toHaveLength(1);
    expect(problems[0].field).toBe(field);
    expect(problems[0].message).toMatch(message);
  });
});
