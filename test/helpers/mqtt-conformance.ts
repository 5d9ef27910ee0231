// Shared by the conformance suites (test/conformance/mqtt-3.1.1, later mqtt-5): what a raw peer got,
// and barriers that prove something did NOT arrive without waiting a fixed time.
import type { Packet } from 'mqtt-packet';
import { expect } from 'vitest';
import type { RawMqtt } from './mqtt.ts';

export type PacketOf<C extends Packet['cmd']> = Extract<Packet, { cmd: C }>;

/** The packets of one type the peer got so far, in order. */
export const received = <C extends Packet['cmd']>(peer: RawMqtt, cmd: C): PacketOf<C>[] => peer.packets.filter((p): p is PacketOf<C> => p.cmd === cmd);

/** The PUBLISHes the peer got, as "topic=payload". */
export const deliveries = (peer: RawMqtt): string[] => received(peer, 'publish').map((p) => `${p.topic}=${p.payload.toString()}`);

/**
 * Round trip through the broker: PINGREQ, then its PINGRESP. The broker answers a client's packets
 * in order, so whatever it was going to send this peer in answer to earlier packets has been sent.
 */
export async function pingBarrier(peer: RawMqtt): Promise<void> {
  const before = received(peer, 'pingresp').length;
  peer.send({ cmd: 'pingreq' });
  await peer.waitFor(() => received(peer, 'pingresp').length > before);
}

/** The connection is closed and the peer got nothing at all (no CONNACK, no answer). */
export async function closedSilently(peer: RawMqtt): Promise<void> {
  await peer.waitClosed();
  expect(peer.packets.map((p) => p.cmd)).toEqual([]);
}

/** The connection is closed after the packets of these types, and nothing else. */
export async function closedAfter(peer: RawMqtt, cmds: Packet['cmd'][]): Promise<void> {
  await peer.waitClosed();
  expect(peer.packets.map((p) => p.cmd)).toEqual(cmds);
}

/**
 * Subscribes to `filter` and to `marker` (a topic holding a retained message) in one SUBSCRIBE,
 * then waits for the marker's retained message: aedes reads the retained messages of one SUBSCRIBE
 * in one pass over its store, so once the marker is here and a PINGREQ has made the round trip,
 * whatever `filter` matched has been sent too. Returns the retained messages that came for `filter`.
 */
export async function retainedOnSubscribe(peer: RawMqtt, filter: string, marker: string, qos: 0 | 1 | 2 = 0): Promise<PacketOf<'publish'>[]> {
  const before = received(peer, 'publish').length;
  peer.send({ cmd: 'subscribe', messageId: 1000, subscriptions: [{ topic: filter, qos }, { topic: marker, qos }] });
  await peer.waitFor((p) => p.cmd === 'publish' && p.topic === marker && p.retain);
  await pingBarrier(peer);
  return received(peer, 'publish').slice(before).filter((p) => p.topic !== marker);
}
