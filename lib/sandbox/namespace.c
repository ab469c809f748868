/* namespace.c: build a task's sandbox in a freshly cloned child: private mounts with a read-only
 * system view and a writable working directory, pivot_root, fresh /proc, minimal /dev, loopback
 * only, then the task started unprivileged, and the child turned into the sandbox's init (a program
 * of its own, sandbox-init.c), the PID 1 that takes every leftover down with the task. */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "namespace.h"
#include "pool.h"
#include "sandbox-init.h"
#include "seccomp-filter.h"
#include "strutil.h"

/* The host's system directories, seen read-only. /etc comes with /etc/tern masked. */
static const char *const system_dirs[] = { "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "opt" };
/* Where a pre-made sandbox built without a template keeps the tasks' directory until its job. */
#define JOB_BASE "/dev/.tasks"
static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom" };

static int plan_add(SandboxPlan *p, SandboxMountKind kind, const char *src, const char *dst) {
        if (p->n_mounts >= SANDBOX_MOUNTS_MAX)
                return -E2BIG;
        while (*dst == '/')
                dst++;
        SandboxMount *m = &p->mounts[p->n_mounts];
        m->kind = kind;
        m->src = strdup(src);
        m->dst = strdup(dst);
        if (!m->src || !m->dst) {
                free(m->src);
                free(m->dst);
                return -ENOMEM;
        }
        p->n_mounts++;
        return 0;
}

/* A path given by configuration: absolute, no "..", no empty or "." components. */
static bool path_is_normal(const char *s) {
        if (!s || s[0] != '/')
                return false;
        _cleanup_strv_free_ char **parts = NULL;
        if (strv_split(s, "/", &parts) < 0)
                return false;
        for (char **i = parts; *i; i++)
                if (streq(*i, "..") || streq(*i, "."))
                        return false;
        return true;
}

/* dir is path or one of its parent directories. */
static bool path_is_ancestor(const char *dir, const char *path) {
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/')
                n--;
        return strncmp(dir, path, n) == 0 && (path[n] == 0 || path[n] == '/');
}

/* A bind's INSIDE path below one of the host's system directories, which the sandbox shows read-only
 * at the same path: its mount point must be there already (nothing may be made in the host's tree),
 * and not through a symlink (mount points are resolved without following any). */
static int check_mount_point(const SandboxPlan *p, const char *spec, const char *dst, char *err, size_t err_size) {
        for (size_t i = 0; i < p->n_mounts; i++) {
                const SandboxMount *m = &p->mounts[i];
                if ((m->kind != SANDBOX_MOUNT_RO && m->kind != SANDBOX_MOUNT_SYMLINK) || !path_is_ancestor(m->dst, dst + 1))
                        continue;
                if (m->kind == SANDBOX_MOUNT_SYMLINK)
                        return snprintf(err, err_size, "bind '%s': /%s is a symlink (to %s) inside: name the directory it leads to",
                                        spec, m->dst, m->src),
                               -EINVAL;
                struct stat st;
                if (!streq(m->dst, dst + 1) && stat(dst, &st) < 0)
                        return snprintf(err, err_size,
                                        "bind '%s': %s does not exist on the host, and /%s is the host's, read-only, inside "
                                        "(create %s on the host, or choose a path elsewhere, such as /srv/...)",
                                        spec, dst, m->dst, dst),
                               -EINVAL;
        }
        return 0;
}

static int plan_add_binds(SandboxPlan *p, char *const *l, SandboxMountKind kind, char *err, size_t err_size) {
        size_t n_system = p->n_mounts; /* (the system directories, added first) */
        for (char *const *i = l; i && *i; i++) {
                _cleanup_free_ char *src = strdup(*i);
                if (!src)
                        return -ENOMEM;
                char *colon = strchr(src, ':');
                const char *dst = src;
                if (colon) {
                        *colon = 0;
                        dst = colon + 1;
                }
                if (!path_is_normal(src) || !path_is_normal(dst) || streq(dst, "/"))
                        return snprintf(err, err_size, "bind '%s' must be an absolute path (or HOST:INSIDE)", *i),
                               -EINVAL;
                size_t n = p->n_mounts;
                p->n_mounts = n_system;
                int r = check_mount_point(p, *i, dst, err, err_size);
                p->n_mounts = n;
                if (r < 0)
                        return r;
                r = plan_add(p, kind, src, dst);
                if (r < 0)
                        return r;
        }
        return 0;
}

int sandbox_plan_init(SandboxPlan *p, const SandboxOptions *o, const char *cwd, char *err, size_t err_size) {
        int r;

        *p = (SandboxPlan) { .template_fd = -EBADF, .init_fd = -EBADF };
        p->clone_flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS;
        /* Without a user namespace the parent makes the network namespace while the child builds
         * its root (creating one takes as long); in one, it must be the child's own. */
        if (!o->network && o->user_namespace)
                p->clone_flags |= CLONE_NEWNET;
        p->net_later = !o->network && !o->user_namespace;
        p->userns = o->user_namespace;
        p->userns_root = geteuid() == 0;
        if (p->userns)
                p->clone_flags |= CLONE_NEWUSER;
        uid_t uid = o->uid ?: SANDBOX_NOBODY;
        gid_t gid = o->gid ?: SANDBOX_NOBODY;
        if (p->userns) {
                /* One uid: inside 0 (the namespace's owner, who builds the mounts) is outside the
                 * task's uid when the worker is root, or the worker's own uid (all it may map). */
                p->map_uid = p->userns_root ? uid : geteuid();
                p->map_gid = p->userns_root ? gid : getegid();
                p->uid = 0;
                p->gid = 0;
        } else {
                p->uid = uid;
                p->gid = gid;
        }
        p->nofile = o->nofile ?: 1024;
        p->fsize = o->fsize;
        if (cwd && (!path_is_normal(cwd) || streq(cwd, "/")))
                return snprintf(err, err_size, "working directory '%s' must be an absolute path below /", cwd), -EINVAL;

        /* The private /tmp first: a working directory below /tmp is then made inside it. */
        for (size_t i = 0; i < ELEMENTSOF(system_dirs); i++) {
                char host[64], target[PATH_MAX];
                struct stat st;
                snprintf(host, sizeof host, "/%s", system_dirs[i]);
                if (lstat(host, &st) < 0)
                        continue;
                if (S_ISLNK(st.st_mode)) {
                        ssize_t n = readlink(host, target, sizeof target - 1);
                        if (n <= 0)
                                continue;
                        target[n] = 0;
                        r = plan_add(p, SANDBOX_MOUNT_SYMLINK, target, host);
                } else if (S_ISDIR(st.st_mode))
                        r = plan_add(p, SANDBOX_MOUNT_RO, host, host);
                else
                        continue;
                if (r < 0)
                        return r;
        }
        if ((r = plan_add_binds(p, o->ro_binds, SANDBOX_MOUNT_RO, err, err_size)) < 0 ||
            (r = plan_add_binds(p, o->rw_binds, SANDBOX_MOUNT_RW, err, err_size)) < 0)
                return r;
        if (cwd) {
                if ((r = plan_add(p, SANDBOX_MOUNT_RW, cwd, cwd)) < 0)
                        return r;
                p->cwd = strdup(cwd);
                if (!p->cwd)
                        return -ENOMEM;
        }
        if ((r = plan_add(p, SANDBOX_MOUNT_HIDE, "/etc/tern", "/etc/tern")) < 0)
                return r;
        for (char *const *h = o->hidden; h && *h; h++) {
                if (!path_is_normal(*h))
                        return snprintf(err, err_size, "hidden path '%s' must be absolute", *h), -EINVAL;
                /* The working directory's parents are made empty in the new root (the worker's
                 * state dir usually is one): masking them would hide the working directory too. */
                if (cwd && path_is_ancestor(*h, cwd))
                        continue;
                if ((r = plan_add(p, SANDBOX_MOUNT_HIDE, *h, *h)) < 0)
                        return r;
        }
        /* A root worker's pool keeps the read-only part of the root ready made: a task copies it
         * instead of copying the host's mounts, building its own and detaching the host's. */
        if (o->pool && !p->userns && p->userns_root) {
                p->template_fd = sandbox_pool_template(o->pool, p);
                if (p->template_fd >= 0)
                        p->clone_flags &= ~(unsigned long) CLONE_NEWNS;
        }
        if (o->pool)
                p->filter = *sandbox_pool_filter(o->pool);
        else {
                r = sandbox_seccomp_build(&p->filter);
                if (r < 0)
                        return snprintf(err, err_size, "cannot build the seccomp filter: %s", strerror(-r)), r;
                p->own_filter = true;
        }
        p->nocaps = cap_init();
        if (!p->nocaps)
                return -ENOMEM;
        /* What the PID 1 becomes once the task runs (process-wide, not the plan's to close). */
        p->init_fd = sandbox_init_fd();
        if (p->init_fd < 0)
                return snprintf(err, err_size, "cannot prepare the sandbox's init: %s", strerror(-p->init_fd)),
                       p->init_fd;
        return 0;
}

int sandbox_options_check(const SandboxOptions *o, char *err, size_t err_size) {
        SandboxOptions copy = *o;
        SandboxPlan p;

        copy.pool = NULL; /* (no template for this plan) */
        int r = sandbox_plan_init(&p, &copy, NULL, err, err_size);
        sandbox_plan_done(&p);
        if (r < 0)
                return r;
        char *const *const lists[] = { o->ro_binds, o->rw_binds };
        for (size_t k = 0; k < ELEMENTSOF(lists); k++)
                for (char *const *i = lists[k]; i && *i; i++) {
                        char src[PATH_MAX];
                        struct stat st;
                        snprintf(src, sizeof src, "%.*s", (int) strcspn(*i, ":"), *i);
                        if (stat(src, &st) < 0)
                                return snprintf(err, err_size, "bind '%s': %s: %s", *i, src, strerror(errno)), -EINVAL;
                }
        return 0;
}

void sandbox_plan_done(SandboxPlan *p) {
        for (size_t i = 0; i < p->n_mounts; i++) {
                free(p->mounts[i].src);
                free(p->mounts[i].dst);
        }
        p->n_mounts = 0;
        free(p->cwd);
        p->cwd = NULL;
        if (p->own_filter)
                sandbox_seccomp_free(&p->filter);
        p->own_filter = false;
        if (p->nocaps)
                cap_free(p->nocaps);
        p->nocaps = NULL;
}

/* clone3's arguments (linux/sched.h's struct clone_args, which cannot be included with sched.h). */
struct sandbox_clone_args {
        uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
                cgroup;
};
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

pid_t sandbox_clone_flags(unsigned long flags, int cgroup_fd, bool *ret_into) {
        *ret_into = false;
        if (cgroup_fd >= 0) {
                struct sandbox_clone_args a = {
                        .flags = (flags & ~(unsigned long) CSIGNAL) | CLONE_INTO_CGROUP,
                        .exit_signal = flags & CSIGNAL,
                        .cgroup = (uint64_t) cgroup_fd,
                };
                pid_t pid = (pid_t) syscall(SYS_clone3, &a, sizeof a);
                if (pid >= 0) {
                        *ret_into = pid > 0;
                        return pid;
                }
                /* A kernel before 5.7 (no clone3 or no cgroup in it): clone, and the child joins. */
        }
        /* A raw clone with no stack behaves as fork; glibc's clone() wrapper would need one. */
        return (pid_t) syscall(SYS_clone, flags, NULL, NULL, NULL, 0);
}

pid_t sandbox_clone(const SandboxPlan *p, int cgroup_fd, bool *ret_into) {
        return sandbox_clone_flags(p->clone_flags | SIGCHLD, cgroup_fd, ret_into);
}

static int write_at(pid_t pid, const char *file, const char *content) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/%s", (int) pid, file);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        size_t n = strlen(content);
        if (write(fd, content, n) != (ssize_t) n)
                return -errno;
        return 0;
}

int sandbox_write_id_maps(const SandboxPlan *p, pid_t pid) {
        char m[64];
        int r;

        if (!p->userns)
                return 0;
        /* Without privileges, a gid map needs setgroups denied first (the kernel's rule). */
        if (!p->userns_root && (r = write_at(pid, "setgroups", "deny")) < 0)
                return r;
        snprintf(m, sizeof m, "0 %u 1\n", (unsigned) p->map_uid);
        if ((r = write_at(pid, "uid_map", m)) < 0)
                return r;
        snprintf(m, sizeof m, "0 %u 1\n", (unsigned) p->map_gid);
        return write_at(pid, "gid_map", m);
}

typedef struct ChownCtx {
        uid_t uid;
        gid_t gid;
        dev_t dev; /* the working directory's file system: nothing mounted below it is the task's */
} ChownCtx;

/* Walked with fds, never through a symlink the previous run of a task may have planted. */
static int chown_tree(int dirfd, const ChownCtx *c, unsigned depth) {
        if (depth > 64)
                return -ELOOP;
        if (fchown(dirfd, c->uid, c->gid) < 0)
                return -errno;
        int dup_fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        if (dup_fd < 0)
                return -errno;
        DIR *d = fdopendir(dup_fd);
        if (!d) {
                close(dup_fd);
                return -errno;
        }
        int r = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (de->d_type == DT_DIR) {
                        _cleanup_close_ int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        struct stat st;
                        if (sub >= 0 && fstat(sub, &st) >= 0 && st.st_dev != c->dev)
                                continue;
                        if (sub < 0 || (r = chown_tree(sub, c, depth + 1)) < 0) {
                                r = r < 0 ? r : -errno;
                                break;
                        }
                } else if (fchownat(dirfd, de->d_name, c->uid, c->gid, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        break;
                }
        }
        closedir(d);
        return r;
}

int sandbox_chown_workdir(const SandboxPlan *p, const char *dir) {
        if (geteuid() != 0)
                return 0; /* the task runs as the worker's own uid (user namespace) */
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        /* A shared directory (/tmp, /var/tmp: the sticky bit) is nobody's to give away, nor is the
         * root: every file in it would become the task's. */
        if ((st.st_mode & S_ISVTX) || streq(dir, "/"))
                return -EPERM;
        ChownCtx c = { p->userns ? p->map_uid : p->uid, p->userns ? p->map_gid : p->gid, st.st_dev };
        return chown_tree(fd, &c, 0);
}

int sandbox_send_go(int sock, char c, const int *fds, size_t n_fds) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * SANDBOX_GO_FDS_MAX)];
        } control = {};
        struct iovec iov = { .iov_base = &c, .iov_len = 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (n_fds > SANDBOX_GO_FDS_MAX)
                return -E2BIG;
        if (n_fds > 0) {
                mh.msg_control = control.buf;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
        }
        /* A child that failed meanwhile has closed its end: EPIPE rather than SIGPIPE. */
        return sendmsg(sock, &mh, MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

/* The directory cwd is in (a worker's tasks' directories are siblings): into buf, false if none. */
static bool job_base_of(const char *cwd, char *buf, size_t size) {
        const char *slash = strrchr(cwd, '/');
        if (!slash || slash == cwd || (size_t) (slash - cwd) >= size)
                return false;
        snprintf(buf, size, "%.*s", (int) (slash - cwd), cwd);
        return true;
}

char *sandbox_plan_key(const SandboxPlan *p, const SandboxOptions *o) {
        _cleanup_free_ char *mounts = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&mounts, &size);
        if (!f)
                return NULL;
        for (size_t i = 0; i < p->n_mounts; i++) {
                const SandboxMount *m = &p->mounts[i];
                if (!(m->kind == SANDBOX_MOUNT_RW && p->cwd && streq(m->src, p->cwd)))
                        fprintf(f, "%d %s %s\n", (int) m->kind, m->src, m->dst);
        }
        /* Without a template, the PID 1 mounts the working directory from the directory it is in:
         * none (a directory right below /) means none made ahead. */
        char base[PATH_MAX];
        bool none = false;
        if (p->template_fd < 0 && p->cwd) {
                if (job_base_of(p->cwd, base, sizeof base))
                        fprintf(f, "job base %s\n", base);
                else
                        none = true;
        } else if (!p->cwd)
                fputs("no working directory\n", f);
        if (fclose(f) != 0 || none)
                return NULL;
        char *k = NULL;
        if (asprintf(&k, "%lx %u:%u %u:%u %d%d %" PRIu64 " %" PRIu64 " %d %" PRIu64 " %" PRIu64 " %u %s\n%s",
                     p->clone_flags, (unsigned) p->uid, (unsigned) p->gid, (unsigned) p->map_uid, (unsigned) p->map_gid,
                     p->userns, p->net_later, p->nofile, p->fsize, (int) o->mode, o->memory_max, o->pids_max,
                     o->cpu_percent, o->cgroup_name ?: "", mounts ?: "") < 0)
                return NULL;
        return k;
}

void sandbox_plan_without_cwd(const SandboxPlan *p, SandboxPlan *ret, char *base, size_t base_size) {
        *ret = *p;
        ret->n_mounts = 0;
        for (size_t i = 0; i < p->n_mounts; i++)
                if (!(p->mounts[i].kind == SANDBOX_MOUNT_RW && p->cwd && streq(p->mounts[i].src, p->cwd)))
                        ret->mounts[ret->n_mounts++] = p->mounts[i];
        ret->cwd = NULL;
        ret->job_base = NULL;
        if (p->template_fd < 0 && p->cwd && job_base_of(p->cwd, base, base_size))
                ret->job_base = base;
        ret->own_filter = false;
        ret->nocaps = NULL;
        ret->marks = NULL;
}

int sandbox_open_workdir(const char *cwd) {
        int tree = (int) open_tree(AT_FDCWD, cwd, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
        if (tree < 0)
                return -errno;
        struct mount_attr a = { .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
        if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) < 0) {
                int e = -errno;
                close(tree);
                return e;
        }
        return tree;
}

/* ---- everything below runs in the cloned child: system calls only, no allocation ---- */

int sandbox_recv_go(int sock, char *ret_c, int *fds, size_t *n_fds) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * SANDBOX_GO_FDS_MAX)];
        } control = {};
        struct iovec iov = { .iov_base = ret_c, .iov_len = 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                             .msg_controllen = sizeof control.buf };
        ssize_t n;

        do
                n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n != 1)
                return n < 0 ? -errno : -EPIPE;
        *n_fds = 0;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        memcpy(fds + *n_fds, CMSG_DATA(cm), sizeof(int) * k);
                        *n_fds += k;
                }
        return (mh.msg_flags & MSG_CTRUNC) ? -EMSGSIZE : 0;
}

_Noreturn static void child_fail(const SandboxChildFds *fds, int err, const char *what) {
        SandboxChildError e = { .err = err };
        snprintf(e.what, sizeof e.what, "%s", what);
        (void) !write(fds->error_w, &e, sizeof e);
        _exit(127);
}

static void mark(const SandboxPlan *p, int m) {
        if (p->marks)
                p->marks[m] = now_monotonic();
}

#define CHECK(expr, what)                                                  \
        do {                                                               \
                if ((expr) < 0)                                            \
                        child_fail(fds, errno, what);                      \
        } while (0)

static int mkdir_p_at(int root, const char *rel, mode_t mode) {
        char buf[PATH_MAX];
        if (snprintf(buf, sizeof buf, "%s", rel) >= (int) sizeof buf)
                return -ENAMETOOLONG;
        for (char *s = buf; *s; s++)
                if (*s == '/') {
                        *s = 0;
                        if (buf[0] && mkdirat(root, buf, mode) < 0 && errno != EEXIST)
                                return -errno;
                        *s = '/';
                }
        if (mkdirat(root, buf, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int new_tmpfs(const char *mode, const char *size, unsigned attrs) {
        int fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
        if (fs < 0)
                return -errno;
        if (fsconfig(fs, FSCONFIG_SET_STRING, "mode", mode, 0) < 0 ||
            (size && fsconfig(fs, FSCONFIG_SET_STRING, "size", size, 0) < 0) ||
            fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
                int e = errno;
                close(fs);
                return -e;
        }
        int m = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
        int e = errno;
        close(fs);
        return m < 0 ? -e : m;
}

/* A proc instance of our PID namespace. Mounted before the host's tree is detached: the kernel
 * lets a user namespace mount proc only while a fully visible proc is in its mount namespace.
 * hidepid: the task sees only the processes it could trace, its own; not its PID 1 (privileged). */
static int new_proc(void) {
        int fs = fsopen("proc", FSOPEN_CLOEXEC);
        if (fs < 0)
                return -errno;
        /* "invisible" since Linux 5.8; "2" (the same) before. */
        if (fsconfig(fs, FSCONFIG_SET_STRING, "hidepid", "invisible", 0) < 0)
                (void) fsconfig(fs, FSCONFIG_SET_STRING, "hidepid", "2", 0);
        if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
                int e = errno;
                close(fs);
                return -e;
        }
        int m = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
        int e = errno;
        close(fs);
        return m < 0 ? -e : m;
}

static int set_attrs(int tree, unsigned attrs) {
        struct mount_attr a = { .attr_set = attrs };
        return mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a);
}

/* Open dst below root without following any symlink or leaving the root. */
static int open_beneath(int root, const char *dst, int flags) {
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC),
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        int fd = (int) syscall(SYS_openat2, root, dst, &how, sizeof how);
        return fd < 0 ? -errno : fd;
}

/* Detached copies of every host path, taken with the worker's own identity (before a user
 * namespace's id switch, which could lose access to the worker's directories). */
typedef enum BuildMode {
        BUILD_FULL,     /* the whole root, for one task */
        BUILD_TEMPLATE, /* what every task shares: no /tmp, /dev/shm, /proc, nor binds below them or writable */
        BUILD_TASK,     /* a task's own part, in a copy of the template: only the binds the template lacks */
} BuildMode;

/* Below what each task gets fresh (a tmpfs of its own over the template's): a bind there is the
 * task's to make, after that tmpfs, or the tmpfs would cover it. */
static bool in_fresh_dir(const char *dst) {
        return path_is_ancestor("tmp", dst) || path_is_ancestor("dev/shm", dst);
}

static void clone_trees(const SandboxPlan *p, const SandboxChildFds *fds, BuildMode mode, int *trees, int *devs) {
        char what[160];

        /* Nothing we mount may propagate back to the host. (A task copying the template is still in
         * the host's namespace here: it mounts nothing before it has left it.) */
        if (mode != BUILD_TASK)
                CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "make mounts private");

        for (size_t i = 0; i < p->n_mounts; i++) {
                const SandboxMount *m = &p->mounts[i];
                trees[i] = -1;
                if (m->kind != SANDBOX_MOUNT_RO && m->kind != SANDBOX_MOUNT_RW)
                        continue;
                bool task_own = m->kind == SANDBOX_MOUNT_RW || in_fresh_dir(m->dst);
                if ((mode == BUILD_TEMPLATE && task_own) || (mode == BUILD_TASK && !task_own))
                        continue;
                trees[i] = (int) open_tree(AT_FDCWD, m->src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
                snprintf(what, sizeof what, "bind %s", m->src);
                CHECK(trees[i], what);
                unsigned attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                 (m->kind == SANDBOX_MOUNT_RO ? MOUNT_ATTR_RDONLY : 0);
                CHECK(set_attrs(trees[i], attrs), what);
        }
        /* A pre-made sandbox without a template: the directory its job's working directory will
         * be in, for the PID 1 to clone that from (warm_task). */
        trees[p->n_mounts] = -1;
        if (mode == BUILD_FULL && p->job && p->job_base) {
                trees[p->n_mounts] = (int) open_tree(AT_FDCWD, p->job_base, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
                CHECK(trees[p->n_mounts], "bind the tasks' directory");
                CHECK(set_attrs(trees[p->n_mounts], MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV), "bind the tasks' directory");
        }
        for (size_t i = 0; mode != BUILD_TASK && i < ELEMENTSOF(dev_nodes); i++) {
                snprintf(what, sizeof what, "/dev/%s", dev_nodes[i]);
                devs[i] = (int) open_tree(AT_FDCWD, what, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
                CHECK(devs[i], what);
                CHECK(set_attrs(devs[i], MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC), what);
        }
}

/* Mount a copied host tree at m->dst below root, making the mount point (which below a read-only
 * directory must exist). Consumes tree. */
static void attach_tree(const SandboxChildFds *fds, int root, const SandboxMount *m, int tree) {
        char what[160];
        int r;

        snprintf(what, sizeof what, "create mount point /%s (below a read-only directory, it must exist)", m->dst);
        struct stat st;
        CHECK(fstat(tree, &st), what);
        if (S_ISDIR(st.st_mode))
                r = mkdir_p_at(root, m->dst, 0755);
        else {
                /* A file: its directory, then an empty file to mount over. */
                char parent[PATH_MAX];
                snprintf(parent, sizeof parent, "%s", m->dst);
                char *slash = strrchr(parent, '/');
                r = 0;
                if (slash) {
                        *slash = 0;
                        r = mkdir_p_at(root, parent, 0755);
                }
                int f = r < 0 ? r : openat(root, m->dst, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (f >= 0)
                        close(f);
                r = f < 0 ? -errno : 0;
        }
        if (r < 0)
                child_fail(fds, -r, what);
        int target = open_beneath(root, m->dst, O_PATH);
        if (target < 0)
                child_fail(fds, -target, what);
        snprintf(what, sizeof what, "bind /%s", m->dst);
        CHECK(move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH), what);
        close(target);
        close(tree);
}

/* Mask m->dst below root, if it is there, with an empty read-only directory or /dev/null. In a
 * copy of the template, a path already masked (a mount root) is left as it is: the re-check
 * catches what appeared since the template was made, or under a task's own binds. */
static void hide_path(const SandboxChildFds *fds, int root, const SandboxMount *m, bool skip_masked) {
        char what[160];
        int target = open_beneath(root, m->dst, O_PATH | O_NOFOLLOW);
        if (target == -ENOENT || target == -ELOOP || target == -EXDEV)
                return; /* not there, or a symlink (which leads nowhere bound) */
        snprintf(what, sizeof what, "hide /%s", m->dst);
        if (target < 0)
                child_fail(fds, -target, what);
        struct statx sx;
        CHECK(statx(target, "", AT_EMPTY_PATH, STATX_TYPE, &sx), what);
        if (skip_masked && (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
            (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT)) {
                close(target);
                return;
        }
        int mask;
        if (S_ISDIR(sx.stx_mode))
                mask = new_tmpfs("0555", "4k", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
        else {
                mask = (int) open_tree(root, "dev/null", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
                if (mask < 0)
                        mask = -errno;
        }
        if (mask < 0)
                child_fail(fds, -mask, what);
        CHECK(move_mount(mask, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH), what);
        close(mask);
        close(target);
}

/* Empty directories in the template's root named as the host's top-level ones, so that a task's
 * writable binds below them (the working directory under /var, /srv, /home...) have a place for
 * the task's own tmpfs (task_mounts). getdents64, not opendir: no allocation here. */
static void top_level_dirs(const SandboxChildFds *fds, int root) {
        char buf[4096];
        int host = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(host, "list /");
        for (;;) {
                long n = syscall(SYS_getdents64, host, buf, sizeof buf);
                CHECK(n, "list /");
                if (n == 0)
                        break;
                for (long off = 0; off < n;) {
                        struct dirent64 *de = (struct dirent64 *) (buf + off);
                        off += de->d_reclen;
                        if (de->d_type != DT_DIR || de->d_name[0] == '.')
                                continue;
                        if (mkdirat(root, de->d_name, 0755) < 0 && errno != EEXIST)
                                child_fail(fds, errno, "mkdir a top-level directory");
                }
        }
        close(host);
}

/* The worker's umask, for the task: the PID 1 makes its mount points and directories with umask 0
 * (their modes as written here, whatever the worker's: a umask of 027 would lock nobody out). */
static mode_t task_umask = 022;

/* What a pre-made sandbox's PID 1 leaves writable until its job's working directory is in: the
 * tmpfs that hold writable binds' mount points in a copy of the template, or (without template) the
 * root itself. Nothing but our own code runs in the sandbox until then. */
static struct {
        int covered[SANDBOX_MOUNTS_MAX + 1];
        size_t n_covered;
} held;

/* A writable bind in a copy of the template. Where its top-level directory is the template's (shared,
 * read-only) root, the task gets its own tmpfs there to make the mount point in: added to covered,
 * to be made read-only once every bind is in (seal_covered). */
static void attach_rw(const SandboxChildFds *fds, int root, uint64_t root_mnt, const SandboxMount *m, int tree,
                      int *covered, size_t *n_covered) {
        char top[NAME_MAX + 1], what[160];
        size_t k = strcspn(m->dst, "/");
        snprintf(top, sizeof top, "%.*s", (int) MIN(k, (size_t) NAME_MAX), m->dst);
        struct statx tx;
        snprintf(what, sizeof what, "create mount point /%s", m->dst);
        if (m->dst[k] == '/' && statx(root, top, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID | STATX_TYPE, &tx) >= 0 &&
            S_ISDIR(tx.stx_mode) && tx.stx_mnt_id == root_mnt) {
                int t = new_tmpfs("0755", "64k", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
                if (t < 0)
                        child_fail(fds, -t, what);
                CHECK(move_mount(t, "", root, top, MOVE_MOUNT_F_EMPTY_PATH), what);
                close(t);
                int c = open_beneath(root, top, O_PATH | O_DIRECTORY);
                if (c < 0)
                        child_fail(fds, -c, what);
                covered[(*n_covered)++] = c;
        }
        attach_tree(fds, root, m, tree);
}

/* Those tmpfs only hold mount points: read-only, as the root is (not the binds below). */
static void seal_covered(const SandboxChildFds *fds, int *covered, size_t n) {
        for (size_t i = 0; i < n; i++) {
                struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY };
                CHECK(mount_setattr(covered[i], "", AT_EMPTY_PATH, &a, sizeof a), "make a mount point tmpfs read-only");
                close(covered[i]);
        }
}

/* In a copy of the template: what is the task's own. A fresh /tmp, /dev/shm and /proc (of our PID
 * namespace), the read-only binds below the first two, and the writable binds; where a bind's top-level directory is the template's (shared,
 * read-only) root, the task gets its own tmpfs there to make the mount point in. */
static void task_mounts(const SandboxPlan *p, const SandboxChildFds *fds, const int *trees) {
        static const struct {
                const char *dst, *mode;
                unsigned attrs;
        } fresh[] = {
                { "tmp", "1777", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV },
                { "dev/shm", "1777", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC },
        };
        char what[160];
        int covered[SANDBOX_MOUNTS_MAX];
        size_t n_covered = 0;

        int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        CHECK(root, "open the root");
        struct statx rx;
        CHECK(statx(root, "", AT_EMPTY_PATH, STATX_MNT_ID, &rx), "the root's mount");
        for (size_t i = 0; i < ELEMENTSOF(fresh); i++) {
                int t = new_tmpfs(fresh[i].mode, NULL, fresh[i].attrs);
                snprintf(what, sizeof what, "mount /%s", fresh[i].dst);
                if (t < 0)
                        child_fail(fds, -t, what);
                CHECK(move_mount(t, "", root, fresh[i].dst, MOVE_MOUNT_F_EMPTY_PATH), what);
                close(t);
        }
        int proc = new_proc();
        if (proc < 0)
                child_fail(fds, -proc, "mount /proc");
        CHECK(move_mount(proc, "", root, "proc", MOVE_MOUNT_F_EMPTY_PATH), "mount /proc");
        close(proc);

        for (size_t i = 0; i < p->n_mounts; i++)
                if (p->mounts[i].kind == SANDBOX_MOUNT_RW && trees[i] >= 0)
                        attach_rw(fds, root, rx.stx_mnt_id, &p->mounts[i], trees[i], covered, &n_covered);
                else if (trees[i] >= 0)
                        attach_tree(fds, root, &p->mounts[i], trees[i]); /* read-only, in the fresh /tmp */
        for (size_t i = 0; i < p->n_mounts; i++)
                if (p->mounts[i].kind == SANDBOX_MOUNT_HIDE)
                        hide_path(fds, root, &p->mounts[i], true);
        if (p->job) {
                /* Made ahead: the job's working directory may need a mount point in one of them. */
                memcpy(held.covered, covered, sizeof(int) * n_covered);
                held.n_covered = n_covered;
        } else
                seal_covered(fds, covered, n_covered);
        CHECK(chdir("/"), "chdir /");
        close(root);
        mark(p, SANDBOX_MARK_MOUNTS);
        mark(p, SANDBOX_MARK_PIVOT);
}

static void build_root(const SandboxPlan *p, const SandboxChildFds *fds, BuildMode mode, const int *trees,
                       const int *devs);

static void make_root_read_only(const SandboxChildFds *fds) {
        CHECK(mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL),
              "make the root read-only");
}

int sandbox_template_new(const SandboxPlan *p) {
        _cleanup_close_ int ep_r = -EBADF, ep_w = -EBADF, ready_r = -EBADF, ready_w = -EBADF, hold_r = -EBADF,
                            hold_w = -EBADF;
        int q[2];

        if (pipe2(q, O_CLOEXEC) < 0)
                return -errno;
        ep_r = q[0], ep_w = q[1];
        if (pipe2(q, O_CLOEXEC) < 0)
                return -errno;
        ready_r = q[0], ready_w = q[1];
        if (pipe2(q, O_CLOEXEC) < 0)
                return -errno;
        hold_r = q[0], hold_w = q[1];

        pid_t pid = (pid_t) syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, NULL, NULL, NULL, 0);
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                /* Builds the template in its own mount namespace and stays until the parent holds it. */
                SandboxChildFds f = { -1, -1, ep_w, -1, -1 };
                const SandboxChildFds *fds = &f;
                int trees[SANDBOX_MOUNTS_MAX + 1], devs[ELEMENTSOF(dev_nodes)];
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                umask(0); /* (the modes as written: see task_umask) */
                clone_trees(p, fds, BUILD_TEMPLATE, trees, devs);
                build_root(p, fds, BUILD_TEMPLATE, trees, devs);
                char c = 'r';
                if (write(ready_w, &c, 1) != 1)
                        _exit(1);
                close(hold_w);
                (void) !read(hold_r, &c, 1);
                _exit(0);
        }
        ready_w = safe_close(ready_w);
        ep_w = safe_close(ep_w);
        hold_r = safe_close(hold_r);
        char c;
        int r, ns = -EBADF;
        if (read(ready_r, &c, 1) == 1) {
                char path[64];
                snprintf(path, sizeof path, "/proc/%d/ns/mnt", (int) pid);
                ns = open(path, O_RDONLY | O_CLOEXEC);
                r = ns < 0 ? -errno : 0;
        } else {
                SandboxChildError e = {};
                r = read(ep_r, &e, sizeof e) == (ssize_t) sizeof e ? -e.err : -EIO;
        }
        hold_w = safe_close(hold_w);
        (void) waitpid(pid, NULL, 0);
        return r < 0 ? r : ns;
}

static void build_root(const SandboxPlan *p, const SandboxChildFds *fds, BuildMode mode, const int *trees,
                       const int *devs) {
        char what[160];
        bool full = mode == BUILD_FULL;

        int root = new_tmpfs("0755", "1m", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
        if (root < 0)
                child_fail(fds, -root, "root tmpfs");
        CHECK(move_mount(root, "", AT_FDCWD, "/tmp", MOVE_MOUNT_F_EMPTY_PATH), "attach the new root");

        /* The template has the mount points of what each task gets fresh: /tmp, /dev/shm, /proc. */
        CHECK(mkdirat(root, "tmp", 0755), "mkdir /tmp");
        if (full) {
                int t = new_tmpfs("1777", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
                if (t < 0)
                        child_fail(fds, -t, "tmpfs for /tmp");
                CHECK(move_mount(t, "", root, "tmp", MOVE_MOUNT_F_EMPTY_PATH), "mount /tmp");
                close(t);
        }

        /* /dev: the harmless nodes, no tty, no disks, a private /dev/shm. */
        int dev = new_tmpfs("0755", "64k", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
        if (dev < 0)
                child_fail(fds, -dev, "tmpfs for /dev");
        for (size_t i = 0; i < ELEMENTSOF(dev_nodes); i++) {
                int f = openat(dev, dev_nodes[i], O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
                CHECK(f, "create a /dev node");
                close(f);
                CHECK(move_mount(devs[i], "", dev, dev_nodes[i], MOVE_MOUNT_F_EMPTY_PATH), "mount a /dev node");
                close(devs[i]);
        }
        CHECK(symlinkat("/proc/self/fd", dev, "fd"), "/dev/fd");
        CHECK(symlinkat("/proc/self/fd/0", dev, "stdin"), "/dev/stdin");
        CHECK(symlinkat("/proc/self/fd/1", dev, "stdout"), "/dev/stdout");
        CHECK(symlinkat("/proc/self/fd/2", dev, "stderr"), "/dev/stderr");
        CHECK(mkdirat(dev, "shm", 01777), "mkdir /dev/shm");
        if (full) {
                int shm = new_tmpfs("1777", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
                if (shm < 0)
                        child_fail(fds, -shm, "tmpfs for /dev/shm");
                CHECK(move_mount(shm, "", dev, "shm", MOVE_MOUNT_F_EMPTY_PATH), "mount /dev/shm");
                close(shm);
        }
        CHECK(mkdirat(root, "dev", 0755), "mkdir /dev");
        CHECK(move_mount(dev, "", root, "dev", MOVE_MOUNT_F_EMPTY_PATH), "mount /dev");
        close(dev);
        CHECK(mkdirat(root, "proc", 0555), "mkdir /proc");
        if (full) {
                int proc = new_proc();
                if (proc < 0)
                        child_fail(fds, -proc, "mount /proc");
                CHECK(move_mount(proc, "", root, "proc", MOVE_MOUNT_F_EMPTY_PATH), "mount /proc");
                close(proc);
        }

        for (size_t i = 0; i < p->n_mounts; i++) {
                const SandboxMount *m = &p->mounts[i];
                switch (m->kind) {
                case SANDBOX_MOUNT_SYMLINK:
                        snprintf(what, sizeof what, "symlink /%s", m->dst);
                        CHECK(symlinkat(m->src, root, m->dst), what);
                        break;
                case SANDBOX_MOUNT_RO:
                case SANDBOX_MOUNT_RW:
                        if (trees[i] >= 0)
                                attach_tree(fds, root, m, trees[i]);
                        break;
                case SANDBOX_MOUNT_HIDE:
                        hide_path(fds, root, m, false);
                        break;
                }
        }

        if (mode == BUILD_FULL && trees[p->n_mounts] >= 0) {
                /* Kept where only the PID 1 looks, until its job (warm_task detaches it before the
                 * task may run). */
                int dir = open_beneath(root, "dev", O_PATH | O_DIRECTORY);
                if (dir < 0)
                        child_fail(fds, -dir, "open /dev");
                CHECK(mkdirat(dir, &JOB_BASE[strlen("/dev/")], 0700), "mkdir " JOB_BASE);
                CHECK(move_mount(trees[p->n_mounts], "", dir, &JOB_BASE[strlen("/dev/")], MOVE_MOUNT_F_EMPTY_PATH),
                      "mount the tasks' directory");
                close(trees[p->n_mounts]);
                close(dir);
        }
        if (mode == BUILD_TEMPLATE) {
                top_level_dirs(fds, root);
                /* And for the writable binds' top-level directories that the host lacks. */
                for (size_t i = 0; i < p->n_mounts; i++)
                        if (p->mounts[i].kind == SANDBOX_MOUNT_RW) {
                                char top[NAME_MAX + 1];
                                size_t k = strcspn(p->mounts[i].dst, "/");
                                snprintf(top, sizeof top, "%.*s", (int) MIN(k, (size_t) NAME_MAX), p->mounts[i].dst);
                                (void) mkdirat(root, top, 0755);
                        }
        }
        mark(p, SANDBOX_MARK_MOUNTS);
        /* Swap roots; the host's tree is detached and unreachable from here on. */
        CHECK(fchdir(root), "enter the new root");
        CHECK(syscall(SYS_pivot_root, ".", "."), "pivot_root");
        CHECK(umount2(".", MNT_DETACH), "detach the old root");
        CHECK(chdir("/"), "chdir /");
        close(root);
        if (!(mode == BUILD_FULL && p->job)) /* (made ahead: once the job's working directory is in) */
                make_root_read_only(fds);
        mark(p, SANDBOX_MARK_PIVOT);
}

static int loopback_up(void) {
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (s < 0)
                return -errno;
        struct ifreq ifr = {};
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
        int r = ioctl(s, SIOCGIFFLAGS, &ifr);
        if (r >= 0) {
                ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
                r = ioctl(s, SIOCSIFFLAGS, &ifr);
        }
        r = r < 0 ? -errno : 0;
        close(s);
        return r;
}

int sandbox_netns_new(void) {
        /* The calling thread enters a new namespace and comes back: only its own view changes. */
        _cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (self < 0)
                return -errno;
        if (unshare(CLONE_NEWNET) < 0)
                return -errno;
        int ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        int r = ns < 0 ? -errno : loopback_up();
        if (setns(self, CLONE_NEWNET) < 0)
                r = -errno; /* cannot happen to root; the thread would stay in the empty namespace */
        if (r < 0) {
                if (ns >= 0)
                        close(ns);
                return r;
        }
        return ns;
}

static void set_rlimit(const SandboxChildFds *fds, int res, uint64_t v, const char *what) {
        struct rlimit rl = { v, v };
        CHECK(setrlimit(res, &rl), what);
}

/* The task's identity: no capabilities, no way to regain any, an unprivileged uid, nothing inherited
 * past exec but what it is given, default signals, and the deny list. */
static void task_identity(const SandboxPlan *p, const SandboxChildFds *fds) {
        /* The bounding set can only shrink while we still hold CAP_SETPCAP, before the uid change. */
        for (cap_value_t c = 0; c < cap_max_bits(); c++)
                CHECK(cap_drop_bound(c), "drop the capability bounding set");
        CHECK(cap_set_secbits(SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
                              SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED),
              "securebits");
        if (!p->userns || p->userns_root)
                CHECK(setgroups(0, NULL), "drop supplementary groups");
        CHECK(setresgid(p->gid, p->gid, p->gid), "set the task's gid");
        CHECK(setresuid(p->uid, p->uid, p->uid), "set the task's uid");
        CHECK(cap_set_proc(p->nocaps), "drop capabilities");
        CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs");

        if (syscall(SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */) < 0)
                child_fail(fds, errno, "close inherited fds");
        sigset_t none;
        sigemptyset(&none);
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        signal(sig, SIG_DFL);
        sigprocmask(SIG_SETMASK, &none, NULL);
        CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p->filter), "load the seccomp filter");
}

/* stdin from /dev/null, stdout and stderr to the worker's pipes. */
static void task_stdio(const SandboxChildFds *fds, int out_w, int err_w) {
        int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        CHECK(null_fd, "open /dev/null");
        CHECK(dup2(null_fd, STDIN_FILENO), "stdin");
        CHECK(dup2(out_w, STDOUT_FILENO), "stdout");
        CHECK(dup2(err_w, STDERR_FILENO), "stderr");
}

/* The task: its own session, its streams and working directory, its identity, then the command. */
_Noreturn static void exec_task(const SandboxPlan *p, char *const *argv, char *const *env, const SandboxChildFds *fds) {
        CHECK(setsid(), "setsid");
        task_stdio(fds, fds->out_w, fds->err_w);
        CHECK(chdir(p->cwd ?: "/"), "enter the working directory");
        task_identity(p, fds);
        umask(task_umask);
        mark(p, SANDBOX_MARK_EXEC);
        execvpe(argv[0], argv, env);
        child_fail(fds, errno, "exec");
}

/* A pre-made sandbox's task: unprivileged and filtered already, it waits for its streams; its
 * working directory, command and environment are then in p->job. */
_Noreturn static void waiting_task(const SandboxPlan *p, const SandboxChildFds *fds, int sock) {
        int job[SANDBOX_GO_FDS_MAX];
        size_t n = 0;
        char c;

        CHECK(setsid(), "setsid");
        task_identity(p, fds);
        if (sandbox_recv_go(sock, &c, job, &n) < 0 || c != 'j' || n != 2)
                _exit(127); /* the PID 1 failed, or the sandbox was discarded */
        task_stdio(fds, job[0], job[1]);
        CHECK(chdir(p->job->cwd ?: "/"), "enter the working directory");
        umask(task_umask);
        mark(p, SANDBOX_MARK_EXEC);
        execvpe(p->job->argv[0], p->job->argv, p->job->env);
        child_fail(fds, errno, "exec");
}

/* The working directory of a pre-made sandbox's job, mounted where the task will find it: in the
 * root it built (still writable), or in a copy of the template (on a tmpfs of its own). */
static void mount_workdir(const SandboxPlan *p, const SandboxChildFds *fds, int tree) {
        if (!p->job->cwd || p->job->cwd[0] != '/')
                child_fail(fds, EINVAL, "mount the working directory");
        int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        CHECK(root, "open the root");
        SandboxMount m = { SANDBOX_MOUNT_RW, p->job->cwd, p->job->cwd + 1 };
        if (p->template_fd < 0)
                attach_tree(fds, root, &m, tree);
        else {
                struct statx rx;
                CHECK(statx(root, "", AT_EMPTY_PATH, STATX_MNT_ID, &rx), "the root's mount");
                attach_rw(fds, root, rx.stx_mnt_id, &m, tree, held.covered, &held.n_covered);
        }
        close(root);
}

static pid_t spawn_task(const SandboxPlan *p, char *const *argv, char *const *env, const SandboxChildFds *fds);

/* The task of a pre-made sandbox: forked now, it waits; the PID 1 waits for the job, mounts the
 * working directory and hands the task its streams. */
static pid_t warm_task(const SandboxPlan *p, const SandboxChildFds *fds) {
        int sv[2], job[SANDBOX_GO_FDS_MAX];
        size_t n = 0;
        char c;

        CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), "a socket to the task");
        /* A fork, not a process sharing our memory (CLONE_VM would spare copying the page tables,
         * but two processes of one address space that both run are more than the C library, a
         * sanitizer or the kernel's exit of a dying PID namespace were written for). */
        pid_t pid = (pid_t) syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, 0);
        CHECK(pid, "fork the task");
        if (pid == 0) {
                close(sv[0]);
                waiting_task(p, fds, sv[1]);
        }
        close(sv[1]);
        if (sandbox_recv_go(fds->sync_r, &c, job, &n) < 0 || c != 'j' || n < 2)
                _exit(127); /* discarded by the pool: the task dies with this namespace */
        close(fds->sync_r);
        for (int m = SANDBOX_MARK_GO; m <= SANDBOX_MARK_CGROUP; m++)
                mark(p, m);
        if (p->job_base) {
                /* Built without a template: the working directory comes from the tasks' directory
                 * kept for it, which then goes (a worker in a user namespace could not clone the
                 * directory itself). */
                int tree = -EBADF;
                size_t bl = strlen(p->job_base);
                if (p->job->cwd) {
                        char src[PATH_MAX];
                        if (strncmp(p->job->cwd, p->job_base, bl) != 0 || p->job->cwd[bl] != '/' ||
                            strchr(p->job->cwd + bl + 1, '/'))
                                child_fail(fds, EXDEV, "bind the working directory (not in the tasks' directory)");
                        snprintf(src, sizeof src, "%s%s", JOB_BASE, p->job->cwd + bl);
                        tree = sandbox_open_workdir(src);
                        if (tree < 0)
                                child_fail(fds, -tree, "bind the working directory");
                }
                CHECK(umount2(JOB_BASE, MNT_DETACH), "detach the tasks' directory");
                CHECK(rmdir(JOB_BASE), "remove " JOB_BASE);
                if (tree >= 0)
                        mount_workdir(p, fds, tree);
                if (n > 2)
                        close(job[2]);
        } else if (n > 2)
                mount_workdir(p, fds, job[2]);
        seal_covered(fds, held.covered, held.n_covered);
        if (p->template_fd < 0)
                make_root_read_only(fds);
        /* What the pool's hidden paths hold now: a directory may have appeared since this root was
         * made (or below the working directory). */
        int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        CHECK(root, "open the root");
        for (size_t i = 0; i < p->n_mounts; i++)
                if (p->mounts[i].kind == SANDBOX_MOUNT_HIDE)
                        hide_path(fds, root, &p->mounts[i], true);
        close(root);
        if (sandbox_send_go(sv[0], 'j', job, 2) < 0) {
                /* The task's process is gone (killed from outside while it waited): one made now,
                 * as a sandbox built for its task makes it. */
                (void) kill(pid, SIGKILL);
                SandboxPlan now = *p;
                now.cwd = p->job->cwd;
                SandboxChildFds f = *fds;
                f.out_w = job[0];
                f.err_w = job[1];
                pid = spawn_task(&now, p->job->argv, p->job->env, &f);
                if (pid < 0)
                        child_fail(fds, errno, "fork the task");
        }
        close(job[0]);
        close(job[1]);
        close(sv[0]);
        return pid;
}

/* vfork: the task shares our memory until it execs (we are suspended meanwhile), which spares a
 * copy of the page tables; it never returns from here, so no caller's frame is shared with it. */
__attribute__((noinline)) static pid_t spawn_task(const SandboxPlan *p, char *const *argv, char *const *env,
                                                  const SandboxChildFds *fds) {
        pid_t pid = vfork();
        if (pid == 0)
                exec_task(p, argv, env, fds);
        return pid;
}

static void forward(int sig) {
        /* Installed only so that signals from the worker reach this PID 1 (the kernel drops those
         * a namespace's init leaves at SIG_DFL) until the init has its own; blocked, they wait. */
}

/* The task runs: this process becomes the sandbox's init, a program of its own, so that the task's
 * PID 1 holds nothing of the worker (its command line, environment and memory: secrets it decoded,
 * other tasks' jobs in the pool's slots). Only the report's pipe goes along, as fd 3; the blocked
 * signals stay blocked (and pending) across the exec. Never returns: when the exec fails, this PID 1
 * fails the start (its exit takes the task down with the namespace). */
_Noreturn static void exec_init(const SandboxChildFds *fds, int init_fd, pid_t task) {
        char pid_s[16];
        char *argv[] = { (char *) SANDBOX_INIT_NAME, pid_s, NULL }, *env[] = { NULL };
        SandboxChildFds f = *fds;

        snprintf(pid_s, sizeof pid_s, "%d", (int) task);
        /* Out of the way of fd 3 first. */
        int init = fcntl(init_fd, F_DUPFD_CLOEXEC, 4);
        if (fds->error_w == 3)
                f.error_w = fcntl(3, F_DUPFD_CLOEXEC, 4);
        if (init < 0 || f.error_w < 0)
                _exit(127);
        /* Nothing of the task's streams stays open here: its pipes reach EOF once it is gone. */
        int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(null_fd, STDOUT_FILENO) < 0 ||
            dup2(null_fd, STDERR_FILENO) < 0)
                child_fail(&f, errno, "start the sandbox's init");
        if ((fds->status_w == 3 ? fcntl(3, F_SETFD, 0) : dup2(fds->status_w, 3)) < 0)
                child_fail(&f, errno, "start the sandbox's init");
        (void) syscall(SYS_close_range, 4, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
        (void) syscall(SYS_execveat, init, "", argv, env, AT_EMPTY_PATH);
        child_fail(&f, errno, "start the sandbox's init");
}

_Noreturn void sandbox_child(const SandboxPlan *p, char *const *argv, char *const *env, const SandboxChildFds *fds) {
        char c;

        /* Die with the worker's thread, and with it everything in this namespace. */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        task_umask = umask(0);
        /* With a user namespace, nothing may happen before the parent has written its id maps. */
        if (p->userns && (read(fds->sync_r, &c, 1) != 1 || c != 'g'))
                _exit(127); /* the parent went away or gave up */
        mark(p, SANDBOX_MARK_GO);
        if (setsid() < 0)
                child_fail(fds, errno, "setsid");
        int trees[SANDBOX_MOUNTS_MAX + 1], devs[ELEMENTSOF(dev_nodes)];
        BuildMode mode = p->template_fd >= 0 ? BUILD_TASK : BUILD_FULL;
        clone_trees(p, fds, mode, trees, devs);
        mark(p, SANDBOX_MARK_TREES);
        if (mode == BUILD_TASK) {
                /* A private copy of the template: its root is already ours, the host's tree is not in
                 * it (so there is nothing to detach). */
                CHECK(setns(p->template_fd, CLONE_NEWNS), "enter the template mount namespace");
                CHECK(unshare(CLONE_NEWNS), "copy the template mount namespace");
        }
        if (p->userns) {
                /* Become the namespace's mapped root, so that files we create have an owner. */
                if (p->userns_root)
                        CHECK(setgroups(0, NULL), "drop supplementary groups");
                CHECK(setresgid(0, 0, 0), "gid 0 in the user namespace");
                CHECK(setresuid(0, 0, 0), "uid 0 in the user namespace");
        }
        CHECK(sethostname("tern", 4), "hostname");
        if (p->clone_flags & CLONE_NEWNET) {
                int r = loopback_up();
                if (r < 0)
                        child_fail(fds, -r, "bring loopback up");
        }
        mark(p, SANDBOX_MARK_NAMESPACES);
        if (mode == BUILD_TASK)
                task_mounts(p, fds, trees);
        else
                /* The new root is attached over /tmp: every host path was copied before. */
                build_root(p, fds, mode, trees, devs);
        /* Meanwhile the parent has made the task's cgroup (and network namespace): it sends the files
         * that move us in (and the namespace). We move
         * ourselves: a v1 migration of another process takes a global lock that waits for an RCU
         * grace period (milliseconds), one of the calling thread itself does not. The task is forked
         * only once we are in, so that it and all it starts are held by the limits. */
        int join[SANDBOX_GO_FDS_MAX];
        size_t n_join = 0;
        if (sandbox_recv_go(fds->sync_r, &c, join, &n_join) < 0 || (c != 'c' && c != 'n'))
                _exit(127);
        if (!p->job)
                close(fds->sync_r); /* a pre-made sandbox's job comes that way too */
        size_t first = 0;
        if (p->net_later) {
                if (n_join < 1)
                        child_fail(fds, EBADF, "join the network namespace");
                CHECK(setns(join[0], CLONE_NEWNET), "join the network namespace");
                close(join[0]);
                first = 1;
        }
        for (size_t i = first; i < n_join; i++) {
                if (write(join[i], "0", 1) != 1)
                        child_fail(fds, errno, "join the task's cgroup");
                close(join[i]);
        }
        mark(p, SANDBOX_MARK_CGROUP);
        if (c == 'c')
                CHECK(unshare(CLONE_NEWCGROUP), "cgroup namespace");
        set_rlimit(fds, RLIMIT_CORE, 0, "RLIMIT_CORE");
        set_rlimit(fds, RLIMIT_NOFILE, p->nofile, "RLIMIT_NOFILE");
        if (p->fsize)
                set_rlimit(fds, RLIMIT_FSIZE, p->fsize, "RLIMIT_FSIZE");

        sigset_t set;
        sigemptyset(&set);
        int sigs[] = { SIGCHLD, SANDBOX_INIT_SIGNALS };
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++) {
                sigaddset(&set, sigs[i]);
                if (sigs[i] != SIGCHLD)
                        signal(sigs[i], forward);
        }
        sigprocmask(SIG_BLOCK, &set, NULL);

        pid_t task = p->job ? warm_task(p, fds) : spawn_task(p, argv, env, fds);
        if (task < 0)
                child_fail(fds, errno, "fork the task");
        exec_init(fds, p->init_fd, task);
}
