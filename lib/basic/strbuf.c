/* strbuf.c: growable string builder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

int strbuf_reserve(StrBuf *sb, size_t extra) {
        if (sb->error)
                return sb->error;
        if (extra > SIZE_MAX / 2 - sb->len - 1)
                return (sb->error = -ENOMEM);
        size_t need = sb->len + extra + 1;
        if (need <= sb->cap)
                return 0;
        size_t cap = sb->cap ? sb->cap : 64;
        while (cap < need)
                cap *= 2;
        char *n = realloc(sb->buf, cap);
        if (!n)
                return (sb->error = -ENOMEM);
        if (!sb->buf)
                n[0] = 0;
        sb->buf = n;
        sb->cap = cap;
        return 0;
}

int strbuf_append_n(StrBuf *sb, const char *s, size_t n) {
        int r = strbuf_reserve(sb, n);
        if (r < 0 || n == 0)
                return r; /* nothing to copy (s may then be NULL: memcpy would not allow it) */
        memcpy(sb->buf + sb->len, s, n);
        sb->len += n;
        sb->buf[sb->len] = 0;
        return 0;
}

int strbuf_append(StrBuf *sb, const char *s) {
        return strbuf_append_n(sb, s, strlen(s));
}

int strbuf_append_char(StrBuf *sb, char c) {
        return strbuf_append_n(sb, &c, 1);
}

int strbuf_append_repeat(StrBuf *sb, char c, size_t n) {
        int r = strbuf_reserve(sb, n);
        if (r < 0)
                return r;
        memset(sb->buf + sb->len, c, n);
        sb->len += n;
        sb->buf[sb->len] = 0;
        return 0;
}

int strbuf_vappendf(StrBuf *sb, const char *fmt, va_list ap) {
        va_list aq;
        char small[256];

        if (sb->error)
                return sb->error;
        va_copy(aq, ap);
        int n = vsnprintf(small, sizeof small, fmt, aq);
        va_end(aq);
        if (n < 0)
                return (sb->error = -EINVAL);
        if ((size_t) n < sizeof small)
                return strbuf_append_n(sb, small, (size_t) n);
        int r = strbuf_reserve(sb, (size_t) n);
        if (r < 0)
                return r;
        vsnprintf(sb->buf + sb->len, (size_t) n + 1, fmt, ap);
        sb->len += (size_t) n;
        return 0;
}

int strbuf_appendf(StrBuf *sb, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = strbuf_vappendf(sb, fmt, ap);
        va_end(ap);
        return r;
}

void strbuf_truncate(StrBuf *sb, size_t len) {
        if (sb->buf && len < sb->len) {
                sb->len = len;
                sb->buf[len] = 0;
        }
}

const char *strbuf_str(const StrBuf *sb) {
        return sb->buf ? sb->buf : "";
}

char *strbuf_steal(StrBuf *sb) {
        if (sb->error) {
                strbuf_done(sb);
                return NULL;
        }
        if (!sb->buf && strbuf_reserve(sb, 0) < 0)
                return NULL;
        char *s = sb->buf;
        *sb = (StrBuf) STRBUF_INIT;
        return s;
}

void strbuf_done(StrBuf *sb) {
        free(sb->buf);
        *sb = (StrBuf) STRBUF_INIT;
}
