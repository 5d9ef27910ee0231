// DurablePublisher's bookkeeping around a failed append and around shutdown, seen from aedes' side:
// every PUBLISH aedes handed the listener gets exactly one answer, a PUBACK only for a committed
// record, a shutdown still acknowledges (on the wire) what it appended, and closing the listener
// twice does not strand either caller.
import type { Client, PublishPacket } from 'aedes';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import type { MqttListener } from '../../../src/listeners/mqtt/mqtt-listener.ts';
import { holdAppends, logRecords, RawMqtt, startMqttBroker } from '../../helpers/mqtt.ts';
import { onCleanup } from '../../helpers/temp.ts';

type Done = (err?: Error | null) => void;

/** The aedes instance's hooks the listener is driven through; not part of MqttListener's API. */
interface AedesHooks {
  authorizePublish(client: Client | null, packet: PublishPacket, done: Done): void;
  persistence: { incomingGetPacket(client: Client, packet: PublishPacket): Promise<unknown> };
}

function aedesOf(listener: MqttListener): AedesHooks {
  return (listener as unknown as { aedes: AedesHooks }).aedes;
}

/**
 * Every answer the listener gives aedes for each PUBLISH, by MQTT topic: null for "go on"
 * (PUBACK/PUBREC, delivery), else the error code. A PUBLISH whose callback is never called leaves
 * an empty list.
 */
function recordAnswers(listener: MqttListener): Map<string, (string | null)[]> {
  const aedes = aedesOf(listener);
  const answers = new Map<string, (string | null)[]>();
  const authorize = aedes.authorizePublish;
  aedes.authorizePublish = (client, packet, done) => {
    const seen: (string | null)[] = [];
    answers.set(packet.topic, seen);
    authorize.call(aedes, client, packet, (err) => {
      seen.push(err ? ((err as { codeName?: string }).codeName ?? err.message) : null);
      done(err);
    });
  };
  return answers;
}

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function publish(topic: string, qos: 0 | 1 | 2, messageId: number, payload: Buffer = Buffer.from(topic)): Packet {
  return qos === 0
    ? { cmd: 'publish', topic, payload, qos, retain: false, dup: false }
    : { cmd: 'publish', topic, payload, qos, messageId, retain: false, dup: false };
}

describe('DurablePublisher', () => {
  it('answers every PUBLISH queued behind a failed append exactly once, acknowledging only committed records ahead of it', async () => {
    const broker = await startMqttBroker({ storage: { diskBudgetBytes: 2048, diskBudgetPolicy: 'reject-new' }, routes: [{ match: 'small/#', topic: 'small' }] });
    const listener = broker.running.mqtt!;
    const answers = recordAnswers(listener);
    // Holds the QoS 2 duplicate check, so the PUBLISHes behind it wait in admission, never appended.
    let releaseCheck!: () => void;
    const checkHeld = new Promise<void>((resolve) => (releaseCheck = resolve));
    onCleanup(async () => releaseCheck());
    const persistence = aedesOf(listener).persistence;
    const incomingGetPacket = persistence.incomingGetPacket.bind(persistence);
    persistence.incomingGetPacket = (client, packet) => checkHeld.then(() => incomingGetPacket(client, packet));

    const peer = await RawMqtt.session(broker.mqttPort, 'burst');
    // One write, so aedes handles the whole burst in one turn: small/1 and small/2 share a batch that
    // fits the budget, big/1 (default route, its own batch) does not: STORAGE_FULL in the middle.
    const burst = [
      publish('small/1', 1, 1),
      publish('big/1', 1, 2, Buffer.alloc(4096, 1)),
      publish('small/2', 1, 3),
      publish('held/1', 2, 4),
      publish('small/3', 1, 5),
      publish('after/1', 0, 0),
    ];
    peer.write(Buffer.concat(burst.map((p) => mqttPacket.generate(p))));
    await peer.waitClosed();
    const topics = burst.map((p) => (p as { topic: string }).topic);
    await expect.poll(() => topics.filter((t) => (answers.get(t) ?? []).length === 0), { timeout: 3_000 }).toEqual([]);

    const logged = (await logRecords(broker.running, 'small')).map((r) => r.key!.toString());
    expect(logged).toEqual(['small/1', 'small/2']);
    expect(await logRecords(broker.running, 'mqtt')).toEqual([]);
    const acked = peer.packets.filter((p) => p.cmd === 'puback' || p.cmd === 'pubrec').map((p) => topics[(p as { messageId: number }).messageId - 1]);
    // small/2 is committed too, but it came after big/1, which is never acknowledged [MQTT-4.6.0-2].
    expect(acked).toEqual(['small/1']);
    expect(broker.running.broker.counters.errors.get('STORAGE_FULL')).toBe(1);
    expect(listener.metrics.closed.get('append-failed')).toBe(1);

    releaseCheck();
    await broker.stop();
    expect(Object.fromEntries(answers)).toEqual({
      'small/1': [null],
      'big/1': ['STORAGE_FULL'],
      'small/2': ['STORAGE_FULL'],
      'held/1': ['STORAGE_FULL'],
      'small/3': ['STORAGE_FULL'],
      'after/1': ['STORAGE_FULL'],
    });
  });

  it('closes the connection when a QoS 0 append fails with nothing behind it', async () => {
    const broker = await startMqttBroker({ storage: { diskBudgetBytes: 2048, diskBudgetPolicy: 'reject-new' } });
    const peer = await RawMqtt.session(broker.mqttPort, 'qos0');
    peer.send(publish('big/0', 0, 0, Buffer.alloc(4096, 1)));
    await peer.waitClosed();
    expect(await logRecords(broker.running, 'mqtt')).toEqual([]);
    expect(broker.running.mqtt!.metrics.closed.get('append-failed')).toBe(1);
  });

  it('stops reading a client with inflightMax appends in flight, and reads on once they complete', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { inflightMax: 4 } } });
    const running = broker.running;
    const releaseAppends = holdAppends(running);
    const peer = await RawMqtt.session(broker.mqttPort, 'flood');
    // QoS 0, one write each: aedes does not wait on them, so only the gate can stop the reading.
    for (let i = 0; i < 40; i++) {
      peer.send({ cmd: 'publish', topic: `flood/${i}`, payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 100));
    // Packets already past the gate when it closes still count (8 here at inflightMax 4; more when a
    // busy loop reads several writes at once); without the gate all 40 are read.
    expect(running.mqtt!.metrics.publishesIn[0]).toBeLessThanOrEqual(16);
    releaseAppends();
    await expect.poll(() => running.mqtt!.metrics.publishesIn[0], { timeout: 5_000 }).toBe(40);
    await expect.poll(async () => (await logRecords(running, 'mqtt')).length, { timeout: 5_000 }).toBe(40);
  });

  it('resolves a second close together with the first while an append is in flight', async () => {
    const broker = await startMqttBroker();
    const running = broker.running;
    const releaseAppends = holdAppends(running);
    const peer = await RawMqtt.session(broker.mqttPort, 'closing');
    peer.send(publish('closing/1', 1, 1));
    await expect.poll(() => running.mqtt!.metrics.publishesIn[1]).toBe(1);

    const first = running.mqtt!.close();
    const second = running.mqtt!.close();
    releaseAppends();
    await within(Promise.all([first, second]), 5_000, 'both closes');
    expect((await logRecords(running, 'mqtt')).map((r) => r.key!.toString())).toEqual(['closing/1']);
  });

  it('on close, puts the PUBACK of an append in flight on the wire, before refusing the publishes that arrive meanwhile', async () => {
    const broker = await startMqttBroker();
    const running = broker.running;
    const listener = running.mqtt!;
    const answers = recordAnswers(listener);
    const releaseAppends = holdAppends(running);
    const quiet = await RawMqtt.session(broker.mqttPort, 'quiet');
    const busy = await RawMqtt.session(broker.mqttPort, 'busy');
    quiet.send(publish('quiet/1', 1, 1));
    busy.send(publish('busy/1', 1, 1));
    await expect.poll(() => listener.metrics.publishesIn[1]).toBe(2);

    const closing = listener.close();
    // Arrive while busy/1 is still appending: refused, but only after busy/1's PUBACK.
    busy.write(Buffer.concat([publish('busy/2', 1, 2), publish('busy/3', 0, 0)].map((p) => mqttPacket.generate(p))));
    await expect.poll(() => answers.has('busy/2')).toBe(true);
    expect(answers.get('busy/2')).toEqual([]);
    releaseAppends();
    await within(closing, 5_000, 'close');
    await Promise.all([quiet.waitClosed(), busy.waitClosed()]);

    expect(quiet.packets.filter((p) => p.cmd === 'puback').map((p) => (p as { messageId: number }).messageId)).toEqual([1]);
    expect(busy.packets.filter((p) => p.cmd === 'puback').map((p) => (p as { messageId: number }).messageId)).toEqual([1]);
    expect((await logRecords(running, 'mqtt')).map((r) => r.key!.toString()).sort()).toEqual(['busy/1', 'quiet/1']);
    expect(Object.fromEntries(answers)).toEqual({ 'quiet/1': [null], 'busy/1': [null], 'busy/2': ['SHUTTING_DOWN'], 'busy/3': ['SHUTTING_DOWN'] });
    // Once per connection, not per refused PUBLISH; quiet sent nothing during the close.
    expect(listener.metrics.closed.get('shutting-down')).toBe(1);
  });

  it('keeps a QoS 2 PUBLISH exactly once across a graceful restart that closed its connection mid-append', async () => {
    const broker = await startMqttBroker();
    const releaseAppends = holdAppends(broker.running);
    const peer = await RawMqtt.session(broker.mqttPort, 'exactly-once', false);
    peer.send(publish('qos2/1', 2, 7));
    await expect.poll(() => broker.running.mqtt!.metrics.publishesIn[2]).toBe(1);

    const stopping = broker.stop();
    releaseAppends();
    await within(stopping, 5_000, 'stop');
    await peer.waitClosed();
    await broker.start();

    // The client did not see PUBREC (or did not trust it): it sends the PUBLISH again, DUP set.
    const again = await RawMqtt.session(broker.running.mqtt!.port, 'exactly-once', false);
    again.send({ cmd: 'publish', topic: 'qos2/1', payload: Buffer.from('qos2/1'), qos: 2, messageId: 7, retain: false, dup: true });
    await again.waitFor((p) => p.cmd === 'pubrec' && (p as { messageId: number }).messageId === 7);
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.key!.toString())).toEqual(['qos2/1']);
  });
});
