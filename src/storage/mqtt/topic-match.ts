// MQTT topic filter syntax for qlobber, the matcher aedes and aedes-persistence use.

import { QlobberTrue } from 'qlobber';

export const MQTT_WILDCARDS = { separator: '/', wildcard_one: '+', wildcard_some: '#' };

/** Whether a topic matches any of the filters; build once per lookup, test many topics. */
export function filterMatcher(filters: readonly string[]): (topic: string) => boolean {
  const matcher = new QlobberTrue(MQTT_WILDCARDS);
  for (const f of filters) matcher.add(f);
  return (topic) => matcher.test(topic);
}
