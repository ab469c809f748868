/* execution-files.c: an execution's files in internal storage and the expression functions on them
 * (see execution-files.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "execution-files.h"
#include "key.h"
#include "strutil.h"

static const char *var_str(json_t *vars, const char *obj, const char *key) {
        return json_string_value(json_object_get(json_object_get(vars, obj), key));
}

void api_file_scope_from_doc(json_t *doc, ApiFileScope *ret) {
        *ret = (ApiFileScope) {
                .namespace = json_string_value(json_object_get(doc, "namespace")),
                .flow_id = json_string_value(json_object_get(doc, "flowId")),
                .execution_id = json_string_value(json_object_get(doc, "id")),
        };
}

void api_file_scope_from_variables(json_t *vars, ApiFileScope *ret) {
        *ret = (ApiFileScope) {
                .namespace = var_str(vars, "flow", "namespace"),
                .flow_id = var_str(vars, "flow", "id"),
                .execution_id = var_str(vars, "execution", "id"),
                .parent_namespace = var_str(vars, "trigger", "namespace"),
                .parent_flow_id = var_str(vars, "trigger", "flowId"),
                .parent_execution_id = var_str(vars, "trigger", "executionId"),
        };
}

/* Whether key lies below the directory of execution (ns, flow, id). */
static int key_in_execution(const char *key, const char *ns, const char *flow, const char *id) {
        _cleanup_free_ char *prefix = NULL;
        if (!ns || !flow || !id)
                return 0;
        int r = storage_key_execution(ns, flow, id, &prefix);
        if (r == -EINVAL)
                return 0;
        if (r < 0)
                return r;
        const char *rest = startswith(key, prefix);
        return rest && rest[0] == '/' && rest[1];
}

int api_file_key(const ApiFileScope *scope, const char *uri, char **ret_key, const char **ret_why) {
        _cleanup_free_ char *key = NULL;
        const char *why = NULL;
        int r = storage_key_from_uri(uri, &key, &why);
        if (r == -EINVAL && ret_why)
                *ret_why = why;
        if (r < 0)
                return r;
        r = key_in_execution(key, scope->namespace, scope->flow_id, scope->execution_id);
        if (r == 0)
                r = key_in_execution(key, scope->parent_namespace, scope->parent_flow_id, scope->parent_execution_id);
        if (r < 0)
                return r;
        if (r == 0)
                return -EACCES;
        *ret_key = TAKE_PTR(key);
        return 0;
}

int api_file_input_put(Storage *s, const Flow *f, const char *exec_id, const char *input, const char *name, int fd,
                       char **ret_uri) {
        _cleanup_free_ char *key = NULL;
        const char *base = name ? strrchr(name, '/') : NULL;
        base = base ? base + 1 : name;
        int r = isempty(base) ? -EINVAL : storage_key_input_file(f->namespace, f->id, exec_id, input, base, &key);
        /* A file name that cannot be a key's segment ("..", a control character): the input's id. */
        if (r == -EINVAL)
                r = storage_key_input_file(f->namespace, f->id, exec_id, input, input, &key);
        if (r < 0)
                return r;
        r = storage_put_fd(s, key, fd);
        if (r < 0)
                return r;
        *ret_uri = storage_key_to_uri(key);
        return *ret_uri ? 0 : -ENOMEM;
}

typedef struct ReadBuf {
        char *data;
        size_t len, cap, max;
} ReadBuf;

static int read_buf_write(void *userdata, const void *buf, size_t n) {
        ReadBuf *b = userdata;
        if (n > b->max - b->len)
                return -EFBIG;
        if (b->len + n + 1 > b->cap) {
                size_t cap = MAX(b->cap * 2, b->len + n + 1);
                cap = MAX(cap, (size_t) 4096);
                char *d = realloc(b->data, cap);
                if (!d)
                        return -ENOMEM;
                b->data = d;
                b->cap = cap;
        }
        memcpy(b->data + b->len, buf, n);
        b->len += n;
        return 0;
}

int api_file_read(Storage *s, const char *key, size_t max, char **ret, size_t *ret_len) {
        ReadBuf b = { .max = max };
        int r = storage_get(s, key, read_buf_write, &b);
        if (r >= 0 && !b.data)
                r = (b.data = malloc(1)) ? 0 : -ENOMEM;
        if (r < 0) {
                free(b.data);
                return r;
        }
        b.data[b.len] = 0;
        *ret = b.data;
        *ret_len = b.len;
        return 0;
}

int api_files_delete_execution(Storage *s, const char *ns, const char *flow_id, const char *exec_id,
                               uint64_t *ret_count) {
        _cleanup_free_ char *prefix = NULL, *token = NULL;
        uint64_t n = 0;
        int r = storage_key_execution(ns, flow_id, exec_id, &prefix);
        if (r < 0)
                return r;
        /* Counting costs a listing: only for the callers that report it (PurgeExecutions). */
        while (ret_count) {
                _cleanup_storage_list_ StorageList l = {};
                if ((r = storage_list(s, prefix, token, 0, &l)) < 0)
                        return r;
                n += l.n;
                free(token);
                if (!(token = TAKE_PTR(l.next)))
                        break;
        }
        if ((r = storage_delete_prefix(s, prefix)) < 0)
                return r;
        if (ret_count)
                *ret_count = n;
        return 0;
}

/* ---- expression functions -------------------------------------------------------------------- */

static int fn_fail(char **ret_message, int r, const char *fmt, ...) _printf_(3, 4);
static int fn_fail(char **ret_message, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(ret_message, fmt, ap) < 0)
                *ret_message = NULL;
        va_end(ap);
        return r == -ENOMEM ? r : -EINVAL;
}

int api_file_function(Storage *s, json_t *variables, const char *name, json_t *args, json_t **ret,
                      char **ret_message) {
        bool uri_only = streq(name, "fileURI");
        if (!uri_only && !streq(name, "read") && !streq(name, "fileSize") && !streq(name, "fileExists"))
                return -ENOENT;
        const char *path = json_string_value(json_array_get(args, 0));
        const char *flow_ns = var_str(variables, "flow", "namespace");
        const char *ns = json_string_value(json_array_get(args, 1)) ?: flow_ns;
        _cleanup_free_ char *key = NULL;
        int r;

        if (isempty(path))
                return fn_fail(ret_message, -EINVAL, "%s() expects an argument 'path': a kestra:/// URI or the path of a "
                                                     "namespace file", name);
        if (uri_only || !startswith(path, "kestra://")) {
                /* A namespace file: fileURI() names one, the others read it. */
                r = storage_key_namespace_file(uri_only ? flow_ns : ns, path, &key);
                if (r == -EINVAL)
                        return fn_fail(ret_message, r, "%s('%s'): not a path inside the files of namespace '%s'", name,
                                       path, strna(uri_only ? flow_ns : ns));
                if (r < 0)
                        return fn_fail(ret_message, r, "%s('%s'): %s", name, path, strerror(-r));
                if (uri_only) {
                        _cleanup_free_ char *uri = storage_key_to_uri(key);
                        if (!uri || !(*ret = json_string(uri)))
                                return -ENOMEM;
                        return 0;
                }
        } else {
                ApiFileScope scope;
                const char *why = NULL;
                api_file_scope_from_variables(variables, &scope);
                r = api_file_key(&scope, path, &key, &why);
                if (r == -EACCES)
                        return fn_fail(ret_message, r, "Unable to read the file '%s' as it doesn't belong to the current "
                                                       "execution", path);
                if (r == -EINVAL)
                        return fn_fail(ret_message, r, "%s('%s'): not a valid file URI: %s", name, path, strna(why));
                if (r < 0)
                        return fn_fail(ret_message, r, "%s('%s'): %s", name, path, strerror(-r));
        }
        if (!s)
                return fn_fail(ret_message, -EINVAL, "%s() needs the internal storage, which is not available here", name);

        if (streq(name, "fileExists")) {
                r = storage_exists(s, key);
                if (r < 0)
                        return fn_fail(ret_message, r, "fileExists('%s'): %s", path, storage_error(s));
                *ret = json_boolean(r > 0);
                return 0;
        }
        if (streq(name, "fileSize")) {
                StorageObject o;
                r = storage_stat(s, key, &o);
                uint64_t size = o.size;
                storage_object_done(&o);
                if (r == -ENOENT)
                        return fn_fail(ret_message, r, "fileSize(): no file '%s'", path);
                if (r < 0)
                        return fn_fail(ret_message, r, "fileSize('%s'): %s", path, storage_error(s));
                *ret = json_integer((json_int_t) size);
                return *ret ? 0 : -ENOMEM;
        }
        _cleanup_free_ char *data = NULL;
        size_t n = 0;
        r = api_file_read(s, key, API_FILE_READ_MAX, &data, &n);
        if (r == -ENOENT)
                return fn_fail(ret_message, r, "read(): no file '%s'", path);
        if (r == -EFBIG)
                return fn_fail(ret_message, r, "read('%s'): the file is larger than %u MiB, more than an expression may hold",
                               path, API_FILE_READ_MAX >> 20);
        if (r < 0)
                return fn_fail(ret_message, r, "read('%s'): %s", path, r == -ENOMEM ? strerror(-r) : storage_error(s));
        if (!(*ret = json_stringn(data, n)))
                return fn_fail(ret_message, -EINVAL, "read('%s'): the file is not UTF-8 text", path);
        return 0;
}
