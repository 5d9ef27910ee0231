#pragma once
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "Print.h"
#include "Stream.h"
unsigned long millis(void);
unsigned long micros(void);
void delay(unsigned long ms);
void yield(void);
long random(long howmax);
long random(long howmin, long howmax);
int analogRead(uint8_t pin);
class HardwareSerial : public Stream {
public:
    void begin(unsigned long baud);
    int available(void);
    int read(void);
    int peek(void);
    size_t write(uint8_t);
    using Print::write;
    void flush(void);
};
extern HardwareSerial Serial;
