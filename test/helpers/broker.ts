import { Admin, Consumer, Producer, type ConsumedRecord, type ConsumerOptions, type ProducerOptions } from '../../src/client/index.ts';
import { parseConfig } from '../../src/config/load.ts';
import { startTributary, type RunningTributary, type StartOptions } from '../../src/main.ts';
import type { Logger } from 'pino';
import { onCleanup, silentLogger, tempDir } from './temp.ts';

export interface TestBroker {
  url: { host: string; port: number };
  running: RunningTributary;
  dataDir: string;
  /** Stops the broker (clients see SHUTTING_DOWN). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data dir. */
  start(): Promise<void>;
}

type Raw = Record<string, unknown>;

/**
 * A real broker on 127.0.0.1 (edge listener only, ephemeral port; MQTT and Kafka only when `over` turns them on) over a temp data dir, closed after the test.
 * `logger`: for a test that asserts what the broker logs; `options`: startTributary's (the status page's log ring).
 */
export async function startTestBroker(over: Raw = {}, logger: Logger = silentLogger, options: StartOptions = {}): Promise<TestBroker> {
  const dataDir = tempDir();
  const config = (port: number) =>
    parseConfig(merge({ dataDir, listeners: { edge: { host: '127.0.0.1', port }, http: { enabled: false }, mqtt: { enabled: false }, kafka: { enabled: false } } }, over), 'test');
  let running: RunningTributary | null = await startTributary(config(0), logger, options);
  const port = running.edge!.port;
  const broker: TestBroker = {
    url: { host: '127.0.0.1', port },
    get running() {
      if (running === null) throw new Error('the test broker is stopped');
      return running;
    },
    dataDir,
    async stop() {
      await running?.close();
      running = null;
    },
    async start() {
      running ??= await startTributary(config(port), logger, options);
    },
  };
  onCleanup(() => broker.stop());
  return broker;
}

/** Deep merge of config objects; lists and leaves in `over` replace those in `base`. */
export function merge(base: Raw, over: Raw): Raw {
  const out: Raw = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isObject(b) && isObject(v) ? merge(b, v) : v;
  }
  return out;
}

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---- clients on a test broker, closed after the test ----

export async function producer(broker: TestBroker, opts: Partial<ProducerOptions> = {}): Promise<Producer> {
  const p = await Producer.connect({ ...broker.url, ...opts });
  onCleanup(() => p.close());
  return p;
}

export async function consumer(broker: TestBroker, opts: Partial<ConsumerOptions> = {}): Promise<Consumer> {
  const c = await Consumer.connect({ ...broker.url, maxWaitMs: 100, ...opts });
  onCleanup(() => c.close());
  return c;
}

export async function admin(broker: TestBroker): Promise<Admin> {
  const a = await Admin.connect(broker.url);
  onCleanup(() => a.close());
  return a;
}

export async function createTopic(broker: TestBroker, name: string, partitions: number): Promise<void> {
  await (await admin(broker)).createTopic({ name, partitions });
}

/** Every record of the topic from the start, polling until `count` arrived (or 8 s passed). */
export async function readAll(broker: TestBroker, topic: string, partitions: number, count: number): Promise<ConsumedRecord[]> {
  const c = await consumer(broker, { maxBytes: 4 * 1024 * 1024 });
  await c.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition, offset: 'earliest' as const })));
  const out: ConsumedRecord[] = [];
  const deadline = Date.now() + 8_000;
  while (out.length < count && Date.now() < deadline) out.push(...(await c.poll()));
  return out;
}

export function byPartition(records: ConsumedRecord[]): Map<number, ConsumedRecord[]> {
  const map = new Map<number, ConsumedRecord[]>();
  for (const r of records) {
    let list = map.get(r.partition);
    if (list === undefined) map.set(r.partition, (list = []));
    list.push(r);
  }
  return map;
}
