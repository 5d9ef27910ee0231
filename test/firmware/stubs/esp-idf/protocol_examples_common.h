#pragma once
#include "esp_err.h"
/* ESP-IDF's examples/common_components/protocol_examples_common: Wi-Fi or Ethernet, blocks until an address. */
esp_err_t example_connect(void);
