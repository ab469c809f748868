/* script.h: what the script tasks share (tasks/shell.c runs them, tasks/languages.c says how each
 * language runs, tasks/announce.c reads Kestra's ::{...}:: lines). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "task-impl.h"

/* How a family of Kestra's script tasks (io.kestra.plugin.scripts.<id>.Script and .Commands) runs
 * with the host's interpreter. */
typedef struct ScriptLanguage {
        const char *id;                   /* the Kestra package ("python"): tern's short names are id.Script */
        const char *label;                /* "Python", in messages */
        const char *const *programs;      /* what must be on PATH, the first found runs a Script's file;
                                           * NULL for the shell (/bin/sh is always there) */
        const char *run;                  /* the command that runs a Script's file ("go run"); NULL: the
                                           * program found */
        const char *extension;            /* of a Script's file (".py") */
        const char *const *interpreter;   /* the default interpreter; NULL: /bin/sh -c */
        const char *fail_fast;            /* what failFast puts first ("set -e") */
        const char *default_image;        /* Kestra's default containerImage, named when a Docker runner
                                           * without an image is asked for */
        const char *const *env;           /* NAME=value Kestra sets for the language */
        const char *alias;                /* a shell function the commands get when `alias` is not on PATH
                                           * (Debian has python3, no python) */
        const char *what;                 /* what failed, in messages ("Plugin 'x'"); NULL: "Command" */
        bool line_counts;                 /* outputs stdOutLineCount and stdErrLineCount (Kestra's old Bash) */
        bool pip_dependencies;            /* takes Kestra's `dependencies`, installed with pip (python-deps.c) */
} ScriptLanguage;

extern const ScriptLanguage script_language_shell;
/* The shell as Kestra's old io.kestra.core.tasks.scripts.Bash ran it (tasks/bash.c). */
extern const ScriptLanguage script_language_bash;

/* Run a script task: body is the commands (joined by newlines) that the interpreter runs after
 * beforeCommands; script (may be NULL) is a Script task's code, written to a file in the working
 * directory first and run with the language's program. Fills out as task implementations do. */
int script_run(TaskRunContext *ctx, json_t *props, const ScriptLanguage *lang, const char *body, const char *script,
               TaskOutcome *out);

/* A Commands task of the language: its commands (a list, or a JSON list in a string) as the body. */
int script_commands(TaskRunContext *ctx, json_t *props, const ScriptLanguage *lang, TaskOutcome *out);

/* ---- a Python task's `dependencies` (python-deps.c) ---- */

/* The task failed (or was killed) making its environment: out says how. */
#define PYTHON_DEPS_FAILED 1

/* The virtual environment holding the packages the task lists in `dependencies` (Kestra's
 * pythonVersion, dependencyCacheEnabled and packageManager besides), made with the interpreter
 * python (an absolute path) by pip, in sb (NULL: plain processes) with its network. Kept under
 * ctx->cache_root for every task listing the same packages (made once, under a lock, whole before
 * any task uses it) unless dependencyCacheEnabled is false, then made in the working directory.
 * Returns 0 with *ret_venv its directory (NULL: the task lists none), which the task's sandbox must
 * show and whose bin/ goes first on its PATH; PYTHON_DEPS_FAILED (pip's whole output in the task's
 * log, one line naming the failing dependency in out); a negative errno when the worker failed. */
int python_deps_prepare(TaskRunContext *ctx, json_t *props, const char *python, const SandboxOptions *sb,
                        char **ret_venv, TaskOutcome *out);

/* ---- Kestra's output protocol: "::{...}::" lines (announce.c) ---- */

typedef struct Announcements {
        json_t *vars;    /* "outputs": merged, a value announced again replaces the old one */
        json_t *metrics; /* "metrics": [{name, type, value, tags, timestamp}], one per type, name and
                          * tags (counters and timers add up, a gauge keeps its last value); timers
                          * in milliseconds, as Kestra stores them */
        json_t *index;   /* the position in metrics of each type, name and tags (metric_key()) */
        size_t kept;     /* about how large vars and metrics are, as JSON text */
        bool too_much;   /* past JSON_VALUE_SIZE_MAX: later announcements were dropped */
        bool assets_said; /* the WARN about "assets" was logged */
} Announcements;

int announcements_init(Announcements *a);
void announcements_done(Announcements *a);
/* A line of the task's output (stdout or stderr, as Kestra reads both): true when it is an
 * announcement, whose "logs" entries are then logged at their level (through ctx) and whose
 * outputs and metrics are kept; false for any other line, which the caller logs. */
bool announcement_parse(Announcements *a, TaskRunContext *ctx, const char *line, size_t len);
