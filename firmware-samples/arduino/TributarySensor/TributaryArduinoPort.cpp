// Arduino port of the edge library (see TributaryArduinoPort.h).
#include "TributaryArduinoPort.h"

// The library calls these through te_port's function pointers, which are C function types.
extern "C" {
static int port_connect(void *ctx, uint32_t timeout_ms) {
    return static_cast<TributaryArduinoPort *>(ctx)->connect(timeout_ms);
}
static int port_send(void *ctx, const uint8_t *buf, size_t len, uint32_t timeout_ms) {
    return static_cast<TributaryArduinoPort *>(ctx)->send(buf, len, timeout_ms);
}
static long port_recv(void *ctx, uint8_t *buf, size_t cap, uint32_t timeout_ms) {
    return static_cast<TributaryArduinoPort *>(ctx)->recv(buf, cap, timeout_ms);
}
static void port_close(void *ctx) { static_cast<TributaryArduinoPort *>(ctx)->close(); }
static uint32_t port_millis(void *ctx) {
    (void)ctx;
    return (uint32_t)millis(); // unsigned long, wraps after 49.7 days: the library handles the wrap
}
static long port_load(void *ctx, uint8_t *buf, size_t cap) {
    return static_cast<TributaryArduinoPort *>(ctx)->store()->load(buf, cap);
}
static int port_save(void *ctx, const uint8_t *buf, size_t len) {
    return static_cast<TributaryArduinoPort *>(ctx)->store()->save(buf, len) ? 0 : -1;
}
}

TributaryArduinoPort::TributaryArduinoPort(Client &client, const char *host, uint16_t port, TributaryStore *store)
    : client_(client), host_(host), port_(port), store_(store) {}

void TributaryArduinoPort::fill(te_port *port) {
    port->ctx = this;
    port->connect = port_connect;
    port->send = port_send;
    port->recv = port_recv;
    port->close = port_close;
    port->millis = port_millis;
    port->store_load = store_ != NULL ? port_load : NULL;
    port->store_save = store_ != NULL ? port_save : NULL;
}

int TributaryArduinoPort::connect(uint32_t timeout_ms) {
    // The Client interface has no connect timeout: the implementation's own applies (WiFiClient and
    // EthernetClient have a setter for it). timeout_ms bounds the calls that follow through send/recv.
    (void)timeout_ms;
    client_.stop();
    // 1 is success; implementations return 0 or negative codes on failure (so not `if (connect())`).
    // Where connect returns ArduinoCore-API's ErrorCode instead of int, it converts to bool: true == 1.
    return client_.connect(host_, port_) == 1 ? 0 : -1;
}

int TributaryArduinoPort::send(const uint8_t *buf, size_t len, uint32_t timeout_ms) {
    uint32_t start = (uint32_t)millis();
    while (len > 0) {
        size_t n;
        if (!client_.connected()) return -1;
        n = client_.write(buf, len);
        if (n > len) return -1;
        buf += n;
        len -= n;
        if (len > 0) {
            // A partial write: the socket's buffer is full. Wait for room within the timeout.
            if ((uint32_t)millis() - start >= timeout_ms) return -1;
            yield();
        }
    }
    return 0;
}

long TributaryArduinoPort::recv(uint8_t *buf, size_t cap, uint32_t timeout_ms) {
    uint32_t start = (uint32_t)millis();
    int avail;
    // Client::connected() stays true while unread bytes remain, so data before a close is read first.
    while ((avail = client_.available()) <= 0) {
        if (!client_.connected()) return -1;
        if ((uint32_t)millis() - start >= timeout_ms) return 0;
        delay(1); // lets the network stack (and the ESP32/ESP8266 watchdog) run
    }
    int n = client_.read(buf, (size_t)avail < cap ? (size_t)avail : cap);
    if (n < 0) return -1;
    return n;
}

void TributaryArduinoPort::close() { client_.stop(); }
