// LD_PRELOAD shim for the slow-disk tests. Two modes, each set by environment variables:
// - slow: once the file named by SLOW_FSYNC_TRIGGER exists, every fsync/fdatasync first sleeps
//   SLOW_FSYNC_MS milliseconds, as a slow SD card would;
// - hold: while the file named by SLOW_FSYNC_HOLD exists, every fsync/fdatasync waits (polling every
//   millisecond) until it is removed, after creating the file named by SLOW_FSYNC_HELD, so a test
//   knows a flush is being held and can check what the broker still answers meanwhile.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
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

static void hold(void) {
  const char *path = getenv("SLOW_FSYNC_HOLD");
  const char *held = getenv("SLOW_FSYNC_HELD");
  if (path == NULL || access(path, F_OK) != 0) return;
  if (held != NULL) {
    int fd = open(held, O_WRONLY | O_CREAT, 0644);
    if (fd >= 0) close(fd);
  }
  struct timespec t = { 0, 1000000L };
  while (access(path, F_OK) == 0) nanosleep(&t, NULL);
}

int fdatasync(int fd) {
  static int (*real)(int) = NULL;
  slow_down();
  hold();
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  return real(fd);
}

int fsync(int fd) {
  static int (*real)(int) = NULL;
  slow_down();
  hold();
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  return real(fd);
}
