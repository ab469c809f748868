/* fd-util.c: writing and copying through file descriptors, whole, across short writes and EINTR. */
#include <errno.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"

int fd_write_all(int fd, const void *data, size_t n) {
        const char *p = data;
        for (size_t off = 0; off < n;) {
                ssize_t w = write(fd, p + off, n - off);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return -errno;
                off += (size_t) w;
        }
        return 0;
}

int fd_copy(int in, int out, uint64_t max, uint64_t *copied) {
        char buf[65536];
        uint64_t done = 0;
        for (;;) {
                ssize_t n = read(in, buf, sizeof buf);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                if ((uint64_t) n > max - MIN(done, max))
                        return -EFBIG;
                int r = fd_write_all(out, buf, (size_t) n);
                if (r < 0)
                        return r;
                done += (uint64_t) n;
                if (copied)
                        *copied = done;
        }
}
