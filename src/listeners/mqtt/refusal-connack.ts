// The CONNACK "server unavailable" for a connection refused before aedes sees it (over
// connectionsMax). Its form depends on the client's protocol level, which the first bytes of its
// CONNECT carry: MQTT 5 has a reason code and a properties length [MQTT5-3.2], 3.1.1 a return code. A
// 3.1.1 CONNACK sent to an MQTT 5 client is a protocol error to it, not a refusal it can report.

/** MQTT 3.1 / 3.1.1: return code 3, Server unavailable. */
export const CONNACK_UNAVAILABLE_V4 = Buffer.from([0x20, 0x02, 0x00, 0x03]);
/** MQTT 5: reason code 0x88, Server unavailable, no properties. */
export const CONNACK_UNAVAILABLE_V5 = Buffer.from([0x20, 0x03, 0x00, 0x88, 0x00]);

/** Bytes of a CONNECT enough to reach its protocol level: fixed header (≤ 5), name length (2), "MQIsdp" (6), level (1). */
export const CONNECT_HEAD_BYTES = 14;

/**
 * The CONNACK refusing the client whose first bytes are `head`; null while more bytes are needed to
 * tell. Anything that is not a CONNECT with an MQTT 5 protocol level gets the 3.1.1 form.
 */
export function refusalConnack(head: Buffer): Buffer | null {
  if (head.length === 0) return null;
  if (head[0] !== 0x10) return CONNACK_UNAVAILABLE_V4;
  // The remaining length: 1 to 4 bytes, 7 bits each, the high bit set on all but the last.
  let at = 1;
  while (at < 5 && at < head.length && (head[at]! & 0x80) !== 0) at++;
  if (at === 5) return CONNACK_UNAVAILABLE_V4;
  at++;
  if (head.length < at + 2) return null;
  const levelAt = at + 2 + head.readUInt16BE(at);
  if (levelAt >= CONNECT_HEAD_BYTES) return CONNACK_UNAVAILABLE_V4;
  if (head.length <= levelAt) return null;
  return head[levelAt] === 5 ? CONNACK_UNAVAILABLE_V5 : CONNACK_UNAVAILABLE_V4;
}
