// Every hard maximum in one place. A limit reached is a clear error, never a slowdown or a crash.

export const limits = {
  /** Largest frame the edge listener ever accepts, whatever a client proposes in HELLO. */
  edgeFrameBytesMax: 4 * 1024 * 1024,
  /** Default negotiated frame maximum when the client proposes none. */
  edgeFrameBytesDefault: 1024 * 1024,
  /**
   * Smallest negotiated frame maximum; a smaller proposal is raised to it. WELCOME (at most 19 bytes),
   * a one-entry ACK (at most 21) and an ERROR with a useful message must fit, and a RECORDS frame must
   * hold its 64-byte header allowance plus a one-record batch (61-byte batch header).
   */
  edgeFrameBytesMin: 256,
  /** Frame maximum before HELLO has been accepted: HELLO is small. */
  edgeHelloBytesMax: 4096,
  /** Topic aliases one edge connection may register. */
  edgeAliasesMax: 4096,
  /** Produce frames awaiting their ack per edge connection; past it the socket is paused. */
  edgeInflightFramesMax: 1024,
  /** Bytes of produce frames awaiting their ack per edge connection; past it the socket is paused. */
  edgeInflightBytesMax: 8 * 1024 * 1024,
  /** Concurrent edge connections. */
  edgeConnectionsMax: 10_000,
  /** Largest fetch response, whatever the client asks. */
  fetchBytesMax: 4 * 1024 * 1024,
  /** Longest long-poll a fetch may ask for. */
  fetchWaitMsMax: 60_000,
  /** Records in one append. */
  appendRecordsMax: 100_000,
  /** Bytes of one encoded batch (one append): a stored batch must fit the largest RECORDS frame. */
  appendBytesMax: 4 * 1024 * 1024 - 64,
  /** Keepalive a client may ask for; Node timers misfire above 2^31-1 ms. */
  edgeKeepaliveMsMin: 100,
  edgeKeepaliveMsMax: 86_400_000,
  /** Bytes queued for the next storage transaction; past it appends are refused with THROTTLED. */
  commitQueueBytesMax: 64 * 1024 * 1024,
  /** Partitions a topic may have. */
  partitionsMax: 1024,
  /** Topic name length (Kafka's rule). */
  topicNameLengthMax: 249,
  /** Smallest messageBytesMax: a CONNECT with a client id, credentials and a will must fit. */
  mqttMessageBytesMin: 1024,
  /**
   * Largest MQTT packet accepted. One PUBLISH becomes one record holding its payload, its topic twice
   * (key and header) and the client id; that must fit one append (appendBytesMax).
   */
  mqttMessageBytesMax: 1024 * 1024,
  /**
   * Longest MQTT client id, in UTF-8 bytes. The id is part of every session key in LMDB (whose keys
   * stop at 1978 bytes), next to a topic filter or a number; MQTT 3.1.1 lets a server refuse ids
   * longer than 23 characters, so a longer bound than that is a courtesy.
   */
  mqttClientIdBytesMax: 1024,
  /** Concurrent MQTT connections over all transports. */
  mqttConnectionsMax: 10_000,
  /** Appends in flight per MQTT client; past its configured bound the client's socket is not read. */
  mqttInflightMax: 65_535,
  /**
   * What one message in an MQTT subscriber's queue counts beyond its topic and payload bytes: aedes'
   * packet object and the socket's buffered write entries for it (measured with Node 20: 680–760
   * bytes of heap per queued 16-byte message, 1 and 10 never-reading subscribers).
   */
  mqttQueuedMessageOverheadBytes: 768,
  /** At most one warning per MQTT subscriber in this time about the messages dropped for it. */
  mqttSubscriberDropLogIntervalMs: 10_000,
  /** Largest listeners.mqtt.subscriberQueueBytesMax / subscriberQueueBytesTotalMax. */
  mqttSubscriberQueueBytesMax: 1024 * 1024 * 1024,
  /** Batches deleted per retention step, so one step never blocks the produce path for long. */
  retentionBatchesPerStep: 2000,
} as const;
