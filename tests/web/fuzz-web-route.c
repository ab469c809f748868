/* fuzz-web-route: libFuzzer target for request path canonicalization and route matching (invariants trap). */
#include <stdint.h>
#include <string.h>

#include "strutil.h"
#include "web-route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const patterns[] = {
        "/health", "/api/v1/flows/{}/{}", "/api/v1/executions/{}/kill", "/api/v1/executions/webhook/{}/{}/{}", "/",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char raw[WEB_PATH_MAX + 16];
        if (size >= sizeof raw)
                return 0;
        memcpy(raw, data, size);
        raw[size] = 0;
        _cleanup_strv_free_ char **segs = NULL;
        int n = web_path_parse(raw, &segs);
        if (n < 0)
                return 0;
        /* Accepted: one segment per '/', none empty, "." or "..", none with a separator or control
         * character after decoding, so two spellings never reach the same route. */
        size_t slashes = 0;
        for (const char *p = raw; *p; p++)
                slashes += *p == '/';
        if ((size_t) n != (slashes == 1 && raw[1] == 0 ? 0 : slashes) || strv_length(segs) != (size_t) n)
                __builtin_trap();
        for (int i = 0; i < n; i++) {
                if (!*segs[i] || streq(segs[i], ".") || streq(segs[i], ".."))
                        __builtin_trap();
                for (const char *p = segs[i]; *p; p++)
                        if ((unsigned char) *p < 0x20 || *p == '/' || *p == '\\' || *p == 0x7f)
                                __builtin_trap();
        }
        for (size_t i = 0; i < ELEMENTSOF(patterns); i++) {
                const char *params[WEB_ROUTE_PARAMS_MAX] = {};
                if (!web_route_match(patterns[i], segs, params))
                        continue;
                /* Parameters are segments, and a literal pattern matches only its own text. */
                for (size_t k = 0; k < WEB_ROUTE_PARAMS_MAX && params[k]; k++) {
                        bool found = false;
                        for (int j = 0; j < n; j++)
                                found |= params[k] == segs[j];
                        if (!found)
                                __builtin_trap();
                }
                if (!strchr(patterns[i], '{') && !streq(raw, patterns[i]) && strchr(raw, '%') == NULL)
                        __builtin_trap();
        }
        return 0;
}
