// MQTT 3.1.1 conformance, §3.3.1.3 RETAIN and §3.1.2.5 the will: what the broker stores, replaces,
// deletes and delivers, and when a will is published; each test names its normative statements.
import type { IPublishPacket } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { deliveries, received, retainedOnSubscribe } from '../../helpers/mqtt-conformance.ts';
import { RawMqtt, startMqttBroker } from '../../helpers/mqtt.ts';

const publish = (topic: string, payload: string, qos: 0 | 1, retain: boolean, messageId = 1): IPublishPacket => ({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, messageId: qos ? messageId : undefined, dup: false, retain });

/** A publisher with a retained marker on `marker`, for retainedOnSubscribe. */
async function publisher(port: number, marker: string): Promise<RawMqtt> {
  const pub = await RawMqtt.session(port, `pub-${marker}`);
  pub.send(publish(marker, 'marker', 1, true, 60_000));
  await pub.waitFor((p) => p.cmd === 'puback' && p.messageId === 60_000);
  return pub;
}

async function puback(pub: RawMqtt, packet: IPublishPacket): Promise<void> {
  pub.send(packet);
  await pub.waitFor((p) => p.cmd === 'puback' && p.messageId === packet.messageId);
}

const asText = (ps: IPublishPacket[]) => ps.map((p) => `${p.topic}=${p.payload.toString()} retain=${p.retain}`);

describe('MQTT 3.1.1 retained messages', () => {
  it('[MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-8] [MQTT-3.1.2.7] stores a retained message, past its publisher’s clean session, and delivers it to a new subscription with RETAIN 1', async () => {
    const broker = await startMqttBroker();
    const pub = await publisher(broker.mqttPort, 'm1');
    await puback(pub, publish('ret/a', 'v1', 1, true, 2));
    pub.send({ cmd: 'disconnect' });
    await pub.waitClosed();
    const sub = await RawMqtt.session(broker.mqttPort, 'ret-sub');
    expect(asText(await retainedOnSubscribe(sub, 'ret/#', 'm1'))).toEqual(['ret/a=v1 retain=true']);
  });

  it('[MQTT-3.3.1-9] delivers a RETAIN 1 PUBLISH to an established subscription with RETAIN 0', async () => {
    const broker = await startMqttBroker();
    const sub = await RawMqtt.session(broker.mqttPort, 'live-sub');
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'live/#', qos: 1 }] });
    await sub.waitFor((p) => p.cmd === 'suback');
    const pub = await RawMqtt.session(broker.mqttPort, 'live-pub');
    await puback(pub, publish('live/a', 'v', 1, true));
    expect(((await sub.waitFor((p) => p.cmd === 'publish')) as IPublishPacket).retain).toBe(false);
  });

  it('[MQTT-3.3.1-5] [MQTT-3.3.1-7] replaces the retained message of a topic, also by a QoS 0 one', async () => {
    const broker = await startMqttBroker();
    const pub = await publisher(broker.mqttPort, 'm2');
    await puback(pub, publish('rep/a', 'old', 1, true, 2));
    await puback(pub, publish('rep/a', 'newer', 1, true, 3));
    expect(asText(await retainedOnSubscribe(await RawMqtt.session(broker.mqttPort, 'rep-1'), 'rep/#', 'm2'))).toEqual(['rep/a=newer retain=true']);
    pub.send(publish('rep/a', 'qos0', 0, true));
    // Ordering barrier: a QoS 1 PUBLISH sent after the QoS 0 one is acknowledged after it was taken.
    await puback(pub, publish('rep/other', 'x', 1, false, 4));
    expect(asText(await retainedOnSubscribe(await RawMqtt.session(broker.mqttPort, 'rep-2'), 'rep/a', 'm2'))).toEqual(['rep/a=qos0 retain=true']);
  });

  it('[MQTT-3.3.1-10] [MQTT-3.3.1-11] a zero-byte retained PUBLISH removes the retained message, is delivered as usual, and is not stored', async () => {
    const broker = await startMqttBroker();
    const live = await RawMqtt.session(broker.mqttPort, 'del-live');
    live.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'del/#', qos: 1 }] });
    await live.waitFor((p) => p.cmd === 'suback');
    const pub = await publisher(broker.mqttPort, 'm3');
    await puback(pub, publish('del/a', 'v', 1, true, 2));
    await puback(pub, publish('del/a', '', 1, true, 3));
    await live.waitFor(() => received(live, 'publish').length === 2);
    expect(deliveries(live)).toEqual(['del/a=v', 'del/a=']);
    expect(await retainedOnSubscribe(await RawMqtt.session(broker.mqttPort, 'del-new'), 'del/#', 'm3')).toEqual([]);
  });

  it('[MQTT-3.3.1-12] neither stores nor replaces on a RETAIN 0 PUBLISH', async () => {
    const broker = await startMqttBroker();
    const pub = await publisher(broker.mqttPort, 'm4');
    await puback(pub, publish('keep/a', 'retained', 1, true, 2));
    await puback(pub, publish('keep/a', 'not-retained', 1, false, 3));
    await puback(pub, publish('keep/b', 'not-retained', 1, false, 4));
    expect(asText(await retainedOnSubscribe(await RawMqtt.session(broker.mqttPort, 'keep-sub'), 'keep/#', 'm4'))).toEqual(['keep/a=retained retain=true']);
  });

  it('[MQTT-3.8.4-3] replaces a subscription with an identical filter: the retained message is sent again, live ones once', async () => {
    const broker = await startMqttBroker();
    const pub = await publisher(broker.mqttPort, 'm5');
    await puback(pub, publish('same/a', 'r', 1, true, 2));
    const sub = await RawMqtt.session(broker.mqttPort, 'same-sub');
    expect(asText(await retainedOnSubscribe(sub, 'same/#', 'm5'))).toEqual(['same/a=r retain=true']);
    sub.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'same/#', qos: 1 }] });
    await sub.waitFor((p) => p.cmd === 'publish' && p.topic === 'same/a' && received(sub, 'publish').filter((q) => q.topic === 'same/a').length === 2);
    await puback(pub, publish('same/b', 'live', 1, false, 3));
    await puback(pub, publish('m5', 'end', 1, false, 4));
    await sub.waitFor((p) => p.cmd === 'publish' && p.topic === 'm5' && !p.retain);
    expect(deliveries(sub).filter((d) => d.startsWith('same/b'))).toEqual(['same/b=live']);
  });
});

describe('MQTT 3.1.1 will messages', () => {
  async function watcher(port: number, id: string): Promise<RawMqtt> {
    const sub = await RawMqtt.session(port, id);
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'wills/#', qos: 2 }] });
    await sub.waitFor((p) => p.cmd === 'suback');
    return sub;
  }

  const willClient = async (port: number, clientId: string, qos: 0 | 1 | 2, retain: boolean): Promise<RawMqtt> => {
    const peer = await RawMqtt.connect(port);
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 0, will: { topic: `wills/${clientId}`, payload: Buffer.from(`${clientId} gone`), qos, retain } });
    await peer.waitFor((p) => p.cmd === 'connack');
    return peer;
  };

  it('[MQTT-3.1.2-8] [MQTT-3.1.2-14] [MQTT-3.1.2-16] publishes the will when the connection drops, at its QoS, not retained when will retain is 0', async () => {
    const broker = await startMqttBroker();
    const sub = await watcher(broker.mqttPort, 'will-watch');
    const peer = await willClient(broker.mqttPort, 'dropper', 1, false);
    peer.socket.destroy();
    const will = (await sub.waitFor((p) => p.cmd === 'publish')) as IPublishPacket;
    expect({ topic: will.topic, payload: will.payload.toString(), qos: will.qos }).toEqual({ topic: 'wills/dropper', payload: 'dropper gone', qos: 1 });
    await publisher(broker.mqttPort, 'm6');
    expect(await retainedOnSubscribe(await RawMqtt.session(broker.mqttPort, 'will-late'), 'wills/#', 'm6')).toEqual([]);
  });

  it('[MQTT-3.1.2-8] [MQTT-4.8.0-1] publishes the will when the broker closes the connection for a protocol violation', async () => {
    const broker = await startMqttBroker();
    const sub = await watcher(broker.mqttPort, 'will-watch-2');
    const peer = await willClient(broker.mqttPort, 'violator', 0, false);
    // PUBLISH with both QoS bits set [MQTT-3.3.1-4].
    peer.write(Buffer.from([0x36, 0x06, 0x00, 0x01, 0x61, 0x00, 0x01, 0x78]));
    await peer.waitClosed();
    await sub.waitFor((p) => p.cmd === 'publish');
    expect(deliveries(sub)).toEqual(['wills/violator=violator gone']);
  });

  it('[MQTT-3.1.2-17] stores the will as a retained message when will retain is 1', async () => {
    const broker = await startMqttBroker();
    const sub = await watcher(broker.mqttPort, 'will-watch-3');
    const peer = await willClient(broker.mqttPort, 'retainer', 1, true);
    peer.socket.destroy();
    await sub.waitFor((p) => p.cmd === 'publish');
    await publisher(broker.mqttPort, 'm7');
    expect(asText(await retainedOnSubscribe(await RawMqtt.session(broker.mqttPort, 'will-late-3'), 'wills/#', 'm7'))).toEqual(['wills/retainer=retainer gone retain=true']);
  });

  it('[MQTT-3.1.2-12] publishes nothing when a client without a will drops', async () => {
    const broker = await startMqttBroker();
    const sub = await watcher(broker.mqttPort, 'will-watch-5');
    const plain = await RawMqtt.session(broker.mqttPort, 'no-will');
    plain.socket.destroy();
    await plain.waitClosed();
    // Ordering barrier: a client with a will drops after it; only that will comes.
    const peer = await willClient(broker.mqttPort, 'with-will', 0, false);
    peer.socket.destroy();
    await sub.waitFor((p) => p.cmd === 'publish');
    expect(deliveries(sub)).toEqual(['wills/with-will=with-will gone']);
  });

  it('[MQTT-3.1.2-10] [MQTT-3.14.4-3] discards the will of a client that sends DISCONNECT', async () => {
    const broker = await startMqttBroker();
    const sub = await watcher(broker.mqttPort, 'will-watch-4');
    const peer = await willClient(broker.mqttPort, 'polite', 1, true);
    peer.send({ cmd: 'disconnect' });
    await peer.waitClosed();
    // Ordering barrier: the same client id connects again, with a will, and drops; only that second will comes.
    const again = await RawMqtt.connect(broker.mqttPort);
    again.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'polite', keepalive: 0, will: { topic: 'wills/polite', payload: Buffer.from('second'), qos: 1, retain: false } });
    await again.waitFor((p) => p.cmd === 'connack');
    again.socket.destroy();
    await sub.waitFor((p) => p.cmd === 'publish' && p.payload.toString() === 'second');
    expect(deliveries(sub)).toEqual(['wills/polite=second']);
  });
});
