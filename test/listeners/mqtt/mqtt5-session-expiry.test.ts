// MQTT 5 Session Expiry Interval (src/listeners/mqtt/session-expiry.ts, listeners.mqtt.sessionExpiryMaxS):
// a persistent session outlives its connection for its interval and no longer, and a longer interval
// than the cap is cut to it. Across a restart: mqtt5-session-expiry-restart.test.ts.
import { describe, expect, it } from 'vitest';
import { RawMqtt, startMqttBroker, type MqttTestBroker } from '../../helpers/mqtt.ts';
import { RawMqtt5, until } from '../../helpers/mqtt5-raw.ts';

/** A session of `clientId` subscribed to `topic` at QoS 1, then disconnected with DISCONNECT. */
async function awaySession(broker: MqttTestBroker, clientId: string, topic: string, sessionExpiryInterval: number): Promise<void> {
  const { peer } = await RawMqtt5.session(broker.mqttPort, clientId, { properties: { sessionExpiryInterval } });
  peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1, nl: false, rap: false, rh: 0 }] });
  await peer.waitFor((p) => p.cmd === 'suback');
  peer.send({ cmd: 'disconnect', reasonCode: 0 });
  await peer.waitClosed();
}

async function publishQos1(broker: MqttTestBroker, topic: string, payload: string): Promise<void> {
  const { peer } = await RawMqtt5.session(broker.mqttPort, `pub-${topic}-${payload}`);
  peer.send({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, messageId: 1, retain: false, dup: false });
  await peer.waitFor((p) => p.cmd === 'puback');
  peer.send({ cmd: 'disconnect', reasonCode: 0 });
}

const queued = (broker: MqttTestBroker, clientId: string): number =>
  new Map(broker.running.mqtt!.sessionStats!.queueDepths()).get(clientId) ?? 0;
const persistent = (broker: MqttTestBroker, clientId: string): boolean => [...broker.running.mqtt!.sessionStats!.persistentClientIds()].includes(clientId);

describe('MQTT 5 session expiry', () => {
  it('[MQTT-3.1.2-23, MQTT-4.1.0-2] keeps a session for its interval after the connection closes, then removes it with its queued messages', async () => {
    const broker = await startMqttBroker();
    await awaySession(broker, 'exp-1', 'se/a', 1);
    await publishQos1(broker, 'se/a', 'while away');
    expect(queued(broker, 'exp-1')).toBe(1);
    await until(() => broker.running.mqtt!.metrics.sessionsExpired >= 1, 'the session to expire');
    expect(persistent(broker, 'exp-1')).toBe(false);
    expect(queued(broker, 'exp-1')).toBe(0);
    // Back after its interval: a new session, nothing of the old one [MQTT-3.1.2-6, MQTT-3.2.2-3].
    const { peer, connack } = await RawMqtt5.session(broker.mqttPort, 'exp-1', { clean: false, properties: { sessionExpiryInterval: 1 } });
    expect(connack.sessionPresent).toBe(false);
    await peer.barrier();
    expect(peer.deliveries()).toEqual([]);
  });

  it('[MQTT-3.1.2-5, MQTT-3.1.2-23] resumes a session its client comes back to within the interval, with the messages queued meanwhile', async () => {
    const broker = await startMqttBroker();
    await awaySession(broker, 'exp-2', 'se/b', 600);
    await publishQos1(broker, 'se/b', 'while away');
    const { peer, connack } = await RawMqtt5.session(broker.mqttPort, 'exp-2', { clean: false, properties: { sessionExpiryInterval: 600 } });
    expect(connack.sessionPresent).toBe(true);
    await peer.waitFor((p) => p.cmd === 'publish');
    expect(peer.deliveries()).toEqual(['se/b=while away']);
  });

  it('removes with the session the QoS 2 packets it left awaiting PUBREL: the same packet id is a new message afterwards', async () => {
    const broker = await startMqttBroker();
    const watcher = await RawMqtt5.session(broker.mqttPort, 'watch-q2');
    watcher.peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'se/q2', qos: 0, nl: false, rap: false, rh: 0 }] });
    await watcher.peer.waitFor((p) => p.cmd === 'suback');
    const first = await RawMqtt5.session(broker.mqttPort, 'exp-q2', { properties: { sessionExpiryInterval: 1 } });
    first.peer.send({ cmd: 'publish', topic: 'se/q2', payload: Buffer.from('first'), qos: 2, messageId: 7, retain: false, dup: false });
    await first.peer.waitFor((p) => p.cmd === 'pubrec');
    await first.peer.drop();
    await until(() => broker.running.mqtt!.metrics.sessionsExpired >= 1, 'the session to expire');
    const again = await RawMqtt5.session(broker.mqttPort, 'exp-q2', { clean: false, properties: { sessionExpiryInterval: 1 } });
    expect(again.connack.sessionPresent).toBe(false);
    again.peer.send({ cmd: 'publish', topic: 'se/q2', payload: Buffer.from('second'), qos: 2, messageId: 7, retain: false, dup: false });
    await again.peer.waitFor((p) => p.cmd === 'pubrec');
    again.peer.send({ cmd: 'pubrel', messageId: 7 });
    await again.peer.waitFor((p) => p.cmd === 'pubcomp');
    await watcher.peer.waitFor((p) => p.cmd === 'publish' && p.payload.toString() === 'second');
    expect(watcher.peer.deliveries()).toEqual(['se/q2=first', 'se/q2=second']);
  });

  it('a reconnect within the interval cancels the expiry: the session outlives a twin that stayed away', async () => {
    const broker = await startMqttBroker();
    await awaySession(broker, 'exp-back', 'se/c', 1);
    // Back at once, and away again with interval 600: the first interval's timer must be gone.
    const back = await RawMqtt5.session(broker.mqttPort, 'exp-back', { clean: false, properties: { sessionExpiryInterval: 600 } });
    expect(back.connack.sessionPresent).toBe(true);
    back.peer.send({ cmd: 'disconnect', reasonCode: 0 });
    await back.peer.waitClosed();
    // A twin away with interval 1 since after the first disconnect: once it expired, so would have the first timer.
    await awaySession(broker, 'exp-twin', 'se/c', 1);
    await until(() => !persistent(broker, 'exp-twin'), 'the twin to expire');
    expect(persistent(broker, 'exp-back')).toBe(true);
  });

  it('[MQTT-3.1.2-23] a Session Expiry Interval sent on DISCONNECT replaces the one of the CONNECT', async () => {
    const broker = await startMqttBroker();
    const { peer } = await RawMqtt5.session(broker.mqttPort, 'exp-disc', { properties: { sessionExpiryInterval: 600 } });
    peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'se/d', qos: 1, nl: false, rap: false, rh: 0 }] });
    await peer.waitFor((p) => p.cmd === 'suback');
    peer.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 1 } });
    await peer.waitClosed();
    await until(() => !persistent(broker, 'exp-disc'), 'the session to expire after the DISCONNECT interval');
  });

  it('cuts an interval longer than sessionExpiryMaxS, "never" included, and says so in the CONNACK [§3.2.2.3.2]', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { sessionExpiryMaxS: 1 } } });
    const { peer, connack } = await RawMqtt5.session(broker.mqttPort, 'exp-never', { properties: { sessionExpiryInterval: 0xffffffff } });
    expect(connack.properties?.sessionExpiryInterval).toBe(1);
    peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'se/e', qos: 1, nl: false, rap: false, rh: 0 }] });
    await peer.waitFor((p) => p.cmd === 'suback');
    await peer.drop();
    await until(() => !persistent(broker, 'exp-never'), 'the capped session to expire');
    // Within the cap, the CONNACK does not repeat the interval.
    const within = await RawMqtt5.session(broker.mqttPort, 'exp-within', { properties: { sessionExpiryInterval: 1 } });
    expect(within.connack.properties?.sessionExpiryInterval).toBeUndefined();
  });

  it('sessionExpiryMaxS 4294967295 grants "never" as asked: such a session outlives a restart and a twin that expired', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { sessionExpiryMaxS: 4294967295 } } });
    const { peer, connack } = await RawMqtt5.session(broker.mqttPort, 'exp-forever', { properties: { sessionExpiryInterval: 0xffffffff } });
    expect(connack.properties?.sessionExpiryInterval).toBeUndefined();
    peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'se/g', qos: 1, nl: false, rap: false, rh: 0 }] });
    await peer.waitFor((p) => p.cmd === 'suback');
    peer.send({ cmd: 'disconnect', reasonCode: 0 });
    await peer.waitClosed();
    await awaySession(broker, 'exp-twin-g', 'se/g', 1);
    await broker.stop();
    await broker.start();
    await until(() => !persistent(broker, 'exp-twin-g'), 'the twin to expire after the restart');
    expect(persistent(broker, 'exp-forever')).toBe(true);
  });

  it('refuses with CONNACK 0x88 an MQTT 5 session whose expiry cannot be stored (no room on the data dir); one that ends with its connection is taken', async () => {
    // More free space asked for than any disk has: every storage write is refused as STORAGE_FULL.
    const broker = await startMqttBroker({ storage: { minFreeDiskBytes: '1000TiB' } });
    const peer = await RawMqtt5.connect(broker.mqttPort);
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'no-room', keepalive: 0, properties: { sessionExpiryInterval: 60 } });
    await peer.waitClosed();
    expect(peer.received('connack').map((c) => c.reasonCode)).toEqual([0x88]);
    const clean = await RawMqtt5.session(broker.mqttPort, 'no-room-clean');
    expect(clean.connack.reasonCode).toBe(0);
  });

  it('an MQTT 3.1.1 persistent session (clean session 0) does not expire, whatever the cap', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { sessionExpiryMaxS: 1 } } });
    const old = await RawMqtt.session(broker.mqttPort, 'v311-keep', false);
    old.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'se/f', qos: 1 }] });
    await old.waitFor((p) => p.cmd === 'suback');
    old.socket.destroy();
    await old.waitClosed();
    // An MQTT 5 twin away with interval 1, after it: once it expired, the 3.1.1 session had as long.
    await awaySession(broker, 'v5-twin', 'se/f', 1);
    await until(() => !persistent(broker, 'v5-twin'), 'the MQTT 5 twin to expire');
    expect(persistent(broker, 'v311-keep')).toBe(true);
  });
});
