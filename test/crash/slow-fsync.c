// LD_PRELOAD shim for the PUBACK timing test: once the file named by SLOW_FSYNC_TRIGGER exists,
// every fsync/fdatasync first sleeps SLOW_FSYNC_MS milliseconds, as a slow SD card would.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void slow_down(void) {
  const char *path = getenv("SLOW_FSYNC_TRIGGER");
  const char *ms = getenv("SLOW_FSYNC_MS");
  if (path == NULL || ms == NULL || access(path, F_OK) != 0) return;
  long n = atol(ms);
  struct timespec t = { n / 1000, (n % 1000) * 1000000L };
  nanosleep(&t, NULL);
}

int fdatasync(int fd) {
  static int (*real)(int) = NULL;
  slow_down();
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  return real(fd);
}

int fsync(int fd) {
  static int (*real)(int) = NULL;
  slow_down();
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  return real(fd);
}
