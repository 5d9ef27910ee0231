// MQTT 3.1 (protocol level 3) client ids: the 3.1 spec says 1–23 characters. As Mosquitto 2 does
// (checked with mosquitto 2.0.11: an empty id gets CONNACK 2 with either clean flag, ids of 24 and
// 100 characters are accepted), an empty id is refused and a longer one is taken, up to the
// broker's own bound for every protocol level (limits.mqttClientIdBytesMax).
import { describe, expect, it } from 'vitest';
import { limits } from '../../../src/limits.ts';
import { RawMqtt, startMqttBroker } from '../../helpers/mqtt.ts';
import { rawConnect } from '../../helpers/mqtt-raw.ts';

async function connackCode(port: number, clientId: string, clean: boolean): Promise<number> {
  const peer = await RawMqtt.connect(port);
  // Built by hand: mqtt-packet refuses to encode an empty 3.1 client id.
  peer.write(rawConnect({ id: clientId, level: 3, clean }));
  const connack = (await peer.waitFor((p) => p.cmd === 'connack')) as { returnCode: number };
  return connack.returnCode;
}

describe('MQTT 3.1 client ids', () => {
  it.each([true, false])('refuses an empty client id with CONNACK 2 (clean session %s)', async (clean) => {
    const broker = await startMqttBroker();
    expect(await connackCode(broker.mqttPort, '', clean)).toBe(2);
    expect(broker.running.mqtt!.metrics.refused.get('identifier-rejected')).toBe(1);
  });

  it.each([1, 23, 24, 100])('takes a client id of %d characters, as Mosquitto does', async (length) => {
    const broker = await startMqttBroker();
    expect(await connackCode(broker.mqttPort, 'c'.repeat(length), true)).toBe(0);
  });

  it('refuses, as for MQTT 3.1.1, a client id over the broker’s bound in bytes', async () => {
    const broker = await startMqttBroker();
    const peer = await RawMqtt.connect(broker.mqttPort);
    peer.send({ cmd: 'connect', protocolId: 'MQIsdp', protocolVersion: 3, clean: true, clientId: 'c'.repeat(limits.mqttClientIdBytesMax + 1), keepalive: 0 });
    expect(await peer.waitFor((p) => p.cmd === 'connack')).toMatchObject({ returnCode: 2 });
    expect(broker.running.mqtt!.metrics.refused.get('identifier-rejected')).toBe(1);
  });
});
