/* beneath.c: file operations beneath a directory fd that follow no symbolic link and leave no
 * directory: openat2() with RESOLVE_BENEATH where the kernel has it, a component walk otherwise. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "beneath.h"
#include "macro.h"
#include "strutil.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

bool beneath_path_valid(const char *path) {
        if (isempty(path) || path[0] == '/')
                return false;
        for (const char *p = path;;) {
                size_t n = strcspn(p, "/");
                if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                if (!p[n])
                        return true;
                p += n + 1;
        }
}

const char *beneath_refusal(int r) {
        switch (-r) {
        case EINVAL:
                return "it is not a relative path inside the working directory";
        case ELOOP:
                return "a symbolic link is in its path (links are not followed)";
        case EXDEV:
                return "it leads out of the working directory";
        case ENOTDIR:
                return "a directory in its path is not a directory";
        case EISDIR:
                return "it is a directory";
        case EPERM:
                return "it is not a regular file (a FIFO, socket or device)";
        case EMLINK:
                return "it has other hard links (it may be a file from outside the working directory)";
        case EEXIST:
                return "it was replaced while being written";
        default:
                return strerror(r < 0 ? -r : r);
        }
}

/* After a component walk's openat() failed: a symbolic link there reads as -ELOOP, whatever
 * O_DIRECTORY or O_PATH made of it. */
static int walk_error(int dirfd, const char *name, int e) {
        struct stat st;
        if ((e == ENOTDIR || e == ELOOP) && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISLNK(st.st_mode))
                return -ELOOP;
        return -e;
}

static int open_walk(int dirfd, const char *path, int flags, mode_t mode) {
        _cleanup_close_ int cur = -EBADF;
        char name[NAME_MAX + 1];
        int at = dirfd;
        struct stat top;

        if (fstat(dirfd, &top) < 0)
                return -errno;
        for (const char *p = path;;) {
                size_t n = strcspn(p, "/");
                if (n > NAME_MAX)
                        return -ENAMETOOLONG;
                memcpy(name, p, n);
                name[n] = 0;
                bool last = !p[n];
                int fd = openat(at, name, last ? flags : O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
                                last ? mode : 0);
                if (fd < 0)
                        return walk_error(at, name, errno);
                /* A mount point on the way (RESOLVE_NO_XDEV's part), or a link that O_PATH opened. */
                struct stat st;
                int k = fstat(fd, &st) < 0 ? -errno : st.st_dev != top.st_dev ? -EXDEV : S_ISLNK(st.st_mode) ? -ELOOP : 0;
                if (k < 0) {
                        close(fd);
                        return k;
                }
                if (last)
                        return fd;
                safe_close(cur);
                at = cur = fd;
                p += n + 1;
        }
}

/* O_DIRECTORY met something that is not a directory at the end: -ELOOP when it is a link. */
static int last_is_link(int dirfd, const char *path, unsigned bflags) {
        const char *base;
        _cleanup_close_ int parent = beneath_open_parent(dirfd, path, false, 0, bflags, &base);
        struct stat st;
        if (parent >= 0 && fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISLNK(st.st_mode))
                return -ELOOP;
        return -ENOTDIR;
}

int beneath_open(int dirfd, const char *path, int flags, mode_t mode, unsigned bflags) {
        if (!beneath_path_valid(path))
                return -EINVAL;
        flags |= O_CLOEXEC | O_NOFOLLOW;
        if (!(bflags & BENEATH_NO_OPENAT2)) {
                struct open_how how = {
                        .flags = (uint64_t) flags,
                        .mode = flags & (O_CREAT | __O_TMPFILE) ? mode : 0,
                        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
                };
                long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
                if (fd >= 0)
                        return (int) fd;
                if (errno != ENOSYS && errno != EPERM)
                        return errno == ENOTDIR && (flags & O_DIRECTORY) ? last_is_link(dirfd, path, bflags) : -errno;
        }
        return open_walk(dirfd, path, flags, mode);
}

int beneath_open_parent(int dirfd, const char *path, bool create, mode_t dir_mode, unsigned bflags,
                        const char **ret_base) {
        if (!beneath_path_valid(path))
                return -EINVAL;
        int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        for (const char *p = path;;) {
                size_t n = strcspn(p, "/");
                if (!p[n]) {
                        *ret_base = p;
                        return fd;
                }
                char name[NAME_MAX + 1];
                if (n > NAME_MAX) {
                        close(fd);
                        return -ENAMETOOLONG;
                }
                memcpy(name, p, n);
                name[n] = 0;
                if (create && mkdirat(fd, name, dir_mode) < 0 && errno != EEXIST) {
                        int e = errno;
                        close(fd);
                        return -e;
                }
                int sub = beneath_open(fd, name, O_RDONLY | O_DIRECTORY, 0, bflags);
                close(fd);
                if (sub < 0)
                        return sub;
                fd = sub;
                p += n + 1;
        }
}

int beneath_create(int dirfd, const char *path, mode_t mode, unsigned bflags) {
        const char *base;
        _cleanup_close_ int parent = beneath_open_parent(dirfd, path, true, 0755, bflags, &base);
        if (parent < 0)
                return parent;
        /* Whatever has the name goes first, a link itself rather than its target. */
        if (unlinkat(parent, base, 0) < 0 && errno != ENOENT)
                return errno == EISDIR ? -EISDIR : -errno;
        int fd = openat(parent, base, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        return fd >= 0 ? fd : -errno;
}

int beneath_open_regular(int dirfd, const char *path, unsigned bflags, struct stat *ret_st) {
        /* What it is, first, without opening it: opening a device can do something. */
        _cleanup_close_ int pfd = beneath_open(dirfd, path, O_PATH, 0, bflags);
        if (pfd < 0)
                return pfd;
        struct stat st, again;
        if (fstat(pfd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (S_ISLNK(st.st_mode))
                return -ELOOP;
        if (!S_ISREG(st.st_mode))
                return -EPERM;
        if (st.st_nlink > 1)
                return -EMLINK;
        /* Then opened for reading, the same way; O_NONBLOCK: should a FIFO have been swapped in
         * meanwhile, it opens at once, to be refused, instead of waiting for a writer. */
        _cleanup_close_ int fd = beneath_open(dirfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, bflags);
        if (fd == -ENXIO) /* a socket */
                return -EPERM;
        if (fd < 0)
                return fd;
        if (fstat(fd, &again) < 0)
                return -errno;
        if (again.st_dev != st.st_dev || again.st_ino != st.st_ino)
                return -EEXIST; /* replaced in between */
        st = again;
        if (st.st_nlink > 1)
                return -EMLINK;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
                return -errno;
        if (ret_st)
                *ret_st = st;
        return TAKE_FD(fd);
}

/* Directories held open at once while removing; a subtree below is first moved up beside the tree,
 * so that no depth a task can make runs the worker out of file descriptors or stack. */
#define REMOVE_DEPTH_MAX 32u
#define REMOVE_MOVES_MAX 1000000u

typedef struct Remover {
        int top;          /* the directory the tree is in */
        const char *name; /* the tree's name there */
        unsigned moved;   /* subtrees moved up, named moved_name(i) */
} Remover;

static void moved_name(const Remover *m, unsigned i, char buf[static NAME_MAX + 1]) {
        snprintf(buf, NAME_MAX + 1, ".%.200s.rm-%u", m->name, i);
}

static int remove_at(Remover *m, int parent, const char *name, unsigned depth) {
        if (unlinkat(parent, name, 0) >= 0 || errno == ENOENT)
                return 0;
        if (errno != EISDIR && errno != EPERM)
                return -errno;
        if (depth >= REMOVE_DEPTH_MAX) {
                char up[NAME_MAX + 1];
                if (m->moved >= REMOVE_MOVES_MAX)
                        return -ELOOP;
                moved_name(m, m->moved, up);
                if (renameat(parent, name, m->top, up) < 0)
                        return -errno;
                m->moved++;
                return 0;
        }
        int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == EACCES) {
                /* A task may have taken its own permissions away: give them back to empty it. */
                (void) fchmodat(parent, name, 0700, AT_SYMLINK_NOFOLLOW);
                fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                int e = errno;
                close(fd);
                return -e;
        }
        int r = 0;
        for (struct dirent *de; (de = readdir(d));) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                int k = remove_at(m, dirfd(d), de->d_name, depth + 1);
                if (k == -EACCES) {
                        (void) fchmod(dirfd(d), 0700);
                        k = remove_at(m, dirfd(d), de->d_name, depth + 1);
                }
                if (k < 0 && r == 0)
                        r = k;
        }
        closedir(d);
        if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
                r = -errno;
        return r;
}

int beneath_remove_tree(int dirfd, const char *name) {
        if (!beneath_path_valid(name) || strchr(name, '/'))
                return -EINVAL;
        Remover m = { .top = dirfd, .name = name };
        int r = remove_at(&m, dirfd, name, 0);
        /* What was moved up, each REMOVE_DEPTH_MAX levels shallower than it was. */
        for (unsigned i = 0; i < m.moved; i++) {
                char up[NAME_MAX + 1];
                moved_name(&m, i, up);
                int k = remove_at(&m, dirfd, up, 0);
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}

int beneath_remove_path(const char *path) {
        const char *slash = path ? strrchr(path, '/') : NULL;
        if (!slash || !slash[1])
                return -EINVAL;
        _cleanup_free_ char *dir = slash == path ? strdup("/") : strndup(path, (size_t) (slash - path));
        if (!dir)
                return -ENOMEM;
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return beneath_remove_tree(fd, slash + 1);
}

/* ---- glob -------------------------------------------------------------------------------------- */

typedef struct GlobWalk {
        BeneathGlobFn fn;
        void *userdata;
        unsigned bflags;
        unsigned matches;
        unsigned long work; /* directory entries looked at, directories entered */
        char *refused;
} GlobWalk;

static bool has_magic(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (s[i] == '*' || s[i] == '?' || s[i] == '[' || s[i] == '\\')
                        return true;
        return false;
}

static int cmp_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The entries of a directory, sorted (".", ".." left out), counted against the walk's budget. */
static int list_dir(GlobWalk *g, int fd, char ***ret, size_t *ret_n) {
        int dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (dup < 0)
                return -errno;
        DIR *d = fdopendir(dup);
        if (!d) {
                int e = errno;
                close(dup);
                return -e;
        }
        rewinddir(d);
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        size_t n = 0;
        int r = l ? 0 : -ENOMEM;
        for (struct dirent *de; r == 0 && (de = readdir(d));) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (n >= BENEATH_GLOB_MAX_MATCHES * 4 || ++g->work > BENEATH_GLOB_MAX_WORK) {
                        r = -E2BIG;
                        break;
                }
                r = strv_extend(&l, de->d_name);
                n++;
        }
        closedir(d);
        if (r < 0)
                return r;
        qsort(l, n, sizeof(char *), cmp_names);
        *ret = TAKE_PTR(l);
        *ret_n = n;
        return 0;
}

static int glob_match(GlobWalk *g, int fd, const char *prefix, const char *pat, unsigned depth);

static int glob_emit(GlobWalk *g, int fd, const char *prefix, const char *name) {
        if (++g->matches > BENEATH_GLOB_MAX_MATCHES)
                return -E2BIG;
        _cleanup_free_ char *rel = isempty(prefix) ? strdup(name) : strjoin(prefix, "/", name);
        if (!rel)
                return -ENOMEM;
        return g->fn(fd, name, rel, g->userdata);
}

/* Continue with pat in the subdirectory name of fd, when it is one (a link is not entered). */
static int glob_descend(GlobWalk *g, int fd, const char *prefix, const char *name, const char *pat, unsigned depth,
                        bool literal) {
        if (depth >= BENEATH_GLOB_MAX_DEPTH || ++g->work > BENEATH_GLOB_MAX_WORK)
                return -E2BIG;
        _cleanup_close_ int sub = beneath_open(fd, name, O_RDONLY | O_DIRECTORY, 0, g->bflags);
        _cleanup_free_ char *rel = isempty(prefix) ? strdup(name) : strjoin(prefix, "/", name);
        if (!rel)
                return -ENOMEM;
        if (sub < 0) {
                if (!literal || sub == -ENOENT)
                        return 0; /* not a directory, or a link: not entered */
                if (sub == -ENOTDIR)
                        return 0;
                if (!g->refused)
                        g->refused = TAKE_PTR(rel);
                return sub;
        }
        return glob_match(g, sub, rel, pat, depth + 1);
}

static int glob_match(GlobWalk *g, int fd, const char *prefix, const char *pat, unsigned depth) {
        size_t n = strcspn(pat, "/");
        const char *rest = pat[n] ? pat + n + 1 : NULL;
        _cleanup_free_ char *comp = strndup(pat, n);
        int r;

        if (!comp)
                return -ENOMEM;
        if (streq(comp, "**")) {
                /* "**" again right after it adds nothing but ways to walk the same tree. */
                while (rest && (streq(rest, "**") || startswith(rest, "**/")))
                        pat = rest, rest = rest[2] ? rest + 3 : NULL;
                /* Zero directories: the rest here; then every subdirectory with "**" again. */
                if (rest && (r = glob_match(g, fd, prefix, rest, depth)) < 0)
                        return r;
                _cleanup_strv_free_ char **names = NULL;
                size_t k;
                if ((r = list_dir(g, fd, &names, &k)) < 0)
                        return r;
                for (size_t i = 0; i < k; i++) {
                        if (names[i][0] == '.')
                                continue;
                        struct stat st;
                        if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
                                continue;
                        if (S_ISDIR(st.st_mode)) {
                                if ((r = glob_descend(g, fd, prefix, names[i], pat, depth, false)) < 0)
                                        return r;
                        } else if (!rest && (r = glob_emit(g, fd, prefix, names[i])) < 0)
                                return r;
                }
                return 0;
        }
        if (!has_magic(comp, n)) {
                if (rest)
                        return glob_descend(g, fd, prefix, comp, rest, depth, true);
                struct stat st;
                if (fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return errno == ENOENT ? 0 : -errno;
                return glob_emit(g, fd, prefix, comp);
        }
        _cleanup_strv_free_ char **names = NULL;
        size_t k;
        if ((r = list_dir(g, fd, &names, &k)) < 0)
                return r;
        for (size_t i = 0; i < k; i++) {
                if (fnmatch(comp, names[i], FNM_PERIOD) != 0)
                        continue;
                r = rest ? glob_descend(g, fd, prefix, names[i], rest, depth, false) : glob_emit(g, fd, prefix, names[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

int beneath_glob(int dirfd, const char *pattern, unsigned bflags, BeneathGlobFn fn, void *userdata,
                 char **ret_refused) {
        if (!beneath_path_valid(pattern))
                return -EINVAL;
        GlobWalk g = { .fn = fn, .userdata = userdata, .bflags = bflags };
        int r = glob_match(&g, dirfd, "", pattern, 0);
        if (r < 0 && ret_refused)
                *ret_refused = TAKE_PTR(g.refused);
        free(g.refused);
        return r < 0 ? r : (int) g.matches;
}
