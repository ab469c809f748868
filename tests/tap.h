/* tap.h: a minimal TAP producer for unit tests (meson test protocol: 'tap'). */
#pragma once

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The counters are shared by every file of a test binary (a test split by concern counts as one plan).
 * Weak definitions in this header let the linker keep one copy without a tap.c that every test's
 * executable() would have to list; a test written against the old header still builds as it is. */
extern unsigned tap_count, tap_failed;
__attribute__((weak)) unsigned tap_count, tap_failed;

static inline __attribute__((format(printf, 2, 3))) bool tap_ok(bool cond, const char *fmt, ...) {
        char name[1024];
        va_list ap;
        tap_count++;
        if (!cond)
                tap_failed++;
        va_start(ap, fmt);
        vsnprintf(name, sizeof name, fmt, ap);
        va_end(ap);
        /* A test name is one TAP line: line breaks in it (templates, YAML) are shown escaped. */
        printf("%s %u - ", cond ? "ok" : "not ok", tap_count);
        for (const char *c = name; *c; c++) {
                if (*c == '\n')
                        fputs("\\n", stdout);
                else if (*c == '\r')
                        fputs("\\r", stdout);
                else if (*c == '#')
                        fputs("\\#", stdout); /* '#' would start a TAP directive */
                else
                        putchar(*c);
        }
        printf("\n");
        fflush(stdout);
        return cond;
}

#define ok(cond, ...) tap_ok(!!(cond), __VA_ARGS__)
#define diag(...) (printf("# "), printf(__VA_ARGS__), printf("\n"))

#define is_int(got, expected, name)                                                                          \
        ({                                                                                                   \
                long long _g = (long long) (got), _x = (long long) (expected);                              \
                bool _r = ok(_g == _x, "%s", name);                                                         \
                if (!_r)                                                                                    \
                        diag("  %s:%d: got %lld, expected %lld", __FILE__, __LINE__, _g, _x);               \
                _r;                                                                                          \
        })

#define is_str(got, expected, name)                                                                          \
        ({                                                                                                   \
                const char *_g = (got), *_x = (expected);                                                   \
                bool _r = ok(_g && _x ? strcmp(_g, _x) == 0 : _g == _x, "%s", name);                        \
                if (!_r)                                                                                    \
                        diag("  %s:%d: got \"%s\", expected \"%s\"", __FILE__, __LINE__, _g ? _g : "(null)", \
                             _x ? _x : "(null)");                                                           \
                _r;                                                                                          \
        })

/* Skip the whole test: under the TAP protocol the plan "1..0 # SKIP reason" is the skip signal, and
 * any status but 0 would count as an error (meson reads a bare 77 as one too). */
static inline void tap_skip_all(const char *why) {
        printf("1..0 # SKIP %s\n", why);
        fflush(stdout);
        exit(EXIT_SUCCESS);
}

static inline int tap_done(void) {
        printf("1..%u\n", tap_count);
        if (tap_failed)
                printf("# %u of %u failed\n", tap_failed, tap_count);
        return tap_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
