// A bounded flood of MQTT 5 PUBLISHes the ACL denies, against the built broker in a child process:
// refused PUBLISHes no longer close the connection, so nothing ends the flood but the client. The
// broker stays up, answers every QoS 1 one with PUBACK 0x87 on the same connection, logs the denial
// once (not once per message), keeps a well-behaved client's PUBACKs coming, and its RSS bounded.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, mqttListenerEnv, startChildBroker, startedPorts } from '../../helpers/child-broker.ts';
import { canaryLoop, mqttClients } from '../../helpers/mqtt.ts';
import { tempDir } from '../../helpers/temp.ts';

const QOS1 = 20_000;
const QOS0 = 20_000;
/** QoS 1 PUBLISHes the flooder keeps unanswered: below the Receive Maximum (inflightMax, 100). */
const WINDOW = 50;

function rssBytes(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
  return Number(kb) * 1024;
}

describe('MQTT 5 flood of denied PUBLISHes', () => {
  it('answers each with 0x87 on one connection, logs it once, keeps a canary acknowledged and RSS bounded', async () => {
    const dir = tempDir();
    const mqttPort = await freePort();
    const broker = await startChildBroker(path.join(dir, 'data'), await freePort(), {
      ...mqttListenerEnv(mqttPort),
      TRIBUTARY_AUTH__ACLS: JSON.stringify([
        { clientId: 'canary', publish: ['canary/#'] },
        { clientId: 'flooder', publish: ['allowed/#'] },
      ]),
    });
    expect(await startedPorts(broker)).toMatchObject({ mqttPort });
    const pid = broker.child.pid!;
    const connect = mqttClients(mqttPort, { protocolVersion: 5 });
    const canary = await connect('canary');
    await canary.publishAsync('canary/warm-up', 'x', { qos: 1 });
    const flooder = await connect('flooder');
    let closes = 0;
    flooder.on('close', () => closes++);
    const rssBefore = rssBytes(pid);

    const pinging = canaryLoop(canary);
    const payload = Buffer.alloc(512, 'f');
    const codes = new Map<number, number>();
    let next = 0;
    await Promise.all(
      Array.from({ length: WINDOW }, async () => {
        while (next++ < QOS1) {
          const code = await flooder.publishAsync('denied/x', payload, { qos: 1 }).then(
            () => 0,
            (err: { code?: number }) => err.code ?? -1,
          );
          codes.set(code, (codes.get(code) ?? 0) + 1);
          // QoS 0 ones between them: dropped without an answer.
          if (next <= QOS0) flooder.publish('denied/y', payload, { qos: 0 });
        }
      }),
    );
    const canaryAckedDuringFlood = pinging.acked();
    const canaryAcked = await pinging.stop();

    expect(broker.child.exitCode).toBeNull();
    expect(Object.fromEntries(codes)).toEqual({ [0x87]: QOS1 });
    expect(closes).toBe(0);
    expect(flooder.connected).toBe(true);
    expect(canaryAckedDuringFlood).toBeGreaterThan(0);
    // The flooder's connection is still usable for what its ACL allows.
    await flooder.publishAsync('allowed/after', 'ok', { qos: 1 });
    const rssGrowth = rssBytes(pid) - rssBefore;
    expect(rssGrowth).toBeLessThan(64 * 1024 * 1024);

    const denials = broker
      .output()
      .split('\n')
      .filter((l) => l.includes('publish denied by ACL'));
    expect(denials).toHaveLength(1);
    expect(JSON.parse(denials[0])).toMatchObject({ clientId: 'flooder', mqttTopic: 'denied/x', code: 'NOT_AUTHORIZED', reasonCode: 0x87 });

    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
  }, 120_000);
});
