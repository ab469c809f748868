/* split.c: ForEachItem's worker side: the items file of internal storage split into batch files, line by
 * line, kept in internal storage as <index><extension> under the task run's prefix. The executor then
 * starts one subflow execution per batch (lib/engine/engine-items.c), and when they have ended the
 * outputs of those that have some are merged into one file of Ion lines. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "fd-util.h"
#include "hashmap.h"
#include "ion-file.h"
#include "macro.h"
#include "strutil.h"
#include "task-impl.h"
#include "user-regex.h"

/* At most this many partitions (or regexPattern groups): each is a file open while the items are read. */
#define SPLIT_PARTITIONS_MAX 256

typedef enum SplitMode {
        SPLIT_ROWS,
        SPLIT_BYTES,
        SPLIT_PARTITIONS,
        SPLIT_REGEX, /* rows grouped by their pattern's first capture group, in order of appearance */
} SplitMode;

typedef struct Batch {
        int fd;
        uint64_t bytes, rows;
} Batch;

typedef struct Splitter {
        TaskRunContext *ctx;
        TaskOutcome *out;
        const char *ext;
        char *prefix; /* the URI of the batches' directory, once one is stored */
        size_t n;     /* batches stored */
} Splitter;

/* An integer given as a number or as its text (Kestra's Property<Integer>). */
static int int_of(json_t *v, int64_t *ret) {
        if (json_is_integer(v)) {
                *ret = json_integer_value(v);
                return 0;
        }
        return json_is_string(v) ? safe_atoi64(json_string_value(v), ret) : -EINVAL;
}

/* Kestra's readable sizes: "10MB", "512KB", "1GB", or a number of bytes. */
static int bytes_of(json_t *v, uint64_t *ret) {
        int64_t n;
        if (int_of(v, &n) == 0)
                return n > 0 ? (*ret = (uint64_t) n, 0) : -EINVAL;
        if (!json_is_string(v))
                return -EINVAL;
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        unsigned long long base = strtoull(s, &end, 10);
        if (errno || end == s || base == 0)
                return -EINVAL;
        uint64_t mult = 1;
        if (strcasecmp(end, "KB") == 0)
                mult = 1024;
        else if (strcasecmp(end, "MB") == 0)
                mult = 1024 * 1024;
        else if (strcasecmp(end, "GB") == 0)
                mult = 1024ULL * 1024 * 1024;
        else if (!isempty(end) && strcasecmp(end, "B") != 0)
                return -EINVAL;
        if (base > UINT64_MAX / mult)
                return -ERANGE;
        *ret = base * mult;
        return 0;
}

static int batch_open(Splitter *sp, Batch *b, size_t index) {
        char name[64];
        snprintf(name, sizeof name, ".batch-%zu", index);
        b->fd = task_file_create(sp->ctx, "batch file", name, sp->out);
        b->bytes = b->rows = 0;
        return b->fd < 0 ? b->fd : 0;
}

/* Keep a batch in internal storage as "<n><ext>": the executor names batch i by the prefix it gets. */
static int batch_store(Splitter *sp, Batch *b) {
        _cleanup_close_ int fd = TAKE_FD(b->fd);
        _cleanup_free_ char *uri = NULL;
        char name[64];
        if (fd < 0)
                return 0;
        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        snprintf(name, sizeof name, "%zu%s", sp->n, sp->ext);
        int r = sp->ctx->store_file(sp->ctx, name, fd, &uri);
        if (r == -EFBIG)
                return task_fail(sp->out, "the batches take the task run's files past the worker's limit of %llu MiB "
                                          "([worker] output-mib)", (unsigned long long) (sp->ctx->output_bytes_max >> 20)),
                       r;
        if (r < 0)
                return task_fail(sp->out, "cannot keep batch %zu in internal storage: %s", sp->n,
                                 task_file_strerror(sp->ctx, r)),
                       r;
        if (!sp->prefix) {
                size_t ul = strlen(uri), nl = strlen(name);
                if (ul < nl || !streq(uri + ul - nl, name))
                        return task_fail(sp->out, "internal storage named batch %zu '%s'", sp->n, uri), -EIO;
                if (!(sp->prefix = strndup(uri, ul - nl)))
                        return -ENOMEM;
        }
        sp->n++;
        return 0;
}

static int batch_write(Batch *b, const char *line, size_t len, const char *sep) {
        int r = fd_write_all(b->fd, line, len);
        if (r >= 0)
                r = fd_write_all(b->fd, sep, strlen(sep));
        b->bytes += len + strlen(sep);
        b->rows++;
        return r;
}

static const char *extension_of(const char *uri) {
        const char *base = strrchr(uri, '/'), *dot;
        base = base ? base + 1 : uri;
        dot = strrchr(base, '.');
        return dot && strlen(dot) < 16 && !strpbrk(dot, "?#") ? dot : ".tmp";
}

/* The file, fetched, then read line by line into batches. */
static int split_items(TaskRunContext *ctx, const char *items, SplitMode mode, int64_t rows, uint64_t bytes,
                       int64_t partitions, const regex_t *re, const char *sep, TaskOutcome *out) {
        _cleanup_hashmap_ Hashmap groups = HASHMAP_INIT;
        int r;

        if (!ctx->fetch_file || !ctx->store_file)
                return task_fail(out, "splitting '%s' needs internal storage, which this worker lacks", items);

        /* The items go to disk first: nothing holds more than a line in memory. */
        _cleanup_close_ int src = task_file_create(ctx, "items file", ".items", out);
        if (src < 0)
                return 0;
        r = ctx->fetch_file(ctx, items, src);
        if (r == -EACCES)
                return task_fail(out, "'%s' is not a file of this execution", items);
        if (r == -ENOENT)
                return task_fail(out, "no file '%s' in internal storage", items);
        if (r == -EFBIG)
                return task_fail(out, "'%s' takes the task run's files past the worker's limit of %llu MiB ([worker] "
                                      "output-mib)", items, (unsigned long long) (ctx->output_bytes_max >> 20));
        if (r < 0)
                return task_fail(out, "cannot read '%s': %s", items, task_file_strerror(ctx, r));
        if (lseek(src, 0, SEEK_SET) < 0)
                return -errno;
        int dfd = fcntl(src, F_DUPFD_CLOEXEC, 3);
        if (dfd < 0)
                return -errno;
        FILE *in = fdopen(dfd, "re");
        if (!in) {
                safe_close(dfd);
                return -errno;
        }

        Splitter sp = { .ctx = ctx, .out = out, .ext = extension_of(items) };
        Batch cur = { .fd = -1 }, parts[SPLIT_PARTITIONS_MAX];
        size_t n_parts = 0, lines = 0, cap = 0;
        char *line = NULL;
        ssize_t len;
        r = 0;
        while (r >= 0 && (len = getline(&line, &cap, in)) >= 0) {
                if ((r = task_check_stop(ctx, out, "'%s' was split only in part", items)) < 0)
                        break;
                /* Java's readLine(): the line without its terminator (\n, \r\n). */
                if (len > 0 && line[len - 1] == '\n')
                        len--;
                if (len > 0 && line[len - 1] == '\r')
                        len--;
                if (mode == SPLIT_PARTITIONS) {
                        size_t p = lines % (size_t) partitions;
                        if (p >= n_parts) {
                                if ((r = batch_open(&sp, &parts[n_parts], n_parts)) < 0)
                                        break;
                                n_parts++;
                        }
                        r = batch_write(&parts[p], line, (size_t) len, sep);
                } else if (mode == SPLIT_REGEX) {
                        /* Searches cost the square of their subject: a row's first 16 KiB are looked at. A
                         * row that does not match goes, as in Kestra. */
                        regmatch_t m[2];
                        _cleanup_free_ char *subject = strndup(line, MIN((size_t) len, (size_t) USER_REGEX_MAX_SUBJECT));
                        if (!subject) {
                                r = -ENOMEM;
                                break;
                        }
                        if (regexec(re, subject, 2, m, 0) != 0 || m[1].rm_so < 0) {
                                lines++;
                                continue;
                        }
                        subject[m[1].rm_eo] = 0;
                        void *v = hashmap_get(&groups, subject + m[1].rm_so);
                        size_t p;
                        if (v)
                                p = (size_t) (uintptr_t) v - 1;
                        else {
                                if (n_parts >= SPLIT_PARTITIONS_MAX) {
                                        task_fail(out, "batch 'regexPattern' groups the items of '%s' into more than %d "
                                                       "batches", items, SPLIT_PARTITIONS_MAX);
                                        r = -E2BIG;
                                        break;
                                }
                                if ((r = batch_open(&sp, &parts[n_parts], n_parts)) < 0)
                                        break;
                                p = n_parts++;
                                if ((r = hashmap_put(&groups, subject + m[1].rm_so, (void *) (uintptr_t) n_parts)) < 0)
                                        break;
                        }
                        r = batch_write(&parts[p], line, (size_t) len, sep);
                } else {
                        bool full = cur.fd >= 0 && (mode == SPLIT_BYTES ? cur.bytes >= bytes : cur.rows >= (uint64_t) rows);
                        if (full && (r = batch_store(&sp, &cur)) < 0)
                                break;
                        if (cur.fd < 0 && (r = batch_open(&sp, &cur, sp.n)) < 0)
                                break;
                        r = batch_write(&cur, line, (size_t) len, sep);
                }
                lines++;
        }
        free(line);
        bool read_error = ferror(in);
        fclose(in);
        if (r >= 0 && read_error) {
                task_fail(out, "cannot read the items of '%s'", items);
                r = -EIO;
        }
        if (r >= 0)
                r = batch_store(&sp, &cur);
        for (size_t i = 0; i < n_parts; i++)
                if (r >= 0)
                        r = batch_store(&sp, &parts[i]);
                else
                        safe_close(parts[i].fd);
        safe_close(cur.fd);
        if (r < 0 && (out->state == STATE_FAILED || out->state == STATE_KILLED)) {
                free(sp.prefix);
                return 0; /* the task failed, saying why, or was killed */
        }
        if (r < 0) {
                free(sp.prefix);
                return r;
        }
        out->outputs = json_pack("{s:I, s:s?, s:s}", "numberOfBatches", (json_int_t) sp.n, "batchPrefix", sp.prefix,
                                 "extension", sp.ext);
        free(sp.prefix);
        return out->outputs ? 0 : -ENOMEM;
}

int task_impl_for_each_item_split(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        const char *items = task_prop_string(props, "items", NULL);
        json_t *batch = json_object_get(props, "batch");
        const char *sep = task_prop_string(batch, "separator", "\n");
        SplitMode mode = SPLIT_ROWS;
        int64_t rows = 1, partitions = 0;
        uint64_t bytes = 0;
        int r;

        out->state = STATE_SUCCESS;
        if (isempty(items) || !startswith(items, "kestra://"))
                return task_fail(out, "Unable to split the items from '%s', this is not an internal storage URI!",
                                 strempty(items));
        if (batch && !json_is_null(batch) && !json_is_object(batch))
                return task_fail(out, "property 'batch' must be a map (rows, bytes or partitions)");
        /* Kestra's order: regexPattern, bytes, partitions, rows. */
        const char *pattern = task_prop_string(batch, "regexPattern", NULL);
        regex_t re;
        if (pattern) {
                const char *why = NULL;
                mode = SPLIT_REGEX;
                r = user_regex_compile(pattern, 0, &re, &why);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return task_fail(out, "batch 'regexPattern' ('%s') is refused: %s", pattern, strna(why));
                if (re.re_nsub < 1) {
                        regfree(&re);
                        return task_fail(out, "batch 'regexPattern' ('%s') needs a capture group: rows are grouped by what "
                                              "it captures", pattern);
                }
        } else if (json_object_get(batch, "bytes") && !json_is_null(json_object_get(batch, "bytes"))) {
                mode = SPLIT_BYTES;
                if (bytes_of(json_object_get(batch, "bytes"), &bytes) < 0)
                        return task_fail(out, "batch 'bytes' must be a size such as 10MB, 512KB or a number of bytes");
        } else if (json_object_get(batch, "partitions") && !json_is_null(json_object_get(batch, "partitions"))) {
                mode = SPLIT_PARTITIONS;
                if (int_of(json_object_get(batch, "partitions"), &partitions) < 0 || partitions < 1 ||
                    partitions > SPLIT_PARTITIONS_MAX)
                        return task_fail(out, "batch 'partitions' must be a number from 1 to %d", SPLIT_PARTITIONS_MAX);
        } else if (json_object_get(batch, "rows") && !json_is_null(json_object_get(batch, "rows"))) {
                if (int_of(json_object_get(batch, "rows"), &rows) < 0 || rows < 1)
                        return task_fail(out, "batch 'rows' must be a positive number");
        }
        r = split_items(ctx, items, mode, rows, bytes, partitions, mode == SPLIT_REGEX ? &re : NULL, sep, out);
        if (mode == SPLIT_REGEX)
                regfree(&re);
        return r;
}

/* ForEachItem.merge: each subflow's outputs (given in batch order) as one Ion line of outputs.ion,
 * as Kestra's ForEachItemMergeOutputs concatenates its per-batch files. */
int task_impl_for_each_item_merge(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        json_t *list = json_object_get(props, "outputs"), *o;
        _cleanup_free_ char *uri = NULL;
        size_t i;
        int r;

        out->state = STATE_SUCCESS;
        if (!json_is_array(list))
                return task_fail(out, "property 'outputs' must be a list");
        if (!ctx->store_file)
                return task_fail(out, "merging the subflows' outputs needs internal storage, which this worker lacks");
        _cleanup_close_ int fd = task_file_create(ctx, "merged outputs", "outputs.ion", out);
        if (fd < 0)
                return out->error ? 0 : fd;
        json_array_foreach(list, i, o) {
                _cleanup_free_ char *line = NULL;
                if ((r = ion_value_format(o, &line)) == -E2BIG)
                        return task_fail(out, "the outputs of batch %zu are too large or nested too deeply", i);
                if (r < 0)
                        return r;
                if ((r = fd_write_all(fd, line, strlen(line))) < 0 || (r = fd_write_all(fd, "\n", 1)) < 0)
                        return task_fail(out, "cannot write the merged outputs: %s", strerror(-r));
        }
        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        r = ctx->store_file(ctx, "outputs.ion", fd, &uri);
        if (r == -EFBIG)
                return task_fail(out, "the merged outputs take the task run's files past the worker's limit of %llu MiB "
                                      "([worker] output-mib)", (unsigned long long) (ctx->output_bytes_max >> 20));
        if (r < 0)
                return task_fail(out, "cannot keep the merged outputs in internal storage: %s", task_file_strerror(ctx, r));
        out->outputs = json_pack("{s:s}", "subflowOutputs", uri);
        return out->outputs ? 0 : -ENOMEM;
}
