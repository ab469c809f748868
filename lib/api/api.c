/* api.c: flow and execution operations shared by the tern command and the webserver (see api.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "cleanup-jansson.h"
#include "fd-util.h"
#include "engine.h"
#include "execution.h"
#include "id.h"
#include "json-limits.h"
#include "strutil.h"

/* The flow's inputs in Kestra's shape (what a form to start an execution is made from). */
static json_t *flow_inputs_json(const char *source) {
        _cleanup_flow_ Flow *flow = NULL;
        if (!source || flow_load_string(source, strlen(source), "flow.yaml", &flow, NULL) != 0)
                return NULL;
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < flow->n_inputs; i++) {
                const FlowInput *in = &flow->inputs[i];
                json_t *o = json_pack("{s:s, s:s, s:b, s:O?, s:s?, s:s?, s:O?}", "id", in->id, "type",
                                      in->type_name ?: flow_input_type_to_string(in->type), "required", in->required,
                                      "defaults", in->defaults, "description", in->description, "displayName",
                                      in->display_name, "values", in->values);
                if (!o || json_array_append_new(arr, o) < 0)
                        return json_decref(arr), NULL;
        }
        return arr;
}

json_t *api_flow_json(const StoreFlow *f, bool with_source) {
        char ts[TIMESTAMP_MAX];
        json_t *j = json_pack("{s:s, s:s, s:i, s:b, s:s}", "namespace", f->namespace, "id", f->id, "revision",
                              f->revision, "deleted", f->deleted, "updated", timestamp_format(ts, f->created));
        if (j && with_source && json_object_set_new(j, "source", json_string(f->source)) < 0) {
                json_decref(j);
                return NULL;
        }
        json_t *inputs = j && with_source ? flow_inputs_json(f->source) : NULL;
        if (inputs && json_object_set_new(j, "inputs", inputs) < 0) {
                json_decref(j);
                return NULL;
        }
        return j;
}

int api_execution_get(Store *s, const char *id, json_t **ret) {
        _cleanup_store_tx_ StoreTx *tx = NULL;
        int r = store_begin(s, &tx);
        if (r < 0)
                return r;
        return store_execution_get(tx, id, ret);
}

void api_execution_strip(json_t *doc) {
        size_t i;
        json_t *tr;
        json_object_del(doc, "ternEngine");
        json_array_foreach(json_object_get(doc, "taskRunList"), i, tr)
                json_object_del(tr, "ternEngine");
}

State api_execution_state(json_t *doc) {
        return state_from_string(json_string_value(json_object_get(json_object_get(doc, "state"), "current")));
}

int api_execution_event(Store *s, const char *id, const char *type, json_t *payload) {
        _cleanup_store_tx_ StoreTx *tx = NULL;
        _cleanup_json_ json_t *empty = json_object();
        usec_t now = now_realtime();
        if (!empty)
                return -ENOMEM;
        /* Resume inputs become task outputs: bounded like every value that enters an execution. */
        int r = json_value_check(payload, "the inputs", NULL);
        if (r < 0 || (r = store_begin(s, &tx)) < 0 ||
            (r = store_event_emit(tx, id, type, payload ? payload : empty, now, now, NULL)) < 0)
                return r;
        return store_commit(TAKE_PTR(tx));
}

json_t *api_execution_logs_json(Store *s, const char *id, StoreLogLevel min_level) {
        json_t *arr = json_array();
        int64_t cursor = 0;
        while (arr) {
                StoreLog *logs = NULL;
                size_t n = 0;
                StoreLogFilter f = { .execution_id = id, .min_level = min_level, .after_seq = cursor, .limit = 1000 };
                if (store_log_search(s, &f, &logs, &n) < 0) {
                        json_decref(arr);
                        return NULL;
                }
                if (n == 0)
                        break;
                for (size_t i = 0; i < n; i++) {
                        char ts[TIMESTAMP_MAX];
                        json_array_append_new(arr, json_pack("{s:s, s:s?, s:s?, s:i, s:s, s:s, s:s}", "executionId", id,
                                                             "taskRunId", logs[i].task_run_id, "taskId",
                                                             logs[i].task_id, "attemptNumber", logs[i].attempt,
                                                             "level", store_log_level_to_string(logs[i].level),
                                                             "timestamp", timestamp_format(ts, logs[i].timestamp),
                                                             "message", logs[i].message));
                        cursor = logs[i].seq;
                }
                store_logs_free(logs, n);
        }
        return arr;
}

/* ---- internal storage ------------------------------------------------------------------------ */

/* One path segment that means only itself: no separator, not "." or "..", no control character. */
static bool segment_ok(const char *s, size_t n) {
        if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] == '/' || s[i] == '\\' || (unsigned char) s[i] < 0x20 || s[i] == 0x7f)
                        return false;
        return true;
}

static int mkdir_parents(char *path, size_t from) {
        for (char *p = path + from; (p = strchr(p, '/')); p++) {
                *p = 0;
                int r = mkdir(path, 0750) < 0 && errno != EEXIST ? -errno : 0;
                *p = '/';
                if (r < 0)
                        return r;
        }
        return 0;
}

static int copy_file(const char *src, const char *dst) {
        _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return -errno;
        _cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (out < 0)
                return -errno;
        int r = fd_copy(in, out, UINT64_MAX, NULL);
        if (r < 0)
                return r;
        return close(TAKE_FD(out)) < 0 ? -errno : 0;
}

int api_storage_input_put(const char *root, const Flow *f, const char *exec_id, const char *input, const char *name,
                          const char *src, bool move, char **ret_uri) {
        if (!input || !segment_ok(input, strlen(input)) || !id_is_valid(exec_id))
                return -EINVAL;
        const char *base = name ? strrchr(name, '/') : NULL;
        base = base ? base + 1 : name;
        if (!base || !segment_ok(base, strlen(base)))
                base = input;
        _cleanup_free_ char *ns = strdup(f->namespace);
        if (!ns)
                return -ENOMEM;
        for (char *p = ns; *p; p++)
                if (*p == '.')
                        *p = '/';
        _cleanup_free_ char *rel = strdup_printf("%s/%s/executions/%s/inputs/%s/%s", ns, f->id, exec_id, input, base);
        _cleanup_free_ char *dst = rel ? strjoin(root, "/", rel) : NULL;
        if (!dst)
                return -ENOMEM;
        /* The storage's own directory too: nothing may have been stored yet. */
        int r = mkdir(root, 0750) < 0 && errno != EEXIST ? -errno : 0;
        if (r >= 0)
                r = mkdir_parents(dst, strlen(root) + 1);
        if (r < 0)
                return r;
        if (move)
                r = rename(src, dst) < 0 ? -errno : 0;
        else
                r = copy_file(src, dst);
        if (r < 0)
                return r;
        *ret_uri = strjoin("kestra:///", rel);
        return *ret_uri ? 0 : -ENOMEM;
}

int api_storage_execution_path(const char *root, json_t *doc, const char *uri, char **ret_path) {
        const char *ns = json_string_value(json_object_get(doc, "namespace"));
        const char *flow = json_string_value(json_object_get(doc, "flowId"));
        const char *id = json_string_value(json_object_get(doc, "id"));
        const char *rel = uri ? startswith(uri, "kestra:///") : NULL;
        if (!ns || !flow || !id || !rel)
                return -EACCES;
        /* Every segment must mean only itself before any prefix is compared. */
        for (const char *p = rel;;) {
                size_t n = strcspn(p, "/");
                if (!segment_ok(p, n))
                        return -EACCES;
                if (!p[n])
                        break;
                p += n + 1;
        }
        _cleanup_free_ char *ns_dir = strdup(ns);
        if (!ns_dir)
                return -ENOMEM;
        for (char *p = ns_dir; *p; p++)
                if (*p == '.')
                        *p = '/';
        /* Inputs are stored under the namespace as directories, task outputs under it verbatim. */
        _cleanup_free_ char *a = strdup_printf("%s/%s/executions/%s/", ns_dir, flow, id);
        _cleanup_free_ char *b = strdup_printf("%s/%s/executions/%s/", ns, flow, id);
        if (!a || !b)
                return -ENOMEM;
        if (!startswith(rel, a) && !startswith(rel, b))
                return -EACCES;
        _cleanup_free_ char *path = strjoin(root, "/", rel);
        _cleanup_free_ char *real_root = realpath(root, NULL);
        if (!path)
                return -ENOMEM;
        if (!real_root)
                return errno == ENOENT ? -ENOENT : -errno;
        _cleanup_free_ char *real = realpath(path, NULL);
        if (!real)
                return errno == ENOENT || errno == ENOTDIR ? -ENOENT : -errno;
        /* A symbolic link inside the execution's directory must not lead out of it. */
        _cleanup_free_ char *real_dir = strjoin(real_root, "/", startswith(rel, a) ? a : b);
        if (!real_dir)
                return -ENOMEM;
        if (!startswith(real, real_dir))
                return -EACCES;
        *ret_path = TAKE_PTR(real);
        return 0;
}

int api_storage_read(const char *root, json_t *doc, const char *uri, size_t max, char **ret, size_t *ret_len) {
        _cleanup_free_ char *path = NULL;
        int r = api_storage_execution_path(root, doc, uri, &path);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -ENOENT;
        if ((uint64_t) st.st_size > max)
                return -EFBIG;
        _cleanup_free_ char *buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        size_t n = 0;
        while (n < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + n, (size_t) st.st_size - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break; /* shrank meanwhile: what is there */
                n += (size_t) k;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = n;
        return 0;
}
