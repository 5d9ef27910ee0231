/*
 * Sensor readings into Tributary over MQTT, from an ESP32 with ESP-IDF's esp-mqtt client.
 *
 * Every READING_INTERVAL_MS one reading goes out as a QoS 1 PUBLISH on sensors/<device id>/telemetry,
 * the layout Tributary's routes are written for; a retained "online"/"offline" (the last will) goes to
 * sensors/<device id>/status. Tributary answers each PUBLISH with its PUBACK only once the reading is
 * committed to its log, so MQTT_EVENT_PUBLISHED means "stored". README.md beside this file explains
 * the topics, the client id, reconnects and what the broker does with each message.
 *
 * Written against esp-mqtt as shipped with ESP-IDF v5 (esp_mqtt_client_config_t with its nested
 * broker/credentials/session/network/outbox sections). Not compiled in Tributary's CI: it needs ESP-IDF.
 */

#include <stdint.h>
#include <stdio.h>

#include "esp_event.h"
#include "esp_log.h"
#include "esp_mac.h"
#include "esp_netif.h"
#include "esp_random.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "mqtt_client.h"
#include "nvs_flash.h"
#include "protocol_examples_common.h"

/*
 * The topic layout: a device id level between "sensors" and the kind of message. Tributary's tests
 * read these two #defines out of this file and route them (test/firmware/esp-mqtt-topics.test.ts), so
 * keep each one string literal with one %s for the device id.
 */
#define TOPIC_TELEMETRY_FMT "sensors/%s/telemetry"
#define TOPIC_STATUS_FMT "sensors/%s/status"

/*
 * The client id, also the device id in the topics: the whole Wi-Fi station MAC, so it is unique per
 * chip and the same after every reboot. 19 characters: within the 23 every MQTT 3.1.1 broker must
 * accept, and free of '/', '+' and '#', which ACL patterns with %c refuse to substitute.
 */
#define DEVICE_ID_FMT "sensor-%02x%02x%02x%02x%02x%02x"

#define READING_INTERVAL_MS 5000
/* PINGREQ after this long without traffic; the broker drops the connection after 1.5 times it. */
#define KEEPALIVE_S 60
/* Wait before reconnecting after the connection is lost or refused. */
#define RECONNECT_TIMEOUT_MS 5000
/*
 * esp-mqtt sends an unacknowledged QoS 1 PUBLISH again after this long, even on a live connection,
 * and Tributary stores a resent PUBLISH as a second record (QoS 1 is at least once). Its PUBACK
 * normally comes within milliseconds; 10 s keeps a disk stall from turning into duplicates.
 */
#define RETRANSMIT_TIMEOUT_MS 10000
/* RAM for readings waiting for their PUBACK (a 63-byte PUBLISH each): a bound on what an outage costs. */
#define OUTBOX_LIMIT_BYTES (16 * 1024)

static const char *TAG = "tributary";

static char s_device_id[24];
static char s_topic_telemetry[64];
static char s_topic_status[64];

static void mqtt_event_handler(void *handler_arg, esp_event_base_t base, int32_t event_id, void *event_data)
{
    esp_mqtt_event_handle_t event = event_data;

    switch ((esp_mqtt_event_id_t)event_id) {
    case MQTT_EVENT_CONNECTED:
        ESP_LOGI(TAG, "connected as %s", s_device_id);
        /* Retained, so a subscriber learns the state at once; it replaces the will's "offline". */
        esp_mqtt_client_enqueue(event->client, s_topic_status, "online", 0, 1, 1, true);
        break;
    case MQTT_EVENT_DISCONNECTED:
        ESP_LOGW(TAG, "disconnected: reconnecting in %d ms; unacknowledged readings wait in the outbox", RECONNECT_TIMEOUT_MS);
        break;
    case MQTT_EVENT_PUBLISHED:
        /* The PUBACK: the reading is committed to Tributary's log. */
        ESP_LOGD(TAG, "message %d stored", event->msg_id);
        break;
    case MQTT_EVENT_DELETED:
        /* Posted with CONFIG_MQTT_REPORT_DELETED_MESSAGES (sdkconfig.defaults). */
        ESP_LOGE(TAG, "message %d expired in the outbox without a PUBACK: reading lost", event->msg_id);
        break;
    case MQTT_EVENT_ERROR:
        if (event->error_handle->error_type == MQTT_ERROR_TYPE_CONNECTION_REFUSED) {
            /* 2: client id refused; 4: bad user name or password; 5: not authorized. */
            ESP_LOGE(TAG, "CONNACK refused with return code %d", event->error_handle->connect_return_code);
        } else if (event->error_handle->error_type == MQTT_ERROR_TYPE_TCP_TRANSPORT) {
            ESP_LOGE(TAG, "transport error, errno %d", event->error_handle->esp_transport_sock_errno);
        }
        break;
    default:
        break;
    }
}

/* Stands in for a sensor driver: a temperature in °C and a relative humidity in %. */
static void read_sensor(float *temperature_c, float *humidity_pct)
{
    *temperature_c = 21.0f + (float)(esp_random() % 100) / 100.0f;
    *humidity_pct = 48.0f + (float)(esp_random() % 10) / 10.0f;
}

static void reading_task(void *arg)
{
    esp_mqtt_client_handle_t client = arg;
    char payload[32];

    for (;;) {
        float temperature_c;
        float humidity_pct;
        read_sensor(&temperature_c, &humidity_pct);
        /* 20 bytes, e.g. {"t":21.53,"h":48.2}: the reading the wire figures of Tributary's README use. */
        int len = snprintf(payload, sizeof payload, "{\"t\":%.2f,\"h\":%.1f}", temperature_c, humidity_pct);
        /*
         * QoS 1, not retained. While connected the PUBLISH is written at once; while disconnected it is
         * kept in the outbox and sent after the reconnect. Either way it stays there until its PUBACK.
         */
        int msg_id = esp_mqtt_client_publish(client, s_topic_telemetry, payload, len, 1, 0);
        if (msg_id == -2) {
            ESP_LOGW(TAG, "outbox full (%d bytes): reading dropped", OUTBOX_LIMIT_BYTES);
        } else if (msg_id < 0) {
            ESP_LOGE(TAG, "publish failed: reading dropped");
        }
        vTaskDelay(pdMS_TO_TICKS(READING_INTERVAL_MS));
    }
}

void app_main(void)
{
    esp_err_t err = nvs_flash_init();
    if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
        ESP_ERROR_CHECK(nvs_flash_erase());
        err = nvs_flash_init();
    }
    ESP_ERROR_CHECK(err);
    ESP_ERROR_CHECK(esp_netif_init());
    ESP_ERROR_CHECK(esp_event_loop_create_default());
    ESP_ERROR_CHECK(example_connect());

    uint8_t mac[6];
    ESP_ERROR_CHECK(esp_read_mac(mac, ESP_MAC_WIFI_STA));
    snprintf(s_device_id, sizeof s_device_id, DEVICE_ID_FMT, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    snprintf(s_topic_telemetry, sizeof s_topic_telemetry, TOPIC_TELEMETRY_FMT, s_device_id);
    snprintf(s_topic_status, sizeof s_topic_status, TOPIC_STATUS_FMT, s_device_id);

    const esp_mqtt_client_config_t config = {
        .broker.address.uri = CONFIG_TRIBUTARY_BROKER_URI,
        .credentials = {
            .client_id = s_device_id,
            /* NULL without a user name: an anonymous CONNECT. */
            .username = CONFIG_TRIBUTARY_USERNAME[0] != '\0' ? CONFIG_TRIBUTARY_USERNAME : NULL,
            .authentication.password = CONFIG_TRIBUTARY_PASSWORD[0] != '\0' ? CONFIG_TRIBUTARY_PASSWORD : NULL,
        },
        .session = {
            .protocol_ver = MQTT_PROTOCOL_V_3_1_1,
            .keepalive = KEEPALIVE_S,
            .message_retransmit_timeout = RETRANSMIT_TIMEOUT_MS,
            /* Clean session (the default): the device only publishes, it has no subscriptions to keep. */
            .disable_clean_session = false,
            .last_will = {
                .topic = s_topic_status,
                .msg = "offline",
                .qos = 1,
                .retain = 1,
            },
        },
        .network.reconnect_timeout_ms = RECONNECT_TIMEOUT_MS,
        .outbox.limit = OUTBOX_LIMIT_BYTES,
    };

    esp_mqtt_client_handle_t client = esp_mqtt_client_init(&config);
    if (client == NULL) {
        ESP_LOGE(TAG, "esp_mqtt_client_init failed");
        return;
    }
    ESP_ERROR_CHECK(esp_mqtt_client_register_event(client, ESP_EVENT_ANY_ID, mqtt_event_handler, NULL));
    ESP_ERROR_CHECK(esp_mqtt_client_start(client));
    xTaskCreate(reading_task, "readings", 4096, client, 5, NULL);
}
