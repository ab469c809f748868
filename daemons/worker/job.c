/* job.c: run one worker job end to end (render, working directory, task, result), with the task's
 * files in internal storage. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beneath.h"
#include "cleanup-jansson.h"
#include "execution-files.h"
#include "expr.h"
#include "fd-util.h"
#include "job.h"
#include "json-limits.h"
#include "key.h"
#include "kv-function.h"
#include "strbuf.h"
#include "strutil.h"

typedef struct JobRun {
        const WorkerJobEnv *env;
        json_t *job;
        TaskLogLevel min_level;
        char **secrets;   /* values secret() returned: never written to logs */
        uint64_t stored;  /* bytes of the files this task run kept in storage */
        char *file_error; /* why the last store_file() or fetch_file() failed */
} JobRun;

static void job_run_done(JobRun *jr) {
        strv_free(jr->secrets);
        free(jr->file_error);
}

/* Replace every secret value in a log line with "******". */
static char *mask_secrets(JobRun *jr, const char *message) {
        if (!jr->secrets)
                return NULL;
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        bool changed = false;
        const char *p = message;
        while (*p) {
                size_t best = 0;
                for (char **s = jr->secrets; *s; s++) {
                        size_t l = strlen(*s);
                        if (l >= 3 && strncmp(p, *s, l) == 0 && l > best)
                                best = l;
                }
                if (best) {
                        strbuf_append(&sb, "******");
                        p += best;
                        changed = true;
                } else
                        strbuf_append_char(&sb, *p++);
        }
        return changed ? strbuf_steal(&sb) : NULL;
}

static void job_log(TaskRunContext *ctx, TaskLogLevel level, const char *message) {
        JobRun *jr = ctx->userdata;
        if (level > jr->min_level)
                return;
        _cleanup_free_ char *masked = mask_secrets(jr, message);
        jr->env->log(jr->env->userdata, jr->job, level, masked ? masked : message);
}

/* ---- files in internal storage ---------------------------------------------------------------- */

static int job_file_fail(JobRun *jr, int r, const char *fmt, ...) _printf_(3, 4);
static int job_file_fail(JobRun *jr, int r, const char *fmt, ...) {
        va_list ap;
        free(jr->file_error);
        va_start(ap, fmt);
        if (vasprintf(&jr->file_error, fmt, ap) < 0)
                jr->file_error = NULL;
        va_end(ap);
        return r;
}

static const char *job_file_error(TaskRunContext *ctx) {
        JobRun *jr = ctx->userdata;
        return jr->file_error;
}

/* A file streamed up or down, counted against what the task run may keep: a task's files are
 * bounded as they are transferred, not as they look (a sparse file takes no disk where the task
 * made it, and all of its size in storage). */
typedef struct Counted {
        int fd;
        uint64_t left, done;
} Counted;

static ssize_t counted_read(void *userdata, void *buf, size_t n) {
        Counted *c = userdata;
        for (;;) {
                ssize_t k = read(c->fd, buf, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if ((uint64_t) k > c->left)
                        return -EFBIG;
                c->left -= (uint64_t) k;
                c->done += (uint64_t) k;
                return k;
        }
}

static int counted_write(void *userdata, const void *buf, size_t n) {
        Counted *c = userdata;
        if ((uint64_t) n > c->left)
                return -EFBIG;
        c->left -= n;
        c->done += n;
        return fd_write_all(c->fd, buf, n);
}

static int job_store_file(TaskRunContext *ctx, const char *name, int fd, char **ret_uri) {
        JobRun *jr = ctx->userdata;
        Storage *s = jr->env->storage;
        _cleanup_free_ char *key = NULL;
        struct stat st;

        free(jr->file_error);
        jr->file_error = NULL;
        if (!s)
                return -ENOTSUP;
        int r = storage_key_task_file(ctx->namespace, ctx->flow_id, ctx->execution_id, ctx->task_id, ctx->task_run_id,
                                      name, &key);
        if (r == -EINVAL)
                return job_file_fail(jr, r, "'%s' cannot name a file in internal storage", name);
        if (r < 0)
                return r;
        uint64_t max = jr->env->output_bytes_max ?: UINT64_MAX, left = max - MIN(jr->stored, max);
        if (fstat(fd, &st) < 0)
                return -errno;
        if ((uint64_t) st.st_size > left)
                return -EFBIG;
        Counted c = { .fd = fd, .left = left };
        off_t at = S_ISREG(st.st_mode) ? lseek(fd, 0, SEEK_CUR) : -1;
        if (at >= 0 && at <= st.st_size) {
                /* A file on disk goes up straight from it, its size as it is now (checked above):
                 * large parts, none of them held in the worker's memory. */
                c.done = (uint64_t) (st.st_size - at);
                r = storage_put_file(s, key, fd, (uint64_t) at, c.done);
        } else
                r = storage_put(s, key, counted_read, &c);
        if (r == -EFBIG || r == -ENOMEM)
                return r;
        if (r < 0)
                return job_file_fail(jr, r, "%s", storage_error(s));
        jr->stored += c.done;
        *ret_uri = storage_key_to_uri(key);
        return *ret_uri ? 0 : -ENOMEM;
}

static int job_fetch_file(TaskRunContext *ctx, const char *uri, int fd) {
        JobRun *jr = ctx->userdata;
        Storage *s = jr->env->storage;
        _cleanup_free_ char *key = NULL;
        const char *why = NULL;
        ApiFileScope scope;
        StorageObject o;

        free(jr->file_error);
        jr->file_error = NULL;
        api_file_scope_from_variables(json_object_get(jr->job, "variables"), &scope);
        int r = api_file_key(&scope, uri, &key, &why);
        if (r == -EINVAL)
                return job_file_fail(jr, r, "not a valid file URI: %s", strna(why));
        if (r < 0)
                return r;
        if (!s)
                return -ENOTSUP;
        r = storage_stat(s, key, &o);
        uint64_t size = o.size;
        storage_object_done(&o);
        if (r == -ENOENT)
                return r;
        if (r < 0)
                return job_file_fail(jr, r, "%s", storage_error(s));
        /* Fetched files count in the task run's budget as kept ones do: the task's disk is the
         * worker's. */
        uint64_t max = jr->env->output_bytes_max ?: UINT64_MAX, left = max - MIN(jr->stored, max);
        if (size > left)
                return -EFBIG;
        Counted c = { .fd = fd, .left = left };
        r = storage_get(s, key, counted_write, &c);
        jr->stored += c.done;
        if (r == -EFBIG || r == -ENOMEM || r == -ENOENT)
                return r;
        if (r < 0)
                return job_file_fail(jr, r, "%s", storage_error(s));
        return 0;
}

/* The storage key of a URI the task names: a file of this execution or of the one that started it. */
static int job_file_key(JobRun *jr, const char *uri, char **ret_key) {
        const char *why = NULL;
        ApiFileScope scope;
        free(jr->file_error);
        jr->file_error = NULL;
        api_file_scope_from_variables(json_object_get(jr->job, "variables"), &scope);
        int r = api_file_key(&scope, uri, ret_key, &why);
        if (r == -EINVAL)
                return job_file_fail(jr, r, "not a valid file URI: %s", strna(why));
        if (r >= 0 && !jr->env->storage) {
                free(*ret_key);
                *ret_key = NULL;
                return -ENOTSUP;
        }
        return r;
}

static int job_stat_file(TaskRunContext *ctx, const char *uri, uint64_t *ret_size) {
        JobRun *jr = ctx->userdata;
        _cleanup_free_ char *key = NULL;
        StorageObject o = {};
        int r = job_file_key(jr, uri, &key);
        if (r < 0)
                return r;
        r = storage_stat(jr->env->storage, key, &o);
        *ret_size = o.size;
        storage_object_done(&o);
        if (r < 0 && r != -ENOENT)
                return job_file_fail(jr, r, "%s", storage_error(jr->env->storage));
        return r;
}

static int job_delete_file(TaskRunContext *ctx, const char *uri) {
        JobRun *jr = ctx->userdata;
        _cleanup_free_ char *key = NULL;
        int r = job_file_key(jr, uri, &key);
        if (r < 0)
                return r;
        /* The storage deletes a missing object without a word: the task wants to know. */
        r = storage_exists(jr->env->storage, key);
        if (r == 0)
                return -ENOENT;
        if (r > 0)
                r = storage_delete(jr->env->storage, key);
        if (r < 0)
                return job_file_fail(jr, r, "%s", storage_error(jr->env->storage));
        return 0;
}

/* The URIs an execution's purge reports, at most this many (the files all go). */
#define JOB_PURGE_URIS_MAX 1000u

static int job_purge_files(TaskRunContext *ctx, json_t **ret_uris) {
        JobRun *jr = ctx->userdata;
        Storage *s = jr->env->storage;
        _cleanup_free_ char *prefix = NULL, *token = NULL;
        _cleanup_json_ json_t *uris = json_array();

        free(jr->file_error);
        jr->file_error = NULL;
        if (!uris)
                return -ENOMEM;
        if (!s)
                return -ENOTSUP;
        int r = storage_key_execution(ctx->namespace, ctx->flow_id, ctx->execution_id, &prefix);
        if (r < 0)
                return r;
        while (ret_uris) {
                _cleanup_storage_list_ StorageList l = {};
                if ((r = storage_list(s, prefix, token, 0, &l)) < 0)
                        return job_file_fail(jr, r, "%s", storage_error(s));
                for (size_t i = 0; i < l.n && json_array_size(uris) < JOB_PURGE_URIS_MAX; i++) {
                        _cleanup_free_ char *uri = storage_key_to_uri(l.objects[i].key);
                        if (!uri || json_array_append_new(uris, json_string(uri)) < 0)
                                return -ENOMEM;
                }
                free(token);
                if (!(token = TAKE_PTR(l.next)) || json_array_size(uris) >= JOB_PURGE_URIS_MAX)
                        break;
        }
        if ((r = storage_delete_prefix(s, prefix)) < 0)
                return job_file_fail(jr, r, "%s", storage_error(s));
        if (ret_uris)
                *ret_uris = TAKE_PTR(uris);
        return 0;
}

static int job_secret(void *userdata, const char *key, char **ret) {
        JobRun *jr = userdata;
        if (!jr->env->secret)
                return -ENOENT;
        int r = jr->env->secret(jr->env->userdata, key, ret);
        if (r >= 0) {
                /* Remember the value, and each of its lines, to mask them in logs. */
                (void) strv_extend(&jr->secrets, *ret);
                if (strchr(*ret, '\n')) {
                        _cleanup_strv_free_ char **lines = NULL;
                        if (strv_split(*ret, "\n", &lines) >= 0)
                                for (char **l = lines; *l; l++)
                                        (void) strv_extend(&jr->secrets, *l);
                }
        }
        return r;
}

static int job_function(void *userdata, const char *name, json_t *args, json_t **ret, char **ret_message) {
        JobRun *jr = userdata;
        if (streq(name, "kv")) {
                const TaskServices *sv = jr->env->services;
                return api_kv_function(sv ? sv->kv_get : NULL, sv ? sv->userdata : NULL,
                                       json_string_value(json_object_get(jr->job, "namespace")), args, ret, ret_message);
        }
        if (streq(name, "errorLogs")) {
                /* Kestra's errorLogs(): the execution's ERROR lines so far, as LogEntry maps; a worker's
                 * function only (it reads the store), as in Kestra. */
                const TaskServices *sv = jr->env->services;
                if (!sv || !sv->logs)
                        return -ENOENT;
                _cleanup_json_ json_t *lines = NULL;
                const char *exec = json_string_value(json_object_get(jr->job, "executionId"));
                int r = sv->logs(sv->userdata, exec, "ERROR", &lines);
                if (r < 0) {
                        *ret_message = strdup_printf("cannot read the execution's logs: %s", strerror(-r));
                        return r;
                }
                size_t i;
                json_t *l;
                json_array_foreach(lines, i, l)
                        json_object_update_missing_new(l, json_pack("{s:O?, s:O?, s:s?}", "namespace",
                                                                json_object_get(jr->job, "namespace"), "flowId",
                                                                json_object_get(jr->job, "flowId"), "executionId", exec));
                *ret = TAKE_PTR(lines);
                return 0;
        }
        if (streq(name, "currentEachOutput")) {
                json_t *node = json_array_get(args, 0), *values = json_object_get(jr->job, "loopValues");
                size_t i;
                json_t *v;
                json_array_foreach(values, i, v) {
                        json_t *next = json_object_get(node, json_string_value(v));
                        if (!next)
                                break;
                        node = next;
                }
                *ret = node ? json_incref(node) : json_null();
                return 0;
        }
        /* read(), fileURI(), fileSize(), fileExists(): this execution's files and its namespace's. */
        return api_file_function(jr->env->storage, json_object_get(jr->job, "variables"), name, args, ret, ret_message);
}

/* The properties the worker renders: all but those the task type renders itself. */
static json_t *properties_to_render(json_t *job, const TaskType *t, json_t **ret_raw) {
        json_t *props = json_object_get(job, "properties");
        _cleanup_json_ json_t *raw = NULL;
        json_t *copy = NULL;
        for (const TaskProperty *p = t ? t->properties : NULL; p && p->name; p++) {
                json_t *v = json_object_get(props, p->name);
                if (!p->raw || !v)
                        continue;
                if (!copy && !(copy = json_copy(props)))
                        return NULL;
                if (!raw && !(raw = json_object())) {
                        json_decref(copy);
                        return NULL;
                }
                json_object_set(raw, p->name, v);
                json_object_del(copy, p->name);
        }
        *ret_raw = TAKE_PTR(raw);
        return copy ? copy : props ? json_incref(props) : json_object();
}

static int job_render(TaskRunContext *ctx, json_t *in, json_t *vars, json_t **ret, char **ret_error) {
        JobRun *jr = ctx->userdata;
        _cleanup_json_ json_t *all = json_copy(json_object_get(jr->job, "variables"));
        ExprError err = {};
        if (!all && !(all = json_object()))
                return -ENOMEM;
        if (json_is_object(vars) && json_object_update(all, vars) < 0)
                return -ENOMEM;
        ExprContext ectx = { .variables = all, .secret = job_secret, .function = job_function, .userdata = jr };
        int r = expr_render_tree(in, &ectx, ret, &err);
        if (r < 0 && r != -ENOMEM) {
                *ret_error = err.message ? strdup(err.message) : strdup("cannot render the expression");
                r = -EINVAL;
        }
        expr_error_done(&err);
        return r;
}

static json_t *timestamp_now_json(void) {
        return json_integer((json_int_t) now_realtime());
}

/* Every task type's outputs, ::{"outputs":...}:: lines included, are bounded before they leave
 * the worker (json-limits.h): too deep or too large fails the task, saying why. */
static int outcome_bound(json_t *job, TaskOutcome *out) {
        _cleanup_free_ char *too_big = NULL;
        char what[256];
        snprintf(what, sizeof what, "the outputs of task '%s'", strna(json_string_value(json_object_get(job, "taskId"))));
        if (json_value_check(out->outputs, what, &too_big) >= 0 &&
            json_value_check(out->metrics, "the task's metrics", &too_big) >= 0)
                return 0;
        task_outcome_done(out);
        out->state = STATE_FAILED;
        out->error = TAKE_PTR(too_big);
        return out->error ? 0 : -ENOMEM;
}

int worker_job_run(const WorkerJobEnv *env, json_t *job, json_t **ret_result) {
        const char *type = json_string_value(json_object_get(job, "type"));
        const char *tr_id = json_string_value(json_object_get(job, "taskRunId"));
        json_int_t attempt = json_integer_value(json_object_get(job, "attempt"));
        _cleanup_json_ json_t *props = NULL, *result = NULL, *raw = NULL, *to_render = NULL;
        _cleanup_free_ char *dir = NULL;
        TaskOutcome out = {};
        _cleanup_(job_run_done) JobRun jr = { .env = env, .job = job, .min_level = TASK_LOG_TRACE };
        int r;

        result = json_pack("{s:o, s:I}", "startedAt", timestamp_now_json(), "attempt", attempt);
        if (!result)
                return -ENOMEM;
        const char *lvl = json_string_value(json_object_get(job, "logLevel"));
        if (lvl && task_log_level_from_string(lvl) >= 0)
                jr.min_level = task_log_level_from_string(lvl);

        const char *wd_id = json_string_value(json_object_get(job, "workingDirectory"));
        if (streq_ptr(type, "_cleanup")) {
                /* The WorkingDirectory ended: its shared directory goes. */
                _cleanup_free_ char *wd = wd_id ? strdup_printf("%s/wd-%s", env->work_root, wd_id) : NULL;
                if (wd)
                        (void) beneath_remove_path(wd);
                json_object_set_new(result, "state", json_string("SUCCESS"));
                json_object_set_new(result, "endedAt", timestamp_now_json());
                *ret_result = TAKE_PTR(result);
                return 0;
        }
        const TaskImpl *impl = type ? task_impl_lookup(type) : NULL;
        if (!impl || !tr_id) {
                task_fail(&out, "task type '%s' cannot be run by this worker", strna(type));
                goto done;
        }

        ExprError err = {};
        ExprContext ctx = { .variables = json_object_get(job, "variables"), .secret = job_secret,
                            .function = job_function, .userdata = &jr };
        to_render = properties_to_render(job, task_type_lookup(TASK_TYPE_TASK, type), &raw);
        if (!to_render)
                return -ENOMEM;
        r = expr_render_tree(to_render, &ctx, &props, &err);
        if (r == -ENOMEM) {
                return r;
        }
        if (r >= 0 && raw && json_object_update(props, raw) < 0)
                return -ENOMEM;
        if (r < 0) {
                task_fail(&out, "%s", err.message ? err.message : "cannot render the task's properties");
                expr_error_done(&err);
                goto done;
        }

        /* Tasks of a WorkingDirectory share its directory (kept until the WorkingDirectory ends);
         * other tasks that work with files get a fresh one per claim (attempt and epoch: a worker that
         * lost its lease and runs on must not share, nor remove, its successor's), the rest none. */
        if (wd_id || impl->working_dir) {
                dir = wd_id ? strdup_printf("%s/wd-%s", env->work_root, wd_id)
                            : strdup_printf("%s/%s-%lld.%lld", env->work_root, tr_id, (long long) attempt,
                                            (long long) env->epoch);
                if (!dir)
                        return -ENOMEM;
                if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                        return -errno;
        }

        usec_t timeout = (usec_t) json_integer_value(json_object_get(job, "timeoutUsec"));
        TaskRunContext tctx = {
                .execution_id = json_string_value(json_object_get(job, "executionId")),
                .task_run_id = tr_id,
                .task_id = json_string_value(json_object_get(job, "taskId")),
                .task_type = type,
                .namespace = json_string_value(json_object_get(job, "namespace")),
                .flow_id = json_string_value(json_object_get(job, "flowId")),
                .attempt = (unsigned) attempt,
                .working_dir = dir,
                .cancel_fd = env->cancel_fd,
                .timeout = timeout,
                .deadline = timeout ? now_monotonic() + timeout : 0,
                .base_env = env->base_env,
                .cache_root = env->cache_root,
                .pip_index_url = env->pip_index_url,
                .sandbox = env->sandbox,
                .output_bytes_max = env->output_bytes_max,
                .log = job_log,
                .store_file = job_store_file,
                .fetch_file = job_fetch_file,
                .stat_file = job_stat_file,
                .delete_file = job_delete_file,
                .purge_files = job_purge_files,
                .file_error = job_file_error,
                .services = env->services,
                .loop_value = json_string_value(json_object_get(json_object_get(json_object_get(job, "variables"),
                                                                                "taskrun"),
                                                                "value")),
                .plugin_defaults = json_object_get(job, "pluginDefaults"),
                .render = job_render,
                .userdata = &jr,
        };
        r = impl->run(&tctx, props, &out);
        if (dir && !wd_id)
                (void) beneath_remove_path(dir);
        if (r < 0) {
                task_outcome_done(&out);
                return r;
        }
done:
        if ((r = outcome_bound(job, &out)) < 0)
                return r;
        if (out.state == STATE_FAILED && out.error) {
                _cleanup_free_ char *masked = mask_secrets(&jr, out.error);
                env->log(env->userdata, job, TASK_LOG_ERROR, masked ? masked : out.error);
        }
        json_object_set_new(result, "state", json_string(state_to_string(out.state ? out.state : STATE_SUCCESS)));
        if (out.outputs)
                json_object_set(result, "outputs", out.outputs);
        if (out.metrics)
                json_object_set(result, "metrics", out.metrics);
        if (out.error)
                json_object_set_new(result, "error", json_string(out.error));
        json_object_set_new(result, "endedAt", timestamp_now_json());
        task_outcome_done(&out);
        *ret_result = TAKE_PTR(result);
        return 0;
}
