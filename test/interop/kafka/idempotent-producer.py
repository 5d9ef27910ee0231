"""An idempotent confluent-kafka (librdkafka) producer driven line by line, for the broker-restart
interop test (test/interop/kafka-idempotent-restart.test.ts).

usage: idempotent-producer.py <bootstrap> <topic>
stdin: one message value per line; each is produced to partition 0 and waited for before the next
line is read. stdout: "delivered <value> <offset>" per message, or "failed <value> <error>".
"""
import sys

from confluent_kafka import Producer


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]
    p = Producer({'bootstrap.servers': bootstrap, 'enable.idempotence': True, 'linger.ms': 0,
                  'reconnect.backoff.ms': 50, 'reconnect.backoff.max.ms': 500, 'retry.backoff.ms': 50})
    outcome = []

    def done(err, msg):
        outcome.append('failed %s %s' % (msg.value().decode(), err) if err is not None
                       else 'delivered %s %d' % (msg.value().decode(), msg.offset()))

    for line in sys.stdin:
        value = line.strip()
        outcome.clear()
        p.produce(topic, value=value.encode(), partition=0, on_delivery=done)
        while not outcome:
            p.poll(0.05)
        print(outcome[0], flush=True)
    p.flush(30)


main()
