"""Produce or consume with a Python Kafka client, for the interop tests (test/interop/kafka-clients.test.ts).

usage: py-client.py <confluent|kafka-python> <produce|consume|consume-many|first-error> <json>
Keys, values and header values travel base64-encoded (null stays null), so bytes compare exactly.
produce json: {"bootstrap", "topic", "partition", "records": [{"key", "value", "headers": [[k, v]]}]}
  prints {"offsets": [...]}
consume json: {"bootstrap", "topic", "partition", "offset", "count"}
  prints {"records": [{"offset", "key", "value", "headers"}]}
consume-many json: {"bootstrap", "reads": [{"topic", "partition", "offset", "count"}]}: one process for several
  topics (the interpreter and client start once), prints {"reads": [<consume's output>, ...]}
first-error json (confluent only): {"bootstrap"}: connects and prints the first error librdkafka reports
  {"name", "message"} (e.g. a refused login), without waiting out a poll or delivery timeout
init-transactions json (confluent only): {"bootstrap", "transactionalId", "timeoutS"}: init_transactions, prints
  {"name", "message", "fatal"} of the error it raises, or {"name": null} if it succeeds
Either may hold "config": extra client settings (security, SASL, TLS), passed to the client as given.
"""
import base64
import json
import sys


def b64d(s):
    return None if s is None else base64.b64decode(s)


def b64e(b):
    return None if b is None else base64.b64encode(b).decode()


def confluent_produce(a):
    from confluent_kafka import Producer
    offsets = []
    errors = []

    def done(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            offsets.append(msg.offset())

    p = Producer({'bootstrap.servers': a['bootstrap'], 'compression.type': 'none', 'linger.ms': 0, **a.get('config', {})})
    for r in a['records']:
        p.produce(a['topic'], key=b64d(r['key']), value=b64d(r['value']),
                  headers=[(k, b64d(v)) for k, v in r['headers']], partition=a['partition'], on_delivery=done)
    if p.flush(30) != 0 or errors:
        raise SystemExit('not delivered: %r' % errors)
    return {'offsets': offsets}


def confluent_consume(a):
    from confluent_kafka import Consumer, TopicPartition
    # group.id is required by the client; assign() with an explicit offset never joins nor commits.
    c = Consumer({'bootstrap.servers': a['bootstrap'], 'group.id': 'interop-unused', 'enable.auto.commit': False,
                  'enable.auto.offset.store': False, **a.get('config', {})})
    c.assign([TopicPartition(a['topic'], a['partition'], a['offset'])])
    out = []
    while len(out) < a['count']:
        m = c.poll(20)
        if m is None:
            raise SystemExit('timed out after %d records' % len(out))
        if m.error():
            raise SystemExit(str(m.error()))
        out.append({'offset': m.offset(), 'key': b64e(m.key()), 'value': b64e(m.value()),
                    'headers': [[k, b64e(v)] for k, v in (m.headers() or [])]})
    c.close()
    return {'records': out}


def confluent_first_error(a):
    from confluent_kafka import Producer
    import time
    errors = []
    p = Producer({'bootstrap.servers': a['bootstrap'], 'error_cb': errors.append, **a.get('config', {})})
    deadline = time.monotonic() + 30
    while not errors and time.monotonic() < deadline:
        p.poll(0.2)
    if not errors:
        raise SystemExit('no error within 30s')
    return {'name': errors[0].name(), 'message': errors[0].str()}


def confluent_init_transactions(a):
    from confluent_kafka import KafkaException, Producer
    p = Producer({'bootstrap.servers': a['bootstrap'], 'transactional.id': a['transactionalId'], **a.get('config', {})})
    try:
        p.init_transactions(a['timeoutS'])
    except KafkaException as e:
        err = e.args[0]
        return {'name': err.name(), 'message': err.str(), 'fatal': err.fatal()}
    return {'name': None}


def kafka_python_produce(a):
    from kafka import KafkaProducer
    p = KafkaProducer(bootstrap_servers=a['bootstrap'], acks=1, **a.get('config', {}))
    futures = [p.send(a['topic'], key=b64d(r['key']), value=b64d(r['value']),
                      headers=[(k, b64d(v)) for k, v in r['headers']], partition=a['partition'])
               for r in a['records']]
    offsets = [f.get(timeout=30).offset for f in futures]
    p.close()
    return {'offsets': offsets}


def kafka_python_consume(a):
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=a['bootstrap'], enable_auto_commit=False, consumer_timeout_ms=20000, **a.get('config', {}))
    tp = TopicPartition(a['topic'], a['partition'])
    c.assign([tp])
    c.seek(tp, a['offset'])
    out = []
    for m in c:
        out.append({'offset': m.offset, 'key': b64e(m.key), 'value': b64e(m.value),
                    'headers': [[k, b64e(v)] for k, v in m.headers]})
        if len(out) == a['count']:
            break
    c.close()
    if len(out) < a['count']:
        raise SystemExit('timed out after %d records' % len(out))
    return {'records': out}


def consume_many(consume):
    def run(a):
        return {'reads': [consume({**a, **r}) for r in a['reads']]}
    return run


ops = {
    ('confluent', 'consume-many'): consume_many(confluent_consume),
    ('kafka-python', 'consume-many'): consume_many(kafka_python_consume),
    ('confluent', 'produce'): confluent_produce,
    ('confluent', 'consume'): confluent_consume,
    ('confluent', 'first-error'): confluent_first_error,
    ('confluent', 'init-transactions'): confluent_init_transactions,
    ('kafka-python', 'produce'): kafka_python_produce,
    ('kafka-python', 'consume'): kafka_python_consume,
}

if __name__ == '__main__':
    print(json.dumps(ops[(sys.argv[1], sys.argv[2])](json.loads(sys.argv[3]))))
