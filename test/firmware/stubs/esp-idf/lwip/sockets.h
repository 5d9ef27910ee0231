#pragma once
#include <stddef.h>
#include <stdint.h>
/* lwIP's BSD socket API as ESP-IDF exposes it (select and fd_set through its VFS). */
typedef int ssize_t;
typedef uint32_t socklen_t;
typedef uint8_t sa_family_t;
struct sockaddr {
    uint8_t sa_len;
    sa_family_t sa_family;
    char sa_data[14];
};
struct timeval {
    long long tv_sec;
    long tv_usec;
};
#define AF_UNSPEC 0
#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define SOL_SOCKET 0xfff
#define SO_ERROR 0x1007
#define SO_RCVTIMEO 0x1006
#define SO_SNDTIMEO 0x1005
#define IPPROTO_TCP 6
#define TCP_NODELAY 0x01
#define FD_SETSIZE 64
typedef struct fd_set {
    unsigned char fd_bits[(FD_SETSIZE + 7) / 8];
} fd_set;
#define FD_SET(n, p) ((p)->fd_bits[(n) / 8] = (unsigned char)((p)->fd_bits[(n) / 8] | (1u << ((n) & 7))))
#define FD_ISSET(n, p) ((p)->fd_bits[(n) / 8] & (1u << ((n) & 7)))
#define FD_ZERO(p) memset((void *)(p), 0, sizeof(*(p)))
int socket(int domain, int type, int protocol);
int connect(int s, const struct sockaddr *name, socklen_t namelen);
ssize_t send(int s, const void *dataptr, size_t size, int flags);
ssize_t recv(int s, void *mem, size_t len, int flags);
int getsockopt(int s, int level, int optname, void *optval, socklen_t *optlen);
int setsockopt(int s, int level, int optname, const void *optval, socklen_t optlen);
int select(int maxfdp1, fd_set *readset, fd_set *writeset, fd_set *exceptset, struct timeval *timeout);
int shutdown(int s, int how);
