// MQTT 5.0 §3.3.1.3 retained messages with the subscription options Retain Handling and Retain As
// Published, §3.1.2.5 and §3.1.3.2 wills and the Will Delay Interval, §3.14 DISCONNECT with and
// without will; over TCP against the real broker.
import { describe, expect, it } from 'vitest';
import { startMqttBroker, type MqttTestBroker } from '../../helpers/mqtt.ts';
import { RawMqtt5, type PacketOf } from '../../helpers/mqtt5-raw.ts';

type Options = { qos?: 0 | 1 | 2; rh?: 0 | 1 | 2; rap?: boolean };

async function publishRetained(broker: MqttTestBroker, topic: string, payload: string, retain = true): Promise<void> {
  const { peer } = await RawMqtt5.session(broker.mqttPort, `ret-${Math.random().toString(36).slice(2)}`);
  peer.send({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, messageId: 1, retain, dup: false });
  await peer.waitFor((p) => p.cmd === 'puback');
  peer.send({ cmd: 'disconnect', reasonCode: 0 });
}

/**
 * SUBSCRIBE to `filter` and to a marker topic holding a retained message, in one packet; once the
 * marker's retained message is here and a PINGREQ made the round trip, whatever `filter` had to
 * send on subscribe has been sent (aedes reads one SUBSCRIBE's retained messages in one pass).
 * Returns the retained messages that came for `filter`.
 */
async function retainedOnSubscribe(peer: RawMqtt5, filter: string, marker: string, o: Options = {}): Promise<PacketOf<'publish'>[]> {
  const before = peer.received('publish').length;
  const messageId = 100 + before;
  peer.send({
    cmd: 'subscribe',
    messageId,
    subscriptions: [
      { topic: filter, qos: o.qos ?? 0, rh: o.rh ?? 0, rap: o.rap ?? false, nl: false },
      { topic: marker, qos: 0, rh: 0, rap: false, nl: false },
    ],
  });
  const markers = peer.received('publish').filter((p) => p.topic === marker).length;
  await peer.waitFor(() => peer.received('publish').filter((p) => p.topic === marker).length > markers);
  await peer.barrier();
  return peer.received('publish').slice(before).filter((p) => p.topic !== marker);
}

describe('MQTT 5 retained messages', () => {
  it('[MQTT-3.3.1-5, MQTT-3.3.1-9] a retained message replaces the previous one and is sent, RETAIN 1, to a new subscription (Retain Handling 0)', async () => {
    const broker = await startMqttBroker();
    await publishRetained(broker, 'mark/1', 'm');
    await publishRetained(broker, 'rt/a', 'old');
    await publishRetained(broker, 'rt/a', 'new');
    const { peer } = await RawMqtt5.session(broker.mqttPort, 'rt-sub-1');
    const got = await retainedOnSubscribe(peer, 'rt/a', 'mark/1');
    expect(got.map((p) => [p.payload.toString(), p.retain])).toEqual([['new', true]]);
  });

  it('[MQTT-3.3.1-6, MQTT-3.3.1-7] a retained PUBLISH with a zero-byte payload removes the retained message and is not stored', async () => {
    const broker = await startMqttBroker();
    await publishRetained(broker, 'mark/2', 'm');
    await publishRetained(broker, 'rt/b', 'held');
    await publishRetained(broker, 'rt/b', '');
    const { peer } = await RawMqtt5.session(broker.mqttPort, 'rt-sub-2');
    expect(await retainedOnSubscribe(peer, 'rt/b', 'mark/2')).toEqual([]);
  });

  it('[MQTT-3.3.1-8] a PUBLISH with RETAIN 0 neither stores nor replaces a retained message', async () => {
    const broker = await startMqttBroker();
    await publishRetained(broker, 'mark/3', 'm');
    await publishRetained(broker, 'rt/c', 'kept');
    await publishRetained(broker, 'rt/c', 'not retained', false);
    await publishRetained(broker, 'rt/c2', 'never retained', false);
    const { peer } = await RawMqtt5.session(broker.mqttPort, 'rt-sub-3');
    const got = await retainedOnSubscribe(peer, 'rt/+', 'mark/3');
    expect(got.map((p) => `${p.topic}=${p.payload.toString()}`)).toEqual(['rt/c=kept']);
  });

  it('[MQTT-3.3.1-10] Retain Handling 1: retained messages only when the subscription did not exist', async () => {
    const broker = await startMqttBroker();
    await publishRetained(broker, 'mark/4', 'm');
    await publishRetained(broker, 'rt/d', 'held');
    const { peer } = await RawMqtt5.session(broker.mqttPort, 'rt-sub-4');
    expect((await retainedOnSubscribe(peer, 'rt/d', 'mark/4', { rh: 1 })).map((p) => p.payload.toString())).toEqual(['held']);
    expect(await retainedOnSubscribe(peer, 'rt/d', 'mark/4', { rh: 1 })).toEqual([]);
  });

  it('[MQTT-3.3.1-11] Retain Handling 2: no retained messages on subscribe', async () => {
    const broker = await startMqttBroker();
    await publishRetained(broker, 'mark/5', 'm');
    await publishRetained(broker, 'rt/e', 'held');
    const { peer } = await RawMqtt5.session(broker.mqttPort, 'rt-sub-5');
    expect(await retainedOnSubscribe(peer, 'rt/e', 'mark/5', { rh: 2 })).toEqual([]);
  });

  it('[MQTT-3.8.4-3] subscribing again to the same filter replaces the subscription and, with Retain Handling 0, resends the retained message', async () => {
    const broker = await startMqttBroker();
    await publishRetained(broker, 'mark/6', 'm');
    await publishRetained(broker, 'rt/f', 'held');
    const { peer } = await RawMqtt5.session(broker.mqttPort, 'rt-sub-6');
    await retainedOnSubscribe(peer, 'rt/f', 'mark/6', { qos: 0 });
    expect((await retainedOnSubscribe(peer, 'rt/f', 'mark/6', { qos: 1 })).map((p) => [p.payload.toString(), p.qos])).toEqual([['held', 1]]);
    // One subscription, at its new QoS: one live copy.
    await publishRetained(broker, 'rt/f', 'live', false);
    await peer.waitFor((p) => p.cmd === 'publish' && p.payload.toString() === 'live');
    await peer.barrier();
    expect(peer.received('publish').filter((p) => p.payload.toString() === 'live').map((p) => p.qos)).toEqual([1]);
  });

  it('[MQTT-3.3.1-12] Retain As Published 0: a live message published retained is forwarded with RETAIN 0', async () => {
    const broker = await startMqttBroker();
    await publishRetained(broker, 'mark/7', 'm');
    const { peer } = await RawMqtt5.session(broker.mqttPort, 'rap-0');
    await retainedOnSubscribe(peer, 'rap/a', 'mark/7', { rap: false });
    await publishRetained(broker, 'rap/a', 'live');
    const got = (await peer.waitFor((p) => p.cmd === 'publish' && p.topic === 'rap/a')) as PacketOf<'publish'>;
    expect(got.retain).toBe(false);
  });

  it('[MQTT-3.3.1-13] Retain As Published 1: a live message keeps the RETAIN flag it was published with', async () => {
    const broker = await startMqttBroker();
    await publishRetained(broker, 'mark/8', 'm');
    const { peer } = await RawMqtt5.session(broker.mqttPort, 'rap-1');
    await retainedOnSubscribe(peer, 'rap/b', 'mark/8', { rap: true });
    await publishRetained(broker, 'rap/b', 'live');
    await publishRetained(broker, 'rap/b', 'plain', false);
    await peer.waitFor(() => peer.received('publish').filter((p) => p.topic === 'rap/b').length === 2);
    expect(peer.received('publish').filter((p) => p.topic === 'rap/b').map((p) => [p.payload.toString(), p.retain])).toEqual([['live', true], ['plain', false]]);
  });
});

describe('MQTT 5 wills', () => {
  const will = (topic: string, payload: string, extra: Record<string, unknown> = {}) => ({ will: { topic, payload: Buffer.from(payload), qos: 1 as const, retain: false, ...extra } });

  async function watcher(broker: MqttTestBroker, filter: string): Promise<RawMqtt5> {
    const { peer } = await RawMqtt5.session(broker.mqttPort, `watch-${filter.replace(/\W/g, '')}`);
    peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 1, nl: false, rap: true, rh: 0 }] });
    await peer.waitFor((p) => p.cmd === 'suback');
    return peer;
  }

  it('[MQTT-3.1.2-7, MQTT-3.1.2-8, MQTT-3.1.2-14] publishes the will, not retained, when the connection closes without DISCONNECT', async () => {
    const broker = await startMqttBroker();
    const w = await watcher(broker, 'will/a');
    const { peer } = await RawMqtt5.session(broker.mqttPort, 'will-a', will('will/a', 'gone'));
    await peer.drop();
    const got = (await w.waitFor((p) => p.cmd === 'publish')) as PacketOf<'publish'>;
    expect([got.topic, got.payload.toString(), got.retain]).toEqual(['will/a', 'gone', false]);
  });

  it('[MQTT-3.1.2-15] a will with Will Retain 1 is published as a retained message', async () => {
    const broker = await startMqttBroker();
    const { peer } = await RawMqtt5.session(broker.mqttPort, 'will-r', will('will/r', 'gone', { retain: true }));
    await peer.drop();
    await publishRetained(broker, 'mark/w', 'm');
    const late = await RawMqtt5.session(broker.mqttPort, 'will-late');
    // Retained messages are read once the will is stored: poll by subscribing again until it is there.
    for (let attempt = 0; ; attempt++) {
      const got = await retainedOnSubscribe(late.peer, 'will/r', 'mark/w');
      if (got.length > 0) {
        expect(got.map((p) => [p.payload.toString(), p.retain])).toEqual([['gone', true]]);
        break;
      }
      if (attempt > 200) throw new Error('the retained will never arrived');
    }
  });

  it('[MQTT-3.1.2-10, MQTT-3.14.4-3] DISCONNECT with reason code 0x00 discards the will', async () => {
    const broker = await startMqttBroker();
    const w = await watcher(broker, 'will/b');
    const { peer } = await RawMqtt5.session(broker.mqttPort, 'will-b', will('will/b', 'gone'));
    peer.send({ cmd: 'disconnect', reasonCode: 0 });
    await peer.waitClosed();
    // Another client's will on the same filter, published after: the first will had its turn.
    const other = await RawMqtt5.session(broker.mqttPort, 'will-b2', will('will/b', 'second'));
    await other.peer.drop();
    await w.waitFor((p) => p.cmd === 'publish');
    await w.barrier();
    expect(w.deliveries()).toEqual(['will/b=second']);
  });

  it('[§3.14.2.1 0x04] DISCONNECT with reason code 0x04 (Disconnect with Will Message) publishes the will', async () => {
    const broker = await startMqttBroker();
    const w = await watcher(broker, 'will/c');
    const { peer } = await RawMqtt5.session(broker.mqttPort, 'will-c', will('will/c', 'asked'));
    peer.send({ cmd: 'disconnect', reasonCode: 0x04 });
    await w.waitFor((p) => p.cmd === 'publish');
    expect(w.deliveries()).toEqual(['will/c=asked']);
  });

  it('[MQTT-3.1.2-8] a will with a Will Delay Interval is published once the delay passed', async () => {
    const broker = await startMqttBroker();
    const w = await watcher(broker, 'will/d');
    const { peer } = await RawMqtt5.session(broker.mqttPort, 'will-d', { properties: { sessionExpiryInterval: 600 }, ...will('will/d', 'late', { properties: { willDelayInterval: 1 } }) });
    const closedAt = Date.now();
    await peer.drop();
    await w.waitFor((p) => p.cmd === 'publish');
    expect(Date.now() - closedAt).toBeGreaterThanOrEqual(900);
    expect(w.deliveries()).toEqual(['will/d=late']);
  });

  it('[MQTT-3.1.3-9] a reconnect within the Will Delay Interval cancels the will', async () => {
    const broker = await startMqttBroker();
    const w = await watcher(broker, 'will/e');
    const connect = { clean: false, properties: { sessionExpiryInterval: 600 }, ...will('will/e', 'cancelled', { properties: { willDelayInterval: 1 } }) };
    const { peer } = await RawMqtt5.session(broker.mqttPort, 'will-e', connect);
    await peer.drop();
    const back = await RawMqtt5.session(broker.mqttPort, 'will-e', { clean: false, properties: { sessionExpiryInterval: 600 } });
    expect(back.connack.reasonCode).toBe(0);
    // A twin with the same delay, away from after the reconnect: once its will came, the first would have.
    const twin = await RawMqtt5.session(broker.mqttPort, 'will-e-twin', { properties: { sessionExpiryInterval: 600 }, ...will('will/e', 'twin', { properties: { willDelayInterval: 1 } }) });
    await twin.peer.drop();
    await w.waitFor((p) => p.cmd === 'publish');
    await w.barrier();
    expect(w.deliveries()).toEqual(['will/e=twin']);
  });

  it('[MQTT-3.1.2-8] a Will Delay Interval with Session Expiry Interval 0: the session ends at the close, so does the wait', async () => {
    const broker = await startMqttBroker();
    const w = await watcher(broker, 'will/g');
    const { peer } = await RawMqtt5.session(broker.mqttPort, 'will-g', will('will/g', 'now', { properties: { willDelayInterval: 3600 } }));
    await peer.drop();
    await w.waitFor((p) => p.cmd === 'publish');
    expect(w.deliveries()).toEqual(['will/g=now']);
  });

  it('[MQTT-3.1.2-8] a Will Delay Interval longer than the session: the will is published when the session ends', async () => {
    const broker = await startMqttBroker();
    const w = await watcher(broker, 'will/f');
    const { peer } = await RawMqtt5.session(broker.mqttPort, 'will-f', { properties: { sessionExpiryInterval: 1 }, ...will('will/f', 'at session end', { properties: { willDelayInterval: 3600 } }) });
    await peer.drop();
    await w.waitFor((p) => p.cmd === 'publish', 15_000);
    expect(w.deliveries()).toEqual(['will/f=at session end']);
  });
});
