/* The port layer: everything the library needs from the platform. A port fills a te_port with
 * function pointers; the library never calls the OS, the C library's I/O or malloc itself.
 * All calls are made from the thread that drives the client. */
#ifndef TRIBUTARY_PORT_H
#define TRIBUTARY_PORT_H

#include <stddef.h>
#include <stdint.h>

typedef struct te_port {
    /* Opaque port state (a socket, a Client&, an NVS handle...). Passed to every call. */
    void *ctx;
    /* Opens the connection to the broker. 0 on success, negative on failure. */
    int (*connect)(void *ctx, uint32_t timeout_ms);
    /* Sends all `len` bytes within `timeout_ms`. 0 on success, negative on failure or timeout. */
    int (*send)(void *ctx, const uint8_t *buf, size_t len, uint32_t timeout_ms);
    /* Receives up to `cap` bytes, waiting at most `timeout_ms` for the first one. Returns the number
     * of bytes (> 0), 0 when nothing arrived in time, negative when the connection is closed or failed. */
    long (*recv)(void *ctx, uint8_t *buf, size_t cap, uint32_t timeout_ms);
    /* Closes the connection; harmless when it is not open. */
    void (*close)(void *ctx);
    /* A millisecond clock that only moves forward (wrapping at 2^32 is handled). */
    uint32_t (*millis)(void *ctx);
    /* Optional persistent storage of one blob (the producer ring: sequence numbers and unacknowledged
     * readings). Both NULL when the device has none. load returns the blob's length (0 = nothing
     * stored) or negative on failure; save replaces the blob atomically (old or new, never a mix)
     * and returns 0 on success. */
    long (*store_load)(void *ctx, uint8_t *buf, size_t cap);
    int (*store_save)(void *ctx, const uint8_t *buf, size_t len);
} te_port;

#endif
