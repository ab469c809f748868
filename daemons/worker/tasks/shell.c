/* shell.c: script tasks (shell Commands and Script, and every language's): build the script, prepare
 * the working directory, run it through the process runner, turn output lines into logs and
 * ::{...}:: lines into outputs, metrics and log lines (announce.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "json-limits.h"
#include "script.h"
#include "process.h"
#include "strbuf.h"
#include "strutil.h"
#include "task-impl.h"

typedef struct ShellRun {
        TaskRunContext *ctx;
        Announcements *ann;
        unsigned stderr_lines; /* warningOnStdErr: any, announcements included, as Kestra counts them */
        unsigned stdout_lines;
} ShellRun;

static void on_line(void *userdata, ProcessStream stream, const char *line, size_t len) {
        ShellRun *sr = userdata;
        if (stream == PROCESS_STDERR)
                sr->stderr_lines++;
        else
                sr->stdout_lines++;
        if (announcement_parse(sr->ann, sr->ctx, line, len))
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

static int build_env(TaskRunContext *ctx, const ScriptLanguage *lang, json_t *env, char ***ret, TaskOutcome *out) {
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
        for (const char *const *e = lang->env; e && *e; e++)
                if (strv_extend(&l, *e) < 0)
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

const ScriptLanguage script_language_shell = {
        .id = "shell",
        .label = "shell",
        .extension = ".sh",
        .fail_fast = "set -e",
        .default_image = "ubuntu",
};

const ScriptLanguage script_language_bash = {
        .id = "shell",
        .label = "shell",
        .extension = ".sh",
        .fail_fast = "set -o errexit",
        .default_image = "ubuntu",
        .line_counts = true,
};

/* The first of the language's programs on the worker's PATH (the sandbox shows the host's system
 * directories as they are), or NULL; *ret_path (may be NULL) gets where it is. */
static const char *find_program(const ScriptLanguage *lang, char *const *env, char **ret_path) {
        const char *path = "/usr/local/bin:/usr/bin:/bin";
        for (char *const *e = env; e && *e; e++)
                if (startswith(*e, "PATH="))
                        path = *e + 5;
        for (const char *const *p = lang->programs; p && *p; p++) {
                _cleanup_strv_free_ char **dirs = NULL;
                if (strv_split(path, ":", &dirs) < 0)
                        return NULL;
                for (char **d = dirs; *d; d++) {
                        _cleanup_free_ char *f = isempty(*d) ? NULL : strjoin(*d, "/", *p);
                        if (f && access(f, X_OK) == 0) {
                                if (ret_path)
                                        *ret_path = TAKE_PTR(f);
                                return *p;
                        }
                }
        }
        return NULL;
}

/* The container image a task asks for, which Kestra would run it in: its containerImage under a
 * task runner that runs containers (Kestra's default runner does), docker.image, or the language's
 * default image for a container runner given without one. NULL: none (a Process task runner runs
 * on the host in Kestra too). *ret_runner: the task runner's type when it is not Kestra's default. */
static const char *requested_image(json_t *props, const ScriptLanguage *lang, const char **ret_runner) {
        const char *image = task_prop_string(props, "containerImage", NULL);
        const char *docker = task_prop_string(json_object_get(props, "docker"), "image", NULL);
        const char *runner = task_prop_string(json_object_get(props, "taskRunner"), "type", NULL);
        const char *old = task_prop_string(props, "runner", NULL);

        *ret_runner = runner;
        if (runner)
                return endswith(runner, ".Process") ? NULL : image ?: docker ?: lang->default_image;
        if (old)
                return streq(old, "DOCKER") ? docker ?: image ?: lang->default_image : NULL;
        return image ?: docker;
}

/* Run in a virtual environment (python-deps.c): its bin/ first on PATH, as activating it does, and
 * the directory visible (read-only) in the sandbox unless it is in the working directory already. */
static int use_venv(TaskRunContext *ctx, const char *venv, char ***env, SandboxOptions *sb, char ***ret_ro_binds) {
        bool path_set = false;
        for (char **e = *env; *e; e++) {
                if (!startswith(*e, "PATH="))
                        continue;
                char *p = strjoin("PATH=", venv, "/bin:", *e + 5);
                if (!p)
                        return -ENOMEM;
                free(*e);
                *e = p;
                path_set = true;
                break;
        }
        if ((!path_set && strv_consume(env, strjoin("PATH=", venv, "/bin:/usr/local/bin:/usr/bin:/bin")) < 0) ||
            strv_consume(env, strjoin("VIRTUAL_ENV=", venv)) < 0)
                return -ENOMEM;
        size_t n = strlen(ctx->working_dir);
        if (!sb || (strncmp(venv, ctx->working_dir, n) == 0 && venv[n] == '/'))
                return 0;
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (char *const *b = sb->ro_binds; b && *b; b++)
                if (strv_extend(&l, *b) < 0)
                        return -ENOMEM;
        if (strv_extend(&l, venv) < 0)
                return -ENOMEM;
        sb->ro_binds = *ret_ro_binds = TAKE_PTR(l);
        return 0;
}

int script_run(TaskRunContext *ctx, json_t *props, const ScriptLanguage *lang, const char *body, const char *script,
               TaskOutcome *out) {
        _cleanup_strv_free_ char **interpreter = NULL, **before = NULL, **env = NULL, **argv = NULL;
        _cleanup_json_ json_t *files = NULL;
        _cleanup_strbuf_ StrBuf text = STRBUF_INIT;
        _cleanup_(announcements_done) Announcements ann = {};
        ProcessResult res;
        bool fail_fast, warning_on_stderr;
        int r;

        out->state = STATE_SUCCESS;
        if (announcements_init(&ann) < 0)
                return -ENOMEM;

        /* Nothing runs in a container here: say so, or refuse when the worker must not fall back. */
        const char *runner = NULL, *image = requested_image(props, lang, &runner);
        if (image && ctx->sandbox && ctx->sandbox->require_image)
                return task_fail(out, "The task asks for container image '%s'%s%s%s, and this worker runs no containers: "
                                      "[sandbox] require-image = true refuses to run it on the host",
                                 image, runner ? " (task runner '" : "", strempty(runner), runner ? "')" : "");
        const char *program = NULL;
        _cleanup_free_ char *program_path = NULL;
        if (lang->programs && !(program = find_program(lang, ctx->base_env, &program_path))) {
                _cleanup_free_ char *names = strv_join((char **) lang->programs, "', '");
                const char *path = NULL;
                for (char *const *e = ctx->base_env; e && *e; e++)
                        if (startswith(*e, "PATH="))
                                path = *e + 5;
                return task_fail(out, "%s is not installed on this worker: no '%s' on its PATH (%s). tern runs %s tasks "
                                      "with the host's interpreter; install it there%s",
                                 lang->label, strempty(names), path ?: "/usr/local/bin:/usr/bin:/bin", lang->label,
                                 image ? ", or run the task where Kestra runs its image" : "");
        }
        if (image)
                task_logf(ctx, TASK_LOG_WARN, "Container image '%s'%s%s%s is not used: tern runs the task on this worker's "
                                              "host%s%s%s, in its sandbox. Set [sandbox] require-image = true to make such "
                                              "tasks fail instead",
                          image, runner ? " (task runner '" : "", strempty(runner), runner ? "')" : "",
                          program ? " with its own '" : "", strempty(program), program ? "'" : "");

        json_t *ip = json_object_get(props, "interpreter");
        bool default_interpreter = !ip || json_is_null(ip);
        if (!default_interpreter) {
                if ((r = string_list(ip, "interpreter", &interpreter, out)) < 0)
                        return r == -EINVAL ? 0 : r;
        } else if (lang->interpreter) {
                for (const char *const *i = lang->interpreter; *i; i++)
                        if (strv_extend(&interpreter, *i) < 0)
                                return -ENOMEM;
        } else if (strv_extend(&interpreter, "/bin/sh") < 0 || strv_extend(&interpreter, "-c") < 0)
                return -ENOMEM;
        if (strv_length(interpreter) == 0)
                return task_fail(out, "property 'interpreter' must not be empty");
        /* failFast is Kestra's name; exitOnFailed the older one. */
        const char *ff = json_object_get(props, "exitOnFailed") ? "exitOnFailed" : "failFast";
        if ((r = string_list(json_object_get(props, "beforeCommands"), "beforeCommands", &before, out)) < 0)
                return r == -EINVAL ? 0 : r;
        if (task_prop_bool(props, ff, true, &fail_fast) < 0)
                return task_fail(out, "property '%s' must be a boolean", ff);
        if (task_prop_bool(props, "warningOnStdErr", true, &warning_on_stderr) < 0)
                return task_fail(out, "property 'warningOnStdErr' must be a boolean");

        /* Namespace files first: inputFiles of the same name are the task's own, and win. */
        if ((r = task_write_namespace_files(ctx, json_object_get(props, "namespaceFiles"), out)) < 0 ||
            (r = task_write_input_files(ctx, json_object_get(props, "inputFiles"), out)) < 0 ||
            (r = build_env(ctx, lang, json_object_get(props, "env"), &env, out)) < 0)
                return out->error ? 0 : r;

        if (fail_fast && lang->fail_fast)
                strbuf_appendf(&text, "%s\n", lang->fail_fast);
        /* Commands written for Kestra's image call it by the name the image has. */
        if (default_interpreter && lang->alias && program && !streq(program, lang->alias))
                strbuf_appendf(&text, "command -v %s >/dev/null 2>&1 || %s() { %s \"$@\"; }\n", lang->alias, lang->alias,
                               program);
        for (char **c = before; *c; c++)
                strbuf_appendf(&text, "%s\n", *c);
        if (script) {
                /* As Kestra does: the code in a file of the working directory, run by the language. */
                _cleanup_free_ char *name = strjoin(ctx->task_run_id ?: "script", lang->extension);
                if (!name)
                        return -ENOMEM;
                _cleanup_close_ int fd = task_file_create(ctx, "script file", name, out);
                if (fd < 0)
                        return out->error ? 0 : fd;
                size_t n = strlen(script);
                if (write(fd, script, n) != (ssize_t) n)
                        return task_fail(out, "cannot write the script file '%s': %s", name, strerror(errno));
                strbuf_appendf(&text, "%s '%s/%s'\n", lang->run ?: program, ctx->working_dir, name);
        }
        if (body)
                strbuf_append(&text, body);
        if (text.error)
                return text.error;

        for (char **i = interpreter; *i; i++)
                if (strv_extend(&argv, *i) < 0)
                        return -ENOMEM;
        if (strv_extend(&argv, strbuf_str(&text)) < 0)
                return -ENOMEM;

        SandboxOptions sb;
        bool sandboxed = ctx->sandbox && ctx->sandbox->mode != SANDBOX_OFF;
        if (sandboxed && (r = task_sandbox(ctx, props, &sb, out)) < 0)
                return out->error ? 0 : r;
        _cleanup_free_ char *venv = NULL;
        _cleanup_strv_free_ char **ro_binds = NULL;
        if (lang->pip_dependencies && program_path) {
                r = python_deps_prepare(ctx, props, program_path, sandboxed ? &sb : NULL, &venv, out);
                if (r != 0)
                        return r == PYTHON_DEPS_FAILED ? 0 : r;
                if (venv && (r = use_venv(ctx, venv, &env, sandboxed ? &sb : NULL, &ro_binds)) < 0)
                        return r;
        }
        ShellRun sr = { .ctx = ctx, .ann = &ann };
        ProcessSpec spec = {
                .argv = argv, .env = env, .cwd = ctx->working_dir, .timeout = ctx->timeout, .cancel_fd = ctx->cancel_fd,
                .sandbox = sandboxed ? &sb : NULL,
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
        out->outputs = json_pack("{s:i, s:O}", "exitCode", res.exit_code, "vars", ann.vars);
        if (!out->outputs)
                return -ENOMEM;
        if (json_object_size(files) > 0)
                json_object_set(out->outputs, "outputFiles", files);
        if (lang->line_counts &&
            (json_object_set_new(out->outputs, "stdOutLineCount", json_integer(sr.stdout_lines)) < 0 ||
             json_object_set_new(out->outputs, "stdErrLineCount", json_integer(sr.stderr_lines)) < 0))
                return -ENOMEM;
        if (json_array_size(ann.metrics) > 0)
                out->metrics = json_incref(ann.metrics);

        char d[DURATION_MAX];
        if (ann.too_much && !res.cancelled)
                return task_fail(out, "The command announced more than %u MiB of outputs and metrics (::{...}:: lines): "
                                      "the rest was dropped", JSON_VALUE_SIZE_MAX >> 20);
        if (res.cancelled)
                out->state = STATE_KILLED;
        else if (res.timed_out)
                return task_fail(out, "Timeout after %s: the command was killed", duration_format(d, (susec_t) ctx->timeout));
        else if (res.oom_killed)
                return task_fail(out, "%s ran out of memory: the kernel's OOM killer stopped it (sandbox memory limit: %llu MiB)",
                                 lang->what ?: "Command",
                                 (unsigned long long) (spec.sandbox->memory_max >> 20));
        else if (res.signal)
                return task_fail(out, "%s was killed by signal %s", lang->what ?: "Command", sigabbrev_np(res.signal) ?: "?");
        else if (res.exit_code != 0)
                return task_fail(out, "%s failed with exit code %d%s", lang->what ?: "Command", res.exit_code,
                                 res.pids_exhausted ? " (it hit the sandbox's limit on processes)" : "");
        else if (warning_on_stderr && sr.stderr_lines > 0)
                /* Kestra's warningOnStdErr (default true): any line on stderr ends the task in WARNING. */
                out->state = STATE_WARNING;
        return 0;
}

int script_commands(TaskRunContext *ctx, json_t *props, const ScriptLanguage *lang, TaskOutcome *out) {
        _cleanup_strv_free_ char **commands = NULL;
        int r = string_list(json_object_get(props, "commands"), "commands", &commands, out);
        if (r < 0)
                return out->error ? 0 : r;
        if (strv_length(commands) == 0)
                return task_fail(out, "property 'commands' must list at least one command");
        _cleanup_free_ char *body = strv_join(commands, "\n");
        if (!body)
                return -ENOMEM;
        return script_run(ctx, props, lang, body, NULL, out);
}

int task_impl_shell_commands(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        return script_commands(ctx, props, &script_language_shell, out);
}

int task_impl_shell_script(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        const char *script = task_prop_string(props, "script", NULL);
        if (!script)
                return task_fail(out, "property 'script' is required");
        return script_run(ctx, props, &script_language_shell, script, NULL, out);
}
