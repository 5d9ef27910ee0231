// A QoS 1 PUBLISH matching a persistent session is queued for it before its PUBACK (aedes-patches.mjs):
// the PUBACK waits for that storage, not for the delivery, so a persistent subscriber that is slow
// to take its messages (an MQTT 5 Receive Maximum of 1 never acknowledged) holds no publisher back.
// PUBACKs leave in the order the PUBLISHes came [MQTT-4.6.0-2], whether or not a message was stored first.
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { received } from '../../helpers/mqtt-conformance.ts';
import { RawMqtt, startMqttBroker } from '../../helpers/mqtt.ts';
import { RawMqtt5 } from '../../helpers/mqtt5-raw.ts';
import { onCleanup } from '../../helpers/temp.ts';

describe('QoS 1 to a persistent session: stored, then acknowledged', () => {
  it('acknowledges every PUBLISH while a persistent subscriber holds its one delivery unacknowledged', async () => {
    const broker = await startMqttBroker();
    const { peer: slow } = await RawMqtt5.session(broker.mqttPort, 'slow', { clean: false, properties: { sessionExpiryInterval: 600, receiveMaximum: 1 } });
    slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'held/#', qos: 1 }] });
    await slow.waitFor((p) => p.cmd === 'suback');
    const pub = await mqtt.connectAsync({ host: '127.0.0.1', port: broker.mqttPort, clientId: 'fast', reconnectPeriod: 0 });
    onCleanup(() => pub.endAsync(true));
    await Promise.all(Array.from({ length: 50 }, (_, i) => pub.publishAsync('held/a', `m${i}`, { qos: 1 })));
    // The subscriber took one and acknowledged none: the window of 1 holds the rest.
    await slow.waitFor((p) => p.cmd === 'publish');
    expect(slow.received('publish')).toHaveLength(1);
  });

  it('sends the PUBACKs in arrival order when only some PUBLISHes are stored for a session first', async () => {
    const broker = await startMqttBroker();
    const away = await RawMqtt.session(broker.mqttPort, 'away', false);
    away.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'kept/#', qos: 1 }] });
    await away.waitFor((p) => p.cmd === 'suback');
    away.send({ cmd: 'disconnect' });
    await away.waitClosed();
    const pub = await RawMqtt.session(broker.mqttPort, 'mixed');
    const ids = Array.from({ length: 40 }, (_, i) => i + 1);
    pub.send(...ids.map((id) => ({ cmd: 'publish' as const, topic: id % 3 === 0 ? 'kept/a' : 'other/a', payload: Buffer.from(String(id)), qos: 1 as const, messageId: id, dup: false, retain: false })));
    await pub.waitFor(() => received(pub, 'puback').length === ids.length);
    expect(received(pub, 'puback').map((p) => p.messageId)).toEqual(ids);
  });
});
