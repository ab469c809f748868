/* web-route.c: canonical request paths and route matching (see web-route.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "strutil.h"
#include "web-route.h"

static int unhex(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Decode one segment of n raw bytes; NULL with *bad set for anything not allowed in it. */
static char *segment_decode(const char *s, size_t n, bool *bad) {
        char *out = malloc(n + 1);
        if (!out)
                return NULL;
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                if (c == '%') {
                        if (i + 2 >= n)
                                goto bad;
                        int hi = unhex(s[i + 1]), lo = unhex(s[i + 2]);
                        if (hi < 0 || lo < 0)
                                goto bad;
                        c = (unsigned char) (hi * 16 + lo);
                        i += 2;
                }
                if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
                        goto bad;
                out[o++] = (char) c;
        }
        out[o] = 0;
        if (o == 0 || streq(out, ".") || streq(out, ".."))
                goto bad;
        return out;
bad:
        free(out);
        *bad = true;
        return NULL;
}

int web_path_parse(const char *raw, char ***ret) {
        if (!raw || raw[0] != '/' || strlen(raw) > WEB_PATH_MAX)
                return -EINVAL;
        char **segs = calloc(1, sizeof(char *));
        if (!segs)
                return -ENOMEM;
        size_t n = 0;
        const char *p = raw + 1;
        if (*p == 0) {
                *ret = segs;
                return 0;
        }
        for (;;) {
                const char *e = strchrnul(p, '/');
                bool bad = false;
                char *seg = segment_decode(p, (size_t) (e - p), &bad);
                if (!seg) {
                        strv_free(segs);
                        return bad ? -EINVAL : -ENOMEM;
                }
                char **m = realloc(segs, (n + 2) * sizeof(char *));
                if (!m) {
                        free(seg);
                        strv_free(segs);
                        return -ENOMEM;
                }
                segs = m;
                segs[n++] = seg;
                segs[n] = NULL;
                if (*e == 0)
                        break;
                p = e + 1;
        }
        *ret = segs;
        return (int) n;
}

bool web_route_match(const char *pattern, char *const *segments, const char *params[WEB_ROUTE_PARAMS_MAX]) {
        size_t np = 0, i = 0;
        const char *p = pattern;
        if (*p != '/')
                return false;
        p++;
        while (*p) {
                const char *e = strchrnul(p, '/');
                size_t len = (size_t) (e - p);
                const char *seg = segments[i];
                if (!seg)
                        return false;
                if (len == 2 && p[0] == '{' && p[1] == '}') {
                        if (np >= WEB_ROUTE_PARAMS_MAX)
                                return false;
                        params[np++] = seg;
                } else if (strlen(seg) != len || memcmp(seg, p, len) != 0)
                        return false;
                i++;
                p = *e ? e + 1 : e;
        }
        return segments[i] == NULL;
}

char *web_path_take_tenant(char **segs) {
        if (!segs[0] || !streq(segs[0], "api") || !segs[1] || !streq(segs[1], "v1") || !segs[2] || !segs[3])
                return NULL;
        char *tenant = segs[2];
        memmove(segs + 2, segs + 3, (strv_length(segs + 3) + 1) * sizeof(char *));
        return tenant;
}
