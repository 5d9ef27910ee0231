#pragma once
#include "Arduino.h"
#include "Client.h"
typedef enum {
    WL_IDLE_STATUS = 0, WL_NO_SSID_AVAIL = 1, WL_SCAN_COMPLETED = 2, WL_CONNECTED = 3, WL_CONNECT_FAILED = 4,
    WL_CONNECTION_LOST = 5, WL_DISCONNECTED = 6
} wl_status_t;
class WiFiClass {
public:
    wl_status_t begin(const char *ssid, const char *passphrase = NULL, int32_t channel = 0, const uint8_t *bssid = NULL,
                      bool connect = true);
    wl_status_t status();
    uint8_t *macAddress(uint8_t *mac);
};
extern WiFiClass WiFi;
class WiFiClient : public Client {
public:
    WiFiClient();
    int connect(IPAddress ip, uint16_t port);
    int connect(const char *host, uint16_t port);
    size_t write(uint8_t data);
    size_t write(const uint8_t *buf, size_t size);
    int available();
    int read();
    int read(uint8_t *buf, size_t size);
    int peek();
    void flush();
    void stop();
    uint8_t connected();
    operator bool();
};
