// MQTT 3.1.1 conformance, §3.1.2.10 Keep Alive and §3.12–3.13 PINGREQ/PINGRESP; each test names the
// normative statements it checks. Keep alive is 1 s here: the broker must close a silent client
// after 1.5 s, so these tests take a few seconds each.
import type { IPublishPacket } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { deliveries, received } from '../../helpers/mqtt-conformance.ts';
import { RawMqtt, startMqttBroker } from '../../helpers/mqtt.ts';
import { rawConnect } from '../../helpers/mqtt-raw.ts';

const KEEPALIVE_S = 1;

async function connectWithKeepalive(port: number, clientId: string, will?: { topic: string; payload: Buffer; qos: 0; retain: false }): Promise<RawMqtt> {
  const peer = await RawMqtt.connect(port);
  if (will) peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: KEEPALIVE_S, will });
  else peer.write(rawConnect({ id: clientId, keepalive: KEEPALIVE_S }));
  expect(await peer.waitFor((p) => p.cmd === 'connack')).toMatchObject({ returnCode: 0 });
  return peer;
}

describe('MQTT 3.1.1 keep alive and PINGREQ', () => {
  it('[MQTT-3.12.4-1] answers each PINGREQ with a PINGRESP', async () => {
    const broker = await startMqttBroker();
    const peer = await RawMqtt.session(broker.mqttPort, 'pinger');
    for (let i = 1; i <= 3; i++) {
      peer.send({ cmd: 'pingreq' });
      await peer.waitFor(() => received(peer, 'pingresp').length === i);
    }
    expect(peer.packets.map((p) => p.cmd)).toEqual(['connack', 'pingresp', 'pingresp', 'pingresp']);
  });

  it('[MQTT-3.1.2-24] [MQTT-3.1.2-8] closes a client silent for 1.5 × its keep alive, not before, and publishes its will', async () => {
    const broker = await startMqttBroker();
    const watcher = await RawMqtt.session(broker.mqttPort, 'ka-watch');
    watcher.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'wills/#', qos: 0 }] });
    await watcher.waitFor((p) => p.cmd === 'suback');
    const peer = await connectWithKeepalive(broker.mqttPort, 'silent', { topic: 'wills/silent', payload: Buffer.from('timed out'), qos: 0, retain: false });
    const connectedAt = Date.now();
    await peer.waitClosed(10_000);
    // The broker's timer starts when it reads the CONNECT, a little before the CONNACK arrives here.
    expect(Date.now() - connectedAt).toBeGreaterThanOrEqual(KEEPALIVE_S * 1500 - 100);
    await watcher.waitFor((p) => p.cmd === 'publish');
    expect(deliveries(watcher)).toEqual(['wills/silent=timed out']);
  });

  it('[MQTT-3.1.2-24] keeps a client that sends any control packet within each keep alive period', async () => {
    const broker = await startMqttBroker();
    const peer = await connectWithKeepalive(broker.mqttPort, 'chatty');
    const sent: IPublishPacket = { cmd: 'publish', topic: 'ka/x', payload: Buffer.from('x'), qos: 0, dup: false, retain: false };
    // The client's own pace, not a wait for the broker: six packets half a keep alive apart, 3 s in
    // all, twice the 1.5 s a silent client gets.
    const started = Date.now();
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, (KEEPALIVE_S * 1000) / 2));
      if (i % 2) peer.send({ cmd: 'pingreq' });
      else peer.send(sent);
    }
    peer.send({ cmd: 'pingreq' });
    await peer.waitFor(() => received(peer, 'pingresp').length === 4);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3 * KEEPALIVE_S * 1000);
    expect(peer.closed).toBe(false);
  });
});
