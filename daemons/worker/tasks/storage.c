/* storage.c: Kestra's internal storage tasks (io.kestra.plugin.core.storage.*): files of this execution
 * are fetched into anonymous files of the task's working directory, worked on as streams, and kept
 * again as the task run's files; nothing holds a whole file in memory. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "expr.h"
#include "fd-util.h"
#include "hashmap.h"
#include "ion-file.h"
#include "line-reader.h"
#include "strutil.h"
#include "task-impl.h"
#include "user-regex.h"

/* The longest line (item) the line-oriented tasks read: a longer one fails the task, saying so. */
#define STORAGE_LINE_MAX ((size_t) 16 << 20)
/* Files Split writes at once (partitions, regexPattern's groups): each is an open file. */
#define STORAGE_SPLIT_OPEN_MAX 256u

static int need_storage(TaskRunContext *ctx, TaskOutcome *out) {
        if (!ctx->store_file || !ctx->fetch_file || !ctx->stat_file || !ctx->delete_file || !ctx->purge_files)
                return task_fail(out, "this task needs internal storage, which this worker lacks"), -ENOTSUP;
        return 0;
}

/* A required string property, not empty. */
static int string_prop(json_t *props, const char *name, const char **ret, TaskOutcome *out) {
        const char *s = task_prop_string(props, name, NULL);
        if (isempty(s))
                return task_fail(out, "property '%s' is required (it is missing or empty)", name), -EINVAL;
        *ret = s;
        return 0;
}

/* A positive integer property, given as a number or as text; 0 when absent. */
static int count_prop(json_t *props, const char *name, int64_t *ret, TaskOutcome *out) {
        json_t *v = json_object_get(props, name);
        int64_t n = 0;
        if (!v || json_is_null(v)) {
                *ret = 0;
                return 0;
        }
        if (json_is_integer(v))
                n = json_integer_value(v);
        else if (!json_is_string(v) || safe_atoi64(json_string_value(v), &n) < 0)
                n = 0;
        if (n <= 0)
                return task_fail(out, "property '%s' must be a positive integer", name), -EINVAL;
        *ret = n;
        return 0;
}

/* A file name extension that can end a file's name: ".txt", not a path. */
static int extension_prop(json_t *props, const char *def, const char **ret, TaskOutcome *out) {
        const char *ext = task_prop_string(props, "extension", def);
        if (strlen(ext) > 32 || strpbrk(ext, "/\\"))
                return task_fail(out, "property 'extension' ('%s') must be a file name extension such as '.txt'", ext),
                       -EINVAL;
        for (const char *p = ext; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return task_fail(out, "property 'extension' must be a file name extension such as '.txt'"),
                               -EINVAL;
        *ret = ext;
        return 0;
}

/* The extension of the file a URI names (Kestra keeps it on what it derives from it), else .tmp. */
static void uri_extension(const char *uri, char ret[static 33]) {
        const char *base = strrchr(uri, '/');
        const char *dot = strrchr(base ? base + 1 : uri, '.');
        snprintf(ret, 33, "%s", dot && strlen(dot) <= 32 && !strpbrk(dot, "\\?#") ? dot : ".tmp");
}

/* An anonymous file in the working directory (on the worker's disk, not in its memory), gone when
 * closed. */
static int tmp_file(TaskRunContext *ctx, TaskOutcome *out) {
        if (!ctx->working_dir)
                return task_fail(out, "this task has no working directory"), -ENOTDIR;
        int r;
        _cleanup_close_ int wd = open(ctx->working_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (wd < 0) {
                r = -errno;
                return task_fail(out, "cannot open the working directory '%s': %s", ctx->working_dir, strerror(-r)), r;
        }
        int fd = openat(wd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd >= 0)
                return fd;
        if (errno != EOPNOTSUPP && errno != EISDIR) {
                r = -errno;
                return task_fail(out, "cannot make a temporary file in '%s': %s", ctx->working_dir, strerror(-r)), r;
        }
        /* A file system without O_TMPFILE: a name of our own, unlinked at once. */
        for (unsigned i = 0;; i++) {
                char name[64];
                snprintf(name, sizeof name, ".tern-storage-%d-%u", getpid(), i);
                fd = openat(wd, name, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0 && errno == EEXIST && i < 1000)
                        continue;
                if (fd < 0) {
                        r = -errno;
                        return task_fail(out, "cannot make a temporary file in '%s': %s", ctx->working_dir, strerror(-r)), r;
                }
                (void) unlinkat(wd, name, 0);
                return fd;
        }
}

/* Why fetch_file() or stat_file() refused uri (property prop), in the task's outcome. */
static int file_refused(TaskRunContext *ctx, const char *prop, const char *uri, int r, TaskOutcome *out) {
        if (r == -ENOMEM)
                return r;
        if (r == -EACCES)
                task_fail(out, "Unable to read the file '%s' as it doesn't belong to the current execution", uri);
        else if (r == -ENOENT)
                task_fail(out, "property '%s': no file '%s' in internal storage", prop, uri);
        else if (r == -EFBIG)
                task_fail(out, "property '%s': '%s' takes the task run's files past the worker's limit of %llu MiB "
                               "([worker] output-mib)", prop, uri, (unsigned long long) (ctx->output_bytes_max >> 20));
        else if (r == -EINVAL)
                task_fail(out, "property '%s': '%s' is %s", prop, uri, task_file_strerror(ctx, r));
        else
                task_fail(out, "property '%s': cannot read '%s': %s", prop, uri, task_file_strerror(ctx, r));
        return r;
}

/* Append the file of uri to fd, at its offset. */
static int fetch_append(TaskRunContext *ctx, const char *prop, const char *uri, int fd, TaskOutcome *out) {
        int r = ctx->fetch_file(ctx, uri, fd);
        return r < 0 ? file_refused(ctx, prop, uri, r, out) : 0;
}

/* The file of uri in a temporary file, read from its start. */
static int fetch_tmp(TaskRunContext *ctx, const char *prop, const char *uri, TaskOutcome *out) {
        _cleanup_close_ int fd = tmp_file(ctx, out);
        if (fd < 0)
                return fd;
        int r = fetch_append(ctx, prop, uri, fd, out);
        if (r < 0)
                return r;
        if (lseek(fd, 0, SEEK_SET) < 0)
                return task_fail(out, "cannot read back '%s': %s", uri, strerror(errno)), -EIO;
        return TAKE_FD(fd);
}

/* Keep fd, from its start, as the task run's file name; *ret_uri: its kestra:/// URI. */
static int keep(TaskRunContext *ctx, int fd, const char *name, char **ret_uri, TaskOutcome *out) {
        if (lseek(fd, 0, SEEK_SET) < 0)
                return task_fail(out, "cannot read back '%s': %s", name, strerror(errno)), -EIO;
        int r = ctx->store_file(ctx, name, fd, ret_uri);
        if (r == -EFBIG)
                return task_fail(out, "cannot keep '%s': the task run's files take more than the worker's limit of "
                                      "%llu MiB ([worker] output-mib)", name,
                                 (unsigned long long) (ctx->output_bytes_max >> 20)), r;
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return task_fail(out, "cannot keep '%s': %s", name, task_file_strerror(ctx, r)), r;
        return 0;
}

static int keep_output_uri(TaskRunContext *ctx, int fd, const char *name, TaskOutcome *out, json_t **ret_outputs) {
        _cleanup_free_ char *uri = NULL;
        int r = keep(ctx, fd, name, &uri, out);
        if (r < 0)
                return r;
        *ret_outputs = json_pack("{s:s}", "uri", uri);
        return *ret_outputs ? 0 : -ENOMEM;
}

/* ---- a buffered output file ------------------------------------------------------------------- */

typedef struct OutFile {
        int fd;
        size_t n;
        uint64_t bytes, lines;
        char buf[64 * 1024];
} OutFile;

static OutFile *out_file_free(OutFile *o) {
        if (o) {
                safe_close(o->fd);
                free(o);
        }
        return NULL;
}
DEFINE_FREE_CLEANUP(OutFile, out_file_free);

static int out_file_new(TaskRunContext *ctx, TaskOutcome *out, OutFile **ret) {
        OutFile *o = malloc(sizeof *o);
        if (!o)
                return -ENOMEM;
        *o = (OutFile) { .fd = tmp_file(ctx, out) };
        if (o->fd < 0) {
                int r = o->fd;
                free(o);
                return r;
        }
        *ret = o;
        return 0;
}

static int out_file_flush(OutFile *o) {
        int r = fd_write_all(o->fd, o->buf, o->n);
        o->n = 0;
        return r;
}

static int out_file_write(OutFile *o, const void *p, size_t n) {
        int r;
        o->bytes += n;
        if (n > sizeof o->buf - o->n && (r = out_file_flush(o)) < 0)
                return r;
        if (n >= sizeof o->buf)
                return fd_write_all(o->fd, p, n);
        memcpy(o->buf + o->n, p, n);
        o->n += n;
        return 0;
}

/* A line and the separator after it. */
static int out_file_line(OutFile *o, const char *line, size_t len, const char *sep) {
        int r = out_file_write(o, line, len);
        o->lines++;
        return r < 0 ? r : out_file_write(o, sep, strlen(sep));
}

static int write_failed(TaskOutcome *out, int r) {
        return r == -ENOMEM ? r : (task_fail(out, "cannot write the task's temporary file: %s", strerror(-r)), r);
}

static int read_failed(TaskOutcome *out, const char *uri, int r) {
        if (r == -ENOMEM)
                return r;
        if (r == -E2BIG)
                return task_fail(out, "'%s' has a line longer than %zu MiB", uri, STORAGE_LINE_MAX >> 20), r;
        return task_fail(out, "cannot read '%s': %s", uri, strerror(-r)), r;
}

/* ---- Write, Size, Delete, PurgeCurrentExecutionFiles ------------------------------------------ */

int task_impl_storage_write(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        json_t *content = json_object_get(props, "content");
        _cleanup_free_ char *dumped = NULL, *name = NULL;
        const char *ext;
        int r;

        out->state = STATE_SUCCESS;
        if (need_storage(ctx, out) < 0)
                return 0;
        if (!content || json_is_null(content))
                return task_fail(out, "property 'content' is required");
        if ((r = extension_prop(props, ".ion", &ext, out)) < 0)
                return 0;
        const char *data = json_string_value(content);
        if (!data) {
                /* a number or a boolean: as Jackson turns it into text */
                if (!(dumped = json_dumps(content, JSON_COMPACT | JSON_ENCODE_ANY)))
                        return -ENOMEM;
                data = dumped;
        }
        _cleanup_close_ int fd = tmp_file(ctx, out);
        if (fd < 0)
                return 0;
        if ((r = fd_write_all(fd, data, strlen(data))) < 0)
                return write_failed(out, r) == -ENOMEM ? -ENOMEM : 0;
        if (!(name = strjoin("content", ext)))
                return -ENOMEM;
        r = keep_output_uri(ctx, fd, name, out, &out->outputs);
        return r == -ENOMEM ? r : 0;
}

int task_impl_storage_size(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        const char *uri;
        uint64_t size = 0;

        out->state = STATE_SUCCESS;
        if (need_storage(ctx, out) < 0 || string_prop(props, "uri", &uri, out) < 0)
                return 0;
        int r = ctx->stat_file(ctx, uri, &size);
        if (r < 0)
                return file_refused(ctx, "uri", uri, r, out) == -ENOMEM ? -ENOMEM : 0;
        out->outputs = json_pack("{s:I}", "size", (json_int_t) size);
        return out->outputs ? 0 : -ENOMEM;
}

int task_impl_storage_delete(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        bool error_on_missing;
        const char *uri;

        out->state = STATE_SUCCESS;
        if (need_storage(ctx, out) < 0 || string_prop(props, "uri", &uri, out) < 0)
                return 0;
        if (task_prop_bool(props, "errorOnMissing", false, &error_on_missing) < 0)
                return task_fail(out, "property 'errorOnMissing' must be a boolean");
        int r = ctx->delete_file(ctx, uri);
        if (r == -ENOENT && error_on_missing)
                return task_fail(out, "Unable to find file '%s'", uri);
        if (r == -EACCES)
                return task_fail(out, "Unable to delete the file '%s' as it doesn't belong to the current execution", uri);
        if (r < 0 && r != -ENOENT)
                return file_refused(ctx, "uri", uri, r, out) == -ENOMEM ? -ENOMEM : 0;
        out->outputs = json_pack("{s:s, s:b}", "uri", uri, "deleted", r >= 0);
        return out->outputs ? 0 : -ENOMEM;
}

/* includeChildExecutions and includeStates are accepted and, as in Kestra today, change nothing. */
int task_impl_storage_purge_execution(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        _cleanup_json_ json_t *uris = NULL;
        bool b;

        out->state = STATE_SUCCESS;
        if (need_storage(ctx, out) < 0)
                return 0;
        if (task_prop_bool(props, "includeChildExecutions", false, &b) < 0 ||
            task_prop_bool(props, "includeStates", false, &b) < 0)
                return task_fail(out, "properties 'includeChildExecutions' and 'includeStates' must be booleans");
        int r = ctx->purge_files(ctx, &uris);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return task_fail(out, "cannot delete the files of execution %s: %s", ctx->execution_id,
                                 task_file_strerror(ctx, r));
        out->outputs = json_pack("{s:O}", "uris", uris);
        return out->outputs ? 0 : -ENOMEM;
}

/* ---- Concat ------------------------------------------------------------------------------------ */

int task_impl_storage_concat(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        json_t *files = json_object_get(props, "files");
        _cleanup_json_ json_t *parsed = NULL;
        _cleanup_free_ char *name = NULL;
        const char *sep = task_prop_string(props, "separator", NULL), *ext;
        size_t i;
        json_t *f;
        int r;

        out->state = STATE_SUCCESS;
        if (need_storage(ctx, out) < 0 || extension_prop(props, ".tmp", &ext, out) < 0)
                return 0;
        if (json_is_string(files)) {
                /* a JSON list in a string: what `{{ outputs.x.outputFiles | jq('.[]') }}` renders to */
                parsed = json_loads(json_string_value(files), JSON_DECODE_ANY, NULL);
                files = parsed;
        }
        if (!json_is_array(files))
                return task_fail(out, "property 'files' must be a list of kestra:/// URIs, or such a list as JSON text");
        json_array_foreach(files, i, f)
                if (!json_is_string(f))
                        return task_fail(out, "property 'files': item %zu is not a kestra:/// URI", i + 1);
        _cleanup_close_ int fd = tmp_file(ctx, out);
        if (fd < 0)
                return 0;
        json_array_foreach(files, i, f) {
                if ((r = task_check_stop(ctx, out, "%zu of %zu files were concatenated", i, json_array_size(files))) < 0 ||
                    (r = fetch_append(ctx, "files", json_string_value(f), fd, out)) < 0)
                        return r == -ENOMEM ? r : 0;
                if (sep && (r = fd_write_all(fd, sep, strlen(sep))) < 0)
                        return write_failed(out, r) == -ENOMEM ? -ENOMEM : 0;
        }
        if (!(name = strjoin("concat", ext)))
                return -ENOMEM;
        r = keep_output_uri(ctx, fd, name, out, &out->outputs);
        return r == -ENOMEM ? r : 0;
}

/* ---- Split ------------------------------------------------------------------------------------- */

/* "10MB", "200KB", "1GB" (1024-based, as Micronaut reads them) or a number of bytes. */
static int bytes_parse(const char *s, uint64_t *ret) {
        char *e;
        uint64_t mult = 1;
        if (!s || !isdigit((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        unsigned long long n = strtoull(s, &e, 10);
        if (errno)
                return -EINVAL;
        if (strcasecmp(e, "KB") == 0)
                mult = 1024;
        else if (strcasecmp(e, "MB") == 0)
                mult = 1024 * 1024;
        else if (strcasecmp(e, "GB") == 0)
                mult = 1024 * 1024 * 1024;
        else if (*e)
                return -EINVAL;
        if (n == 0 || n > UINT64_MAX / mult)
                return -EINVAL;
        *ret = n * mult;
        return 0;
}

typedef struct Split {
        TaskRunContext *ctx;
        TaskOutcome *out;
        const char *ext;
        json_t *uris;
        unsigned n_kept;
} Split;

/* Keep a part (an empty one is dropped, as Kestra drops them) and close it. */
static int split_keep(Split *s, OutFile **o) {
        _cleanup_free_ char *name = NULL, *uri = NULL;
        _cleanup_(out_file_freep) OutFile *f = TAKE_PTR(*o);
        int r;
        if (!f)
                return 0;
        if ((r = out_file_flush(f)) < 0)
                return write_failed(s->out, r);
        if (f->bytes == 0)
                return 0;
        if (!(name = strdup_printf("split-%04u%s", ++s->n_kept, s->ext)))
                return -ENOMEM;
        if ((r = keep(s->ctx, f->fd, name, &uri, s->out)) < 0)
                return r;
        return json_array_append_new(s->uris, json_string(uri)) < 0 ? -ENOMEM : 0;
}

/* Before each row: the input may be large, and a kill or the timeout ends the task here. */
static int split_stop(Split *s, const char *uri) {
        return task_check_stop(s->ctx, s->out, "'%s' was split only in part", uri);
}

/* rows or bytes: a part ends once it has that many; each goes up as soon as it is complete. */
static int split_sequential(Split *s, LineReader *lr, const char *uri, const char *sep, uint64_t max_bytes,
                            uint64_t max_rows) {
        _cleanup_(out_file_freep) OutFile *cur = NULL;
        const char *line;
        size_t len;
        int r;
        while ((r = line_reader_next(lr, &line, &len)) > 0) {
                if ((r = split_stop(s, uri)) < 0)
                        return r;
                if (cur && ((max_bytes && cur->bytes >= max_bytes) || (max_rows && cur->lines >= max_rows)) &&
                    (r = split_keep(s, &cur)) < 0)
                        return r;
                if (!cur && (r = out_file_new(s->ctx, s->out, &cur)) < 0)
                        return r;
                if ((r = out_file_line(cur, line, len, sep)) < 0)
                        return write_failed(s->out, r);
        }
        if (r < 0)
                return read_failed(s->out, uri, r);
        return split_keep(s, &cur);
}

static void out_files_free(OutFile **parts, size_t n) {
        for (size_t i = 0; i < n; i++)
                out_file_free(parts[i]);
        free(parts);
}

/* partitions: rows dealt in turn to n parts; regexPattern: rows grouped by their first capture
 * group's text (a part per value, in the order they first appear; rows that do not match go). */
static int split_grouped(Split *s, LineReader *lr, const char *uri, const char *sep, int64_t partitions,
                         const regex_t *re) {
        _cleanup_hashmap_ Hashmap groups = HASHMAP_INIT;
        OutFile **parts = calloc(STORAGE_SPLIT_OPEN_MAX, sizeof *parts);
        size_t n = 0, next = 0;
        const char *line;
        size_t len;
        int r = 0;
        if (!parts)
                return -ENOMEM;
        for (; re == NULL && n < (size_t) partitions; n++)
                if ((r = out_file_new(s->ctx, s->out, &parts[n])) < 0)
                        goto finish;
        while ((r = line_reader_next(lr, &line, &len)) > 0) {
                size_t i;
                if ((r = split_stop(s, uri)) < 0)
                        goto finish;
                if (!re)
                        i = next++ % n;
                else {
                        regmatch_t m[2];
                        /* Searches cost the square of their subject: a row's first 16 KiB are looked at. */
                        _cleanup_free_ char *subject = strndup(line, MIN(len, (size_t) USER_REGEX_MAX_SUBJECT));
                        if (!subject) {
                                r = -ENOMEM;
                                goto finish;
                        }
                        if (regexec(re, subject, 2, m, 0) != 0 || m[1].rm_so < 0)
                                continue;
                        subject[m[1].rm_eo] = 0;
                        void *v = hashmap_get(&groups, subject + m[1].rm_so);
                        if (v)
                                i = (size_t) (uintptr_t) v - 1;
                        else {
                                if (n >= STORAGE_SPLIT_OPEN_MAX) {
                                        task_fail(s->out, "property 'regexPattern' groups the rows of '%s' into more than %u "
                                                          "files", uri, STORAGE_SPLIT_OPEN_MAX);
                                        r = -E2BIG;
                                        goto finish;
                                }
                                if ((r = out_file_new(s->ctx, s->out, &parts[n])) < 0 ||
                                    (r = hashmap_put(&groups, subject + m[1].rm_so, (void *) (uintptr_t) (n + 1))) < 0)
                                        goto finish;
                                i = n++;
                        }
                }
                if ((r = out_file_line(parts[i], line, len, sep)) < 0) {
                        r = write_failed(s->out, r);
                        goto finish;
                }
        }
        if (r < 0) {
                r = read_failed(s->out, uri, r);
                goto finish;
        }
        for (size_t i = 0; i < n; i++)
                if ((r = split_keep(s, &parts[i])) < 0)
                        break;
finish:
        out_files_free(parts, n);
        return r;
}

int task_impl_storage_split(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        const char *from, *sep = task_prop_string(props, "separator", "\n");
        const char *bytes_s = task_prop_string(props, "bytes", NULL), *pattern = task_prop_string(props, "regexPattern", NULL);
        json_t *bytes_v = json_object_get(props, "bytes");
        _cleanup_json_ json_t *uris = json_array();
        _cleanup_(line_reader_done) LineReader lr = {};
        int64_t partitions = 0, rows = 0;
        uint64_t bytes = 0;
        char ext[33];
        regex_t re;
        bool have_re = false;
        int r;

        out->state = STATE_SUCCESS;
        if (!uris)
                return -ENOMEM;
        if (need_storage(ctx, out) < 0 || string_prop(props, "from", &from, out) < 0 ||
            count_prop(props, "partitions", &partitions, out) < 0 || count_prop(props, "rows", &rows, out) < 0)
                return 0;
        if (json_is_integer(bytes_v) && json_integer_value(bytes_v) > 0)
                bytes = (uint64_t) json_integer_value(bytes_v);
        else if (bytes_v && !json_is_null(bytes_v) && bytes_parse(bytes_s, &bytes) < 0)
                return task_fail(out, "property 'bytes' ('%s') must be a size such as 10MB, 200KB or a number of bytes",
                                 bytes_s ?: "not text");
        if (!pattern && !bytes && !partitions && !rows)
                return task_fail(out, "one of the properties 'bytes', 'partitions', 'rows' or 'regexPattern' is required");
        if (partitions > STORAGE_SPLIT_OPEN_MAX)
                return task_fail(out, "property 'partitions' must be at most %u", STORAGE_SPLIT_OPEN_MAX);
        if (pattern) {
                const char *why = NULL;
                r = user_regex_compile(pattern, 0, &re, &why);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return task_fail(out, "property 'regexPattern' ('%s') is refused: %s", pattern, strna(why));
                have_re = true;
                if (re.re_nsub < 1) {
                        regfree(&re);
                        return task_fail(out, "property 'regexPattern' ('%s') needs a capture group: rows are grouped by "
                                              "what it captures", pattern);
                }
        }
        uri_extension(from, ext);
        Split s = { ctx, out, ext, uris, 0 };
        _cleanup_close_ int in = fetch_tmp(ctx, "from", from, out);
        if (in < 0)
                r = in;
        else {
                line_reader_init(&lr, in, STORAGE_LINE_MAX);
                /* Kestra's order of precedence when several are given */
                if (have_re || partitions)
                        r = split_grouped(&s, &lr, from, sep, partitions, have_re ? &re : NULL);
                else
                        r = split_sequential(&s, &lr, from, sep, bytes, bytes ? 0 : (uint64_t) rows);
        }
        if (have_re)
                regfree(&re);
        if (r < 0)
                return r == -ENOMEM ? r : 0;
        out->outputs = json_pack("{s:O}", "uris", uris);
        return out->outputs ? 0 : -ENOMEM;
}

/* ---- Reverse ----------------------------------------------------------------------------------- */

static bool charset_ascii_compatible(const char *c) {
        static const char *const ok[] = { "UTF-8", "UTF8", "US-ASCII", "ASCII", "ISO-8859-1", "ISO8859-1", "LATIN1",
                                          "WINDOWS-1252", "CP1252", NULL };
        for (const char *const *p = ok; *p; p++)
                if (strcasecmp(c, *p) == 0)
                        return true;
        return false;
}

#define REVERSE_BLOCK ((size_t) 64 * 1024)

/* The lines of in, last first, each followed by sep: the file is read backwards a block at a time;
 * memory holds one block and the line being completed. Lines end as the line reader ends them. */
static int reverse_lines(TaskRunContext *ctx, int in, OutFile *o, const char *sep, const char *uri, TaskOutcome *out) {
        struct stat st;
        _cleanup_free_ char *buf = NULL;
        size_t cap = 0;
        if (fstat(in, &st) < 0)
                return read_failed(out, uri, -errno);
        uint64_t hi = (uint64_t) st.st_size;
        if (hi == 0)
                return 0;
        /* The last line's terminator ends the file: no empty line after it. */
        unsigned char tail[2] = {};
        size_t tl = hi >= 2 ? 2 : 1;
        if (pread(in, tail + 2 - tl, tl, (off_t) (hi - tl)) != (ssize_t) tl)
                return read_failed(out, uri, -EIO);
        if (tail[1] == '\n')
                hi -= 1 + (hi >= 2 && tail[0] == '\r');
        else if (tail[1] == '\r')
                hi -= 1;
        /* buf holds the file's bytes [lo, hi) */
        uint64_t lo = hi;
        for (;;) {
                int r = task_check_stop(ctx, out, "'%s' was reversed only in part", uri);
                if (r < 0)
                        return r;
                /* the last terminator in (lo, hi), or at lo when nothing is before it */
                size_t len = (size_t) (hi - lo);
                size_t t = len;
                for (size_t i = len; i > 0; i--) {
                        char c = buf[i - 1];
                        if ((c == '\n' || c == '\r') && (i - 1 > 0 || lo == 0)) {
                                t = i - 1;
                                break;
                        }
                }
                if (t < len) {
                        r = out_file_line(o, buf + t + 1, len - t - 1, sep);
                        if (r < 0)
                                return write_failed(out, r);
                        /* "\r\n" is one terminator */
                        hi = lo + t - (buf[t] == '\n' && t > 0 && buf[t - 1] == '\r');
                        continue;
                }
                if (lo == 0) {
                        r = out_file_line(o, buf, len, sep);
                        return r < 0 ? write_failed(out, r) : 0;
                }
                /* no whole line in the buffer: the block before it comes in front */
                size_t add = (size_t) MIN((uint64_t) REVERSE_BLOCK, lo);
                if (len + add > STORAGE_LINE_MAX + 2)
                        return read_failed(out, uri, -E2BIG);
                if (len + add > cap) {
                        char *b = realloc(buf, len + add);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                        cap = len + add;
                }
                memmove(buf + add, buf, len);
                lo -= add;
                ssize_t k = pread(in, buf, add, (off_t) lo);
                if (k != (ssize_t) add)
                        return read_failed(out, uri, k < 0 ? -errno : -EIO);
        }
}

int task_impl_storage_reverse(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        const char *from, *sep = task_prop_string(props, "separator", "\n");
        const char *charset = task_prop_string(props, "charset", "UTF-8");
        _cleanup_(out_file_freep) OutFile *o = NULL;
        _cleanup_free_ char *name = NULL;
        char ext[33];
        int r;

        out->state = STATE_SUCCESS;
        if (need_storage(ctx, out) < 0 || string_prop(props, "from", &from, out) < 0)
                return 0;
        /* Lines are found by their bytes: any charset that writes '\n' and '\r' as ASCII does is read right. */
        if (!charset_ascii_compatible(charset))
                return task_fail(out, "property 'charset': '%s' is not supported (UTF-8, US-ASCII, ISO-8859-1 and "
                                      "windows-1252 are)", charset);
        uri_extension(from, ext);
        _cleanup_close_ int in = fetch_tmp(ctx, "from", from, out);
        if (in < 0)
                return in == -ENOMEM ? in : 0;
        if ((r = out_file_new(ctx, out, &o)) < 0)
                return r == -ENOMEM ? r : 0;
        if ((r = reverse_lines(ctx, in, o, sep, from, out)) < 0 || (r = out_file_flush(o)) < 0) {
                if (r != -ENOMEM && out->state == STATE_SUCCESS) /* not already FAILED or KILLED */
                        write_failed(out, r);
                return r == -ENOMEM ? r : 0;
        }
        if (!(name = strjoin("reverse", ext)))
                return -ENOMEM;
        r = keep_output_uri(ctx, o->fd, name, out, &out->outputs);
        return r == -ENOMEM ? r : 0;
}

/* ---- FilterItems, DeduplicateItems ------------------------------------------------------------- */

typedef struct ItemExpr {
        TaskRunContext *ctx;
        json_t *tmpl;     /* the expression, unrendered (a raw property) */
        const char *prop;
        const char *uri;
} ItemExpr;

static void item_expr_init(ItemExpr *e, TaskRunContext *ctx, json_t *tmpl, const char *prop, const char *uri) {
        *e = (ItemExpr) { ctx, tmpl, prop, uri };
}

/* A kill or the task's timeout, checked before each item: a file of many items with a costly
 * expression takes long. */
static int item_stop(ItemExpr *e, TaskOutcome *out) {
        return task_check_stop(e->ctx, out, "'%s' was not read to its end", e->uri);
}

/* Render the expression with the item's fields on top of the task's variables, as Kestra does;
 * *ret: the rendered value, or NULL when rendering failed (*ret_error says why). */
static int item_render(ItemExpr *e, IonItemReader *ir, json_t *item, json_t **ret, char **ret_error, TaskOutcome *out) {
        int r = item_stop(e, out);
        if (r < 0)
                return r;
        if (item && !json_is_object(item))
                return task_fail(out, "'%s': item %" PRIu64 " is not a struct: %s needs one to find its fields in",
                                 e->uri, ir->n, e->prop), -EINVAL;
        _cleanup_json_ json_t *empty = item ? NULL : json_object();
        r = e->ctx->render(e->ctx, e->tmpl, item ?: empty, ret, ret_error);
        if (r == -EINVAL) {
                *ret = NULL;
                return 0;
        }
        return r;
}

static int item_read_failed(TaskOutcome *out, IonItemReader *ir, const char *uri, int r, const char *why) {
        if (r == -EINVAL)
                return task_fail(out, "'%s': item %" PRIu64 " is not valid Ion: %s", uri, ir->n, strna(why)), r;
        return read_failed(out, uri, r);
}

static bool truthy(const char *s) {
        return !streq(s, "false") && !streq(s, "0") && !streq(s, "-0") && !streq(s, "");
}

int task_impl_storage_filter_items(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        const char *from, *type = task_prop_string(props, "filterType", "INCLUDE");
        const char *on_error = task_prop_string(props, "errorOrNullBehavior", "FAIL");
        _cleanup_(out_file_freep) OutFile *o = NULL;
        _cleanup_(ion_item_reader_done) IonItemReader ir = {};
        uint64_t processed = 0, dropped = 0;
        const char *line, *why = NULL;
        size_t len;
        int r;

        out->state = STATE_SUCCESS;
        if (need_storage(ctx, out) < 0 || string_prop(props, "from", &from, out) < 0)
                return 0;
        json_t *cond = json_object_get(props, "filterCondition");
        if (!json_is_string(cond))
                return task_fail(out, "property 'filterCondition' is required: an expression such as {{ value > 1 }}");
        if (!streq(type, "INCLUDE") && !streq(type, "EXCLUDE"))
                return task_fail(out, "property 'filterType' must be INCLUDE or EXCLUDE, not '%s'", type);
        if (!streq(on_error, "FAIL") && !streq(on_error, "INCLUDE") && !streq(on_error, "EXCLUDE"))
                return task_fail(out, "property 'errorOrNullBehavior' must be FAIL, INCLUDE or EXCLUDE, not '%s'", on_error);
        ItemExpr e;
        item_expr_init(&e, ctx, cond, "filterCondition", from);
        _cleanup_close_ int in = fetch_tmp(ctx, "from", from, out);
        if (in < 0)
                return in == -ENOMEM ? in : 0;
        if ((r = out_file_new(ctx, out, &o)) < 0)
                return r == -ENOMEM ? r : 0;
        ion_item_reader_init(&ir, in);
        for (;;) {
                _cleanup_json_ json_t *item = NULL, *v = NULL;
                _cleanup_free_ char *err = NULL, *text = NULL;
                r = ion_item_reader_next(&ir, &item, &line, &len, &why);
                if (r == 0)
                        break;
                if (r < 0)
                        return item_read_failed(out, &ir, from, r, why) == -ENOMEM ? -ENOMEM : 0;
                if ((r = item_render(&e, &ir, item, &v, &err, out)) < 0)
                        return r == -ENOMEM ? r : 0;
                bool include = streq(type, "INCLUDE");
                if (v && !json_is_null(v)) {
                        if ((r = expr_value_to_string(v, &text)) < 0)
                                return r;
                        if (!truthy(strstrip(text)))
                                include = !include;
                } else if (streq(on_error, "FAIL")) {
                        if (err)
                                return task_fail(out, "'%s': item %" PRIu64 ": %s", from, ir.n, err);
                        return task_fail(out, "Expression `%s` return `null` on item `%.*s`", json_string_value(cond),
                                         (int) MIN(len, (size_t) 1024), line);
                } else
                        include = streq(on_error, "INCLUDE");
                processed++;
                if (!include) {
                        dropped++;
                        continue;
                }
                if ((r = out_file_line(o, line, len, "\n")) < 0)
                        return write_failed(out, r) == -ENOMEM ? -ENOMEM : 0;
        }
        if ((r = out_file_flush(o)) < 0)
                return write_failed(out, r) == -ENOMEM ? -ENOMEM : 0;
        _cleanup_free_ char *uri = NULL;
        if ((r = keep(ctx, o->fd, "filtered.ion", &uri, out)) < 0)
                return r == -ENOMEM ? r : 0;
        out->outputs = json_pack("{s:s, s:I, s:I}", "uri", uri, "processedItemsTotal", (json_int_t) processed,
                                 "droppedItemsTotal", (json_int_t) dropped);
        return out->outputs ? 0 : -ENOMEM;
}

/* The key of each item, in order: f is called with it and the item's line. */
typedef int (*DedupFn)(void *userdata, const char *key, uint64_t index, const char *line, size_t len);

static int dedup_pass(ItemExpr *e, int in, DedupFn fn, void *userdata, TaskOutcome *out) {
        _cleanup_(ion_item_reader_done) IonItemReader ir = {};
        const char *line, *why = NULL;
        size_t len;
        int r;
        if (lseek(in, 0, SEEK_SET) < 0)
                return read_failed(out, e->uri, -errno);
        ion_item_reader_init(&ir, in);
        for (;;) {
                _cleanup_json_ json_t *item = NULL, *v = NULL;
                _cleanup_free_ char *err = NULL, *key = NULL;
                r = ion_item_reader_next(&ir, &item, &line, &len, &why);
                if (r == 0)
                        return 0;
                if (r < 0)
                        return item_read_failed(out, &ir, e->uri, r, why);
                if ((r = item_render(e, &ir, item, &v, &err, out)) < 0)
                        return r;
                if (!v)
                        return task_fail(out, "'%s': item %" PRIu64 ": %s", e->uri, ir.n, strna(err)), -EINVAL;
                if ((r = expr_value_to_string(v, &key)) < 0)
                        return r;
                if ((r = fn(userdata, key, ir.n, line, len)) < 0)
                        return r;
        }
}

typedef struct Dedup {
        Hashmap last; /* key -> 1-based number of its last item */
        OutFile *o;
        uint64_t processed, dropped;
        TaskOutcome *out;
} Dedup;

static int dedup_index(void *userdata, const char *key, uint64_t index, const char *line, size_t len) {
        Dedup *d = userdata;
        return hashmap_put(&d->last, key, (void *) (uintptr_t) index);
}

static int dedup_write(void *userdata, const char *key, uint64_t index, const char *line, size_t len) {
        Dedup *d = userdata;
        d->processed++;
        if ((uint64_t) (uintptr_t) hashmap_get(&d->last, key) != index) {
                d->dropped++;
                return 0;
        }
        int r = out_file_line(d->o, line, len, "\n");
        return r < 0 ? write_failed(d->out, r) : 0;
}

/* Kestra's two passes: the first finds each key's last item, the second keeps those. Memory holds
 * the keys, not the items. */
int task_impl_storage_deduplicate_items(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        const char *from;
        _cleanup_(out_file_freep) OutFile *o = NULL;
        _cleanup_free_ char *uri = NULL;
        int r;

        out->state = STATE_SUCCESS;
        if (need_storage(ctx, out) < 0 || string_prop(props, "from", &from, out) < 0)
                return 0;
        json_t *expr = json_object_get(props, "expr");
        if (!json_is_string(expr))
                return task_fail(out, "property 'expr' is required: an expression such as {{ id }}");
        ItemExpr e;
        item_expr_init(&e, ctx, expr, "expr", from);
        _cleanup_close_ int in = fetch_tmp(ctx, "from", from, out);
        if (in < 0)
                return in == -ENOMEM ? in : 0;
        if ((r = out_file_new(ctx, out, &o)) < 0)
                return r == -ENOMEM ? r : 0;
        Dedup d = { .last = HASHMAP_INIT, .o = o, .out = out };
        r = dedup_pass(&e, in, dedup_index, &d, out);
        if (r >= 0)
                r = dedup_pass(&e, in, dedup_write, &d, out);
        size_t keys = hashmap_size(&d.last);
        hashmap_done(&d.last);
        if (r >= 0 && (r = out_file_flush(o)) < 0)
                r = write_failed(out, r);
        if (r >= 0)
                r = keep(ctx, o->fd, "deduplicated.ion", &uri, out);
        if (r < 0)
                return r == -ENOMEM ? r : 0;
        out->outputs = json_pack("{s:s, s:I, s:I, s:I}", "uri", uri, "numKeys", (json_int_t) keys,
                                 "processedItemsTotal", (json_int_t) d.processed, "droppedItemsTotal",
                                 (json_int_t) d.dropped);
        return out->outputs ? 0 : -ENOMEM;
}

/* ---- LocalFiles -------------------------------------------------------------------------------- */

/* Kestra's deprecated LocalFiles: inputs written into the working directory, outputs kept by glob.
 * Inside a WorkingDirectory the directory is the one its tasks share (they run on one worker), which
 * is what the task is for; alone it gets a directory of its own, as in Kestra. */
int task_impl_storage_local_files(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        json_t *outputs = json_object_get(props, "outputs");
        _cleanup_json_ json_t *kept = NULL;
        _cleanup_strv_free_ char **patterns = NULL;
        size_t i;
        json_t *p;

        out->state = STATE_SUCCESS;
        if (outputs && !json_is_null(outputs) && !json_is_array(outputs))
                return task_fail(out, "property 'outputs' must be a list of file patterns");
        json_array_foreach(outputs, i, p) {
                if (!json_is_string(p))
                        return task_fail(out, "property 'outputs': item %zu is not a file pattern", i + 1);
                if (strv_extend(&patterns, json_string_value(p)) < 0)
                        return -ENOMEM;
        }
        if (task_write_input_files(ctx, json_object_get(props, "inputs"), out) < 0)
                return out->state == STATE_FAILED ? 0 : -ENOMEM;
        if (patterns && task_collect_output_files(ctx, patterns, &kept, out) < 0)
                return out->state == STATE_FAILED ? 0 : -ENOMEM;
        out->outputs = json_pack("{s:o}", "uris", kept ? TAKE_PTR(kept) : json_object());
        return out->outputs ? 0 : -ENOMEM;
}
