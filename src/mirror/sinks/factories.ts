// Every sink's factory: the mirror config of a kind in, its sink out. Constructors read their files
// (TLS) and check what only the running machine can tell (a codec), so a bad mirror fails the start.

import type { Logger } from 'pino';
import type { Sink } from '../sink.ts';
import type { MirrorConfig } from './configs.ts';
import { KafkaSink, type KafkaSinkOptions } from './kafka/kafka-sink.ts';
import { MqttSink } from './mqtt/mqtt-sink.ts';

/** What a sink may learn from the gateway beside its config. */
export type SinkContext = KafkaSinkOptions;

export function createSink(config: MirrorConfig, edgeId: string, logger: Logger, context: SinkContext): Sink {
  switch (config.sink) {
    case 'mqtt':
      return new MqttSink(config, edgeId);
    case 'kafka':
      return new KafkaSink(config, edgeId, logger, context);
  }
}
