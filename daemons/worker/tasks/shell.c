/* shell.c: shell Commands and Script tasks: build the script, prepare the working directory, run it
 * through the process runner, turn output lines into logs and ::{"outputs":...}:: lines into outputs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "json-limits.h"
#include "process.h"
#include "strbuf.h"
#include "strutil.h"
#include "task-impl.h"

typedef struct ShellRun {
        TaskRunContext *ctx;
        json_t *vars;    /* outputs announced with ::{"outputs":...}:: */
        json_t *metrics; /* metrics announced with ::{"metrics":[...]}:: */
        size_t kept;     /* about how large vars and metrics are, as JSON text */
        bool too_much;   /* past JSON_VALUE_SIZE_MAX: later announcements were dropped */
} ShellRun;

static size_t entry_size(const char *key, const json_t *v) {
        return strlen(key) + 4 + json_size_estimate(v, JSON_VALUE_SIZE_MAX);
}

/* "::{...}::" lines carry outputs and metrics; everything else is a log line. What they keep is
 * bounded while the task runs (a value announced again replaces the old one and its size), not
 * only when its outputs are stored. */
static bool parse_announcement(ShellRun *sr, const char *line, size_t len) {
        if (len < 6 || strncmp(line, "::{", 3) != 0 || strcmp(line + len - 3, "}::") != 0)
                return false;
        _cleanup_json_ json_t *j = json_loadb(line + 2, len - 4, 0, NULL);
        if (!json_is_object(j))
                return false;
        json_t *o = json_object_get(j, "outputs"), *m = json_object_get(j, "metrics"), *v;
        if (!json_is_object(o) && !json_is_array(m))
                return false;
        size_t kept = sr->kept;
        const char *k;
        json_object_foreach(o, k, v) {
                json_t *old = json_object_get(sr->vars, k);
                if (old)
                        kept -= MIN(entry_size(k, old), kept);
                kept += entry_size(k, v);
        }
        if (json_is_array(m))
                kept += json_size_estimate(m, JSON_VALUE_SIZE_MAX);
        if (sr->too_much || kept > JSON_VALUE_SIZE_MAX) {
                sr->too_much = true;
                return true;
        }
        sr->kept = kept;
        if (json_is_object(o))
                json_object_update(sr->vars, o);
        if (json_is_array(m))
                json_array_extend(sr->metrics, m);
        return true;
}

static void on_line(void *userdata, ProcessStream stream, const char *line, size_t len) {
        ShellRun *sr = userdata;
        if (stream == PROCESS_STDOUT && parse_announcement(sr, line, len))
                return;
        sr->ctx->log(sr->ctx, stream == PROCESS_STDOUT ? TASK_LOG_INFO : TASK_LOG_WARN, line);
}

static int string_list(json_t *v, const char *name, char ***ret, TaskOutcome *out) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        size_t i;
        json_t *e;

        if (!l)
                return -ENOMEM;
        if (!v || json_is_null(v)) {
                *ret = TAKE_PTR(l);
                return 0;
        }
        if (json_is_string(v)) {
                /* A rendered expression may have produced a JSON list as text. */
                _cleanup_json_ json_t *parsed = json_loads(json_string_value(v), 0, NULL);
                if (json_is_array(parsed))
                        return string_list(parsed, name, ret, out);
                if (strv_extend(&l, json_string_value(v)) < 0)
                        return -ENOMEM;
                *ret = TAKE_PTR(l);
                return 0;
        }
        if (!json_is_array(v))
                return task_fail(out, "property '%s' must be a list of strings", name), -EINVAL;
        json_array_foreach(v, i, e) {
                int r;
                if (json_is_string(e))
                        r = strv_extend(&l, json_string_value(e));
                else {
                        _cleanup_free_ char *s = json_dumps(e, JSON_COMPACT | JSON_ENCODE_ANY);
                        r = s ? strv_extend(&l, s) : -ENOMEM;
                }
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int build_env(TaskRunContext *ctx, json_t *env, char ***ret, TaskOutcome *out) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        char attempt[16];
        const char *k;
        json_t *v;

        if (!l)
                return -ENOMEM;
        for (char *const *e = ctx->base_env; e && *e; e++)
                if (strv_extend(&l, *e) < 0)
                        return -ENOMEM;
        snprintf(attempt, sizeof attempt, "%u", ctx->attempt);
        /* Tasks see who they are so that side effects can be made idempotent across resubmissions. */
        const char *const ids[][2] = {
                { "TERN_EXECUTION_ID", ctx->execution_id }, { "TERN_TASK_RUN_ID", ctx->task_run_id },
                { "TERN_TASK_ID", ctx->task_id },           { "TERN_NAMESPACE", ctx->namespace },
                { "TERN_FLOW_ID", ctx->flow_id },           { "TERN_ATTEMPT", attempt },
                { "WORKING_DIR", ctx->working_dir },        { "HOME", ctx->working_dir },
        };
        for (size_t i = 0; i < ELEMENTSOF(ids); i++)
                if (ids[i][1] && strv_consume(&l, strjoin(ids[i][0], "=", ids[i][1])) < 0)
                        return -ENOMEM;
        if (env && !json_is_null(env) && !json_is_object(env))
                return task_fail(out, "property 'env' must be a map of names to values"), -EINVAL;
        json_object_foreach(env, k, v) {
                if (isempty(k) || strchr(k, '='))
                        return task_fail(out, "environment variable name '%s' is not valid", k), -EINVAL;
                _cleanup_free_ char *dumped = NULL;
                const char *s = json_string_value(v);
                if (!s) {
                        dumped = json_is_null(v) ? strdup("") : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                        if (!dumped)
                                return -ENOMEM;
                        s = dumped;
                }
                if (strv_consume(&l, strjoin(k, "=", s)) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

/* The worker's sandbox, narrowed by the task's taskRunner where Kestra has an equivalent (its
 * Docker runner's memory.memory, cpu.cpus and networkMode). A task may tighten limits, never
 * loosen them; it gets network only when the worker allows it. */
static int task_sandbox(TaskRunContext *ctx, json_t *props, SandboxOptions *sb, TaskOutcome *out) {
        *sb = *ctx->sandbox;
        json_t *runner = json_object_get(props, "taskRunner");
        if (!json_is_object(runner))
                return 0;
        const char *mem = task_prop_string(json_object_get(runner, "memory"), "memory", NULL);
        if (mem) {
                uint64_t bytes;
                if (sandbox_parse_bytes(mem, &bytes) < 0 || bytes < 4096)
                        return task_fail(out, "taskRunner memory '%s' is not a size such as 512MB", mem), -EINVAL;
                sb->memory_max = sb->memory_max ? MIN(sb->memory_max, bytes) : bytes;
        }
        json_t *cpus = json_object_get(json_object_get(runner, "cpu"), "cpus");
        if (cpus && !json_is_null(cpus)) {
                double d = json_is_number(cpus) ? json_number_value(cpus) : json_is_string(cpus) ? atof(json_string_value(cpus)) : 0;
                if (d <= 0 || d > 1024)
                        return task_fail(out, "taskRunner cpu.cpus must be a positive number of CPUs"), -EINVAL;
                unsigned pct = (unsigned) (d * 100 + 0.5) ?: 1;
                sb->cpu_percent = sb->cpu_percent ? MIN(sb->cpu_percent, pct) : pct;
        }
        const char *net = task_prop_string(runner, "networkMode", NULL);
        if (net && streq(net, "none"))
                sb->network = false;
        else if (net && !ctx->sandbox->network)
                return task_fail(out, "taskRunner networkMode '%s' needs network, which this worker's sandbox denies", net),
                       -EINVAL;
        return 0;
}

static int run_shell(TaskRunContext *ctx, json_t *props, const char *body, TaskOutcome *out) {
        _cleanup_strv_free_ char **interpreter = NULL, **before = NULL, **env = NULL, **argv = NULL;
        _cleanup_json_ json_t *vars = json_object(), *metrics = json_array(), *files = NULL;
        _cleanup_strbuf_ StrBuf script = STRBUF_INIT;
        ProcessResult res;
        bool exit_on_failed;
        int r;

        out->state = STATE_SUCCESS;
        if (!vars || !metrics)
                return -ENOMEM;
        json_t *ip = json_object_get(props, "interpreter");
        if (!ip || json_is_null(ip)) {
                if (strv_extend(&interpreter, "/bin/sh") < 0 || strv_extend(&interpreter, "-c") < 0)
                        return -ENOMEM;
        } else if ((r = string_list(ip, "interpreter", &interpreter, out)) < 0)
                return r == -EINVAL ? 0 : r;
        if (strv_length(interpreter) == 0)
                return task_fail(out, "property 'interpreter' must not be empty");
        if ((r = string_list(json_object_get(props, "beforeCommands"), "beforeCommands", &before, out)) < 0 ||
            (r = task_prop_bool(props, "exitOnFailed", true, &exit_on_failed)) < 0)
                return r == -EINVAL ? (out->error ? 0 : task_fail(out, "property 'exitOnFailed' must be a boolean")) : r;

        if (exit_on_failed)
                strbuf_append(&script, "set -e\n");
        for (char **c = before; *c; c++)
                strbuf_appendf(&script, "%s\n", *c);
        strbuf_append(&script, body);
        if (script.error)
                return script.error;

        if ((r = task_write_input_files(ctx, json_object_get(props, "inputFiles"), out)) < 0 ||
            (r = build_env(ctx, json_object_get(props, "env"), &env, out)) < 0)
                return out->error ? 0 : r;
        for (char **i = interpreter; *i; i++)
                if (strv_extend(&argv, *i) < 0)
                        return -ENOMEM;
        if (strv_extend(&argv, strbuf_str(&script)) < 0)
                return -ENOMEM;

        SandboxOptions sb;
        if (ctx->sandbox && ctx->sandbox->mode != SANDBOX_OFF && (r = task_sandbox(ctx, props, &sb, out)) < 0)
                return out->error ? 0 : r;
        ShellRun sr = { .ctx = ctx, .vars = vars, .metrics = metrics };
        ProcessSpec spec = {
                .argv = argv, .env = env, .cwd = ctx->working_dir, .timeout = ctx->timeout, .cancel_fd = ctx->cancel_fd,
                .sandbox = ctx->sandbox && ctx->sandbox->mode != SANDBOX_OFF ? &sb : NULL,
        };
        r = process_run(&spec, on_line, &sr, &res);
        if (r < 0 && res.message[0])
                return task_fail(out, "%s", res.message);
        if (r == -ENOENT || r == -EACCES)
                return task_fail(out, "cannot run interpreter '%s': %s", argv[0], strerror(-r));
        if (r < 0)
                return r;
        if (res.message[0]) /* best-effort mode: what isolation is missing */
                task_logf(ctx, TASK_LOG_WARN, "Sandbox: %s", res.message);

        _cleanup_strv_free_ char **patterns = NULL;
        if ((r = string_list(json_object_get(props, "outputFiles"), "outputFiles", &patterns, out)) < 0 ||
            (r = task_collect_output_files(ctx, patterns, &files, out)) < 0)
                return out->error ? 0 : r;
        out->outputs = json_pack("{s:i, s:O}", "exitCode", res.exit_code, "vars", vars);
        if (!out->outputs)
                return -ENOMEM;
        if (json_object_size(files) > 0)
                json_object_set(out->outputs, "outputFiles", files);
        if (json_array_size(metrics) > 0)
                out->metrics = json_incref(metrics);

        char d[DURATION_MAX];
        if (sr.too_much && !res.cancelled)
                return task_fail(out, "The command announced more than %u MiB of outputs and metrics (::{...}:: lines): "
                                      "the rest was dropped", JSON_VALUE_SIZE_MAX >> 20);
        if (res.cancelled)
                out->state = STATE_KILLED;
        else if (res.timed_out)
                return task_fail(out, "Timeout after %s: the command was killed", duration_format(d, (susec_t) ctx->timeout));
        else if (res.oom_killed)
                return task_fail(out, "Command ran out of memory: the kernel's OOM killer stopped it (sandbox memory limit: %llu MiB)",
                                 (unsigned long long) (spec.sandbox->memory_max >> 20));
        else if (res.signal)
                return task_fail(out, "Command was killed by signal %s", sigabbrev_np(res.signal) ?: "?");
        else if (res.exit_code != 0)
                return task_fail(out, "Command failed with exit code %d%s", res.exit_code,
                                 res.pids_exhausted ? " (it hit the sandbox's limit on processes)" : "");
        return 0;
}

int task_impl_shell_commands(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        _cleanup_strv_free_ char **commands = NULL;
        int r = string_list(json_object_get(props, "commands"), "commands", &commands, out);
        if (r < 0)
                return out->error ? 0 : r;
        if (strv_length(commands) == 0)
                return task_fail(out, "property 'commands' must list at least one command");
        _cleanup_free_ char *body = strv_join(commands, "\n");
        if (!body)
                return -ENOMEM;
        return run_shell(ctx, props, body, out);
}

int task_impl_shell_script(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        const char *script = task_prop_string(props, "script", NULL);
        if (!script)
                return task_fail(out, "property 'script' is required");
        return run_shell(ctx, props, script, out);
}
