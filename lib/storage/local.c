/* local.c: the file:// storage backend: a directory, written atomically, never left through a link. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beneath.h"
#include "fd-util.h"
#include "id.h"
#include "key.h"
#include "storage-backend.h"
#include "strutil.h"

/* Partly written objects: invisible to list, never a key (storage.c refuses no such name, this
 * backend does). */
#define TMP_PREFIX ".tern-tmp."

typedef struct Local {
        char *root;
        int root_fd;
} Local;

static Local *L(Storage *s) {
        return s->data;
}

static void local_free(Storage *s) {
        Local *l = L(s);
        if (!l)
                return;
        safe_close(l->root_fd);
        free(l->root);
        free(l);
}

static const char *why(int r) {
        switch (r) {
        case -EINVAL: case -ELOOP: case -EXDEV: case -ENOTDIR: case -EISDIR: case -EPERM: case -EMLINK:
                return beneath_refusal(r);
        default:
                return strerror(-r);
        }
}

static int fail(Storage *s, int r, const char *op, const char *key) {
        return storage_fail(s, r, "local: cannot %s '%s' in '%s': %s", op, key, L(s)->root, why(r));
}

static bool tmp_name(const char *key) {
        for (const char *p = key; p; p = strchr(p, '/') ? strchr(p, '/') + 1 : NULL)
                if (startswith(p, TMP_PREFIX))
                        return true;
        return false;
}

static int local_check(Storage *s) {
        struct stat st;
        if (fstat(L(s)->root_fd, &st) < 0)
                return storage_fail(s, -errno, "local: cannot use '%s': %m", L(s)->root);
        /* A root removed behind our back still answers fstat(): look by name. */
        if (stat(L(s)->root, &st) < 0)
                return storage_fail(s, errno == ENOENT ? -ENXIO : -errno, "local: cannot use '%s': %m", L(s)->root);
        return 0;
}

static int local_put(Storage *s, const char *key, StorageReadFn fn, void *userdata) {
        if (tmp_name(key))
                return fail(s, -EINVAL, "write", key);
        const char *base;
        _cleanup_close_ int dir = -EBADF, fd = -EBADF;
        char tmp[sizeof TMP_PREFIX + ID_MAX] = TMP_PREFIX;
        int r = id_new(tmp + strlen(TMP_PREFIX));
        if (r < 0)
                return fail(s, r, "write", key);
        /* A delete next door may prune the directory just made (it was empty): make it again. */
        for (unsigned i = 0; fd < 0; i++) {
                dir = safe_close(dir);
                dir = beneath_open_parent(L(s)->root_fd, key, true, 0750, 0, &base);
                if (dir < 0)
                        return fail(s, dir, "write", key);
                fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
                if (fd < 0 && (errno != ENOENT || i >= 3))
                        return fail(s, -errno, "write", key);
        }
        char buf[65536];
        for (;;) {
                ssize_t n = fn(userdata, buf, sizeof buf);
                if (n < 0) {
                        r = storage_fail(s, (int) n, "local: cannot write '%s': reading its content failed: %s", key,
                                         strerror((int) -n));
                        break;
                }
                if (n == 0)
                        break;
                r = fd_write_all(fd, buf, (size_t) n);
                if (r < 0) {
                        r = fail(s, r, "write", key);
                        break;
                }
        }
        /* Whole or not at all, across a crash too: the data, then the name, then the directory. */
        if (r >= 0 && fsync(fd) < 0)
                r = fail(s, -errno, "write", key);
        if (r >= 0 && close(TAKE_FD(fd)) < 0)
                r = fail(s, -errno, "write", key);
        if (r >= 0 && renameat(dir, tmp, dir, base) < 0)
                r = fail(s, errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST ? -EISDIR : -errno, "write", key);
        if (r < 0) {
                (void) unlinkat(dir, tmp, 0);
                return r;
        }
        (void) fsync(dir);
        return 0;
}

/* What beneath_open_regular() says when there is no object of that name: a missing name, a
 * parent that is a file, a "directory" (the prefix of other keys). */
static int missing(int r) {
        return r == -ENOTDIR || r == -EISDIR ? -ENOENT : r;
}

static int local_get(Storage *s, const char *key, StorageWriteFn fn, void *userdata) {
        if (tmp_name(key))
                return fail(s, -ENOENT, "read", key);
        _cleanup_close_ int fd = beneath_open_regular(L(s)->root_fd, key, 0, NULL);
        if (fd < 0)
                return fail(s, missing(fd), "read", key);
        char buf[65536];
        for (;;) {
                ssize_t n = read(fd, buf, sizeof buf);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return fail(s, -errno, "read", key);
                if (n == 0)
                        return 0;
                int r = fn(userdata, buf, (size_t) n);
                if (r < 0)
                        return storage_fail(s, r, "local: reading '%s' stopped: %s", key, strerror(-r));
        }
}

static int object_from_stat(const char *key, const struct stat *st, StorageObject *ret) {
        ret->size = (uint64_t) st->st_size;
        ret->mtime = (usec_t) st->st_mtim.tv_sec * USEC_PER_SEC + (usec_t) st->st_mtim.tv_nsec / 1000;
        /* Every put is a new inode (rename of a new file): inode and time tell versions apart. */
        ret->etag = strdup_printf("%llx-%llx-%llx", (unsigned long long) st->st_ino,
                                  (unsigned long long) st->st_mtim.tv_sec * 1000000000ULL + (unsigned long long) st->st_mtim.tv_nsec,
                                  (unsigned long long) st->st_size);
        ret->key = strdup(key);
        return ret->etag && ret->key ? 0 : -ENOMEM;
}

static int local_stat(Storage *s, const char *key, StorageObject *ret) {
        if (tmp_name(key))
                return fail(s, -ENOENT, "stat", key);
        struct stat st;
        _cleanup_close_ int fd = beneath_open_regular(L(s)->root_fd, key, 0, &st);
        if (fd < 0)
                return fail(s, missing(fd), "stat", key);
        int r = object_from_stat(key, &st, ret);
        return r < 0 ? fail(s, r, "stat", key) : 0;
}

typedef struct Walk {
        StorageObject *objects;
        size_t n, cap;
        /* Not 0: remove the temporary files of puts last written before this (a killed writer's),
         * counted in removed, and list nothing. */
        usec_t tmp_before;
        uint64_t removed;
} Walk;

static void walk_done(Walk *w) {
        for (size_t i = 0; i < w->n; i++)
                storage_object_done(&w->objects[i]);
        free(w->objects);
}

/* Every regular file below dirfd (which walk owns), as rel/NAME; links and other kinds are skipped. */
static int walk(Walk *w, int dfd, const char *rel, unsigned depth) {
        if (depth > 64)
                return -ELOOP;
        DIR *d = fdopendir(dfd);
        if (!d) {
                safe_close(dfd);
                return -errno;
        }
        int r = 0;
        struct dirent *de;
        while (r >= 0 && (errno = 0, de = readdir(d))) {
                bool tmp = startswith(de->d_name, TMP_PREFIX);
                if (streq(de->d_name, ".") || streq(de->d_name, "..") || (tmp && !w->tmp_before))
                        continue;
                struct stat st;
                if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno != ENOENT) /* removed meanwhile */
                                r = -errno;
                        continue;
                }
                if (tmp) {
                        /* A put in progress writes on: its file's mtime is recent. */
                        usec_t mtime = (usec_t) st.st_mtim.tv_sec * USEC_PER_SEC + (usec_t) st.st_mtim.tv_nsec / 1000;
                        if (S_ISREG(st.st_mode) && mtime < w->tmp_before && unlinkat(dfd, de->d_name, 0) >= 0)
                                w->removed++;
                        continue;
                }
                _cleanup_free_ char *key = *rel ? strjoin(rel, "/", de->d_name) : strdup(de->d_name);
                if (!key) {
                        r = -ENOMEM;
                        break;
                }
                if (S_ISDIR(st.st_mode)) {
                        int sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub >= 0)
                                r = walk(w, sub, key, depth + 1);
                        else if (errno != ENOENT)
                                r = -errno;
                } else if (S_ISREG(st.st_mode) && st.st_nlink == 1 && storage_key_valid(key) && !w->tmp_before) {
                        if (w->n == w->cap) {
                                size_t cap = w->cap ? w->cap * 2 : 64;
                                StorageObject *o = reallocarray(w->objects, cap, sizeof *o);
                                if (!o) {
                                        r = -ENOMEM;
                                        break;
                                }
                                w->objects = o;
                                w->cap = cap;
                        }
                        w->objects[w->n] = (StorageObject) { 0 };
                        r = object_from_stat(key, &st, &w->objects[w->n]);
                        w->n++;
                }
        }
        if (r >= 0 && errno != 0 && !de)
                r = -errno;
        closedir(d);
        return r;
}

static int cmp_key(const void *a, const void *b) {
        return strcmp(((const StorageObject *) a)->key, ((const StorageObject *) b)->key);
}

static int local_list(Storage *s, const char *prefix, const char *token, size_t max, StorageList *ret) {
        int dir = *prefix ? beneath_open(L(s)->root_fd, prefix, O_RDONLY | O_DIRECTORY, 0, 0)
                          : openat(L(s)->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir == -ENOENT || dir == -ENOTDIR)
                return 0; /* nothing below it: an empty page */
        if (dir < 0)
                return fail(s, *prefix ? dir : -errno, "list", prefix);
        _cleanup_(walk_done) Walk w = { 0 };
        int r = walk(&w, dir, prefix, 0);
        if (r < 0)
                return fail(s, r, "list", prefix);
        /* The token is the last key of the previous page: pages stay right when files come and go. */
        if (w.n > 0)
                qsort(w.objects, w.n, sizeof *w.objects, cmp_key);
        size_t i = 0;
        if (token)
                while (i < w.n && strcmp(w.objects[i].key, token) <= 0)
                        i++;
        size_t n = MIN(max, w.n - i);
        ret->objects = calloc(n ?: 1, sizeof *ret->objects);
        if (!ret->objects)
                return fail(s, -ENOMEM, "list", prefix);
        for (size_t k = 0; k < n; k++) {
                ret->objects[k] = w.objects[i + k];
                w.objects[i + k] = (StorageObject) { 0 };
        }
        ret->n = n;
        if (i + n < w.n && !(ret->next = strdup(ret->objects[n - 1].key)))
                return fail(s, -ENOMEM, "list", prefix);
        return 0;
}

static int local_abort_incomplete(Storage *s, usec_t started_before, uint64_t *ret_n) {
        int dir = openat(L(s)->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0)
                return storage_fail(s, -errno, "local: cannot remove the temporary files in '%s': %m", L(s)->root);
        _cleanup_(walk_done) Walk w = { .tmp_before = MAX(started_before, 1u) };
        int r = walk(&w, dir, "", 0);
        *ret_n = w.removed;
        return r < 0 ? storage_fail(s, r, "local: cannot remove the temporary files in '%s': %s", L(s)->root, strerror(-r)) : 0;
}

/* Remove the directories left empty above key, up to the root (a later put recreates them). */
static void prune_parents(Storage *s, const char *key) {
        _cleanup_free_ char *p = strdup(key);
        for (char *slash; p && (slash = strrchr(p, '/'));) {
                *slash = 0;
                const char *base;
                _cleanup_close_ int dir = beneath_open_parent(L(s)->root_fd, p, false, 0, 0, &base);
                if (dir < 0 || unlinkat(dir, base, AT_REMOVEDIR) < 0)
                        break;
        }
}

static int local_delete(Storage *s, const char *key) {
        const char *base;
        _cleanup_close_ int dir = beneath_open_parent(L(s)->root_fd, key, false, 0, 0, &base);
        if (dir == -ENOENT || dir == -ENOTDIR)
                return 0;
        if (dir < 0)
                return fail(s, dir, "delete", key);
        struct stat st;
        if (fstatat(dir, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : fail(s, -errno, "delete", key);
        if (S_ISDIR(st.st_mode))
                return 0; /* a "directory" is not an object: nothing of that name to delete */
        if (unlinkat(dir, base, 0) < 0 && errno != ENOENT)
                return fail(s, -errno, "delete", key);
        prune_parents(s, key);
        return 0;
}

static int local_delete_prefix(Storage *s, const char *prefix) {
        const char *base;
        _cleanup_close_ int dir = beneath_open_parent(L(s)->root_fd, prefix, false, 0, 0, &base);
        if (dir == -ENOENT || dir == -ENOTDIR)
                return 0;
        if (dir < 0)
                return fail(s, dir, "delete below", prefix);
        struct stat st;
        if (fstatat(dir, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : fail(s, -errno, "delete below", prefix);
        if (!S_ISDIR(st.st_mode))
                return 0; /* an object of that name is not below it */
        int r = beneath_remove_tree(dir, base);
        if (r < 0)
                return fail(s, r, "delete below", prefix);
        prune_parents(s, prefix);
        return 0;
}

static int local_move(Storage *s, const char *from, const char *to) {
        if (tmp_name(from) || tmp_name(to))
                return storage_fail(s, -EINVAL, "local: cannot move '%s' to '%s': a reserved name", from, to);
        struct stat st;
        _cleanup_close_ int fd = beneath_open_regular(L(s)->root_fd, from, 0, &st);
        if (fd < 0)
                return fail(s, missing(fd), "move", from);
        const char *fbase, *tbase;
        _cleanup_close_ int fdir = beneath_open_parent(L(s)->root_fd, from, false, 0, 0, &fbase);
        if (fdir < 0)
                return fail(s, fdir, "move", from);
        _cleanup_close_ int tdir = beneath_open_parent(L(s)->root_fd, to, true, 0750, 0, &tbase);
        if (tdir < 0)
                return fail(s, tdir, "move to", to);
        if (renameat(fdir, fbase, tdir, tbase) < 0)
                return storage_fail(s, -errno, "local: cannot move '%s' to '%s' in '%s': %m", from, to, L(s)->root);
        (void) fsync(tdir);
        prune_parents(s, from);
        return 0;
}

static const StorageBackendOps local_ops = {
        .free = local_free,
        .check = local_check,
        .put = local_put,
        .get = local_get,
        .stat = local_stat,
        .list = local_list,
        .delete = local_delete,
        .delete_prefix = local_delete_prefix,
        .move = local_move,
        .abort_incomplete = local_abort_incomplete,
};

int storage_local_open(Storage *s, const StorageUrl *u, const StorageOptions *opt, char **ret_error) {
        /* file:///DIR: an empty authority, so the whole path is the directory. */
        if (!isempty(u->host) && !streq(u->host, "localhost")) {
                *ret_error = strdup_printf("storage URL '%s': a file:// URL names a local directory: file:///DIR", u->url);
                return -EINVAL;
        }
        if (u->params) {
                *ret_error = strdup_printf("storage URL '%s': file:// takes no parameter ('%s')", u->url, u->params[0]);
                return -EINVAL;
        }
        if (isempty(u->path)) {
                *ret_error = strdup_printf("storage URL '%s': no directory (file:///var/lib/tern/storage)", u->url);
                return -EINVAL;
        }
        Local *l = calloc(1, sizeof(Local));
        if (!l)
                return -ENOMEM;
        l->root_fd = -EBADF;
        s->data = l;
        s->ops = &local_ops;
        if (!(l->root = strjoin("/", u->path)))
                return -ENOMEM;
        if (mkdir(l->root, 0750) < 0 && errno != EEXIST) {
                int r = -errno;
                *ret_error = strdup_printf("storage directory '%s' cannot be made: %s", l->root, strerror(-r));
                return r;
        }
        l->root_fd = open(l->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (l->root_fd < 0) {
                int r = -errno;
                *ret_error = strdup_printf("storage directory '%s' cannot be opened: %s", l->root, strerror(-r));
                return r;
        }
        return 0;
}
