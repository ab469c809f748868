/* cgroup.c: per-task cgroups below the worker's own cgroup, on the unified hierarchy when it has
 * the controllers, else on the v1 memory/pids/cpu hierarchies (hybrid hosts). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "macro.h"
#include "strutil.h"
#include "timeutil.h"

static const char *const v1_controller[_SANDBOX_CG_MAX] = { "memory", "pids", "cpu" };

static int write_file(const char *dir, const char *file, const char *value) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int) sizeof path)
                return -ENAMETOOLONG;
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        size_t n = strlen(value);
        ssize_t w = write(fd, value, n);
        if (w < 0)
                return -errno;
        return (size_t) w == n ? 0 : -EIO;
}

static int read_file(const char *dir, const char *file, char *buf, size_t size) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int) sizeof path)
                return -ENAMETOOLONG;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        ssize_t n = read(fd, buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        return 0;
}

/* A file of the cgroup, opened at the first use and kept while the cgroup is (a pooled cgroup
 * serves many tasks; opening a cgroup file costs more than reading it). fd[] holds fd + 1. */
static int cg_file(SandboxCgroup *cg, int slot, const char *dir, const char *file, int flags) {
        if (cg->fd[slot] > 0)
                return cg->fd[slot] - 1;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int) sizeof path)
                return -ENAMETOOLONG;
        int fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        cg->fd[slot] = fd + 1;
        return fd;
}

static int read_kept(SandboxCgroup *cg, int slot, const char *dir, const char *file, char *buf, size_t size) {
        int fd = cg_file(cg, slot, dir, file, O_RDONLY);
        if (fd < 0)
                return fd;
        ssize_t n = pread(fd, buf, size - 1, 0);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        return 0;
}

/* The value of "key N" in a flat keyed file (memory.events, memory.oom_control, pids.events). */
static uint64_t keyed_value(SandboxCgroup *cg, int slot, const char *dir, const char *file, const char *key) {
        char buf[4096];
        if (read_kept(cg, slot, dir, file, buf, sizeof buf) < 0)
                return 0;
        size_t kl = strlen(key);
        for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
                if (strncmp(line, key, kl) == 0 && line[kl] == ' ')
                        return strtoull(line + kl + 1, NULL, 10);
        return 0;
}

static int mkdir_p(const char *path) {
        char buf[PATH_MAX];
        if (snprintf(buf, sizeof buf, "%s", path) >= (int) sizeof buf)
                return -ENAMETOOLONG;
        for (char *s = buf + 1; *s; s++)
                if (*s == '/') {
                        *s = 0;
                        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                                return -errno;
                        *s = '/';
                }
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* Where each hierarchy is mounted: the cgroup2 mount and the v1 mounts of our controllers. */
typedef struct Mounts {
        char v2[PATH_MAX];
        char v1[_SANDBOX_CG_MAX][PATH_MAX];
} Mounts;

static void find_mounts(Mounts *m) {
        _cleanup_(fclosep) FILE *f = fopen("/proc/self/mountinfo", "re");
        char line[4096];

        *m = (Mounts) {};
        if (!f)
                return;
        while (fgets(line, sizeof line, f)) {
                /* id parent maj:min root mountpoint options ... - fstype source superoptions */
                char mnt[PATH_MAX], fstype[64], super[1024];
                const char *sep = strstr(line, " - ");
                if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
                    sscanf(sep + 3, "%63s %*s %1023s", fstype, super) != 2)
                        continue;
                if (streq(fstype, "cgroup2")) {
                        if (!m->v2[0])
                                snprintf(m->v2, sizeof m->v2, "%s", mnt);
                        continue;
                }
                if (!streq(fstype, "cgroup"))
                        continue;
                for (size_t i = 0; i < _SANDBOX_CG_MAX; i++) {
                        /* super options are comma separated: match a whole word */
                        _cleanup_strv_free_ char **opts = NULL;
                        if (strv_split(super, ",", &opts) >= 0 && strv_contains(opts, v1_controller[i]) &&
                            !m->v1[i][0])
                                snprintf(m->v1[i], sizeof m->v1[i], "%s", mnt);
                }
        }
}

/* Our own cgroup path in the hierarchy with the given controller ("" = the unified one). */
static int own_cgroup(const char *controller, char *ret, size_t size) {
        _cleanup_(fclosep) FILE *f = fopen("/proc/self/cgroup", "re");
        char line[4096];

        if (!f)
                return -errno;
        while (fgets(line, sizeof line, f)) {
                char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
                if (!b)
                        continue;
                *b = 0;
                char *path = b + 1;
                path[strcspn(path, "\n")] = 0;
                bool match = false;
                if (isempty(controller))
                        match = streq(a + 1, "") && strncmp(line, "0:", 2) == 0;
                else {
                        _cleanup_strv_free_ char **l = NULL;
                        match = strv_split(a + 1, ",", &l) >= 0 && strv_contains(l, controller);
                }
                if (match) {
                        snprintf(ret, size, "%s", streq(path, "/") ? "" : path);
                        return 0;
                }
        }
        return -ENOENT;
}

static bool has_word(const char *list, const char *word) {
        _cleanup_strv_free_ char **l = NULL;
        if (strv_split(list, " \n", &l) < 0)
                return false;
        return strv_contains(l, word);
}

static int create_v2(const SandboxOptions *o, const char *mnt, const char *name, SandboxCgroup *ret, char *err,
                     size_t err_size) {
        char own[PATH_MAX], base[PATH_MAX], parent[PATH_MAX], buf[512];
        int r;

        if (own_cgroup("", own, sizeof own) < 0)
                return -ENOENT;
        if (snprintf(base, sizeof base, "%s%s", mnt, own) >= (int) sizeof base)
                return -ENAMETOOLONG;
        /* The controllers the limits need; with none, a cgroup still holds the task's processes
         * together (every one of them killed at the end, cgroup.kill). */
        bool memory = o->memory_max > 0, pids = o->pids_max > 0, cpu = o->cpu_percent > 0;
        if (read_file(base, "cgroup.controllers", buf, sizeof buf) < 0)
                buf[0] = 0;
        if ((memory && !has_word(buf, "memory")) || (pids && !has_word(buf, "pids")) || (cpu && !has_word(buf, "cpu")))
                return snprintf(err, err_size, "cgroup v2 at %s lacks the %s controller the task's limits need (delegate it to the worker)",
                                base, memory && !has_word(buf, "memory") ? "memory" : pids && !has_word(buf, "pids") ? "pids" : "cpu"),
                       -EOPNOTSUPP;
        if (snprintf(parent, sizeof parent, "%s/%s", base, o->cgroup_name ?: "tern-tasks") >= (int) sizeof parent)
                return -ENAMETOOLONG;
        r = mkdir_p(parent);
        if (r < 0)
                return snprintf(err, err_size, "cannot create cgroup %s: %s", parent, strerror(-r)), r;
        /* Every controller there is that a later task's limits may need (a pooled cgroup serves
         * tasks with other limits). Controllers can be enabled below a cgroup only when it holds
         * no process itself (unless it is the root): a worker started in its delegated cgroup
         * moves itself one level down. */
        char enable[64] = "";
        static const char *const wanted[] = { "memory", "pids", "cpu" };
        for (size_t i = 0; i < ELEMENTSOF(wanted); i++)
                if (has_word(buf, wanted[i]))
                        snprintf(enable + strlen(enable), sizeof enable - strlen(enable), "%s+%s", enable[0] ? " " : "",
                                 wanted[i]);
        r = enable[0] ? write_file(base, "cgroup.subtree_control", enable) : 0;
        if (r == -EBUSY) {
                char sup[PATH_MAX];
                if (snprintf(sup, sizeof sup, "%s/supervisor", base) >= (int) sizeof sup)
                        r = -ENAMETOOLONG;
                else if ((r = mkdir_p(sup)) >= 0 && (r = write_file(sup, "cgroup.procs", "0")) >= 0)
                        r = write_file(base, "cgroup.subtree_control", enable);
        }
        if (r >= 0 && enable[0])
                r = write_file(parent, "cgroup.subtree_control", enable);
        if (r < 0)
                return snprintf(err, err_size, "cannot enable the %s controllers in %s: %s", enable, base, strerror(-r)), r;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", parent, name) >= (int) sizeof path)
                return -ENAMETOOLONG;
        if (mkdir(path, 0755) < 0) {
                r = -errno;
                return snprintf(err, err_size, "cannot create cgroup %s: %s", path, strerror(-r)), r;
        }
        ret->kind = SANDBOX_CGROUP_V2;
        ret->path[0] = strdup(path);
        if (!ret->path[0])
                return -ENOMEM;
        /* An OOM kill takes the whole task down rather than leaving it half dead. */
        if (has_word(buf, "memory"))
                (void) write_file(path, "memory.oom.group", "1");
        return 0;
}

static int create_v1(const SandboxOptions *o, const Mounts *m, const char *name, SandboxCgroup *ret, char *err,
                     size_t err_size) {
        int r;

        if (!m->v1[SANDBOX_CG_MEMORY][0] || !m->v1[SANDBOX_CG_PIDS][0])
                return snprintf(err, err_size, "no cgroup hierarchy with the memory and pids controllers"), -EOPNOTSUPP;
        ret->kind = SANDBOX_CGROUP_V1;
        for (size_t i = 0; i < _SANDBOX_CG_MAX; i++) {
                char own[PATH_MAX], path[PATH_MAX];
                if (i == SANDBOX_CG_CPU && (!o->cpu_percent || !m->v1[i][0]))
                        continue;
                if (own_cgroup(v1_controller[i], own, sizeof own) < 0)
                        own[0] = 0;
                if (snprintf(path, sizeof path, "%s%s/%s/%s", m->v1[i], own, o->cgroup_name ?: "tern-tasks", name) >=
                    (int) sizeof path)
                        return -ENAMETOOLONG;
                r = mkdir_p(path);
                if (r < 0)
                        return snprintf(err, err_size, "cannot create cgroup %s: %s", path, strerror(-r)), r;
                ret->path[i] = strdup(path);
                if (!ret->path[i])
                        return -ENOMEM;
        }
        return 0;
}

/* Write the limits of o that differ from those the cgroup has (a fresh one has none; a reused one
 * those of its previous task). 0 = no limit. */
static int set_limits(SandboxCgroup *cg, const SandboxOptions *o, char *err, size_t err_size) {
        char v[64];
        int r;

        if (cg->kind == SANDBOX_CGROUP_V2) {
                const char *path = cg->path[0];
                if (o->memory_max != cg->memory_max) {
                        if (o->memory_max)
                                snprintf(v, sizeof v, "%" PRIu64, o->memory_max);
                        else
                                snprintf(v, sizeof v, "max");
                        if ((r = write_file(path, "memory.max", v)) < 0)
                                return snprintf(err, err_size, "cannot set memory.max: %s", strerror(-r)), r;
                        /* no swap: absent without swap accounting */
                        (void) write_file(path, "memory.swap.max", o->memory_max ? "0" : "max");
                }
                if (o->pids_max != cg->pids_max) {
                        if (o->pids_max)
                                snprintf(v, sizeof v, "%" PRIu64, o->pids_max);
                        else
                                snprintf(v, sizeof v, "max");
                        if ((r = write_file(path, "pids.max", v)) < 0)
                                return snprintf(err, err_size, "cannot set pids.max: %s", strerror(-r)), r;
                }
                if (o->cpu_percent != cg->cpu_percent) {
                        if (o->cpu_percent)
                                snprintf(v, sizeof v, "%u 100000", o->cpu_percent * 1000);
                        else
                                snprintf(v, sizeof v, "max 100000");
                        if ((r = write_file(path, "cpu.max", v)) < 0)
                                return snprintf(err, err_size, "cannot set cpu.max: %s", strerror(-r)), r;
                }
        } else if (cg->kind == SANDBOX_CGROUP_V1) {
                const char *mem = cg->path[SANDBOX_CG_MEMORY];
                if (o->memory_max != cg->memory_max) {
                        if (o->memory_max)
                                snprintf(v, sizeof v, "%" PRIu64, o->memory_max);
                        else
                                snprintf(v, sizeof v, "-1");
                        /* memory+swap (present only with swap accounting) may never be below
                         * memory: raised first, lowered after. */
                        (void) write_file(mem, "memory.memsw.limit_in_bytes", v);
                        if ((r = write_file(mem, "memory.limit_in_bytes", v)) < 0)
                                return snprintf(err, err_size, "cannot set memory.limit_in_bytes: %s", strerror(-r)), r;
                        (void) write_file(mem, "memory.memsw.limit_in_bytes", v);
                        if (o->memory_max)
                                (void) write_file(mem, "memory.swappiness", "0");
                }
                if (o->pids_max != cg->pids_max) {
                        if (o->pids_max)
                                snprintf(v, sizeof v, "%" PRIu64, o->pids_max);
                        else
                                snprintf(v, sizeof v, "max");
                        if ((r = write_file(cg->path[SANDBOX_CG_PIDS], "pids.max", v)) < 0)
                                return snprintf(err, err_size, "cannot set pids.max: %s", strerror(-r)), r;
                }
                /* Without a cpu hierarchy, no CPU limit (as the v1 host allows). */
                if (o->cpu_percent != cg->cpu_percent && cg->path[SANDBOX_CG_CPU]) {
                        if (o->cpu_percent)
                                snprintf(v, sizeof v, "%u", o->cpu_percent * 1000);
                        else
                                snprintf(v, sizeof v, "-1");
                        if ((r = write_file(cg->path[SANDBOX_CG_CPU], "cpu.cfs_period_us", "100000")) < 0 ||
                            (r = write_file(cg->path[SANDBOX_CG_CPU], "cpu.cfs_quota_us", v)) < 0)
                                return snprintf(err, err_size, "cannot set the CPU quota: %s", strerror(-r)), r;
                }
        }
        cg->memory_max = o->memory_max;
        cg->pids_max = o->pids_max;
        cg->cpu_percent = o->cpu_percent;
        return 0;
}

static int cgroup_make(const SandboxOptions *o, const char *name, SandboxCgroup *ret, char *err, size_t err_size) {
        Mounts m;
        int r;

        *ret = (SandboxCgroup) {};
        find_mounts(&m);
        if (m.v2[0]) {
                r = create_v2(o, m.v2, name, ret, err, err_size);
                if (r >= 0)
                        return 0;
                sandbox_cgroup_destroy(ret);
                /* Hybrid hosts mount an empty unified hierarchy next to the v1 controllers; a host
                 * without them keeps the reason v2 gave. */
                if ((r != -EOPNOTSUPP && r != -ENOENT) || (!m.v1[SANDBOX_CG_MEMORY][0] && !m.v1[SANDBOX_CG_PIDS][0]))
                        return r;
        }
        r = create_v1(o, &m, name, ret, err, err_size);
        if (r < 0) {
                sandbox_cgroup_destroy(ret);
                return r;
        }
        return 0;
}

int sandbox_cgroup_create(const SandboxOptions *o, const char *name, SandboxCgroup *ret, char *err, size_t err_size) {
        int r = cgroup_make(o, name, ret, err, err_size);
        if (r < 0)
                return r;
        r = set_limits(ret, o, err, err_size);
        if (r < 0) {
                sandbox_cgroup_destroy(ret);
                return r;
        }
        return 0;
}

void sandbox_cgroup_sweep(const SandboxOptions *o) {
        const char *name = o->cgroup_name ?: "tern-tasks";
        Mounts m;

        find_mounts(&m);
        for (int i = -1; i < _SANDBOX_CG_MAX; i++) {
                const char *mnt = i < 0 ? m.v2 : m.v1[i];
                char own[PATH_MAX], dir[PATH_MAX];
                if (!mnt[0])
                        continue;
                if (own_cgroup(i < 0 ? "" : v1_controller[i], own, sizeof own) < 0)
                        own[0] = 0;
                if (snprintf(dir, sizeof dir, "%s%s/%s", mnt, own, name) >= (int) sizeof dir)
                        continue;
                DIR *d = opendir(dir);
                if (!d)
                        continue;
                struct dirent *de;
                while ((de = readdir(d))) {
                        int pid;
                        unsigned long long n;
                        char extra;
                        if (sscanf(de->d_name, "pool-%d-%llu%c", &pid, &n, &extra) != 2 || pid <= 0 || pid == getpid())
                                continue;
                        /* Its pool's process is gone (killed, or it exited without freeing the pool):
                         * nobody else uses it. A cgroup with processes left refuses rmdir. */
                        if (kill(pid, 0) < 0 && errno == ESRCH)
                                (void) unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
                }
                closedir(d);
        }
}

int sandbox_cgroup_reuse(SandboxCgroup *cg, const SandboxOptions *o, char *err, size_t err_size) {
        /* A CPU limit on v1 needs the cpu hierarchy, which a cgroup made without one lacks. */
        if (cg->kind == SANDBOX_CGROUP_V1 && o->cpu_percent && !cg->path[SANDBOX_CG_CPU])
                return -EOPNOTSUPP;
        return set_limits(cg, o, err, err_size);
}

bool sandbox_cgroup_reusable(SandboxCgroup *cg) {
        if (cg->kind == SANDBOX_CGROUP_NONE)
                return false;
        /* The verdicts of the next task come from counters that never go down. */
        if (sandbox_cgroup_oom_killed(cg) || sandbox_cgroup_pids_exhausted(cg))
                return false;
        for (size_t i = 0; i < _SANDBOX_CG_MAX; i++) {
                char buf[64];
                if (cg->path[i] &&
                    (read_kept(cg, SANDBOX_CGF_PROCS + (int) i, cg->path[i], "cgroup.procs", buf, sizeof buf) < 0 || buf[0]))
                        return false; /* something of the task is still there (dying), or gone wrong */
        }
        return true;
}

int sandbox_cgroup_open_join(SandboxCgroup *cg, int *fds) {
        const char *file = cg->kind == SANDBOX_CGROUP_V1 ? "tasks" : "cgroup.procs";
        int n = 0;

        for (size_t i = 0; i < _SANDBOX_CG_MAX; i++) {
                if (!cg->path[i])
                        continue;
                int fd = cg_file(cg, SANDBOX_CGF_JOIN + (int) i, cg->path[i], file, O_WRONLY);
                if (fd < 0)
                        return fd;
                fds[n++] = fd;
        }
        return n;
}

int sandbox_cgroup_dir_fd(SandboxCgroup *cg) {
        if (cg->kind != SANDBOX_CGROUP_V2)
                return -EOPNOTSUPP;
        return cg_file(cg, SANDBOX_CGF_DIR, cg->path[0], ".", O_RDONLY | O_DIRECTORY);
}

bool sandbox_cgroup_oom_killed(SandboxCgroup *cg) {
        if (cg->kind == SANDBOX_CGROUP_V2)
                return keyed_value(cg, SANDBOX_CGF_OOM, cg->path[0], "memory.events", "oom_kill") > 0;
        if (cg->kind == SANDBOX_CGROUP_V1 && cg->path[SANDBOX_CG_MEMORY])
                return keyed_value(cg, SANDBOX_CGF_OOM, cg->path[SANDBOX_CG_MEMORY], "memory.oom_control", "oom_kill") > 0;
        return false;
}

bool sandbox_cgroup_pids_exhausted(SandboxCgroup *cg) {
        const char *p = cg->kind == SANDBOX_CGROUP_V2 ? cg->path[0] : cg->path[SANDBOX_CG_PIDS];
        return p && keyed_value(cg, SANDBOX_CGF_PIDS, p, "pids.events", "max") > 0;
}

/* SIGKILL every process listed; returns how many were still there. */
static unsigned kill_listed(const char *dir) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/cgroup.procs", dir) >= (int) sizeof path)
                return 0;
        _cleanup_(fclosep) FILE *f = fopen(path, "re");
        unsigned n = 0;
        int pid;
        if (!f)
                return 0;
        while (fscanf(f, "%d", &pid) == 1) {
                (void) kill(pid, SIGKILL);
                n++;
        }
        return n;
}

void sandbox_cgroup_destroy(SandboxCgroup *cg) {
        for (size_t i = 0; i < _SANDBOX_CGF_MAX; i++)
                if (cg->fd[i] > 0)
                        close(cg->fd[i] - 1);
        for (size_t i = 0; i < _SANDBOX_CG_MAX; i++) {
                if (!cg->path[i])
                        continue;
                if (cg->kind == SANDBOX_CGROUP_V2)
                        (void) write_file(cg->path[i], "cgroup.kill", "1");
                /* Dying processes leave the cgroup a moment after SIGKILL; rmdir fails with EBUSY
                 * until then. Bounded: a process stuck in the kernel must not hang the worker. */
                usec_t until = now_monotonic() + 2 * USEC_PER_SEC;
                for (;;) {
                        (void) kill_listed(cg->path[i]);
                        if (rmdir(cg->path[i]) >= 0 || errno != EBUSY || now_monotonic() > until)
                                break;
                        nanosleep(&(struct timespec) { .tv_nsec = 1000000 }, NULL);
                }
                free(cg->path[i]);
                cg->path[i] = NULL;
        }
        *cg = (SandboxCgroup) {};
}
