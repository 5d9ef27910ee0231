/* POSIX port of the edge client (see te_port_posix.h). */
#define _POSIX_C_SOURCE 200809L

#include "te_port_posix.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static uint32_t posix_millis(void *ctx) {
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

static int wait_fd(int fd, short events, uint32_t timeout_ms) {
    struct pollfd pfd;
    int rc;
    pfd.fd = fd;
    pfd.events = events;
    pfd.revents = 0;
    do {
        rc = poll(&pfd, 1, timeout_ms > 0x7fffffffu ? 0x7fffffff : (int)timeout_ms);
    } while (rc < 0 && errno == EINTR);
    return rc;
}

static void posix_close(void *ctx) {
    te_posix *p = (te_posix *)ctx;
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
}

static int posix_connect(void *ctx, uint32_t timeout_ms) {
    te_posix *p = (te_posix *)ctx;
    struct addrinfo hints, *res, *ai;
    int one = 1;
    posix_close(p);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(p->host, p->port, &hints, &res) != 0) return -1;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        int err = 0;
        socklen_t elen = sizeof err;
        if (fd < 0) continue;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
            (errno == EINPROGRESS && wait_fd(fd, POLLOUT, timeout_ms) == 1 &&
             getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0)) {
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            p->fd = fd;
            break;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return p->fd >= 0 ? 0 : -1;
}

static int posix_send(void *ctx, const uint8_t *buf, size_t len, uint32_t timeout_ms) {
    te_posix *p = (te_posix *)ctx;
    while (len > 0) {
        ssize_t n;
        if (p->fd < 0 || wait_fd(p->fd, POLLOUT, timeout_ms) != 1) return -1;
        n = send(p->fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
        if (n <= 0) return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static long posix_recv(void *ctx, uint8_t *buf, size_t cap, uint32_t timeout_ms) {
    te_posix *p = (te_posix *)ctx;
    ssize_t n;
    int rc;
    if (p->fd < 0) return -1;
    rc = wait_fd(p->fd, POLLIN, timeout_ms);
    if (rc == 0) return 0;
    if (rc < 0) return -1;
    n = recv(p->fd, buf, cap, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
    return n > 0 ? (long)n : -1; /* 0 = the peer closed */
}

static long posix_load(void *ctx, uint8_t *buf, size_t cap) {
    te_posix *p = (te_posix *)ctx;
    FILE *f = fopen(p->state_path, "rb");
    size_t n;
    if (f == NULL) return errno == ENOENT ? 0 : -1;
    n = fread(buf, 1, cap, f);
    if (ferror(f) || fgetc(f) != EOF) n = 0; /* unreadable or larger than any state: treat as corrupt */
    fclose(f);
    return n == 0 ? -1 : (long)n;
}

static int posix_save(void *ctx, const uint8_t *buf, size_t len) {
    te_posix *p = (te_posix *)ctx;
    char tmp[4096];
    int fd;
    if (snprintf(tmp, sizeof tmp, "%s.tmp", p->state_path) >= (int)sizeof tmp) return -1;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return -1;
    if (write(fd, buf, len) != (ssize_t)len || fsync(fd) != 0) {
        close(fd);
        return -1;
    }
    if (close(fd) != 0 || rename(tmp, p->state_path) != 0) return -1;
    return 0;
}

void te_posix_port(te_port *port, te_posix *p, const char *host, const char *tcp_port, const char *state_path) {
    p->host = host;
    p->port = tcp_port;
    p->state_path = state_path;
    p->fd = -1;
    port->ctx = p;
    port->connect = posix_connect;
    port->send = posix_send;
    port->recv = posix_recv;
    port->close = posix_close;
    port->millis = posix_millis;
    port->store_load = state_path != NULL ? posix_load : NULL;
    port->store_save = state_path != NULL ? posix_save : NULL;
}
