/* namespace.c: Kestra's namespace file tasks (namespace.UploadFiles, DownloadFiles, DeleteFiles) and
 * the namespaceFiles property of script tasks, over the worker's internal storage
 * (lib/api/namespace-files.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beneath.h"
#include "cleanup-jansson.h"
#include "fd-util.h"
#include "namespace-files.h"
#include "strutil.h"
#include "task-impl.h"

static Storage *ns_storage(TaskRunContext *ctx, TaskOutcome *out) {
        Storage *s = ctx->services ? ctx->services->storage : NULL;
        if (!s)
                task_fail(out, "namespace files need internal storage, which this worker lacks ([storage] url)");
        return s;
}

/* A property that is a string or a list of strings (or a JSON list in a string, as a rendered
 * expression gives it): a strv. -EINVAL (the task failed, saying so) for anything else. */
static int string_or_list_value(json_t *v, const char *name, bool required, char ***ret, TaskOutcome *out) {
        _cleanup_json_ json_t *parsed = NULL;
        _cleanup_strv_free_ char **l = NULL;
        if (json_is_string(v) && json_string_value(v)[0] == '[' &&
            (parsed = json_loads(json_string_value(v), 0, NULL)) && json_is_array(parsed))
                v = parsed;
        if (!v || json_is_null(v)) {
                if (required)
                        return task_fail(out, "property '%s' is required", name), -EINVAL;
                *ret = NULL;
                return 0;
        }
        if (json_is_string(v)) {
                if (strv_extend(&l, json_string_value(v)) < 0)
                        return -ENOMEM;
        } else if (json_is_array(v)) {
                size_t i;
                json_t *e;
                json_array_foreach(v, i, e) {
                        if (!json_is_string(e))
                                return task_fail(out, "property '%s' must be a string or a list of strings", name), -EINVAL;
                        if (strv_extend(&l, json_string_value(e)) < 0)
                                return -ENOMEM;
                }
        } else
                return task_fail(out, "property '%s' must be a string or a list of strings", name), -EINVAL;
        for (char **p = l; p && *p; p++) {
                const char *why = api_ns_pattern_invalid(*p);
                if (why)
                        return task_fail(out, "property '%s': pattern '%s' is not usable: %s", name, *p, why), -EINVAL;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int string_or_list(json_t *props, const char *name, bool required, char ***ret, TaskOutcome *out) {
        return string_or_list_value(json_object_get(props, name), name, required, ret, out);
}

static bool matches_any(char *const *patterns, const char *path) {
        for (char *const *p = patterns; p && *p; p++)
                if (api_ns_pattern_match(*p, path))
                        return true;
        return false;
}

/* The files of namespace ns (recursive listing), failing the task with what went wrong. */
static int ns_list(TaskRunContext *ctx, Storage *s, const char *ns, ApiNsFileList *ret, TaskOutcome *out) {
        (void) ctx;
        int r = api_ns_files_list(s, ns, "/", true, ret);
        if (r == -EINVAL)
                return task_fail(out, "'%s' is not a namespace", ns), r;
        if (r == -E2BIG)
                return task_fail(out, "namespace '%s' has more than %u files", ns, API_NS_FILES_MAX), r;
        if (r < 0)
                return task_fail(out, "cannot list the files of namespace '%s': %s", ns,
                                 r == -ENOMEM ? strerror(-r) : storage_error(s)), r;
        return 0;
}

/* ---- UploadFiles ------------------------------------------------------------------------------ */

typedef enum Conflict { CONFLICT_OVERWRITE, CONFLICT_ERROR, CONFLICT_SKIP } Conflict;

typedef struct Uploader {
        TaskRunContext *ctx;
        TaskOutcome *out;
        Storage *storage;
        const char *ns;
        Conflict conflict;
        char **patterns;
        const char *destination;
        unsigned n;
} Uploader;

/* Store fd as path, as conflict says; 0, or the task failed. */
static int upload_one(Uploader *u, const char *path, int fd) {
        if (u->conflict != CONFLICT_OVERWRITE) {
                ApiNsFile f = {};
                int r = api_ns_file_stat(u->storage, u->ns, path, &f);
                api_ns_file_done(&f);
                if (r >= 0 && u->conflict == CONFLICT_SKIP) {
                        task_logf(u->ctx, TASK_LOG_DEBUG, "Skipped '%s': it exists in namespace '%s'", path, u->ns);
                        return 0;
                }
                if (r >= 0)
                        return task_fail(u->out, "File '%s' already exists in namespace '%s' and conflict is ERROR", path,
                                         u->ns), -EEXIST;
        }
        int r = api_ns_file_put_fd(u->storage, u->ns, path, fd);
        if (r == -EINVAL)
                return task_fail(u->out, "'%s' is not a valid namespace file path in namespace '%s'", path, u->ns), r;
        if (r == -EISDIR || r == -ENOTDIR)
                return task_fail(u->out, "cannot upload '%s' to namespace '%s': %s", path, u->ns,
                                 r == -EISDIR ? "a directory of that name exists" : "a parent of it is a file"), r;
        if (r < 0)
                return task_fail(u->out, "cannot upload '%s' to namespace '%s': %s", path, u->ns,
                                 r == -ENOMEM ? strerror(-r) : storage_error(u->storage)), r;
        task_logf(u->ctx, TASK_LOG_DEBUG, "Uploaded '%s' to namespace '%s'", path, u->ns);
        u->n++;
        return 0;
}

/* destination/rel, one '/' between them and at the start (Kestra joins them as paths). */
static char *dest_join(const char *destination, const char *rel) {
        while (*destination == '/')
                destination++;
        while (*rel == '/')
                rel++;
        size_t n = strlen(destination);
        while (n > 0 && destination[n - 1] == '/')
                n--;
        return strdup_printf("/%.*s%s%s", (int) n, destination, n ? "/" : "", rel);
}

static int upload_workdir_file(int parentfd, const char *name, const char *rel, void *userdata) {
        Uploader *u = userdata;
        _cleanup_free_ char *abs = strjoin("/", rel), *target = NULL;
        if (!abs)
                return -ENOMEM;
        if (!matches_any(u->patterns, abs))
                return 0;
        _cleanup_close_ int fd = beneath_open_regular(parentfd, name, 0, NULL);
        if (fd < 0) {
                if (fd != -EISDIR && fd != -ENOENT)
                        task_logf(u->ctx, TASK_LOG_WARN, "File '%s' is not uploaded: %s", rel, beneath_refusal(fd));
                return 0;
        }
        if (!(target = dest_join(u->destination, rel)))
                return -ENOMEM;
        return upload_one(u, target, fd);
}

/* The working directory's files that match patterns (every file is looked at: the patterns are
 * Kestra's, not the walk's), below destination at their relative paths. */
static int upload_workdir(Uploader *u, char **patterns) {
        if (!patterns)
                return 0;
        if (!u->ctx->working_dir)
                return task_fail(u->out, "this task has no working directory"), -ENOTDIR;
        _cleanup_close_ int wd = open(u->ctx->working_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (wd < 0)
                return task_fail(u->out, "cannot open the working directory: %m"), -errno;
        u->patterns = patterns;
        int r = beneath_glob(wd, "**", 0, upload_workdir_file, u, NULL);
        if (r < 0 && u->out->state == STATE_FAILED)
                return r;
        if (r == -E2BIG)
                return task_fail(u->out, "the working directory holds more than %u files", BENEATH_GLOB_MAX_MATCHES), r;
        if (r < 0 && r != -ENOMEM)
                return task_fail(u->out, "cannot read the working directory: %s", strerror(-r)), r;
        return r < 0 ? r : 0;
}

/* The stored file of a kestra:/// URI of this execution as namespace file destination/target; one
 * that does not exist is skipped, as Kestra does. */
static int upload_uri(Uploader *u, const char *uri, const char *target) {
        TaskRunContext *ctx = u->ctx;
        if (!ctx->fetch_file)
                return task_fail(u->out, "uploading '%s' needs internal storage, which this worker lacks", uri), -ENOTSUP;
        _cleanup_close_ int fd = task_file_tmp(ctx, u->out);
        if (fd < 0)
                return fd;
        int r = ctx->fetch_file(ctx, uri, fd);
        if (r == -ENOENT)
                return 0;
        if (r == -EACCES)
                return task_fail(u->out, "'%s' is not a file of this execution", uri), r;
        if (r < 0)
                return task_fail(u->out, "cannot read '%s': %s", uri, task_file_strerror(ctx, r)), r;
        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        _cleanup_free_ char *path = dest_join(u->destination, target);
        if (!path)
                return -ENOMEM;
        return upload_one(u, path, fd);
}

int task_impl_ns_upload_files(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        Uploader u = { .ctx = ctx, .out = out, .ns = task_prop_string(props, "namespace", ctx->namespace),
                       .destination = task_prop_string(props, "destination", "/") };
        const char *conflict = task_prop_string(props, "conflict", "OVERWRITE");
        json_t *files = json_object_get(props, "files"), *map = json_object_get(props, "filesMap");
        _cleanup_json_ json_t *parsed = NULL;
        _cleanup_strv_free_ char **patterns = NULL;
        int r;

        out->state = STATE_SUCCESS;
        if (!(u.storage = ns_storage(ctx, out)))
                return 0;
        u.conflict = streq(conflict, "ERROR") ? CONFLICT_ERROR : streq(conflict, "SKIP") ? CONFLICT_SKIP : CONFLICT_OVERWRITE;
        /* files as a map is Kestra's older spelling of filesMap. */
        if (json_is_object(files) && !map)
                map = files, files = NULL;
        if (json_is_string(map) && (parsed = json_loads(json_string_value(map), 0, NULL)))
                map = parsed;
        if (!files && !map)
                return task_fail(out, "files or filesMap is required");
        if (map && !json_is_object(map))
                return task_fail(out, "property 'filesMap' must be a map of namespace file path to a kestra:/// URI");

        if (files) {
                if ((r = string_or_list_value(files, "files", true, &patterns, out)) < 0)
                        return out->error ? 0 : r;
                /* Kestra's older form: a kestra:/// URI in the list goes under its own name. */
                _cleanup_strv_free_ char **globs = NULL;
                for (char **p = patterns; p && *p; p++) {
                        if (!startswith(*p, "kestra://")) {
                                if (strv_extend(&globs, *p) < 0)
                                        return -ENOMEM;
                                continue;
                        }
                        const char *base = strrchr(*p, '/');
                        if ((r = upload_uri(&u, *p, base ? base + 1 : *p)) < 0)
                                return out->error ? 0 : r;
                }
                if ((r = upload_workdir(&u, globs)) < 0)
                        return out->error ? 0 : r;
        }
        const char *target;
        json_t *v;
        json_object_foreach(map, target, v) {
                if (!json_is_string(v))
                        return task_fail(out, "filesMap: the value of '%s' must be a kestra:/// URI", target);
                if ((r = upload_uri(&u, json_string_value(v), target)) < 0)
                        return out->error ? 0 : r;
        }
        task_logf(ctx, TASK_LOG_INFO, "%u file(s) uploaded to namespace '%s'", u.n, u.ns);
        return 0;
}

/* ---- DownloadFiles ---------------------------------------------------------------------------- */

int task_impl_ns_download_files(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        const char *ns = task_prop_string(props, "namespace", ctx->namespace);
        _cleanup_strv_free_ char **patterns = NULL;
        _cleanup_api_ns_file_list_ ApiNsFileList l = {};
        _cleanup_json_ json_t *files = json_object();
        Storage *s;
        int r;

        out->state = STATE_SUCCESS;
        if (!files)
                return -ENOMEM;
        if (!(s = ns_storage(ctx, out)))
                return 0;
        if ((r = string_or_list(props, "files", true, &patterns, out)) < 0 || (r = ns_list(ctx, s, ns, &l, out)) < 0)
                return out->error ? 0 : r;
        if (!ctx->store_file)
                return task_fail(out, "downloaded files need internal storage, which this worker lacks");
        for (size_t i = 0; i < l.n; i++) {
                const char *path = l.files[i].path;
                _cleanup_free_ char *key = NULL, *uri = NULL;
                if (!matches_any(patterns, path))
                        continue;
                if (ctx->output_bytes_max && l.files[i].size > ctx->output_bytes_max)
                        return task_fail(out, "namespace file '%s' is larger than the worker's limit of %llu MiB "
                                              "([worker] output-mib)", path, (unsigned long long) (ctx->output_bytes_max >> 20));
                _cleanup_close_ int fd = task_file_tmp(ctx, out);
                if (fd < 0)
                        return out->error ? 0 : fd;
                if ((r = api_ns_file_key(ns, path, &key)) < 0)
                        return r;
                if ((r = storage_get_fd(s, key, fd)) < 0)
                        return task_fail(out, "cannot read namespace file '%s' of '%s': %s", path, ns,
                                         r == -ENOENT ? "it is gone" : storage_error(s));
                if (lseek(fd, 0, SEEK_SET) < 0)
                        return -errno;
                r = ctx->store_file(ctx, path + 1, fd, &uri);
                if (r == -EFBIG)
                        return task_fail(out, "cannot keep '%s': the task run's files take more than the worker's limit "
                                              "of %llu MiB ([worker] output-mib)",
                                         path, (unsigned long long) (ctx->output_bytes_max >> 20));
                if (r < 0)
                        return task_fail(out, "cannot keep '%s': %s", path, task_file_strerror(ctx, r));
                task_logf(ctx, TASK_LOG_DEBUG, "Downloaded %s", path);
                if (json_object_set_new(files, path, json_string(uri)) < 0)
                        return -ENOMEM;
        }
        size_t n = json_object_size(files);
        out->outputs = json_pack("{s:O}", "files", files);
        out->metrics = json_pack("[{s:s, s:s, s:I, s:{}}]", "name", "downloaded", "type", "counter", "value",
                                 (json_int_t) n, "tags");
        return out->outputs && out->metrics ? 0 : -ENOMEM;
}

/* ---- DeleteFiles ------------------------------------------------------------------------------ */

int task_impl_ns_delete_files(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        const char *ns = task_prop_string(props, "namespace", ctx->namespace);
        _cleanup_strv_free_ char **patterns = NULL, **parents = NULL;
        _cleanup_api_ns_file_list_ ApiNsFileList l = {};
        bool delete_parents;
        uint64_t n = 0;
        Storage *s;
        int r;

        out->state = STATE_SUCCESS;
        if (!(s = ns_storage(ctx, out)))
                return 0;
        if (task_prop_bool(props, "deleteParentFolder", false, &delete_parents) < 0)
                return task_fail(out, "property 'deleteParentFolder' must be a boolean");
        if ((r = string_or_list(props, "files", true, &patterns, out)) < 0 || (r = ns_list(ctx, s, ns, &l, out)) < 0)
                return out->error ? 0 : r;
        for (size_t i = 0; i < l.n; i++) {
                const char *path = l.files[i].path;
                _cleanup_free_ char *key = NULL;
                if (!matches_any(patterns, path))
                        continue;
                if ((r = api_ns_file_key(ns, path, &key)) < 0)
                        return r;
                if ((r = storage_delete(s, key)) < 0)
                        return task_fail(out, "cannot delete namespace file '%s' of '%s': %s", path, ns, storage_error(s));
                task_logf(ctx, TASK_LOG_DEBUG, "Deleted %s", path);
                n++;
                /* Its directories, deepest first once all files are gone; or, kept, its own. */
                _cleanup_free_ char *dir = strdup(path);
                if (!dir)
                        return -ENOMEM;
                for (char *slash = strrchr(dir, '/'); slash && slash > dir; slash = delete_parents ? strrchr(dir, '/') : NULL) {
                        *slash = 0;
                        if (!strv_contains(parents, dir) && strv_extend(&parents, dir) < 0)
                                return -ENOMEM;
                }
        }
        /* A directory is there as long as something is in it: one whose last file went stays, as
         * in Kestra, as an empty directory. */
        for (char **p = parents; !delete_parents && p && *p; p++) {
                ApiNsFileList left = {};
                r = api_ns_files_list(s, ns, *p, false, &left);
                bool gone = r == -ENOENT || (r >= 0 && left.n == 0);
                api_ns_file_list_done(&left);
                if (gone && (r = api_ns_dir_create(s, ns, *p)) < 0)
                        task_logf(ctx, TASK_LOG_WARN, "Failed to keep folder: %s: %s", *p, storage_error(s));
        }
        /* Longer paths are deeper ones of the same branch: delete those first. */
        for (size_t done = 0, total = delete_parents ? strv_length(parents) : 0; done < total; done++) {
                char **deepest = NULL;
                for (char **p = parents; *p; p++)
                        if (**p && (!deepest || strlen(*p) > strlen(*deepest)))
                                deepest = p;
                if (!deepest)
                        break;
                ApiNsFileList left = {};
                r = api_ns_files_list(s, ns, *deepest, false, &left);
                bool empty = r >= 0 && left.n == 0;
                api_ns_file_list_done(&left);
                if (empty && (r = api_ns_file_delete(s, ns, *deepest, false, NULL)) < 0 && r != -ENOENT)
                        task_logf(ctx, TASK_LOG_WARN, "Failed to delete folder: %s: %s", *deepest, storage_error(s));
                **deepest = 0; /* done */
        }
        out->metrics = json_pack("[{s:s, s:s, s:I, s:{}}]", "name", "deleted", "type", "counter", "value", (json_int_t) n,
                                 "tags");
        return out->metrics ? 0 : -ENOMEM;
}

/* ---- namespaceFiles of script tasks -------------------------------------------------------------- */

typedef enum IfExists { IF_EXISTS_OVERWRITE, IF_EXISTS_FAIL, IF_EXISTS_WARN, IF_EXISTS_IGNORE } IfExists;

/* Writes into fd that stop with -EFBIG past what the task run may still bring in. */
typedef struct Budget {
        int fd;
        uint64_t *left;
} Budget;

static int budget_write(void *userdata, const void *buf, size_t n) {
        Budget *b = userdata;
        if ((uint64_t) n > *b->left)
                return -EFBIG;
        *b->left -= n;
        return fd_write_all(b->fd, buf, n);
}

int task_write_namespace_files(TaskRunContext *ctx, json_t *spec, TaskOutcome *out) {
        _cleanup_strv_free_ char **include = NULL, **exclude = NULL, **namespaces = NULL;
        _cleanup_json_ json_t *parsed = NULL;
        bool enabled, per_ns;
        uint64_t left = ctx->output_bytes_max ?: UINT64_MAX;
        unsigned n = 0;
        int r;

        if (!spec || json_is_null(spec))
                return 0;
        if (json_is_string(spec) && (parsed = json_loads(json_string_value(spec), 0, NULL)))
                spec = parsed;
        if (!json_is_object(spec))
                return task_fail(out, "property 'namespaceFiles' must be a map"), -EINVAL;
        /* As Kestra: enabled defaults to true, so that include alone turns them on. */
        if (task_prop_bool(spec, "enabled", true, &enabled) < 0 ||
            task_prop_bool(spec, "folderPerNamespace", false, &per_ns) < 0)
                return task_fail(out, "namespaceFiles: 'enabled' and 'folderPerNamespace' must be booleans"), -EINVAL;
        if (!enabled)
                return 0;
        const char *ie = task_prop_string(spec, "ifExists", "OVERWRITE");
        IfExists if_exists = streq(ie, "FAIL") ? IF_EXISTS_FAIL : streq(ie, "WARN") ? IF_EXISTS_WARN
                           : streq(ie, "IGNORE") ? IF_EXISTS_IGNORE : IF_EXISTS_OVERWRITE;
        if (!streq(ie, "OVERWRITE") && if_exists == IF_EXISTS_OVERWRITE)
                return task_fail(out, "namespaceFiles.ifExists must be OVERWRITE, FAIL, WARN or IGNORE, not '%s'", ie), -EINVAL;
        if ((r = string_or_list(spec, "include", false, &include, out)) < 0 ||
            (r = string_or_list(spec, "exclude", false, &exclude, out)) < 0)
                return r;
        json_t *nsv = json_object_get(spec, "namespaces");
        if (nsv && !json_is_null(nsv)) {
                if ((r = string_or_list(spec, "namespaces", false, &namespaces, out)) < 0)
                        return r;
        } else if (strv_extend(&namespaces, strempty(ctx->namespace)) < 0)
                return -ENOMEM;
        Storage *s = ns_storage(ctx, out);
        if (!s)
                return -ENOTSUP;
        _cleanup_close_ int wd = ctx->working_dir ? open(ctx->working_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                                                  : -EBADF;
        if (wd < 0)
                return task_fail(out, "namespaceFiles: cannot open the working directory"), -ENOTDIR;

        /* In the order given: a later namespace's file replaces an earlier one's (Kestra's rule). */
        for (char **ns = namespaces; *ns; ns++) {
                _cleanup_api_ns_file_list_ ApiNsFileList l = {};
                if ((r = ns_list(ctx, s, *ns, &l, out)) < 0)
                        return r;
                for (size_t i = 0; i < l.n; i++) {
                        const char *path = l.files[i].path;
                        if ((include && !matches_any(include, path)) || matches_any(exclude, path))
                                continue;
                        _cleanup_free_ char *rel = per_ns ? strjoin(*ns, path) : strdup(path + 1), *key = NULL;
                        if (!rel)
                                return -ENOMEM;
                        struct stat st;
                        /* OVERWRITE: an earlier namespace's file of the same path is replaced. */
                        bool exists = fstatat(wd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
                        if (exists && if_exists == IF_EXISTS_FAIL)
                                return task_fail(out, "namespaceFiles: '%s' already exists in the working directory", rel),
                                       -EEXIST;
                        if (exists && if_exists == IF_EXISTS_WARN)
                                task_logf(ctx, TASK_LOG_WARN, "File '%s' already exists in the working directory", rel);
                        if (exists && (if_exists == IF_EXISTS_WARN || if_exists == IF_EXISTS_IGNORE))
                                continue;
                        _cleanup_close_ int fd = task_file_create(ctx, "namespace file", rel, out);
                        if (fd < 0)
                                return fd;
                        if ((r = api_ns_file_key(*ns, path, &key)) < 0)
                                return task_fail(out, "namespaceFiles: '%s' is not a namespace", *ns), r;
                        /* Counted as the bytes arrive: the listing's sizes may be stale. */
                        Budget b = { .fd = fd, .left = &left };
                        r = storage_get(s, key, budget_write, &b);
                        if (r == -EFBIG)
                                return task_fail(out, "namespaceFiles: the files take more than the worker's limit of %llu "
                                                      "MiB ([worker] output-mib)",
                                                 (unsigned long long) (ctx->output_bytes_max >> 20)), r;
                        if (r < 0)
                                return task_fail(out, "namespaceFiles: cannot read '%s' of namespace '%s': %s", path, *ns,
                                                 r == -ENOMEM ? strerror(-r) : storage_error(s)), r;
                        n++;
                }
        }
        task_logf(ctx, TASK_LOG_DEBUG, "%u namespace file(s) written into the working directory", n);
        return 0;
}
