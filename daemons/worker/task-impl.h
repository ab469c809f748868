/* task-impl.h: how the worker runs a runnable task: the context a task sees, its outcome, and the
 * table of implementations indexed by the registry's runner id (TaskType.runner, lib/flow/task-types.h). */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "macro.h"
#include "sandbox.h"
#include "state.h"
#include "storage.h"
#include "store.h"
#include "task-types.h"
#include "timeutil.h"

/* Task log levels, Kestra's names. */
typedef enum TaskLogLevel {
        TASK_LOG_ERROR,
        TASK_LOG_WARN,
        TASK_LOG_INFO,
        TASK_LOG_DEBUG,
        TASK_LOG_TRACE,
        _TASK_LOG_LEVEL_MAX,
        _TASK_LOG_LEVEL_INVALID = -EINVAL,
} TaskLogLevel;

const char *task_log_level_to_string(TaskLogLevel l);
TaskLogLevel task_log_level_from_string(const char *s);

/* What tasks may use besides their working directory: the namespace key-value store (kv tasks,
 * the kv() function, Kestra's state tasks) and execution logs. Provided by the worker over its
 * store connection; NULL where there is none (tasks then fail saying what they needed). */
typedef struct TaskServices {
        /* -ENOENT when missing (or expired). */
        int (*kv_get)(void *userdata, const char *ns, const char *key, json_t **ret);
        /* ttl 0: no expiry. */
        int (*kv_put)(void *userdata, const char *ns, const char *key, json_t *value, usec_t ttl);
        /* -ENOENT when missing. */
        int (*kv_delete)(void *userdata, const char *ns, const char *key);
        /* Sorted keys starting with prefix (NULL: all). */
        int (*kv_keys)(void *userdata, const char *ns, const char *prefix, json_t **ret);
        /* Log lines of an execution ([{taskId, level, timestamp, message}]), level and above. */
        int (*logs)(void *userdata, const char *execution_id, const char *min_level, json_t **ret);
        /* The worker's own connection (this slot's: only for the length of the task's run), for the
         * tasks that act on the store's records: Count, PurgeExecutions, PurgeLogs, Resume, Toggle. */
        Store *store;
        /* Internal storage (PurgeExecutions' purgeStorage); NULL: none. */
        Storage *storage;
        /* Send an engine event (Resume's "resume") to execution id where the queue is not the
         * store's (Kafka: execution-events); NULL: api_execution_event() on store. 0, or a negative
         * errno with *ret_error (may be NULL) saying why. */
        int (*execution_event)(void *event_userdata, const char *id, const char *type, json_t *payload,
                               char **ret_error);
        void *event_userdata;
        void *userdata;
} TaskServices;

typedef struct TaskRunContext TaskRunContext;
struct TaskRunContext {
        const char *execution_id;
        const char *task_run_id;
        const char *task_id;
        const char *task_type;   /* as the flow names it (tern's short name or Kestra's) */
        const char *namespace;
        const char *flow_id;
        unsigned attempt;        /* 1-based */
        const char *working_dir; /* an existing directory the task may write to */
        int cancel_fd;           /* readable when the task must stop (kill, lease lost, shutdown); -1 none */
        usec_t timeout;          /* the task's timeout; 0 none */
        usec_t deadline;         /* CLOCK_MONOTONIC: when the timeout ends (set as the task starts); 0 none */
        usec_t stop_looked;      /* task_check_stop()'s own: when it last looked at cancel_fd */
        char *const *base_env;   /* environment every external process starts from (PATH, LANG...) */
        const char *cache_root;  /* the worker's directory of what tasks keep between runs (shared by
                                  * its slots and the workers of the same state directory: use it
                                  * under a lock); NULL: none */
        const char *pip_index_url; /* where Python dependencies come from; NULL: pip's default */
        const SandboxOptions *sandbox; /* the worker's sandbox for external processes; NULL = plain */
        uint64_t output_bytes_max;     /* the files store_file() may keep, in all; 0: no limit (-EFBIG past it) */

        /* Task log line, also sent to the execution's logs. */
        void (*log)(TaskRunContext *ctx, TaskLogLevel level, const char *message);
        /* Keep a file produced by the task (outputFiles, Download) in internal storage and return its
         * URI (malloc'ed). fd: the file, opened by the task implementation (with task_file_open() or
         * task_file_create(): never by a path the task controls), read from its current offset to
         * its end. -EFBIG past output_bytes_max. NULL: the worker has no storage, which tasks report
         * as an error. */
        int (*store_file)(TaskRunContext *ctx, const char *name, int fd, char **ret_uri);
        /* Write the file of a kestra:/// URI into fd (created by the task implementation): only a
         * file of this execution or of the one that started it. -EINVAL (not a valid URI), -EACCES
         * (another execution's), -ENOENT, -EFBIG (larger than output_bytes_max). NULL: no storage. */
        int (*fetch_file)(TaskRunContext *ctx, const char *uri, int fd);
        /* The size of the file of a kestra:/// URI, by the same rule as fetch_file() (-EINVAL, -EACCES,
         * -ENOENT). NULL: no storage. */
        int (*stat_file)(TaskRunContext *ctx, const char *uri, uint64_t *ret_size);
        /* Delete the file of a kestra:/// URI, by the same rule: 0, or -ENOENT when there was none. */
        int (*delete_file)(TaskRunContext *ctx, const char *uri);
        /* Delete every file of this execution (its inputs', its task runs'); *ret_uris (may be NULL)
         * gets the kestra:/// URIs of what was deleted, a JSON list. */
        int (*purge_files)(TaskRunContext *ctx, json_t **ret_uris);
        /* Why the last store_file(), fetch_file(), stat_file(), delete_file() or purge_files()
         * failed, one line (the storage's own words); NULL when it said nothing more than its errno. */
        const char *(*file_error)(TaskRunContext *ctx);
        const TaskServices *services; /* may be NULL */
        const char *loop_value;       /* taskrun.value, NULL outside loops */
        json_t *plugin_defaults;      /* the flow's pluginDefaults, for a TemplatedTask's task; may be NULL */
        /* Render what the task renders itself (a property the registry marks raw, a templated task's
         * properties): a template string or a tree of them, with the job's variables and vars (an
         * object, may be NULL) on top. -EINVAL with *ret_error (free it) when an expression fails. */
        int (*render)(TaskRunContext *ctx, json_t *in, json_t *vars, json_t **ret, char **ret_error);
        void *userdata;
};

typedef struct TaskOutcome {
        State state;     /* SUCCESS, WARNING, FAILED or KILLED */
        json_t *outputs; /* object, or NULL */
        json_t *metrics; /* array of {name, type, value, tags}, or NULL */
        char *error;     /* why it FAILED (shown in the task log and the CLI) */
} TaskOutcome;

void task_outcome_done(TaskOutcome *o);
/* Mark the outcome failed with a formatted message; returns 0 so tasks can "return task_fail(...)". */
int task_fail(TaskOutcome *o, const char *fmt, ...) _printf_(2, 3);
void task_logf(TaskRunContext *ctx, TaskLogLevel level, const char *fmt, ...) _printf_(3, 4);

/* A kill (cancel_fd) or the task's timeout, for tasks that run in the worker's own thread, where
 * nothing stops them from outside as a script task's process is killed: their long loops call it.
 * Returns 0 to go on; -ECANCELED with the outcome KILLED; -ETIMEDOUT with it FAILED, "Timeout after
 * <timeout>: " and what fmt says. Cheap enough for every line of a
 * file: it looks at cancel_fd at most every TASK_STOP_LOOK_USEC. */
#define TASK_STOP_LOOK_USEC (20 * USEC_PER_MSEC)
int task_check_stop(TaskRunContext *ctx, TaskOutcome *out, const char *fmt, ...) _printf_(3, 4);

/* props: the task's properties, already rendered. Returns 0 with *out filled (a failed task is a
 * successful call with state FAILED) or a negative errno when the worker itself failed. */
typedef int (*TaskImplFn)(TaskRunContext *ctx, json_t *props, TaskOutcome *out);

typedef struct TaskImpl {
        TaskImplFn run;
        bool working_dir; /* gets a fresh working directory (others run without: no mkdir per task) */
} TaskImpl;

/* The runner of a registered type; NULL when no worker runs it (the engine does, or nothing). */
const TaskImpl *task_impl_for(const TaskType *t);
/* The same by the type name a job carries (the registry's short name; Kestra names work too). */
const TaskImpl *task_impl_lookup(const char *type);

/* Implementations (task_impl_<runner>), one file per family. */
int task_impl_log(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_echo(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_return(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_fail(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_assert(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_output_values(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_sleep(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_shell_commands(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_shell_script(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_script_commands(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_script_script(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_bash(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_kv_get(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_kv_set(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_kv_delete(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_kv_get_keys(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_state_get(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_state_set(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_state_delete(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_log_fetch(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_http_request(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_http_download(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_execution_count(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_purge_executions(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_purge_logs(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_purge_kv(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_resume(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_trigger_toggle(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_templated(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_storage_write(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_storage_delete(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_storage_size(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_storage_concat(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_storage_split(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_storage_reverse(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_storage_filter_items(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_storage_deduplicate_items(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_storage_local_files(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_storage_purge_execution(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_ns_upload_files(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_ns_download_files(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_ns_delete_files(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_for_each_item_split(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_for_each_item_merge(TaskRunContext *ctx, json_t *props, TaskOutcome *out);
int task_impl_plugin(TaskRunContext *ctx, json_t *props, TaskOutcome *out); /* tasks/plugin.c */

/* Files in the working directory, which the task's own code controls: never through a symbolic link,
 * never out of the directory (lib/basic/beneath.h). Each fails the outcome with a message naming the
 * file and why, and returns the negative errno; what: "output file", "input file"... */
int task_file_open(TaskRunContext *ctx, const char *what, const char *name, TaskOutcome *out);
int task_file_create(TaskRunContext *ctx, const char *what, const char *name, TaskOutcome *out);
/* A nameless temporary file in the working directory (O_TMPFILE), opened O_RDWR. */
int task_file_tmp(TaskRunContext *ctx, TaskOutcome *out);
/* What a failed store_file() or fetch_file() returned, in words: file_error()'s, else strerror(). */
const char *task_file_strerror(TaskRunContext *ctx, int r);
/* inputFiles: a map of relative file name to content (a string, or a value written as JSON); a
 * kestra:/// URI of this execution's files is the file's content, fetched from internal storage. */
int task_write_input_files(TaskRunContext *ctx, json_t *files, TaskOutcome *out);
/* outputFiles: files matching the patterns (beneath_glob()) kept in internal storage; *ret maps each
 * file's relative name to its URI. A pattern without wildcards that names something else than a
 * regular file fails the task; a wildcard that matches one skips it with a WARN line. */
int task_collect_output_files(TaskRunContext *ctx, char *const *patterns, json_t **ret, TaskOutcome *out);

/* namespaceFiles of a script task ({enabled, include, exclude, namespaces, folderPerNamespace,
 * ifExists}, as Kestra has them): the matching namespace files written into the working directory
 * before the task runs (tasks/namespace.c). */
int task_write_namespace_files(TaskRunContext *ctx, json_t *spec, TaskOutcome *out);

/* Helpers for property access with Kestra's lenient typing (numbers and booleans given as text). */
const char *task_prop_string(json_t *props, const char *name, const char *def);
int task_prop_bool(json_t *props, const char *name, bool def, bool *ret);
int task_prop_duration(json_t *props, const char *name, susec_t def, susec_t *ret);
