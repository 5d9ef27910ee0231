/* tributary-fetch: reads a partition from an offset with FETCH and prints each record.
 *
 *   tributary-fetch --host H --port P --topic T [--partition N] [--offset O] [--count N]
 *                   [--max-wait-ms MS]
 *
 * Prints "record offset=<n> timestamp=<ms> key=<text> headers=<n> value=<text>" per record
 * (bytes outside printable ASCII and the backslash as \xNN, a null key or value as "(null)"),
 * then "end next=<offset> records=<n>". Stops after --count records, or at the first FETCH that
 * returns nothing within --max-wait-ms (default 500). Every batch's CRC-32C is checked; records
 * below the requested offset are skipped. Exit status 0, 1 on an error, 2 on bad arguments. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "te_port_posix.h"
#include "tributary_edge.h"

#define BUF_BYTES 65536u

static uint8_t rx[BUF_BYTES + TE_FRAME_PREFIX_MAX];
static uint8_t tx[512];

static int number(const char *s, unsigned long long *out) {
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v > TE_VARINT_MAX) return -1;
    *out = v;
    return 0;
}

/* Printable ASCII as is, other bytes as \xNN, a null as (null). */
static void print_value(const uint8_t *p, size_t n) {
    size_t i;
    if (p == NULL) {
        fputs("(null)", stdout);
        return;
    }
    for (i = 0; i < n; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') putchar(p[i]);
        else printf("\\x%02x", p[i]);
    }
}

int main(int argc, char **argv) {
    const char *host = NULL, *port_s = NULL, *topic = NULL;
    unsigned long long partition = 0, offset = 0, count = (unsigned long long)-1, max_wait = 500, got = 0;
    int i, rc;
    te_posix posix;
    te_port port;
    te_client client;
    te_hello_opts hello;

    for (i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *val = argv[i + 1];
        int ok = 1;
        if (strcmp(a, "--host") == 0) host = val;
        else if (strcmp(a, "--port") == 0) port_s = val;
        else if (strcmp(a, "--topic") == 0) topic = val;
        else if (strcmp(a, "--partition") == 0) ok = number(val, &partition) == 0;
        else if (strcmp(a, "--offset") == 0) ok = number(val, &offset) == 0;
        else if (strcmp(a, "--count") == 0) ok = number(val, &count) == 0;
        else if (strcmp(a, "--max-wait-ms") == 0) ok = number(val, &max_wait) == 0;
        else ok = 0;
        if (!ok) break;
    }
    if (i != argc || host == NULL || port_s == NULL || topic == NULL) {
        fprintf(stderr, "usage: tributary-fetch --host H --port P --topic T [--partition N] [--offset O] [--count N] "
                        "[--max-wait-ms MS]\n");
        return 2;
    }
    te_posix_port(&port, &posix, host, port_s, NULL);
    te_client_init(&client, &port, rx, sizeof rx, tx, sizeof tx);
    memset(&hello, 0, sizeof hello);
    hello.client_id = "tributary-fetch";
    hello.client_id_len = strlen(hello.client_id);
    hello.timeout_ms = 5000;
    rc = te_client_connect(&client, &hello);
    if (rc == TE_OK) rc = te_client_register(&client, 0, topic, 0, NULL, 5000);
    while (rc == TE_OK && got < count) {
        te_records recs;
        te_batch_iter it;
        te_record_in rec;
        int n, any = 0;
        rc = te_client_fetch(&client, 0, partition, offset, 1u << 20, max_wait, (uint32_t)max_wait + 10000u, &recs);
        if (rc != TE_OK) break;
        te_batch_iter_init(&it, recs.batches, recs.batches_len, offset);
        while (got < count && (n = te_batch_next(&it, &rec)) == 1) {
            printf("record offset=%llu timestamp=%lld key=", (unsigned long long)rec.offset, (long long)rec.timestamp_ms);
            print_value(rec.key, rec.key_len);
            printf(" headers=%llu value=", (unsigned long long)rec.header_count);
            print_value(rec.value, rec.value_len);
            putchar('\n');
            offset = rec.offset + 1u;
            got++;
            any = 1;
        }
        if (it.err != 0) {
            rc = it.err;
            break;
        }
        if (got < count && it.next_offset > offset) offset = it.next_offset;
        if (!any && recs.batches_len == 0) break; /* nothing more within max-wait */
    }
    if (rc == TE_ERR_SERVER)
        fprintf(stderr, "tributary-fetch: %s: %.*s\n", te_code_name(client.error.code), (int)client.error.message_len,
                client.error.message != NULL ? client.error.message : "");
    else if (rc != TE_OK)
        fprintf(stderr, "tributary-fetch: failed (rc=%d)\n", rc);
    printf("end next=%llu records=%llu\n", offset, got);
    te_client_close(&client);
    return rc == TE_OK ? 0 : 1;
}
