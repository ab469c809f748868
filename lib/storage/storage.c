/* storage.c: the storage front end: URLs, options, key checks before any backend, errors. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "key.h"
#include "storage-backend.h"
#include "strutil.h"

#define DEFAULT_PART_SIZE (8u * 1024 * 1024)
#define MIN_PART_SIZE (5u * 1024 * 1024) /* S3's smallest part but the last */
#define DEFAULT_PARTS_IN_FLIGHT 2u
/* A file's parts are read from it as they are sent, none held: their size costs no memory, and
 * fewer, larger parts spare the service its work per part (docs/BENCHMARKS.md, "Goal (issue 17)"). */
#define DEFAULT_FILE_PART_SIZE (UINT64_C(256) * 1024 * 1024)

static const char *const kind_names[] = {
        [STORAGE_LOCAL] = "local",
        [STORAGE_S3] = "s3",
        [STORAGE_GCS] = "gcs",
        [STORAGE_AZURE] = "azure",
};

StorageKind storage_kind(const Storage *s) {
        return s->kind;
}

const char *storage_kind_name(const Storage *s) {
        return kind_names[s->kind];
}

/* One line: a service's message may hold line breaks and control characters. */
_printf_(2, 0) static void set_error_v(Storage *s, const char *fmt, va_list ap) {
        char *m = NULL;
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        if (m)
                for (char *p = m; *p; p++)
                        if ((unsigned char) *p < 0x20 || *p == 0x7f)
                                *p = ' ';
        free(s->error);
        s->error = m;
}

void storage_set_error(Storage *s, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        set_error_v(s, fmt, ap);
        va_end(ap);
}

int storage_fail(Storage *s, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        set_error_v(s, fmt, ap);
        va_end(ap);
        return r;
}

const char *storage_error(const Storage *s) {
        if (!s || !s->error)
                return "no error information";
        return s->error;
}

int storage_credential(const char *name, char **ret) {
        const char *dir = getenv("CREDENTIALS_DIRECTORY");
        if (isempty(dir))
                return -ENOENT;
        _cleanup_free_ char *path = strjoin(dir, "/", name);
        if (!path)
                return -ENOMEM;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        char buf[16384];
        size_t n = 0;
        for (;;) {
                ssize_t k = read(fd, buf + n, sizeof buf - 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n == sizeof buf - 1)
                        return -EFBIG;
        }
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                n--;
        buf[n] = 0;
        *ret = strdup(buf);
        explicit_bzero(buf, sizeof buf);
        return *ret ? 0 : -ENOMEM;
}

/* ---- URLs ---------------------------------------------------------------------------------- */

static void url_done(StorageUrl *u) {
        free(u->scheme);
        free(u->host);
        free(u->path);
        strv_free(u->params);
}

static int unhex(char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decode n bytes of s (a query parameter: '+' is a space); NULL on a bad escape or NUL. */
static char *url_decode(const char *s, size_t n) {
        char *out = malloc(n + 1), *w = out;
        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '%') {
                        int h = i + 2 < n ? unhex(s[i + 1]) : -1;
                        int l = h >= 0 ? unhex(s[i + 2]) : -1;
                        if (l < 0 || (h == 0 && l == 0)) {
                                free(out);
                                return NULL;
                        }
                        *w++ = (char) (h * 16 + l);
                        i += 2;
                } else
                        *w++ = s[i] == '+' ? ' ' : s[i];
        }
        *w = 0;
        return out;
}

static int url_parse(const char *url, StorageUrl *u, char **ret_error) {
        *u = (StorageUrl) { .url = url };
        const char *sep = strstr(url, "://");
        if (!sep || sep == url) {
                *ret_error = strdup_printf("'%s' is not a storage URL (file:///DIR, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX "
                                           "or azure://ACCOUNT/CONTAINER/PREFIX)", url);
                return -EINVAL;
        }
        u->scheme = strndup(url, (size_t) (sep - url));
        const char *rest = sep + 3;
        size_t hl = strcspn(rest, "/?#");
        u->host = strndup(rest, hl);
        const char *path = rest + hl;
        size_t pl = strcspn(path, "?#");
        if (!u->scheme || !u->host)
                return -ENOMEM;
        if (path[pl] == '#') {
                *ret_error = strdup_printf("storage URL '%s': a fragment ('#') means nothing here", url);
                return -EINVAL;
        }
        while (pl > 0 && *path == '/')
                path++, pl--;
        while (pl > 0 && path[pl - 1] == '/')
                pl--;
        u->path = strndup(path, pl);
        if (!u->path)
                return -ENOMEM;
        const char *q = strchr(path, '?');
        if (q) {
                q++;
                while (*q) {
                        size_t n = strcspn(q, "&");
                        if (n > 0) {
                                size_t kn = strcspn(q, "=");
                                if (kn > n)
                                        kn = n;
                                char *k = url_decode(q, kn), *v = kn < n ? url_decode(q + kn + 1, n - kn - 1) : strdup("");
                                if (!k || !v || strv_consume(&u->params, k) < 0 || strv_consume(&u->params, v) < 0) {
                                        *ret_error = strdup_printf("storage URL '%s': a parameter has a bad percent escape", url);
                                        return -EINVAL;
                                }
                        }
                        q += n;
                        if (*q == '&')
                                q++;
                }
        }
        return 0;
}

const char *storage_url_param(const StorageUrl *u, const char *name) {
        for (char **p = u->params; p && p[0] && p[1]; p += 2)
                if (streq(p[0], name))
                        return p[1];
        return NULL;
}

const char *storage_url_unknown_param(const StorageUrl *u, const char *const *allowed) {
        for (char **p = u->params; p && p[0] && p[1]; p += 2) {
                bool found = false;
                for (const char *const *a = allowed; *a && !found; a++)
                        found = streq(*a, p[0]);
                if (!found)
                        return p[0];
        }
        return NULL;
}

/* ---- the handle ---------------------------------------------------------------------------- */

int storage_open(const char *url, const StorageOptions *opt, Storage **ret, char **ret_error) {
        static const StorageOptions none = { 0 };
        _cleanup_free_ char *error = NULL;
        _cleanup_(url_done) StorageUrl u = { 0 };
        if (!opt)
                opt = &none;
        int r = url ? url_parse(url, &u, &error) : -EINVAL;
        if (r >= 0 && opt->part_size && opt->part_size < MIN_PART_SIZE) {
                error = strdup_printf("storage part size %llu is below the smallest a service takes (%u bytes)",
                                      (unsigned long long) opt->part_size, MIN_PART_SIZE);
                r = -EINVAL;
        }
        if (r >= 0 && opt->file_part_size && (opt->file_part_size < MIN_PART_SIZE || opt->file_part_size > STORAGE_FILE_PART_MAX)) {
                error = strdup_printf("storage file part size %llu is not between %u and %llu bytes (what a service takes)",
                                      (unsigned long long) opt->file_part_size, MIN_PART_SIZE,
                                      (unsigned long long) STORAGE_FILE_PART_MAX);
                r = -EINVAL;
        }
        if (r >= 0 && opt->parts_in_flight > STORAGE_PARTS_IN_FLIGHT_MAX) {
                error = strdup_printf("storage parts in flight %u is over %u", opt->parts_in_flight, STORAGE_PARTS_IN_FLIGHT_MAX);
                r = -EINVAL;
        }
        _cleanup_storage_ Storage *s = r >= 0 ? calloc(1, sizeof(Storage)) : NULL;
        if (r >= 0 && !s)
                r = -ENOMEM;
        if (r >= 0) {
                s->part_size = opt->part_size ?: DEFAULT_PART_SIZE;
                s->parts_in_flight = opt->parts_in_flight ?: DEFAULT_PARTS_IN_FLIGHT;
                s->file_part_size = opt->file_part_size ?: MIN(MAX(DEFAULT_FILE_PART_SIZE, s->part_size), STORAGE_FILE_PART_MAX);
                s->attempts = opt->attempts;
                s->retry_delay = opt->retry_delay ?: 200 * USEC_PER_MSEC;
                s->retry_for = opt->retry_for ?: 30 * USEC_PER_SEC;
                s->connect_timeout = opt->connect_timeout ?: 10 * USEC_PER_SEC;
                s->stall_timeout = opt->stall_timeout ?: 60 * USEC_PER_SEC;
                if (streq(u.scheme, "file")) {
                        s->kind = STORAGE_LOCAL;
                        r = storage_local_open(s, &u, opt, &error);
                } else if (streq(u.scheme, "s3")) {
                        s->kind = STORAGE_S3;
                        r = storage_s3_open(s, &u, opt, &error);
                } else if (streq(u.scheme, "gs")) {
                        s->kind = STORAGE_GCS;
                        r = storage_s3_open(s, &u, opt, &error);
                } else if (streq(u.scheme, "azure")) {
                        s->kind = STORAGE_AZURE;
                        r = storage_azure_open(s, &u, opt, &error);
                } else {
                        error = strdup_printf("storage URL '%s': unknown scheme '%s' (file, s3, gs or azure)", url, u.scheme);
                        r = -EINVAL;
                }
        }
        if (r < 0) {
                if (ret_error) {
                        if (!error)
                                error = strdup_printf("cannot open storage '%s': %s", strna(url), strerror(-r));
                        *ret_error = TAKE_PTR(error);
                }
                return r;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

Storage *storage_free(Storage *s) {
        if (!s)
                return NULL;
        if (s->ops && s->ops->free)
                s->ops->free(s);
        free(s->error);
        free(s);
        return NULL;
}

int storage_check(Storage *s) {
        return s->ops->check(s);
}

static int bad_key(Storage *s, const char *what, const char *key, const char *why) {
        return storage_fail(s, -EINVAL, "%s: refused %s '%s': %s", storage_kind_name(s), what, strempty(key), why);
}

#define CHECK_KEY(s, key)                                                       \
        do {                                                                    \
                const char *_why = storage_key_invalid(key);                    \
                if (_why)                                                       \
                        return bad_key((s), "key", (key), _why);                \
        } while (0)

int storage_put(Storage *s, const char *key, StorageReadFn fn, void *userdata) {
        CHECK_KEY(s, key);
        return s->ops->put(s, key, fn, userdata);
}

ssize_t storage_fill(StorageReadFn fn, void *userdata, char *buf, size_t n) {
        size_t got = 0;
        while (got < n) {
                ssize_t k = fn(userdata, buf + got, n - got);
                if (k < 0)
                        return k;
                if (k == 0)
                        break;
                got += (size_t) k;
        }
        return (ssize_t) got;
}

StorageObject *storage_list_push(StorageList *l, size_t *cap, const char *key) {
        if (l->n == *cap) {
                size_t c = *cap ? *cap * 2 : 64;
                StorageObject *o = reallocarray(l->objects, c, sizeof *o);
                if (!o)
                        return NULL;
                l->objects = o;
                *cap = c;
        }
        l->objects[l->n] = (StorageObject) { .key = strdup(key) };
        return l->objects[l->n].key ? &l->objects[l->n++] : NULL;
}

char *storage_etag_unquote(const char *text) {
        size_t n = strlen(text);
        return n >= 2 && text[0] == '"' && text[n - 1] == '"' ? strndup(text + 1, n - 2) : strdup(text);
}

int storage_delete_listed(Storage *s, const char *prefix, size_t page,
                          int (*del)(Storage *s, const StorageList *l, const char *what), const char *what) {
        _cleanup_free_ char *last_first = NULL;
        for (;;) {
                _cleanup_storage_list_ StorageList l = { 0 };
                int r = s->ops->list(s, prefix, NULL, page, &l);
                if (r < 0)
                        return r;
                if (l.n == 0)
                        return 0;
                if (last_first && streq(last_first, l.objects[0].key))
                        return storage_fail(s, -EIO, "%s: '%s' is still listed after it was deleted", what, last_first);
                free(last_first);
                if (!(last_first = strdup(l.objects[0].key)))
                        return -ENOMEM;
                r = del(s, &l, what);
                if (r < 0)
                        return r;
        }
}

static ssize_t fd_reader(void *userdata, void *buf, size_t n) {
        int fd = *(int *) userdata;
        for (;;) {
                ssize_t k = read(fd, buf, n);
                if (k >= 0 || errno != EINTR)
                        return k < 0 ? -errno : k;
        }
}

/* size bytes of a file from off, for a backend without put_file. */
typedef struct FileRange {
        int fd;
        uint64_t off, left;
} FileRange;

static ssize_t range_reader(void *userdata, void *buf, size_t n) {
        FileRange *f = userdata;
        if (f->left == 0)
                return 0;
        for (;;) {
                ssize_t k = pread(f->fd, buf, (size_t) MIN((uint64_t) n, f->left), (off_t) f->off);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return k < 0 ? -errno : -ENODATA; /* it ended before its size: it shrank */
                f->off += (uint64_t) k;
                f->left -= (uint64_t) k;
                return k;
        }
}

int storage_put_file(Storage *s, const char *key, int fd, uint64_t off, uint64_t size) {
        CHECK_KEY(s, key);
        if (s->ops->put_file)
                return s->ops->put_file(s, key, fd, off, size);
        FileRange f = { .fd = fd, .off = off, .left = size };
        return storage_put(s, key, range_reader, &f);
}

uint64_t storage_file_part_size(const Storage *s, uint64_t size, unsigned max_parts) {
        /* Larger parts only when the file would take more than max_parts. */
        return MAX(s->file_part_size, (size + max_parts - 1) / max_parts);
}

int storage_put_fd(Storage *s, const char *key, int fd) {
        struct stat st;
        off_t at;
        /* A regular file: its parts straight from it (fd's offset then left at its end, as a
         * read to the end leaves it). A pipe, a socket: read on, a part at a time in memory. */
        if (fstat(fd, &st) >= 0 && S_ISREG(st.st_mode) && (at = lseek(fd, 0, SEEK_CUR)) >= 0 && at <= st.st_size) {
                int r = storage_put_file(s, key, fd, (uint64_t) at, (uint64_t) (st.st_size - at));
                if (r >= 0)
                        (void) lseek(fd, st.st_size, SEEK_SET);
                return r;
        }
        return storage_put(s, key, fd_reader, &fd);
}

int storage_get(Storage *s, const char *key, StorageWriteFn fn, void *userdata) {
        CHECK_KEY(s, key);
        return s->ops->get(s, key, fn, userdata);
}

static int fd_writer(void *userdata, const void *buf, size_t n) {
        return fd_write_all(*(int *) userdata, buf, n);
}

int storage_get_fd(Storage *s, const char *key, int fd) {
        return storage_get(s, key, fd_writer, &fd);
}

void storage_object_done(StorageObject *o) {
        if (!o)
                return;
        free(o->key);
        free(o->etag);
        *o = (StorageObject) { 0 };
}

int storage_stat(Storage *s, const char *key, StorageObject *ret) {
        CHECK_KEY(s, key);
        *ret = (StorageObject) { 0 };
        return s->ops->stat(s, key, ret);
}

int storage_exists(Storage *s, const char *key) {
        StorageObject o;
        int r = storage_stat(s, key, &o);
        storage_object_done(&o);
        return r == -ENOENT ? 0 : r < 0 ? r : 1;
}

void storage_list_done(StorageList *l) {
        if (!l)
                return;
        for (size_t i = 0; i < l->n; i++)
                storage_object_done(&l->objects[i]);
        free(l->objects);
        free(l->next);
        *l = (StorageList) { 0 };
}

int storage_list(Storage *s, const char *prefix, const char *token, size_t max, StorageList *ret) {
        const char *why = storage_prefix_invalid(prefix);
        if (why)
                return bad_key(s, "prefix", prefix, why);
        *ret = (StorageList) { 0 };
        int r = s->ops->list(s, prefix, token, max ?: 1000, ret);
        if (r < 0)
                storage_list_done(ret);
        return r;
}

int storage_delete(Storage *s, const char *key) {
        CHECK_KEY(s, key);
        return s->ops->delete(s, key);
}

int storage_delete_prefix(Storage *s, const char *prefix) {
        /* "" would be everything: that is never what a caller of delete_prefix means. */
        const char *why = isempty(prefix) ? "the prefix is empty" : storage_prefix_invalid(prefix);
        if (why)
                return bad_key(s, "prefix", prefix, why);
        return s->ops->delete_prefix(s, prefix);
}

int storage_move(Storage *s, const char *from, const char *to) {
        CHECK_KEY(s, from);
        CHECK_KEY(s, to);
        if (streq(from, to)) {
                StorageObject o;
                int r = storage_stat(s, from, &o);
                storage_object_done(&o);
                return MIN(r, 0);
        }
        return s->ops->move(s, from, to);
}

int storage_abort_incomplete(Storage *s, usec_t started_before, uint64_t *ret_n) {
        uint64_t n = 0;
        int r = s->ops->abort_incomplete ? s->ops->abort_incomplete(s, started_before, &n) : 0;
        if (ret_n)
                *ret_n = n;
        return r;
}
