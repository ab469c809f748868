/* languages.c: Kestra's script tasks beyond the shell (Python, Node, R, Ruby, Julia, PowerShell, Go):
 * how each runs with the host's interpreter, as Kestra's plugin-scripts runs them in its images. */
#include <errno.h>
#include <string.h>

#include "script.h"
#include "strutil.h"

#define L(...) ((const char *const[]) { __VA_ARGS__, NULL })

/* Kestra writes a Script's code to a file and runs "<program> <file>" after beforeCommands, through
 * the interpreter (/bin/sh -c; PowerShell's own), in the image named here unless containerImage says
 * otherwise. */
static const ScriptLanguage languages[] = {
        { .id = "python", .label = "Python", .programs = L("python3", "python"), .extension = ".py",
          .fail_fast = "set -e", .default_image = "ghcr.io/kestra-io/kestrapy:latest",
          .env = L("PYTHONUNBUFFERED=true", "PIP_ROOT_USER_ACTION=ignore", "PIP_DISABLE_PIP_VERSION_CHECK=1"),
          .alias = "python", .pip_dependencies = true },
        { .id = "node", .label = "Node.js", .programs = L("node", "nodejs"), .extension = ".js", .fail_fast = "set -e",
          .default_image = "node", .alias = "node" },
        { .id = "r", .label = "R", .programs = L("Rscript"), .extension = ".R", .fail_fast = "set -e",
          .default_image = "r-base" },
        { .id = "ruby", .label = "Ruby", .programs = L("ruby"), .extension = ".rb", .fail_fast = "set -e",
          .default_image = "ruby" },
        { .id = "julia", .label = "Julia", .programs = L("julia"), .extension = ".jl", .fail_fast = "set -e",
          .default_image = "julia" },
        { .id = "powershell", .label = "PowerShell", .programs = L("pwsh"), .run = "&", .extension = ".ps1",
          .interpreter = L("pwsh", "-NoProfile", "-NonInteractive", "-Command"),
          .fail_fast = "$ErrorActionPreference = 'Stop'", .default_image = "mcr.microsoft.com/powershell" },
        { .id = "go", .label = "Go", .programs = L("go"), .run = "go run", .extension = ".go", .fail_fast = "set -e",
          .default_image = "golang" },
};

/* The language of a registered type: its short name is "<id>.Script" or "<id>.Commands". */
static const ScriptLanguage *language_of(TaskRunContext *ctx) {
        const TaskType *t = task_type_lookup(TASK_TYPE_TASK, ctx->task_type);
        const char *dot = t ? strchr(t->name, '.') : NULL;
        for (size_t i = 0; dot && i < ELEMENTSOF(languages); i++)
                if (strlen(languages[i].id) == (size_t) (dot - t->name) && strncmp(languages[i].id, t->name, dot - t->name) == 0)
                        return &languages[i];
        return NULL;
}

int task_impl_script_commands(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        const ScriptLanguage *lang = language_of(ctx);
        if (!lang)
                return task_fail(out, "task type '%s' is not a script task of this worker", strna(ctx->task_type));
        return script_commands(ctx, props, lang, out);
}

int task_impl_script_script(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        const ScriptLanguage *lang = language_of(ctx);
        const char *script = task_prop_string(props, "script", NULL);
        if (!lang)
                return task_fail(out, "task type '%s' is not a script task of this worker", strna(ctx->task_type));
        if (!script)
                return task_fail(out, "property 'script' is required");
        return script_run(ctx, props, lang, NULL, script, out);
}
