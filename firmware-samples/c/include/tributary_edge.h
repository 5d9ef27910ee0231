/* Tributary edge protocol (src/protocol/edge/SPEC.md, versions 1 and 2) for small devices, in C99.
 *
 * - No heap: every buffer is the caller's. Decoded strings and byte strings point into the receive
 *   buffer and stay valid until the next call that reads from the connection.
 * - Strict decoders: every read is bounds-checked, every length and count is checked against the
 *   bytes that remain, trailing bytes and reserved bits are malformed ([EDGE-2.3]).
 * - No dependency beyond port/tributary_port.h.
 *
 * Layers: te_w / te_r (wire primitives) -> te_enc_* / te_dec_* (frames) -> te_client (one
 * connection: handshake, requests, keepalive) -> te_ring (unacknowledged readings, idempotent
 * retransmission, optional persistence). */
#ifndef TRIBUTARY_EDGE_H
#define TRIBUTARY_EDGE_H

#include <stddef.h>
#include <stdint.h>

#include "tributary_port.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status codes of this library (negative = failure) ---- */
enum {
    TE_OK = 0,
    TE_ERR_IO = -1,          /* the port failed, or the connection closed */
    TE_ERR_TIMEOUT = -2,     /* no answer in time (also: no PONG within 2 x keepalive) */
    TE_ERR_MALFORMED = -3,   /* the peer's bytes break the SPEC; close the connection */
    TE_ERR_TOO_LARGE = -4,   /* a frame above the limit, or a buffer too small for what was asked */
    TE_ERR_SERVER = -5,      /* the broker answered ERROR: see te_client.error */
    TE_ERR_FULL = -6,        /* the ring has no free slot */
    TE_ERR_ARG = -7,         /* a bad argument (length, range, state) */
    TE_ERR_CRC = -8,         /* a RecordBatch failed its CRC-32C check */
    TE_ERR_UNSUPPORTED = -9, /* a compressed RecordBatch, or a protocol version this library lacks */
    TE_ERR_CLOSED = -10      /* the client is not connected */
};

/* ---- stable error codes of ERROR frames ([EDGE-10.2]); a code not listed is treated as UNKNOWN ---- */
enum {
    TE_CODE_UNKNOWN = 1, TE_CODE_CORRUPT_MESSAGE = 2, TE_CODE_OFFSET_OUT_OF_RANGE = 3,
    TE_CODE_UNKNOWN_TOPIC = 4, TE_CODE_INVALID_TOPIC = 5, TE_CODE_INVALID_PARTITION = 6,
    TE_CODE_TOPIC_EXISTS = 7, TE_CODE_FRAME_TOO_LARGE = 8, TE_CODE_MALFORMED_FRAME = 9,
    TE_CODE_UNSUPPORTED_VERSION = 10, TE_CODE_NOT_AUTHORIZED = 11, TE_CODE_UNKNOWN_ALIAS = 12,
    TE_CODE_RECORD_TOO_LARGE = 13, TE_CODE_STORAGE_FULL = 14, TE_CODE_STORAGE_FAILED = 15,
    TE_CODE_INVALID_REQUEST = 16, TE_CODE_THROTTLED = 17, TE_CODE_SHUTTING_DOWN = 18,
    TE_CODE_HANDSHAKE_REQUIRED = 19, TE_CODE_TIMEOUT = 20, TE_CODE_INVALID_CONFIG = 21,
    TE_CODE_UNKNOWN_MIRROR = 22, TE_CODE_UPSTREAM_UNAVAILABLE = 23, TE_CODE_UPSTREAM_REJECTED = 24,
    TE_CODE_UNKNOWN_GROUP = 25, TE_CODE_UNKNOWN_MEMBER = 26, TE_CODE_ILLEGAL_GENERATION = 27,
    TE_CODE_REBALANCE_IN_PROGRESS = 28, TE_CODE_NOT_ASSIGNED = 29, TE_CODE_NON_EMPTY_GROUP = 30,
    TE_CODE_FENCED_INSTANCE = 31, TE_CODE_GROUP_FULL = 32, TE_CODE_UNSUPPORTED_COMPRESSION = 33,
    TE_CODE_OUT_OF_ORDER_SEQUENCE = 34, TE_CODE_INVALID_PRODUCER_EPOCH = 35,
    TE_CODE_INCONSISTENT_GROUP_PROTOCOL = 36, TE_CODE_UPSTREAM_MISCONFIGURED = 37
};
/* The code's name ("UNKNOWN_TOPIC"), or "UNKNOWN" for a code this library does not know. */
const char *te_code_name(uint64_t code);

/* ---- frame types ([EDGE-1]) ---- */
enum {
    TE_HELLO = 0x01, TE_WELCOME = 0x02, TE_REGISTER = 0x03, TE_REGISTERED = 0x04, TE_PRODUCE = 0x05,
    TE_ACK = 0x06, TE_FETCH = 0x07, TE_RECORDS = 0x08, TE_METADATA = 0x09, TE_METADATA_RESULT = 0x0a,
    TE_CREATE_TOPIC = 0x0b, TE_DELETE_TOPIC = 0x0c, TE_OK_FRAME = 0x0d, TE_PING = 0x0e, TE_PONG = 0x0f,
    TE_OUT_OF_RANGE = 0x20, TE_ERROR = 0x7f
};

#define TE_VARINT_MAX 9007199254740991ULL /* 2^53 - 1 ([EDGE-3.2]) */
#define TE_ZIGZAG_MIN (-4503599627370496LL) /* -2^52 ([EDGE-3.3]) */
#define TE_ZIGZAG_MAX 4503599627370495LL    /* 2^52 - 1 */
#define TE_FRAME_FLOOR 256u                  /* smallest frameBytesMax a broker negotiates */
#define TE_FRAME_PREFIX_MAX 8u               /* a length varint takes at most 8 bytes */

/* ---- wire primitives ([EDGE-3]) ---- */

/* Reads an unsigned varint: bytes read (1..8), 0 if more bytes are needed, -1 if malformed. */
int te_read_uvarint(const uint8_t *p, size_t avail, uint64_t *out);
/* Writes v (<= 2^53-1, minimal form) into p (room for 8 bytes); returns the bytes written. */
size_t te_write_uvarint(uint8_t *p, uint64_t v);
/* Zigzag without implementation-defined shifts of negative numbers. */
uint64_t te_zigzag_encode(int64_t n);
int64_t te_zigzag_decode(uint64_t u);
/* CRC-32C (Castagnoli, reflected 0x82F63B78), as Kafka's RecordBatch. Start with crc = 0. */
uint32_t te_crc32c(uint32_t crc, const uint8_t *p, size_t len);
/* 1 if p[0..len) is valid UTF-8 (no overlongs, surrogates or truncated sequences). */
int te_utf8_valid(const uint8_t *p, size_t len);

/* A writer over a caller's buffer. Any write that does not fit sets err and writes nothing more. */
typedef struct te_w {
    uint8_t *buf;
    size_t cap;
    size_t len;
    size_t frame_start; /* where te_enc_begin reserved the length */
    int err;
} te_w;
void te_w_init(te_w *w, uint8_t *buf, size_t cap);
void te_w_u8(te_w *w, uint8_t v);
void te_w_v(te_w *w, uint64_t v);
void te_w_z(te_w *w, int64_t v);
void te_w_raw(te_w *w, const uint8_t *p, size_t len);
void te_w_bytes(te_w *w, const uint8_t *p, size_t len);  /* bytes / str */
void te_w_nbytes(te_w *w, const uint8_t *p, size_t len); /* p NULL = null */

/* A reader over a frame body. Any read past the end, or a malformed value, sets err. */
typedef struct te_r {
    const uint8_t *p;
    size_t len;
    size_t pos;
    int err;
} te_r;
void te_r_init(te_r *r, const uint8_t *p, size_t len);
uint8_t te_r_u8(te_r *r);
uint64_t te_r_v(te_r *r);
int64_t te_r_z(te_r *r);
/* bytes: returns a pointer into the body and sets *len; NULL with err set when truncated. */
const uint8_t *te_r_bytes(te_r *r, size_t *len);
/* str: as bytes, and malformed unless valid UTF-8. */
const uint8_t *te_r_str(te_r *r, size_t *len);
/* A count of elements that each take at least one byte ([EDGE-3.8]). */
uint64_t te_r_count(te_r *r);
/* TE_OK when every read succeeded and every byte was consumed ([EDGE-2.3] trailing bytes). */
int te_r_end(const te_r *r);

/* ---- frame encoders ([EDGE-5]); each appends one whole frame, minimal length varint ---- */

void te_enc_begin(te_w *w, uint8_t type); /* reserves the length, writes the type */
int te_enc_end(te_w *w);                  /* fills in the length; TE_OK or TE_ERR_TOO_LARGE */

#define TE_HELLO_IDEMPOTENT 0x01
int te_enc_hello(te_w *w, uint8_t version, uint8_t flags, uint64_t keepalive_ms, uint64_t frame_bytes_max,
                 const char *client_id, size_t client_id_len, const uint8_t *token, size_t token_len);
#define TE_REGISTER_CREATE 0x01
int te_enc_register(te_w *w, uint64_t corr, uint64_t alias, uint8_t flags, const char *topic, size_t topic_len);
/* PRODUCE: te_enc_produce_begin, then `count` te_enc_record, then te_enc_end. */
int te_enc_produce_begin(te_w *w, uint64_t seq, uint64_t alias, int64_t partition, uint8_t acks,
                         uint64_t base_timestamp_ms, uint64_t count);
typedef struct te_header {
    const char *key;
    size_t key_len;
    const uint8_t *value; /* NULL = null value */
    size_t value_len;
} te_header;
typedef struct te_record_out {
    const uint8_t *key; /* NULL = no key */
    size_t key_len;
    const uint8_t *value; /* NULL = null value (tombstone) */
    size_t value_len;
    int64_t timestamp_delta_ms;
    const te_header *headers;
    size_t header_count;
} te_record_out;
int te_enc_record(te_w *w, const te_record_out *rec);
int te_enc_fetch(te_w *w, uint64_t corr, uint64_t alias, uint64_t partition, uint64_t offset, uint64_t max_bytes,
                 uint64_t max_wait_ms);
/* METADATA for `count` topics (0 = all); names[i] with lens[i]. */
int te_enc_metadata(te_w *w, uint64_t corr, const char *const *names, const size_t *lens, size_t count);
int te_enc_ping(te_w *w, uint64_t corr);

/* ---- frame decoders: (body, len) is a frame without its length and type ---- */

/* Splits the frame at the start of buf. Returns TE_OK with *frame_len = bytes the frame takes
 * (prefix + type + body), 1 when more bytes are needed, TE_ERR_TOO_LARGE when the announced length
 * is above `limit` (checked as soon as the varint is complete), TE_ERR_MALFORMED otherwise. */
int te_frame_split(const uint8_t *buf, size_t avail, size_t limit, uint8_t *type, const uint8_t **body,
                   size_t *body_len, size_t *frame_len);

typedef struct te_welcome {
    uint8_t version;
    uint64_t keepalive_ms;
    uint64_t frame_bytes_max;
    uint64_t last_seq;
} te_welcome;
int te_dec_welcome(const uint8_t *body, size_t len, te_welcome *out);

typedef struct te_registered {
    uint64_t corr, alias, partitions;
} te_registered;
int te_dec_registered(const uint8_t *body, size_t len, te_registered *out);

#define TE_ACK_DUPLICATE 0x01
typedef struct te_ack_entry {
    uint64_t seq, partition, base_offset;
    uint8_t flags;
} te_ack_entry;
/* Validates the whole ACK first, then calls fn for each entry in order (so a malformed frame
 * acknowledges nothing). Stops and returns fn's value when it is not TE_OK. */
int te_dec_ack(const uint8_t *body, size_t len, int (*fn)(void *ctx, const te_ack_entry *e), void *ctx);

typedef struct te_records {
    uint64_t corr, partition, log_start_offset, next_offset;
    const uint8_t *batches;
    size_t batches_len;
} te_records;
int te_dec_records(const uint8_t *body, size_t len, te_records *out);

/* corr of OK or PONG. */
int te_dec_corr(const uint8_t *body, size_t len, uint64_t *corr);

enum { TE_REF_CONNECTION = 0, TE_REF_REQUEST = 1, TE_REF_PRODUCE = 2 };
typedef struct te_error {
    uint8_t ref_kind;
    uint64_t ref;
    uint64_t code;
    const char *message; /* not terminated; for logs only ([EDGE-5.16]) */
    size_t message_len;
} te_error;
int te_dec_error(const uint8_t *body, size_t len, te_error *out);

/* OUT_OF_RANGE ([EDGE-5.17], version 3 connections only): a FETCH outside the log, with the range. */
enum { TE_SIDE_BELOW = 0, TE_SIDE_ABOVE = 1 };
typedef struct te_out_of_range {
    uint64_t corr;
    uint64_t partition;
    uint64_t offset;
    uint8_t side; /* TE_SIDE_BELOW: retention removed it; TE_SIDE_ABOVE: past the end */
    uint64_t log_start_offset;
    uint64_t next_offset;
} te_out_of_range;
int te_dec_out_of_range(const uint8_t *body, size_t len, te_out_of_range *out);

typedef struct te_meta_partition {
    const char *topic; /* not terminated */
    size_t topic_len;
    int64_t retention_ms, retention_bytes; /* -1 = no limit */
    uint64_t partition_count;
    uint64_t partition, log_start_offset, next_offset;
} te_meta_partition;
/* Validates the whole METADATA_RESULT, then calls fn per partition (and once per topic without
 * partitions, with partition_count 0). */
int te_dec_metadata(const uint8_t *body, size_t len, uint64_t *corr,
                    int (*fn)(void *ctx, const te_meta_partition *p), void *ctx);

/* ---- RecordBatch v2 ([EDGE-8.2]) ---- */
typedef struct te_record_in {
    uint64_t offset;
    int64_t timestamp_ms;
    const uint8_t *key;   /* NULL = null key */
    size_t key_len;
    const uint8_t *value; /* NULL = null value */
    size_t value_len;
    uint64_t header_count;
    const uint8_t *headers; /* the raw Kafka headers, header_count of them, already validated */
    size_t headers_len;
} te_record_in;
typedef struct te_batch_iter {
    const uint8_t *p;
    size_t len, pos;
    uint64_t min_offset; /* records below it are skipped ([EDGE-8.1]) */
    /* the batch being read */
    const uint8_t *rec;
    size_t rec_len, rec_pos;
    uint64_t base_offset;
    int64_t base_timestamp;
    uint32_t records_left;
    uint64_t next_offset; /* after the last batch read: where the next FETCH starts */
    int err;
} te_batch_iter;
/* Iterates the records of RECORDS' `batches`, skipping offsets below `fetch_offset`. */
void te_batch_iter_init(te_batch_iter *it, const uint8_t *batches, size_t len, uint64_t fetch_offset);
/* 1 = *out holds a record, 0 = no more records, negative = TE_ERR_MALFORMED / TE_ERR_CRC /
 * TE_ERR_UNSUPPORTED (compressed batch: attributes bits 0-2 name the codec). Each batch's header
 * and CRC-32C (bytes 21 .. end) are checked before its first record is returned. */
int te_batch_next(te_batch_iter *it, te_record_in *out);

/* ---- the client: one connection ---- */
typedef struct te_client {
    const te_port *port;
    uint8_t *rx; /* receive buffer: the largest frame to receive + TE_FRAME_PREFIX_MAX bytes */
    size_t rx_cap, rx_len, rx_frame; /* rx_frame: bytes of the frame last returned, dropped on the next read */
    uint8_t *tx; /* send buffer, same size rule */
    size_t tx_cap;
    int connected;
    uint8_t version;
    uint64_t keepalive_ms, frame_bytes_max, last_seq;
    uint64_t next_corr;
    uint32_t last_send_ms, last_recv_ms, ping_sent_ms;
    int ping_outstanding;
    te_error error; /* the last ERROR received (message points into rx) */
    /* Called for frames that are not the answer being waited for (ACK and produce ERRORs during a
     * fetch, for example). May be NULL: such frames are then ignored. */
    int (*on_frame)(void *ctx, uint8_t type, const uint8_t *body, size_t len);
    void *on_frame_ctx;
} te_client;

typedef struct te_hello_opts {
    const char *client_id; /* unique per device and stable across reboots when idempotent */
    size_t client_id_len;
    const uint8_t *token; /* NULL = none */
    size_t token_len;
    uint8_t flags;         /* TE_HELLO_IDEMPOTENT for producers that retransmit */
    uint32_t keepalive_ms; /* 0 = the broker's default */
    uint32_t timeout_ms;   /* connect and WELCOME */
    uint8_t version;       /* highest version to speak: 0 or 1 = 1; 2 = consumer groups too */
} te_hello_opts;

/* rx and tx each need at least TE_FRAME_FLOOR + TE_FRAME_PREFIX_MAX bytes. The client proposes
 * frameBytesMax = rx_cap - TE_FRAME_PREFIX_MAX (at most 4 MiB): the largest frame it can receive.
 * Frames it sends are at most min(frameBytesMax, tx_cap - 4) long. */
int te_client_init(te_client *c, const te_port *port, uint8_t *rx, size_t rx_cap, uint8_t *tx, size_t tx_cap);
/* Connects and handshakes (HELLO -> WELCOME; c->version is the version agreed, 1 or 2). On
 * TE_ERR_SERVER see c->error. */
int te_client_connect(te_client *c, const te_hello_opts *opts);
void te_client_close(te_client *c);
/* REGISTER; *partitions (may be NULL) gets the topic's partition count. */
int te_client_register(te_client *c, uint64_t alias, const char *topic, int create, uint64_t *partitions,
                       uint32_t timeout_ms);
/* FETCH and wait for RECORDS (the timeout should exceed max_wait_ms, [EDGE-8.3]). out->batches
 * points into rx: iterate with te_batch_iter before the next client call. */
int te_client_fetch(te_client *c, uint64_t alias, uint64_t partition, uint64_t offset, uint64_t max_bytes,
                    uint64_t max_wait_ms, uint32_t timeout_ms, te_records *out);
int te_client_metadata(te_client *c, const char *const *topics, const size_t *lens, size_t count,
                       int (*fn)(void *ctx, const te_meta_partition *p), void *ctx, uint32_t timeout_ms);
/* PING and wait for its PONG. */
int te_client_ping(te_client *c, uint32_t timeout_ms);
/* Keepalive ([EDGE-4.4]): sends PING after keepalive_ms without sending; TE_ERR_TIMEOUT when nothing
 * was received for 2 x keepalive_ms after a PING. Call it at least every keepalive_ms / 2. */
int te_client_tick(te_client *c);
/* Capacity for a te_w over c->tx: frames written within it respect the negotiated frameBytesMax. */
size_t te_client_tx_cap(const te_client *c);
/* Sends the frame built in c->tx[0..len). */
int te_client_send(te_client *c, size_t len);
/* Waits up to timeout_ms for one frame. TE_OK with type, body and len set, TE_ERR_TIMEOUT when none came,
 * other negatives when the connection is unusable (the caller closes and reconnects). A
 * connection-level ERROR is returned as TE_ERR_SERVER with c->error set. */
int te_client_read(te_client *c, uint32_t timeout_ms, uint8_t *type, const uint8_t **body, size_t *len);

/* Generic request, for frames without a wrapper above (the group frames below, CREATE_TOPIC...):
 * te_client_writer gives a writer over c->tx and the corr to put in the request; encode the frame,
 * then te_client_request sends it and waits for the answer of `answer_type` with that corr (ERROR
 * with that corr = TE_ERR_SERVER). body and len point into rx until the next client call. */
int te_client_writer(te_client *c, te_w *w, uint64_t *corr);
int te_client_request(te_client *c, const te_w *w, uint64_t corr, uint8_t answer_type, uint32_t timeout_ms,
                      const uint8_t **body, size_t *len);

/* ---- consumer groups ([EDGE-12], protocol version 2: set te_hello_opts.version = 2) ---- */
enum {
    TE_JOIN_GROUP = 0x10, TE_JOINED = 0x11, TE_HEARTBEAT = 0x12, TE_LEAVE_GROUP = 0x13, TE_COMMIT_OFFSETS = 0x14,
    TE_FETCH_OFFSETS = 0x15, TE_OFFSETS = 0x16, TE_PRODUCE_COMMIT = 0x17, TE_PRODUCED = 0x18
};
/* A string argument: pointer and length (UTF-8). */
typedef struct te_str {
    const char *p;
    size_t len;
} te_str;
int te_enc_join_group(te_w *w, uint64_t corr, te_str group, te_str member_id, te_str instance_id,
                      uint64_t session_timeout_ms, uint64_t rebalance_timeout_ms, uint8_t strategy, te_str pattern,
                      const te_str *topics, size_t topic_count);
int te_enc_heartbeat(te_w *w, uint64_t corr, te_str group, te_str member_id, uint64_t generation);
int te_enc_leave_group(te_w *w, uint64_t corr, te_str group, te_str member_id);
typedef struct te_offset_out {
    uint64_t alias, partition, offset; /* offset: the next one to process */
    te_str metadata;
} te_offset_out;
/* generation -1 with member_id "" commits from outside the group ([EDGE-12.3]). */
int te_enc_commit_offsets(te_w *w, uint64_t corr, te_str group, te_str member_id, int64_t generation,
                          const te_offset_out *offsets, size_t count);
int te_enc_fetch_offsets(te_w *w, uint64_t corr, te_str group, const uint64_t *aliases, const uint64_t *partitions,
                         size_t count);
/* PRODUCE_COMMIT: te_enc_produce_commit_begin, then per batch te_enc_pc_batch and its records
 * (te_enc_record), then te_enc_pc_offsets (which ends the frame). Not idempotent: never resend
 * one whose answer was lost ([EDGE-12.3]). */
#define TE_PRODUCE_COMMIT_FLUSH 0x01
int te_enc_produce_commit_begin(te_w *w, uint64_t corr, uint8_t flags, te_str group, te_str member_id,
                                int64_t generation, uint64_t batch_count);
int te_enc_pc_batch(te_w *w, uint64_t alias, int64_t partition, uint64_t base_timestamp_ms, uint64_t count);
int te_enc_pc_offsets(te_w *w, const te_offset_out *offsets, size_t count);

typedef struct te_joined {
    uint64_t corr, generation, session_timeout_ms, heartbeat_ms;
    te_str member_id;
    const uint8_t *assignment; /* validated topic-partition list, read with te_assignment_each */
    size_t assignment_len;
} te_joined;
int te_dec_joined(const uint8_t *body, size_t len, te_joined *out);
/* Calls fn per assigned (topic, partition). */
int te_assignment_each(const te_joined *j, int (*fn)(void *ctx, te_str topic, uint64_t partition), void *ctx);
typedef struct te_offset_in {
    uint64_t alias, partition;
    int64_t offset; /* -1 = nothing committed */
    te_str metadata;
} te_offset_in;
int te_dec_offsets(const uint8_t *body, size_t len, uint64_t *corr, int (*fn)(void *ctx, const te_offset_in *o),
                   void *ctx);
int te_dec_produced(const uint8_t *body, size_t len, uint64_t *corr,
                    int (*fn)(void *ctx, uint64_t partition, uint64_t base_offset), void *ctx);

/* ---- the ring: readings kept until acknowledged ---- */
#ifndef TE_READING_MAX
#define TE_READING_MAX 32 /* bytes of one reading; change at build time (-DTE_READING_MAX=...) */
#endif
typedef struct te_slot {
    uint64_t seq; /* PRODUCE seq the reading was sent under; 0 = not sent yet */
    uint64_t timestamp_ms; /* 0 = the broker's receive time */
    uint8_t len;
    uint8_t sent;  /* sent on the current connection */
    uint8_t acked; /* acknowledged; freed once the slots before it are */
    uint8_t value[TE_READING_MAX];
} te_slot;
typedef struct te_ring {
    te_slot *slots;
    uint16_t cap, head, count;
    uint64_t next_seq; /* seq for the next new frame; every seq below it may have been used */
    uint64_t user;     /* persisted with the ring for the application (e.g. readings made so far) */
    const te_port *port; /* persistence, when the port has it */
    uint8_t *scratch; /* te_ring_state_size(cap) bytes for persistence; NULL = no persistence */
    size_t scratch_cap;
    /* sending */
    uint64_t alias;
    int64_t partition;
    uint8_t acks;
    uint16_t per_frame; /* readings per PRODUCE frame */
    uint16_t window;    /* frames in flight */
    uint16_t in_flight;
    uint64_t acked_total; /* readings known stored since te_ring_init (ACKs and WELCOME lastSeq) */
    /* Called per acknowledged frame (may be NULL): seq, partition, first offset, readings, duplicate. */
    void (*on_ack)(void *ctx, const te_ack_entry *e, uint16_t readings);
    void *on_ack_ctx;
    /* Called after each PRODUCE frame is handed to the port (may be NULL), with on_ack_ctx: seq,
     * readings, and 1 when it is a resend of a frame sent on an earlier connection. */
    void (*on_send)(void *ctx, uint64_t seq, uint16_t readings, int resend);
} te_ring;

/* Bytes the persisted state of a ring of `cap` slots takes. */
size_t te_ring_state_size(uint16_t cap);
/* Sets up an empty ring, then (when port->store_load exists and scratch is given) loads the
 * persisted one. TE_ERR_MALFORMED when the stored blob is corrupt (the ring is then empty). */
int te_ring_init(te_ring *r, te_slot *slots, uint16_t cap, const te_port *port, uint8_t *scratch, size_t scratch_cap);
/* Where and how readings go: acks 1 or 2, up to per_frame readings per frame, window frames in flight. */
void te_ring_target(te_ring *r, uint64_t alias, int64_t partition, uint8_t acks, uint16_t per_frame, uint16_t window);
/* Adds a reading (persisted before returning when the port has storage). TE_ERR_FULL when full. */
int te_ring_push(te_ring *r, const uint8_t *value, size_t len, uint64_t timestamp_ms);
/* Saves the ring (for example after changing r->user). */
int te_ring_save(te_ring *r);
/* After te_client_connect (and REGISTER of the alias): drops readings whose seq <= WELCOME's lastSeq
 * (stored), marks the rest for resending, and raises next_seq above lastSeq. The client must be
 * idempotent (TE_HELLO_IDEMPOTENT) for exactly-once. */
int te_ring_connected(te_ring *r, const te_client *c);
/* Sends what the window allows (resent frames first, unchanged and in seq order, then new ones),
 * then handles frames for up to timeout_ms: ACK frees readings, a produce ERROR makes its readings
 * go again under a new seq ([EDGE-7.5] rule 3) and returns TE_ERR_SERVER (c->error). Also runs the
 * keepalive. A negative other than TE_ERR_SERVER means: close, reconnect, te_ring_connected. */
int te_ring_service(te_ring *r, te_client *c, uint32_t timeout_ms);
uint16_t te_ring_count(const te_ring *r);

#ifdef __cplusplus
}
#endif

#endif
