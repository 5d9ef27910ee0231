// MQTT 5 session expiry across restarts of the built broker (child process): aedes times a session's
// expiry in memory only, so these sessions would be kept forever after a restart without
// src/listeners/mqtt/session-expiry.ts. A session waiting to expire when the broker stopped expires
// on time after the start; one whose client was connected when the broker was killed counts its
// interval from the start; sessionExpiryMaxS lowered between two runs applies to stored sessions.
import { describe, expect, it } from 'vitest';
import { freePort, mqttListenerEnv, startChildBroker, type ChildBroker } from '../../helpers/child-broker.ts';
import { RawMqtt5, until } from '../../helpers/mqtt5-raw.ts';
import { tempDir } from '../../helpers/temp.ts';

async function subscribed(port: number, clientId: string, sessionExpiryInterval: number): Promise<RawMqtt5> {
  const { peer, connack } = await RawMqtt5.session(port, clientId, { clean: false, properties: { sessionExpiryInterval } });
  expect(connack.reasonCode).toBe(0);
  peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `r/${clientId}`, qos: 1, nl: false, rap: false, rh: 0 }] });
  await peer.waitFor((p) => p.cmd === 'suback');
  return peer;
}

async function leave(peer: RawMqtt5): Promise<void> {
  peer.send({ cmd: 'disconnect', reasonCode: 0 });
  await peer.waitClosed();
}

/** Whether the client's session is still there: CONNECT with Clean Start 0, read Session Present, leave with DISCONNECT. */
async function sessionPresent(port: number, clientId: string, sessionExpiryInterval: number): Promise<boolean> {
  const { peer, connack } = await RawMqtt5.session(port, clientId, { clean: false, properties: { sessionExpiryInterval } });
  await leave(peer);
  return connack.sessionPresent;
}

const expiredLogged = (broker: ChildBroker, clientId: string): boolean =>
  broker.output().split('\n').some((line) => line.includes('"msg":"MQTT 5 session expired"') && line.includes(`"clientId":"${clientId}"`));

async function stop(broker: ChildBroker, signal: NodeJS.Signals): Promise<void> {
  broker.child.kill(signal);
  await broker.exited;
}

describe('MQTT 5 session expiry across restarts', () => {
  it('expires after a restart a session that was waiting to expire, keeps one within its interval, and applies a lowered sessionExpiryMaxS', async () => {
    const dataDir = tempDir();
    const [edgePort, mqttPort] = [await freePort(), await freePort()];
    let broker = await startChildBroker(dataDir, edgePort, mqttListenerEnv(mqttPort));
    await leave(await subscribed(mqttPort, 'r-short', 1));
    await leave(await subscribed(mqttPort, 'r-long', 3600));
    await stop(broker, 'SIGTERM');

    broker = await startChildBroker(dataDir, edgePort, mqttListenerEnv(mqttPort));
    await until(() => expiredLogged(broker, 'r-short'), 'r-short to expire after the restart');
    expect(await sessionPresent(mqttPort, 'r-short', 1)).toBe(false);
    // Reconnecting restarts r-long's interval: 3600 s again from this disconnect.
    expect(await sessionPresent(mqttPort, 'r-long', 3600)).toBe(true);
    await stop(broker, 'SIGTERM');

    broker = await startChildBroker(dataDir, edgePort, { ...mqttListenerEnv(mqttPort), TRIBUTARY_LISTENERS__MQTT__SESSION_EXPIRY_MAX_S: '1' });
    await until(() => expiredLogged(broker, 'r-long'), 'r-long to expire under the lowered cap');
    expect(await sessionPresent(mqttPort, 'r-long', 1)).toBe(false);
    await stop(broker, 'SIGTERM');
  });

  it('counts the interval from the start for a session whose client was connected when the broker was killed', async () => {
    const dataDir = tempDir();
    const [edgePort, mqttPort] = [await freePort(), await freePort()];
    let broker = await startChildBroker(dataDir, edgePort, mqttListenerEnv(mqttPort));
    const short = await subscribed(mqttPort, 'k-short', 1);
    const long = await subscribed(mqttPort, 'k-long', 3600);
    await stop(broker, 'SIGKILL');
    await Promise.all([short.waitClosed(), long.waitClosed()]);

    broker = await startChildBroker(dataDir, edgePort, mqttListenerEnv(mqttPort));
    await until(() => expiredLogged(broker, 'k-short'), 'k-short to expire after the restart');
    expect(await sessionPresent(mqttPort, 'k-short', 1)).toBe(false);
    expect(await sessionPresent(mqttPort, 'k-long', 3600)).toBe(true);
    await stop(broker, 'SIGTERM');
  });
});
