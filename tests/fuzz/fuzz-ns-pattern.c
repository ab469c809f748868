/* fuzz-ns-pattern: libFuzzer target for namespace file patterns and paths (lib/api/namespace-files.c):
 * any pattern against any path ends within its budget, and a path that passes normalization
 * never leads out of the namespace's files (invariants trap). */
#include <stdint.h>
#include <string.h>

#include "macro.h"
#include "namespace-files.h"
#include "strutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char in[2048];
        if (size >= sizeof in)
                return 0;
        memcpy(in, data, size);
        in[size] = 0;

        /* Input "PATTERN\nPATH": match them (the answer does not matter, ending does). */
        char *nl = strchr(in, '\n');
        const char *path = "/a/b/c.sql";
        if (nl) {
                *nl = 0;
                path = nl + 1;
        }
        (void) api_ns_pattern_invalid(in);
        (void) api_ns_pattern_match(in, path);

        _cleanup_free_ char *key = NULL;
        if (api_ns_file_key("fuzz.ns", path, &key) == 0) {
                const char *rest = startswith(key, "fuzz/ns/_files");
                if (!rest || (*rest && *rest != '/') || strstr(key, "/../") || strstr(key, "/./") ||
                    endswith(key, "/..") || strstr(key, "//") || strchr(key, '\\'))
                        __builtin_trap();
        }
        return 0;
}
