// The schema table covers the versions the Kafka listener must serve (issue 10 and the clients'
// measured behaviour), and is consistent: names and tags unique per struct, every struct type
// has its fields, request and response of an API agree on versions.

import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ApiKey, apiTable } from '../../../src/protocol/kafka/apis.ts';
import { isFlexible, supportedApis, supportedVersions } from '../../../src/protocol/kafka/codec.ts';
import { KafkaError } from '../../../src/protocol/kafka/error-codes.ts';
import { compileMessage, type Plan } from '../../../src/protocol/kafka/compile.ts';
import type { FieldSpec } from '../../../src/protocol/kafka/schema.ts';

// [api, lowest, highest] that the codec must cover.
const REQUIRED: [keyof typeof ApiKey, number, number][] = [
  ['ApiVersions', 0, 3],
  ['Metadata', 0, 12],
  ['Produce', 3, 9],
  ['Fetch', 4, 12],
  ['ListOffsets', 1, 7],
  ['FindCoordinator', 0, 4],
  ['JoinGroup', 0, 9],
  ['SyncGroup', 0, 5],
  ['Heartbeat', 0, 4],
  ['LeaveGroup', 0, 5],
  ['OffsetCommit', 0, 8],
  ['OffsetFetch', 0, 8],
  ['ListGroups', 0, 4],
  ['DescribeGroups', 0, 5],
  ['CreateTopics', 0, 7],
  ['DeleteTopics', 0, 6],
  ['CreatePartitions', 0, 3],
  ['DescribeConfigs', 0, 4],
  ['InitProducerId', 0, 4],
  ['SaslHandshake', 0, 1],
  ['SaslAuthenticate', 0, 2],
];

describe('Kafka schema table', () => {
  it.each(REQUIRED)('%s covers v%i-%i', (name, min, max) => {
    const range = supportedVersions(ApiKey[name]);
    expect(range).not.toBeNull();
    expect(range!.min).toBeLessThanOrEqual(min);
    expect(range!.max).toBeGreaterThanOrEqual(max);
  });

  it('covers the versions the measured clients gate on', () => {
    // librdkafka 2.0.2: ApiVersions v3 first; FindCoordinator must include v0; Produce v3 and
    // Fetch v4 for magic-2 batches. kafkajs 2.2.4: ApiVersions v2. kafka-python 2.0.2: v0 probe.
    for (const [name, v] of [
      ['ApiVersions', 3],
      ['ApiVersions', 2],
      ['ApiVersions', 0],
      ['FindCoordinator', 0],
      ['Produce', 3],
      ['Fetch', 4],
    ] as const) {
      const range = supportedVersions(ApiKey[name])!;
      expect(v).toBeGreaterThanOrEqual(range.min);
      expect(v).toBeLessThanOrEqual(range.max);
    }
  });

  it('lists every API once, with request and response on the same versions', () => {
    expect(supportedApis().map((a) => a.name).sort()).toEqual(Object.keys(ApiKey).sort());
    for (const [key, e] of Object.entries(apiTable)) {
      expect(e.request.apiKey).toBe(Number(key));
      expect(e.response.apiKey).toBe(Number(key));
      expect(e.response.validVersions).toBe(e.request.validVersions);
      expect(e.response.flexibleVersions).toBe(e.request.flexibleVersions);
    }
  });

  it('flexible versions are where Kafka put them (compact encodings from there on)', () => {
    expect(isFlexible(ApiKey.ApiVersions, 2)).toBe(false);
    expect(isFlexible(ApiKey.ApiVersions, 3)).toBe(true);
    expect(isFlexible(ApiKey.Metadata, 9)).toBe(true);
    expect(isFlexible(ApiKey.Produce, 8)).toBe(false);
    expect(isFlexible(ApiKey.Fetch, 12)).toBe(true);
    expect(isFlexible(ApiKey.SaslHandshake, 1)).toBe(false);
  });

  it('every struct has unique field names and unique tags', () => {
    const check = (fields: readonly FieldSpec[], where: string) => {
      const names = fields.map((f) => f.name);
      expect(new Set(names).size, where).toBe(names.length);
      const tags = fields.filter((f) => f.tag !== undefined).map((f) => f.tag);
      expect(new Set(tags).size, where).toBe(tags.length);
      for (const f of fields) {
        const isStruct = !['int8', 'int16', 'int32', 'int64', 'uint16', 'uint32', 'float64', 'bool', 'uuid', 'string', 'bytes', 'records'].includes(
          f.type.replace(/^\[\]/, ''),
        );
        expect(isStruct, `${where}.${f.name}: a struct type has fields, a primitive none`).toBe(f.fields !== undefined);
        if (f.taggedVersions !== undefined) expect(f.tag, `${where}.${f.name}`).toBeTypeOf('number');
        if (f.fields) check(f.fields, `${where}.${f.name}`);
      }
    };
    for (const e of Object.values(apiTable)) {
      check(e.request.fields, e.request.name);
      check(e.response.fields, e.response.name);
    }
  });
});

describe('Kafka codec boundaries', () => {
  it('every array element takes at least one byte in every version, so the count bound is exact', () => {
    const zeroSized: string[] = [];
    const walk = (plan: Plan, where: string): void => {
      if (plan.kind === 'array') {
        if (plan.element.minBytes === 0) zeroSized.push(where);
        walk(plan.element, where);
      } else if (plan.kind === 'struct') {
        for (const f of plan.fields) if (f.plan) walk(f.plan, `${where}.${f.name}`);
      }
    };
    for (const e of Object.values(apiTable)) {
      for (const side of ['request', 'response'] as const) {
        for (const [v, plan] of compileMessage(e[side]).plans) walk(plan, `${e.name} ${side} v${v}`);
      }
    }
    expect(zeroSized).toEqual([]);
  });

  it('imports nothing from src/ outside src/protocol (the codec stays pure)', () => {
    const root = resolve(import.meta.dirname, '../../../src/protocol/kafka');
    const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(20);
    for (const file of files) {
      const text = readFileSync(join(root, file), 'utf8');
      for (const m of text.matchAll(/from '([^']+)'/g)) {
        const spec = m[1];
        if (!spec.startsWith('.')) {
          expect(spec, `${file} imports a package`).toMatch(/^node:/);
          continue;
        }
        const target = resolve(dirname(join(root, file)), spec);
        expect(target.startsWith(resolve(root, '..')), `${file} imports ${spec}`).toBe(true);
      }
    }
  });
});

describe('Kafka error codes', () => {
  it('are unique and match the numbers clients act on', () => {
    const codes = Object.values(KafkaError);
    expect(new Set(codes).size).toBe(codes.length);
    expect(KafkaError).toMatchObject({
      NONE: 0,
      UNKNOWN_SERVER_ERROR: -1,
      OFFSET_OUT_OF_RANGE: 1,
      UNKNOWN_TOPIC_OR_PARTITION: 3,
      NOT_COORDINATOR: 16,
      ILLEGAL_GENERATION: 22,
      INCONSISTENT_GROUP_PROTOCOL: 23,
      UNKNOWN_MEMBER_ID: 25,
      REBALANCE_IN_PROGRESS: 27,
      TOPIC_AUTHORIZATION_FAILED: 29,
      UNSUPPORTED_VERSION: 35,
      OUT_OF_ORDER_SEQUENCE_NUMBER: 45,
      DUPLICATE_SEQUENCE_NUMBER: 46,
      SASL_AUTHENTICATION_FAILED: 58,
      UNSUPPORTED_COMPRESSION_TYPE: 76,
      MEMBER_ID_REQUIRED: 79,
    });
  });
});
