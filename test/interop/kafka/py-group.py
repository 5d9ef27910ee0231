"""A confluent-kafka (librdkafka) group consumer, for test/interop/kafka-groups.test.ts.

usage: py-group.py <json>  json: {"bootstrap", "group", "topic", "count"}
Subscribes with the group, and for each record commits its offset synchronously, then prints one
line {"p": partition, "o": offset, "v": value} (flushed). Exits 0 after `count` distinct records;
a commit that fails while the broker is away is retried with the next record (the record may then
come again: at least once). Gives up after 120 s.
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException

a = json.loads(sys.argv[1])
c = Consumer({'bootstrap.servers': a['bootstrap'], 'group.id': a['group'], 'auto.offset.reset': 'earliest',
              'enable.auto.commit': False, 'session.timeout.ms': 6000, 'heartbeat.interval.ms': 500,
              'reconnect.backoff.max.ms': 500})
c.subscribe([a['topic']])
seen = set()
deadline = time.time() + 120
while len(seen) < a['count']:
    if time.time() > deadline:
        raise SystemExit('timed out after %d records' % len(seen))
    m = c.poll(1)
    if m is None or m.error():
        continue
    try:
        c.commit(message=m, asynchronous=False)
    except KafkaException:
        pass
    seen.add((m.partition(), m.offset()))
    print(json.dumps({'p': m.partition(), 'o': m.offset(), 'v': m.value().decode()}), flush=True)
c.close()
