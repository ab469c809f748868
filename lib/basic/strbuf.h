/* strbuf.h: growable string builder; every append reports -ENOMEM instead of aborting. */
#pragma once

#include <stdarg.h>
#include <stddef.h>

#include "macro.h"

typedef struct StrBuf {
        char *buf;  /* always NUL-terminated once anything was appended */
        size_t len;
        size_t cap;
        int error;  /* sticky: first failure; later appends are no-ops */
} StrBuf;

#define STRBUF_INIT { NULL, 0, 0, 0 }

int strbuf_reserve(StrBuf *sb, size_t extra);
int strbuf_append(StrBuf *sb, const char *s);
int strbuf_append_n(StrBuf *sb, const char *s, size_t n);
int strbuf_append_char(StrBuf *sb, char c);
int strbuf_appendf(StrBuf *sb, const char *fmt, ...) _printf_(2, 3);
int strbuf_vappendf(StrBuf *sb, const char *fmt, va_list ap) _printf_(2, 0);
/* Repeat c n times (indentation). */
int strbuf_append_repeat(StrBuf *sb, char c, size_t n);
void strbuf_truncate(StrBuf *sb, size_t len);
/* Hand the buffer to the caller (never NULL on success: "" for an empty builder). NULL on error. */
char *strbuf_steal(StrBuf *sb);
const char *strbuf_str(const StrBuf *sb);
void strbuf_done(StrBuf *sb);

static inline void strbuf_donep(StrBuf *sb) {
        strbuf_done(sb);
}
#define _cleanup_strbuf_ _cleanup_(strbuf_donep)
