/* Kafka RecordBatch v2 reader ([EDGE-8.2]): big-endian header fields read byte by byte (no
 * unaligned access), CRC-32C over bytes 21 .. end, records checked against their own length. */
#include "tributary_edge.h"

#define BATCH_HEADER 61u

static uint64_t be64(const uint8_t *p) {
    uint64_t v = 0;
    int i;
    for (i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}

static uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Two's complement to signed without an implementation-defined conversion. */
static int64_t as_i64(uint64_t u) {
    return u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
}

void te_batch_iter_init(te_batch_iter *it, const uint8_t *batches, size_t len, uint64_t fetch_offset) {
    it->p = batches;
    it->len = len;
    it->pos = 0;
    it->min_offset = fetch_offset;
    it->rec = NULL;
    it->rec_len = it->rec_pos = 0;
    it->base_offset = 0;
    it->base_timestamp = 0;
    it->records_left = 0;
    it->next_offset = fetch_offset;
    it->err = 0;
}

static int fail(te_batch_iter *it, int rc) {
    it->err = rc;
    return rc;
}

/* Opens the next batch: header, CRC, then its records region. 1 = opened, 0 = none left. */
static int open_batch(te_batch_iter *it) {
    const uint8_t *b = it->p + it->pos;
    size_t left = it->len - it->pos;
    uint32_t batch_len, count;
    uint64_t base;
    int64_t last_delta;
    size_t total;
    if (left == 0) return 0;
    if (left < BATCH_HEADER) return fail(it, TE_ERR_MALFORMED);
    batch_len = be32(b + 8);
    if (batch_len > 0x7fffffffu || batch_len < BATCH_HEADER - 12u || batch_len > left - 12u)
        return fail(it, TE_ERR_MALFORMED);
    total = (size_t)batch_len + 12u;
    if (b[16] != 2) return fail(it, TE_ERR_MALFORMED);
    if (te_crc32c(0, b + 21, total - 21u) != be32(b + 17)) return fail(it, TE_ERR_CRC);
    if ((b[22] & 0x07u) != 0) return fail(it, TE_ERR_UNSUPPORTED);
    base = be64(b);
    last_delta = (int64_t)be32(b + 23);
    count = be32(b + 57);
    if (base > TE_VARINT_MAX || last_delta > 0x7fffffffL || count > 0x7fffffffu) return fail(it, TE_ERR_MALFORMED);
    it->base_offset = base;
    it->base_timestamp = as_i64(be64(b + 27));
    /* keeps base + any delta (|delta| < 2^52) inside int64_t */
    if (it->base_timestamp > ((int64_t)1 << 62) || it->base_timestamp < -((int64_t)1 << 62))
        return fail(it, TE_ERR_MALFORMED);
    it->records_left = count;
    it->rec = b + BATCH_HEADER;
    it->rec_len = total - BATCH_HEADER;
    it->rec_pos = 0;
    it->pos += total;
    /* the next fetch starts after this batch's last offset, whatever its records say ([EDGE-8.1]) */
    it->next_offset = base + (uint64_t)last_delta + 1u;
    return 1;
}

/* Reads a Kafka length (zigzag, -1 = null) and the bytes it names. */
static int nullable(te_r *r, const uint8_t **p, size_t *len) {
    int64_t n = te_r_z(r);
    *p = NULL;
    *len = 0;
    if (r->err || n < -1) return -1;
    if (n == -1) return 0;
    if ((uint64_t)n > r->len - r->pos) return -1;
    *p = r->p + r->pos;
    *len = (size_t)n;
    r->pos += (size_t)n;
    return 0;
}

int te_batch_next(te_batch_iter *it, te_record_in *out) {
    if (it->err) return it->err;
    for (;;) {
        te_r r, rec;
        int64_t length, ts_delta, off_delta, headers;
        int64_t h;
        if (it->records_left == 0) {
            int rc;
            /* a batch's records must fill it exactly */
            if (it->rec != NULL && it->rec_pos != it->rec_len) return fail(it, TE_ERR_MALFORMED);
            it->rec = NULL;
            rc = open_batch(it);
            if (rc <= 0) return rc;
            continue;
        }
        te_r_init(&r, it->rec + it->rec_pos, it->rec_len - it->rec_pos);
        length = te_r_z(&r);
        if (r.err || length < 1 || (uint64_t)length > r.len - r.pos) return fail(it, TE_ERR_MALFORMED);
        te_r_init(&rec, r.p + r.pos, (size_t)length);
        it->rec_pos += r.pos + (size_t)length;
        it->records_left--;
        (void)te_r_u8(&rec); /* attributes: unused in v2 records */
        ts_delta = te_r_z(&rec);
        off_delta = te_r_z(&rec);
        if (rec.err || off_delta < 0 || it->base_offset + (uint64_t)off_delta >= it->next_offset)
            return fail(it, TE_ERR_MALFORMED);
        if (nullable(&rec, &out->key, &out->key_len) < 0) return fail(it, TE_ERR_MALFORMED);
        if (nullable(&rec, &out->value, &out->value_len) < 0) return fail(it, TE_ERR_MALFORMED);
        headers = te_r_z(&rec);
        if (rec.err || headers < 0 || (uint64_t)headers > rec.len - rec.pos) return fail(it, TE_ERR_MALFORMED);
        out->headers = rec.p + rec.pos;
        for (h = 0; h < headers; h++) {
            const uint8_t *p;
            size_t n;
            int64_t klen = te_r_z(&rec);
            if (rec.err || klen < 0 || (uint64_t)klen > rec.len - rec.pos) return fail(it, TE_ERR_MALFORMED);
            if (!te_utf8_valid(rec.p + rec.pos, (size_t)klen)) return fail(it, TE_ERR_MALFORMED);
            rec.pos += (size_t)klen;
            if (nullable(&rec, &p, &n) < 0) return fail(it, TE_ERR_MALFORMED);
        }
        out->headers_len = (size_t)(rec.p + rec.pos - out->headers);
        out->header_count = (uint64_t)headers;
        if (te_r_end(&rec) != TE_OK) return fail(it, TE_ERR_MALFORMED);
        out->offset = it->base_offset + (uint64_t)off_delta;
        out->timestamp_ms = it->base_timestamp + ts_delta;
        if (out->offset >= it->min_offset) return 1;
    }
}
