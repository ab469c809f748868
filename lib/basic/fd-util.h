/* fd-util.h: writing and copying through file descriptors, whole, across short writes and EINTR. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Write all n bytes of data to fd. */
int fd_write_all(int fd, const void *data, size_t n);

/* Copy in (from its offset) to out until in ends, at most max bytes: -EFBIG past them (UINT64_MAX:
 * no limit). *copied (may be NULL) counts what was written. */
int fd_copy(int in, int out, uint64_t max, uint64_t *copied);
