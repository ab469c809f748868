/* cloudstorage.c: Kestra's object storage tasks (io.kestra.plugin.aws.s3.*, azure.storage.blob.*,
 * gcp.gcs.*) as a native plugin over tern's own storage library: objects to and from the execution's
 * kestra:/// files, listings and deletions, with each service's error as it answered. */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "beneath.h"
#include "cleanup-jansson.h"
#include "cloudstorage.h"
#include "key.h"
#include "strutil.h"
#include "timeutil.h"

typedef enum Provider { PROVIDER_S3, PROVIDER_AZURE, PROVIDER_GCS } Provider;
typedef enum Op { OP_UPLOAD, OP_DOWNLOAD, OP_LIST, OP_DELETE, OP_COPY, OP_DELETE_LIST } Op;

int task_fail(Task *t, const char *fmt, ...) {
        char *m = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        t->s->fail(t->s->ctx, m ?: "out of memory");
        t->failed = true;
        free(m);
        return -EIO;
}

const char *task_string(Task *t, const char *name) {
        const char *v = json_string_value(json_object_get(t->props, name));
        return v && *v ? v : NULL;
}

static bool task_bool(Task *t, const char *name, bool def) {
        json_t *v = json_object_get(t->props, name);
        return json_is_boolean(v) ? json_is_true(v) : def;
}

/* An output; steals value. */
static int output(Task *t, const char *name, json_t *value) {
        _cleanup_json_ json_t *v = value;
        _cleanup_free_ char *text = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        if (!text)
                return -ENOMEM;
        int r = t->s->output(t->s->ctx, name, text);
        if (r == -E2BIG)
                return task_fail(
                        t, "output '%s' is larger than this worker keeps: narrow the listing ('prefix', 'regexp')",
                        name);
        return r;
}

/* The storage's last error, which names the service's answer (HTTP status, error code, message). */
static int remote_fail(Task *t, const Remote *rm, int r, const char *what, const char *key) {
        if (r == -ENOMEM)
                return r;
        /* A HEAD's answer has no body, hence no error code to quote. */
        if (r == -ENOENT)
                return task_fail(t, "%s: cannot %s '%s' of %s '%s': no such object (HTTP 404)", rm->service, what, key,
                                 rm->noun, rm->bucket);
        return task_fail(t, "%s: cannot %s '%s' of %s '%s': %s", rm->service, what, key, rm->noun, rm->bucket,
                         storage_error(rm->storage));
}

static int check_key(Task *t, const char *prop, const char *key) {
        if (!key)
                return task_fail(t, "'%s' is required", prop);
        const char *why = storage_key_invalid(key);
        if (why)
                return task_fail(t, "'%s': '%s' is not an object key tern can use: %s", prop, key, why);
        return 0;
}

static json_t *object_json(Provider p, const Remote *rm, const StorageObject *o) {
        char ts[TIMESTAMP_MAX];
        _cleanup_free_ char *uri = strjoin(rm->base, o->key);
        if (!uri)
                return NULL;
        timestamp_format(ts, o->mtime);
        switch (p) {
        case PROVIDER_S3:
                return json_pack("{s:s, s:s, s:I, s:s?, s:s}", "key", o->key, "uri", uri, "size", (json_int_t) o->size,
                                 "etag", o->etag, "lastModified", ts);
        case PROVIDER_AZURE:
                return json_pack("{s:s, s:s, s:s, s:I, s:s?, s:s}", "name", o->key, "container", rm->bucket, "uri", uri,
                                 "size", (json_int_t) o->size, "eTag", o->etag, "lastModified", ts);
        case PROVIDER_GCS:
                return json_pack("{s:s, s:s, s:s, s:I, s:s?, s:s, s:b}", "name", o->key, "bucket", rm->bucket, "uri",
                                 uri, "size", (json_int_t) o->size, "etag", o->etag, "updateTime", ts, "isDirectory",
                                 endswith(o->key, "/"));
        }
        return NULL;
}

static const char *key_basename(const char *key) {
        const char *slash = strrchr(key, '/');
        return slash ? slash + 1 : key;
}

/* ---- the operations, on any service ---------------------------------------------------------- */

/* The working directory, for beneath_*(): a name in it is resolved without following links. */
static int working_dir_open(Task *t) {
        int fd = open(t->s->working_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? task_fail(t, "cannot open the working directory: %s", strerror(errno)) : fd;
}

/* The file of the working directory (a file property, fetched by the worker) as key; *ret_obj its stat. */
static int put_file(Task *t, Remote *rm, const char *file, const char *key, StorageObject *ret_obj) {
        _cleanup_close_ int dfd = working_dir_open(t);
        if (dfd < 0)
                return dfd;
        _cleanup_close_ int fd = beneath_open_regular(dfd, file, 0, NULL);
        if (fd < 0)
                return task_fail(t, "cannot read '%s': %s", file, beneath_refusal(fd));
        int r = storage_put_fd(rm->storage, key, fd);
        if (r < 0)
                return remote_fail(t, rm, r, "upload", key);
        r = storage_stat(rm->storage, key, ret_obj);
        return r < 0 ? remote_fail(t, rm, r, "read back", key) : 0;
}

/* key into a new file of the working directory named name. */
static int get_file(Task *t, Remote *rm, const char *key, const char *name) {
        _cleanup_close_ int dfd = working_dir_open(t);
        if (dfd < 0)
                return dfd;
        _cleanup_close_ int fd = beneath_create(dfd, name, 0644, 0);
        if (fd < 0)
                return task_fail(t, "cannot create '%s' in the working directory: %s", name, beneath_refusal(fd));
        int r = storage_get_fd(rm->storage, key, fd);
        if (r < 0) {
                (void) beneath_remove_tree(dfd, name);
                return remote_fail(t, rm, r, "download", key);
        }
        return 0;
}

/* key into internal storage: its kestra:/// URI in *ret_uri, its stat in *ret_obj. */
static int download(Task *t, Remote *rm, const char *key, char **ret_uri, StorageObject *ret_obj) {
        int r = storage_stat(rm->storage, key, ret_obj);
        if (r < 0)
                return remote_fail(t, rm, r, "download", key);
        const char *name = key_basename(key);
        if ((r = get_file(t, rm, key, name)) < 0)
                return r;
        if ((r = t->s->storage_put(t->s->ctx, name, ret_uri)) < 0)
                return task_fail(t, "cannot keep '%s' in internal storage: %s", name, strerror(-r));
        return 0;
}

typedef struct ListQuery {
        const char *prefix;      /* a string prefix of the keys ("" for all) */
        const char *regexp;      /* NULL, or a POSIX ERE the whole key must match */
        const char *regexp_prop; /* its property's name, for messages */
        enum { FILTER_BOTH, FILTER_FILES, FILTER_DIRECTORY } filter;
        bool recursive; /* false: the prefix's direct children, subdirectories as DIR/ */
        size_t page;
} ListQuery;

/* The objects that q selects, in key order, each given to fn. */
static int list_each(Task *t, Remote *rm, const ListQuery *q,
                     int (*fn)(Task *t, Remote *rm, const StorageObject *o, void *userdata), void *userdata) {
        regex_t re;
        bool have_re = false;
        int r;

        if (q->regexp) {
                _cleanup_free_ char *anchored = strjoin("^(", q->regexp, ")$");
                if (!anchored)
                        return -ENOMEM;
                if (regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB) != 0)
                        return task_fail(t, "'%s': '%s' is not a regular expression (POSIX extended)", q->regexp_prop,
                                         q->regexp);
                have_re = true;
        }
        /* The library lists a directory: the prefix's, then the prefix itself is matched here. */
        const char *slash = strrchr(q->prefix, '/');
        _cleanup_free_ char *dir = strndup(q->prefix, slash ? (size_t) (slash - q->prefix) : 0), *token = NULL,
                            *last_dir = NULL;
        if (!dir) {
                r = -ENOMEM;
                goto out;
        }
        if (*dir && storage_prefix_invalid(dir)) {
                r = task_fail(t, "'prefix': '%s' is not a prefix tern can list: %s", q->prefix,
                              storage_prefix_invalid(dir));
                goto out;
        }
        do {
                _cleanup_storage_list_ StorageList l = {};
                if (t->s->cancelled(t->s->ctx)) {
                        r = -ECANCELED;
                        goto out;
                }
                r = storage_list(rm->storage, dir, token, q->page, &l);
                if (r < 0) {
                        if (r != -ENOMEM)
                                r = task_fail(t, "%s: cannot list '%s' of %s '%s': %s", rm->service, q->prefix,
                                              rm->noun, rm->bucket, storage_error(rm->storage));
                        goto out;
                }
                free(token);
                token = TAKE_PTR(l.next);
                for (size_t i = 0; i < l.n; i++) {
                        StorageObject *o = &l.objects[i];
                        const char *rest = startswith(o->key, q->prefix);
                        if (!rest)
                                continue;
                        const char *sub = q->recursive ? NULL : strchr(rest, '/');
                        if (sub) {
                                /* A deeper object (or the directory's own marker, DIR/) stands for its directory, once.
                                 */
                                _cleanup_free_ char *d = strndup(o->key, (size_t) (sub - o->key) + 1);
                                if (!d) {
                                        r = -ENOMEM;
                                        goto out;
                                }
                                if (streq_ptr(d, last_dir))
                                        continue;
                                free(last_dir);
                                last_dir = TAKE_PTR(d);
                        }
                        if (sub && sub[1]) {
                                free(o->key);
                                o->key = strdup(last_dir);
                                o->size = 0;
                                free(o->etag);
                                o->etag = NULL;
                                if (!o->key) {
                                        r = -ENOMEM;
                                        goto out;
                                }
                        }
                        bool is_dir = endswith(o->key, "/");
                        if ((q->filter == FILTER_FILES && is_dir) || (q->filter == FILTER_DIRECTORY && !is_dir))
                                continue;
                        if (have_re && regexec(&re, o->key, 0, NULL, 0) != 0)
                                continue;
                        if ((r = fn(t, rm, o, userdata)) < 0)
                                goto out;
                }
        } while (token);
        r = 0;
out:
        if (have_re)
                regfree(&re);
        return r;
}

typedef struct Collect {
        Provider provider;
        json_t *list;
} Collect;

static int collect_one(Task *t _unused_, Remote *rm, const StorageObject *o, void *userdata) {
        Collect *c = userdata;
        return json_array_append_new(c->list, object_json(c->provider, rm, o)) < 0 ? -ENOMEM : 0;
}

typedef struct Deleted {
        uint64_t count, size;
} Deleted;

static int delete_one(Task *t, Remote *rm, const StorageObject *o, void *userdata) {
        Deleted *d = userdata;
        if (t->s->cancelled(t->s->ctx))
                return -ECANCELED;
        int r = storage_delete(rm->storage, o->key);
        if (r < 0)
                return remote_fail(t, rm, r, "delete", o->key);
        d->count++;
        d->size += o->size;
        return 0;
}

/* ---- the tasks --------------------------------------------------------------------------------- */

static const struct {
        const char *type;
        Provider provider;
        Op op;
} types[] = {
        {"io.kestra.plugin.aws.s3.Upload", PROVIDER_S3, OP_UPLOAD},
        {"io.kestra.plugin.aws.s3.Download", PROVIDER_S3, OP_DOWNLOAD},
        {"io.kestra.plugin.aws.s3.List", PROVIDER_S3, OP_LIST},
        {"io.kestra.plugin.aws.s3.Delete", PROVIDER_S3, OP_DELETE},
        {"io.kestra.plugin.aws.s3.Copy", PROVIDER_S3, OP_COPY},
        {"io.kestra.plugin.aws.s3.DeleteList", PROVIDER_S3, OP_DELETE_LIST},
        {"io.kestra.plugin.azure.storage.blob.Upload", PROVIDER_AZURE, OP_UPLOAD},
        {"io.kestra.plugin.azure.storage.blob.Download", PROVIDER_AZURE, OP_DOWNLOAD},
        {"io.kestra.plugin.azure.storage.blob.List", PROVIDER_AZURE, OP_LIST},
        {"io.kestra.plugin.azure.storage.blob.Delete", PROVIDER_AZURE, OP_DELETE},
        {"io.kestra.plugin.gcp.gcs.Upload", PROVIDER_GCS, OP_UPLOAD},
        {"io.kestra.plugin.gcp.gcs.Download", PROVIDER_GCS, OP_DOWNLOAD},
        {"io.kestra.plugin.gcp.gcs.List", PROVIDER_GCS, OP_LIST},
        {"io.kestra.plugin.gcp.gcs.Delete", PROVIDER_GCS, OP_DELETE},
};

/* The task's bucket and key (S3: bucket, key; Azure: container, name; GCS: a gs:// URI, whose
 * property depends on the operation), the bucket opened. */
static int open_target(Task *t, Provider p, Op op, Remote *rm, char **ret_key) {
        _cleanup_free_ char *bucket = NULL, *key = NULL;
        int r;

        switch (p) {
        case PROVIDER_S3:
        case PROVIDER_AZURE: {
                const char *b = task_string(t, p == PROVIDER_S3 ? "bucket" : "container");
                const char *k = task_string(t, op == OP_LIST || op == OP_DELETE_LIST ? "prefix"
                                               : p == PROVIDER_S3                    ? "key"
                                                                                     : "name");
                if (!(bucket = strdup(b ?: "")) || !(key = strdup(k ?: "")))
                        return -ENOMEM;
                if (!b)
                        return task_fail(t, "'%s' is required", p == PROVIDER_S3 ? "bucket" : "container");
                r = p == PROVIDER_S3 ? remote_open_s3(t, bucket, rm) : remote_open_azure(t, bucket, rm);
                break;
        }
        case PROVIDER_GCS: {
                const char *prop = op == OP_UPLOAD ? "to" : op == OP_DELETE ? "uri" : "from";
                if ((r = gcs_uri_split(t, prop, task_string(t, prop), op == OP_LIST, &bucket, &key)) < 0)
                        return r;
                r = remote_open_gcs(t, bucket, rm);
                break;
        }
        default:
                return -EINVAL;
        }
        if (r < 0)
                return r;
        *ret_key = TAKE_PTR(key);
        return 0;
}

static int run_upload(Task *t, Provider p, Remote *rm, const char *key) {
        _cleanup_(storage_object_done) StorageObject o = {};
        const char *file = task_string(t, "from");
        int r;

        if ((r = check_key(t, p == PROVIDER_S3 ? "key" : p == PROVIDER_AZURE ? "name" : "to", key)) < 0)
                return r;
        if (!file)
                return task_fail(t, "'from' is required");
        if ((r = put_file(t, rm, file, key, &o)) < 0)
                return r;
        t->s->metric(t->s->ctx, "counter", "file.size", (double) o.size, NULL);
        switch (p) {
        case PROVIDER_S3:
                if ((r = output(t, "bucket", json_string(rm->bucket))) < 0 ||
                    (r = output(t, "key", json_string(key))) < 0)
                        return r;
                return o.etag ? output(t, "eTag", json_string(o.etag)) : 0;
        case PROVIDER_AZURE:
                return output(t, "blob", object_json(p, rm, &o));
        case PROVIDER_GCS: {
                _cleanup_free_ char *uri = strjoin(rm->base, key);
                return uri ? output(t, "uri", json_string(uri)) : -ENOMEM;
        }
        }
        return -EINVAL;
}

static int run_download(Task *t, Provider p, Remote *rm, const char *key) {
        _cleanup_(storage_object_done) StorageObject o = {};
        _cleanup_free_ char *uri = NULL;
        int r;

        if ((r = check_key(t, p == PROVIDER_S3 ? "key" : p == PROVIDER_AZURE ? "name" : "from", key)) < 0)
                return r;
        if ((r = download(t, rm, key, &uri, &o)) < 0)
                return r;
        t->s->metric(t->s->ctx, "counter", "file.size", (double) o.size, NULL);
        switch (p) {
        case PROVIDER_S3:
                if ((r = output(t, "uri", json_string(uri))) < 0)
                        return r;
                return output(t, "contentLength", json_integer((json_int_t) o.size));
        case PROVIDER_AZURE: {
                json_t *blob = object_json(p, rm, &o);
                if (!blob || json_object_set_new(blob, "uri", json_string(uri)) < 0)
                        return json_decref(blob), -ENOMEM;
                return output(t, "blob", blob);
        }
        case PROVIDER_GCS:
                if ((r = output(t, "bucket", json_string(rm->bucket))) < 0 ||
                    (r = output(t, "path", json_string(key))) < 0)
                        return r;
                return output(t, "uri", json_string(uri));
        }
        return -EINVAL;
}

static int list_query(Task *t, Provider p, const char *prefix, ListQuery *q) {
        const char *filter = task_string(t, "filter");
        const char *re_prop = p == PROVIDER_GCS ? "regExp" : "regexp";
        *q = (ListQuery){
                .prefix = prefix, .regexp = task_string(t, re_prop), .regexp_prop = re_prop, .recursive = true};
        if (p == PROVIDER_GCS)
                q->recursive = streq_ptr(task_string(t, "listingType"), "RECURSIVE");
        q->filter = streq_ptr(filter, "FILES")       ? FILTER_FILES
                    : streq_ptr(filter, "DIRECTORY") ? FILTER_DIRECTORY
                                                     : FILTER_BOTH;
        json_int_t max = json_integer_value(json_object_get(t->props, "maxKeys"));
        if (max < 0)
                return task_fail(t, "'maxKeys' must not be negative");
        q->page = (size_t) MIN(max, 1000);
        return 0;
}

static int run_list(Task *t, Provider p, Remote *rm, const char *prefix) {
        ListQuery q;
        Collect c = {.provider = p, .list = json_array()};
        int r;

        if (!c.list)
                return -ENOMEM;
        if ((r = list_query(t, p, prefix, &q)) < 0 || (r = list_each(t, rm, &q, collect_one, &c)) < 0) {
                json_decref(c.list);
                return r;
        }
        t->s->metric(t->s->ctx, "counter", "size", (double) json_array_size(c.list), NULL);
        return output(t, p == PROVIDER_S3 ? "objects" : "blobs", c.list);
}

static int run_delete(Task *t, Provider p, Remote *rm, const char *key) {
        _cleanup_(storage_object_done) StorageObject o = {};
        int r;

        if ((r = check_key(t, p == PROVIDER_S3 ? "key" : p == PROVIDER_AZURE ? "name" : "uri", key)) < 0)
                return r;
        /* What was there, for the outputs and for errorOnMissing: services delete a missing object quietly. */
        r = storage_stat(rm->storage, key, &o);
        if (r < 0 && r != -ENOENT)
                return remote_fail(t, rm, r, "delete", key);
        bool existed = r >= 0;
        if (!existed && task_bool(t, "errorOnMissing", false))
                return task_fail(t, "%s: cannot delete '%s' of %s '%s': no such object", rm->service, key, rm->noun,
                                 rm->bucket);
        if (existed && (r = storage_delete(rm->storage, key)) < 0)
                return remote_fail(t, rm, r, "delete", key);
        switch (p) {
        case PROVIDER_S3:
                return 0;
        case PROVIDER_AZURE:
                return output(t, "blob", existed ? object_json(p, rm, &o) : json_null());
        case PROVIDER_GCS: {
                _cleanup_free_ char *uri = strjoin(rm->base, key);
                if (!uri)
                        return -ENOMEM;
                if ((r = output(t, "uri", json_string(uri))) < 0)
                        return r;
                return output(t, "deleted", json_boolean(existed));
        }
        }
        return -EINVAL;
}

static int run_delete_list(Task *t, Provider p, Remote *rm, const char *prefix) {
        ListQuery q;
        Deleted d = {};
        int r;

        if ((r = list_query(t, p, prefix, &q)) < 0 || (r = list_each(t, rm, &q, delete_one, &d)) < 0)
                return r;
        if (d.count == 0 && task_bool(t, "errorOnEmpty", false))
                return task_fail(t, "%s: no object of %s '%s' matched prefix '%s'%s%s%s", rm->service, rm->noun,
                                 rm->bucket, prefix, q.regexp ? " and regexp '" : "", strempty(q.regexp),
                                 q.regexp ? "'" : "");
        t->s->metric(t->s->ctx, "counter", "count", (double) d.count, NULL);
        t->s->metric(t->s->ctx, "counter", "size", (double) d.size, NULL);
        if ((r = output(t, "count", json_integer((json_int_t) d.count))) < 0)
                return r;
        return output(t, "size", json_integer((json_int_t) d.size));
}

/* S3's Copy: from {bucket, key} to {bucket, key} through the worker (the storage library has no
 * server-side copy), the source deleted afterwards with delete: true. */
static int run_copy(Task *t) {
        json_t *from = json_object_get(t->props, "from"), *to = json_object_get(t->props, "to");
        const char *fb = json_string_value(json_object_get(from, "bucket")),
                   *fk = json_string_value(json_object_get(from, "key"));
        const char *tb = json_string_value(json_object_get(to, "bucket")) ?: fb,
                   *tk = json_string_value(json_object_get(to, "key"));
        _cleanup_remote_ Remote src = {}, dst = {};
        _cleanup_(storage_object_done) StorageObject o = {};
        int r;

        if (!fb || !fk)
                return task_fail(t, "'from' needs 'bucket' and 'key'");
        if (!tk)
                return task_fail(t, "'to' needs 'key' (its 'bucket' is from's by default)");
        if ((r = check_key(t, "from.key", fk)) < 0 || (r = check_key(t, "to.key", tk)) < 0)
                return r;
        if ((r = remote_open_s3(t, fb, &src)) < 0 || (r = remote_open_s3(t, tb, &dst)) < 0)
                return r;
        const char *tmp = ".copy";
        if ((r = get_file(t, &src, fk, tmp)) < 0)
                return r;
        r = put_file(t, &dst, tmp, tk, &o);
        _cleanup_close_ int dfd = working_dir_open(t);
        if (dfd >= 0)
                (void) beneath_remove_tree(dfd, tmp);
        if (r < 0)
                return r;
        if (task_bool(t, "delete", false) && (!streq(fb, tb) || !streq(fk, tk)) &&
            (r = storage_delete(src.storage, fk)) < 0)
                return remote_fail(t, &src, r, "delete", fk);
        if ((r = output(t, "bucket", json_string(tb))) < 0 || (r = output(t, "key", json_string(tk))) < 0)
                return r;
        return o.etag ? output(t, "eTag", json_string(o.etag)) : 0;
}

static int cloudstorage_run(const char *type, const char *properties_json, const TernPluginServices *s) {
        Task t = {.s = s, .props = json_loads(properties_json, 0, NULL)};
        _cleanup_remote_ Remote rm = {};
        _cleanup_free_ char *key = NULL;
        size_t k;
        int r;

        for (k = 0; k < ELEMENTSOF(types); k++)
                if (streq(type, types[k].type))
                        break;
        if (!t.props)
                r = -ENOMEM;
        else if (k == ELEMENTSOF(types))
                r = task_fail(&t, "the cloudstorage plugin has no task of type '%s'", type);
        else if (types[k].op == OP_COPY)
                r = run_copy(&t);
        else if ((r = open_target(&t, types[k].provider, types[k].op, &rm, &key)) >= 0) {
                switch (types[k].op) {
                case OP_UPLOAD:
                        r = run_upload(&t, types[k].provider, &rm, key);
                        break;
                case OP_DOWNLOAD:
                        r = run_download(&t, types[k].provider, &rm, key);
                        break;
                case OP_LIST:
                        r = run_list(&t, types[k].provider, &rm, key);
                        break;
                case OP_DELETE:
                        r = run_delete(&t, types[k].provider, &rm, key);
                        break;
                case OP_DELETE_LIST:
                        r = run_delete_list(&t, types[k].provider, &rm, key);
                        break;
                default:
                        r = -EINVAL;
                }
        }
        if (r < 0 && !t.failed && !s->cancelled(s->ctx))
                r = task_fail(&t, "%s", strerror(-r));
        json_decref(t.props);
        return r < 0 && t.failed ? TERN_PLUGIN_FAILED : r < 0 ? r : TERN_PLUGIN_SUCCESS;
}

TERN_PLUGIN_DEFINE(cloudstorage_run)
