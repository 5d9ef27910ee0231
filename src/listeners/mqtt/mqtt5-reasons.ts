// What an MQTT 5 client is told when the broker refuses one of its PUBLISHes, or ends its
// connection: the reason code [MQTT5-2.4] and the Reason String. aedes (patched, aedes-patches.mjs)
// puts `reasonCode` on the PUBACK/PUBREC of a refused PUBLISH and `message` in its Reason String,
// which the client sees: so these messages are fixed sentences, never a topic, a path or an
// internal detail (those go to the log). MQTT 3.1.1 has neither; its connection is closed instead.

import { TributaryError, type ErrorName } from '../../errors.ts';

/** The MQTT 5 reason codes the listener sends [MQTT5-3.4.2.1, MQTT5-3.14.2.1]. */
export const Mqtt5Reason = {
  MALFORMED_PACKET: 0x81,
  IMPLEMENTATION_SPECIFIC_ERROR: 0x83,
  NOT_AUTHORIZED: 0x87,
  SERVER_SHUTTING_DOWN: 0x8b,
  RECEIVE_MAXIMUM_EXCEEDED: 0x93,
  PACKET_TOO_LARGE: 0x95,
  QUOTA_EXCEEDED: 0x97,
} as const;

/** A refusal aedes answers a PUBLISH with; a TributaryError, so the listener's clientError handler knows it logged it. */
export type PublishRefusal = TributaryError & { reasonCode: number };

/** Reason code and Reason String of a PUBLISH refused for `codeName`; anything not listed is 0x83. */
const REFUSALS: Partial<Record<ErrorName, [number, string]>> = {
  STORAGE_FULL: [Mqtt5Reason.QUOTA_EXCEEDED, 'quota exceeded: the broker storage is full, nothing was stored; retry later'],
  NOT_AUTHORIZED: [Mqtt5Reason.NOT_AUTHORIZED, 'not authorized to publish to this topic'],
  RECORD_TOO_LARGE: [Mqtt5Reason.PACKET_TOO_LARGE, 'the message is too large to store'],
};

/** What answers a PUBLISH whose append (or ACL check) failed with `error`; the connection stays open. */
export function publishRefusal(error: TributaryError): PublishRefusal {
  const [reasonCode, reasonString] = REFUSALS[error.codeName] ?? [Mqtt5Reason.IMPLEMENTATION_SPECIFIC_ERROR, `the broker could not store the message (${error.codeName})`];
  return Object.assign(new TributaryError(error.codeName, reasonString, undefined, { cause: error }), { reasonCode });
}

/** The DISCONNECT reason code of a connection ended for `error`. */
export function disconnectReason(error: TributaryError): number {
  switch (error.codeName) {
    case 'SHUTTING_DOWN':
      return Mqtt5Reason.SERVER_SHUTTING_DOWN;
    case 'THROTTLED':
      return Mqtt5Reason.RECEIVE_MAXIMUM_EXCEEDED;
    case 'FRAME_TOO_LARGE':
      return Mqtt5Reason.PACKET_TOO_LARGE;
    case 'MALFORMED_FRAME':
      return Mqtt5Reason.MALFORMED_PACKET;
    default:
      return Mqtt5Reason.IMPLEMENTATION_SPECIFIC_ERROR;
  }
}
