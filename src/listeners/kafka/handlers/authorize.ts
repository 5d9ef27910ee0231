// The log topic rights of auth.acls as Kafka handlers need them (ctx.may; no rules: everything
// allowed). A refusal is a NOT_AUTHORIZED error, which error-map.ts answers as
// TOPIC_AUTHORIZATION_FAILED (29) in the topic's or partition's error field.

import { TributaryError } from '../../../errors.ts';
import type { LogTopicRight } from '../../../auth/acl.ts';
import type { KafkaContext } from '../context.ts';

/** Throws NOT_AUTHORIZED unless the client has `right` on `topic`. */
export function authorize(ctx: KafkaContext, right: LogTopicRight, topic: string): void {
  if (ctx.may(right, topic)) return;
  const who = ctx.principal.username === null ? 'an anonymous client' : `user ${ctx.principal.username}`;
  throw new TributaryError('NOT_AUTHORIZED', `${who} may not ${right} topic ${topic} (auth.acls)`, { topic, clientId: ctx.principal.clientId });
}

/** Kafka's DESCRIBE, which any of its other topic rights implies: Metadata, DescribeConfigs. */
export function mayDescribe(ctx: KafkaContext, topic: string): boolean {
  return ctx.may('read', topic) || ctx.may('write', topic) || ctx.may('admin', topic);
}
