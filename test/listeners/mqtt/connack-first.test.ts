// [MQTT-3.2.0-1] the first packet a client gets is its CONNACK, also when it resumes a persistent
// session while others publish to its subscriptions: aedes restores the session's subscriptions
// (which then match live messages) before it writes the CONNACK.
import type { Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { connectMqtt, RawMqtt, startMqttBroker } from '../../helpers/mqtt.ts';

const RECONNECTS = 30;

describe('CONNACK first', () => {
  it('holds live messages for a resumed persistent session until its CONNACK is written', async () => {
    // Unrouted publishes are delivered at once, without waiting for the log.
    const broker = await startMqttBroker({ defaultRoute: { enabled: false } });
    const subscriber = await RawMqtt.session(broker.mqttPort, 'resumer', false);
    subscriber.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'live/#', qos: 0 }] });
    await subscriber.waitFor((p) => p.cmd === 'suback');
    subscriber.socket.destroy();

    const publisher = await connectMqtt(broker);
    let flooding = true;
    const flood = (async () => {
      // QoS 0 in batches of 50 per loop turn: messages arrive during every step of the CONNECT.
      while (flooding) {
        for (let i = 0; i < 50; i++) publisher.publish('live/x', 'm', { qos: 0 });
        await new Promise((r) => setImmediate(r));
      }
    })();
    const firsts: Packet['cmd'][] = [];
    try {
      for (let n = 0; n < RECONNECTS; n++) {
        const peer = await RawMqtt.connect(broker.mqttPort);
        // A will is stored before the CONNACK: one more wait for storage after the subscriptions are back.
        peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId: 'resumer', keepalive: 0, will: { topic: 'wills/resumer', payload: Buffer.from('gone'), qos: 0, retain: false } });
        await peer.waitFor((p) => p.cmd === 'connack');
        // The live messages keep coming to the resumed session.
        await peer.waitFor((p) => p.cmd === 'publish');
        firsts.push(peer.packets[0]!.cmd);
        peer.socket.destroy();
      }
    } finally {
      flooding = false;
      await flood;
    }
    expect(firsts).toEqual(Array.from({ length: RECONNECTS }, () => 'connack'));
  }, 60_000);
});
