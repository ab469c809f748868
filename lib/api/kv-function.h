/* kv-function.h: the kv() function of expressions, written once for every renderer that has a key-value
 * store (the worker over its task services, the executor over its step's transaction). */
#pragma once

#include <jansson.h>
#include <stdbool.h>

/* How a renderer reads an entry: 0 with *ret, -ENOENT when missing (or expired), another negative
 * errno when the store failed. */
typedef int (*ApiKvGet)(void *userdata, const char *ns, const char *key, json_t **ret);

/* Namespaces starting with '_' are tern's own (the webserver's users and tokens live in "_tern.auth"):
 * no flow may read or write them. */
static inline bool api_kv_namespace_reserved(const char *ns) {
        return !ns || ns[0] == '_';
}

/* kv(key, namespace = flow_ns, errorOnMissing = false): the contract of ExprContext.function. A missing
 * entry is null unless errorOnMissing; get NULL: the renderer has no store, which the message says. */
int api_kv_function(ApiKvGet get, void *userdata, const char *flow_ns, json_t *args, json_t **ret, char **ret_message);
