// MQTT 5.0 §3.1 CONNECT, §3.2 CONNACK, §3.14 DISCONNECT of a session, §4.1 session state: what a
// server must do, against the real broker over TCP. Statement ids from the standard's Appendix B.
import { describe, expect, it } from 'vitest';
import { hashPassword } from '../../../src/auth/password.ts';
import { startMqttBroker } from '../../helpers/mqtt.ts';
import { mqttString, rawPacket } from '../../helpers/mqtt-raw.ts';
import { RawMqtt5, type PacketOf } from '../../helpers/mqtt5-raw.ts';

/** A CONNECT of protocol level 5 built byte by byte (mqtt-packet writes no invalid one). */
function rawConnect5(p: { flags?: number; name?: string; level?: number; id?: string; keepalive?: number } = {}): Buffer {
  const keepalive = p.keepalive ?? 0;
  return rawPacket(0x10, [...mqttString(p.name ?? 'MQTT'), p.level ?? 5, p.flags ?? 0x02, keepalive >> 8, keepalive & 0xff, 0, ...mqttString(p.id ?? 'raw-5')]);
}

/** Closed, and whatever came before the close is a CONNACK with this reason code (a MAY) or nothing. */
async function closedWithConnackOrNothing(peer: RawMqtt5, reasonCode: number): Promise<void> {
  await peer.waitClosed();
  expect(peer.packets.map((p) => p.cmd).filter((c) => c !== 'connack')).toEqual([]);
  for (const c of peer.received('connack')) expect(c.reasonCode).toBe(reasonCode);
}

async function subscribe(peer: RawMqtt5, topic: string, qos: 0 | 1 | 2 = 1): Promise<PacketOf<'suback'>> {
  const messageId = peer.packets.length + 1;
  peer.send({ cmd: 'subscribe', messageId, subscriptions: [{ topic, qos, nl: false, rap: false, rh: 0 }] });
  return (await peer.waitFor((p) => p.cmd === 'suback' && p.messageId === messageId)) as PacketOf<'suback'>;
}

async function publishFrom(port: number, topic: string, payload: string, qos: 0 | 1 = 1): Promise<void> {
  const { peer } = await RawMqtt5.session(port, `pub-${Math.random().toString(36).slice(2)}`);
  peer.send({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, messageId: qos > 0 ? 1 : undefined, retain: false, dup: false });
  if (qos > 0) await peer.waitFor((p) => p.cmd === 'puback');
  else await peer.barrier();
  peer.send({ cmd: 'disconnect', reasonCode: 0 });
}

describe('MQTT 5 CONNECT and CONNACK', () => {
  it('[MQTT-3.1.0-1] closes a connection whose first packet is not CONNECT', async () => {
    const broker = await startMqttBroker();
    const peer = await RawMqtt5.connect(broker.mqttPort);
    peer.send({ cmd: 'pingreq' });
    await peer.waitClosed();
    expect(peer.received('pingresp')).toEqual([]);
  });

  it('[MQTT-3.1.0-2, MQTT-4.13.1-1] closes the connection on a second CONNECT', async () => {
    const broker = await startMqttBroker();
    const { peer } = await RawMqtt5.session(broker.mqttPort, 'twice');
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'twice', keepalive: 0 });
    await peer.waitClosed();
    expect(peer.received('connack')).toHaveLength(1);
    // A DISCONNECT before the close (a SHOULD, §4.13.1) says Protocol Error.
    for (const d of peer.received('disconnect')) expect(d.reasonCode).toBe(0x82);
  });

  it('[MQTT-3.1.2-1] a protocol name other than "MQTT": closed, at most a CONNACK 0x84 before', async () => {
    const broker = await startMqttBroker();
    const peer = await RawMqtt5.connect(broker.mqttPort);
    peer.write(rawConnect5({ name: 'MQTX' }));
    await closedWithConnackOrNothing(peer, 0x84);
  });

  it('[MQTT-3.1.2-2] a protocol version it does not support (6): closed, at most a CONNACK 0x84 before', async () => {
    const broker = await startMqttBroker();
    const peer = await RawMqtt5.connect(broker.mqttPort);
    peer.write(rawConnect5({ level: 6 }));
    await closedWithConnackOrNothing(peer, 0x84);
  });

  it('[MQTT-3.1.2-3] closes a CONNECT whose reserved flag is set (Malformed Packet)', async () => {
    const broker = await startMqttBroker();
    const peer = await RawMqtt5.connect(broker.mqttPort);
    peer.write(rawConnect5({ flags: 0x03 }));
    await closedWithConnackOrNothing(peer, 0x81);
  });

  it('[MQTT-3.1.2-4, MQTT-3.2.2-2] Clean Start 1 discards the existing session: Session Present 0, no subscription, nothing queued', async () => {
    const broker = await startMqttBroker();
    const first = await RawMqtt5.session(broker.mqttPort, 'cs-1', { properties: { sessionExpiryInterval: 600 } });
    await subscribe(first.peer, 'cs/1');
    first.peer.send({ cmd: 'disconnect', reasonCode: 0 });
    await first.peer.waitClosed();
    await publishFrom(broker.mqttPort, 'cs/1', 'queued');
    const { peer, connack } = await RawMqtt5.session(broker.mqttPort, 'cs-1', { clean: true, properties: { sessionExpiryInterval: 600 } });
    expect(connack.sessionPresent).toBe(false);
    await publishFrom(broker.mqttPort, 'cs/1', 'live');
    await peer.barrier();
    expect(peer.deliveries()).toEqual([]);
  });

  it('[MQTT-3.1.2-5, MQTT-3.2.2-3] Clean Start 0 resumes the session: Session Present 1, its subscriptions, the messages queued', async () => {
    const broker = await startMqttBroker();
    const first = await RawMqtt5.session(broker.mqttPort, 'cs-2', { properties: { sessionExpiryInterval: 600 } });
    await subscribe(first.peer, 'cs/2');
    first.peer.send({ cmd: 'disconnect', reasonCode: 0 });
    await first.peer.waitClosed();
    await publishFrom(broker.mqttPort, 'cs/2', 'queued');
    const { peer, connack } = await RawMqtt5.session(broker.mqttPort, 'cs-2', { clean: false, properties: { sessionExpiryInterval: 600 } });
    expect(connack.sessionPresent).toBe(true);
    await peer.waitFor((p) => p.cmd === 'publish');
    await publishFrom(broker.mqttPort, 'cs/2', 'live');
    await peer.waitFor(() => peer.received('publish').length === 2);
    expect(peer.deliveries()).toEqual(['cs/2=queued', 'cs/2=live']);
  });

  // aedes answers Session Present from the stored subscriptions (lib/handlers/connect.js): a session
  // without one is kept (its will, its expiry) but reported absent. Same in MQTT 3.1.1.
  it.fails('[MQTT-3.2.2-3] Session Present 1 for a session that exists without subscriptions (§4.1: the existence of a session is state)', async () => {
    const broker = await startMqttBroker();
    const first = await RawMqtt5.session(broker.mqttPort, 'cs-empty', { properties: { sessionExpiryInterval: 600 } });
    first.peer.send({ cmd: 'disconnect', reasonCode: 0 });
    await first.peer.waitClosed();
    const { connack } = await RawMqtt5.session(broker.mqttPort, 'cs-empty', { clean: false, properties: { sessionExpiryInterval: 600 } });
    expect(connack.sessionPresent).toBe(true);
  });

  it('[MQTT-3.1.2-6, MQTT-3.2.2-3] Clean Start 0 without a session: a new one, Session Present 0', async () => {
    const broker = await startMqttBroker();
    const { connack } = await RawMqtt5.session(broker.mqttPort, 'cs-new', { clean: false, properties: { sessionExpiryInterval: 600 } });
    expect(connack.sessionPresent).toBe(false);
    expect(connack.reasonCode).toBe(0);
  });

  it('[MQTT-3.1.2-23] Session Expiry Interval 0 (absent): the session ends with the connection', async () => {
    const broker = await startMqttBroker();
    const first = await RawMqtt5.session(broker.mqttPort, 'cs-0');
    await subscribe(first.peer, 'cs/0');
    first.peer.send({ cmd: 'disconnect', reasonCode: 0 });
    await first.peer.waitClosed();
    const { connack } = await RawMqtt5.session(broker.mqttPort, 'cs-0', { clean: false });
    expect(connack.sessionPresent).toBe(false);
  });

  it('[MQTT-3.1.3-5, MQTT-3.1.4-5] takes a client id of 1 to 23 characters 0-9a-zA-Z with CONNACK 0x00', async () => {
    const broker = await startMqttBroker();
    const { connack } = await RawMqtt5.session(broker.mqttPort, 'aZ09aZ09aZ09aZ09aZ09aZ0');
    expect(connack.reasonCode).toBe(0);
  });

  it('[MQTT-3.1.3-6, MQTT-3.1.3-7] a zero-length client id gets a unique id, returned as Assigned Client Identifier', async () => {
    const broker = await startMqttBroker();
    const a = await RawMqtt5.session(broker.mqttPort, '');
    const b = await RawMqtt5.session(broker.mqttPort, '');
    const ids = [a.connack.properties?.assignedClientIdentifier, b.connack.properties?.assignedClientIdentifier];
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(ids[0]).not.toBe(ids[1]);
  });

  it('[MQTT-3.1.3-8, MQTT-3.2.2-6, MQTT-3.2.2-7, MQTT-3.1.4-6] a client id it refuses (over 1,024 bytes): CONNACK 0x85, Session Present 0, close; a PUBLISH behind it is not processed', async () => {
    const broker = await startMqttBroker();
    const watcher = await RawMqtt5.session(broker.mqttPort, 'watch-refused');
    await subscribe(watcher.peer, 'refused/#', 0);
    const peer = await RawMqtt5.connect(broker.mqttPort);
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'x'.repeat(1025), keepalive: 0 });
    peer.send({ cmd: 'publish', topic: 'refused/a', payload: Buffer.from('behind'), qos: 0, retain: false, dup: false });
    await peer.waitClosed();
    const [connack] = peer.received('connack');
    expect(connack.reasonCode).toBe(0x85);
    expect(connack.sessionPresent).toBe(false);
    await watcher.peer.barrier();
    expect(watcher.peer.deliveries()).toEqual([]);
  });

  it('[MQTT-3.2.2-7, MQTT-4.13.2-1] an anonymous client where anonymous access is off: CONNACK 0x87 Not authorized, then close', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { allowAnonymous: false } }, auth: { users: [{ username: 'u', passwordHash: 'scrypt$16384$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==' }] } });
    const peer = await RawMqtt5.connect(broker.mqttPort);
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'anon', keepalive: 0 });
    await peer.waitClosed();
    expect(peer.received('connack').map((c) => c.reasonCode)).toEqual([0x87]);
  });

  it('[MQTT-3.1.4-2, MQTT-3.2.2-7] a wrong password: CONNACK 0x86 Bad User Name or Password, then close; the right one: 0x00', async () => {
    const passwordHash = await hashPassword('right', { N: 1024, r: 8, p: 1 });
    const broker = await startMqttBroker({ listeners: { mqtt: { allowAnonymous: false } }, auth: { users: [{ username: 'dev', passwordHash }] } });
    const peer = await RawMqtt5.connect(broker.mqttPort);
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'pw', keepalive: 0, username: 'dev', password: Buffer.from('wrong') });
    await peer.waitClosed();
    expect(peer.received('connack').map((c) => c.reasonCode)).toEqual([0x86]);
    const ok = await RawMqtt5.session(broker.mqttPort, 'pw', { username: 'dev', password: Buffer.from('right') });
    expect(ok.connack.reasonCode).toBe(0);
  });

  it('[MQTT-4.12.0-1] an Authentication Method (enhanced authentication, not offered): CONNACK 0x8C, then close', async () => {
    const broker = await startMqttBroker();
    const peer = await RawMqtt5.connect(broker.mqttPort);
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'enh', keepalive: 0, properties: { authenticationMethod: 'SCRAM-SHA-1' } });
    await peer.waitClosed();
    expect(peer.received('connack').map((c) => c.reasonCode)).toEqual([0x8c]);
  });

  it('[MQTT-3.1.4-3] a second connection with the same client id takes over: the first gets DISCONNECT 0x8E (no Session Expiry Interval [MQTT-3.14.2-2]) and is closed', async () => {
    const broker = await startMqttBroker();
    const first = await RawMqtt5.session(broker.mqttPort, 'same-id');
    const second = await RawMqtt5.session(broker.mqttPort, 'same-id');
    expect(second.connack.reasonCode).toBe(0);
    await first.peer.waitClosed();
    expect(first.peer.received('disconnect').map((d) => d.reasonCode)).toEqual([0x8e]);
    // [MQTT-3.14.2-2] a server's DISCONNECT carries no Session Expiry Interval.
    expect(first.peer.received('disconnect')[0].properties?.sessionExpiryInterval).toBeUndefined();
  });

  it('[MQTT-3.2.0-1, MQTT-3.2.0-2] CONNACK is the first packet to the client, and there is one', async () => {
    const broker = await startMqttBroker();
    const { peer } = await RawMqtt5.session(broker.mqttPort, 'one-connack');
    await subscribe(peer, 'one/#');
    await peer.barrier();
    expect(peer.packets[0].cmd).toBe('connack');
    expect(peer.received('connack')).toHaveLength(1);
  });

  it('[§3.2.2.3] CONNACK properties: Maximum Packet Size, Receive Maximum, Topic Alias Maximum as configured', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { messageBytesMax: 65536, inflightMax: 50 } } });
    const { connack } = await RawMqtt5.session(broker.mqttPort, 'props');
    expect(connack.properties).toMatchObject({ maximumPacketSize: 65536, receiveMaximum: 50, topicAliasMaximum: 64 });
  });

  it('[MQTT-3.14.0-1] sends no DISCONNECT to a client it refused (a CONNACK ≥ 0x80 is the last packet)', async () => {
    const broker = await startMqttBroker();
    const peer = await RawMqtt5.connect(broker.mqttPort);
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'y'.repeat(1025), keepalive: 0 });
    await peer.waitClosed();
    expect(peer.packets.map((p) => p.cmd)).toEqual(['connack']);
  });
});
