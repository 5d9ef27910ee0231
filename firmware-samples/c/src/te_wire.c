/* Wire primitives ([EDGE-3]): varints, zigzag, CRC-32C, UTF-8, bounded writer and reader. */
#include <string.h>

#include "tributary_edge.h"

int te_read_uvarint(const uint8_t *p, size_t avail, uint64_t *out) {
    uint64_t v = 0;
    size_t i;
    for (i = 0; i < 8; i++) {
        uint8_t b;
        if (i >= avail) return 0;
        b = p[i];
        /* the 8th byte holds bits 49..55: below 0x10 keeps the value within 2^53-1 and ends it */
        if (i == 7 && b >= 0x10) return -1;
        v |= (uint64_t)(b & 0x7fu) << (7u * i);
        if (b < 0x80) {
            *out = v;
            return (int)(i + 1);
        }
    }
    return -1;
}

size_t te_write_uvarint(uint8_t *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)((v & 0x7fu) | 0x80u);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* n < 0: 2|n| - 1 = 2(-n-1) + 1, where -n-1 = ~n computed on the unsigned value (well defined). */
uint64_t te_zigzag_encode(int64_t n) {
    uint64_t u = (uint64_t)n;
    return n < 0 ? ((~u) << 1) | 1u : u << 1;
}

int64_t te_zigzag_decode(uint64_t u) {
    int64_t half = (int64_t)(u >> 1); /* < 2^63: representable */
    return (u & 1u) ? -half - 1 : half;
}

/* Nibble table: 64 bytes of flash instead of 1 KiB, at 2 lookups per byte. */
static const uint32_t crc32c_nibble[16] = {
    0x00000000u, 0x105ec76fu, 0x20bd8edeu, 0x30e349b1u, 0x417b1dbcu, 0x5125dad3u, 0x61c69362u, 0x7198540du,
    0x82f63b78u, 0x92a8fc17u, 0xa24bb5a6u, 0xb21572c9u, 0xc38d26c4u, 0xd3d3e1abu, 0xe330a81au, 0xf36e6f75u};

uint32_t te_crc32c(uint32_t crc, const uint8_t *p, size_t len) {
    size_t i;
    crc = ~crc;
    for (i = 0; i < len; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ crc32c_nibble[crc & 0x0fu];
        crc = (crc >> 4) ^ crc32c_nibble[crc & 0x0fu];
    }
    return ~crc;
}

int te_utf8_valid(const uint8_t *p, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t b = p[i];
        size_t n, k;
        uint32_t cp, min;
        if (b < 0x80) {
            i++;
            continue;
        }
        if (b >= 0xc2 && b <= 0xdf) { n = 1; cp = b & 0x1fu; min = 0x80; }
        else if (b >= 0xe0 && b <= 0xef) { n = 2; cp = b & 0x0fu; min = 0x800; }
        else if (b >= 0xf0 && b <= 0xf4) { n = 3; cp = b & 0x07u; min = 0x10000; }
        else return 0;
        if (len - i - 1 < n) return 0;
        for (k = 1; k <= n; k++) {
            uint8_t c = p[i + k];
            if ((c & 0xc0u) != 0x80u) return 0;
            cp = (cp << 6) | (c & 0x3fu);
        }
        if (cp < min || cp > 0x10ffffu || (cp >= 0xd800u && cp <= 0xdfffu)) return 0;
        i += n + 1;
    }
    return 1;
}

void te_w_init(te_w *w, uint8_t *buf, size_t cap) {
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->frame_start = 0;
    w->err = 0;
}

static int room(te_w *w, size_t n) {
    if (w->err) return 0; /* keep the first error */
    if (w->cap - w->len < n) {
        w->err = 1;
        return 0;
    }
    return 1;
}

void te_w_u8(te_w *w, uint8_t v) {
    if (room(w, 1)) w->buf[w->len++] = v;
}

void te_w_v(te_w *w, uint64_t v) {
    uint8_t tmp[8];
    size_t n;
    if (v > TE_VARINT_MAX) {
        w->err = 1;
        return;
    }
    n = te_write_uvarint(tmp, v);
    te_w_raw(w, tmp, n);
}

void te_w_z(te_w *w, int64_t v) {
    if (v < TE_ZIGZAG_MIN || v > TE_ZIGZAG_MAX) {
        w->err = 1;
        return;
    }
    te_w_v(w, te_zigzag_encode(v));
}

void te_w_raw(te_w *w, const uint8_t *p, size_t len) {
    if (len == 0) return;
    if (room(w, len)) {
        memcpy(w->buf + w->len, p, len);
        w->len += len;
    }
}

void te_w_bytes(te_w *w, const uint8_t *p, size_t len) {
    te_w_v(w, (uint64_t)len);
    te_w_raw(w, p, len);
}

void te_w_nbytes(te_w *w, const uint8_t *p, size_t len) {
    if (p == NULL) {
        te_w_u8(w, 0);
        return;
    }
    te_w_v(w, (uint64_t)len + 1u);
    te_w_raw(w, p, len);
}

void te_r_init(te_r *r, const uint8_t *p, size_t len) {
    r->p = p;
    r->len = len;
    r->pos = 0;
    r->err = 0;
}

uint8_t te_r_u8(te_r *r) {
    if (r->err || r->pos >= r->len) {
        r->err = 1;
        return 0;
    }
    return r->p[r->pos++];
}

uint64_t te_r_v(te_r *r) {
    uint64_t v = 0;
    int n;
    if (r->err) return 0;
    n = te_read_uvarint(r->p + r->pos, r->len - r->pos, &v);
    if (n <= 0) { /* truncated inside a body is malformed too */
        r->err = 1;
        return 0;
    }
    r->pos += (size_t)n;
    return v;
}

int64_t te_r_z(te_r *r) {
    uint64_t u = te_r_v(r);
    return r->err ? 0 : te_zigzag_decode(u);
}

const uint8_t *te_r_bytes(te_r *r, size_t *len) {
    uint64_t n = te_r_v(r);
    const uint8_t *p;
    *len = 0;
    if (r->err || n > r->len - r->pos) {
        r->err = 1;
        return NULL;
    }
    p = r->p + r->pos;
    r->pos += (size_t)n;
    *len = (size_t)n;
    return p;
}

const uint8_t *te_r_str(te_r *r, size_t *len) {
    const uint8_t *p = te_r_bytes(r, len);
    if (p != NULL && !te_utf8_valid(p, *len)) {
        r->err = 1;
        *len = 0;
        return NULL;
    }
    return p;
}

uint64_t te_r_count(te_r *r) {
    uint64_t n = te_r_v(r);
    if (!r->err && n > r->len - r->pos) r->err = 1;
    return r->err ? 0 : n;
}

int te_r_end(const te_r *r) {
    return (r->err || r->pos != r->len) ? TE_ERR_MALFORMED : TE_OK;
}
