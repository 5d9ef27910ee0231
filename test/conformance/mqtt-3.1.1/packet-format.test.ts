// MQTT 3.1.1 conformance, §2 control packet format: reserved flag bits and packet identifiers, and
// §3.14 DISCONNECT; each test names the normative statements it checks.
import { describe, expect, it } from 'vitest';
import { closedAfter, deliveries } from '../../helpers/mqtt-conformance.ts';
import { RawMqtt, startMqttBroker } from '../../helpers/mqtt.ts';
import { mqttString, rawPacket } from '../../helpers/mqtt-raw.ts';

describe('MQTT 3.1.1 fixed header and packet identifiers', () => {
  it.each([
    ['PINGREQ', Buffer.from([0xc1, 0x00])],
    ['PUBACK', Buffer.from([0x41, 0x02, 0x00, 0x01])],
    ['PUBCOMP', Buffer.from([0x72, 0x02, 0x00, 0x01])],
  ])('[MQTT-2.2.2-1] [MQTT-2.2.2-2] closes a client that sends a %s with reserved flag bits set', async (_name, bytes) => {
    const broker = await startMqttBroker();
    const peer = await RawMqtt.session(broker.mqttPort, 'flags');
    peer.write(bytes);
    await closedAfter(peer, ['connack']);
  });

  // DEFECT: mqtt-packet and aedes take packet identifier 0 and answer it (PUBACK 0, SUBACK 0,
  // UNSUBACK 0) instead of closing the connection for the protocol violation [MQTT-4.8.0-1].
  it.fails.each([
    ['QoS 1 PUBLISH', rawPacket(0x32, [...mqttString('a'), 0, 0, 0x78])],
    ['SUBSCRIBE', rawPacket(0x82, [0, 0, ...mqttString('a'), 0])],
    ['UNSUBSCRIBE', rawPacket(0xa2, [0, 0, ...mqttString('a')])],
  ])('[MQTT-2.3.1-1] closes a client that sends a %s with packet identifier 0', async (_name, bytes) => {
    const broker = await startMqttBroker();
    const peer = await RawMqtt.session(broker.mqttPort, 'id-zero');
    peer.write(bytes);
    await closedAfter(peer, ['connack']);
  });
});

describe('MQTT 3.1.1 DISCONNECT', () => {
  it('[MQTT-3.14.1-1] [MQTT-3.1.2-8] closes a client whose DISCONNECT has reserved bits set, and publishes its will as for any protocol violation', async () => {
    const broker = await startMqttBroker();
    const watcher = await RawMqtt.session(broker.mqttPort, 'disc-watch');
    watcher.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'wills/#', qos: 0 }] });
    await watcher.waitFor((p) => p.cmd === 'suback');
    const peer = await RawMqtt.connect(broker.mqttPort);
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'bad-disc', keepalive: 0, will: { topic: 'wills/bad-disc', payload: Buffer.from('gone'), qos: 0, retain: false } });
    await peer.waitFor((p) => p.cmd === 'connack');
    peer.write(Buffer.from([0xe1, 0x00]));
    await peer.waitClosed();
    await watcher.waitFor((p) => p.cmd === 'publish');
    expect(deliveries(watcher)).toEqual(['wills/bad-disc=gone']);
  });
});
