#pragma once
#include <stdint.h>
/* Microseconds since boot. */
int64_t esp_timer_get_time(void);
