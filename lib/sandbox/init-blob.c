/* init-blob.c: the sandbox's init (sandbox-init.c), linked into the library as bytes, put into a
 * sealed memfd that a task's PID 1 execs. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "macro.h"
#include "sandbox-init.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

/* sandbox-init-blob.S (.incbin of the built program). */
extern const unsigned char sandbox_init_blob[], sandbox_init_blob_end[];

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
/* Made once, never changed nor closed afterwards: what every sandbox of the process execs. */
static int init_fd = -EBADF;

static int init_memfd(void) {
        /* MFD_EXEC: a kernel with vm.memfd_noexec = 1 makes memfds not executable by default. */
        int fd = memfd_create(SANDBOX_INIT_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
        if (fd < 0 && errno == EINVAL)
                fd = memfd_create(SANDBOX_INIT_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return -errno;
        size_t size = (size_t) (sandbox_init_blob_end - sandbox_init_blob);
        for (size_t off = 0; off < size;) {
                ssize_t n = write(fd, sandbox_init_blob + off, size - off);
                if (n <= 0) {
                        int e = n < 0 ? -errno : -EIO;
                        close(fd);
                        return e;
                }
                off += (size_t) n;
        }
        /* Nobody changes it afterwards, even through a copy of the fd. */
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
                int e = -errno;
                close(fd);
                return e;
        }
        return fd;
}

static void init_make(void) {
        init_fd = init_memfd();
}

int sandbox_init_fd(void) {
        (void) pthread_once(&init_once, init_make);
        return init_fd;
}
