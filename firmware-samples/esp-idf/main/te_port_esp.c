/* ESP-IDF port of the edge client (see te_port_esp.h). */
#include "te_port_esp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "esp_err.h"
#include "esp_timer.h"
#include "lwip/netdb.h"
#include "lwip/sockets.h"

static uint32_t esp_millis(void *ctx) {
    (void)ctx;
    /* microseconds since boot, 64-bit: its low 32 bits of milliseconds wrap, which the library handles */
    return (uint32_t)((uint64_t)esp_timer_get_time() / 1000u);
}

/* Waits until fd is readable (want_write 0) or writable (1): 1 = ready, 0 = timed out, -1 = failed. */
static int wait_fd(int fd, int want_write, uint32_t timeout_ms) {
    fd_set set;
    struct timeval tv;
    int rc;
    FD_ZERO(&set);
    FD_SET(fd, &set);
    tv.tv_sec = (long)(timeout_ms / 1000u);
    tv.tv_usec = (long)(timeout_ms % 1000u) * 1000L;
    do {
        rc = select(fd + 1, want_write ? NULL : &set, want_write ? &set : NULL, NULL, &tv);
    } while (rc < 0 && errno == EINTR);
    return rc > 0 ? 1 : rc;
}

static void esp_close(void *ctx) {
    te_esp *e = (te_esp *)ctx;
    if (e->fd >= 0) close(e->fd);
    e->fd = -1;
}

static int esp_connect(void *ctx, uint32_t timeout_ms) {
    te_esp *e = (te_esp *)ctx;
    struct addrinfo hints, *res = NULL, *ai;
    int one = 1;
    esp_close(e);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    /* lwIP's resolver blocks for up to its own DNS timeout; an address literal does not query DNS */
    if (getaddrinfo(e->host, e->port, &hints, &res) != 0 || res == NULL) return -1;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        int err = 0;
        socklen_t elen = sizeof err;
        if (fd < 0) continue;
        /* non-blocking for good: connect, send and recv all wait in select() with the caller's timeout */
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
            (errno == EINPROGRESS && wait_fd(fd, 1, timeout_ms) == 1 &&
             getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0)) {
            /* small PRODUCE frames go at once instead of waiting for Nagle's ACK */
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            e->fd = fd;
            break;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return e->fd >= 0 ? 0 : -1;
}

static int esp_send(void *ctx, const uint8_t *buf, size_t len, uint32_t timeout_ms) {
    te_esp *e = (te_esp *)ctx;
    while (len > 0) {
        ssize_t n;
        if (e->fd < 0 || wait_fd(e->fd, 1, timeout_ms) != 1) return -1;
        n = send(e->fd, buf, len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
        if (n <= 0) return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static long esp_recv(void *ctx, uint8_t *buf, size_t cap, uint32_t timeout_ms) {
    te_esp *e = (te_esp *)ctx;
    ssize_t n;
    int rc;
    if (e->fd < 0) return -1;
    rc = wait_fd(e->fd, 0, timeout_ms);
    if (rc == 0) return 0;
    if (rc < 0) return -1;
    n = recv(e->fd, buf, cap, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
    return n > 0 ? (long)n : -1; /* 0 = the broker closed the connection */
}

static long esp_load(void *ctx, uint8_t *buf, size_t cap) {
    te_esp *e = (te_esp *)ctx;
    size_t len = cap;
    esp_err_t err = nvs_get_blob(e->nvs, e->nvs_key, buf, &len);
    if (err == ESP_ERR_NVS_NOT_FOUND) return 0; /* first boot */
    /* ESP_ERR_NVS_INVALID_LENGTH: larger than any state of this ring (slots were reduced): refuse it */
    return err == ESP_OK ? (long)len : -1;
}

static int esp_save(void *ctx, const uint8_t *buf, size_t len) {
    te_esp *e = (te_esp *)ctx;
    /* NVS keeps the old blob until the new one is completely written: a power cut leaves one of them */
    if (nvs_set_blob(e->nvs, e->nvs_key, buf, len) != ESP_OK) return -1;
    return nvs_commit(e->nvs) == ESP_OK ? 0 : -1;
}

esp_err_t te_esp_port(te_port *port, te_esp *e, const char *host, uint16_t tcp_port, const char *nvs_namespace,
                      const char *nvs_key) {
    esp_err_t err = ESP_OK;
    e->host = host;
    snprintf(e->port, sizeof e->port, "%u", (unsigned)tcp_port);
    e->fd = -1;
    e->has_nvs = 0;
    e->nvs_key = nvs_key;
    if (nvs_namespace != NULL) {
        err = nvs_open(nvs_namespace, NVS_READWRITE, &e->nvs);
        e->has_nvs = err == ESP_OK;
    }
    port->ctx = e;
    port->connect = esp_connect;
    port->send = esp_send;
    port->recv = esp_recv;
    port->close = esp_close;
    port->millis = esp_millis;
    port->store_load = e->has_nvs ? esp_load : NULL;
    port->store_save = e->has_nvs ? esp_save : NULL;
    return err;
}
