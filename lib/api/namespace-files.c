/* namespace-files.c: a namespace's files in internal storage and Kestra's glob selection of them
 * (see namespace-files.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"
#include "namespace-files.h"
#include "strutil.h"

void api_ns_file_done(ApiNsFile *f) {
        free(f->path);
        *f = (ApiNsFile) {};
}

void api_ns_file_list_done(ApiNsFileList *l) {
        for (size_t i = 0; i < l->n; i++)
                api_ns_file_done(&l->files[i]);
        free(l->files);
        *l = (ApiNsFileList) {};
}

static bool is_marker_segment(const char *rel) {
        for (const char *p = rel; p;) {
                const char *e = strchrnul(p, '/');
                size_t n = (size_t) (e - p);
                if (n == strlen(API_NS_DIR_MARKER) && memcmp(p, API_NS_DIR_MARKER, n) == 0)
                        return true;
                p = *e ? e + 1 : NULL;
        }
        return false;
}

int api_ns_path_normalize(const char *path, char **ret) {
        if (!path)
                path = "";
        if (*path == '/')
                path++;
        size_t n = strlen(path);
        if (n > 0 && path[n - 1] == '/')
                n--;
        char *rel = strndup(path, n);
        if (!rel)
                return -ENOMEM;
        if (*rel && (storage_key_invalid(rel) || is_marker_segment(rel))) {
                free(rel);
                return -EINVAL;
        }
        *ret = rel;
        return 0;
}

int api_ns_file_key(const char *ns, const char *path, char **ret) {
        _cleanup_free_ char *rel = NULL;
        int r = api_ns_path_normalize(path, &rel);
        if (r < 0)
                return r;
        return storage_key_namespace_file(ns, *rel ? rel : NULL, ret);
}

/* ---- listing ------------------------------------------------------------------------------------ */

static int list_add(ApiNsFileList *l, size_t *cap, const char *dir_rel, const char *name, size_t name_len,
                    bool directory, uint64_t size, usec_t mtime) {
        if (l->n >= API_NS_FILES_MAX)
                return -E2BIG;
        if (l->n == *cap) {
                size_t c = MAX(*cap * 2, (size_t) 64);
                ApiNsFile *f = realloc(l->files, c * sizeof *f);
                if (!f)
                        return -ENOMEM;
                l->files = f;
                *cap = c;
        }
        char *p = strdup_printf("/%s%s%.*s", dir_rel, *dir_rel ? "/" : "", (int) name_len, name);
        if (!p)
                return -ENOMEM;
        l->files[l->n++] = (ApiNsFile) { .path = p, .directory = directory, .size = size, .mtime = mtime };
        return 0;
}

/* Every object below prefix (the full keys), page by page, to fn. */
typedef int (*ObjectFn)(const StorageObject *o, const char *rel, void *userdata);

static int for_each_object(Storage *s, const char *prefix, ObjectFn fn, void *userdata) {
        _cleanup_free_ char *token = NULL;
        size_t plen = strlen(prefix);
        do {
                _cleanup_storage_list_ StorageList l = {};
                int r = storage_list(s, prefix, token, 0, &l);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < l.n; i++) {
                        const char *k = l.objects[i].key;
                        if (strncmp(k, prefix, plen) != 0 || k[plen] != '/')
                                continue; /* not below it: never from a backend that lists right */
                        if ((r = fn(&l.objects[i], k + plen + 1, userdata)) < 0)
                                return r;
                }
                free(token);
                token = TAKE_PTR(l.next);
        } while (token);
        return 0;
}

typedef struct ListWalk {
        ApiNsFileList *list;
        size_t cap;
        const char *dir_rel;
        bool recursive;
        bool any;  /* something (a marker too) lies below the directory */
} ListWalk;

static int list_one(const StorageObject *o, const char *rel, void *userdata) {
        ListWalk *w = userdata;
        const char *slash = strchr(rel, '/');
        bool marker = streq(slash ? strrchr(rel, '/') + 1 : rel, API_NS_DIR_MARKER);
        w->any = true;
        if (w->recursive) {
                if (marker)
                        return 0;
                return list_add(w->list, &w->cap, w->dir_rel, rel, strlen(rel), false, o->size, o->mtime);
        }
        if (!slash) {
                if (marker)
                        return 0; /* the directory's own */
                return list_add(w->list, &w->cap, w->dir_rel, rel, strlen(rel), false, o->size, o->mtime);
        }
        /* A deeper object makes its first segment a directory; they come together (sorted keys). */
        size_t n = (size_t) (slash - rel);
        ApiNsFile *last = w->list->n ? &w->list->files[w->list->n - 1] : NULL;
        if (last && last->directory) {
                const char *base = strrchr(last->path, '/') + 1;
                if (strlen(base) == n && memcmp(base, rel, n) == 0) {
                        if (!marker)
                                last->mtime = MAX(last->mtime, o->mtime);
                        return 0;
                }
        }
        return list_add(w->list, &w->cap, w->dir_rel, rel, n, true, 0, marker ? 0 : o->mtime);
}

int api_ns_files_list(Storage *s, const char *ns, const char *dir, bool recursive, ApiNsFileList *ret) {
        _cleanup_free_ char *rel = NULL, *prefix = NULL;
        _cleanup_api_ns_file_list_ ApiNsFileList l = {};
        int r = api_ns_path_normalize(dir, &rel);
        if (r < 0 || (r = storage_key_namespace_file(ns, *rel ? rel : NULL, &prefix)) < 0)
                return r;
        ListWalk w = { .list = &l, .dir_rel = rel, .recursive = recursive };
        if ((r = for_each_object(s, prefix, list_one, &w)) < 0)
                return r;
        if (!w.any && *rel) {
                r = storage_exists(s, prefix);
                return r < 0 ? r : r > 0 ? -ENOTDIR : -ENOENT;
        }
        *ret = l;
        l = (ApiNsFileList) {};
        return 0;
}

/* 1 when something lies below key (a directory), 0 when not. */
static int has_children(Storage *s, const char *key) {
        _cleanup_storage_list_ StorageList l = {};
        int r = storage_list(s, key, NULL, 1, &l);
        return r < 0 ? r : l.n > 0;
}

int api_ns_file_stat(Storage *s, const char *ns, const char *path, ApiNsFile *ret) {
        _cleanup_free_ char *rel = NULL, *key = NULL;
        StorageObject o = {};
        int r = api_ns_path_normalize(path, &rel);
        if (r < 0 || (r = storage_key_namespace_file(ns, *rel ? rel : NULL, &key)) < 0)
                return r;
        char *p = strjoin("/", rel);
        if (!p)
                return -ENOMEM;
        *ret = (ApiNsFile) { .path = p, .directory = true };
        if (!*rel)
                return 0;
        r = storage_stat(s, key, &o);
        if (r >= 0) {
                ret->directory = false;
                ret->size = o.size;
                ret->mtime = o.mtime;
                storage_object_done(&o);
                return 0;
        }
        if (r == -ENOENT && (r = has_children(s, key)) == 0)
                r = -ENOENT;
        if (r < 0)
                api_ns_file_done(ret);
        return r < 0 ? r : 0;
}

/* -ENOTDIR when a parent directory of rel is a file. */
static int parents_check(Storage *s, const char *ns, const char *rel) {
        _cleanup_free_ char *p = strdup(rel);
        if (!p)
                return -ENOMEM;
        for (char *slash = strchr(p, '/'); slash; slash = strchr(slash + 1, '/')) {
                _cleanup_free_ char *key = NULL;
                *slash = 0;
                int r = storage_key_namespace_file(ns, p, &key);
                if (r < 0 || (r = storage_exists(s, key)) < 0)
                        return r;
                *slash = '/';
                if (r > 0)
                        return -ENOTDIR;
        }
        return 0;
}

int api_ns_file_put_fd(Storage *s, const char *ns, const char *path, int fd) {
        _cleanup_free_ char *rel = NULL, *key = NULL;
        int r = api_ns_path_normalize(path, &rel);
        if (r < 0)
                return r;
        if (!*rel)
                return -EISDIR;
        if ((r = storage_key_namespace_file(ns, rel, &key)) < 0)
                return r;
        if ((r = has_children(s, key)) != 0)
                return r < 0 ? r : -EISDIR;
        if ((r = parents_check(s, ns, rel)) < 0)
                return r;
        return storage_put_fd(s, key, fd);
}

static ssize_t empty_read(void *userdata, void *buf, size_t n) {
        (void) userdata, (void) buf, (void) n;
        return 0;
}

int api_ns_dir_create(Storage *s, const char *ns, const char *path) {
        _cleanup_free_ char *rel = NULL, *key = NULL, *marker = NULL;
        int r = api_ns_path_normalize(path, &rel);
        if (r < 0 || !*rel)
                return r;
        if ((r = storage_key_namespace_file(ns, rel, &key)) < 0)
                return r;
        if ((r = storage_exists(s, key)) != 0)
                return r < 0 ? r : -ENOTDIR;
        if ((r = parents_check(s, ns, rel)) < 0)
                return r;
        if (!(marker = strjoin(key, "/", API_NS_DIR_MARKER)))
                return -ENOMEM;
        return storage_put(s, marker, empty_read, NULL);
}

typedef struct Counter {
        uint64_t files;
} Counter;

static int count_one(const StorageObject *o, const char *rel, void *userdata) {
        Counter *c = userdata;
        const char *base = strrchr(rel, '/');
        (void) o;
        if (!streq(base ? base + 1 : rel, API_NS_DIR_MARKER))
                c->files++;
        return 0;
}

int api_ns_file_delete(Storage *s, const char *ns, const char *path, bool recursive, uint64_t *ret_count) {
        _cleanup_free_ char *rel = NULL, *key = NULL;
        ApiNsFile f = {};
        int r = api_ns_file_stat(s, ns, path, &f);
        if (r < 0)
                return r;
        bool directory = f.directory;
        api_ns_file_done(&f);
        if ((r = api_ns_path_normalize(path, &rel)) < 0 ||
            (r = storage_key_namespace_file(ns, *rel ? rel : NULL, &key)) < 0)
                return r;
        if (!directory) {
                if ((r = storage_delete(s, key)) < 0)
                        return r;
                if (ret_count)
                        *ret_count = 1;
                return 0;
        }
        Counter c = {};
        if ((r = for_each_object(s, key, count_one, &c)) < 0)
                return r;
        if (c.files > 0 && !recursive)
                return -ENOTEMPTY;
        if ((r = storage_delete_prefix(s, key)) < 0)
                return r;
        if (ret_count)
                *ret_count = c.files;
        return 0;
}

typedef struct Mover {
        Storage *s;
        const char *to_key;
} Mover;

static int move_one(const StorageObject *o, const char *rel, void *userdata) {
        Mover *m = userdata;
        _cleanup_free_ char *to = strjoin(m->to_key, "/", rel);
        if (!to)
                return -ENOMEM;
        if (storage_key_invalid(to))
                return -EINVAL;
        return storage_move(m->s, o->key, to);
}

int api_ns_file_move(Storage *s, const char *ns, const char *from, const char *to) {
        _cleanup_free_ char *frel = NULL, *trel = NULL, *fkey = NULL, *tkey = NULL;
        ApiNsFile f = {}, t = {};
        int r = api_ns_path_normalize(from, &frel);
        if (r < 0 || (r = api_ns_path_normalize(to, &trel)) < 0)
                return r;
        if (!*frel || !*trel)
                return -EINVAL; /* the root stays where it is */
        const char *inside = startswith(trel, frel);
        if (inside && (*inside == 0 || *inside == '/'))
                return -EINVAL;
        if ((r = storage_key_namespace_file(ns, frel, &fkey)) < 0 || (r = storage_key_namespace_file(ns, trel, &tkey)) < 0)
                return r;
        if ((r = api_ns_file_stat(s, ns, frel, &f)) < 0)
                return r;
        bool directory = f.directory;
        api_ns_file_done(&f);
        r = api_ns_file_stat(s, ns, trel, &t);
        api_ns_file_done(&t);
        if (r >= 0)
                return -EEXIST;
        if (r != -ENOENT)
                return r;
        if ((r = parents_check(s, ns, trel)) < 0)
                return r;
        if (!directory)
                return storage_move(s, fkey, tkey);
        Mover m = { .s = s, .to_key = tkey };
        return for_each_object(s, fkey, move_one, &m);
}

/* ---- patterns ----------------------------------------------------------------------------------- */

/* Work allowed per match: '*' and '**' backtrack, and a pattern comes from a flow. */
#define GLOB_BUDGET 100000u

static const char *class_end(const char *p) {
        /* p at '['; the ']' that closes it, or NULL. */
        const char *q = p + 1;
        if (*q == '!')
                q++;
        for (; *q && *q != ']'; q++)
                if (*q == '\\' && q[1])
                        q++;
        return *q == ']' ? q : NULL;
}

static bool class_match(const char *p, const char *end, unsigned char c) {
        const char *q = p + 1;
        bool neg = false, hit = false;
        if (*q == '!') {
                neg = true;
                q++;
        }
        while (q < end) {
                if (*q == '\\' && q + 1 < end)
                        q++;
                unsigned char lo = (unsigned char) *q, hi = lo;
                if (q + 2 < end && q[1] == '-') {
                        hi = (unsigned char) q[2];
                        q += 2;
                }
                if (c >= lo && c <= hi)
                        hit = true;
                q++;
        }
        return hit != neg;
}

static bool glob_at(const char *p, const char *s, unsigned *budget);

/* {a,b}rest: each alternative followed by rest. */
static bool group_match(const char *p, const char *s, unsigned *budget) {
        const char *end = strchr(p, '}');
        if (!end)
                return false;
        for (const char *a = p + 1;;) {
                const char *comma = memchr(a, ',', (size_t) (end - a));
                const char *e = comma ? comma : end;
                _cleanup_free_ char *alt = strdup_printf("%.*s%s", (int) (e - a), a, end + 1);
                if (!alt)
                        return false;
                if (glob_at(alt, s, budget))
                        return true;
                if (!comma)
                        return false;
                a = comma + 1;
        }
}

static bool glob_at(const char *p, const char *s, unsigned *budget) {
        for (;;) {
                if (*budget == 0)
                        return false;
                (*budget)--;
                switch (*p) {
                case 0:
                        return *s == 0;
                case '*': {
                        bool any = p[1] == '*';
                        const char *rest = p + (any ? 2 : 1);
                        for (const char *t = s;; t++) {
                                if (glob_at(rest, t, budget))
                                        return true;
                                if (!*t || (!any && *t == '/') || *budget == 0)
                                        return false;
                        }
                }
                case '?':
                        if (!*s || *s == '/')
                                return false;
                        p++, s++;
                        continue;
                case '[': {
                        const char *end = class_end(p);
                        if (!end || !*s || *s == '/' || !class_match(p, end, (unsigned char) *s))
                                return false;
                        p = end + 1, s++;
                        continue;
                }
                case '{':
                        return group_match(p, s, budget);
                case '\\':
                        if (!p[1])
                                return false;
                        p++;
                        __attribute__((fallthrough));
                default:
                        if (*p != *s)
                                return false;
                        p++, s++;
                        continue;
                }
        }
}

const char *api_ns_pattern_invalid(const char *pattern) {
        if (isempty(pattern))
                return "an empty pattern";
        if (startswith(pattern, "regex:"))
                return "'regex:' patterns are not supported, use a glob pattern";
        const char *p = startswith(pattern, "glob:") ?: pattern;
        bool in_group = false;
        for (; *p; p++) {
                if (*p == '\\') {
                        if (!p[1])
                                return "a '\\' at the end";
                        p++;
                } else if (*p == '[') {
                        const char *end = class_end(p);
                        if (!end)
                                return "a '[' without its ']'";
                        if (memchr(p, '/', (size_t) (end - p)))
                                return "a '/' inside [...]";
                        p = end;
                } else if (*p == '{') {
                        if (in_group)
                                return "a group {...} inside another";
                        in_group = true;
                } else if (*p == '}' && in_group)
                        in_group = false;
        }
        return in_group ? "a '{' without its '}'" : NULL;
}

/* pattern with each run of three or more unescaped '*' as "**", which means the same: a run would
 * otherwise multiply the ways to match. */
static char *pattern_squeeze(const char *prefix, const char *p) {
        char *out = malloc(strlen(prefix) + strlen(p) + 1), *w = out;
        size_t stars = 0;
        if (!out)
                return NULL;
        w = stpcpy(w, prefix);
        for (; *p; p++) {
                if (*p == '\\' && p[1]) {
                        *w++ = *p++;
                        *w++ = *p;
                        stars = 0;
                        continue;
                }
                stars = *p == '*' ? stars + 1 : 0;
                if (stars <= 2)
                        *w++ = *p;
        }
        *w = 0;
        return out;
}

bool api_ns_pattern_match(const char *pattern, const char *path) {
        unsigned budget = GLOB_BUDGET;
        if (api_ns_pattern_invalid(pattern))
                return false;
        const char *explicit = startswith(pattern, "glob:");
        char c = pattern[0];
        bool anywhere = !explicit && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
        _cleanup_free_ char *p = pattern_squeeze(anywhere ? "**/" : "", explicit ?: pattern);
        return p && glob_at(p, path, &budget);
}
