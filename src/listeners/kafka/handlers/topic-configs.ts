// Topic configs as Kafka names them. Tributary keeps two per topic, retention.ms and retention.bytes
// (-1 = unlimited in both, as in Kafka); cleanup.policy and min.insync.replicas are fixed facts of a
// one-node log and are read-only.

import { TributaryError } from '../../../errors.ts';

export interface RetentionSettings {
  retentionMs?: number;
  retentionBytes?: number;
}

const settable = { 'retention.ms': 'retentionMs', 'retention.bytes': 'retentionBytes' } as const;

/** CreateTopics configs → topic settings; any other key (or a bad value) is INVALID_CONFIG. */
export function parseTopicConfigs(configs: readonly { name: string; value: string | null }[]): RetentionSettings {
  const out: RetentionSettings = {};
  for (const { name, value } of configs) {
    const field = (settable as Record<string, keyof RetentionSettings | undefined>)[name];
    if (field === undefined) {
      // Accepted when it asks for what this log is anyway, so tools that always send them still work.
      if ((name === 'cleanup.policy' && value === 'delete') || (name === 'min.insync.replicas' && value === '1')) continue;
      throw new TributaryError('INVALID_CONFIG', `topic config ${name} is not supported (retention.ms and retention.bytes are)`);
    }
    if (value === null || !/^-?\d+$/.test(value) || Number(value) < -1 || !Number.isSafeInteger(Number(value)))
      throw new TributaryError('INVALID_CONFIG', `${name} must be -1 (unlimited) or a non-negative integer, got ${value}`);
    out[field] = Number(value);
  }
  return out;
}

export interface ConfigEntry {
  name: string;
  value: string;
  readOnly: boolean;
}

export function topicConfigEntries(topic: { retentionMs: number; retentionBytes: number }): ConfigEntry[] {
  return [
    { name: 'retention.ms', value: String(topic.retentionMs), readOnly: false },
    { name: 'retention.bytes', value: String(topic.retentionBytes), readOnly: false },
    { name: 'cleanup.policy', value: 'delete', readOnly: true },
    { name: 'min.insync.replicas', value: '1', readOnly: true },
  ];
}
