/* strutil.c: string helpers. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "strutil.h"

char *strdup_printf(const char *fmt, ...) {
        va_list ap;
        char *s;
        va_start(ap, fmt);
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        return r < 0 ? NULL : s;
}

void error_setf(char **ret_error, const char *fmt, ...) {
        va_list ap;
        if (!ret_error)
                return;
        free(*ret_error);
        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
}

char *strjoin_real(const char *first, ...) {
        StrBuf sb = STRBUF_INIT;
        va_list ap;
        va_start(ap, first);
        for (const char *s = first; s; s = va_arg(ap, const char *))
                strbuf_append(&sb, s);
        va_end(ap);
        return strbuf_steal(&sb);
}

char **strv_free(char **l) {
        if (l) {
                for (char **i = l; *i; i++)
                        free(*i);
                free(l);
        }
        return NULL;
}

size_t strv_length(char *const *l) {
        size_t n = 0;
        if (l)
                while (l[n])
                        n++;
        return n;
}

int strv_consume(char ***l, char *s) {
        if (!s)
                return -ENOMEM;
        size_t n = strv_length(*l);
        char **nl = realloc(*l, sizeof(char *) * (n + 2));
        if (!nl) {
                free(s);
                return -ENOMEM;
        }
        nl[n] = s;
        nl[n + 1] = NULL;
        *l = nl;
        return 0;
}

int strv_extend(char ***l, const char *s) {
        return strv_consume(l, strdup(s));
}

bool strv_contains(char *const *l, const char *s) {
        if (l)
                for (; *l; l++)
                        if (streq(*l, s))
                                return true;
        return false;
}

int strv_split(const char *s, const char *sep, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        int r;

        /* Always return a vector, even when empty. */
        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        while (*s) {
                size_t skip = strspn(s, sep);
                s += skip;
                if (!*s)
                        break;
                size_t n = strcspn(s, sep);
                r = strv_consume(&l, strndup(s, n));
                if (r < 0)
                        return r;
                s += n;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

char *strv_join(char *const *l, const char *sep) {
        StrBuf sb = STRBUF_INIT;
        strbuf_reserve(&sb, 0);
        if (l)
                for (char *const *i = l; *i; i++) {
                        if (i != l)
                                strbuf_append(&sb, sep);
                        strbuf_append(&sb, *i);
                }
        return strbuf_steal(&sb);
}

int safe_atoi64(const char *s, int64_t *ret) {
        char *end;
        if (isempty(s) || isspace((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int safe_atou64(const char *s, uint64_t *ret) {
        char *end;
        if (isempty(s) || isspace((unsigned char) *s) || *s == '-' || *s == '+')
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int safe_atoi(const char *s, int *ret) {
        int64_t v;
        int r = safe_atoi64(s, &v);
        if (r < 0)
                return r;
        if (v < INT_MIN || v > INT_MAX)
                return -ERANGE;
        *ret = (int) v;
        return 0;
}

int safe_atou(const char *s, unsigned *ret) {
        uint64_t v;
        int r = safe_atou64(s, &v);
        if (r < 0)
                return r;
        if (v > UINT_MAX)
                return -ERANGE;
        *ret = (unsigned) v;
        return 0;
}

int safe_atod(const char *s, double *ret) {
        char *end;
        if (isempty(s) || isspace((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        double v = strtod(s, &end);
        if (errno == ERANGE)
                return -ERANGE;
        if (*end || isnan(v))
                return -EINVAL;
        *ret = v;
        return 0;
}

char *strstrip(char *s) {
        char *b = s;
        while (isspace((unsigned char) *b))
                b++;
        size_t n = strlen(b);
        while (n > 0 && isspace((unsigned char) b[n - 1]))
                n--;
        memmove(s, b, n);
        s[n] = 0;
        return s;
}

bool string_is_printable_utf8(const char *s, size_t n) {
        const unsigned char *p = (const unsigned char *) s, *e = p + n;
        while (p < e) {
                unsigned c = *p;
                size_t len;
                if (c < 0x80) {
                        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                                return false;
                        if (c == 0x7f)
                                return false;
                        p++;
                        continue;
                }
                if ((c & 0xe0) == 0xc0 && c >= 0xc2)
                        len = 2;
                else if ((c & 0xf0) == 0xe0)
                        len = 3;
                else if ((c & 0xf8) == 0xf0 && c <= 0xf4)
                        len = 4;
                else
                        return false;
                if ((size_t) (e - p) < len)
                        return false;
                for (size_t i = 1; i < len; i++)
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                p += len;
        }
        return true;
}

size_t str_edit_distance(const char *a, const char *b, size_t max) {
        size_t la = strlen(a), lb = strlen(b);
        if ((la > lb ? la - lb : lb - la) > max)
                return max + 1;
        if (lb > 256)
                return max + 1;
        size_t row[257];
        for (size_t j = 0; j <= lb; j++)
                row[j] = j;
        for (size_t i = 1; i <= la; i++) {
                size_t prev = row[0], best;
                row[0] = i;
                best = row[0];
                for (size_t j = 1; j <= lb; j++) {
                        size_t cur = row[j];
                        size_t cost = tolower((unsigned char) a[i - 1]) == tolower((unsigned char) b[j - 1]) ? 0 : 1;
                        size_t v = MIN(MIN(row[j] + 1, row[j - 1] + 1), prev + cost);
                        row[j] = v;
                        prev = cur;
                        best = MIN(best, v);
                }
                if (best > max)
                        return max + 1;
        }
        return MIN(row[lb], max + 1);
}
