/* The ring of unacknowledged readings and the idempotent producer built on it ([EDGE-7.5]):
 * - a reading gets a seq when first sent, and that seq (and the frame's exact contents) is
 *   persisted before the frame leaves, so a resend after a reconnect or a reboot is the same frame;
 * - after WELCOME, readings with seq <= lastSeq are stored and dropped; the others are sent again,
 *   unchanged and in seq order; new frames take seqs above every seq used before;
 * - a frame answered with ERROR stored nothing: its readings go again under a new seq (rule 3). */
#include <string.h>

#include "tributary_edge.h"

#define STATE_MAGIC_0 'T'
#define STATE_MAGIC_1 'R'
#define STATE_MAGIC_2 'R'
#define STATE_MAGIC_3 '1'
#define STATE_HEAD 22u /* magic 4, next_seq 8, user 8, count 2 */
#define STATE_SLOT 17u /* seq 8, timestamp 8, len 1, then the value */
#define STATE_CRC 4u
/* PRODUCE header at most: type 1, seq 8, alias 8, partition 8, acks 1, timestamp 8, count 8 */
#define PRODUCE_HEAD 42u
/* a record at most: flags 1, delta 8, length 1 (TE_READING_MAX < 128), value */
#define RECORD_MAX (10u + TE_READING_MAX)

#if TE_READING_MAX > 127 || TE_READING_MAX < 1
#error "TE_READING_MAX must be 1..127 (one length byte per reading on the wire and in storage)"
#endif

static te_slot *at(const te_ring *r, uint16_t i) {
    return &r->slots[(uint16_t)((r->head + i) % r->cap)];
}

size_t te_ring_state_size(uint16_t cap) {
    return STATE_HEAD + (size_t)cap * (STATE_SLOT + TE_READING_MAX) + STATE_CRC;
}

static void put_be(uint8_t *p, uint64_t v, int n) {
    int i;
    for (i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xffu);
        v >>= 8;
    }
}

static uint64_t get_be(const uint8_t *p, int n) {
    uint64_t v = 0;
    int i;
    for (i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

int te_ring_save(te_ring *r) {
    size_t n = STATE_HEAD;
    uint16_t i, kept = 0;
    if (r->scratch == NULL || r->port == NULL || r->port->store_save == NULL) return TE_OK;
    for (i = 0; i < r->count; i++) {
        const te_slot *s = at(r, i);
        if (s->acked) continue; /* stored already */
        put_be(r->scratch + n, s->seq, 8);
        put_be(r->scratch + n + 8, s->timestamp_ms, 8);
        r->scratch[n + 16] = s->len;
        memcpy(r->scratch + n + STATE_SLOT, s->value, s->len);
        n += STATE_SLOT + s->len;
        kept++;
    }
    r->scratch[0] = STATE_MAGIC_0;
    r->scratch[1] = STATE_MAGIC_1;
    r->scratch[2] = STATE_MAGIC_2;
    r->scratch[3] = STATE_MAGIC_3;
    put_be(r->scratch + 4, r->next_seq, 8);
    put_be(r->scratch + 12, r->user, 8);
    put_be(r->scratch + 20, kept, 2);
    put_be(r->scratch + n, te_crc32c(0, r->scratch, n), 4);
    n += STATE_CRC;
    return r->port->store_save(r->port->ctx, r->scratch, n) == 0 ? TE_OK : TE_ERR_IO;
}

/* Strict: any inconsistency rejects the whole blob. */
static int load(te_ring *r, size_t n) {
    const uint8_t *p = r->scratch;
    size_t pos = STATE_HEAD;
    uint16_t count, i;
    if (n < STATE_HEAD + STATE_CRC || p[0] != STATE_MAGIC_0 || p[1] != STATE_MAGIC_1 || p[2] != STATE_MAGIC_2 ||
        p[3] != STATE_MAGIC_3)
        return TE_ERR_MALFORMED;
    if (te_crc32c(0, p, n - STATE_CRC) != (uint32_t)get_be(p + n - STATE_CRC, 4)) return TE_ERR_MALFORMED;
    count = (uint16_t)get_be(p + 20, 2);
    if (count > r->cap) return TE_ERR_MALFORMED;
    for (i = 0; i < count; i++) {
        te_slot *s = &r->slots[i];
        if (n - STATE_CRC - pos < STATE_SLOT) return TE_ERR_MALFORMED;
        s->seq = get_be(p + pos, 8);
        s->timestamp_ms = get_be(p + pos + 8, 8);
        s->len = p[pos + 16];
        if (s->len > TE_READING_MAX || s->seq > TE_VARINT_MAX || s->timestamp_ms > TE_VARINT_MAX ||
            n - STATE_CRC - pos - STATE_SLOT < s->len)
            return TE_ERR_MALFORMED;
        memcpy(s->value, p + pos + STATE_SLOT, s->len);
        s->sent = 0;
        s->acked = 0;
        pos += STATE_SLOT + s->len;
    }
    if (pos != n - STATE_CRC) return TE_ERR_MALFORMED;
    r->next_seq = get_be(p + 4, 8);
    r->user = get_be(p + 12, 8);
    if (r->next_seq == 0 || r->next_seq > TE_VARINT_MAX) return TE_ERR_MALFORMED;
    r->count = count;
    return TE_OK;
}

int te_ring_init(te_ring *r, te_slot *slots, uint16_t cap, const te_port *port, uint8_t *scratch,
                 size_t scratch_cap) {
    long n;
    int rc;
    memset(r, 0, sizeof *r);
    if (slots == NULL || cap == 0) return TE_ERR_ARG;
    r->slots = slots;
    r->cap = cap;
    r->next_seq = 1;
    r->port = port;
    r->acks = 1;
    r->partition = -1;
    r->per_frame = 1;
    r->window = 1;
    if (scratch == NULL || port == NULL || port->store_load == NULL) return TE_OK;
    if (scratch_cap < te_ring_state_size(cap)) return TE_ERR_ARG;
    r->scratch = scratch;
    r->scratch_cap = scratch_cap;
    n = port->store_load(port->ctx, scratch, scratch_cap);
    if (n < 0) return TE_ERR_IO;
    if (n == 0) return TE_OK;
    rc = load(r, (size_t)n);
    if (rc != TE_OK) {
        r->count = 0;
        r->next_seq = 1;
        r->user = 0;
    }
    return rc;
}

void te_ring_target(te_ring *r, uint64_t alias, int64_t partition, uint8_t acks, uint16_t per_frame, uint16_t window) {
    r->alias = alias;
    r->partition = partition;
    r->acks = (acks == 2) ? 2 : 1; /* acks 0 gets no answer: nothing could ever leave the ring */
    r->per_frame = per_frame == 0 ? 1 : per_frame;
    r->window = window == 0 ? 1 : window;
}

uint16_t te_ring_count(const te_ring *r) {
    return r->count;
}

int te_ring_push(te_ring *r, const uint8_t *value, size_t len, uint64_t timestamp_ms) {
    te_slot *s;
    if (len > TE_READING_MAX || timestamp_ms > TE_VARINT_MAX) return TE_ERR_ARG;
    if (r->count == r->cap) return TE_ERR_FULL;
    s = at(r, r->count);
    s->seq = 0;
    s->timestamp_ms = timestamp_ms;
    s->len = (uint8_t)len;
    s->sent = 0;
    s->acked = 0;
    if (len > 0) memcpy(s->value, value, len);
    r->count++;
    return te_ring_save(r);
}

static void advance(te_ring *r) {
    while (r->count > 0 && at(r, 0)->acked) {
        r->head = (uint16_t)((r->head + 1) % r->cap);
        r->count--;
    }
}

int te_ring_connected(te_ring *r, const te_client *c) {
    uint16_t i;
    if (!c->connected) return TE_ERR_CLOSED;
    r->in_flight = 0;
    for (i = 0; i < r->count; i++) {
        te_slot *s = at(r, i);
        s->sent = 0;
        if (s->acked || s->seq == 0 || s->seq > c->last_seq) continue;
        s->acked = 1;
        r->acked_total++; /* stored before the link went: WELCOME's lastSeq says so */
    }
    if (r->next_seq <= c->last_seq) r->next_seq = c->last_seq + 1u;
    advance(r);
    return te_ring_save(r);
}

/* Frame limit for readings: how many fit one frame of the negotiated size. */
static uint16_t fit(const te_ring *r, const te_client *c) {
    size_t cap = te_client_tx_cap(c);
    size_t room = cap > PRODUCE_HEAD + 4u ? (cap - PRODUCE_HEAD - 4u) / RECORD_MAX : 0;
    uint16_t n = r->per_frame;
    if (room < n) n = (uint16_t)room;
    return n == 0 ? 1 : n;
}

/* Readings of the frame with `seq` (0 = new readings: the first unassigned ones, all with or all
 * without a device timestamp); the first `max` of them get *out_first as the first index. */
static uint16_t select_frame(const te_ring *r, uint64_t seq, uint16_t max) {
    uint16_t i, n = 0;
    int stamped = -1;
    for (i = 0; i < r->count && n < max; i++) {
        const te_slot *s = at(r, i);
        if (s->acked || s->seq != seq || (seq == 0 && s->sent)) continue;
        if (seq == 0) {
            int has = s->timestamp_ms != 0;
            if (stamped == -1) stamped = has;
            else if (stamped != has) break;
        }
        n++;
    }
    return n;
}

static int send_frame(te_ring *r, te_client *c, uint64_t seq, uint16_t n, int resend) {
    te_w w;
    uint16_t i, done = 0;
    uint64_t base = 0;
    int rc;
    for (i = 0; i < r->count; i++) {
        const te_slot *s = at(r, i);
        if (!s->acked && s->seq == seq) {
            base = s->timestamp_ms;
            break;
        }
    }
    te_w_init(&w, c->tx, te_client_tx_cap(c));
    if ((rc = te_enc_produce_begin(&w, seq, r->alias, r->partition, r->acks, base, n)) != TE_OK) return rc;
    for (i = 0; i < r->count && done < n; i++) {
        te_slot *s = at(r, i);
        te_record_out rec;
        if (s->acked || s->seq != seq) continue;
        memset(&rec, 0, sizeof rec);
        rec.value = s->value;
        rec.value_len = s->len;
        rec.timestamp_delta_ms = (int64_t)s->timestamp_ms - (int64_t)base;
        if ((rc = te_enc_record(&w, &rec)) != TE_OK) return rc;
        s->sent = 1;
        done++;
    }
    if ((rc = te_enc_end(&w)) != TE_OK) return rc;
    if ((rc = te_client_send(c, w.len)) != TE_OK) return rc;
    r->in_flight++;
    if (r->on_send != NULL) r->on_send(r->on_ack_ctx, seq, n, resend);
    return TE_OK;
}

/* The lowest seq among readings sent before but not on this connection. */
static uint64_t lowest_unsent(const te_ring *r) {
    uint64_t best = 0;
    uint16_t i;
    for (i = 0; i < r->count; i++) {
        const te_slot *s = at(r, i);
        if (!s->acked && !s->sent && s->seq != 0 && (best == 0 || s->seq < best)) best = s->seq;
    }
    return best;
}

static int fill_window(te_ring *r, te_client *c) {
    while (r->in_flight < r->window) {
        uint64_t seq = lowest_unsent(r);
        uint16_t n, i, marked = 0;
        int rc, resend = seq != 0;
        if (seq != 0) {
            n = select_frame(r, seq, 0xffffu);
        } else {
            n = select_frame(r, 0, fit(r, c));
            if (n == 0) return TE_OK;
            seq = r->next_seq;
            if (seq > TE_VARINT_MAX) return TE_ERR_ARG;
            for (i = 0; i < r->count && marked < n; i++) {
                te_slot *s = at(r, i);
                if (s->acked || s->seq != 0) continue;
                s->seq = seq;
                marked++;
            }
            r->next_seq = seq + 1u;
            /* the seq and the frame's contents are durable before the frame can be stored */
            if ((rc = te_ring_save(r)) != TE_OK) return rc;
        }
        if ((rc = send_frame(r, c, seq, n, resend)) != TE_OK) return rc;
    }
    return TE_OK;
}

static int on_entry(void *ctx, const te_ack_entry *e) {
    te_ring *r = (te_ring *)ctx;
    uint16_t i, n = 0;
    for (i = 0; i < r->count; i++) {
        te_slot *s = at(r, i);
        if (s->acked || s->seq != e->seq) continue;
        s->acked = 1;
        n++;
    }
    if (n == 0) return TE_OK; /* an entry for a frame confirmed already (by lastSeq) */
    if (r->in_flight > 0) r->in_flight--;
    r->acked_total += n;
    if (r->on_ack != NULL) r->on_ack(r->on_ack_ctx, e, n);
    return TE_OK;
}

/* A produce ERROR: the frame stored nothing; its readings wait for a new seq. */
static int refused(te_ring *r, uint64_t seq) {
    uint16_t i, n = 0;
    for (i = 0; i < r->count; i++) {
        te_slot *s = at(r, i);
        if (s->acked || s->seq != seq) continue;
        s->seq = 0;
        s->sent = 0;
        n++;
    }
    if (n > 0 && r->in_flight > 0) r->in_flight--;
    return te_ring_save(r);
}

int te_ring_service(te_ring *r, te_client *c, uint32_t timeout_ms) {
    uint8_t type;
    const uint8_t *body;
    size_t len;
    int rc;
    if (!c->connected) return TE_ERR_CLOSED;
    if ((rc = te_client_tick(c)) != TE_OK) return rc;
    if ((rc = fill_window(r, c)) != TE_OK) return rc;
    rc = te_client_read(c, timeout_ms, &type, &body, &len);
    if (rc == TE_ERR_TIMEOUT) return TE_OK;
    if (rc != TE_OK) return rc;
    switch (type) {
    case TE_ACK:
        rc = te_dec_ack(body, len, on_entry, r);
        advance(r);
        return rc;
    case TE_ERROR:
        if (c->error.ref_kind == TE_REF_PRODUCE && (rc = refused(r, c->error.ref)) != TE_OK) return rc;
        return TE_ERR_SERVER;
    default:
        if (c->on_frame != NULL) return c->on_frame(c->on_frame_ctx, type, body, len);
        return TE_OK;
    }
}
