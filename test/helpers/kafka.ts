// A test broker with the Kafka listener on an ephemeral loopback port, and a raw Kafka client over
// the project's codec (requests encoded, responses decoded, frames cut by their size prefix).

import net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { parseConfig } from '../../src/config/load.ts';
import { startTributary, type RunningTributary } from '../../src/main.ts';
import { decodeResponse, encodeRequest, type ApiKeyNumber, type RequestInput, type ResponseBody } from '../../src/protocol/kafka/index.ts';
import { merge, startTestBroker, type TestBroker } from './broker.ts';
import { onCleanup, tempDir } from './temp.ts';

export type KafkaTestBroker = TestBroker & { kafkaPort: number };

export async function startKafkaBroker(over: Record<string, unknown> = {}): Promise<KafkaTestBroker> {
  const broker = await startTestBroker(merge({ listeners: { kafka: { enabled: true, host: '127.0.0.1', port: 0 } } }, over));
  return Object.assign(broker, { kafkaPort: broker.running.kafka!.port });
}

/** A raw connection: send encoded requests, read size-prefixed frames as they come. */
export class RawKafka {
  readonly socket: net.Socket;
  private buffered = Buffer.alloc(0);
  private readonly frames: Buffer[] = [];
  private waiter: (() => void) | null = null;
  private correlationId = 1;
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, d]);
      while (this.buffered.length >= 4 && this.buffered.length >= 4 + this.buffered.readInt32BE(0)) {
        const size = this.buffered.readInt32BE(0);
        this.frames.push(this.buffered.subarray(4, 4 + size));
        this.buffered = this.buffered.subarray(4 + size);
      }
      this.waiter?.();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    void this.closed.then(() => this.waiter?.());
  }

  static async connect(port: number): Promise<RawKafka> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const raw = new RawKafka(socket);
    onCleanup(async () => void socket.destroy());
    return raw;
  }

  /** Encodes a request (returns its correlation id) and writes it. */
  send<K extends ApiKeyNumber>(apiKey: K, version: number, body: RequestInput<K>, clientId: string | null = 'raw-test'): number {
    const corr = this.correlationId++;
    this.socket.write(encodeRequest(apiKey, version, corr, clientId, body));
    return corr;
  }

  /** The next response frame (without its size prefix); null when the connection closed first. */
  async nextFrame(): Promise<Buffer | null> {
    for (;;) {
      const f = this.frames.shift();
      if (f) return f;
      if (this.socket.destroyed || this.socket.readableEnded) return null;
      await new Promise<void>((resolve) => (this.waiter = resolve));
      this.waiter = null;
    }
  }

  async response<K extends ApiKeyNumber>(apiKey: K, version: number): Promise<{ correlationId: number; body: ResponseBody<K> }> {
    const frame = await this.nextFrame();
    if (frame === null) throw new Error('connection closed before the response');
    const r = decodeResponse(apiKey, version, frame);
    if (!r.ok) throw new Error(`response does not decode: ${r.message}`);
    return r.value as { correlationId: number; body: ResponseBody<K> };
  }

  async request<K extends ApiKeyNumber>(apiKey: K, version: number, body: RequestInput<K>): Promise<ResponseBody<K>> {
    const corr = this.send(apiKey, version, body);
    const r = await this.response(apiKey, version);
    if (r.correlationId !== corr) throw new Error(`correlation id ${r.correlationId}, expected ${corr}`);
    return r.body;
  }
}

/** A broker whose log lines (JSON objects) are kept, for tests that assert what was logged. */
export async function startKafkaBrokerWithLogs(kafka: Record<string, unknown> = {}, rest: Record<string, unknown> = {}): Promise<{ running: RunningTributary; kafkaPort: number; logs: Record<string, unknown>[] }> {
  const logs: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const config = parseConfig(
    { dataDir: tempDir(), listeners: { edge: { enabled: false }, http: { enabled: false }, mqtt: { enabled: false }, kafka: { enabled: true, host: '127.0.0.1', port: 0, ...kafka } }, ...rest },
    'test',
  );
  const running = await startTributary(config, pino({ level: 'info' }, stream));
  onCleanup(() => running.close());
  return { running, kafkaPort: running.kafka!.port, logs };
}
