// The TypeScript client of the edge protocol: Producer, Consumer, GroupConsumer, Admin, and the connection under them.

export { Admin, type GroupDescription, type GroupState, type GroupSummary, type PartitionLag, type ResetOffsetsRequest, type ResetPlanEntry, type ResetTarget, type TopicChange, type TopicSpec } from './admin.ts';
export { EdgeClient, type AlterTopicRequest, type ConnectOptions, type HandshakeFailure, type CreateTopicRequest, type EdgeClientEvents, type EdgeClientOptions } from './connection.ts';
export { Consumer, type ConsumedRecord, type ConsumerOptions, type OffsetSpec, type PartitionAssignment } from './consumer.ts';
export {
  GroupConsumer,
  type DeliverySemantics,
  type GroupConsumerOptions,
  type OffsetCommit,
  type PartitionsListener,
  type ProduceAndCommitOptions,
  type TopicPartition,
} from './group-consumer.ts';
export { Producer, type ProducerOptions, type ProducerRecord, type RecordMetadata } from './producer.ts';
export { TributaryError, isTributaryError, type ErrorName } from '../errors.ts';
export type { Acks, PartitionMetadata, TopicMetadata } from '../protocol/edge/frames.ts';
