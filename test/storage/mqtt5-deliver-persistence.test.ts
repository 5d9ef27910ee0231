// The MQTT session store keeps what aedes needs to deliver an MQTT 5 message after a restart: its
// properties (user properties with repeated keys, binary correlation data...) and aedes' absolute
// expiry time `messageExpiry`, on queued and on retained packets.
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LogStore } from '../../src/storage/log-store.ts';
import { MqttPersistence, type MqttPacket } from '../../src/storage/mqtt-persistence.ts';
import { silentLogger, storeOptions, tempDir } from '../helpers/temp.ts';

const broker = { id: 'broker-1' };

async function open(dir: string) {
  const store = new LogStore(storeOptions(dir));
  const persistence = new MqttPersistence(store, silentLogger);
  await persistence.setup(broker);
  const close = async () => {
    await persistence.destroy();
    await store.close();
  };
  return { persistence, close };
}

async function list(stream: Readable): Promise<MqttPacket[]> {
  const out: MqttPacket[] = [];
  for await (const item of stream) out.push(item as MqttPacket);
  return out;
}

describe('MqttPersistence and MQTT 5 messages', () => {
  it('keeps properties and messageExpiry of queued and retained packets across a restart', async () => {
    const dir = tempDir();
    const properties = {
      userProperties: { site: 'north', tag: ['a', 'b'] },
      contentType: 'application/json',
      payloadFormatIndicator: true,
      responseTopic: 'replies/r1',
      correlationData: Buffer.from([0xca, 0xfe, 0x00]),
      messageExpiryInterval: 600,
    };
    const messageExpiry = Date.now() + 600_000;
    const packet = { cmd: 'publish', topic: 'a/b', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, brokerId: broker.id, brokerCounter: 7, properties, messageExpiry };
    const first = await open(dir);
    await first.persistence.outgoingEnqueue({ clientId: 'away' }, packet);
    await first.persistence.storeRetained({ ...packet, retain: true });
    await first.close();

    const second = await open(dir);
    try {
      const [queued] = await list(second.persistence.outgoingStream({ id: 'away' }));
      expect(queued).toMatchObject({ topic: 'a/b', properties, messageExpiry });
      expect(Buffer.isBuffer((queued!.properties as { correlationData: unknown }).correlationData)).toBe(true);
      const [retained] = await list(second.persistence.createRetainedStream('a/#'));
      expect(retained).toMatchObject({ topic: 'a/b', retain: true, properties, messageExpiry });
    } finally {
      await second.close();
    }
  });
});
