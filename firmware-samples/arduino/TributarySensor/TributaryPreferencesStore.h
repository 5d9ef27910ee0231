// TributaryStore over ESP32's Preferences (the Arduino-ESP32 core's NVS wrapper): one blob, written
// with nvs_set_blob + nvs_commit, which keeps the old blob until the new one is written.
// Include it only on ESP32 (TributarySensor.ino does, with TRIBUTARY_STORE_PREFERENCES).
#ifndef TRIBUTARY_PREFERENCES_STORE_H
#define TRIBUTARY_PREFERENCES_STORE_H

#include <Preferences.h>

#include "TributaryArduinoPort.h"

class TributaryPreferencesStore : public TributaryStore {
public:
    // namespace_name and key: at most 15 characters each (NVS).
    TributaryPreferencesStore(const char *namespace_name, const char *key) : ns_(namespace_name), key_(key) {}
    bool begin() { return prefs_.begin(ns_, false); }
    long load(uint8_t *buf, size_t cap) {
        if (!prefs_.isKey(key_)) return 0; // first boot
        size_t len = prefs_.getBytesLength(key_);
        if (len == 0 || len > cap) return -1; // larger than any state of this ring: refuse it
        return prefs_.getBytes(key_, buf, cap) == len ? (long)len : -1;
    }
    bool save(const uint8_t *buf, size_t len) { return prefs_.putBytes(key_, buf, len) == len; }

private:
    Preferences prefs_;
    const char *ns_;
    const char *key_;
};

#endif
