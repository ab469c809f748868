/* fuzz-storage-key: libFuzzer target for storage keys and kestra:/// URIs (invariants trap). */
#include <stdint.h>
#include <string.h>

#include "key.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a valid key may never be, whatever storage_key_invalid() thinks: checked independently. */
static bool key_is_safe(const char *k) {
        if (!*k || *k == '/' || strchr(k, '\\') || strstr(k, "//") || endswith(k, "/"))
                return false;
        for (const char *seg = k; seg; seg = strchr(seg, '/') ? strchr(seg, '/') + 1 : NULL)
                if (startswith(seg, "../") || startswith(seg, "./") || streq(seg, "..") || streq(seg, "."))
                        return false;
        for (const char *p = k; *p; p++)
                if ((unsigned char) *p < 0x20)
                        return false;
        return !strcasestr(k, "%2e") && !strcasestr(k, "%2f") && !strcasestr(k, "%5c") && !strcasestr(k, "%25");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char in[2048];
        if (size >= sizeof in)
                return 0;
        memcpy(in, data, size);
        in[size] = 0;

        if (!storage_key_invalid(in) && !key_is_safe(in))
                __builtin_trap();

        _cleanup_free_ char *key = NULL;
        const char *why = NULL;
        int r = storage_key_from_uri(in, &key, &why);
        if (r == 0) {
                if (!key || !key_is_safe(key))
                        __builtin_trap();
                /* A key's URI is the same key again. */
                _cleanup_free_ char *uri = storage_key_to_uri(key), *again = NULL;
                if (!uri || storage_key_from_uri(uri, &again, NULL) != 0 || !streq(again, key))
                        __builtin_trap();
        } else if (r == -EINVAL && !why)
                __builtin_trap();

        /* The same text as a namespace file path and a task file name. */
        _cleanup_free_ char *nf = NULL, *tf = NULL;
        if (storage_key_namespace_file("company.team", in, &nf) == 0 && (!key_is_safe(nf) || !startswith(nf, "company/team/_files/")))
                __builtin_trap();
        if (storage_key_task_file("ns", "flow", "e", "t", "r", in, &tf) == 0 && !key_is_safe(tf))
                __builtin_trap();
        return 0;
}
