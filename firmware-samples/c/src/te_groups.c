/* Consumer-group frames ([EDGE-12], protocol version 2): encoders and strict decoders. In its own
 * file so that a producer-only device does not link it. */
#include "tributary_edge.h"

static int str_ok(te_str s) {
    return (s.p != NULL || s.len == 0) && te_utf8_valid((const uint8_t *)s.p, s.len);
}

#define BAD_ARG 2 /* te_w.err value: a bad argument rather than a full buffer */

static void w_str(te_w *w, te_str s) {
    if (!str_ok(s)) {
        w->err = BAD_ARG;
        return;
    }
    te_w_bytes(w, (const uint8_t *)s.p, s.len);
}

static int done(te_w *w) {
    return w->err == BAD_ARG ? TE_ERR_ARG : te_enc_end(w);
}

int te_enc_join_group(te_w *w, uint64_t corr, te_str group, te_str member_id, te_str instance_id,
                      uint64_t session_timeout_ms, uint64_t rebalance_timeout_ms, uint8_t strategy, te_str pattern,
                      const te_str *topics, size_t topic_count) {
    size_t i;
    if (strategy > 3) return TE_ERR_ARG;
    te_enc_begin(w, TE_JOIN_GROUP);
    te_w_v(w, corr);
    w_str(w, group);
    w_str(w, member_id);
    w_str(w, instance_id);
    te_w_v(w, session_timeout_ms);
    te_w_v(w, rebalance_timeout_ms);
    te_w_u8(w, strategy);
    w_str(w, pattern);
    te_w_v(w, (uint64_t)topic_count);
    for (i = 0; i < topic_count; i++) w_str(w, topics[i]);
    return done(w);
}

int te_enc_heartbeat(te_w *w, uint64_t corr, te_str group, te_str member_id, uint64_t generation) {
    te_enc_begin(w, TE_HEARTBEAT);
    te_w_v(w, corr);
    w_str(w, group);
    w_str(w, member_id);
    te_w_v(w, generation);
    return done(w);
}

int te_enc_leave_group(te_w *w, uint64_t corr, te_str group, te_str member_id) {
    te_enc_begin(w, TE_LEAVE_GROUP);
    te_w_v(w, corr);
    w_str(w, group);
    w_str(w, member_id);
    return done(w);
}

static void w_offsets(te_w *w, const te_offset_out *offsets, size_t count) {
    size_t i;
    te_w_v(w, (uint64_t)count);
    for (i = 0; i < count; i++) {
        te_w_v(w, offsets[i].alias);
        te_w_v(w, offsets[i].partition);
        te_w_v(w, offsets[i].offset);
        w_str(w, offsets[i].metadata);
    }
}

int te_enc_commit_offsets(te_w *w, uint64_t corr, te_str group, te_str member_id, int64_t generation,
                          const te_offset_out *offsets, size_t count) {
    te_enc_begin(w, TE_COMMIT_OFFSETS);
    te_w_v(w, corr);
    w_str(w, group);
    w_str(w, member_id);
    te_w_z(w, generation);
    w_offsets(w, offsets, count);
    return done(w);
}

int te_enc_fetch_offsets(te_w *w, uint64_t corr, te_str group, const uint64_t *aliases, const uint64_t *partitions,
                         size_t count) {
    size_t i;
    te_enc_begin(w, TE_FETCH_OFFSETS);
    te_w_v(w, corr);
    w_str(w, group);
    te_w_v(w, (uint64_t)count);
    for (i = 0; i < count; i++) {
        te_w_v(w, aliases[i]);
        te_w_v(w, partitions[i]);
    }
    return done(w);
}

int te_enc_produce_commit_begin(te_w *w, uint64_t corr, uint8_t flags, te_str group, te_str member_id,
                                int64_t generation, uint64_t batch_count) {
    if ((flags & ~TE_PRODUCE_COMMIT_FLUSH) != 0) return TE_ERR_ARG;
    te_enc_begin(w, TE_PRODUCE_COMMIT);
    te_w_v(w, corr);
    te_w_u8(w, flags);
    w_str(w, group);
    w_str(w, member_id);
    te_w_z(w, generation);
    te_w_v(w, batch_count);
    return w->err == BAD_ARG ? TE_ERR_ARG : w->err ? TE_ERR_TOO_LARGE : TE_OK;
}

int te_enc_pc_batch(te_w *w, uint64_t alias, int64_t partition, uint64_t base_timestamp_ms, uint64_t count) {
    if (partition < -1 || count == 0) return TE_ERR_ARG;
    te_w_v(w, alias);
    te_w_z(w, partition);
    te_w_v(w, base_timestamp_ms);
    te_w_v(w, count);
    return w->err ? TE_ERR_TOO_LARGE : TE_OK;
}

int te_enc_pc_offsets(te_w *w, const te_offset_out *offsets, size_t count) {
    w_offsets(w, offsets, count);
    return done(w);
}

/* The topic-partition list of [EDGE-12.4]; fn NULL = validate only. */
static int assignment_pass(te_r *r, int (*fn)(void *, te_str, uint64_t), void *ctx) {
    uint64_t topics = te_r_count(r), t, i;
    for (t = 0; t < topics && !r->err; t++) {
        te_str topic;
        uint64_t n;
        topic.p = (const char *)te_r_str(r, &topic.len);
        n = te_r_count(r);
        for (i = 0; i < n && !r->err; i++) {
            uint64_t partition = te_r_v(r);
            if (!r->err && fn != NULL) {
                int rc = fn(ctx, topic, partition);
                if (rc != TE_OK) return rc;
            }
        }
    }
    return r->err ? TE_ERR_MALFORMED : TE_OK;
}

int te_dec_joined(const uint8_t *body, size_t len, te_joined *out) {
    te_r r;
    size_t start;
    te_r_init(&r, body, len);
    out->corr = te_r_v(&r);
    out->generation = te_r_v(&r);
    out->member_id.p = (const char *)te_r_str(&r, &out->member_id.len);
    out->session_timeout_ms = te_r_v(&r);
    out->heartbeat_ms = te_r_v(&r);
    start = r.pos;
    if (assignment_pass(&r, NULL, NULL) != TE_OK) return TE_ERR_MALFORMED;
    out->assignment = body + start;
    out->assignment_len = r.pos - start;
    return te_r_end(&r);
}

int te_assignment_each(const te_joined *j, int (*fn)(void *ctx, te_str topic, uint64_t partition), void *ctx) {
    te_r r;
    int rc;
    te_r_init(&r, j->assignment, j->assignment_len);
    rc = assignment_pass(&r, fn, ctx);
    return rc != TE_OK ? rc : te_r_end(&r);
}

static int offsets_pass(const uint8_t *body, size_t len, uint64_t *corr, int (*fn)(void *, const te_offset_in *),
                        void *ctx) {
    te_r r;
    uint64_t n, i;
    te_r_init(&r, body, len);
    *corr = te_r_v(&r);
    n = te_r_count(&r);
    for (i = 0; i < n && !r.err; i++) {
        te_offset_in o;
        o.alias = te_r_v(&r);
        o.partition = te_r_v(&r);
        o.offset = te_r_z(&r);
        o.metadata.p = (const char *)te_r_str(&r, &o.metadata.len);
        if (!r.err && o.offset < -1) return TE_ERR_MALFORMED;
        if (!r.err && fn != NULL) {
            int rc = fn(ctx, &o);
            if (rc != TE_OK) return rc;
        }
    }
    return te_r_end(&r);
}

int te_dec_offsets(const uint8_t *body, size_t len, uint64_t *corr, int (*fn)(void *ctx, const te_offset_in *o),
                   void *ctx) {
    int rc = offsets_pass(body, len, corr, NULL, NULL);
    return (rc != TE_OK || fn == NULL) ? rc : offsets_pass(body, len, corr, fn, ctx);
}

static int produced_pass(const uint8_t *body, size_t len, uint64_t *corr, int (*fn)(void *, uint64_t, uint64_t),
                         void *ctx) {
    te_r r;
    uint64_t n, i;
    te_r_init(&r, body, len);
    *corr = te_r_v(&r);
    n = te_r_count(&r);
    for (i = 0; i < n && !r.err; i++) {
        uint64_t partition = te_r_v(&r), base = te_r_v(&r);
        if (!r.err && fn != NULL) {
            int rc = fn(ctx, partition, base);
            if (rc != TE_OK) return rc;
        }
    }
    return te_r_end(&r);
}

int te_dec_produced(const uint8_t *body, size_t len, uint64_t *corr,
                    int (*fn)(void *ctx, uint64_t partition, uint64_t base_offset), void *ctx) {
    int rc = produced_pass(body, len, corr, NULL, NULL);
    return (rc != TE_OK || fn == NULL) ? rc : produced_pass(body, len, corr, fn, ctx);
}
