// Every hard maximum in one place. A limit reached is a clear error, never a slowdown or a crash.

export const limits = {
  /**
   * Largest frame the edge listener ever accepts, whatever a client proposes in HELLO; so also the
   * most one connection holds of a frame being received (its negotiated frameBytesMax).
   */
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
  /**
   * Longest clientId of an idempotent edge client, in UTF-8 bytes: it keys the client's durable seq
   * row in LMDB (whose keys stop at 1978 bytes), beside a prefix and a topic id.
   */
  edgeClientIdBytesMax: 1024,
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
  /**
   * Records section of one compressed batch once decompressed: 8 × appendBytesMax, above the ratio
   * gzip or zstd reach on JSON telemetry, far below what a bomb would take (a 4 MiB lz4 batch can
   * stand for 1 GiB). No more is ever allocated: gzip stops at it; snappy, lz4 and zstd are
   * refused from what their headers declare before decompressing (lz4 and zstd count each
   * compressed block at its maximum, 64 KiB–4 MiB and 128 KiB). Past it the batch is RECORD_TOO_LARGE.
   */
  batchDecompressedBytesMax: 32 * 1024 * 1024,
  /** Keepalive a client may ask for (smallest). */
  edgeKeepaliveMsMin: 100,
  /**
   * Ceiling of listeners.edge.keepaliveMsMax. The keepalive is how long a peer that stopped reading
   * or stalled inside a frame keeps its buffers (1.5 × keepalive), so an hour is the most a
   * configuration may allow.
   */
  edgeKeepaliveMsMax: 3_600_000,
  /**
   * Default listeners.edge.keepaliveMsMax, the longest keepalive a client may ask for. Five minutes:
   * many NAT gateways and mobile carriers forget an idle TCP connection after a few minutes, so a
   * device pings about that often anyway, and a dead peer's buffers are freed within 7.5 minutes.
   */
  edgeKeepaliveMsMaxDefault: 300_000,
  /**
   * Answered PRODUCE frames an idempotent edge connection remembers (partition and offset, about 20
   * bytes each), so a retransmission of one is acknowledged with where its records are [EDGE-7.5].
   */
  edgeProducerWindowFrames: 256,
  /** Disconnected idempotent edge clients whose window is kept for their reconnect (about 5 KB each). */
  edgeProducerWindowsRetained: 1024,
  /** FETCH requests one edge connection may have unanswered; more are answered THROTTLED. */
  edgeFetchesInflightMax: 64,
  /**
   * Smallest listeners.edge.writeQueueBytesMax and writeBytesTotalMax: the largest frame with its
   * length prefix must fit, or a full-size RECORDS answer could never be read.
   */
  edgeWriteQueueBytesMin: 4 * 1024 * 1024 + 8,
  /** Default bytes of answers one edge connection may have queued for writing (writeQueueBytesMax). */
  edgeWriteQueueBytesDefault: 8 * 1024 * 1024,
  /** Default bytes of RECORDS answers all edge connections together may hold (writeBytesTotalMax). */
  edgeWriteBytesTotalDefault: 64 * 1024 * 1024,
  /**
   * Default bytes of incoming frames being assembled, all edge connections together
   * (partialFrameBytesTotalMax); only frames above edgeUnreservedFrameBytesMax count. One
   * connection's partial frame is bounded by its frameBytesMax.
   */
  edgePartialFrameBytesTotalDefault: 64 * 1024 * 1024,
  /**
   * Largest incoming edge frame assembled without a reservation from partialFrameBytesTotalMax, so
   * HELLO, requests and ordinary telemetry PRODUCEs never wait behind large frames. What such
   * frames hold is bounded per connection instead: at most connectionsMax × this (62.5 MiB with the
   * default 1000 connections, 625 MiB with the most a configuration may allow).
   */
  edgeUnreservedFrameBytesMax: 64 * 1024,
  /**
   * Least time a larger frame has, from its reservation, to arrive completely (and a connection to
   * wait for room for one): the keepalive's idle time when it is longer. A slow link may stall for
   * a few seconds (a radio handover, a TCP retransmission backing off) without being cut off.
   */
  edgeReservedFrameBaseMs: 10_000,
  /**
   * Slowest rate, in bytes per second, at which a frame holding a reservation must arrive on top of
   * the base time: 4 MiB gets 256 s more. 16 KiB/s (128 kbit/s) is below what a 3G or LTE-M
   * uplink sustains for a bulk upload, yet a peer trickling bytes to hold its reservation lets go of
   * it within minutes. A device on a slower link negotiates a smaller frameBytesMax.
   */
  edgeReservedFrameBytesPerSecondMin: 16 * 1024,
  /** Upper bound of the edge byte totals a configuration may set. */
  edgeBytesTotalMax: 64 * 1024 * 1024 * 1024,
  /** Bytes queued for the next storage transaction; past it appends are refused with THROTTLED. */
  txnQueueBytesMax: 64 * 1024 * 1024,
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
  /** MQTT 5 Topic Alias Maximum the broker offers a client: aliases it may define per connection. */
  mqttTopicAliasMax: 64,
  /**
   * Sessions waiting to expire (and delayed wills) aedes keeps a timer for; past it a session that
   * ends is wiped at once rather than kept until its expiry.
   */
  mqttPendingSessionsMax: 10_000,
  /** Largest listeners.mqtt.sessionExpiryMaxS: MQTT 5's 0xFFFFFFFF, "never expires" [MQTT-3.1.2.11.2]. */
  mqttSessionExpiryMaxS: 0xffffffff,
  /** QoS 2 PUBLISHes one client may leave stored awaiting PUBREL before it is disconnected (aedes 1.2's default). */
  mqttQos2AwaitingPubrelMax: 1000,
  /**
   * What one message in an MQTT subscriber's queue counts beyond its topic and payload bytes: aedes'
   * packet object and the socket's buffered write entries for it (measured with Node 20: 680–760
   * bytes of heap per queued 16-byte message, 1 and 10 never-reading subscribers).
   */
  mqttQueuedMessageOverheadBytes: 768,
  /** Longest listeners.mqtt.sysIntervalS: a day, as Node timers go far beyond it. */
  mqttSysIntervalSMax: 86_400,
  /**
   * A returning persistent session's stored queue: at most this many messages, and about this many
   * topic + payload bytes, read from the store and not yet written to its socket (the drain's
   * window, aedes-patches.mjs). One is aedes' own pace, one message per loop turn.
   */
  mqttStoredDrainMessages: 512,
  mqttStoredDrainBytes: 1024 * 1024,
  /**
   * Packets of one persistent session kept as decoded when its stored queue was read, for the update
   * that follows each read (storage/mqtt/outgoing.ts): aedes' streams read at most 32 ahead of it (two buffers of 16).
   */
  mqttStoredReadCacheMessages: 64,
  /** Persistent sessions listed by client id in tributary_mqtt_session_queued_messages: the deepest queues only. */
  mqttSessionQueueTopN: 10,
  /** At most one warning per MQTT subscriber in this time about the messages dropped for it. */
  mqttSubscriberDropLogIntervalMs: 10_000,
  /** Largest listeners.mqtt.subscriberQueueBytesMax / subscriberQueueBytesTotalMax. */
  mqttSubscriberQueueBytesMax: 1024 * 1024 * 1024,
  /**
   * At most one log line per listener in this time about errors of its server (accept failing with
   * EMFILE fails once per pending connection); the line counts the errors since the last one.
   */
  serverErrorLogIntervalMs: 5_000,
  /**
   * Bytes of offset commits (and group record changes) staged for the next storage transaction, all
   * callers together; past it a commit is refused with THROTTLED. Each entry counts its reader name,
   * metadata and 32 bytes.
   */
  offsetCommitQueueBytesMax: 16 * 1024 * 1024,
  /** Metadata of one committed offset, in UTF-8 bytes (Kafka's offset.metadata.max.bytes); longer is INVALID_REQUEST. */
  offsetMetadataBytesMax: 4096,
  /**
   * A reader name (`g:<group>`, `m:<mirror>`) in UTF-8 bytes: it is part of every offset key, and
   * LMDB keys stop at 1978 bytes. Longer is INVALID_REQUEST.
   */
  offsetReaderBytesMax: 1024,
  /** Batches deleted per retention step, so one step never blocks the produce path for long. */
  retentionBatchesPerStep: 2000,
  /** Consumer groups with members at once (a group with only committed offsets costs no memory). */
  groupsMax: 1000,
  /** Members of one group (Kafka's group.max.size). */
  groupMembersMax: 256,
  /** Members one connection may create: a join flood costs that client only. */
  groupMembersPerConnectionMax: 64,
  /** Group name length (characters). */
  groupNameMax: 249,
  /** Members of all groups together: subscriptions are held in memory for as long as a member lives. */
  groupMembersTotalMax: 10_000,
  /** Characters of the topic names one join may list (16 KiB: 65 names of the longest kind). */
  groupSubscriptionCharsMax: 16_384,
  /** Groups with stored offsets (with or without members); a commit that would add one past it is GROUP_FULL. */
  groupsStoredMax: 10_000,
  /** Topics one join may name. */
  groupTopicsMax: 1000,
  /** Characters of a join's topic pattern. */
  groupPatternMax: 255,
  /** Session timeouts a member may ask for (Kafka: group.min/max.session.timeout.ms). */
  groupSessionTimeoutMsMin: 500,
  groupSessionTimeoutMsMax: 1_800_000,
  /** Bytes of protocol metadata one Kafka JoinGroup may carry (all its protocols together): held while the member lives. */
  groupClassicMetadataBytesMax: 16_384,
  /** Bytes of the assignment a Kafka group leader may give one member in SyncGroup: held while the member lives. */
  groupClassicAssignmentBytesMax: 65_536,
  /** Member ids handed out with MEMBER_ID_REQUIRED and not yet used to join: the oldest is forgotten past it. */
  groupPendingMemberIdsMax: 10_000,
  /** Characters of the client id that start a member id (a Kafka client id may have 32 767 bytes). */
  groupMemberIdClientCharsMax: 64,
  /** Characters of a Kafka client id a group member keeps (shown by describe). */
  groupClientIdCharsMax: 255,
  /** Largest listeners.kafka.requestBytesMax: one produce request holds at most this many bytes in memory per connection. */
  kafkaRequestBytesMax: 100 * 1024 * 1024,
  /** Smallest listeners.kafka.requestBytesMax: a Metadata or ApiVersions request with a long client id must fit. */
  kafkaRequestBytesMin: 64 * 1024,
  /**
   * Largest request a Kafka connection may send before it authenticated (SASL on): Kafka's
   * sasl.server.max.receive.size, so an unauthenticated client cannot make the broker buffer
   * requestBytesMax per connection.
   */
  kafkaSaslReceiveBytesMax: 512 * 1024,
  /** Concurrent Kafka connections a configuration may allow. */
  kafkaConnectionsMax: 10_000,
  /** Requests one Kafka connection may have unanswered, a configuration may allow (Kafka answers them in order). */
  kafkaInflightRequestsMax: 64,
  /**
   * Bytes of record batches one Fetch response carries, whatever the client asks (its max_bytes is
   * honoured below this); the first partition with data may add one whole batch above it, as Kafka
   * does, so a batch larger than the client's max_bytes is never stuck.
   */
  kafkaFetchBytesMax: 8 * 1024 * 1024,
  /**
   * Bytes of answers one Kafka connection may have handed to its socket and not yet sent; above it
   * the connection reads no further request until the kernel takes them (a client that stops reading
   * holds at most this plus its requests in flight).
   */
  kafkaWriteQueueBytesMax: 16 * 1024 * 1024,
  /**
   * What one Kafka Fetch reserves from listeners.kafka.fetchBytesTotalMax before it reads: its
   * largest answer, kafkaFetchBytesMax plus the one whole batch that may pass it.
   */
  kafkaFetchReserveBytesMax: 8 * 1024 * 1024 + 4 * 1024 * 1024,
  /** Largest listeners.kafka.fetchBytesTotalMax. */
  kafkaFetchBytesTotalMax: 64 * 1024 * 1024 * 1024,
  /** Consumer-group requests one edge connection may have unanswered (a JOIN_GROUP waits for the rebalance). */
  edgeGroupRequestsInflightMax: 64,
  /**
   * Longest wait before the mirror thread is started again after it died (the wait doubles from
   * 100 ms per death in a row, and starts over once a thread ran this long).
   */
  mirrorThreadRestartDelayMsMax: 10_000,
  /**
   * Status, pause and resume requests (HTTP, CLI, /metrics) waiting for the mirror thread's answer;
   * while a dead thread waits to be started again they all wait, so further ones are refused
   * (THROTTLED) instead of piling up.
   */
  mirrorThreadRequestsMax: 256,
  /** Warn and error log entries the status page keeps (the newest; older ones are dropped). */
  statusRecentLogsMax: 50,
  /** Characters kept of one such entry's message, and of its context as JSON: a log line can carry a whole request. */
  statusLogTextCharsMax: 500,
  /** Client ids the status page lists per listener (the counts are always whole). */
  statusClientIdsMax: 100,
  /** Status snapshots kept for rates and the mirror chart (at most one per statusSampleMsMin). */
  statusSamplesMax: 120,
  /** Shortest time between two kept status snapshots: rates over shorter windows are mostly noise. */
  statusSampleMsMin: 1_000,
  /** Bytes of the JSON body of an HTTP admin action (a mirror reset: a few fields); a bigger one is refused. */
  httpAdminBodyBytesMax: 16 * 1024,
} as const;
