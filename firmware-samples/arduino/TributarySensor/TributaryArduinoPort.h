// Arduino port of the edge library: the connection is any Arduino `Client` (WiFiClient,
// EthernetClient, GSMClient, a TLS client wrapping one of them...), the clock is millis(), and
// persistent storage is optional (a TributaryStore, e.g. TributaryPreferencesStore on ESP32).
#ifndef TRIBUTARY_ARDUINO_PORT_H
#define TRIBUTARY_ARDUINO_PORT_H

#include <Arduino.h>
#include <Client.h>

#include "TributaryEdge.h"

// One blob of persistent state, replaced atomically (old or new, never a mix).
class TributaryStore {
public:
    virtual ~TributaryStore() {}
    // The blob's length, 0 when nothing is stored, negative when it cannot be read (or exceeds cap).
    virtual long load(uint8_t *buf, size_t cap) = 0;
    // true when the blob is stored.
    virtual bool save(const uint8_t *buf, size_t len) = 0;
};

class TributaryArduinoPort {
public:
    // host: a name or a dotted address, as Client::connect(const char *, uint16_t) takes it.
    TributaryArduinoPort(Client &client, const char *host, uint16_t port, TributaryStore *store = NULL);
    // Fills *port with this port's functions; *this must outlive it.
    void fill(te_port *port);

    // Used by the te_port functions (they are C functions over ctx = this).
    int connect(uint32_t timeout_ms);
    int send(const uint8_t *buf, size_t len, uint32_t timeout_ms);
    long recv(uint8_t *buf, size_t cap, uint32_t timeout_ms);
    void close();
    TributaryStore *store() { return store_; }

private:
    Client &client_;
    const char *host_;
    uint16_t port_;
    TributaryStore *store_;
};

#endif
