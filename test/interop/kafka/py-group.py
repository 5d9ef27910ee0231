"""A confluent-kafka (librdkafka) or kafka-python group consumer, for test/interop/kafka-groups.test.ts.

usage: py-group.py <json>  json: {"bootstrap", "group", "topic", "count", "lib"?: "kafka-python"}
Subscribes with the group, and for each record commits its offset synchronously, then prints one
line {"p": partition, "o": offset, "v": value} (flushed). Exits 0 after `count` distinct records;
a commit that fails while the broker is away is retried with the next record (the record may then
come again: at least once). Gives up after 120 s.
"""
import json
import sys
import time

a = json.loads(sys.argv[1])


def kafka_python():
    from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
    c = KafkaConsumer(a['topic'], bootstrap_servers=a['bootstrap'], group_id=a['group'], auto_offset_reset='earliest',
                      enable_auto_commit=False, consumer_timeout_ms=120000)
    seen = set()
    for m in c:
        c.commit({TopicPartition(m.topic, m.partition): OffsetAndMetadata(m.offset + 1, None)})
        seen.add((m.partition, m.offset))
        print(json.dumps({'p': m.partition, 'o': m.offset, 'v': m.value.decode()}), flush=True)
        if len(seen) >= a['count']:
            break
    c.close()
    if len(seen) < a['count']:
        raise SystemExit('timed out after %d records' % len(seen))
    sys.exit(0)


if a.get('lib') == 'kafka-python':
    kafka_python()

from confluent_kafka import Consumer, KafkaException  # noqa: E402

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
