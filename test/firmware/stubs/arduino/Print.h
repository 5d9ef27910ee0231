#pragma once
#include <stddef.h>
#include <stdint.h>
#define DEC 10
#define HEX 16
class Print {
public:
    virtual ~Print() {}
    virtual size_t write(uint8_t) = 0;
    size_t write(const char *str);
    virtual size_t write(const uint8_t *buffer, size_t size);
    size_t write(const char *buffer, size_t size);
    virtual int availableForWrite();
    size_t print(const char[]);
    size_t print(char);
    size_t print(int, int = DEC);
    size_t print(unsigned int, int = DEC);
    size_t print(long, int = DEC);
    size_t print(unsigned long, int = DEC);
    size_t println(const char[]);
    size_t println(int, int = DEC);
    size_t println(unsigned long, int = DEC);
    size_t println(void);
    virtual void flush();
};
