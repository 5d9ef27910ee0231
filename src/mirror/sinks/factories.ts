// Every sink's factory: the mirror config of a kind in, its sink out. Constructors read their files
// (TLS) and check what only the running machine can tell (a codec), so a bad mirror fails the start.
// Each sink's module is imported only when a mirror uses it: an MQTT-only gateway never loads the
// Kafka client, and the reverse.

import type { Logger } from 'pino';
import type { Sink } from '../sink.ts';
import type { MirrorConfig } from './configs.ts';
import type { KafkaSinkOptions } from './kafka/kafka-sink.ts';

/** What a sink may learn from the gateway beside its config. */
export type SinkContext = KafkaSinkOptions;

export async function createSink(config: MirrorConfig, edgeId: string, logger: Logger, context: SinkContext): Promise<Sink> {
  switch (config.sink) {
    case 'mqtt':
      return new (await import('./mqtt/mqtt-sink.ts')).MqttSink(config, edgeId);
    case 'kafka':
      return new (await import('./kafka/kafka-sink.ts')).KafkaSink(config, edgeId, logger, context);
  }
}
