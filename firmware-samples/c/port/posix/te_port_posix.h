/* POSIX port: TCP sockets with poll() timeouts, CLOCK_MONOTONIC, and a file for persistent state
 * (written to a temporary file, fsync'd, then renamed over the old one: old or new, never a mix). */
#ifndef TE_PORT_POSIX_H
#define TE_PORT_POSIX_H

#include "tributary_port.h"

typedef struct te_posix {
    const char *host;
    const char *port;
    const char *state_path; /* NULL = no persistent storage */
    int fd;
} te_posix;

/* Fills *port with the POSIX functions over *p (which must outlive it). */
void te_posix_port(te_port *port, te_posix *p, const char *host, const char *tcp_port, const char *state_path);

#endif
