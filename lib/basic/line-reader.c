/* line-reader.c: a file descriptor read line by line through a bounded buffer (see line-reader.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "line-reader.h"

#define LINE_READER_CHUNK ((size_t) 64 * 1024)

void line_reader_init(LineReader *lr, int fd, size_t max) {
        *lr = (LineReader) { .fd = fd, .max = max ?: (size_t) 16 << 20 };
}

void line_reader_done(LineReader *lr) {
        free(lr->buf);
        lr->buf = NULL;
}

/* Room for at least one more chunk after end: the pending line moves to the front, the buffer grows
 * only as far as the longest line needs. */
static int line_reader_fill(LineReader *lr) {
        if (lr->start > 0) {
                memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
                lr->end -= lr->start;
                lr->scan -= lr->start;
                lr->start = 0;
        }
        if (lr->cap - lr->end < LINE_READER_CHUNK) {
                /* a pending line, its terminator and one chunk to find it in */
                if (lr->end > lr->max + 2)
                        return -E2BIG;
                size_t cap = lr->end + LINE_READER_CHUNK;
                char *b = realloc(lr->buf, cap);
                if (!b)
                        return -ENOMEM;
                lr->buf = b;
                lr->cap = cap;
        }
        for (;;) {
                ssize_t k = read(lr->fd, lr->buf + lr->end, lr->cap - lr->end);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        lr->eof = true;
                lr->end += (size_t) k;
                return 0;
        }
}

int line_reader_next(LineReader *lr, const char **ret, size_t *ret_len) {
        for (;;) {
                for (size_t i = lr->scan; i < lr->end; i++) {
                        char c = lr->buf[i];
                        if (c != '\n' && c != '\r')
                                continue;
                        /* a '\r' last in the buffer may be half of "\r\n": look further first */
                        if (c == '\r' && i + 1 == lr->end && !lr->eof)
                                break;
                        if (i - lr->start > lr->max)
                                return -E2BIG;
                        *ret = lr->buf + lr->start;
                        *ret_len = i - lr->start;
                        lr->start = lr->scan = i + 1 + (c == '\r' && i + 1 < lr->end && lr->buf[i + 1] == '\n');
                        return 1;
                }
                if (lr->eof) {
                        if (lr->start == lr->end)
                                return 0;
                        if (lr->end - lr->start > lr->max)
                                return -E2BIG;
                        *ret = lr->buf + lr->start;
                        *ret_len = lr->end - lr->start;
                        lr->start = lr->scan = lr->end;
                        return 1;
                }
                /* nothing up to end but a possible "\r" at its very end: scan on from there */
                lr->scan = lr->end > lr->start && lr->buf[lr->end - 1] == '\r' ? lr->end - 1 : lr->end;
                int r = line_reader_fill(lr);
                if (r < 0)
                        return r;
        }
}
