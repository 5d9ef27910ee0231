// Every path on which a WebSocket of the MQTT listener can emit 'error' (a broken frame from its
// client: no mask, a reserved opcode, a message over maxPayload), before its CONNECT and after its
// CONNACK: ws emits it once per WebSocket, createWebSocketStream turns it into the stream's error and
// aedes handles that. Only that connection closes; the broker keeps serving.
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { connectMqtt, rawWebSocket, startMqttBroker } from '../../helpers/mqtt.ts';

/** A masked binary frame (mask 0: the payload is sent as is), as a client must send [RFC 6455 5.3]. */
function maskedFrame(payload: Buffer, opcode = 0x2): Buffer {
  if (payload.length > 125) throw new Error('short frames only');
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
}

const BROKEN: [string, Buffer][] = [
  ['a frame without a mask', Buffer.from([0x82, 0x00])],
  ['a reserved opcode', maskedFrame(Buffer.alloc(0), 0x3)],
  // A 64-bit length of 2^40: over maxPayload, refused from the header.
  ['a message over maxPayload', Buffer.from([0x82, 0xff, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0])],
];

describe('MQTT WebSocket errors', () => {
  it.each(BROKEN)('closes a WebSocket that sends %s before its CONNECT or after its CONNACK, and serves others', async (_what, broken) => {
    const broker = await startMqttBroker();
    const wsPort = broker.running.mqtt!.wsPort!;
    const other = await connectMqtt(broker, { clientId: 'other' });

    const early = await rawWebSocket(wsPort);
    early.write(broken);
    await new Promise<void>((resolve) => (early.closed ? resolve() : early.once('close', () => resolve())));

    const late = await rawWebSocket(wsPort);
    const connack = new Promise<void>((resolve) => late.once('data', () => resolve()));
    late.write(maskedFrame(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'late', keepalive: 0 })));
    await connack;
    expect(broker.running.mqtt!.clientCount).toBe(2);
    late.write(broken);
    await new Promise<void>((resolve) => (late.closed ? resolve() : late.once('close', () => resolve())));

    await other.publishAsync('still/served', 'x', { qos: 1 });
  });
});
