// Guards against aedes upgrades that lose 1.2.0's fixes (src/listeners/mqtt/AEDES2-EVALUATION.md):
// aedes 2.0.0-beta.1 fails all three (the first two end the process, the third loses an
// acknowledged QoS 2 message). The broker runs as a child process so a crash shows as its exit.
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { type ChildBroker, freePort, mqttListenerEnv, startChildBroker, waitForPort } from '../../helpers/child-broker.ts';
import { RawMqtt } from '../../helpers/mqtt.ts';
import { readLog } from '../../helpers/raw-edge.ts';
import { tempDir } from '../../helpers/temp.ts';

async function startBroker(): Promise<{ broker: ChildBroker; edgePort: number; mqttPort: number }> {
  const edgePort = await freePort();
  const mqttPort = await freePort();
  const broker = await startChildBroker(tempDir(), edgePort, {
    ...mqttListenerEnv(mqttPort),
  });
  await waitForPort(broker, mqttPort);
  return { broker, edgePort, mqttPort };
}

/** The broker still serves: a fresh client's QoS 1 PUBLISH is acknowledged, and the process has not exited. */
async function expectServing(broker: ChildBroker, mqttPort: number): Promise<void> {
  const canary = await RawMqtt.session(mqttPort, 'canary');
  canary.send({ cmd: 'publish', topic: 'canary', payload: Buffer.from('ok'), qos: 1, messageId: 1, retain: false, dup: false });
  await canary.waitFor((p) => p.cmd === 'puback');
  expect(broker.child.exitCode).toBeNull();
}

describe('aedes fixes Tributary relies on', () => {
  it('takes client ids that are Object.prototype names (GHSA-52qw-whmv-87c5)', async () => {
    const { broker, mqttPort } = await startBroker();
    for (const id of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const peer = await RawMqtt.session(mqttPort, id);
      expect(peer.packets[0]).toMatchObject({ cmd: 'connack', returnCode: 0 });
    }
    await expectServing(broker, mqttPort);
  });

  it('answers two PUBRELs for one packet id in one write with two PUBCOMPs, and stays up', async () => {
    const { broker, mqttPort } = await startBroker();
    const peer = await RawMqtt.session(mqttPort, 'double-pubrel');
    peer.send({ cmd: 'publish', topic: 'q2/a', payload: Buffer.from('x'), qos: 2, messageId: 7, retain: false, dup: false });
    await peer.waitFor((p) => p.cmd === 'pubrec');
    const pubrel = mqttPacket.generate({ cmd: 'pubrel', messageId: 7 });
    peer.write(Buffer.concat([pubrel, pubrel]));
    await peer.waitFor(() => peer.packets.filter((p) => p.cmd === 'pubcomp').length === 2);
    await expectServing(broker, mqttPort);
  });

  it('does not take a new clean session’s QoS 2 PUBLISH for a duplicate of the previous session’s [MQTT-3.1.2-6]', async () => {
    const { broker, edgePort, mqttPort } = await startBroker();
    const first = await RawMqtt.session(mqttPort, 'q2-clean');
    first.send({ cmd: 'publish', topic: 'q2/a', payload: Buffer.from('first'), qos: 2, messageId: 9, retain: false, dup: false });
    await first.waitFor((p) => p.cmd === 'pubrec');
    // Gone without PUBREL: with a clean session, packet id 9 must not outlive the connection.
    first.send({ cmd: 'disconnect' });
    await first.waitClosed();
    const second = await RawMqtt.session(mqttPort, 'q2-clean');
    second.send({ cmd: 'publish', topic: 'q2/a', payload: Buffer.from('second'), qos: 2, messageId: 9, retain: false, dup: false });
    await second.waitFor((p) => p.cmd === 'pubrec');
    second.send({ cmd: 'pubrel', messageId: 9 });
    await second.waitFor((p) => p.cmd === 'pubcomp');
    expect((await readLog(edgePort, 'mqtt')).map((r) => r.value)).toEqual(['first', 'second']);
    await expectServing(broker, mqttPort);
  });
});
