// How an MQTT message's metadata lives in a record's headers, both ways: the MQTT listener stores a
// PUBLISH's MQTT 5 properties as headers (propertyHeaders), and the MQTT mirror sink gives a record's
// headers back to an MQTT 5 upstream as properties (headerProperties), so user properties survive
// MQTT → log → MQTT, and a Kafka or edge record's headers reach MQTT 5 subscribers as user properties.
// Pure: no I/O, imports nothing else from src/.

/** A record header as the log stores it. */
export interface Header {
  key: string;
  value: Uint8Array | null;
}

/** The MQTT 5 PUBLISH properties that belong to the message (not to a connection or a delivery). */
export interface MessageProperties {
  contentType?: string;
  payloadFormatIndicator?: boolean;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: Record<string, string | string[]>;
}

export const MQTT_HEADERS = {
  topic: 'mqtt.topic',
  clientId: 'mqtt.clientId',
  qos: 'mqtt.qos',
  retain: 'mqtt.retain',
  contentType: 'mqtt.contentType',
  payloadFormat: 'mqtt.payloadFormat',
  responseTopic: 'mqtt.responseTopic',
  correlationData: 'mqtt.correlationData',
} as const;
/** The broker's own header names start with this; a user property never gets one (USER_PROPERTY_ESCAPE). */
export const BROKER_HEADER_PREFIX = 'mqtt.';
/** What a user property named `mqtt.…` is stored under: `mqtt.user.` + its name, so it cannot pass for a broker header. */
export const USER_PROPERTY_ESCAPE = 'mqtt.user.';
const PAYLOAD_FORMAT_VALUES = { true: Buffer.from('1'), false: Buffer.from('0') };
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * MQTT 5 properties kept with the record: content type, payload format indicator ("1": UTF-8
 * text, "0": bytes), response topic and correlation data as `mqtt.*` headers, then each user
 * property as a header of its own name and value, in the order mqtt-packet decoded them (a name
 * given several times keeps each value, in order). Topic alias, message expiry and subscription
 * ids are per connection or per delivery, not part of the message.
 */
export function propertyHeaders(p: MessageProperties, headers: Header[]): void {
  if (p.contentType !== undefined) headers.push({ key: MQTT_HEADERS.contentType, value: Buffer.from(p.contentType) });
  if (p.payloadFormatIndicator !== undefined) headers.push({ key: MQTT_HEADERS.payloadFormat, value: p.payloadFormatIndicator ? PAYLOAD_FORMAT_VALUES.true : PAYLOAD_FORMAT_VALUES.false });
  if (p.responseTopic !== undefined) headers.push({ key: MQTT_HEADERS.responseTopic, value: Buffer.from(p.responseTopic) });
  if (p.correlationData !== undefined) headers.push({ key: MQTT_HEADERS.correlationData, value: p.correlationData });
  const user = p.userProperties;
  if (user === undefined) return;
  for (const name of Object.keys(user)) {
    // The broker's headers say what the broker saw (topic, client id, QoS...): a client's user
    // property of the same name must not pass for one.
    const key = name.startsWith(BROKER_HEADER_PREFIX) ? USER_PROPERTY_ESCAPE + name : name;
    const value = user[name]!;
    for (const v of Array.isArray(value) ? value : [value]) headers.push({ key, value: Buffer.from(v) });
  }
}

/**
 * Text an MQTT string may carry to any broker: well-formed UTF-8 without control characters (MQTT
 * forbids U+0000, and Mosquitto closes a connection over the other controls [MQTT-1.5.4-2]); null
 * for anything else.
 */
export function cleanText(bytes: Uint8Array): string | null {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    return null;
  }
  return /[\u0000-\u001f\u007f-\u009f]/.test(text) ? null : text;
}

/**
 * The inverse of propertyHeaders, for a record published to an MQTT 5 broker, adding to `user`
 * (which may already hold the caller's own user properties; a name given again gets an array, in
 * order). `mqtt.contentType`, `mqtt.payloadFormat`, `mqtt.responseTopic` and `mqtt.correlationData`
 * become those properties; `mqtt.user.X` becomes user property X; the broker's other `mqtt.*` headers
 * (topic, client id, QoS, retain) are not sent. Any other header becomes a user property of its name:
 * its value as text when it is clean text (cleanText), else base64 under `<name>Base64` (as `mqtt.user.`
 * values are); a null value as "". A header whose name is not clean text is not sent. Returns the properties and the bytes
 * they add to the PUBLISH's property section (user properties included).
 */
export function headerProperties(headers: readonly Header[], user: Record<string, string | string[]>): { properties: MessageProperties; bytes: number } {
  const properties: MessageProperties = {};
  let bytes = 0;
  const addUser = (name: string, value: string) => {
    const had = user[name];
    user[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
    bytes += 5 + Buffer.byteLength(name) + Buffer.byteLength(value);
  };
  for (const h of headers) {
    const value = h.value === null ? Buffer.alloc(0) : Buffer.from(h.value.buffer, h.value.byteOffset, h.value.byteLength);
    if (h.key === MQTT_HEADERS.correlationData) {
      properties.correlationData = value;
      bytes += 3 + value.length;
      continue;
    }
    if (h.key === MQTT_HEADERS.payloadFormat) {
      properties.payloadFormatIndicator = value.toString() === '1';
      bytes += 2;
      continue;
    }
    if (h.key === MQTT_HEADERS.contentType || h.key === MQTT_HEADERS.responseTopic) {
      const text = cleanText(value);
      if (text === null) continue;
      if (h.key === MQTT_HEADERS.contentType) properties.contentType = text;
      else properties.responseTopic = text;
      bytes += 3 + Buffer.byteLength(text);
      continue;
    }
    const escaped = h.key.startsWith(USER_PROPERTY_ESCAPE);
    if ((!escaped && h.key.startsWith(BROKER_HEADER_PREFIX)) || cleanText(Buffer.from(h.key)) === null) continue;
    const name = escaped ? h.key.slice(USER_PROPERTY_ESCAPE.length) : h.key;
    const text = cleanText(value);
    if (text !== null) addUser(name, text);
    else addUser(`${name}Base64`, value.toString('base64'));
  }
  if (Object.keys(user).length > 0) properties.userProperties = user;
  return { properties, bytes };
}
