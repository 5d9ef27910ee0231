// Packets are queued as aedes-packet makes them, so they come back in the shape aedes and the
// in-memory persistence give: brokerId/brokerCounter kept, a QoS > 0 messageId cleared until
// outgoingUpdate assigns one. aedes-packet's declarations describe a namespace, not the constructor
// its CommonJS module exports, hence the cast.

import aedesPacket from 'aedes-packet';
import type { MqttPacket } from './types.ts';

const AedesPacket = aedesPacket as unknown as new (original: MqttPacket) => MqttPacket;

export function asAedesPacket(packet: MqttPacket): MqttPacket {
  return new AedesPacket(packet);
}
