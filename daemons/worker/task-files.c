/* task-files.c: the files of a task's working directory as the worker handles them (inputFiles
 * written or fetched in, outputFiles and downloads kept): the task's code controls that directory,
 * so every operation resolves beneath it and follows no link (lib/basic/beneath.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beneath.h"
#include "cleanup-jansson.h"
#include "fd-util.h"
#include "strutil.h"
#include "task-impl.h"

static int workdir_open(TaskRunContext *ctx, TaskOutcome *out) {
        if (!ctx->working_dir)
                return task_fail(out, "this task has no working directory"), -ENOTDIR;
        int fd = open(ctx->working_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                int r = -errno; /* before task_fail, whose formatting may change errno */
                task_fail(out, "cannot open the working directory '%s': %s", ctx->working_dir, strerror(-r));
                return r;
        }
        return fd;
}

int task_file_open(TaskRunContext *ctx, const char *what, const char *name, TaskOutcome *out) {
        _cleanup_close_ int wd = workdir_open(ctx, out);
        if (wd < 0)
                return wd;
        int fd = beneath_open_regular(wd, name, 0, NULL);
        if (fd < 0 && fd != -ENOENT)
                task_fail(out, "cannot keep %s '%s': %s", what, name, beneath_refusal(fd));
        return fd;
}

int task_file_create(TaskRunContext *ctx, const char *what, const char *name, TaskOutcome *out) {
        _cleanup_close_ int wd = workdir_open(ctx, out);
        if (wd < 0)
                return wd;
        int fd = beneath_create(wd, name, 0644, 0);
        if (fd < 0)
                task_fail(out, "cannot write %s '%s': %s", what, name, beneath_refusal(fd));
        return fd;
}

int task_file_tmp(TaskRunContext *ctx, TaskOutcome *out) {
        _cleanup_close_ int wd = workdir_open(ctx, out);
        if (wd < 0)
                return wd;
        /* Nameless: the task's code never sees it, and it goes with its last fd. */
        int fd = openat(wd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0) {
                int r = -errno; /* before task_fail, whose formatting may change errno */
                task_fail(out, "cannot make a temporary file in the working directory: %s", strerror(-r));
                return r;
        }
        return fd;
}

/* What a fetch that failed midway wrote goes: nothing may read a part of the file as the whole of
 * it (the tasks after this one in a WorkingDirectory share the directory). */
static void input_file_discard(TaskRunContext *ctx, const char *name, int fd) {
        (void) ftruncate(fd, 0);
        _cleanup_close_ int wd = open(ctx->working_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        const char *base = NULL;
        _cleanup_close_ int parent = wd < 0 ? -EBADF : beneath_open_parent(wd, name, false, 0, 0, &base);
        if (parent >= 0)
                (void) unlinkat(parent, base, 0);
}

/* An input file whose value is a kestra:/// URI ({{ outputs.download.uri }}): the stored file's
 * content, not the URI's text, as Kestra does. */
static int input_file_fetch(TaskRunContext *ctx, const char *name, const char *uri, int fd, TaskOutcome *out) {
        if (!ctx->fetch_file)
                return task_fail(out, "input file '%s' names '%s', and reading it needs internal storage, which this "
                                      "worker lacks", name, uri), -ENOTSUP;
        int r = ctx->fetch_file(ctx, uri, fd);
        if (r < 0)
                input_file_discard(ctx, name, fd);
        if (r == -EACCES)
                return task_fail(out, "input file '%s': '%s' is not a file of this execution", name, uri), r;
        if (r == -ENOENT)
                return task_fail(out, "input file '%s': no file '%s' in internal storage", name, uri), r;
        if (r == -EFBIG)
                return task_fail(out, "input file '%s': '%s' takes the task run's files past the worker's limit of "
                                      "%llu MiB ([worker] output-mib)", name, uri,
                                 (unsigned long long) (ctx->output_bytes_max >> 20)), r;
        if (r < 0)
                return task_fail(out, "input file '%s': cannot read '%s': %s", name, uri, task_file_strerror(ctx, r)), r;
        return 0;
}

int task_write_input_files(TaskRunContext *ctx, json_t *files, TaskOutcome *out) {
        _cleanup_json_ json_t *parsed = NULL;
        const char *name;
        json_t *content;

        if (!files || json_is_null(files))
                return 0;
        if (json_is_string(files)) {
                parsed = json_loads(json_string_value(files), 0, NULL);
                files = parsed;
        }
        if (!json_is_object(files))
                return task_fail(out, "property 'inputFiles' must be a map of file name to content"), -EINVAL;
        json_object_foreach(files, name, content) {
                if (!beneath_path_valid(name))
                        return task_fail(out, "input file name '%s' must be a relative path inside the working directory",
                                         name), -EINVAL;
                _cleanup_close_ int fd = task_file_create(ctx, "input file", name, out);
                if (fd < 0)
                        return fd;
                _cleanup_free_ char *dumped = NULL;
                const char *data = json_string_value(content);
                if (data && startswith(data, "kestra://")) {
                        int r = input_file_fetch(ctx, name, data, fd, out);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (!data) {
                        dumped = json_dumps(content, JSON_COMPACT | JSON_ENCODE_ANY);
                        data = dumped ? dumped : "";
                }
                int r = fd_write_all(fd, data, strlen(data));
                if (r < 0)
                        return task_fail(out, "cannot write input file '%s': %s", name, strerror(-r)), r;
        }
        return 0;
}

typedef struct OutputCollect {
        TaskRunContext *ctx;
        TaskOutcome *out;
        json_t *files;
        bool literal; /* the pattern names one file: anything wrong with it fails the task */
} OutputCollect;

static int keep_output(int parentfd, const char *name, const char *rel, void *userdata) {
        OutputCollect *c = userdata;
        _cleanup_free_ char *uri = NULL;
        if (json_object_get(c->files, rel))
                return 0; /* matched by an earlier pattern too */
        /* Its name becomes part of a kestra:/// URI, which takes no control character nor '\\'. */
        for (const char *p = rel; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f || *p == '\\') {
                        if (!c->literal) {
                                task_logf(c->ctx, TASK_LOG_WARN, "Output file '%s' is not kept: its name has a control "
                                          "character or a backslash", rel);
                                return 0;
                        }
                        return task_fail(c->out, "cannot keep output file '%s': its name has a control character or a "
                                                 "backslash", rel), -EINVAL;
                }
        _cleanup_close_ int fd = beneath_open_regular(parentfd, name, 0, NULL);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0 && !c->literal) {
                /* A wildcard met a link, a directory or a FIFO: not an output file, but not silently. */
                if (fd != -EISDIR)
                        task_logf(c->ctx, TASK_LOG_WARN, "Output file '%s' is not kept: %s", rel, beneath_refusal(fd));
                return 0;
        }
        if (fd < 0)
                return task_fail(c->out, "cannot keep output file '%s': %s", rel, beneath_refusal(fd)), fd;
        if (!c->ctx->store_file)
                return task_fail(c->out, "output files need internal storage, which this worker lacks"), -ENOTSUP;
        int r = c->ctx->store_file(c->ctx, rel, fd, &uri);
        if (r == -EFBIG)
                return task_fail(c->out, "cannot keep output file '%s': the task run's output files take more than the "
                                         "worker's limit of %llu MiB ([worker] output-mib)",
                                 rel, (unsigned long long) (c->ctx->output_bytes_max >> 20)), r;
        if (r < 0)
                return task_fail(c->out, "cannot keep output file '%s': %s", rel, task_file_strerror(c->ctx, r)), r;
        return json_object_set_new(c->files, rel, json_string(uri)) < 0 ? -ENOMEM : 0;
}

static bool pattern_is_literal(const char *p) {
        return !strpbrk(p, "*?[\\");
}

int task_collect_output_files(TaskRunContext *ctx, char *const *patterns, json_t **ret, TaskOutcome *out) {
        _cleanup_json_ json_t *files = json_object();
        _cleanup_close_ int wd = -EBADF;

        if (!files)
                return -ENOMEM;
        for (char *const *p = patterns; p && *p; p++) {
                if (!beneath_path_valid(*p))
                        return task_fail(out, "output file pattern '%s' must be relative to the working directory", *p),
                               -EINVAL;
                if (wd < 0 && (wd = workdir_open(ctx, out)) < 0)
                        return wd;
                OutputCollect c = { ctx, out, files, pattern_is_literal(*p) };
                _cleanup_free_ char *refused = NULL;
                int r = beneath_glob(wd, *p, 0, keep_output, &c, &refused);
                if (r < 0 && out->state == STATE_FAILED)
                        return r;
                if (r == -E2BIG)
                        return task_fail(out, "output file pattern '%s' matches more than %u files, goes deeper than %u "
                                              "directories, or needs more than %u directory entries looked at",
                                         *p, BENEATH_GLOB_MAX_MATCHES, BENEATH_GLOB_MAX_DEPTH, BENEATH_GLOB_MAX_WORK), r;
                if (r < 0)
                        return task_fail(out, c.literal ? "cannot keep output file '%s': '%s' is refused: %s"
                                                        : "cannot keep output files matching '%s': '%s' is refused: %s",
                                         *p, strna(refused), beneath_refusal(r)), r;
        }
        *ret = TAKE_PTR(files);
        return 0;
}
