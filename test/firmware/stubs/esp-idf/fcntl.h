#pragma once
/* newlib's, through ESP-IDF's VFS (which hands socket descriptors to lwIP). */
#define F_GETFL 3
#define F_SETFL 4
#define O_NONBLOCK 0x4000
int fcntl(int fd, int cmd, ...);
