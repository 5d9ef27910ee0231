/* tributary-group: joins a consumer group (protocol version 2), commits an offset for each
 * assigned partition, reads the committed offsets back and leaves.
 *
 *   tributary-group --host H --port P --group G --topic T [--commit OFFSET]
 *
 * Prints "joined generation=<n> member=<id> heartbeatMs=<n>", "assigned topic=<t> partition=<n>"
 * per partition, "committed partition=<n> offset=<n>" per partition read back, then "left".
 * Exit status 0, 1 on an error (the ERROR's code name on stderr), 2 on bad arguments. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "te_port_posix.h"
#include "tributary_edge.h"

#define MAX_PARTITIONS 64

static uint8_t rx[4096 + TE_FRAME_PREFIX_MAX], tx[4096 + TE_FRAME_PREFIX_MAX];
static uint64_t partitions[MAX_PARTITIONS];
static size_t assigned;
static char member[256];
static size_t member_len;

static int on_assigned(void *ctx, te_str topic, uint64_t partition) {
    (void)ctx;
    printf("assigned topic=%.*s partition=%llu\n", (int)topic.len, topic.p, (unsigned long long)partition);
    if (assigned == MAX_PARTITIONS) return TE_ERR_TOO_LARGE;
    partitions[assigned++] = partition;
    return TE_OK;
}

static int on_offset(void *ctx, const te_offset_in *o) {
    (void)ctx;
    printf("committed partition=%llu offset=%lld\n", (unsigned long long)o->partition, (long long)o->offset);
    return TE_OK;
}

static int fail(te_client *c, int rc) {
    if (rc == TE_ERR_SERVER)
        fprintf(stderr, "tributary-group: %s: %.*s\n", te_code_name(c->error.code), (int)c->error.message_len,
                c->error.message != NULL ? c->error.message : "");
    else
        fprintf(stderr, "tributary-group: failed (rc=%d)\n", rc);
    te_client_close(c);
    return 1;
}

int main(int argc, char **argv) {
    const char *host = NULL, *port_s = NULL, *group = NULL, *topic = NULL;
    unsigned long long commit = 0;
    int i, rc;
    te_posix posix;
    te_port port;
    te_client c;
    te_hello_opts hello;
    te_w w;
    uint64_t corr, generation;
    const uint8_t *body;
    size_t len, k;
    te_joined joined;
    te_str g, t, m;
    uint64_t aliases[MAX_PARTITIONS];
    te_offset_out offs[MAX_PARTITIONS];

    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--host") == 0) host = argv[i + 1];
        else if (strcmp(argv[i], "--port") == 0) port_s = argv[i + 1];
        else if (strcmp(argv[i], "--group") == 0) group = argv[i + 1];
        else if (strcmp(argv[i], "--topic") == 0) topic = argv[i + 1];
        else if (strcmp(argv[i], "--commit") == 0) commit = strtoull(argv[i + 1], NULL, 10);
        else break;
    }
    if (i != argc || host == NULL || port_s == NULL || group == NULL || topic == NULL) {
        fprintf(stderr, "usage: tributary-group --host H --port P --group G --topic T [--commit OFFSET]\n");
        return 2;
    }
    g.p = group;
    g.len = strlen(group);
    t.p = topic;
    t.len = strlen(topic);
    m.p = "";
    m.len = 0;
    te_posix_port(&port, &posix, host, port_s, NULL);
    te_client_init(&c, &port, rx, sizeof rx, tx, sizeof tx);
    memset(&hello, 0, sizeof hello);
    hello.client_id = "tributary-group";
    hello.client_id_len = strlen(hello.client_id);
    hello.timeout_ms = 5000;
    hello.version = 2;
    if ((rc = te_client_connect(&c, &hello)) != TE_OK) return fail(&c, rc);
    if (c.version < 2) {
        fprintf(stderr, "tributary-group: the broker speaks version %u only\n", (unsigned)c.version);
        return 1;
    }
    if ((rc = te_client_register(&c, 0, topic, 1, NULL, 5000)) != TE_OK) return fail(&c, rc);

    /* JOIN_GROUP may wait up to the rebalance timeout ([EDGE-12.2]): give it longer */
    if ((rc = te_client_writer(&c, &w, &corr)) != TE_OK) return fail(&c, rc);
    if ((rc = te_enc_join_group(&w, corr, g, m, m, 0, 0, 0, m, &t, 1)) != TE_OK) return fail(&c, rc);
    if ((rc = te_client_request(&c, &w, corr, TE_JOINED, 60000, &body, &len)) != TE_OK) return fail(&c, rc);
    if (te_dec_joined(body, len, &joined) != TE_OK || joined.member_id.len > sizeof member) return fail(&c, TE_ERR_MALFORMED);
    memcpy(member, joined.member_id.p, joined.member_id.len); /* body is gone after the next call */
    member_len = joined.member_id.len;
    generation = joined.generation;
    printf("joined generation=%llu member=%.*s heartbeatMs=%llu\n", (unsigned long long)generation, (int)member_len,
           member, (unsigned long long)joined.heartbeat_ms);
    if ((rc = te_assignment_each(&joined, on_assigned, NULL)) != TE_OK) return fail(&c, rc);
    m.p = member;
    m.len = member_len;

    if ((rc = te_client_writer(&c, &w, &corr)) != TE_OK) return fail(&c, rc);
    if ((rc = te_enc_heartbeat(&w, corr, g, m, generation)) != TE_OK) return fail(&c, rc);
    if ((rc = te_client_request(&c, &w, corr, TE_OK_FRAME, 5000, &body, &len)) != TE_OK) return fail(&c, rc);

    for (k = 0; k < assigned; k++) {
        aliases[k] = 0;
        offs[k].alias = 0;
        offs[k].partition = partitions[k];
        offs[k].offset = commit;
        offs[k].metadata.p = "c";
        offs[k].metadata.len = 1;
    }
    if (assigned > 0) {
        if ((rc = te_client_writer(&c, &w, &corr)) != TE_OK) return fail(&c, rc);
        if ((rc = te_enc_commit_offsets(&w, corr, g, m, (int64_t)generation, offs, assigned)) != TE_OK) return fail(&c, rc);
        if ((rc = te_client_request(&c, &w, corr, TE_OK_FRAME, 5000, &body, &len)) != TE_OK) return fail(&c, rc);
        if ((rc = te_client_writer(&c, &w, &corr)) != TE_OK) return fail(&c, rc);
        if ((rc = te_enc_fetch_offsets(&w, corr, g, aliases, partitions, assigned)) != TE_OK) return fail(&c, rc);
        if ((rc = te_client_request(&c, &w, corr, TE_OFFSETS, 5000, &body, &len)) != TE_OK) return fail(&c, rc);
        if ((rc = te_dec_offsets(body, len, &corr, on_offset, NULL)) != TE_OK) return fail(&c, rc);
    }
    if ((rc = te_client_writer(&c, &w, &corr)) != TE_OK) return fail(&c, rc);
    if ((rc = te_enc_leave_group(&w, corr, g, m)) != TE_OK) return fail(&c, rc);
    if ((rc = te_client_request(&c, &w, corr, TE_OK_FRAME, 5000, &body, &len)) != TE_OK) return fail(&c, rc);
    printf("left\n");
    te_client_close(&c);
    return 0;
}
