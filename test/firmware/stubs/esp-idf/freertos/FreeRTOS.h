#pragma once
#include <stdint.h>
#include "sdkconfig.h"
typedef uint32_t TickType_t;
typedef int BaseType_t;
typedef unsigned int UBaseType_t;
#define configTICK_RATE_HZ 100
#define portMAX_DELAY ((TickType_t)0xffffffffUL)
#define pdPASS 1
#define pdMS_TO_TICKS(xTimeInMs) ((TickType_t)(((uint64_t)(xTimeInMs) * (uint64_t)configTICK_RATE_HZ) / 1000U))
