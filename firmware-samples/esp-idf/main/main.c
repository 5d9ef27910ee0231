/*
 * Sensor readings into Tributary over the edge protocol, from an ESP32 with ESP-IDF v5.
 *
 * One FreeRTOS task reads a (simulated) sensor every CONFIG_TRIBUTARY_READING_INTERVAL_MS, pushes the
 * reading into the library's ring and services the connection: it produces the ring's readings
 * (idempotent, acks 1), reads the ACKs, sends the keepalive, and after a lost link (Wi-Fi gone,
 * broker restarted, cable pulled at the gateway) reconnects with a back-off while it keeps sampling.
 * The ring, its sequence numbers and the count of readings made live in NVS, so a reboot loses no
 * reading that was pushed and stores none twice (see firmware-samples/README.md, "Readings survive
 * outages and reboots"). README.md beside this file says how to build it and what was checked.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "esp_err.h"
#include "esp_event.h"
#include "esp_log.h"
#include "esp_mac.h"
#include "esp_netif.h"
#include "esp_random.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "nvs_flash.h"
#include "protocol_examples_common.h"
#include "sdkconfig.h"
#include "te_port_esp.h"
#include "tributary_edge.h"

/* Readings kept until acknowledged: at one reading per CONFIG_TRIBUTARY_READING_INTERVAL_MS, 64 slots
 * ride out an outage of 64 intervals; after that new readings are dropped (and counted). */
#define RING_SLOTS 64
/* Persisted ring: te_ring_state_size(RING_SLOTS), checked at start. */
#define STATE_BYTES (26u + RING_SLOTS * (17u + TE_READING_MAX))
/* frameBytesMax proposed to the broker is RX_BYTES - TE_FRAME_PREFIX_MAX; a PRODUCE of 10 readings
 * of 20 bytes takes about 240 bytes, so 1 KiB each way is plenty for a producer. */
#define RX_BYTES (1024u + TE_FRAME_PREFIX_MAX)
#define TX_BYTES (1024u + TE_FRAME_PREFIX_MAX)
#define PER_FRAME 10 /* readings per PRODUCE frame, at most */
#define WINDOW 4     /* PRODUCE frames in flight */
#define CONNECT_TIMEOUT_MS 5000
/* Reconnect back-off: from BACKOFF_MIN_MS, doubling up to BACKOFF_MAX_MS, reset by a good connect. */
#define BACKOFF_MIN_MS 500u
#define BACKOFF_MAX_MS 30000u
/* How long one te_ring_service call waits for a frame, at most (see service_timeout). */
#define SERVICE_MS 200u
#define TASK_STACK_BYTES 6144

static const char *TAG = "tributary";

/* The client id, also the NVS state's owner: the whole Wi-Fi MAC, unique per chip and stable across
 * reboots, which the broker's idempotence needs ([EDGE-7.5]). */
#define DEVICE_ID_FMT "sensor-%02x%02x%02x%02x%02x%02x"
static char s_device_id[24];

/* Static: the task's stack stays small and the sizes show up in the link map. */
static te_slot s_slots[RING_SLOTS];
static uint8_t s_state[STATE_BYTES];
static uint8_t s_rx[RX_BYTES];
static uint8_t s_tx[TX_BYTES];
static te_client s_client;
static te_ring s_ring;
static te_esp s_esp;
static te_port s_port;

/* Stands in for a sensor driver: 20 bytes such as {"t":21.53,"h":48.2}, the reading Tributary's
 * wire figures use. Returns the length. */
static size_t read_sensor(uint8_t *out, size_t cap)
{
    float t = 21.0f + (float)(esp_random() % 100) / 100.0f;
    float h = 48.0f + (float)(esp_random() % 10) / 10.0f;
    int n = snprintf((char *)out, cap, "{\"t\":%.2f,\"h\":%.1f}", (double)t, (double)h);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void on_ack(void *ctx, const te_ack_entry *e, uint16_t readings)
{
    const te_ring *r = ctx;
    ESP_LOGI(TAG, "stored seq=%llu partition=%llu offset=%llu readings=%u%s total=%llu", (unsigned long long)e->seq,
             (unsigned long long)e->partition, (unsigned long long)e->base_offset, (unsigned)readings,
             (e->flags & TE_ACK_DUPLICATE) ? " (duplicate)" : "", (unsigned long long)r->acked_total);
}

static void log_server_error(const te_client *c)
{
    ESP_LOGW(TAG, "broker ERROR %s ref=%llu: %.*s", te_code_name(c->error.code), (unsigned long long)c->error.ref,
             (int)c->error.message_len, c->error.message != NULL ? c->error.message : "");
}

/* Connects, registers the topic as alias 0 and hands the connection to the ring. */
static int connect_broker(const te_hello_opts *hello)
{
    uint64_t confirmed = s_ring.acked_total;
    int rc = te_client_connect(&s_client, hello);
    if (rc == TE_OK) rc = te_client_register(&s_client, 0, CONFIG_TRIBUTARY_TOPIC, 1, NULL, CONNECT_TIMEOUT_MS);
    if (rc == TE_OK) rc = te_ring_connected(&s_ring, &s_client);
    if (rc != TE_OK) return rc;
    ESP_LOGI(TAG, "connected: lastSeq=%llu frameBytesMax=%llu keepaliveMs=%llu pending=%u confirmed=%llu",
             (unsigned long long)s_client.last_seq, (unsigned long long)s_client.frame_bytes_max,
             (unsigned long long)s_client.keepalive_ms, (unsigned)te_ring_count(&s_ring),
             (unsigned long long)(s_ring.acked_total - confirmed));
    return TE_OK;
}

/* How long te_ring_service may wait for a frame: until the next reading is due, at most SERVICE_MS,
 * and at most keepalive / 2, since the library runs the keepalive once per call. */
static uint32_t service_timeout(uint32_t next_reading)
{
    uint32_t left = next_reading - s_port.millis(s_port.ctx);
    uint32_t t = SERVICE_MS;
    if (s_client.keepalive_ms / 2 < t) t = (uint32_t)(s_client.keepalive_ms / 2);
    if ((int32_t)left <= 0) return 1;
    return left < t ? left : t;
}

/* Errors that retrying on the same connection cannot fix: the topic or the token is wrong. */
static int is_config_error(uint64_t code)
{
    return code == TE_CODE_UNKNOWN_ALIAS || code == TE_CODE_UNKNOWN_TOPIC || code == TE_CODE_INVALID_TOPIC ||
           code == TE_CODE_INVALID_PARTITION || code == TE_CODE_NOT_AUTHORIZED;
}

static void sensor_task(void *arg)
{
    te_hello_opts hello;
    uint32_t backoff_ms = BACKOFF_MIN_MS;
    uint32_t next_connect = 0;
    uint32_t next_reading;
    uint32_t dropped = 0;
    (void)arg;

    memset(&hello, 0, sizeof hello);
    hello.client_id = s_device_id;
    hello.client_id_len = strlen(s_device_id);
    hello.token = (const uint8_t *)CONFIG_TRIBUTARY_TOKEN;
    hello.token_len = strlen(CONFIG_TRIBUTARY_TOKEN);
    if (hello.token_len == 0) hello.token = NULL;
    hello.flags = TE_HELLO_IDEMPOTENT;
    hello.keepalive_ms = CONFIG_TRIBUTARY_KEEPALIVE_MS;
    hello.timeout_ms = CONNECT_TIMEOUT_MS;

    next_reading = s_port.millis(s_port.ctx);
    for (;;) {
        uint32_t now = s_port.millis(s_port.ctx);
        int rc;

        /* Sampling goes on whether or not the broker is reachable; the ring holds the readings. */
        if ((int32_t)(now - next_reading) >= 0) {
            uint8_t value[TE_READING_MAX];
            size_t len = read_sensor(value, sizeof value);
            next_reading += CONFIG_TRIBUTARY_READING_INTERVAL_MS;
            if ((int32_t)(now - next_reading) >= 0) next_reading = now + CONFIG_TRIBUTARY_READING_INTERVAL_MS;
            s_ring.user++; /* readings made, persisted with the reading */
            /* timestamp 0: the broker stamps its receive time; pass epoch ms once SNTP has set the clock */
            rc = te_ring_push(&s_ring, value, len, 0);
            if (rc == TE_ERR_FULL) {
                s_ring.user--;
                dropped++;
                ESP_LOGW(TAG, "ring full (%d readings unacknowledged): reading dropped, %lu so far", RING_SLOTS,
                         (unsigned long)dropped);
            } else if (rc != TE_OK) {
                /* te_ring_push keeps the reading in RAM even when the NVS write fails */
                ESP_LOGE(TAG, "ring not saved to NVS (rc=%d): the last readings would not survive a reboot", rc);
            }
        }

        if (!s_client.connected) {
            if ((int32_t)(now - next_connect) < 0) {
                /* Waiting out the back-off; wake for the next reading or the next attempt. */
                uint32_t until = (int32_t)(next_reading - next_connect) < 0 ? next_reading : next_connect;
                vTaskDelay(pdMS_TO_TICKS(until - now) + 1);
                continue;
            }
            rc = connect_broker(&hello);
            if (rc != TE_OK) {
                if (rc == TE_ERR_SERVER) log_server_error(&s_client);
                ESP_LOGW(TAG, "cannot reach %s:%d (rc=%d); next try in %lu ms", CONFIG_TRIBUTARY_BROKER_HOST,
                         CONFIG_TRIBUTARY_BROKER_PORT, rc, (unsigned long)backoff_ms);
                te_client_close(&s_client);
                next_connect = s_port.millis(s_port.ctx) + backoff_ms;
                backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms * 2;
                continue;
            }
            backoff_ms = BACKOFF_MIN_MS;
        }

        /* Sends what the window allows, reads one frame (an ACK...), runs the keepalive. */
        rc = te_ring_service(&s_ring, &s_client, service_timeout(next_reading));
        if (rc == TE_ERR_SERVER) {
            log_server_error(&s_client);
            if (!s_client.connected || is_config_error(s_client.error.code)) {
                /* A connection-level ERROR (SHUTTING_DOWN, TIMEOUT...): reconnect after the back-off.
                 * One that retrying cannot fix (wrong topic or token): reconnect only every
                 * BACKOFF_MAX_MS, so the broker is not hammered; the readings stay in the ring. */
                uint32_t wait_ms = is_config_error(s_client.error.code) ? BACKOFF_MAX_MS : backoff_ms;
                te_client_close(&s_client);
                next_connect = s_port.millis(s_port.ctx) + wait_ms;
            } else {
                /* THROTTLED, STORAGE_FULL...: the frame's readings go again under a new seq. */
                vTaskDelay(pdMS_TO_TICKS(100));
            }
        } else if (rc != TE_OK) {
            ESP_LOGW(TAG, "link down (rc=%d): %u readings wait in the ring", rc, (unsigned)te_ring_count(&s_ring));
            te_client_close(&s_client);
            next_connect = s_port.millis(s_port.ctx) + backoff_ms;
        }
    }
}

void app_main(void)
{
    uint8_t mac[6];
    esp_err_t err = nvs_flash_init();
    int rc;

    if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
        ESP_ERROR_CHECK(nvs_flash_erase());
        err = nvs_flash_init();
    }
    ESP_ERROR_CHECK(err);
    ESP_ERROR_CHECK(esp_netif_init());
    ESP_ERROR_CHECK(esp_event_loop_create_default());
    /* Wi-Fi or Ethernet as chosen under "Example Connection Configuration"; blocks until an address. */
    ESP_ERROR_CHECK(example_connect());

    ESP_ERROR_CHECK(esp_read_mac(mac, ESP_MAC_WIFI_STA));
    snprintf(s_device_id, sizeof s_device_id, DEVICE_ID_FMT, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);

    err = te_esp_port(&s_port, &s_esp, CONFIG_TRIBUTARY_BROKER_HOST, CONFIG_TRIBUTARY_BROKER_PORT, "tributary", "ring");
    if (err != ESP_OK) ESP_LOGE(TAG, "nvs_open failed (%s): readings will not survive a reboot", esp_err_to_name(err));
    if (te_ring_state_size(RING_SLOTS) > sizeof s_state) {
        ESP_LOGE(TAG, "STATE_BYTES below te_ring_state_size(%d): fix it", RING_SLOTS);
        return;
    }
    if (te_client_init(&s_client, &s_port, s_rx, sizeof s_rx, s_tx, sizeof s_tx) != TE_OK) {
        ESP_LOGE(TAG, "te_client_init refused the buffers");
        return;
    }
    rc = te_ring_init(&s_ring, s_slots, RING_SLOTS, &s_port, s_state, sizeof s_state);
    if (rc == TE_ERR_MALFORMED) {
        /* A blob that fails its CRC-32C or any other check is refused whole; start empty. */
        ESP_LOGE(TAG, "stored ring unusable: starting empty");
    } else if (rc != TE_OK) {
        ESP_LOGE(TAG, "te_ring_init failed (rc=%d)", rc);
        return;
    }
    te_ring_target(&s_ring, 0, -1, 1, PER_FRAME, WINDOW);
    s_ring.on_ack = on_ack;
    s_ring.on_ack_ctx = &s_ring;
    ESP_LOGI(TAG, "%s: %u readings pending from before the reboot, %llu made so far, next seq %llu", s_device_id,
             (unsigned)te_ring_count(&s_ring), (unsigned long long)s_ring.user, (unsigned long long)s_ring.next_seq);

    xTaskCreate(sensor_task, "tributary", TASK_STACK_BYTES, NULL, 5, NULL);
}
