/* web-namespaces.c: Kestra's namespace routes (/api/v1/namespaces/search, /ids, /autocomplete, /{id}). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "key.h"
#include "kv-function.h"
#include "strutil.h"
#include "timeutil.h"
#include "web-internal.h"

/* As many as Kestra's autocomplete answers, besides the ids it is asked to keep. */
#define NAMESPACES_AUTOCOMPLETE_MAX 50

/* ns and each namespace above it ("a.b.c": "a", "a.b", "a.b.c") into the set, as Kestra lists a
 * namespace's parents too; tern's own ('_...') stay out. */
static int set_add_tree(json_t *set, const char *ns) {
        if (isempty(ns) || api_kv_namespace_reserved(ns))
                return 0;
        _cleanup_free_ char *p = strdup(ns);
        if (!p)
                return -ENOMEM;
        for (char *dot = p;;) {
                dot = strchr(dot, '.');
                if (dot)
                        *dot = '\0';
                if (json_object_set_new(set, p, json_true()) < 0)
                        return -ENOMEM;
                if (!dot)
                        return 0;
                *dot++ = '.';
        }
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Every namespace, sorted (a strv): tern keeps no namespace records, so they are those of the flows
 * and of the key-value entries not expired, with their parents. Namespace files are left out: only
 * listing the whole internal storage would find them. 0, or the reply is made (-1). */
static int namespaces_all(WebCtx *c, char ***ret) {
        _cleanup_store_tx_ StoreTx *tx = NULL;
        _cleanup_json_ json_t *kv = NULL, *set = json_object();
        StoreFlow *rows = NULL;
        size_t n = 0;
        if (!set)
                return web_reply_error(c, 500, "out of memory"), -1;
        int r = store_begin(c->store, &tx);
        if (r >= 0)
                r = store_flow_list(tx, NULL, &rows, &n);
        if (r >= 0)
                r = store_kv_entries(tx, &kv);
        if (r < 0) {
                store_flows_free(rows, n);
                return web_reply_store_error(c, r), -1;
        }
        store_rollback(TAKE_PTR(tx));
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = set_add_tree(set, rows[i].namespace);
        store_flows_free(rows, n);
        usec_t now = now_realtime();
        size_t i;
        json_t *e;
        json_array_foreach(kv, i, e) {
                json_int_t exp = json_integer_value(json_object_get(e, "expiresAt"));
                if (r >= 0 && (exp == 0 || (usec_t) exp > now))
                        r = set_add_tree(set, json_string_value(json_object_get(e, "namespace")));
        }
        _cleanup_strv_free_ char **l = calloc(json_object_size(set) + 1, sizeof(char *));
        if (r < 0 || !l)
                return web_reply_error(c, 500, "out of memory"), -1;
        size_t k = 0;
        const char *name;
        json_t *v;
        json_object_foreach(set, name, v)
                if (!(l[k++] = strdup(name)))
                        return web_reply_error(c, 500, "out of memory"), -1;
        qsort(l, k, sizeof *l, cmp_str);
        *ret = TAKE_PTR(l);
        return 0;
}

/* Kestra's Namespace: tern's are never deleted (they are there while something is in them). */
static json_t *namespace_json(const char *id) {
        return json_pack("{s:s, s:b}", "id", id, "deleted", false);
}

/* GET /api/v1/namespaces/search?q=&page=&size=&sort=: {results: [Namespace], total}, q matched
 * anywhere in the name regardless of case, sorted by name (sort "id:desc": the other way). */
int web_api_namespace_search(WebCtx *c) {
        size_t offset, limit;
        if (web_paging(c, 10, &offset, &limit) < 0)
                return 0;
        const char *q = web_query(c, "q"), *sort = web_query(c, "sort");
        bool desc = sort && endswith(sort, ":desc");
        _cleanup_strv_free_ char **all = NULL;
        if (namespaces_all(c, &all) < 0)
                return 0;
        size_t n = strv_length(all), total = 0;
        _cleanup_json_ json_t *results = json_array();
        if (!results)
                return web_reply_error(c, 500, "out of memory");
        for (size_t i = 0; i < n; i++) {
                const char *ns = all[desc ? n - 1 - i : i];
                if (!isempty(q) && !strcasestr(ns, q))
                        continue;
                if (total >= offset && total < offset + limit && json_array_append_new(results, namespace_json(ns)) < 0)
                        return web_reply_error(c, 500, "out of memory");
                total++;
        }
        return web_reply_json(c, 200, json_pack("{s:O, s:I}", "results", results, "total", (json_int_t) total));
}

/* GET /api/v1/namespaces/ids: every namespace's name, sorted (Kestra's resource= only matters with
 * its enterprise permissions: every namespace is open to a tern user). */
int web_api_namespace_ids(WebCtx *c) {
        _cleanup_strv_free_ char **all = NULL;
        if (namespaces_all(c, &all) < 0)
                return 0;
        json_t *arr = json_array();
        for (size_t i = 0; arr && all[i]; i++)
                if (json_array_append_new(arr, json_string(all[i])) < 0)
                        return json_decref(arr), web_reply_error(c, 500, "out of memory");
        return web_reply_json(c, 200, arr);
}

/* POST /api/v1/namespaces/autocomplete {q, ids, existingOnly}: the names matching q (the first 50)
 * and those of ids that exist, sorted. */
int web_api_namespace_autocomplete(WebCtx *c) {
        json_error_t err;
        _cleanup_json_ json_t *body = c->body_len ? json_loadb(c->body, c->body_len, 0, &err) : json_object();
        if (!json_is_object(body))
                return web_reply_error(c, 400, "the body must be a JSON object {\"q\": ..., \"ids\": [...]}");
        json_t *jq = json_object_get(body, "q"), *ids = json_object_get(body, "ids");
        if ((jq && !json_is_null(jq) && !json_is_string(jq)) || (ids && !json_is_null(ids) && !json_is_array(ids)))
                return web_reply_error(c, 400, "'q' must be a string and 'ids' a list of strings");
        const char *q = json_string_value(jq);
        _cleanup_strv_free_ char **all = NULL;
        if (namespaces_all(c, &all) < 0)
                return 0;
        json_t *arr = json_array();
        size_t matched = 0;
        for (size_t i = 0; arr && all[i]; i++) {
                bool kept = false;
                size_t j;
                json_t *id;
                json_array_foreach(ids, j, id)
                        kept = kept || streq_ptr(json_string_value(id), all[i]);
                bool match = isempty(q) || strcasestr(all[i], q);
                if (!kept && (!match || matched >= NAMESPACES_AUTOCOMPLETE_MAX))
                        continue;
                matched += !kept;
                if (json_array_append_new(arr, json_string(all[i])) < 0)
                        return json_decref(arr), web_reply_error(c, 500, "out of memory");
        }
        return web_reply_json(c, 200, arr);
}

/* GET /api/v1/namespaces/{id}: as Kestra, any valid name is a namespace (empty until something is
 * put in it); tern's own ('_...') are not reachable. */
int web_api_namespace_get(WebCtx *c) {
        _cleanup_free_ char *dir = NULL;
        const char *ns = c->params[0];
        int r = storage_key_namespace_file(ns, NULL, &dir);
        if (r == -ENOMEM)
                return web_reply_error(c, 500, "out of memory");
        if (r < 0 || api_kv_namespace_reserved(ns))
                return web_reply_error(c, 422, "'%s' is not a valid namespace", ns);
        return web_reply_json(c, 200, namespace_json(ns));
}
