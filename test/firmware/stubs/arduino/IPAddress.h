#pragma once
#include <stdint.h>
class IPAddress {
public:
    IPAddress();
    IPAddress(uint8_t first_octet, uint8_t second_octet, uint8_t third_octet, uint8_t fourth_octet);
    uint8_t *raw_address();
};
