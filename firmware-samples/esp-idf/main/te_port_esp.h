/* ESP-IDF port of the edge client: lwIP BSD sockets (non-blocking, select() for every timeout),
 * esp_timer_get_time() for the clock, and one NVS blob for the ring (nvs_set_blob + nvs_commit). */
#ifndef TE_PORT_ESP_H
#define TE_PORT_ESP_H

#include <stdint.h>

#include "nvs.h"
#include "tributary_port.h"

typedef struct te_esp {
    const char *host;          /* a name (resolved with getaddrinfo on every connect) or an address */
    char port[6];              /* the TCP port as text, for getaddrinfo */
    int fd;                    /* -1 = closed */
    nvs_handle_t nvs;          /* valid when has_nvs */
    int has_nvs;
    const char *nvs_key;
} te_esp;

/* Fills *port with the ESP-IDF functions over *e (which must outlive it). With nvs_namespace NULL
 * the ring is not persisted; otherwise nvs_flash_init() must have succeeded before this call, and
 * the ring lives in blob `nvs_key` of that namespace. Returns ESP_OK, or nvs_open()'s error (the
 * port is then filled without storage). */
esp_err_t te_esp_port(te_port *port, te_esp *e, const char *host, uint16_t tcp_port, const char *nvs_namespace,
                      const char *nvs_key);

#endif
