// The protocol loop does not wait for the disk: the broker runs with an LD_PRELOAD shim that holds
// every fsync/fdatasync while a file exists. A QoS 1 PUBLISH whose transaction commit is held stays
// un-acknowledged, and meanwhile the same broker still answers an MQTT PINGREQ, an edge metadata
// request and HTTP /healthz. Ordering only, no timing: the answers arrive while the ack has not.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, mqttListenerEnv, startChildBroker, waitForPort } from '../helpers/child-broker.ts';
import { RawMqtt } from '../helpers/mqtt.ts';
import { RawPeer, until } from '../helpers/raw-edge.ts';
import { tempDir } from '../helpers/temp.ts';

describe('a held fdatasync', () => {
  it('holds the PUBACK of its commit while PINGREQ, edge metadata and /healthz are answered', async () => {
    const dir = tempDir();
    const shim = path.join(dir, 'slow-fsync.so');
    execFileSync('gcc', ['-shared', '-fPIC', '-o', shim, path.resolve('test/crash/slow-fsync.c'), '-ldl']);
    const hold = path.join(dir, 'hold');
    const held = path.join(dir, 'held');
    const [mqttPort, httpPort] = [await freePort(), await freePort()];
    const broker = await startChildBroker(path.join(dir, 'data'), await freePort(), {
      LD_PRELOAD: shim,
      SLOW_FSYNC_HOLD: hold,
      SLOW_FSYNC_HELD: held,
      ...mqttListenerEnv(mqttPort),
      TRIBUTARY_LISTENERS__HTTP__ENABLED: 'true',
      TRIBUTARY_LISTENERS__HTTP__HOST: '127.0.0.1',
      TRIBUTARY_LISTENERS__HTTP__PORT: String(httpPort),
      TRIBUTARY_ROUTES: JSON.stringify([{ match: 'one/#', topic: 'one', acks: 1 }]),
    });
    await waitForPort(broker, mqttPort);
    const mqtt = await RawMqtt.session(mqttPort, 'held-publisher');
    const edge = await RawPeer.hello(broker.port);
    // The topic exists before the disk is held, so the timed PUBLISH is one append.
    mqtt.send({ cmd: 'publish', topic: 'one/x', payload: Buffer.from('warm-up'), qos: 1, messageId: 1, retain: false, dup: false });
    await mqtt.waitFor((p) => p.cmd === 'puback' && p.messageId === 1);

    fs.writeFileSync(hold, '');
    mqtt.send({ cmd: 'publish', topic: 'one/x', payload: Buffer.from('held'), qos: 1, messageId: 2, retain: false, dup: false });
    // The shim marks the moment a flush is held: from then on the commit holding message 2 cannot finish.
    await until(() => fs.existsSync(held), 'a held fdatasync');
    const pubackOf2 = (p: { cmd: string; messageId?: number }) => p.cmd === 'puback' && p.messageId === 2;

    mqtt.send({ cmd: 'pingreq' });
    await mqtt.waitFor((p) => p.cmd === 'pingresp');
    edge.send({ type: 'metadata', corr: 7, topics: [] });
    expect(await edge.waitFor((f) => f.type === 'metadata-result')).toMatchObject({ corr: 7 });
    const health = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
    expect(health.status).toBe(200);
    expect(mqtt.packets.some(pubackOf2)).toBe(false);

    fs.rmSync(hold);
    await mqtt.waitFor(pubackOf2);
    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
  }, 60_000);
});
