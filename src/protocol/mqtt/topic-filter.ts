// MQTT 3.1.1 topic names and topic filters (section 4.7): validating a filter, matching a topic name
// against one while collecting what its wildcards matched, and deciding whether one filter covers
// another (for subscribe ACLs). Pure: imports nothing else from src/. Callers split names and
// filters into levels once (`split('/')`) and pass the levels, so a hot path splits a topic once.

/** Why `filter` is not a valid topic filter, or null when it is. */
export function filterProblem(filter: string): string | null {
  if (filter.length === 0) return 'a topic filter must not be empty'; // [MQTT-4.7.3-1]
  if (filter.includes('\u0000')) return 'a topic filter must not contain U+0000'; // [MQTT-4.7.3-2]
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    if (level === '#') {
      if (i !== levels.length - 1) return '"#" may only be the last level'; // [MQTT-4.7.1-2]
      continue;
    }
    if (level !== '+' && (level.includes('#') || level.includes('+'))) return '"+" and "#" must fill a whole level'; // [MQTT-4.7.1-3]
  }
  return null;
}

/** How many wildcards (`+` and `#`) a filter has: the captures a match yields. */
export function wildcardCount(filterLevels: readonly string[]): number {
  let n = 0;
  for (const level of filterLevels) if (level === '+' || level === '#') n++;
  return n;
}

/**
 * What each wildcard of the filter matched, in order, or null when the topic does not match. A `+`
 * yields its level; a `#` yields the remaining levels joined by "/", which is "" when it matched the
 * parent level ("a/#" matches "a" [MQTT-4.7.1-2]).
 */
export function matchTopic(filterLevels: readonly string[], topicLevels: readonly string[]): string[] | null {
  // [MQTT-4.7.2-1] a wildcard in the first level never matches a topic starting with "$".
  if ((filterLevels[0] === '#' || filterLevels[0] === '+') && topicLevels[0].startsWith('$')) return null;
  const captures: string[] = [];
  for (let i = 0; i < filterLevels.length; i++) {
    const f = filterLevels[i];
    if (f === '#') {
      captures.push(topicLevels.slice(i).join('/'));
      return captures;
    }
    if (i >= topicLevels.length) return null;
    if (f === '+') captures.push(topicLevels[i]);
    else if (f !== topicLevels[i]) return null;
  }
  return topicLevels.length === filterLevels.length ? captures : null;
}

/** Whether every topic that `requested` matches is also matched by `allowed`. */
export function filterCovers(allowed: readonly string[], requested: readonly string[]): boolean {
  const dollar = requested[0].startsWith('$');
  for (let i = 0; i < allowed.length; i++) {
    const a = allowed[i];
    if (a === '#') return !(i === 0 && dollar);
    if (i >= requested.length) return false;
    const r = requested[i];
    if (r === '#') return false;
    if (a === '+') {
      if (i === 0 && dollar) return false;
      continue;
    }
    if (r === '+' || a !== r) return false;
  }
  return allowed.length === requested.length;
}
