// DescribeConfigs (key 32): a topic's configs (topic-configs.ts); a broker resource answers with no
// configs (nothing of Kafka's broker configuration applies); other resource types are refused.

import { KafkaError, type RequestBody, type ResponseInput } from '../../../protocol/kafka/index.ts';
import type { KafkaContext } from '../context.ts';
import { kafkaErrorOf } from '../error-map.ts';
import { authorize, mayDescribe } from './authorize.ts';
import { topicConfigEntries } from './topic-configs.ts';

const TOPIC = 2;
const BROKER = 4;
const DYNAMIC_TOPIC_CONFIG = 1;
const DEFAULT_CONFIG = 5;
const STRING_TYPE = 2;
const LONG_TYPE = 5;
const INT_TYPE = 3;

export function describeConfigs(ctx: KafkaContext, _version: number, body: RequestBody<32>): ResponseInput<32> {
  return {
    throttleTimeMs: 0,
    results: body.resources.map((r) => {
      const head = { resourceType: r.resourceType, resourceName: r.resourceName };
      if (r.resourceType === BROKER) return { ...head, errorCode: KafkaError.NONE, errorMessage: null, configs: [] };
      if (r.resourceType !== TOPIC) return { ...head, errorCode: KafkaError.INVALID_REQUEST, errorMessage: `resource type ${r.resourceType} has no configs here`, configs: [] };
      try {
        if (!mayDescribe(ctx, r.resourceName)) authorize(ctx, 'read', r.resourceName);
        const topic = ctx.broker.describeTopic(r.resourceName);
        const keys = r.configurationKeys;
        const configs = topicConfigEntries(topic)
          .filter((c) => keys === null || keys.includes(c.name))
          .map((c) => {
            const configSource = c.readOnly ? DEFAULT_CONFIG : DYNAMIC_TOPIC_CONFIG;
            return {
              ...c,
              isDefault: c.readOnly,
              configSource,
              isSensitive: false,
              synonyms: body.includeSynonyms ? [{ name: c.name, value: c.value, source: configSource }] : [],
              configType: c.name === 'cleanup.policy' ? STRING_TYPE : c.name === 'min.insync.replicas' ? INT_TYPE : LONG_TYPE,
              documentation: null,
            };
          });
        return { ...head, errorCode: KafkaError.NONE, errorMessage: null, configs };
      } catch (err) {
        return { ...head, ...kafkaErrorOf(err), configs: [] };
      }
    }),
  };
}
