/* kv-function.c: the kv() function of expressions (see kv-function.h). */
#include <errno.h>
#include <string.h>

#include "kv-function.h"
#include "strutil.h"

int api_kv_function(ApiKvGet get, void *userdata, const char *flow_ns, json_t *args, json_t **ret, char **ret_message) {
        const char *key = json_string_value(json_array_get(args, 0));
        json_t *nsv = json_array_get(args, 1), *eom = json_array_get(args, 2);
        const char *ns = json_is_string(nsv) ? json_string_value(nsv) : flow_ns;

        if (!key) {
                *ret_message = strdup("kv() needs a key");
                return -EINVAL;
        }
        if (!get) {
                *ret_message = strdup("kv() needs the key-value store, which is not available where this expression is "
                                      "rendered");
                return -EINVAL;
        }
        int r = api_kv_namespace_reserved(ns) ? -EPERM : get(userdata, strempty(ns), key, ret);
        if (r == -ENOENT) {
                if (json_is_true(eom)) {
                        *ret_message = strdup_printf("No value found for key '%s' in namespace '%s'", key, strempty(ns));
                        return -EINVAL;
                }
                *ret = json_null();
                return 0;
        }
        if (r < 0) {
                *ret_message = strdup_printf("kv('%s'): %s", key, strerror(-r));
                return r == -ENOMEM ? r : -EINVAL;
        }
        return 0;
}
