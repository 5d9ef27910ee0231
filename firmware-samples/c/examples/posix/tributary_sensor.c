/* tributary-sensor: a sensor that makes N 20-byte readings and produces them through the ring
 * (idempotent, acks=1 by default), reconnecting whenever the link or the broker goes away.
 *
 *   tributary-sensor --host H --port P --topic T --count N [--state FILE] [--client-id ID]
 *                    [--per-frame K] [--window W] [--acks 1|2] [--keepalive-ms MS] [--ring SLOTS]
 *                    [--interval-ms MS]
 *
 * Reading i (from 0) has the value "reading %012u" (20 bytes); with --interval-ms at most one reading
 * is made every MS milliseconds (as a sensor samples), else as fast as the ring takes them.
 * With --state the ring, its sequence numbers and the number of readings made so far live in FILE, so a process killed at any
 * point and started again with the same arguments carries on: nothing is lost and, thanks to the
 * idempotent sequence numbers, nothing is stored twice. Progress lines on stdout (one per event,
 * flushed at once) for scripts and tests to wait on:
 *   state loaded pending=<n> made=<n> nextSeq=<n>
 *   connected lastSeq=<n> frameBytesMax=<n> keepaliveMs=<n> pending=<n>
 *   sent seq=<n> readings=<n> resend=<0|1>               (a PRODUCE frame handed to the socket)
 *   acked seq=<n> partition=<n> offset=<n> readings=<n> duplicate=<0|1> total=<n>
 *   confirmed lastSeq=<n> readings=<n> total=<n>      (stored before a reconnect, per WELCOME)
 *   error code=<NAME> ref=<n> message=<text>
 *   link down rc=<n> reason=<io|timeout|malformed|too-large|server-error|unsupported|other>
 *   done acked=<n>
 * Exit status: 0 when all N readings are acknowledged, 2 on bad arguments, 1 on a fatal error. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "te_port_posix.h"
#include "tributary_edge.h"

#define RING_MAX 1024u
#define BUF_BYTES 16384u

static te_slot slots[RING_MAX];
static uint8_t scratch[22u + RING_MAX * (17u + TE_READING_MAX) + 4u];
static uint8_t rx[BUF_BYTES + TE_FRAME_PREFIX_MAX];
static uint8_t tx[BUF_BYTES + TE_FRAME_PREFIX_MAX];

static void on_ack(void *ctx, const te_ack_entry *e, uint16_t readings) {
    const te_ring *r = (const te_ring *)ctx;
    printf("acked seq=%llu partition=%llu offset=%llu readings=%u duplicate=%d total=%llu\n",
           (unsigned long long)e->seq, (unsigned long long)e->partition, (unsigned long long)e->base_offset,
           (unsigned)readings, (e->flags & TE_ACK_DUPLICATE) ? 1 : 0, (unsigned long long)r->acked_total);
    fflush(stdout);
}

static void on_send(void *ctx, uint64_t seq, uint16_t readings, int resend) {
    (void)ctx;
    printf("sent seq=%llu readings=%u resend=%d\n", (unsigned long long)seq, (unsigned)readings, resend);
    fflush(stdout);
}

static uint32_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

static const char *reason(int rc) {
    switch (rc) {
    case TE_ERR_IO: return "io";
    case TE_ERR_TIMEOUT: return "timeout";
    case TE_ERR_MALFORMED: return "malformed";
    case TE_ERR_TOO_LARGE: return "too-large";
    case TE_ERR_SERVER: return "server-error";
    case TE_ERR_UNSUPPORTED: return "unsupported";
    default: return "other";
    }
}

static void sleep_ms(unsigned ms) {
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000u);
    ts.tv_nsec = (long)(ms % 1000u) * 1000000L;
    nanosleep(&ts, NULL);
}

static void usage(void) {
    fprintf(stderr, "usage: tributary-sensor --host H --port P --topic T --count N [--state FILE] [--client-id ID]\n"
                    "       [--per-frame K] [--window W] [--acks 1|2] [--keepalive-ms MS] [--ring SLOTS] [--interval-ms MS]\n");
}

static int number(const char *s, unsigned long max, unsigned long *out) {
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v > max) return -1;
    *out = v;
    return 0;
}

static void print_error(const te_client *c) {
    printf("error code=%s ref=%llu message=%.*s\n", te_code_name(c->error.code), (unsigned long long)c->error.ref,
           (int)c->error.message_len, c->error.message != NULL ? c->error.message : "");
    fflush(stdout);
}

int main(int argc, char **argv) {
    const char *host = NULL, *port_s = NULL, *topic = NULL, *state = NULL, *client_id = "tributary-sensor";
    unsigned long count = 0, per_frame = 10, window = 8, acks = 1, keepalive = 0, ring_slots = 256, interval = 0, v;
    uint32_t last_reading = 0;
    int made_one = 0;
    unsigned backoff = 50;
    int i, rc;
    te_posix posix;
    te_port port;
    te_client client;
    te_ring ring;
    te_hello_opts hello;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (val == NULL) { usage(); return 2; }
        i++;
        if (strcmp(a, "--host") == 0) host = val;
        else if (strcmp(a, "--port") == 0) port_s = val;
        else if (strcmp(a, "--topic") == 0) topic = val;
        else if (strcmp(a, "--state") == 0) state = val;
        else if (strcmp(a, "--client-id") == 0) client_id = val;
        else if (strcmp(a, "--count") == 0 && number(val, 0xffffffffUL, &v) == 0) count = v;
        else if (strcmp(a, "--per-frame") == 0 && number(val, 1000, &v) == 0 && v > 0) per_frame = v;
        else if (strcmp(a, "--window") == 0 && number(val, 1000, &v) == 0 && v > 0) window = v;
        else if (strcmp(a, "--acks") == 0 && number(val, 2, &v) == 0 && v > 0) acks = v;
        else if (strcmp(a, "--keepalive-ms") == 0 && number(val, 3600000UL, &v) == 0) keepalive = v;
        else if (strcmp(a, "--interval-ms") == 0 && number(val, 3600000UL, &v) == 0) interval = v;
        else if (strcmp(a, "--ring") == 0 && number(val, RING_MAX, &v) == 0 && v > 0) ring_slots = v;
        else { usage(); return 2; }
    }
    if (host == NULL || port_s == NULL || topic == NULL) { usage(); return 2; }

    te_posix_port(&port, &posix, host, port_s, state);
    if (te_client_init(&client, &port, rx, sizeof rx, tx, sizeof tx) != TE_OK) return 1;
    rc = te_ring_init(&ring, slots, (uint16_t)ring_slots, &port, scratch, sizeof scratch);
    if (rc != TE_OK) {
        fprintf(stderr, "tributary-sensor: state file %s unusable (rc=%d)\n", state, rc);
        return 1;
    }
    te_ring_target(&ring, 0, -1, (uint8_t)acks, (uint16_t)per_frame, (uint16_t)window);
    ring.on_ack = on_ack;
    ring.on_send = on_send;
    ring.on_ack_ctx = &ring;
    if (state != NULL) {
        printf("state loaded pending=%u made=%llu nextSeq=%llu\n", (unsigned)te_ring_count(&ring),
               (unsigned long long)ring.user, (unsigned long long)ring.next_seq);
        fflush(stdout);
    }

    memset(&hello, 0, sizeof hello);
    hello.client_id = client_id;
    hello.client_id_len = strlen(client_id);
    hello.flags = TE_HELLO_IDEMPOTENT;
    hello.keepalive_ms = (uint32_t)keepalive;
    hello.timeout_ms = 5000;

    for (;;) {
        /* make readings while the ring has room (the device keeps sampling during an outage) */
        while (ring.user < count && te_ring_count(&ring) < ring.cap &&
               (interval == 0 || !made_one || (uint32_t)(now_ms() - last_reading) >= interval)) {
            char value[21];
            made_one = 1;
            last_reading = now_ms();
            snprintf(value, sizeof value, "reading %012llu", (unsigned long long)ring.user);
            ring.user++; /* persisted with the reading by te_ring_push */
            if (te_ring_push(&ring, (const uint8_t *)value, 20, 0) != TE_OK) {
                fprintf(stderr, "tributary-sensor: cannot persist the ring\n");
                return 1;
            }
        }
        if (ring.user >= count && te_ring_count(&ring) == 0) break;

        if (!client.connected) {
            rc = te_client_connect(&client, &hello);
            if (rc == TE_OK) rc = te_client_register(&client, 0, topic, 1, NULL, 5000);
            if (rc == TE_OK) {
                uint64_t before = ring.acked_total;
                rc = te_ring_connected(&ring, &client);
                printf("connected lastSeq=%llu frameBytesMax=%llu keepaliveMs=%llu pending=%u\n",
                       (unsigned long long)client.last_seq, (unsigned long long)client.frame_bytes_max,
                       (unsigned long long)client.keepalive_ms, (unsigned)te_ring_count(&ring));
                if (ring.acked_total > before)
                    printf("confirmed lastSeq=%llu readings=%llu total=%llu\n", (unsigned long long)client.last_seq,
                           (unsigned long long)(ring.acked_total - before), (unsigned long long)ring.acked_total);
                fflush(stdout);
                backoff = 50;
            }
            if (rc != TE_OK) {
                if (rc == TE_ERR_SERVER) print_error(&client);
                printf("link down rc=%d reason=%s\n", rc, reason(rc));
                fflush(stdout);
                te_client_close(&client);
                sleep_ms(backoff);
                backoff = backoff >= 1000 ? 2000 : backoff * 2;
                continue;
            }
        }
        /* with --interval-ms, wake up for the next reading */
        rc = te_ring_service(&ring, &client, interval > 0 && interval < 200 ? (uint32_t)interval : 200u);
        if (rc == TE_ERR_SERVER) {
            print_error(&client);
            if (!client.connected) {
                printf("link down rc=%d reason=%s\n", rc, reason(rc));
                fflush(stdout);
                te_client_close(&client);
            } else if (client.error.code == TE_CODE_UNKNOWN_ALIAS || client.error.code == TE_CODE_UNKNOWN_TOPIC ||
                       client.error.code == TE_CODE_INVALID_PARTITION || client.error.code == TE_CODE_NOT_AUTHORIZED) {
                return 1; /* retrying cannot help */
            } else {
                sleep_ms(100); /* THROTTLED, STORAGE_FULL...: the readings go again under a new seq */
            }
        } else if (rc != TE_OK) {
            printf("link down rc=%d reason=%s\n", rc, reason(rc));
            fflush(stdout);
            te_client_close(&client);
        }
    }
    te_ring_save(&ring);
    te_client_close(&client);
    printf("done acked=%llu\n", (unsigned long long)ring.acked_total);
    fflush(stdout);
    return 0;
}
