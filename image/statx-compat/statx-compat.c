/*
 * statx(3) that drops AT_NO_AUTOMOUNT when the kernel refuses it.
 *
 * gVisor as Debian 12 ships it (runsc release 2022-12-19) answers statx and
 * fstatat with EINVAL whenever the flags include AT_NO_AUTOMOUNT, and coreutils 9
 * passes that flag on every statx: under that runsc `ls DIR`, `ls -l` and `stat`
 * fail with "Invalid argument" on every file. A container has no automount point,
 * so the flag changes nothing there, and the call is made again without it. On
 * Linux the first call succeeds and nothing else happens.
 *
 * The worker image loads this into every dynamically linked program through
 * /etc/ld.so.preload: root-owned, in the read-only image, not an environment
 * variable a command could set or drop.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/stat.h>

typedef int statx_function(int, const char *, int, unsigned int, struct statx *);

static statx_function *libc_statx;

__attribute__((constructor)) static void find_libc_statx(void) {
  libc_statx = (statx_function *)dlsym(RTLD_NEXT, "statx");
}

int statx(int dirfd, const char *restrict path, int flags, unsigned int mask, struct statx *restrict buf) {
  if (libc_statx == NULL) {
    errno = ENOSYS;
    return -1;
  }
  int result = libc_statx(dirfd, path, flags, mask, buf);
  if (result < 0 && errno == EINVAL && (flags & AT_NO_AUTOMOUNT) != 0) {
    result = libc_statx(dirfd, path, flags & ~AT_NO_AUTOMOUNT, mask, buf);
  }
  return result;
}
