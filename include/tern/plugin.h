/* tern/plugin.h: the C ABI of tern's native task plugins: what a plugin's shared object exports and
 * the services the worker gives it while it runs a task. docs/PLUGINS.md says how to write one. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Raised whenever a change would break a plugin built against an older header: a field removed or
 * moved, a meaning changed. Appending a field at the end of TernPluginServices does not raise it
 * (a plugin that needs the new field checks services->size). The worker refuses a shared object
 * whose tern_plugin_abi_version differs from its own. */
#define TERN_PLUGIN_ABI_VERSION 1

/* Log levels, Kestra's names. */
typedef enum TernPluginLogLevel {
        TERN_PLUGIN_LOG_ERROR,
        TERN_PLUGIN_LOG_WARN,
        TERN_PLUGIN_LOG_INFO,
        TERN_PLUGIN_LOG_DEBUG,
        TERN_PLUGIN_LOG_TRACE,
} TernPluginLogLevel;

/* What tern_plugin_run() returns besides a negative errno (a failure: strerror() is its message
 * unless fail() said more). */
#define TERN_PLUGIN_SUCCESS 0
#define TERN_PLUGIN_WARNING 1 /* the task ends in WARNING */
#define TERN_PLUGIN_FAILED 2  /* the task ends in FAILED, with what fail() said */

/* The worker's services for one task run. Valid only during tern_plugin_run(), on its thread; every
 * function takes ctx first. Strings are UTF-8 and NUL-terminated; nothing returned by a service
 * needs freeing unless said. */
typedef struct TernPluginServices {
        uint32_t abi_version; /* the worker's TERN_PLUGIN_ABI_VERSION */
        uint32_t size;        /* sizeof the struct the worker filled in */
        void *ctx;

        const char *task_type;    /* the type's name (its first, whatever alias the flow used): a plugin
                                   * with several types switches on it */
        const char *execution_id;
        const char *task_run_id;
        const char *task_id;
        const char *namespace_;
        const char *flow_id;
        unsigned attempt;         /* 1-based */
        const char *working_dir;  /* the task's directory: files given to and made by the task */

        /* A task log line (secrets are masked by the worker). */
        void (*log)(void *ctx, TernPluginLogLevel level, const char *message);
        /* An output of the task: value_json is JSON text (a string is "\"text\""). 0, -EINVAL when it is
         * not JSON, -E2BIG past the worker's bounds on outputs. */
        int (*output)(void *ctx, const char *name, const char *value_json);
        /* A metric, as Kestra's: type "counter", "timer" (value in seconds) or "gauge"; tags_json a JSON
         * object or NULL. 0, -EINVAL. */
        int (*metric)(void *ctx, const char *type, const char *name, double value, const char *tags_json);
        /* Internal storage: write the file of a kestra:/// URI (this execution's) into file, a path
         * relative to working_dir that does not exist yet. 0, -EINVAL, -EACCES, -ENOENT, -EEXIST. */
        int (*storage_get)(void *ctx, const char *uri, const char *file);
        /* Keep the file (relative to working_dir) in internal storage; *ret_uri is its kestra:/// URI
         * (free() it). 0, -ENOENT, -EFBIG (past the task's storage budget). */
        int (*storage_put)(void *ctx, const char *file, char **ret_uri);
        /* Why the task failed, for TERN_PLUGIN_FAILED (the last call wins). */
        void (*fail)(void *ctx, const char *message);
        /* Non-zero when the task must stop now: killed, or past its timeout. A plugin that runs for
         * long checks it between steps (it runs inside the worker: nothing can stop it otherwise). */
        int (*cancelled)(void *ctx);
        /* Microseconds left before the task's timeout (UINT64_MAX: none): for a library's own timeout
         * (CURLOPT_TIMEOUT_MS, a socket's). */
        uint64_t (*remaining_usec)(void *ctx);

        /* Appended after the first release (a plugin that uses them checks services->size, see
         * TERN_PLUGIN_HAS_SERVICE): Amazon Ion text, the format of Kestra's files (an item a line), read
         * and written as tern's own tasks do. */
        /* One Ion value (text of len bytes) as JSON text in *ret_json (free() it): timestamps and symbols
         * become strings, decimals and floats numbers, blobs base64 strings. 1; 0 with *ret_json NULL for
         * blank text; -EINVAL with *ret_why (a constant) when it is not one Ion value; -ENOMEM. */
        int (*ion_to_json)(void *ctx, const char *text, size_t len, char **ret_json, const char **ret_why);
        /* One JSON value (JSON text) as Ion text, on one line, in *ret_ion (free() it). 0, -EINVAL when
         * json is not JSON, -E2BIG when it nests too deeply, -ENOMEM. */
        int (*json_to_ion)(void *ctx, const char *json, char **ret_ion);
} TernPluginServices;

/* Whether the worker's services have the field (one appended after the plugin's ABI version began). */
#define TERN_PLUGIN_HAS_SERVICE(services, field)                                                      \
        ((services)->size >= offsetof(TernPluginServices, field) + sizeof((services)->field) && (services)->field)

/* The entry point: run one task of one of the plugin's types (type: as services->task_type). properties_json is the task's rendered
 * properties as a JSON object, defaults filled in. Returns TERN_PLUGIN_SUCCESS, _WARNING, _FAILED or
 * a negative errno. */
typedef int (*TernPluginRunFn)(const char *type, const char *properties_json, const TernPluginServices *services);

#if defined(__GNUC__)
#define TERN_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define TERN_PLUGIN_EXPORT
#endif

/* In one source file of the plugin: TERN_PLUGIN_DEFINE(my_run); exports the two symbols the worker
 * looks for, tern_plugin_abi_version (this header's version) and tern_plugin_run. */
#define TERN_PLUGIN_DEFINE(run_fn)                                                                   \
        TERN_PLUGIN_EXPORT extern const uint32_t tern_plugin_abi_version;                             \
        TERN_PLUGIN_EXPORT const uint32_t tern_plugin_abi_version = TERN_PLUGIN_ABI_VERSION;          \
        TERN_PLUGIN_EXPORT int tern_plugin_run(const char *type, const char *properties_json,          \
                                               const TernPluginServices *services);                   \
        TERN_PLUGIN_EXPORT int tern_plugin_run(const char *type, const char *properties_json,          \
                                               const TernPluginServices *services) {                  \
                return (run_fn)(type, properties_json, services);                                      \
        }

#ifdef __cplusplus
}
#endif
