// [EDGE-5.17] a FETCH outside the log: from version 3 the answer is OUT_OF_RANGE, which carries the
// side and the log's range in fields; versions 1 and 2 keep ERROR OFFSET_OUT_OF_RANGE, byte for byte
// as before. The TS client turns OUT_OF_RANGE into an OFFSET_OUT_OF_RANGE error with the range in
// its context, and its consumer resets from it.

import { describe, expect, it } from 'vitest';
import { Consumer, EdgeClient } from '../../src/client/index.ts';
import { ErrorCode, type TributaryError } from '../../src/errors.ts';
import type { OutOfRangeFrame } from '../../src/protocol/edge/frames.ts';
import { produceFrame, RawPeer, startEdgeBroker, until } from '../helpers/raw-edge.ts';
import { onCleanup } from '../helpers/temp.ts';

/** A broker whose topic `r` keeps only its newest batch: retention runs every 20 ms. */
async function brokerWithTrimmedLog(): Promise<{ port: number; logStartOffset: number; nextOffset: number }> {
  const running = await startEdgeBroker({ retention: { checkIntervalMs: 20 } });
  const port = running.edge!.port;
  const peer = await RawPeer.hello(port, { version: 3 });
  peer.send({ type: 'create-topic', corr: 1, name: 'r', partitions: 1, retentionMs: -1, retentionBytes: 1, grow: false });
  await peer.waitFor((f) => f.type === 'ok' && f.corr === 1);
  peer.send({ type: 'register', corr: 2, alias: 1, topic: 'r', create: false });
  await peer.waitFor((f) => f.type === 'registered');
  for (let seq = 1; seq <= 3; seq++) {
    peer.send(produceFrame(seq, [`v${seq}`]));
    await peer.waitFor((f) => f.type === 'ack' && f.entries.some((e) => e.seq === seq));
  }
  const topic = running.broker.findTopic('r')!;
  const state = () => running.broker.partitionState(topic.id, 0)!;
  await until(() => state().logStartOffset > 0, 'retention to trim the log');
  return { port, logStartOffset: state().logStartOffset, nextOffset: state().nextOffset };
}

describe('FETCH outside the log [EDGE-5.17]', () => {
  it('answers a version 3 connection with OUT_OF_RANGE: side and range in fields', async () => {
    const { port, logStartOffset, nextOffset } = await brokerWithTrimmedLog();
    const peer = await RawPeer.hello(port, { version: 3 });
    expect(peer.frames[0]).toMatchObject({ type: 'welcome', version: 3 });
    peer.send({ type: 'register', corr: 1, alias: 1, topic: 'r', create: false });
    await peer.waitFor((f) => f.type === 'registered');
    peer.send({ type: 'fetch', corr: 2, alias: 1, partition: 0, offset: 0, maxBytes: 1 << 20, maxWaitMs: 0 });
    peer.send({ type: 'fetch', corr: 3, alias: 1, partition: 0, offset: nextOffset + 5, maxBytes: 1 << 20, maxWaitMs: 0 });
    const below = await peer.waitFor<OutOfRangeFrame>((f) => f.type === 'out-of-range' && f.corr === 2);
    const above = await peer.waitFor<OutOfRangeFrame>((f) => f.type === 'out-of-range' && f.corr === 3);
    expect(below).toEqual({ type: 'out-of-range', corr: 2, partition: 0, offset: 0, side: 'below', logStartOffset, nextOffset });
    expect(above).toEqual({ type: 'out-of-range', corr: 3, partition: 0, offset: nextOffset + 5, side: 'above', logStartOffset, nextOffset });
    expect(peer.frames.some((f) => f.type === 'error')).toBe(false);
  });

  it.each([1, 2])('keeps ERROR OFFSET_OUT_OF_RANGE for a version %d connection', async (version) => {
    const { port, nextOffset } = await brokerWithTrimmedLog();
    const peer = await RawPeer.hello(port, { version });
    expect(peer.frames[0]).toMatchObject({ type: 'welcome', version });
    peer.send({ type: 'register', corr: 1, alias: 1, topic: 'r', create: false });
    await peer.waitFor((f) => f.type === 'registered');
    peer.send({ type: 'fetch', corr: 2, alias: 1, partition: 0, offset: nextOffset + 1, maxBytes: 1 << 20, maxWaitMs: 0 });
    const error = await peer.waitFor((f) => f.type === 'error');
    expect(error).toMatchObject({ refKind: 'request', ref: 2, code: ErrorCode.OFFSET_OUT_OF_RANGE });
    expect(peer.frames.some((f) => f.type === 'out-of-range')).toBe(false);
  });

  it('the TS client rejects the fetch with the range in the error, and its consumer resets from it', async () => {
    const { port, logStartOffset, nextOffset } = await brokerWithTrimmedLog();
    const client = await EdgeClient.connect({ port });
    onCleanup(() => client.close());
    expect(client.version).toBe(4);
    await client.register(1, 'r', false);
    const err = (await client.fetch(1, 0, 0, 1 << 20, 0).catch((e: unknown) => e)) as TributaryError;
    expect(err.codeName).toBe('OFFSET_OUT_OF_RANGE');
    expect(err.context).toEqual({ partition: 0, offset: 0, side: 'below', logStartOffset, nextOffset });

    const consumer = await Consumer.connect({ port, autoOffsetReset: 'earliest' });
    onCleanup(() => consumer.close());
    await consumer.assign([{ topic: 'r', partition: 0, offset: 0 }]);
    const records = await consumer.poll();
    const next = records.length > 0 ? records : await consumer.poll();
    expect(next.map((r) => r.offset)[0]).toBe(logStartOffset);
  });
});
