// The shapes aedes hands to its persistence and gets back. aedes passes mqtt-packet objects
// (sometimes aedes-packet instances, sometimes bare PUBREL/PUBACK-like objects); every field a packet
// carries is stored and returned, so the type stays open.

export interface MqttPacket {
  cmd?: string;
  topic?: string;
  payload?: Buffer | Uint8Array | string;
  qos?: number;
  retain?: boolean;
  dup?: boolean;
  messageId?: number;
  brokerId?: string;
  brokerCounter?: number;
  clientId?: string;
  [field: string]: unknown;
}

/** What aedes passes as `client`: only the id matters to the persistence. */
export interface MqttClientRef {
  id: string;
}

/** The broker aedes passes to setup(); `id` is read at each putWill (tests change it between calls). */
export interface MqttBrokerRef {
  id: string;
}

/** One entry of a SUBSCRIBE as aedes passes it. */
export interface MqttSubscription {
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
  subscriptionIdentifier?: number;
}

/** A subscription as stored under [clientId, topic]: the options without the topic. */
export type StoredSubscription = Omit<MqttSubscription, 'topic'>;

/** A QoS > 0 subscription as matched by topic, what aedes enqueues offline deliveries for. */
export interface TopicSubscription {
  clientId: string;
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
}
