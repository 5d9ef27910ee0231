/* One connection: handshake ([EDGE-4.1]), framed reads into a fixed buffer, requests matched by
 * corr ([EDGE-4.3]), keepalive ([EDGE-4.4]). */
#include <string.h>

#include "tributary_edge.h"

#define HANDSHAKE_LIMIT 4096u
#define SERVER_FRAME_MAX 4194304u /* the broker's hard maximum ([EDGE-4.1]) */
#define SEND_TIMEOUT_MS 10000u

static uint32_t now(const te_client *c) {
    return c->port->millis(c->port->ctx);
}

int te_client_init(te_client *c, const te_port *port, uint8_t *rx, size_t rx_cap, uint8_t *tx, size_t tx_cap) {
    memset(c, 0, sizeof *c);
    if (port == NULL || rx == NULL || tx == NULL || rx_cap < TE_FRAME_FLOOR + TE_FRAME_PREFIX_MAX ||
        tx_cap < TE_FRAME_FLOOR + TE_FRAME_PREFIX_MAX)
        return TE_ERR_ARG;
    c->port = port;
    c->rx = rx;
    c->rx_cap = rx_cap;
    c->tx = tx;
    c->tx_cap = tx_cap;
    c->next_corr = 1;
    return TE_OK;
}

void te_client_close(te_client *c) {
    c->port->close(c->port->ctx);
    c->connected = 0;
    c->rx_len = 0;
    c->rx_frame = 0;
    c->ping_outstanding = 0;
}

/* The largest frame the receive buffer holds: the proposal in HELLO. The send buffer only limits
 * what this client writes (te_client_tx_cap), so a fetch-only device can keep it small. */
static size_t own_limit(const te_client *c) {
    size_t n = c->rx_cap - TE_FRAME_PREFIX_MAX;
    return n > SERVER_FRAME_MAX ? SERVER_FRAME_MAX : n;
}

/* te_enc_begin reserves 4 bytes for the length: a writer of frame_bytes_max + 4 bytes cannot
 * produce a frame whose length field exceeds frame_bytes_max. */
size_t te_client_tx_cap(const te_client *c) {
    size_t want = (size_t)c->frame_bytes_max + 4u;
    return want < c->tx_cap ? want : c->tx_cap;
}

int te_client_send(te_client *c, size_t len) {
    if (c->port->send(c->port->ctx, c->tx, len, SEND_TIMEOUT_MS) != 0) {
        te_client_close(c);
        return TE_ERR_IO;
    }
    c->last_send_ms = now(c);
    return TE_OK;
}

/* Frame types a server sends on this connection ([EDGE-1], [EDGE-4.2]); any other is unknown-type. */
static int server_type(const te_client *c, uint8_t type) {
    switch (type) {
    case TE_WELCOME: return !c->connected;
    case TE_REGISTERED: case TE_ACK: case TE_RECORDS: case TE_METADATA_RESULT: case TE_OK_FRAME: case TE_PONG:
    case TE_ERROR:
        return 1;
    case TE_JOINED: case TE_OFFSETS: case TE_PRODUCED: case 0x1a: case 0x1c: case 0x1e: /* GROUPS .. OFFSETS_RESET */
        return c->connected && c->version >= 2;
    default:
        return 0;
    }
}

int te_client_read(te_client *c, uint32_t timeout_ms, uint8_t *type, const uint8_t **body, size_t *len) {
    uint32_t start = now(c);
    size_t limit = c->connected ? (size_t)c->frame_bytes_max : HANDSHAKE_LIMIT;
    if (limit > c->rx_cap - TE_FRAME_PREFIX_MAX) limit = c->rx_cap - TE_FRAME_PREFIX_MAX;
    if (c->rx_frame > 0) { /* drop the frame returned last time; keep what followed it */
        memmove(c->rx, c->rx + c->rx_frame, c->rx_len - c->rx_frame);
        c->rx_len -= c->rx_frame;
        c->rx_frame = 0;
    }
    for (;;) {
        size_t frame_len = 0;
        uint32_t elapsed;
        long got;
        int rc = te_frame_split(c->rx, c->rx_len, limit, type, body, len, &frame_len);
        if (rc == TE_OK) {
            c->rx_frame = frame_len;
            c->last_recv_ms = now(c);
            c->ping_outstanding = 0;
            if (!server_type(c, *type)) return TE_ERR_MALFORMED; /* not skippable ([EDGE-4.2]) */
            if (*type != TE_ERROR) return TE_OK;
            if (te_dec_error(*body, *len, &c->error) != TE_OK) return TE_ERR_MALFORMED;
            if (c->error.ref_kind == TE_REF_CONNECTION) { /* the server closes after it */
                c->connected = 0;
                return TE_ERR_SERVER;
            }
            return TE_OK;
        }
        if (rc < 0) return rc;
        elapsed = now(c) - start;
        if (elapsed >= timeout_ms) return TE_ERR_TIMEOUT;
        got = c->port->recv(c->port->ctx, c->rx + c->rx_len, c->rx_cap - c->rx_len, timeout_ms - elapsed);
        if (got < 0) {
            c->connected = 0;
            return TE_ERR_IO;
        }
        c->rx_len += (size_t)got;
    }
}

int te_client_connect(te_client *c, const te_hello_opts *o) {
    te_w w;
    te_welcome wel;
    uint8_t type;
    const uint8_t *body;
    size_t len;
    int rc;
    size_t proposal = own_limit(c);
    if ((o->flags & TE_HELLO_IDEMPOTENT) && o->client_id_len == 0) return TE_ERR_ARG; /* would share state */
    te_client_close(c);
    if (c->port->connect(c->port->ctx, o->timeout_ms) != 0) return TE_ERR_IO;
    c->rx_len = 0;
    te_w_init(&w, c->tx, c->tx_cap);
    rc = te_enc_hello(&w, o->version >= 2 ? 2 : 1, o->flags, o->keepalive_ms, proposal, o->client_id, o->client_id_len, o->token,
                      o->token_len);
    if (rc != TE_OK) goto fail;
    if ((rc = te_client_send(c, w.len)) != TE_OK) return rc;
    if ((rc = te_client_read(c, o->timeout_ms, &type, &body, &len)) != TE_OK) goto fail;
    if (type == TE_ERROR) {
        rc = TE_ERR_SERVER;
        goto fail;
    }
    if (type != TE_WELCOME || te_dec_welcome(body, len, &wel) != TE_OK) {
        rc = TE_ERR_MALFORMED;
        goto fail;
    }
    if (wel.version < 1 || wel.version > (o->version >= 2 ? 2 : 1)) {
        rc = TE_ERR_UNSUPPORTED;
        goto fail;
    }
    if (wel.frame_bytes_max < TE_FRAME_FLOOR || wel.frame_bytes_max > proposal || wel.keepalive_ms == 0 ||
        wel.keepalive_ms > 0xffffffffu / 2u) {
        rc = TE_ERR_MALFORMED;
        goto fail;
    }
    c->version = wel.version;
    c->keepalive_ms = wel.keepalive_ms;
    c->frame_bytes_max = wel.frame_bytes_max;
    c->last_seq = wel.last_seq;
    c->connected = 1;
    return TE_OK;
fail:
    te_client_close(c);
    return rc;
}

/* Waits for the answer of type `want` to request `corr`; other frames go to on_frame. */
static int await(te_client *c, uint64_t corr, uint8_t want, uint32_t timeout_ms, const uint8_t **body, size_t *len) {
    uint32_t start = now(c);
    for (;;) {
        uint8_t type;
        uint64_t got = 0;
        uint32_t elapsed = now(c) - start;
        int rc;
        if (elapsed >= timeout_ms) return TE_ERR_TIMEOUT;
        rc = te_client_read(c, timeout_ms - elapsed, &type, body, len);
        if (rc != TE_OK) return rc;
        if (type == TE_ERROR && c->error.ref_kind == TE_REF_REQUEST && c->error.ref == corr) return TE_ERR_SERVER;
        if (type == want && te_read_uvarint(*body, *len, &got) > 0 && got == corr) return TE_OK;
        if (c->on_frame != NULL && (rc = c->on_frame(c->on_frame_ctx, type, *body, *len)) != TE_OK) return rc;
    }
}

static int begin_request(te_client *c, te_w *w, uint64_t *corr) {
    if (!c->connected) return TE_ERR_CLOSED;
    *corr = c->next_corr++;
    if (c->next_corr > TE_VARINT_MAX) c->next_corr = 1;
    te_w_init(w, c->tx, te_client_tx_cap(c));
    return TE_OK;
}

int te_client_register(te_client *c, uint64_t alias, const char *topic, int create, uint64_t *partitions,
                       uint32_t timeout_ms) {
    te_w w;
    uint64_t corr;
    const uint8_t *body;
    size_t len;
    te_registered reg;
    int rc = begin_request(c, &w, &corr);
    if (rc != TE_OK) return rc;
    if ((rc = te_enc_register(&w, corr, alias, create ? TE_REGISTER_CREATE : 0, topic, strlen(topic))) != TE_OK)
        return rc;
    if ((rc = te_client_send(c, w.len)) != TE_OK) return rc;
    if ((rc = await(c, corr, TE_REGISTERED, timeout_ms, &body, &len)) != TE_OK) return rc;
    if (te_dec_registered(body, len, &reg) != TE_OK || reg.alias != alias) return TE_ERR_MALFORMED;
    if (partitions != NULL) *partitions = reg.partitions;
    return TE_OK;
}

int te_client_fetch(te_client *c, uint64_t alias, uint64_t partition, uint64_t offset, uint64_t max_bytes,
                    uint64_t max_wait_ms, uint32_t timeout_ms, te_records *out) {
    te_w w;
    uint64_t corr;
    const uint8_t *body;
    size_t len;
    int rc = begin_request(c, &w, &corr);
    if (rc != TE_OK) return rc;
    if ((rc = te_enc_fetch(&w, corr, alias, partition, offset, max_bytes, max_wait_ms)) != TE_OK) return rc;
    if ((rc = te_client_send(c, w.len)) != TE_OK) return rc;
    if ((rc = await(c, corr, TE_RECORDS, timeout_ms, &body, &len)) != TE_OK) return rc;
    if (te_dec_records(body, len, out) != TE_OK || out->partition != partition) return TE_ERR_MALFORMED;
    return TE_OK;
}

int te_client_metadata(te_client *c, const char *const *topics, const size_t *lens, size_t count,
                       int (*fn)(void *ctx, const te_meta_partition *p), void *ctx, uint32_t timeout_ms) {
    te_w w;
    uint64_t corr, got;
    const uint8_t *body;
    size_t len;
    int rc = begin_request(c, &w, &corr);
    if (rc != TE_OK) return rc;
    if ((rc = te_enc_metadata(&w, corr, topics, lens, count)) != TE_OK) return rc;
    if ((rc = te_client_send(c, w.len)) != TE_OK) return rc;
    if ((rc = await(c, corr, TE_METADATA_RESULT, timeout_ms, &body, &len)) != TE_OK) return rc;
    return te_dec_metadata(body, len, &got, fn, ctx);
}

static int send_ping(te_client *c, uint64_t *corr) {
    te_w w;
    int rc = begin_request(c, &w, corr);
    if (rc != TE_OK) return rc;
    if ((rc = te_enc_ping(&w, *corr)) != TE_OK) return rc;
    if ((rc = te_client_send(c, w.len)) != TE_OK) return rc;
    c->ping_outstanding = 1;
    c->ping_sent_ms = c->last_send_ms;
    return TE_OK;
}

int te_client_ping(te_client *c, uint32_t timeout_ms) {
    uint64_t corr;
    const uint8_t *body;
    size_t len;
    int rc = send_ping(c, &corr);
    if (rc != TE_OK) return rc;
    return await(c, corr, TE_PONG, timeout_ms, &body, &len);
}

int te_client_tick(te_client *c) {
    uint32_t t;
    uint64_t corr;
    if (!c->connected) return TE_ERR_CLOSED;
    t = now(c);
    if (c->ping_outstanding) {
        if ((uint64_t)(uint32_t)(t - c->ping_sent_ms) >= 2u * c->keepalive_ms) return TE_ERR_TIMEOUT;
        return TE_OK;
    }
    /* Half the interval: the broker closes after 1.5 x keepalive of silence, and a tick may come late. */
    if ((uint64_t)(uint32_t)(t - c->last_send_ms) >= c->keepalive_ms / 2u) return send_ping(c, &corr);
    return TE_OK;
}

int te_client_writer(te_client *c, te_w *w, uint64_t *corr) {
    return begin_request(c, w, corr);
}

int te_client_request(te_client *c, const te_w *w, uint64_t corr, uint8_t answer_type, uint32_t timeout_ms,
                      const uint8_t **body, size_t *len) {
    int rc;
    if (w->err || w->buf != c->tx) return TE_ERR_ARG;
    if ((rc = te_client_send(c, w->len)) != TE_OK) return rc;
    return await(c, corr, answer_type, timeout_ms, body, len);
}
