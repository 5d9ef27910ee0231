/* Frame encoders and strict decoders ([EDGE-2], [EDGE-5]). */
#include <string.h>

#include "tributary_edge.h"

/* frameBytesMax is at most 4 MiB (< 2^28), so a minimal length varint takes at most 4 bytes:
 * reserve 4, write the body after them, then move the frame down to the minimal prefix. */
#define LEN_RESERVE 4u

void te_enc_begin(te_w *w, uint8_t type) {
    static const uint8_t zero[LEN_RESERVE] = {0, 0, 0, 0};
    w->frame_start = w->len;
    te_w_raw(w, zero, LEN_RESERVE);
    te_w_u8(w, type);
}

int te_enc_end(te_w *w) {
    uint8_t prefix[8];
    size_t body, n;
    if (w->err) return TE_ERR_TOO_LARGE;
    body = w->len - w->frame_start - LEN_RESERVE;
    if (body >= (1ul << 28)) {
        w->err = 1;
        return TE_ERR_TOO_LARGE;
    }
    n = te_write_uvarint(prefix, (uint64_t)body);
    memmove(w->buf + w->frame_start + n, w->buf + w->frame_start + LEN_RESERVE, body);
    memcpy(w->buf + w->frame_start, prefix, n);
    w->len = w->frame_start + n + body;
    return TE_OK;
}

static int finish(te_w *w) {
    return te_enc_end(w);
}

int te_enc_hello(te_w *w, uint8_t version, uint8_t flags, uint64_t keepalive_ms, uint64_t frame_bytes_max,
                 const char *client_id, size_t client_id_len, const uint8_t *token, size_t token_len) {
    if ((flags & ~TE_HELLO_IDEMPOTENT) != 0) return TE_ERR_ARG;
    if (!te_utf8_valid((const uint8_t *)client_id, client_id_len)) return TE_ERR_ARG;
    te_enc_begin(w, TE_HELLO);
    te_w_u8(w, version);
    te_w_u8(w, flags);
    te_w_v(w, keepalive_ms);
    te_w_v(w, frame_bytes_max);
    te_w_bytes(w, (const uint8_t *)client_id, client_id_len);
    te_w_nbytes(w, token, token_len);
    return finish(w);
}

int te_enc_register(te_w *w, uint64_t corr, uint64_t alias, uint8_t flags, const char *topic, size_t topic_len) {
    if ((flags & ~TE_REGISTER_CREATE) != 0) return TE_ERR_ARG;
    if (!te_utf8_valid((const uint8_t *)topic, topic_len)) return TE_ERR_ARG;
    te_enc_begin(w, TE_REGISTER);
    te_w_v(w, corr);
    te_w_v(w, alias);
    te_w_u8(w, flags);
    te_w_bytes(w, (const uint8_t *)topic, topic_len);
    return finish(w);
}

int te_enc_produce_begin(te_w *w, uint64_t seq, uint64_t alias, int64_t partition, uint8_t acks,
                         uint64_t base_timestamp_ms, uint64_t count) {
    if (seq == 0 || acks > 2 || partition < -1 || count == 0) return TE_ERR_ARG;
    te_enc_begin(w, TE_PRODUCE);
    te_w_v(w, seq);
    te_w_v(w, alias);
    te_w_z(w, partition);
    te_w_u8(w, acks);
    te_w_v(w, base_timestamp_ms);
    te_w_v(w, count);
    return w->err ? TE_ERR_TOO_LARGE : TE_OK;
}

int te_enc_record(te_w *w, const te_record_out *rec) {
    uint8_t flags = 0;
    size_t i;
    if (rec->key != NULL) flags |= 0x01;
    if (rec->header_count > 0) flags |= 0x02;
    if (rec->timestamp_delta_ms != 0) flags |= 0x04;
    if (rec->value == NULL) flags |= 0x08;
    te_w_u8(w, flags);
    if (flags & 0x04) te_w_z(w, rec->timestamp_delta_ms);
    if (flags & 0x01) te_w_bytes(w, rec->key, rec->key_len);
    if (!(flags & 0x08)) te_w_bytes(w, rec->value, rec->value_len);
    if (flags & 0x02) {
        te_w_v(w, (uint64_t)rec->header_count);
        for (i = 0; i < rec->header_count; i++) {
            const te_header *h = &rec->headers[i];
            if (!te_utf8_valid((const uint8_t *)h->key, h->key_len)) return TE_ERR_ARG;
            te_w_bytes(w, (const uint8_t *)h->key, h->key_len);
            te_w_nbytes(w, h->value, h->value_len);
        }
    }
    return w->err ? TE_ERR_TOO_LARGE : TE_OK;
}

int te_enc_fetch(te_w *w, uint64_t corr, uint64_t alias, uint64_t partition, uint64_t offset, uint64_t max_bytes,
                 uint64_t max_wait_ms) {
    te_enc_begin(w, TE_FETCH);
    te_w_v(w, corr);
    te_w_v(w, alias);
    te_w_v(w, partition);
    te_w_v(w, offset);
    te_w_v(w, max_bytes);
    te_w_v(w, max_wait_ms);
    return finish(w);
}

int te_enc_metadata(te_w *w, uint64_t corr, const char *const *names, const size_t *lens, size_t count) {
    size_t i;
    te_enc_begin(w, TE_METADATA);
    te_w_v(w, corr);
    te_w_v(w, (uint64_t)count);
    for (i = 0; i < count; i++) {
        if (!te_utf8_valid((const uint8_t *)names[i], lens[i])) return TE_ERR_ARG;
        te_w_bytes(w, (const uint8_t *)names[i], lens[i]);
    }
    return finish(w);
}

int te_enc_ping(te_w *w, uint64_t corr) {
    te_enc_begin(w, TE_PING);
    te_w_v(w, corr);
    return finish(w);
}

int te_frame_split(const uint8_t *buf, size_t avail, size_t limit, uint8_t *type, const uint8_t **body,
                   size_t *body_len, size_t *frame_len) {
    uint64_t length = 0;
    int n = te_read_uvarint(buf, avail, &length);
    if (n < 0) return TE_ERR_MALFORMED;
    if (n == 0) return 1;
    if (length == 0) return TE_ERR_MALFORMED;
    if (length > limit) return TE_ERR_TOO_LARGE; /* before any of the body is looked at */
    if (avail - (size_t)n < length) return 1;
    *type = buf[n];
    *body = buf + n + 1;
    *body_len = (size_t)length - 1u;
    *frame_len = (size_t)n + (size_t)length;
    return TE_OK;
}

int te_dec_welcome(const uint8_t *body, size_t len, te_welcome *out) {
    te_r r;
    te_r_init(&r, body, len);
    out->version = te_r_u8(&r);
    out->keepalive_ms = te_r_v(&r);
    out->frame_bytes_max = te_r_v(&r);
    out->last_seq = te_r_v(&r);
    return te_r_end(&r);
}

int te_dec_registered(const uint8_t *body, size_t len, te_registered *out) {
    te_r r;
    te_r_init(&r, body, len);
    out->corr = te_r_v(&r);
    out->alias = te_r_v(&r);
    out->partitions = te_r_v(&r);
    return te_r_end(&r);
}

/* One pass over an ACK; fn NULL = validate only. */
static int ack_pass(const uint8_t *body, size_t len, int (*fn)(void *, const te_ack_entry *), void *ctx) {
    te_r r;
    uint64_t count, i;
    te_ack_entry e;
    te_r_init(&r, body, len);
    count = te_r_count(&r);
    if (r.err || count == 0) return TE_ERR_MALFORMED;
    e.seq = te_r_v(&r);
    for (i = 0; i < count; i++) {
        if (i > 0) {
            uint64_t delta = te_r_v(&r);
            if (delta == 0 || delta > TE_VARINT_MAX - e.seq) return TE_ERR_MALFORMED;
            e.seq += delta;
        }
        e.partition = te_r_v(&r);
        e.base_offset = te_r_v(&r);
        e.flags = te_r_u8(&r);
        if (r.err || (e.flags & ~TE_ACK_DUPLICATE) != 0) return TE_ERR_MALFORMED;
        if (fn != NULL) {
            int rc = fn(ctx, &e);
            if (rc != TE_OK) return rc;
        }
    }
    return te_r_end(&r);
}

int te_dec_ack(const uint8_t *body, size_t len, int (*fn)(void *ctx, const te_ack_entry *e), void *ctx) {
    int rc = ack_pass(body, len, NULL, NULL);
    if (rc != TE_OK || fn == NULL) return rc;
    return ack_pass(body, len, fn, ctx);
}

int te_dec_records(const uint8_t *body, size_t len, te_records *out) {
    te_r r;
    te_r_init(&r, body, len);
    out->corr = te_r_v(&r);
    out->partition = te_r_v(&r);
    out->log_start_offset = te_r_v(&r);
    out->next_offset = te_r_v(&r);
    out->batches = te_r_bytes(&r, &out->batches_len);
    return te_r_end(&r);
}

int te_dec_corr(const uint8_t *body, size_t len, uint64_t *corr) {
    te_r r;
    te_r_init(&r, body, len);
    *corr = te_r_v(&r);
    return te_r_end(&r);
}

int te_dec_error(const uint8_t *body, size_t len, te_error *out) {
    te_r r;
    te_r_init(&r, body, len);
    out->ref_kind = te_r_u8(&r);
    out->ref = te_r_v(&r);
    out->code = te_r_v(&r);
    out->message = (const char *)te_r_str(&r, &out->message_len);
    if (!r.err && out->ref_kind > TE_REF_PRODUCE) return TE_ERR_MALFORMED;
    return te_r_end(&r);
}

int te_dec_out_of_range(const uint8_t *body, size_t len, te_out_of_range *out) {
    te_r r;
    te_r_init(&r, body, len);
    out->corr = te_r_v(&r);
    out->partition = te_r_v(&r);
    out->offset = te_r_v(&r);
    out->side = te_r_u8(&r);
    out->log_start_offset = te_r_v(&r);
    out->next_offset = te_r_v(&r);
    if (!r.err && out->side > TE_SIDE_ABOVE) return TE_ERR_MALFORMED;
    return te_r_end(&r);
}

static int meta_pass(const uint8_t *body, size_t len, uint64_t *corr, int (*fn)(void *, const te_meta_partition *),
                     void *ctx) {
    te_r r;
    uint64_t topics, t, i;
    te_r_init(&r, body, len);
    *corr = te_r_v(&r);
    topics = te_r_count(&r);
    for (t = 0; t < topics && !r.err; t++) {
        te_meta_partition m;
        m.topic = (const char *)te_r_str(&r, &m.topic_len);
        m.retention_ms = te_r_z(&r);
        m.retention_bytes = te_r_z(&r);
        m.partition_count = te_r_count(&r);
        m.partition = m.log_start_offset = m.next_offset = 0;
        if (r.err) break;
        if (m.partition_count == 0 && fn != NULL) {
            int rc = fn(ctx, &m);
            if (rc != TE_OK) return rc;
        }
        for (i = 0; i < m.partition_count && !r.err; i++) {
            m.partition = te_r_v(&r);
            m.log_start_offset = te_r_v(&r);
            m.next_offset = te_r_v(&r);
            if (!r.err && fn != NULL) {
                int rc = fn(ctx, &m);
                if (rc != TE_OK) return rc;
            }
        }
    }
    return te_r_end(&r);
}

int te_dec_metadata(const uint8_t *body, size_t len, uint64_t *corr,
                    int (*fn)(void *ctx, const te_meta_partition *p), void *ctx) {
    int rc = meta_pass(body, len, corr, NULL, NULL);
    if (rc != TE_OK || fn == NULL) return rc;
    return meta_pass(body, len, corr, fn, ctx);
}

const char *te_code_name(uint64_t code) {
    static const char *const names[] = {
        "UNKNOWN", "UNKNOWN", "CORRUPT_MESSAGE", "OFFSET_OUT_OF_RANGE", "UNKNOWN_TOPIC", "INVALID_TOPIC",
        "INVALID_PARTITION", "TOPIC_EXISTS", "FRAME_TOO_LARGE", "MALFORMED_FRAME", "UNSUPPORTED_VERSION",
        "NOT_AUTHORIZED", "UNKNOWN_ALIAS", "RECORD_TOO_LARGE", "STORAGE_FULL", "STORAGE_FAILED",
        "INVALID_REQUEST", "THROTTLED", "SHUTTING_DOWN", "HANDSHAKE_REQUIRED", "TIMEOUT", "INVALID_CONFIG",
        "UNKNOWN_MIRROR", "UPSTREAM_UNAVAILABLE", "UPSTREAM_REJECTED", "UNKNOWN_GROUP", "UNKNOWN_MEMBER",
        "ILLEGAL_GENERATION", "REBALANCE_IN_PROGRESS", "NOT_ASSIGNED", "NON_EMPTY_GROUP", "FENCED_INSTANCE",
        "GROUP_FULL", "UNSUPPORTED_COMPRESSION", "OUT_OF_ORDER_SEQUENCE", "INVALID_PRODUCER_EPOCH",
        "INCONSISTENT_GROUP_PROTOCOL", "UPSTREAM_MISCONFIGURED"};
    return code < sizeof names / sizeof names[0] ? names[code] : "UNKNOWN";
}
