import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { Admin, Consumer, EdgeClient, Producer, TributaryError, type RecordMetadata } from '../../src/client/index.ts';
import { encodeRecordBatch } from '../../src/format/record-batch.ts';
import { encodeFrame, FrameDecoder } from '../../src/protocol/edge/codec.ts';
import { EDGE_PROTOCOL_VERSION, type Frame, type ProduceFrame } from '../../src/protocol/edge/frames.ts';
import { onCleanup } from '../helpers/temp.ts';
import { admin, startTestBroker } from '../helpers/broker.ts';

/** A fake broker on 127.0.0.1 whose answers the test scripts frame by frame. */
async function fakeBroker(onFrame: (frame: Frame, socket: net.Socket) => void): Promise<{ host: string; port: number }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const decoder = new FrameDecoder(1 << 20);
    socket.on('data', (chunk) => decoder.push(chunk).frames.forEach((f) => onFrame(f, socket)));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port };
}

const welcome = (keepaliveMs = 60_000) => encodeFrame({ type: 'welcome', version: EDGE_PROTOCOL_VERSION, keepaliveMs, frameBytesMax: 1 << 20, lastSeq: 0 });

describe('EdgeClient', () => {
  it('rejects a request the broker never answers with TIMEOUT, and keeps the connection', async () => {
    let pings = 0;
    const url = await fakeBroker((f, socket) => {
      if (f.type === 'hello') socket.write(welcome());
      if (f.type === 'ping' && ++pings > 1) socket.write(encodeFrame({ type: 'pong', corr: f.corr }));
    });
    const client = await EdgeClient.connect({ ...url, requestTimeoutMs: 200 });
    onCleanup(() => client.close());
    const start = Date.now();
    await expect(client.metadata([])).rejects.toMatchObject({ codeName: 'TIMEOUT' });
    expect(Date.now() - start).toBeGreaterThanOrEqual(190);
    expect(client.closed).toBe(false);
    await client.close();
  });

  // [EDGE-2.2] a request above the negotiated frame limit would cost the whole connection.
  it('refuses a request above the negotiated frame limit without sending it, and keeps the connection', async () => {
    const broker = await startTestBroker();
    const client = await EdgeClient.connect({ ...broker.url, frameBytesMax: 1024 });
    onCleanup(() => client.close());
    expect(client.welcome.frameBytesMax).toBe(1024);
    const names = Array.from({ length: 100 }, (_, i) => `a-rather-long-topic-name-${i}`);
    await expect(client.metadata(names)).rejects.toMatchObject({ codeName: 'FRAME_TOO_LARGE' });
    expect(client.closed).toBe(false);
    await client.ping();
  });

  // [EDGE-4.2] HELLO offers version 4; the client takes WELCOME 1 to 4 and says which it got.
  it.each([1, 2, 3, 4])('sends HELLO version 4 and agrees on the version %d that WELCOME names', async (agreed) => {
    const hellos: Frame[] = [];
    const url = await fakeBroker((f, socket) => {
      if (f.type !== 'hello') return;
      hellos.push(f);
      socket.write(encodeFrame({ type: 'welcome', version: agreed, keepaliveMs: 60_000, frameBytesMax: 1 << 20, lastSeq: 0 }));
    });
    const client = await EdgeClient.connect(url);
    onCleanup(() => client.close());
    expect(hellos).toMatchObject([{ type: 'hello', version: 4 }]);
    expect(client.version).toBe(agreed);
  });

  it('refuses alterTopic on a connection below version 4 without sending it [EDGE-5.18]', async () => {
    const received: Frame[] = [];
    const url = await fakeBroker((f, socket) => {
      received.push(f);
      if (f.type === 'hello') socket.write(encodeFrame({ type: 'welcome', version: 3, keepaliveMs: 60_000, frameBytesMax: 1 << 20, lastSeq: 0 }));
      if (f.type === 'ping') socket.write(encodeFrame({ type: 'pong', corr: f.corr }));
    });
    const client = await EdgeClient.connect(url);
    onCleanup(() => client.close());
    await expect(client.alterTopic({ name: 't', partitions: 2, retentionMs: -2, retentionBytes: -2 })).rejects.toMatchObject({ codeName: 'UNSUPPORTED_VERSION' });
    await client.ping();
    expect(received.map((f) => f.type)).toEqual(['hello', 'ping']);
  });

  it('refuses a WELCOME of a version it does not implement', async () => {
    const url = await fakeBroker((f, socket) => {
      if (f.type === 'hello') socket.write(encodeFrame({ type: 'welcome', version: 5, keepaliveMs: 60_000, frameBytesMax: 1 << 20, lastSeq: 0 }));
    });
    await expect(EdgeClient.connect(url)).rejects.toMatchObject({ codeName: 'UNSUPPORTED_VERSION' });
  });

  it('agrees on version 4 with the broker', async () => {
    const broker = await startTestBroker();
    const client = await EdgeClient.connect(broker.url);
    onCleanup(() => client.close());
    expect(client.version).toBe(4);
  });

  it('times out a handshake that gets no WELCOME', async () => {
    const url = await fakeBroker(() => undefined);
    await expect(EdgeClient.connect({ ...url, connectTimeoutMs: 200 })).rejects.toMatchObject({ codeName: 'TIMEOUT' });
  });

  it('fails connect with a TributaryError when nothing listens', async () => {
    const broker = await startTestBroker();
    const { port } = broker.url;
    await broker.stop();
    const err = await EdgeClient.connect({ host: '127.0.0.1', port }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TributaryError);
    expect((err as TributaryError).message).toMatch(/ECONNREFUSED/);
  });

  it('turns a connection ERROR into a rejection of everything pending, then closes', async () => {
    const url = await fakeBroker((f, socket) => {
      if (f.type === 'hello') socket.write(welcome());
      if (f.type === 'metadata') socket.end(encodeFrame({ type: 'error', refKind: 'connection', ref: 0, code: 18, message: 'going away' }));
    });
    const client = await EdgeClient.connect(url);
    const closed = new Promise((resolve) => client.once('close', resolve));
    const pending = client.fetch(0, 0, 0, 1024, 10_000);
    await expect(client.metadata([])).rejects.toMatchObject({ codeName: 'SHUTTING_DOWN', message: 'going away' });
    await expect(pending).rejects.toMatchObject({ codeName: 'SHUTTING_DOWN' });
    expect(await closed).toMatchObject({ codeName: 'SHUTTING_DOWN' });
    await expect(client.metadata([])).rejects.toBeInstanceOf(TributaryError);
  });

  it('rejects with MALFORMED_FRAME when the broker answers with the wrong frame', async () => {
    const url = await fakeBroker((f, socket) => {
      if (f.type === 'hello') socket.write(welcome());
      if (f.type === 'metadata') socket.write(encodeFrame({ type: 'ok', corr: f.corr }));
    });
    const client = await EdgeClient.connect(url);
    await expect(client.metadata([])).rejects.toMatchObject({ codeName: 'MALFORMED_FRAME' });
    expect(client.closed).toBe(true);
  });

  it('reports NOT_AUTHORIZED for a wrong token', async () => {
    const broker = await startTestBroker({ listeners: { edge: { token: 'secret' } } });
    await expect(Admin.connect({ ...broker.url, token: 'wrong' })).rejects.toMatchObject({ codeName: 'NOT_AUTHORIZED' });
    const a = await Admin.connect({ ...broker.url, token: 'secret' });
    expect(await a.listTopics()).toEqual([]);
    await a.close();
  });

  it('keeps an idle connection alive with PINGs', async () => {
    const broker = await startTestBroker({ listeners: { edge: { keepaliveMs: 200 } } });
    const a = await admin(broker);
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(await a.listTopics()).toEqual([]);
  });
});

describe('clients against a scripted broker', () => {
  /** Answers the handshake, REGISTER (4 partitions) and METADATA; PRODUCE frames go to the test. */
  async function scripted(onProduce: (f: ProduceFrame, socket: net.Socket) => void, onFetch?: (corr: number, socket: net.Socket) => void) {
    return fakeBroker((f, socket) => {
      if (f.type === 'hello') socket.write(welcome());
      else if (f.type === 'register') socket.write(encodeFrame({ type: 'registered', corr: f.corr, alias: f.alias, partitions: 4 }));
      else if (f.type === 'metadata')
        socket.write(encodeFrame({ type: 'metadata-result', corr: f.corr, topics: [{ name: 't', retentionMs: -1, retentionBytes: -1, partitions: [{ partition: 0, logStartOffset: 0, nextOffset: 1 }] }] }));
      else if (f.type === 'produce') onProduce(f, socket);
      else if (f.type === 'fetch') onFetch?.(f.corr, socket);
    });
  }

  it('keeps at most inflightFramesMax frames unacknowledged', async () => {
    const received: ProduceFrame[] = [];
    let ackSocket: net.Socket | null = null;
    let autoAck = false;
    const ack = (frames: ProduceFrame[]) =>
      ackSocket!.write(encodeFrame({ type: 'ack', entries: frames.map((f) => ({ seq: f.seq, partition: 0, baseOffset: f.seq - 1, duplicate: false })) }));
    const url = await scripted((f, socket) => {
      received.push(f);
      ackSocket = socket;
      if (autoAck) ack([f]);
    });
    const p = await Producer.connect({ ...url, inflightFramesMax: 3, lingerMs: 0, batchRecordsMax: 1 });
    onCleanup(() => p.close());
    const sends = Array.from({ length: 10 }, (_, i) => p.send({ topic: 't', value: String(i), partition: 0 }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received.map((f) => f.seq)).toEqual([1, 2, 3]);

    // One cumulative ACK for the three frames releases the next three.
    ack(received);
    expect((await Promise.all(sends.slice(0, 3))).map((m) => m.offset)).toEqual([0, 1, 2]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received.map((f) => f.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(received.map((f) => f.records[0].value!.toString())).toEqual(['0', '1', '2', '3', '4', '5']);

    autoAck = true;
    ack(received.slice(3));
    expect((await Promise.all(sends)).map((m) => m.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('rejects exactly the records of a frame answered with a produce ERROR', async () => {
    const url = await scripted((f, socket) => {
      const answer: Frame =
        f.seq === 2
          ? { type: 'error', refKind: 'produce', ref: f.seq, code: 17, message: 'queue full' }
          : { type: 'ack', entries: [{ seq: f.seq, partition: f.partition, baseOffset: 100 * f.seq, duplicate: false }] };
      socket.write(encodeFrame(answer));
    });
    const p = await Producer.connect({ ...url, lingerMs: 0, batchRecordsMax: 2 });
    onCleanup(() => p.close());
    const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => p.send({ topic: 't', value: String(i), partition: 1 })));
    expect(results.map((r) => (r.status === 'fulfilled' ? (r.value as RecordMetadata).offset : (r.reason as TributaryError).codeName))).toEqual([
      100, 101, 'THROTTLED', 'THROTTLED', 300, 301,
    ]);
  });

  // [EDGE-7.5] a duplicate ACK carries the original's location when the broker remembers it.
  it('resolves a duplicate with the offset its ACK entry reports, and -1 for baseOffset 0', async () => {
    const url = await scripted((f, socket) => {
      socket.write(encodeFrame({ type: 'ack', entries: [{ seq: f.seq, partition: f.partition, baseOffset: f.seq === 1 ? 40 : 0, duplicate: true }] }));
    });
    const p = await Producer.connect({ ...url, lingerMs: 0, batchRecordsMax: 2 });
    onCleanup(() => p.close());
    const metas = await Promise.all(Array.from({ length: 4 }, (_, i) => p.send({ topic: 't', value: String(i), partition: 1 })));
    expect(metas.map((m) => [m.offset, m.duplicate])).toEqual([
      [40, true],
      [41, true],
      [-1, true],
      [-1, true],
    ]);
  });

  it('throws CORRUPT_MESSAGE for a fetched batch with a bad CRC', async () => {
    const batch = encodeRecordBatch([{ timestampMs: 1, key: null, value: Buffer.from('v'), headers: [] }]);
    batch[batch.length - 1] ^= 0xff;
    const url = await scripted(
      () => undefined,
      (corr, socket) => socket.write(encodeFrame({ type: 'records', corr, partition: 0, logStartOffset: 0, nextOffset: 1, batches: batch })),
    );
    const c = await Consumer.connect({ ...url });
    onCleanup(() => c.close());
    await c.assign([{ topic: 't', partition: 0, offset: 0 }]);
    await expect(c.poll()).rejects.toMatchObject({ codeName: 'CORRUPT_MESSAGE' });
    expect(c.position('t', 0)).toBe(0);
  });
});
