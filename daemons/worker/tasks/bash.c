/* bash.c: io.kestra.core.tasks.scripts.Bash, Kestra's old script task, on the shell Commands runner:
 * its interpreter and interpreterArgs, and its output files and directories named by key, made before
 * the commands run and given to them as {{ outputFiles.KEY }}, {{ outputDirs.KEY }} and
 * {{ workingDir }} (which is why the registry leaves 'commands' raw: they render here). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "fd-util.h"
#include "macro.h"
#include "script.h"
#include "strutil.h"
#include "task-impl.h"

/* The keys of outputFiles, outputsFiles and files (Kestra adds all three up), or of outputDirs. */
static int keys_of(json_t *props, const char *const *names, json_t *keys, TaskOutcome *out) {
        for (const char *const *n = names; *n; n++) {
                json_t *l = json_object_get(props, *n), *k;
                size_t i;
                if (!l || json_is_null(l))
                        continue;
                if (!json_is_array(l))
                        return task_fail(out, "property '%s' must be a list of names", *n), -EINVAL;
                json_array_foreach(l, i, k) {
                        const char *s = json_string_value(k);
                        /* A key is a variable name and the first part of an output's name: no paths. */
                        if (isempty(s) || strchr(s, '/') || streq(s, ".") || streq(s, ".."))
                                return task_fail(out, "property '%s': '%s' is not a valid name (a key, without '/')", *n,
                                                 strempty(s)),
                                       -EINVAL;
                        if (json_array_append(keys, k) < 0)
                                return -ENOMEM;
                }
        }
        return 0;
}

int task_impl_bash(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        static const char *const file_props[] = { "outputFiles", "outputsFiles", "files", NULL };
        static const char *const dir_props[] = { "outputDirs", NULL };
        _cleanup_json_ json_t *file_keys = json_array(), *dir_keys = json_array(), *paths = json_object(),
                              *dir_paths = json_object(), *patterns = json_array(), *vars = NULL, *commands = NULL,
                              *run = NULL, *interpreter = NULL;
        _cleanup_free_ char *err = NULL;
        size_t i;
        json_t *k;
        int r;

        out->state = STATE_SUCCESS;
        if (!file_keys || !dir_keys || !paths || !dir_paths || !patterns)
                return -ENOMEM;
        if ((r = keys_of(props, file_props, file_keys, out)) < 0 || (r = keys_of(props, dir_props, dir_keys, out)) < 0)
                return out->error ? 0 : r;

        /* Each output file exists (empty) before the commands run, under a name of tern's: the commands
         * know it by its key, as Kestra's temporary files. */
        json_array_foreach(file_keys, i, k) {
                char name[64];
                snprintf(name, sizeof name, "kestra-output-%zu.tmp", i);
                _cleanup_close_ int fd = task_file_create(ctx, "output file", name, out);
                if (fd < 0)
                        return out->error ? 0 : fd;
                _cleanup_free_ char *path = strjoin(ctx->working_dir, "/", name);
                if (!path || json_object_set_new(paths, json_string_value(k), json_string(path)) < 0 ||
                    json_array_append_new(patterns, json_string(name)) < 0)
                        return -ENOMEM;
        }
        json_array_foreach(dir_keys, i, k) {
                char name[64];
                snprintf(name, sizeof name, "kestra-output-dir-%zu", i);
                _cleanup_free_ char *path = strjoin(ctx->working_dir, "/", name), *glob = strjoin(name, "/**");
                if (!path || !glob)
                        return -ENOMEM;
                if (mkdir(path, 0755) < 0 && errno != EEXIST)
                        return task_fail(out, "cannot make the output directory '%s': %s", json_string_value(k),
                                         strerror(errno));
                if (json_object_set_new(dir_paths, json_string_value(k), json_string(path)) < 0 ||
                    json_array_append_new(patterns, json_string(glob)) < 0)
                        return -ENOMEM;
        }

        vars = json_pack("{s:s, s:O, s:O}", "workingDir", ctx->working_dir, "outputFiles", paths, "outputDirs", dir_paths);
        if (!vars)
                return -ENOMEM;
        json_t *raw = json_object_get(props, "commands");
        if (!ctx->render)
                return task_fail(out, "this worker cannot render the task's commands");
        r = ctx->render(ctx, raw, vars, &commands, &err);
        if (r == -EINVAL)
                return task_fail(out, "property 'commands': %s", strempty(err));
        if (r < 0)
                return r;

        /* Kestra's interpreter is one program and its arguments apart ("/bin/sh", ["-c"]). */
        interpreter = json_pack("[s]", task_prop_string(props, "interpreter", "/bin/sh"));
        json_t *args = json_object_get(props, "interpreterArgs");
        if (!interpreter)
                return -ENOMEM;
        if (!args || json_is_null(args))
                json_array_append_new(interpreter, json_string("-c"));
        else if (!json_is_array(args))
                return task_fail(out, "property 'interpreterArgs' must be a list of strings");
        else
                json_array_extend(interpreter, args);

        /* What the shell runner reads, under the names it reads them by. */
        run = json_deep_copy(props);
        if (!run)
                return -ENOMEM;
        json_object_set(run, "commands", commands);
        json_object_set(run, "interpreter", interpreter);
        json_object_set(run, "outputFiles", patterns);
        json_object_del(run, "outputsFiles");
        json_object_del(run, "files");
        json_object_del(run, "outputDirs");
        const char *image = task_prop_string(json_object_get(props, "dockerOptions"), "image", NULL);
        if (streq(task_prop_string(props, "runner", "PROCESS"), "DOCKER") && image)
                json_object_set_new(run, "containerImage", json_string(image));
        json_object_del(run, "runner");

        if ((r = script_commands(ctx, run, &script_language_bash, out)) < 0)
                return r;

        /* Outputs by key, as Kestra names them: outputFiles.KEY, outputFiles["KEY/file"] for a
         * directory's files; "files" is the same map under its old name. */
        json_t *kept = json_object_get(out->outputs, "outputFiles");
        _cleanup_json_ json_t *by_key = json_object();
        if (!by_key)
                return -ENOMEM;
        json_array_foreach(file_keys, i, k) {
                char name[64];
                snprintf(name, sizeof name, "kestra-output-%zu.tmp", i);
                json_t *uri = json_object_get(kept, name);
                if (uri)
                        json_object_set(by_key, json_string_value(k), uri);
        }
        const char *rel;
        json_t *uri;
        json_object_foreach(kept, rel, uri) {
                json_array_foreach(dir_keys, i, k) {
                        char name[64];
                        snprintf(name, sizeof name, "kestra-output-dir-%zu/", i);
                        if (startswith(rel, name)) {
                                _cleanup_free_ char *key = strjoin(json_string_value(k), "/", rel + strlen(name));
                                if (!key || json_object_set(by_key, key, uri) < 0)
                                        return -ENOMEM;
                        }
                }
        }
        if (out->outputs) {
                json_object_set(out->outputs, "outputFiles", by_key);
                json_object_set(out->outputs, "files", by_key);
        }
        return 0;
}
