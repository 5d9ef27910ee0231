/* C unit tests: the SPEC's hex examples against the C encoder and decoders, strictness of every
 * decoder, RecordBatch reading, and the ring's idempotent resend and persistence over a scripted
 * in-memory port. Built with AddressSanitizer and UBSan by `make test`. */
#include <stdio.h>
#include <string.h>

#include "spec_examples.h"
#include "tributary_edge.h"

static int failures, checks;
#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        checks++;                                                                                                      \
        if (!(cond)) {                                                                                                 \
            failures++;                                                                                                \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                                                     \
        }                                                                                                              \
    } while (0)

#define EXAMPLES (sizeof spec_examples / sizeof spec_examples[0])
static int example_checked[EXAMPLES];

static const struct spec_example *example(const char *name) {
    size_t i;
    for (i = 0; i < EXAMPLES; i++)
        if (strcmp(spec_examples[i].name, name) == 0) {
            example_checked[i] = 1;
            return &spec_examples[i];
        }
    printf("FAIL: the SPEC has no hex example %s\n", name);
    failures++;
    return &spec_examples[0];
}

static int same(const te_w *w, const char *name) {
    const struct spec_example *e = example(name);
    return !w->err && w->len == e->len && memcmp(w->buf, e->bytes, e->len) == 0;
}

/* Splits a SPEC example into type and body. */
static void body_of(const char *name, uint8_t *type, const uint8_t **body, size_t *len) {
    const struct spec_example *e = example(name);
    size_t frame_len = 0;
    CHECK(te_frame_split(e->bytes, e->len, 4096, type, body, len, &frame_len) == TE_OK);
    CHECK(frame_len == e->len);
}

static void test_varints(void) {
    static const struct {
        uint64_t v;
        const char *hex;
    } table[] = {{0, "\x00"}, {1, "\x01"}, {127, "\x7f"}, {128, "\x80\x01"}, {300, "\xac\x02"},
                 {16383, "\xff\x7f"}, {16384, "\x80\x80\x01"}, {1700000000000ULL, "\x80\xd0\x95\xff\xbc\x31"},
                 {TE_VARINT_MAX, "\xff\xff\xff\xff\xff\xff\xff\x0f"}};
    static const struct {
        int64_t v;
        uint64_t z;
    } zz[] = {{0, 0}, {-1, 1}, {1, 2}, {3, 6}, {-64, 127}, {64, 128}, {250, 500},
              {TE_ZIGZAG_MIN, TE_VARINT_MAX}, {TE_ZIGZAG_MAX, TE_VARINT_MAX - 1}};
    size_t i;
    uint8_t buf[16];
    uint64_t out;
    for (i = 0; i < sizeof table / sizeof table[0]; i++) {
        size_t n = te_write_uvarint(buf, table[i].v);
        size_t want = table[i].v == 0 ? 1 : strlen(table[i].hex);
        CHECK(n == want && memcmp(buf, table[i].hex, n) == 0);
        CHECK(te_read_uvarint(buf, n, &out) == (int)n && out == table[i].v);
        CHECK(te_read_uvarint(buf, n - 1, &out) == 0); /* needs more */
    }
    memcpy(buf, "\xff\xff\xff\xff\xff\xff\xff\x10", 8); /* 2^53: the 8th byte is 0x10 */
    CHECK(te_read_uvarint(buf, 8, &out) == -1);
    memcpy(buf, "\x80\x00", 2); /* non-minimal 0 is accepted */
    CHECK(te_read_uvarint(buf, 2, &out) == 2 && out == 0);
    for (i = 0; i < sizeof zz / sizeof zz[0]; i++) {
        CHECK(te_zigzag_encode(zz[i].v) == zz[i].z);
        CHECK(te_zigzag_decode(zz[i].z) == zz[i].v);
    }
    /* the whole int64 range round-trips without implementation-defined shifts */
    CHECK(te_zigzag_encode(INT64_MIN) == UINT64_MAX && te_zigzag_decode(UINT64_MAX) == INT64_MIN);
    CHECK(te_zigzag_encode(INT64_MAX) == UINT64_MAX - 1 && te_zigzag_decode(UINT64_MAX - 1) == INT64_MAX);
    {
        te_w w;
        te_w_init(&w, buf, sizeof buf);
        te_w_v(&w, TE_VARINT_MAX + 1);
        CHECK(w.err); /* never sent above 2^53-1 */
        te_w_init(&w, buf, sizeof buf);
        te_w_z(&w, TE_ZIGZAG_MAX + 1);
        CHECK(w.err);
    }
}

static void test_crc_utf8(void) {
    CHECK(te_crc32c(0, (const uint8_t *)"123456789", 9) == 0xe3069283u); /* the CRC-32C check value */
    CHECK(te_crc32c(te_crc32c(0, (const uint8_t *)"1234", 4), (const uint8_t *)"56789", 5) == 0xe3069283u);
    CHECK(te_utf8_valid((const uint8_t *)"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14));
    CHECK(te_utf8_valid((const uint8_t *)"\xef\xbb\xbf", 3)); /* a BOM is a character */
    CHECK(!te_utf8_valid((const uint8_t *)"\xc0\x80", 2));     /* overlong */
    CHECK(!te_utf8_valid((const uint8_t *)"\xe0\x80\x80", 3)); /* overlong */
    CHECK(!te_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3)); /* surrogate */
    CHECK(!te_utf8_valid((const uint8_t *)"\xe2\x82", 2));     /* truncated */
    CHECK(!te_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    CHECK(!te_utf8_valid((const uint8_t *)"\x80", 1));
}

static void test_encoders(void) {
    uint8_t buf[256];
    te_w w;
    te_record_out recs[2];
    te_header unit = {"unit", 4, (const uint8_t *)"C", 1};

    te_w_init(&w, buf, sizeof buf);
    CHECK(te_enc_hello(&w, 1, TE_HELLO_IDEMPOTENT, 30000, 65536, "gw-7", 4, (const uint8_t *)"s3cret", 6) == TE_OK);
    CHECK(same(&w, "hello"));

    te_w_init(&w, buf, sizeof buf);
    CHECK(te_enc_register(&w, 1, 0, TE_REGISTER_CREATE, "telemetry", 9) == TE_OK);
    CHECK(same(&w, "register"));

    memset(recs, 0, sizeof recs);
    recs[0].value = (const uint8_t *)"hello";
    recs[0].value_len = 5;
    te_w_init(&w, buf, sizeof buf);
    CHECK(te_enc_produce_begin(&w, 1, 0, -1, 1, 1700000000000ULL, 1) == TE_OK);
    CHECK(te_enc_record(&w, &recs[0]) == TE_OK);
    CHECK(te_enc_end(&w) == TE_OK);
    CHECK(same(&w, "produce"));

    memset(recs, 0, sizeof recs);
    recs[0].key = (const uint8_t *)"k1";
    recs[0].key_len = 2;
    recs[0].value = (const uint8_t *)"21.5";
    recs[0].value_len = 4;
    recs[1].value = (const uint8_t *)"21.7";
    recs[1].value_len = 4;
    recs[1].timestamp_delta_ms = 250;
    recs[1].headers = &unit;
    recs[1].header_count = 1;
    te_w_init(&w, buf, sizeof buf);
    CHECK(te_enc_produce_begin(&w, 2, 0, 3, 2, 1700000000000ULL, 2) == TE_OK);
    CHECK(te_enc_record(&w, &recs[0]) == TE_OK);
    CHECK(te_enc_record(&w, &recs[1]) == TE_OK);
    CHECK(te_enc_end(&w) == TE_OK);
    CHECK(same(&w, "produce-keyed"));

    /* a frame that does not fit the buffer is refused, never written past it */
    te_w_init(&w, buf, 10);
    CHECK(te_enc_register(&w, 1, 0, TE_REGISTER_CREATE, "telemetry", 9) == TE_ERR_TOO_LARGE);
    /* seq 0 and acks 3 are refused by the encoder */
    te_w_init(&w, buf, sizeof buf);
    CHECK(te_enc_produce_begin(&w, 0, 0, -1, 1, 0, 1) == TE_ERR_ARG);
    CHECK(te_enc_produce_begin(&w, 1, 0, -1, 3, 0, 1) == TE_ERR_ARG);
    /* a 200-byte body needs a 2-byte length: the frame moves down to the minimal prefix */
    {
        static uint8_t big[400];
        uint8_t type;
        const uint8_t *body;
        size_t blen, flen;
        te_w_init(&w, big, sizeof big);
        memset(recs, 0, sizeof recs);
        recs[0].value = big + 300; /* any bytes */
        recs[0].value_len = 90;
        te_enc_produce_begin(&w, 1, 0, -1, 1, 0, 2);
        te_enc_record(&w, &recs[0]);
        te_enc_record(&w, &recs[0]);
        CHECK(te_enc_end(&w) == TE_OK);
        CHECK(te_frame_split(big, w.len, 4096, &type, &body, &blen, &flen) == TE_OK && flen == w.len && big[1] == 0x01);
    }
}

static int collect_ack(void *ctx, const te_ack_entry *e) {
    te_ack_entry *out = (te_ack_entry *)ctx;
    while (out->seq != 0) out++;
    *out = *e;
    return TE_OK;
}

static void test_decoders(void) {
    uint8_t type;
    const uint8_t *body;
    size_t len, cut;
    te_ack_entry acks[4];
    te_error err;
    uint8_t buf[64];

    body_of("ack", &type, &body, &len);
    CHECK(type == TE_ACK);
    memset(acks, 0, sizeof acks);
    CHECK(te_dec_ack(body, len, collect_ack, acks) == TE_OK);
    CHECK(acks[0].seq == 1 && acks[0].partition == 0 && acks[0].base_offset == 42 && acks[0].flags == 0);
    CHECK(acks[1].seq == 0);

    body_of("ack-cumulative", &type, &body, &len);
    memset(acks, 0, sizeof acks);
    CHECK(te_dec_ack(body, len, collect_ack, acks) == TE_OK);
    CHECK(acks[0].seq == 2 && acks[0].partition == 3 && acks[0].base_offset == 1000 && acks[0].flags == 0);
    CHECK(acks[1].seq == 5 && acks[1].partition == 0 && acks[1].base_offset == 0 && acks[1].flags == TE_ACK_DUPLICATE);
    for (cut = 0; cut < len; cut++) CHECK(te_dec_ack(body, cut, NULL, NULL) == TE_ERR_MALFORMED);

    {
        te_out_of_range o;
        uint8_t bad[16];
        body_of("out-of-range", &type, &body, &len);
        CHECK(type == TE_OUT_OF_RANGE);
        CHECK(te_dec_out_of_range(body, len, &o) == TE_OK);
        CHECK(o.corr == 9 && o.partition == 0 && o.offset == 3 && o.side == TE_SIDE_BELOW && o.log_start_offset == 120 &&
              o.next_offset == 342);
        for (cut = 0; cut < len; cut++) CHECK(te_dec_out_of_range(body, cut, &o) == TE_ERR_MALFORMED);
        CHECK(len <= sizeof bad);
        memcpy(bad, body, len);
        bad[3] = 2; /* a side other than 0 or 1 */
        CHECK(te_dec_out_of_range(bad, len, &o) == TE_ERR_MALFORMED);
    }

    body_of("error", &type, &body, &len);
    CHECK(type == TE_ERROR);
    CHECK(te_dec_error(body, len, &err) == TE_OK);
    CHECK(err.ref_kind == TE_REF_REQUEST && err.ref == 7 && err.code == TE_CODE_UNKNOWN_TOPIC);
    CHECK(err.message_len == 10 && memcmp(err.message, "no topic x", 10) == 0);
    CHECK(strcmp(te_code_name(err.code), "UNKNOWN_TOPIC") == 0 && strcmp(te_code_name(999), "UNKNOWN") == 0);
    for (cut = 0; cut < len; cut++) CHECK(te_dec_error(body, cut, &err) == TE_ERR_MALFORMED);
    memcpy(buf, body, len);
    buf[0] = 3; /* refKind 3 does not exist */
    CHECK(te_dec_error(buf, len, &err) == TE_ERR_MALFORMED);
    memcpy(buf, body, len);
    buf[4] = 0xff; /* invalid UTF-8 in the message */
    CHECK(te_dec_error(buf, len, &err) == TE_ERR_MALFORMED);
    memcpy(buf, body, len);
    buf[len] = 0; /* a trailing byte */
    CHECK(te_dec_error(buf, len + 1, &err) == TE_ERR_MALFORMED);

    /* every SPEC example: split whole, and "need more" for every prefix, never reading past it */
    {
        size_t i;
        for (i = 0; i < sizeof spec_examples / sizeof spec_examples[0]; i++) {
            const struct spec_example *e = &spec_examples[i];
            size_t frame_len = 0;
            CHECK(te_frame_split(e->bytes, e->len, 4096, &type, &body, &len, &frame_len) == TE_OK && frame_len == e->len);
            for (cut = 0; cut < e->len; cut++)
                CHECK(te_frame_split(e->bytes, cut, 4096, &type, &body, &len, &frame_len) == 1);
            /* a limit below the length: too large as soon as the length is read */
            CHECK(te_frame_split(e->bytes, 1, e->bytes[0] - 1u, &type, &body, &len, &frame_len) == TE_ERR_TOO_LARGE);
        }
    }
    {
        size_t frame_len;
        static const uint8_t zero_len[] = {0x00};
        static const uint8_t padded[] = {0x85, 0x80, 0x00, 0x0f, 0x01, 0x02, 0x03, 0x04}; /* [EDGE-2.1] */
        static const uint8_t long_len[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x10};
        CHECK(te_frame_split(zero_len, 1, 4096, &type, &body, &len, &frame_len) == TE_ERR_MALFORMED);
        CHECK(te_frame_split(padded, sizeof padded, 4096, &type, &body, &len, &frame_len) == TE_OK && type == 0x0f &&
              len == 4 && frame_len == 8);
        CHECK(te_frame_split(long_len, sizeof long_len, 4096, &type, &body, &len, &frame_len) == TE_ERR_MALFORMED);
    }
    {
        /* ACK strictness: count 0, seqDelta 0, a reserved flag bit */
        static const uint8_t count0[] = {0x00, 0x01};
        static const uint8_t delta0[] = {0x02, 0x02, 0x03, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00};
        static const uint8_t flag2[] = {0x01, 0x01, 0x00, 0x2a, 0x02};
        CHECK(te_dec_ack(count0, sizeof count0, NULL, NULL) == TE_ERR_MALFORMED);
        CHECK(te_dec_ack(delta0, sizeof delta0, NULL, NULL) == TE_ERR_MALFORMED);
        CHECK(te_dec_ack(flag2, sizeof flag2, NULL, NULL) == TE_ERR_MALFORMED);
    }
    {
        /* METADATA_RESULT: corr 3, topic "t" retention -1/-1, 2 partitions; a count beyond the bytes */
        static const uint8_t meta[] = {0x03, 0x01, 0x01, 't', 0x01, 0x01, 0x02, 0x00, 0x00, 0x05, 0x01, 0x02, 0x07};
        static const uint8_t huge[] = {0x03, 0x7f};
        uint64_t corr = 0;
        CHECK(te_dec_metadata(meta, sizeof meta, &corr, NULL, NULL) == TE_OK && corr == 3);
        for (cut = 0; cut < sizeof meta; cut++) CHECK(te_dec_metadata(meta, cut, &corr, NULL, NULL) == TE_ERR_MALFORMED);
        CHECK(te_dec_metadata(huge, sizeof huge, &corr, NULL, NULL) == TE_ERR_MALFORMED);
    }
    {
        te_welcome wel;
        te_records recs;
        static const uint8_t welcome[] = {0x01, 0xb0, 0xea, 0x01, 0x80, 0x80, 0x04, 0x05};
        static const uint8_t records[] = {0x09, 0x00, 0x00, 0x05, 0x02, 0xaa, 0xbb};
        CHECK(te_dec_welcome(welcome, sizeof welcome, &wel) == TE_OK && wel.version == 1 && wel.keepalive_ms == 30000 &&
              wel.frame_bytes_max == 65536 && wel.last_seq == 5);
        CHECK(te_dec_records(records, sizeof records, &recs) == TE_OK && recs.corr == 9 && recs.next_offset == 5 &&
              recs.batches_len == 2 && recs.batches == records + 5);
        for (cut = 0; cut < sizeof records; cut++) CHECK(te_dec_records(records, cut, &recs) == TE_ERR_MALFORMED);
    }
}

/* ---- RecordBatch ---- */

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v) {
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

/* A batch at base offset 10 with 3 records "a", "bb" (key "k"), null; returns its size. */
static size_t make_batch(uint8_t *b) {
    size_t n = 61;
    int i;
    memset(b, 0, 61);
    put64(b, 10);
    b[16] = 2;
    put32(b + 23, 2);                  /* lastOffsetDelta */
    put64(b + 27, 1700000000000ULL);   /* baseTimestamp */
    put64(b + 35, 1700000000002ULL);   /* maxTimestamp */
    put64(b + 43, UINT64_MAX);         /* producerId -1 */
    b[51] = b[52] = 0xff;              /* producerEpoch -1 */
    put32(b + 53, 0xffffffffu);        /* baseSequence -1 */
    put32(b + 57, 3);
    for (i = 0; i < 3; i++) {
        uint8_t rec[16];
        size_t r = 0;
        rec[r++] = 0;                                  /* attributes */
        rec[r++] = (uint8_t)te_zigzag_encode(i);       /* timestampDelta */
        rec[r++] = (uint8_t)te_zigzag_encode(i);       /* offsetDelta */
        if (i == 1) { rec[r++] = 2; rec[r++] = 'k'; }  /* key "k" */
        else rec[r++] = 1;                             /* key null (-1) */
        if (i == 0) { rec[r++] = 2; rec[r++] = 'a'; }
        else if (i == 1) { rec[r++] = 4; rec[r++] = 'b'; rec[r++] = 'b'; }
        else rec[r++] = 1;                             /* value null */
        rec[r++] = 0;                                  /* headers */
        b[n++] = (uint8_t)te_zigzag_encode((int64_t)r);
        memcpy(b + n, rec, r);
        n += r;
    }
    put32(b + 8, (uint32_t)(n - 12));
    put32(b + 17, te_crc32c(0, b + 21, n - 21));
    return n;
}

static int count_records(const uint8_t *b, size_t len, uint64_t from, uint64_t *first, int *rc) {
    te_batch_iter it;
    te_record_in rec;
    int n = 0, r;
    te_batch_iter_init(&it, b, len, from);
    while ((r = te_batch_next(&it, &rec)) == 1) {
        if (n == 0) *first = rec.offset;
        n++;
    }
    *rc = r;
    return n;
}

static void test_batches(void) {
    uint8_t b[256], two[512];
    size_t n = make_batch(b), cut;
    te_batch_iter it;
    te_record_in rec;
    uint64_t first = 0;
    int rc;

    te_batch_iter_init(&it, b, n, 0);
    CHECK(te_batch_next(&it, &rec) == 1 && rec.offset == 10 && rec.timestamp_ms == 1700000000000LL &&
          rec.key == NULL && rec.value_len == 1 && rec.value[0] == 'a' && rec.header_count == 0);
    CHECK(te_batch_next(&it, &rec) == 1 && rec.offset == 11 && rec.key_len == 1 && rec.key[0] == 'k' &&
          rec.value_len == 2 && rec.timestamp_ms == 1700000000001LL);
    CHECK(te_batch_next(&it, &rec) == 1 && rec.offset == 12 && rec.value == NULL);
    CHECK(te_batch_next(&it, &rec) == 0 && it.next_offset == 13);

    /* records below the fetch offset are skipped ([EDGE-8.1]) */
    CHECK(count_records(b, n, 12, &first, &rc) == 1 && first == 12 && rc == 0);
    /* two batches back to back */
    memcpy(two, b, n);
    memcpy(two + n, b, n);
    CHECK(count_records(two, 2 * n, 0, &first, &rc) == 6 && rc == 0);
    /* every truncation is malformed, never a read past the end (ASan watches) */
    for (cut = 1; cut < n; cut++) CHECK(count_records(b, cut, 0, &first, &rc) == 0 && rc == TE_ERR_MALFORMED);
    /* a flipped byte anywhere from 21 on fails the CRC */
    for (cut = 21; cut < n; cut++) {
        b[cut] ^= 0x40;
        CHECK(count_records(b, n, 0, &first, &rc) == 0 && rc == TE_ERR_CRC);
        b[cut] ^= 0x40;
    }
    /* a compressed batch is reported, not misread */
    b[22] = 1;
    put32(b + 17, te_crc32c(0, b + 21, n - 21));
    CHECK(count_records(b, n, 0, &first, &rc) == 0 && rc == TE_ERR_UNSUPPORTED);
    b[22] = 0;
    /* a record count above what the batch holds */
    put32(b + 57, 4);
    put32(b + 17, te_crc32c(0, b + 21, n - 21));
    CHECK(count_records(b, n, 0, &first, &rc) == 3 && rc == TE_ERR_MALFORMED);
    /* magic 1 */
    n = make_batch(b);
    b[16] = 1;
    CHECK(count_records(b, n, 0, &first, &rc) == 0 && rc == TE_ERR_MALFORMED);
}

/* ---- a scripted in-memory port ---- */
typedef struct fake {
    uint8_t in[2048]; /* bytes the "broker" sends */
    size_t in_len, in_pos;
    uint8_t out[4096]; /* bytes the client sent */
    size_t out_len;
    int open, connects;
    uint32_t clock;
    uint8_t store[8192];
    long store_len;
} fake;

static int f_connect(void *ctx, uint32_t t) {
    fake *f = (fake *)ctx;
    (void)t;
    f->open = 1;
    f->connects++;
    f->out_len = 0;
    return 0;
}
static int f_send(void *ctx, const uint8_t *b, size_t n, uint32_t t) {
    fake *f = (fake *)ctx;
    (void)t;
    if (!f->open || f->out_len + n > sizeof f->out) return -1;
    memcpy(f->out + f->out_len, b, n);
    f->out_len += n;
    return 0;
}
static long f_recv(void *ctx, uint8_t *b, size_t cap, uint32_t t) {
    fake *f = (fake *)ctx;
    size_t n = f->in_len - f->in_pos;
    if (!f->open) return -1;
    if (n == 0) {
        f->clock += t; /* time passes instead of waiting */
        return 0;
    }
    if (n > cap) n = cap;
    if (n > 3) n = 3; /* arrive in pieces */
    memcpy(b, f->in + f->in_pos, n);
    f->in_pos += n;
    return (long)n;
}
static void f_close(void *ctx) {
    ((fake *)ctx)->open = 0;
}
static uint32_t f_millis(void *ctx) {
    return ((fake *)ctx)->clock;
}
static long f_load(void *ctx, uint8_t *b, size_t cap) {
    fake *f = (fake *)ctx;
    if ((size_t)f->store_len > cap) return -1;
    memcpy(b, f->store, (size_t)f->store_len);
    return f->store_len;
}
static int f_save(void *ctx, const uint8_t *b, size_t n) {
    fake *f = (fake *)ctx;
    if (n > sizeof f->store) return -1;
    memcpy(f->store, b, n);
    f->store_len = (long)n;
    return 0;
}

static void script(fake *f, const uint8_t *bytes, size_t n) {
    memcpy(f->in + f->in_len, bytes, n);
    f->in_len += n;
}

static void welcome(fake *f, uint8_t last_seq) {
    const uint8_t w[] = {0x07, TE_WELCOME, 0x01, 0xe8, 0x07, 0x80, 0x02, last_seq}; /* keepalive 1000, 256 B */
    f->in_len = f->in_pos = 0;
    script(f, w, sizeof w);
}

static void registered(fake *f, uint8_t corr) {
    const uint8_t r[] = {0x04, TE_REGISTERED, corr, 0x00, 0x01};
    script(f, r, sizeof r);
}

/* The PRODUCE frames in f->out, after HELLO and REGISTER: copies them into frames[]. */
static size_t produce_frames(const fake *f, uint8_t frames[][64], size_t *lens, size_t max) {
    size_t pos = 0, n = 0;
    while (pos < f->out_len) {
        uint8_t type;
        const uint8_t *body;
        size_t blen, flen;
        if (te_frame_split(f->out + pos, f->out_len - pos, 4096, &type, &body, &blen, &flen) != TE_OK) break;
        if (type == TE_PRODUCE && n < max && flen <= 64) {
            memcpy(frames[n], f->out + pos, flen);
            lens[n++] = flen;
        }
        pos += flen;
    }
    return n;
}

static void test_ring(void) {
    static fake f;
    static te_slot slots[8], slots2[8];
    static uint8_t rx[300], tx[300], scratch[1024];
    te_port port = {&f, f_connect, f_send, f_recv, f_close, f_millis, f_load, f_save};
    te_client c;
    te_ring r, r2;
    te_hello_opts hello;
    uint8_t first[4][64], again[4][64];
    size_t first_len[4], again_len[4];
    const uint8_t ack1[] = {0x06, TE_ACK, 0x01, 0x01, 0x00, 0x00, 0x00};
    const uint8_t err2[] = {0x05, TE_ERROR, 0x02, 0x02, 0x11, 0x00}; /* produce seq 2: THROTTLED */
    int i;

    memset(&f, 0, sizeof f);
    memset(&hello, 0, sizeof hello);
    hello.client_id = "dev-1";
    hello.client_id_len = 5;
    hello.flags = TE_HELLO_IDEMPOTENT;
    hello.timeout_ms = 1000;
    CHECK(te_client_init(&c, &port, rx, sizeof rx, tx, sizeof tx) == TE_OK);
    CHECK(te_ring_init(&r, slots, 8, &port, scratch, sizeof scratch) == TE_OK);
    te_ring_target(&r, 0, -1, 1, 2, 4);
    for (i = 0; i < 5; i++) CHECK(te_ring_push(&r, (const uint8_t *)"reading-0123456789xx", 20, 0) == TE_OK);

    /* connect: WELCOME lastSeq 0; 5 readings go as frames of 2, 2, 1 (seq 1, 2, 3) */
    welcome(&f, 0);
    registered(&f, 1);
    CHECK(te_client_connect(&c, &hello) == TE_OK && c.frame_bytes_max == 256 && c.keepalive_ms == 1000);
    CHECK(te_client_register(&c, 0, "t", 1, NULL, 1000) == TE_OK);
    CHECK(te_ring_connected(&r, &c) == TE_OK);
    CHECK(te_ring_service(&r, &c, 10) == TE_OK);
    CHECK(produce_frames(&f, first, first_len, 4) == 3 && r.in_flight == 3 && r.next_seq == 4);
    CHECK(first[0][2] == 1 && first[1][2] == 2 && first[2][2] == 3); /* seq */

    /* the link drops; WELCOME says seq 1 is stored: its readings leave the ring, 2 and 3 are resent
     * byte for byte and in order */
    te_client_close(&c);
    welcome(&f, 1);
    registered(&f, 2);
    CHECK(te_client_connect(&c, &hello) == TE_OK && c.last_seq == 1);
    CHECK(te_client_register(&c, 0, "t", 1, NULL, 1000) == TE_OK);
    CHECK(te_ring_connected(&r, &c) == TE_OK && te_ring_count(&r) == 3 && r.acked_total == 2);
    CHECK(te_ring_service(&r, &c, 10) == TE_OK);
    CHECK(produce_frames(&f, again, again_len, 4) == 2);
    CHECK(again_len[0] == first_len[1] && memcmp(again[0], first[1], first_len[1]) == 0);
    CHECK(again_len[1] == first_len[2] && memcmp(again[1], first[2], first_len[2]) == 0);

    /* a device reboot now: a new ring loads 3 pending readings and next_seq 4 */
    CHECK(te_ring_init(&r2, slots2, 8, &port, scratch, sizeof scratch) == TE_OK);
    CHECK(te_ring_count(&r2) == 3 && r2.next_seq == 4 && slots2[0].seq == 2 && slots2[2].seq == 3);

    /* seq 2 refused with THROTTLED: its readings go again under seq 4 */
    f.in_len = f.in_pos = 0;
    script(&f, err2, sizeof err2);
    f.out_len = 0;
    CHECK(te_ring_service(&r, &c, 10) == TE_ERR_SERVER && c.error.code == TE_CODE_THROTTLED);
    CHECK(te_ring_service(&r, &c, 10) == TE_OK);
    CHECK(produce_frames(&f, again, again_len, 4) == 1 && again[0][2] == 4 && r.next_seq == 5);
    /* an ACK for an already-confirmed seq changes nothing */
    f.in_len = f.in_pos = 0;
    script(&f, ack1, sizeof ack1);
    CHECK(te_ring_service(&r, &c, 10) == TE_OK && te_ring_count(&r) == 3);

    /* a corrupt stored state is refused, not half-loaded */
    f.store[30] ^= 1;
    CHECK(te_ring_init(&r2, slots2, 8, &port, scratch, sizeof scratch) == TE_ERR_MALFORMED && te_ring_count(&r2) == 0);
    for (i = 0; i < 60; i++) { /* and so is every truncation */
        f.store[30] ^= 1;
        f.store_len = i;
        CHECK(te_ring_init(&r2, slots2, 8, &port, scratch, sizeof scratch) == (i == 0 ? TE_OK : TE_ERR_MALFORMED));
        f.store[30] ^= 1;
    }

    /* a small send buffer beside a large receive buffer: HELLO proposes what rx holds, and frames
     * stay within the send buffer (ASan watches it) and the negotiated frameBytesMax */
    {
        static uint8_t big_rx[600], small_tx[280];
        static const uint8_t welcome512[] = {0x07, TE_WELCOME, 0x01, 0xe8, 0x07, 0x80, 0x04, 0x00};
        size_t pos = 0, frames = 0;
        te_client_close(&c);
        CHECK(te_client_init(&c, &port, big_rx, sizeof big_rx, small_tx, sizeof small_tx) == TE_OK);
        CHECK(te_ring_init(&r2, slots2, 8, NULL, NULL, 0) == TE_OK);
        te_ring_target(&r2, 0, -1, 1, 100, 8);
        for (i = 0; i < 8; i++) te_ring_push(&r2, (const uint8_t *)"reading-0123456789xx-0123456789x", 32, 0);
        f.in_len = f.in_pos = 0;
        script(&f, welcome512, sizeof welcome512);
        CHECK(te_client_connect(&c, &hello) == TE_OK && c.frame_bytes_max == 512 && te_ring_connected(&r2, &c) == TE_OK);
        CHECK(f.out[5] == 0xd0 && f.out[6] == 0x04); /* HELLO proposed 592 = 600 - 8 */
        f.out_len = 0;
        CHECK(te_ring_service(&r2, &c, 10) == TE_OK);
        while (pos < f.out_len) {
            uint8_t type;
            const uint8_t *body;
            size_t blen, flen;
            if (te_frame_split(f.out + pos, f.out_len - pos, sizeof small_tx - 4, &type, &body, &blen, &flen) != TE_OK) {
                failures++;
                break;
            }
            frames++;
            pos += flen;
        }
        CHECK(frames >= 2 && r2.in_flight == frames);
    }
    /* an idempotent client needs a clientId */
    hello.client_id_len = 0;
    CHECK(te_client_connect(&c, &hello) == TE_ERR_ARG);
    /* the ring refuses more than it holds */
    CHECK(te_ring_init(&r2, slots2, 2, NULL, NULL, 0) == TE_OK);
    CHECK(te_ring_push(&r2, (const uint8_t *)"a", 1, 0) == TE_OK && te_ring_push(&r2, (const uint8_t *)"b", 1, 0) == TE_OK);
    CHECK(te_ring_push(&r2, (const uint8_t *)"c", 1, 0) == TE_ERR_FULL);
}

static void test_keepalive(void) {
    static fake f;
    static uint8_t rx[300], tx[300];
    te_port port = {&f, f_connect, f_send, f_recv, f_close, f_millis, NULL, NULL};
    te_client c;
    te_hello_opts hello;
    uint8_t type;
    const uint8_t *body;
    size_t len;
    memset(&f, 0, sizeof f);
    memset(&hello, 0, sizeof hello);
    hello.client_id = "k";
    hello.client_id_len = 1;
    hello.timeout_ms = 100;
    te_client_init(&c, &port, rx, sizeof rx, tx, sizeof tx);
    welcome(&f, 0);
    CHECK(te_client_connect(&c, &hello) == TE_OK);
    f.out_len = 0;
    f.clock += 600; /* half the keepalive without sending: PING */
    CHECK(te_client_tick(&c) == TE_OK && f.out_len == 3 && f.out[1] == TE_PING);
    f.clock += 2000; /* no PONG for 2 x keepalive: dead */
    CHECK(te_client_tick(&c) == TE_ERR_TIMEOUT);
    /* an unknown frame type, or a version 2 type on a version 1 connection, is malformed */
    {
        static const uint8_t joined[] = {0x02, TE_JOINED, 0x00};
        static const uint8_t ack_from_client[] = {0x02, TE_PRODUCE, 0x00};
        f.in_len = f.in_pos = 0;
        script(&f, joined, sizeof joined);
        CHECK(te_client_read(&c, 10, &type, &body, &len) == TE_ERR_MALFORMED);
        f.in_len = f.in_pos = 0;
        c.rx_len = c.rx_frame = 0;
        script(&f, ack_from_client, sizeof ack_from_client);
        CHECK(te_client_read(&c, 10, &type, &body, &len) == TE_ERR_MALFORMED);
        f.in_len = f.in_pos = 0;
        c.rx_len = c.rx_frame = 0;
    }
    /* a frame above the negotiated limit is refused as soon as its length is read */
    {
        static const uint8_t big[] = {0x81, 0x02}; /* length 257 > 256 */
        script(&f, big, sizeof big);
        CHECK(te_client_read(&c, 10, &type, &body, &len) == TE_ERR_TOO_LARGE);
    }
}


/* ---- a bounded, seeded mutation loop over every decoder (ASan/UBSan catch any stray read) ---- */
static uint32_t lcg = 12345u;
static uint32_t rnd(uint32_t n) {
    lcg = lcg * 1664525u + 1013904223u;
    return (lcg >> 8) % n;
}

static int ignore_ack(void *ctx, const te_ack_entry *e) {
    (void)ctx;
    (void)e;
    return TE_OK;
}
static int ignore_meta(void *ctx, const te_meta_partition *m) {
    (void)ctx;
    (void)m;
    return TE_OK;
}

static int decode_any(const uint8_t *p, size_t n) {
    uint8_t type;
    const uint8_t *body;
    size_t len, frame_len;
    te_welcome wel;
    te_registered reg;
    te_records recs;
    te_error err;
    uint64_t corr;
    te_batch_iter it;
    te_record_in rec;
    int guard = 0;
    if (te_frame_split(p, n, 4096, &type, &body, &len, &frame_len) != TE_OK) return 0;
    (void)te_dec_welcome(body, len, &wel);
    (void)te_dec_registered(body, len, &reg);
    (void)te_dec_ack(body, len, ignore_ack, NULL);
    (void)te_dec_error(body, len, &err);
    (void)te_dec_corr(body, len, &corr);
    (void)te_dec_metadata(body, len, &corr, ignore_meta, NULL);
    (void)te_dec_offsets(body, len, &corr, NULL, NULL);
    (void)te_dec_produced(body, len, &corr, NULL, NULL);
    {
        te_joined j;
        if (te_dec_joined(body, len, &j) == TE_OK) (void)te_assignment_each(&j, NULL, NULL);
    }
    if (te_dec_records(body, len, &recs) == TE_OK) {
        te_batch_iter_init(&it, recs.batches, recs.batches_len, 0);
        while (te_batch_next(&it, &rec) == 1 && guard < 100000) guard++;
    }
    return guard;
}

static void test_mutations(void) {
    static uint8_t buf[600], batch[256];
    size_t i, k, blen = make_batch(batch);
    long iterations = 0;
    for (i = 0; i < sizeof spec_examples / sizeof spec_examples[0] + 1; i++) {
        const uint8_t *seed;
        size_t seed_len;
        int round;
        if (i < sizeof spec_examples / sizeof spec_examples[0]) {
            seed = spec_examples[i].bytes;
            seed_len = spec_examples[i].len;
        } else { /* a RECORDS frame around the test batch */
            static uint8_t recs[300];
            recs[0] = 0x81;
            recs[1] = 0x00; /* length patched below */
            recs[2] = TE_RECORDS;
            recs[3] = 1;
            recs[4] = 0;
            recs[5] = 0;
            recs[6] = 13;
            recs[7] = (uint8_t)(0x80u | (blen & 0x7fu));
            recs[8] = (uint8_t)(blen >> 7);
            memcpy(recs + 9, batch, blen);
            recs[0] = (uint8_t)(0x80u | ((blen + 7u) & 0x7fu));
            recs[1] = (uint8_t)((blen + 7u) >> 7);
            seed = recs;
            seed_len = blen + 9u;
            CHECK(decode_any(seed, seed_len) == 3); /* the seed itself is valid */
        }
        for (round = 0; round < 3000; round++) {
            size_t n = seed_len, flips = 1 + rnd(4);
            memcpy(buf, seed, seed_len);
            for (k = 0; k < flips; k++) {
                switch (rnd(4)) {
                case 0: buf[rnd((uint32_t)n)] ^= (uint8_t)(1u << rnd(8)); break;
                case 1: buf[rnd((uint32_t)n)] = (uint8_t)rnd(256); break;
                case 2: if (n > 1) n = 1 + rnd((uint32_t)n - 1u); break; /* truncate */
                default: buf[rnd((uint32_t)n)] = (uint8_t)(rnd(2) ? 0xff : 0x00); break;
                }
            }
            /* decode from a copy of exactly n bytes at the end of its own buffer, so ASan sees any overread */
            {
                static uint8_t exact[600];
                memcpy(exact + sizeof exact - n, buf, n);
                (void)decode_any(exact + sizeof exact - n, n);
            }
            iterations++;
        }
    }
    CHECK(iterations > 0);
}

/* Mutated server streams into a connected client and its ring: whatever arrives, the client
 * either handles it or reports an error; it never reads or writes outside its buffers. */
static void test_stream_mutations(void) {
    static fake f;
    static te_slot slots[8];
    static uint8_t rx[300], tx[300];
    static const uint8_t stream[] = {
        0x06, TE_ACK, 0x01, 0x01, 0x00, 0x2a, 0x00,                   /* ACK seq 1 */
        0x05, TE_ERROR, 0x02, 0x02, 0x11, 0x00,                      /* produce ERROR seq 2 */
        0x02, TE_PONG, 0x05,                                          /* PONG */
        0x0b, 0x06, 0x02, 0x02, 0x03, 0xe8, 0x07, 0x00, 0x03, 0x00, 0x00, 0x01, /* cumulative ACK */
        0x04, TE_OK_FRAME, 0x07, 0x00, 0x00};                        /* OK with trailing bytes */
    te_port port = {&f, f_connect, f_send, f_recv, f_close, f_millis, NULL, NULL};
    te_client c;
    te_ring r;
    te_hello_opts hello;
    int round, i, negatives = 0;
    memset(&hello, 0, sizeof hello);
    hello.client_id = "fuzz";
    hello.client_id_len = 4;
    hello.flags = TE_HELLO_IDEMPOTENT;
    hello.timeout_ms = 100;
    for (round = 0; round < 2000; round++) {
        size_t k, flips = 1 + rnd(6);
        memset(&f, 0, sizeof f);
        te_client_init(&c, &port, rx, sizeof rx, tx, sizeof tx);
        te_ring_init(&r, slots, 8, NULL, NULL, 0);
        te_ring_target(&r, 0, -1, 1, 2, 4);
        for (i = 0; i < 6; i++) te_ring_push(&r, (const uint8_t *)"0123456789", 10, 0);
        welcome(&f, 0);
        if (te_client_connect(&c, &hello) != TE_OK || te_ring_connected(&r, &c) != TE_OK) {
            failures++;
            return;
        }
        f.in_len = f.in_pos = 0;
        script(&f, stream, sizeof stream);
        for (k = 0; k < flips; k++) f.in[rnd((uint32_t)f.in_len)] = (uint8_t)rnd(256);
        for (i = 0; i < 20 && c.connected; i++) {
            int rc = te_ring_service(&r, &c, 10);
            if (rc != TE_OK && rc != TE_ERR_SERVER) {
                negatives++;
                break;
            }
        }
        CHECK(te_ring_count(&r) <= 6 && r.in_flight <= 4);
    }
    CHECK(negatives > 0); /* some mutants were refused as malformed */
}

#define S(lit) ((te_str){lit, sizeof lit - 1})

static int collect_assignment(void *ctx, te_str topic, uint64_t partition) {
    char *out = (char *)ctx;
    size_t n = strlen(out);
    snprintf(out + n, 64 - n, "%.*s:%u ", (int)topic.len, topic.p, (unsigned)partition);
    return TE_OK;
}

static int collect_produced(void *ctx, uint64_t partition, uint64_t base) {
    uint64_t *out = (uint64_t *)ctx;
    out[0] = partition;
    out[1] = base;
    return TE_OK;
}

static void test_groups(void) {
    uint8_t buf[256];
    te_w w;
    te_str topic = S("telemetry");
    te_offset_out off = {0, 0, 43, {"", 0}};
    te_offset_out off8 = {0, 2, 8, {"", 0}};
    te_record_out hot;
    uint8_t type;
    const uint8_t *body;
    size_t len, cut;
    te_joined j;
    char assigned[64] = "";
    uint64_t corr = 0, produced[2] = {9, 9};

    te_w_init(&w, buf, sizeof buf);
    CHECK(te_enc_join_group(&w, 2, S("dash"), S(""), S(""), 10000, 0, 0, S(""), &topic, 1) == TE_OK);
    CHECK(same(&w, "join-group"));
    te_w_init(&w, buf, sizeof buf);
    CHECK(te_enc_heartbeat(&w, 3, S("dash"), S("gw-7-0d9c"), 1) == TE_OK);
    CHECK(same(&w, "heartbeat"));
    te_w_init(&w, buf, sizeof buf);
    CHECK(te_enc_commit_offsets(&w, 4, S("dash"), S("gw-7-0d9c"), 1, &off, 1) == TE_OK);
    CHECK(same(&w, "commit-offsets"));
    memset(&hot, 0, sizeof hot);
    hot.value = (const uint8_t *)"hot";
    hot.value_len = 3;
    te_w_init(&w, buf, sizeof buf);
    CHECK(te_enc_produce_commit_begin(&w, 5, 0, S("dash"), S("gw-7-0d9c"), 1, 1) == TE_OK);
    CHECK(te_enc_pc_batch(&w, 1, -1, 0, 1) == TE_OK);
    CHECK(te_enc_record(&w, &hot) == TE_OK);
    CHECK(te_enc_pc_offsets(&w, &off8, 1) == TE_OK);
    CHECK(same(&w, "produce-commit"));
    /* invalid UTF-8 in a name is refused by the encoder */
    te_w_init(&w, buf, sizeof buf);
    CHECK(te_enc_heartbeat(&w, 3, (te_str){"\xff", 1}, S("m"), 1) == TE_ERR_ARG);

    body_of("joined", &type, &body, &len);
    CHECK(type == TE_JOINED && te_dec_joined(body, len, &j) == TE_OK);
    CHECK(j.corr == 2 && j.generation == 1 && j.member_id.len == 9 && memcmp(j.member_id.p, "gw-7-0d9c", 9) == 0 &&
          j.session_timeout_ms == 10000 && j.heartbeat_ms == 3333);
    CHECK(te_assignment_each(&j, collect_assignment, assigned) == TE_OK && strcmp(assigned, "telemetry:0 telemetry:2 ") == 0);
    for (cut = 0; cut < len; cut++) CHECK(te_dec_joined(body, cut, &j) == TE_ERR_MALFORMED);

    body_of("produced", &type, &body, &len);
    CHECK(type == TE_PRODUCED && te_dec_produced(body, len, &corr, collect_produced, produced) == TE_OK);
    CHECK(corr == 5 && produced[0] == 1 && produced[1] == 17);
    for (cut = 0; cut < len; cut++) CHECK(te_dec_produced(body, cut, &corr, NULL, NULL) == TE_ERR_MALFORMED);
    {
        /* OFFSETS: corr 6, alias 0 partition 2 offset -1 (nothing committed), metadata "" */
        static const uint8_t offsets[] = {0x06, 0x01, 0x00, 0x02, 0x01, 0x00};
        static const uint8_t below[] = {0x06, 0x01, 0x00, 0x02, 0x03, 0x00}; /* offset -2 */
        CHECK(te_dec_offsets(offsets, sizeof offsets, &corr, NULL, NULL) == TE_OK && corr == 6);
        CHECK(te_dec_offsets(below, sizeof below, &corr, NULL, NULL) == TE_ERR_MALFORMED);
        for (cut = 0; cut < sizeof offsets; cut++) CHECK(te_dec_offsets(offsets, cut, &corr, NULL, NULL) == TE_ERR_MALFORMED);
    }
}

/* Every hex example of the SPEC is checked: by name above (encoders and decoders), or, for an
 * answer frame added to the SPEC later, by the decoder of its type. A request frame without a
 * C encoder check fails here, so a new SPEC example cannot go unchecked. */
static void test_every_example_checked(void) {
    size_t i;
    for (i = 0; i < EXAMPLES; i++) {
        uint8_t type;
        const uint8_t *body;
        size_t len, frame_len;
        int rc = TE_ERR_ARG;
        uint64_t corr;
        te_welcome wel;
        te_registered reg;
        te_records recs;
        te_error err;
        te_joined j;
        te_out_of_range oor;
        if (example_checked[i]) continue;
        if (te_frame_split(spec_examples[i].bytes, spec_examples[i].len, 4096, &type, &body, &len, &frame_len) == TE_OK &&
            frame_len == spec_examples[i].len) {
            switch (type) {
            case TE_WELCOME: rc = te_dec_welcome(body, len, &wel); break;
            case TE_REGISTERED: rc = te_dec_registered(body, len, &reg); break;
            case TE_ACK: rc = te_dec_ack(body, len, NULL, NULL); break;
            case TE_RECORDS:
                rc = te_dec_records(body, len, &recs);
                if (rc == TE_OK) {
                    te_batch_iter it;
                    te_record_in rec;
                    int r;
                    te_batch_iter_init(&it, recs.batches, recs.batches_len, 0);
                    while ((r = te_batch_next(&it, &rec)) == 1) {
                    }
                    rc = r;
                }
                break;
            case TE_METADATA_RESULT: rc = te_dec_metadata(body, len, &corr, NULL, NULL); break;
            case TE_OK_FRAME: case TE_PONG: rc = te_dec_corr(body, len, &corr); break;
            case TE_ERROR: rc = te_dec_error(body, len, &err); break;
            case TE_OUT_OF_RANGE: rc = te_dec_out_of_range(body, len, &oor); break;
            case TE_JOINED: rc = te_dec_joined(body, len, &j); break;
            case TE_OFFSETS: rc = te_dec_offsets(body, len, &corr, NULL, NULL); break;
            case TE_PRODUCED: rc = te_dec_produced(body, len, &corr, NULL, NULL); break;
            default: break;
            }
        }
        if (rc != TE_OK) {
            printf("FAIL: the SPEC's hex example %s is not checked by the C tests (or does not decode)\n",
                   spec_examples[i].name);
            failures++;
        }
        checks++;
    }
}

int main(void) {
    test_varints();
    test_crc_utf8();
    test_encoders();
    test_decoders();
    test_batches();
    test_ring();
    test_groups();
    test_keepalive();
    test_mutations();
    test_stream_mutations();
    test_every_example_checked();
    printf("%d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
