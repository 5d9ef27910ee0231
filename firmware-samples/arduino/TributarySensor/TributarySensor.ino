// Sensor readings into Tributary over the edge protocol, from an Arduino-compatible board.
//
// Every READING_INTERVAL_MS a (simulated) reading goes into the library's ring; loop() then lets
// the ring produce it (idempotent, acks 1), reads the ACKs and keeps the connection alive. While
// the broker is unreachable the sketch keeps sampling into the ring and reconnects with a back-off.
// The connection is an Arduino `Client`: WiFiClient as written, EthernetClient with the changes
// README.md (step 4) lists. With TRIBUTARY_STORE_PREFERENCES (ESP32) the ring survives a reboot.
// README.md beside this folder: wiring the library in, and what was checked (compiled against
// stub headers, never built with an Arduino core or run on a board).

#include <Arduino.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <WiFi.h> // ESP32, ESP8266 (<ESP8266WiFi.h>), UNO R4 WiFi (<WiFiS3.h>), Nano 33 IoT (<WiFiNINA.h>)
// #include <Ethernet.h>            // Ethernet shield (W5x00): use EthernetClient below instead

#include "TributaryArduinoPort.h"
#include "TributaryEdge.h"

// ---- settings ----
#define WIFI_SSID "my-network"
#define WIFI_PASSWORD "my-password"
#define BROKER_HOST "192.168.1.10" // the gateway running `tributary start`
#define BROKER_PORT 7883           // listeners.edge.port
#define TOPIC "sensors"            // created by REGISTER if missing
// Unique per device and the same after every reboot: the broker's idempotence is per client id.
#define CLIENT_ID "arduino-sensor-1"
#define READING_INTERVAL_MS 5000UL
// Uncomment on ESP32 to keep the ring (unacknowledged readings and sequence numbers) in NVS.
// #define TRIBUTARY_STORE_PREFERENCES

// ---- buffers: all static, the library never allocates ----
#define RING_SLOTS 16
#define STATE_BYTES (26u + RING_SLOTS * (17u + TE_READING_MAX)) // te_ring_state_size(RING_SLOTS)
#define BUF_BYTES (512u + TE_FRAME_PREFIX_MAX)
#define PER_FRAME 10
#define WINDOW 2
#define BACKOFF_MIN_MS 500UL
#define BACKOFF_MAX_MS 30000UL
#define SERVICE_MS 50 // loop() returns at least this often

static WiFiClient net;
// static EthernetClient net;

#ifdef TRIBUTARY_STORE_PREFERENCES
#include "TributaryPreferencesStore.h"
static TributaryPreferencesStore store("tributary", "ring");
static TributaryArduinoPort tport(net, BROKER_HOST, BROKER_PORT, &store);
static uint8_t state[STATE_BYTES];
#else
static TributaryArduinoPort tport(net, BROKER_HOST, BROKER_PORT);
#endif

static te_port port;
static te_client client;
static te_ring ring;
static te_slot slots[RING_SLOTS];
static uint8_t rx[BUF_BYTES];
static uint8_t tx[BUF_BYTES];
static te_hello_opts hello;

static unsigned long nextReading;
static unsigned long nextConnect;
static unsigned long backoffMs = BACKOFF_MIN_MS;

// printf-style to Serial; %lu and %d only (AVR's printf has no 64-bit or float conversions).
static void say(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *format, ...) {
    char line[120];
    va_list args;
    va_start(args, format);
    vsnprintf(line, sizeof line, format, args);
    va_end(args);
    Serial.println(line);
}

// Stands in for a sensor driver: 20 bytes such as {"t":21.53,"h":48.2}.
static size_t readSensor(uint8_t *out, size_t cap) {
    long t = 2100 + random(100), h = 480 + random(10);
    int n = snprintf((char *)out, cap, "{\"t\":%ld.%02ld,\"h\":%ld.%ld}", t / 100, t % 100, h / 10, h % 10);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void onAck(void *ctx, const te_ack_entry *e, uint16_t readings) {
    (void)ctx;
    say("stored seq=%lu offset=%lu readings=%u%s", (unsigned long)e->seq, (unsigned long)e->base_offset,
         (unsigned)readings, (e->flags & TE_ACK_DUPLICATE) ? " (duplicate)" : "");
}

static void logServerError() {
    say("broker ERROR %s: %.*s", te_code_name(client.error.code), (int)client.error.message_len,
         client.error.message != NULL ? client.error.message : "");
}

// Whether the network is up; with Ethernet: return Ethernet.linkStatus() != LinkOFF;
static bool linkUp() { return WiFi.status() == WL_CONNECTED; }

static bool connectBroker() {
    int rc = te_client_connect(&client, &hello);
    if (rc == TE_OK) rc = te_client_register(&client, 0, TOPIC, 1, NULL, 5000);
    if (rc == TE_OK) rc = te_ring_connected(&ring, &client);
    if (rc != TE_OK) {
        if (rc == TE_ERR_SERVER) logServerError();
        say("cannot reach the broker (rc=%d), next try in %lu ms", rc, backoffMs);
        te_client_close(&client);
        nextConnect = millis() + backoffMs;
        backoffMs = backoffMs * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoffMs * 2;
        return false;
    }
    say("connected, %u readings pending", (unsigned)te_ring_count(&ring));
    backoffMs = BACKOFF_MIN_MS;
    return true;
}

void setup() {
    Serial.begin(115200);
    WiFi.begin(WIFI_SSID, WIFI_PASSWORD);
    // Ethernet instead: Ethernet.begin(mac) (a MAC of your own, byte mac[6]).

    tport.fill(&port);
    if (te_client_init(&client, &port, rx, sizeof rx, tx, sizeof tx) != TE_OK) say("te_client_init failed");
#ifdef TRIBUTARY_STORE_PREFERENCES
    if (!store.begin()) say("Preferences.begin failed");
    if (te_ring_state_size(RING_SLOTS) > sizeof state) say("STATE_BYTES too small");
    if (te_ring_init(&ring, slots, RING_SLOTS, &port, state, sizeof state) == TE_ERR_MALFORMED)
        say("stored ring unusable: starting empty"); // refused whole, never half-loaded
#else
    te_ring_init(&ring, slots, RING_SLOTS, &port, NULL, 0); // RAM only: survives link outages, not reboots
#endif
    te_ring_target(&ring, 0, -1, 1, PER_FRAME, WINDOW);
    ring.on_ack = onAck;
    say("%u readings pending from before the reboot", (unsigned)te_ring_count(&ring));

    memset(&hello, 0, sizeof hello);
    hello.client_id = CLIENT_ID;
    hello.client_id_len = strlen(CLIENT_ID);
    hello.flags = TE_HELLO_IDEMPOTENT;
    hello.keepalive_ms = 30000;
    hello.timeout_ms = 5000;
    nextReading = millis();
    nextConnect = millis();
}

void loop() {
    // Sample on schedule, connected or not: the ring keeps the readings until they are acknowledged.
    if ((long)(millis() - nextReading) >= 0) {
        uint8_t value[TE_READING_MAX];
        size_t len = readSensor(value, sizeof value);
        nextReading += READING_INTERVAL_MS;
        if ((long)(millis() - nextReading) >= 0) nextReading = millis() + READING_INTERVAL_MS; // fell behind: no burst
        int rc = te_ring_push(&ring, value, len, 0); // timestamp 0: the broker's receive time
        if (rc == TE_ERR_FULL) say("ring full (%d unacknowledged): reading dropped", RING_SLOTS);
        else if (rc != TE_OK) say("ring not saved (rc=%d)", rc);
    }

    if (!client.connected) {
        if ((long)(millis() - nextConnect) < 0 || !linkUp()) {
            delay(10);
            return;
        }
        if (!connectBroker()) return;
    }

    int rc = te_ring_service(&ring, &client, SERVICE_MS);
    if (rc == TE_ERR_SERVER) {
        logServerError();
        if (!client.connected) {
            te_client_close(&client); // a connection-level ERROR: reconnect after the back-off
            nextConnect = millis() + backoffMs;
        } else {
            delay(100); // THROTTLED, STORAGE_FULL...: the frame's readings go again under a new seq
        }
    } else if (rc != TE_OK) {
        say("link down (rc=%d), %u readings wait in the ring", rc, (unsigned)te_ring_count(&ring));
        te_client_close(&client);
        nextConnect = millis() + backoffMs;
    }
}
