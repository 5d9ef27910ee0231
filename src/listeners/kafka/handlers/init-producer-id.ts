// InitProducerId (key 22), v0-4: an idempotent producer's id. As Kafka's broker answers a request
// without a transactional id, every request gets a new producer id with epoch 0, including a v3+
// request naming its current id and epoch (a client bumping its epoch after lost batches starts
// over with the new id; the old id's state expires). The id's sequences are checked per partition at
// Produce (src/storage/producer-state.ts). Transactions are not served: a transactional id gets
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED, which clients treat as fatal rather than retrying.

import { KafkaError, type RequestBody, type ResponseInput } from '../../../protocol/kafka/index.ts';
import type { KafkaContext } from '../context.ts';
import { kafkaErrorOf } from '../error-map.ts';

export async function initProducerId(ctx: KafkaContext, _version: number, body: RequestBody<22>): Promise<ResponseInput<22>> {
  const refuse = (errorCode: number): ResponseInput<22> => ({ throttleTimeMs: 0, errorCode, producerId: -1n, producerEpoch: -1 });
  if (body.transactionalId === '') return refuse(KafkaError.INVALID_REQUEST);
  if (body.transactionalId !== null) {
    ctx.log.warn({ clientId: ctx.clientId, transactionalId: body.transactionalId.slice(0, 256) }, 'kafka InitProducerId with a transactional id refused: transactions are not supported');
    return refuse(KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
  }
  try {
    const { producerId, epoch } = await ctx.broker.initProducerId();
    return { throttleTimeMs: 0, errorCode: KafkaError.NONE, producerId: BigInt(producerId), producerEpoch: epoch };
  } catch (err) {
    return refuse(kafkaErrorOf(err).errorCode);
  }
}
