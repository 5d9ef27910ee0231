import fs from 'node:fs';
import path from 'node:path';
import { it } from 'vitest';
import { ApiKey } from '../../src/protocol/kafka/index.ts';
import { freePort, startChildBroker, waitForPort } from '../helpers/child-broker.ts';
import { RawKafka } from '../helpers/kafka.ts';
import { tempDir } from '../helpers/temp.ts';
import { FUZZ_TOPICS, fuzzCase, prng } from './kafka-request-gen.ts';
it('spike', { timeout: 60_000 }, async () => {
  const kafkaPort = await freePort();
  const broker = await startChildBroker(path.join(tempDir(), 'data'), await freePort(), { NODE_OPTIONS: '--max-old-space-size=64', TRIBUTARY_LISTENERS__KAFKA__ENABLED: 'true', TRIBUTARY_LISTENERS__KAFKA__HOST: '127.0.0.1', TRIBUTARY_LISTENERS__KAFKA__PORT: String(kafkaPort), TRIBUTARY_LISTENERS__KAFKA__REQUEST_BYTES_MAX: String(1 << 20) });
  await waitForPort(broker, broker.port);
  const rss = () => Number(/^RssAnon:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${broker.child.pid}/status`, 'utf8'))?.[1]) / 1024;
  const good = await RawKafka.connect(kafkaPort);
  for (const name of ['good', ...FUZZ_TOPICS]) await good.request(ApiKey.Metadata, 4, { topics: [{ name }], allowAutoTopicCreation: true });
  const n = Number(process.env.SPIKE_CASE);
  for (let k = 0; k < 3; k++) {
    const c = fuzzCase(prng(0x5eed_0010 + n), n, 1 << 20);
    if (process.env.SPIKE_ACKS) {
      const { decodeRequestFrame, encodeRequest } = await import('../../src/protocol/kafka/index.ts');
      const d = decodeRequestFrame(c.bytes.subarray(4)) as any;
      d.value.body.acks = Number(process.env.SPIKE_ACKS);
      if (process.env.SPIKE_NOREC) for (const t of d.value.body.topicData) for (const p of t.partitionData) p.records = null;
      c.bytes = encodeRequest(0, d.value.header.apiVersion, 1, 'x', d.value.body);
    }
    const before = rss();
    const raw = await RawKafka.connect(kafkaPort);
    raw.socket.write(c.bytes);
    const f = await raw.nextFrame();
    let peak = rss();
    for (let j = 0; j < 20; j++) { await new Promise((r) => setImmediate(r)); peak = Math.max(peak, rss()); }
    console.log(`case ${n} try ${k}: answered ${f?.length} bytes; rss anon ${before.toFixed(0)} → ${peak.toFixed(0)} MiB`);
    raw.socket.destroy();
  }
});
