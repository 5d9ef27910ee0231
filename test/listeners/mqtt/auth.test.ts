// Passwords, anonymous access and ACLs: unit checks of the hash format and the rule evaluation, then
// the answers real MQTT.js clients get (CONNACK 4/5, SUBACK 0x80, a closed connection).
import mqttPacket, { type Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { Acl } from '../../../src/auth/acl.ts';
import { hashPassword, passwordHashProblem, verifyPassword } from '../../../src/auth/password.ts';
import { Authenticator } from '../../../src/listeners/mqtt/auth.ts';
import { closed, connectMqtt, connectRefusal, logRecords, RawMqtt, startMqttBroker } from '../../helpers/mqtt.ts';

const fast = { N: 1024, r: 8, p: 1 };

describe('password hashes', () => {
  it('verify the password they were made from and nothing else, with a new salt each time', async () => {
    const a = await hashPassword('s3cret', fast);
    const b = await hashPassword('s3cret', fast);
    expect(a).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword(Buffer.from('s3cret'), a)).toBe(true);
    expect(await verifyPassword(Buffer.from('s3cret!'), a)).toBe(false);
    expect(passwordHashProblem(a)).toBeNull();
  });

  it.each([
    ['plain', /not of the form/],
    ['scrypt$1000$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==', /power of two/],
    ['scrypt$1048576$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==', /above/],
    ['scrypt$1024$8$1$AA==$AAAAAAAAAAAAAAAAAAAAAA==', /salt/],
  ])('rejects %s', (hash, problem) => {
    expect(passwordHashProblem(hash)).toMatch(problem);
  });
});

describe('Authenticator', () => {
  it('answers 5 to anonymous clients when anonymous access is off, 4 to unknown users and wrong passwords', async () => {
    const users = [{ username: 'u', passwordHash: await hashPassword('pw', fast) }];
    const closedAuth = new Authenticator(users, false);
    expect(await closedAuth.authenticate('c', undefined, undefined)).toMatchObject({ ok: false, returnCode: 5 });
    expect(await closedAuth.authenticate('c', 'nobody', Buffer.from('pw'))).toMatchObject({ ok: false, returnCode: 4 });
    expect(await closedAuth.authenticate('c', 'u', Buffer.from('nope'))).toMatchObject({ ok: false, returnCode: 4 });
    expect(await closedAuth.authenticate('c', 'u', undefined)).toMatchObject({ ok: false, returnCode: 4 });
    expect(await closedAuth.authenticate('c', 'u', Buffer.from('pw'))).toEqual({ ok: true, identity: { clientId: 'c', username: 'u' } });
    expect(await new Authenticator(users, true).authenticate('c', undefined, undefined)).toEqual({ ok: true, identity: { clientId: 'c', username: null } });
    // No user list: a username is an identity for ACLs, not a secret.
    expect(await new Authenticator([], true).authenticate('c', 'any', undefined)).toMatchObject({ ok: true });
  });
});

describe('Acl', () => {
  const acl = new Acl([
    { user: 'alice', publish: ['alice/#', 'shared/+/in'], subscribe: ['shared/#'] },
    { clientId: 'gw-1', publish: ['gateways/gw-1/#'], subscribe: [] },
    { publish: ['devices/%c/up', 'users/%u/up'], subscribe: ['devices/%c/down/#', '$SYS/#'] },
  ]);
  const alice = { clientId: 'a1', username: 'alice' };
  const anon = (clientId: string) => ({ clientId, username: null });

  it('allows everything without rules', () => {
    expect(new Acl([]).canPublish(anon('x'), 'any/topic')).toBe(true);
    expect(new Acl([]).canSubscribe(anon('x'), '#')).toBe(true);
  });

  it('applies rules by user and by client id, denying what none allows', () => {
    expect(acl.canPublish(alice, 'alice/x/y')).toBe(true);
    expect(acl.canPublish(alice, 'shared/7/in')).toBe(true);
    expect(acl.canPublish(alice, 'gateways/gw-1/a')).toBe(false);
    expect(acl.canPublish(anon('gw-1'), 'gateways/gw-1/a')).toBe(true);
    expect(acl.canPublish(anon('gw-2'), 'gateways/gw-1/a')).toBe(false);
    expect(acl.canPublish(anon('gw-2'), 'alice/x')).toBe(false);
  });

  it('substitutes %c and %u, never for anonymous %u or values holding / + #', () => {
    expect(acl.canPublish(anon('d9'), 'devices/d9/up')).toBe(true);
    expect(acl.canPublish(anon('d9'), 'devices/d8/up')).toBe(false);
    expect(acl.canPublish(alice, 'users/alice/up')).toBe(true);
    expect(acl.canPublish(anon('x'), 'users//up')).toBe(false);
    expect(acl.canPublish(anon('+'), 'devices/+/up')).toBe(false);
    // A '/' in the id would make %c span levels: "d9/x" reaching a topic "d9" does not own.
    expect(acl.canPublish(anon('d9/x'), 'devices/d9/x/up')).toBe(false);
    expect(acl.canSubscribe(anon('#'), 'devices/#/down/#')).toBe(false);
  });

  it('allows a subscription only when an allowed filter covers it', () => {
    expect(acl.canSubscribe(alice, 'shared/+/in')).toBe(true);
    expect(acl.canSubscribe(alice, 'shared')).toBe(true);
    expect(acl.canSubscribe(alice, '#')).toBe(false);
    expect(acl.canSubscribe(anon('d9'), 'devices/d9/down/+')).toBe(true);
    expect(acl.canSubscribe(anon('d9'), 'devices/+/down/+')).toBe(false);
    expect(acl.canSubscribe(anon('d9'), '$SYS/broker/x')).toBe(true);
  });
});

describe('MQTT auth and ACLs on the listener', () => {
  async function securedBroker() {
    return startMqttBroker({
      listeners: { mqtt: { allowAnonymous: false } },
      auth: {
        users: [
          { username: 'sensor', passwordHash: await hashPassword('right', fast) },
          { username: 'ops', passwordHash: await hashPassword('ops-pw', fast) },
        ],
        acls: [
          { user: 'sensor', publish: ['sensors/%c/#'], subscribe: ['commands/%c/#'] },
          { user: 'ops', publish: ['commands/#'], subscribe: ['#'] },
        ],
      },
    });
  }

  it('refuses a wrong password and an unknown user with CONNACK 4, and no username with CONNACK 5', async () => {
    const broker = await securedBroker();
    expect((await connectRefusal(broker.mqttPort, { username: 'sensor', password: 'wrong' })).code).toBe(4);
    expect((await connectRefusal(broker.mqttPort, { username: 'ghost', password: 'right' })).code).toBe(4);
    expect((await connectRefusal(broker.mqttPort)).code).toBe(5);
    await connectMqtt(broker, { username: 'sensor', password: 'right' });
    expect(Object.fromEntries(broker.running.mqtt!.metrics.refused)).toEqual({ 'bad-credentials': 2, 'not-authorized': 1 });
  });

  it('closes the connection on a denied publish (aedes: MQTT 3.1.1 has no refusal) and logs nothing', async () => {
    const broker = await securedBroker();
    const sensor = await connectMqtt(broker, { username: 'sensor', password: 'right', clientId: 's-1' });
    await sensor.publishAsync('sensors/s-1/temp', '20', { qos: 1 });
    const gone = closed(sensor);
    sensor.publish('sensors/s-2/temp', 'spoofed', { qos: 1 });
    await gone;
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.key!.toString())).toEqual(['sensors/s-1/temp']);
    expect(broker.running.mqtt!.metrics.denied.publish).toBe(1);
  });

  it('acknowledges the PUBLISHes ahead of a denied one before closing, and none after it', async () => {
    const broker = await startMqttBroker({ auth: { acls: [{ publish: ['a/#'] }] } });
    const peer = await RawMqtt.session(broker.mqttPort, 'mixed');
    // One write: aedes reads all three in one turn, the denial before the first append committed.
    const burst: Packet[] = [
      { cmd: 'publish', topic: 'a/1', payload: Buffer.from('1'), qos: 1, messageId: 1, retain: false, dup: false },
      { cmd: 'publish', topic: 'b/denied', payload: Buffer.from('2'), qos: 1, messageId: 2, retain: false, dup: false },
      { cmd: 'publish', topic: 'a/2', payload: Buffer.from('3'), qos: 1, messageId: 3, retain: false, dup: false },
    ];
    peer.write(Buffer.concat(burst.map((p) => mqttPacket.generate(p))));
    await peer.waitClosed();
    expect(peer.packets.filter((p) => p.cmd === 'puback').map((p) => (p as { messageId: number }).messageId)).toEqual([1]);
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.key!.toString())).toEqual(['a/1']);
    expect(broker.running.mqtt!.metrics.closed.get('publish-denied')).toBe(1);
  });

  it('answers a denied subscription with SUBACK 0x80 and keeps the connection', async () => {
    const broker = await securedBroker();
    const sensor = await connectMqtt(broker, { username: 'sensor', password: 'right', clientId: 's-1' });
    // MQTT.js turns a SUBACK holding 0x80 into an error; the packet itself is what the broker said.
    const suback = new Promise<unknown>((resolve) => sensor.on('packetreceive', (p: Packet) => p.cmd === 'suback' && resolve(p.granted)));
    sensor.subscribe(['commands/s-1/#', 'commands/s-2/#'], { qos: 1 }, () => undefined);
    expect(await suback).toEqual([1, 128]);
    const ops = await connectMqtt(broker, { username: 'ops', password: 'ops-pw' });
    const got = new Promise<string>((resolve) => sensor.once('message', (topic) => resolve(topic)));
    await ops.publishAsync('commands/s-1/reboot', 'now', { qos: 1 });
    expect(await got).toBe('commands/s-1/reboot');
    expect(broker.running.mqtt!.metrics.denied.subscribe).toBe(1);
  });

  it('refuses a CONNECT whose will topic the ACL denies with CONNACK 5', async () => {
    const broker = await securedBroker();
    const err = await connectRefusal(broker.mqttPort, { username: 'sensor', password: 'right', clientId: 's-1', will: { topic: 'commands/all', payload: Buffer.from('x'), qos: 0, retain: false } });
    expect(err.code).toBe(5);
  });

  it('logs the will of a client that drops, through the routes', async () => {
    const broker = await startMqttBroker();
    const client = await connectMqtt(broker, { clientId: 'w', will: { topic: 'status/w', payload: Buffer.from('offline'), qos: 1, retain: true } });
    client.stream.destroy();
    await expect.poll(async () => (await logRecords(broker.running, 'mqtt')).map((r) => r.value!.toString())).toEqual(['offline']);
    expect(broker.running.mqtt!.metrics.willsLogged).toBe(1);
  });
});
