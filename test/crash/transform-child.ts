// The exactly-once transform that exactly-once.test.ts runs as a child process and kills with -9:
// reads topic `in` as a member of group `transform`, writes each value + '!' to topic `out` (same
// partition, the input offset in header `in-offset`) with produceAndCommit, until killed. One
// stdout line per stored transaction ("committed N"), and per failure ("error CODE") — the broker
// may be down for a while, so failures are retried, after a pause that keeps the loop from spinning.
//
// node --import tsx test/crash/transform-child.ts   (environment: PORT)
import { setTimeout as sleep } from 'node:timers/promises';
import { GroupConsumer, isTributaryError } from '../../src/client/index.ts';

const port = Number(process.env.PORT);
const RETRY_PAUSE_MS = 50;

async function connect(): Promise<GroupConsumer> {
  for (;;) {
    try {
      return await GroupConsumer.connect({
        port,
        group: 'transform',
        topics: ['in'],
        delivery: 'exactly-once',
        autoOffsetReset: 'earliest',
        sessionTimeoutMs: 1000,
        // One batch per partition per fetch: many small transactions, so kills land anywhere.
        maxBytes: 1,
        maxWaitMs: 100,
        requestTimeoutMs: 5000,
      });
    } catch (err) {
      process.stdout.write(`error ${isTributaryError(err) ? err.codeName : String(err)}\n`);
      await sleep(RETRY_PAUSE_MS);
    }
  }
}

const consumer = await connect();
for (;;) {
  try {
    const records = await consumer.poll();
    if (records.length === 0) continue;
    await consumer.produceAndCommit(
      records.map((r) => ({ topic: 'out', partition: r.partition, key: r.key, value: `${r.value!.toString()}!`, headers: { 'in-offset': String(r.offset) } })),
    );
    process.stdout.write(`committed ${records.length}\n`);
  } catch (err) {
    process.stdout.write(`error ${isTributaryError(err) ? err.codeName : String(err)}\n`);
    await sleep(RETRY_PAUSE_MS);
  }
}
