// FindCoordinator (key 10): this node coordinates every group (the broker's one group coordinator).
// Transactions have no coordinator here: key type 1 gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as
// InitProducerId does. COORDINATOR_NOT_AVAILABLE would be retried by clients until their timeout
// (librdkafka's init_transactions ends in _TIMED_OUT), never showing why.

import { KafkaError, type RequestBody, type ResponseInput } from '../../../protocol/kafka/index.ts';
import { NODE_ID, type KafkaContext } from '../context.ts';

const GROUP_KEY_TYPE = 0;
const TRANSACTION_KEY_TYPE = 1;

export function findCoordinator(ctx: KafkaContext, version: number, body: RequestBody<10>): ResponseInput<10> {
  const errorCode =
    body.keyType === GROUP_KEY_TYPE ? KafkaError.NONE : body.keyType === TRANSACTION_KEY_TYPE ? KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED : KafkaError.COORDINATOR_NOT_AVAILABLE;
  const errorMessage = errorCode === KafkaError.NONE ? null : body.keyType === TRANSACTION_KEY_TYPE ? 'transactions are not supported: a transactional id is refused' : 'no coordinator of this key type';
  const node = errorCode === KafkaError.NONE ? { nodeId: NODE_ID, host: ctx.advertisedHost, port: ctx.advertisedPort } : { nodeId: -1, host: '', port: -1 };
  if (version >= 4) return { throttleTimeMs: 0, coordinators: body.coordinatorKeys.map((key) => ({ key, ...node, errorCode, errorMessage })) };
  return { throttleTimeMs: 0, errorCode, errorMessage, ...node };
}
