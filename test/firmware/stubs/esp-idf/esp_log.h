#pragma once
#include <inttypes.h>
#include <stdint.h>
#include "sdkconfig.h"
typedef enum { ESP_LOG_NONE, ESP_LOG_ERROR, ESP_LOG_WARN, ESP_LOG_INFO, ESP_LOG_DEBUG, ESP_LOG_VERBOSE } esp_log_level_t;
uint32_t esp_log_timestamp(void);
void esp_log_write(esp_log_level_t level, const char *tag, const char *format, ...) __attribute__((format(printf, 3, 4)));
/* As ESP-IDF's: the format is pasted into a literal, so it must be a string literal itself. */
#define TE_STUB_LOG(level, letter, tag, format, ...)                                                            \
    esp_log_write(level, tag, #letter " (%" PRIu32 ") %s: " format "\n", esp_log_timestamp(), tag, ##__VA_ARGS__)
#define ESP_LOGE(tag, format, ...) TE_STUB_LOG(ESP_LOG_ERROR, E, tag, format, ##__VA_ARGS__)
#define ESP_LOGW(tag, format, ...) TE_STUB_LOG(ESP_LOG_WARN, W, tag, format, ##__VA_ARGS__)
#define ESP_LOGI(tag, format, ...) TE_STUB_LOG(ESP_LOG_INFO, I, tag, format, ##__VA_ARGS__)
#define ESP_LOGD(tag, format, ...) TE_STUB_LOG(ESP_LOG_DEBUG, D, tag, format, ##__VA_ARGS__)
