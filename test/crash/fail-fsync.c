// LD_PRELOAD shim for the fsync-failure test: once the file named by FAIL_FSYNC_TRIGGER
// exists, every fsync/fdatasync fails with EIO, as a dying SD card would.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int triggered(void) {
  const char *path = getenv("FAIL_FSYNC_TRIGGER");
  return path != NULL && access(path, F_OK) == 0;
}

int fdatasync(int fd) {
  static int (*real)(int) = NULL;
  if (triggered()) { errno = EIO; return -1; }
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  return real(fd);
}

int fsync(int fd) {
  static int (*real)(int) = NULL;
  if (triggered()) { errno = EIO; return -1; }
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  return real(fd);
}
