/* pool.c: a worker's shared sandbox state: the compiled filter, the task cgroups kept for reuse, the
 * mount namespace template and the zygote that clones the tasks' PID 1s. */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "pool.h"
#include "sandbox-init.h"
#include "seccomp-filter.h"

/* As many as a worker runs tasks at once, in practice; more are removed. */
#define POOL_CGROUPS_MAX 64
#define POOL_PENDING_MAX 64

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* A task's PID 1 that is still exiting, and the cgroup it is in. */
typedef struct PoolPending {
        int pidfd;
        SandboxCgroup cg;
} PoolPending;

/* The zygote: a process forked while the worker is small, that clones the PID 1s (CLONE_PARENT:
 * they are the worker's children all the same), so that each clone copies its page tables rather
 * than the worker's (~2 ms per start at 20 MB). The plan, argv and env are copied into a slot of
 * memory shared with it, at the same address in both, so pointers need no translation. */
#define ZYGOTE_SLOTS 16
#define ZYGOTE_SLOT_SIZE (256 * 1024)

typedef struct ZygoteSlot {
        _Atomic int done; /* set by the zygote once reply is (a futex word: the worker waits on it) */
        int reply;        /* the PID 1's pid, or a negative errno */
        bool into_cgroup; /* it was cloned into the cgroup it was sent (else it joins it itself) */
        SandboxPlan plan;
        SandboxChildFds fds;
        char **argv, **env;
        SandboxJob job; /* a pre-made sandbox's task, written when it is taken */
        usec_t marks[_SANDBOX_MARK_MAX];
        size_t used;       /* bytes of data[] taken */
        char data[];
} ZygoteSlot;

/* A request: the slot, and with it the fds out, err, error, sync, status and template that are
 * there (a bit each in fd_mask, in that order; a pre-made sandbox has no out and err yet). */
typedef struct ZygoteRequest {
        unsigned slot;
        unsigned fd_mask;
} ZygoteRequest;

enum { ZFD_OUT, ZFD_ERR, ZFD_ERROR, ZFD_SYNC, ZFD_STATUS, ZFD_TEMPLATE, ZFD_CGROUP, _ZFD_MAX };

/* Pre-made sandboxes (see sandbox_pool_warm_take), while nobody has taken them: so many for each
 * plan (a worker's tasks come with a few: with and without network...), so many in all, the
 * oldest going first. */
#define POOL_WARM_PER_KEY 2
#define POOL_WARM_MAX 6

typedef struct PoolWarm {
        SandboxWarm w;
        char *key;  /* sandbox_plan_key of what it was made for */
        usec_t made;
} PoolWarm;

/* Made ahead for a plan no task has had for so long: discarded at the next making. */
#define POOL_WARM_IDLE (10 * 60 * USEC_PER_SEC)

struct SandboxPool {
        pthread_mutex_t lock;
        int zygote_sock;             /* -1: no zygote, PID 1s are cloned from the worker */
        pid_t zygote_pid;
        int zygote_pidfd;            /* readable once it is gone */
        pid_t owner;                 /* the process that made the pool (and the zygote) */
        int init_fd;                 /* the sandbox's init (sandbox_init_fd), the zygote's too */
        uid_t owner_uid;             /* and its identity then (the zygote's) */
        void *arena;                 /* ZYGOTE_SLOTS slots, shared with the zygote */
        bool slot_used[ZYGOTE_SLOTS];
        cap_t nocaps;                /* made before the zygote, so it has it too */
        struct sock_fprog filter;
        SandboxCgroup free[POOL_CGROUPS_MAX];
        size_t n_free;
        PoolPending pending[POOL_PENDING_MAX];
        size_t n_pending;
        int template_fd;     /* the mount namespace template, -1 before the first sandboxed start */
        char *template_key;  /* the read-only mounts it was made for */
        int template_error;  /* it could not be made: not tried again */
        PoolWarm warm[POOL_WARM_MAX]; /* the oldest first */
        unsigned warm_per_key;        /* sandbox_pool_set_made_ahead */
        size_t n_warm, n_warming;     /* ready; being made */
        unsigned warm_failed;         /* in a row: the next try waits 1 s, 2 s, ... up to a minute */
        usec_t warm_retry;            /* no making before then */
        uint64_t starts_made_ahead, starts_built, clones_into_cgroup;
        SandboxCgroupKind cgroup_kind; /* of the last task cgroup it gave */
        bool swept;              /* stale cgroups of earlier pools removed */
};

/* Names the new task cgroups of every pool of this process. */
static _Atomic unsigned long long cgroups_made;

/* The zygote's fds: its socket, and the init its PID 1s exec (sandbox-init.h). */
#define ZYGOTE_SOCK_FD 3
#define ZYGOTE_INIT_FD 4

/* The zygote's loop: system calls only (it is forked from a multi-threaded worker). */
_noreturn_ static void zygote_main(SandboxPool *p, int sock) {
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* Nothing of the worker's but the socket and the init. */
        int sock_copy = fcntl(sock, F_DUPFD_CLOEXEC, 16), init_copy = fcntl(p->init_fd, F_DUPFD_CLOEXEC, 16);
        if (sock_copy < 0 || init_copy < 0 || dup2(sock_copy, ZYGOTE_SOCK_FD) < 0 || dup2(init_copy, ZYGOTE_INIT_FD) < 0)
                _exit(1);
        (void) syscall(SYS_close_range, ZYGOTE_INIT_FD + 1, ~0U, 0);
        sock = ZYGOTE_SOCK_FD;
        for (;;) {
                ZygoteRequest rq;
                int fds[_ZFD_MAX];
                size_t n = 0;
                union {
                        struct cmsghdr h;
                        char buf[CMSG_SPACE(sizeof fds)];
                } control = {};
                struct iovec iov = { .iov_base = &rq, .iov_len = sizeof rq };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                                     .msg_controllen = sizeof control.buf };
                ssize_t k = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k != (ssize_t) sizeof rq)
                        _exit(0); /* the pool is gone */
                for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
                        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                                size_t c = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                                if (c > _ZFD_MAX - n)
                                        c = _ZFD_MAX - n;
                                memcpy(fds + n, CMSG_DATA(cm), sizeof(int) * c);
                                n += c;
                        }
                if (rq.slot < ZYGOTE_SLOTS) {
                        ZygoteSlot *z = (ZygoteSlot *) ((char *) p->arena + (size_t) rq.slot * ZYGOTE_SLOT_SIZE);
                        int f[_ZFD_MAX];
                        size_t used = 0;
                        for (int i = 0; i < _ZFD_MAX; i++)
                                f[i] = (rq.fd_mask & (1u << i)) && used < n ? fds[used++] : -EBADF;
                        if (used != n || f[ZFD_ERROR] < 0 || f[ZFD_SYNC] < 0 || f[ZFD_STATUS] < 0)
                                z->reply = -EINVAL;
                        else {
                                z->fds = (SandboxChildFds) { f[ZFD_OUT], f[ZFD_ERR], f[ZFD_ERROR], f[ZFD_SYNC], f[ZFD_STATUS] };
                                z->plan.template_fd = f[ZFD_TEMPLATE];
                                z->plan.init_fd = ZYGOTE_INIT_FD;
                                /* Born in its cgroup (v2) when one was sent: no migration, no wait on
                                 * its lock. */
                                bool into = false;
                                pid_t pid = sandbox_clone_flags(z->plan.clone_flags | CLONE_PARENT, f[ZFD_CGROUP], &into);
                                if (pid == 0)
                                        sandbox_child(&z->plan, z->argv, z->env, &z->fds);
                                z->into_cgroup = into; /* (the child shares the slot: not before) */
                                z->reply = pid < 0 ? -errno : pid;
                        }
                        atomic_store(&z->done, 1);
                        (void) syscall(SYS_futex, &z->done, FUTEX_WAKE, 1, NULL, NULL, 0);
                }
                for (size_t i = 0; i < n; i++)
                        close(fds[i]);
        }
}

static int zygote_start(SandboxPool *p) {
        int sv[2];

        p->arena = mmap(NULL, (size_t) ZYGOTE_SLOTS * ZYGOTE_SLOT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                        -1, 0);
        if (p->arena == MAP_FAILED) {
                p->arena = NULL;
                return -errno;
        }
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0) {
                int e = errno;
                close(sv[0]);
                close(sv[1]);
                return -e;
        }
        if (pid == 0)
                zygote_main(p, sv[1]);
        close(sv[1]);
        p->zygote_sock = sv[0];
        p->zygote_pid = pid;
        p->zygote_pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        return 0;
}

int sandbox_pool_new(SandboxPool **ret) {
        SandboxPool *p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        p->template_fd = -EBADF;
        p->zygote_sock = -EBADF;
        p->zygote_pidfd = -EBADF;
        p->owner = getpid();
        p->owner_uid = geteuid();
        p->warm_per_key = POOL_WARM_PER_KEY;
        int r = pthread_mutex_init(&p->lock, NULL);
        if (r != 0) {
                free(p);
                return -r;
        }
        r = sandbox_seccomp_build(&p->filter);
        if (r >= 0 && !(p->nocaps = cap_init()))
                r = -ENOMEM;
        if (r >= 0)
                r = p->init_fd = sandbox_init_fd();
        if (r < 0) {
                sandbox_pool_free(p);
                return r;
        }
        (void) zygote_start(p);
        *ret = p;
        return 0;
}

/* Copy into the slot's data: a string, or a NULL-terminated vector. NULL when it does not fit. */
static char *slot_strdup(ZygoteSlot *z, const char *s) {
        size_t n = strlen(s) + 1, room = ZYGOTE_SLOT_SIZE - sizeof *z;
        if (z->used + n > room)
                return NULL;
        char *d = memcpy(z->data + z->used, s, n);
        z->used += n;
        return d;
}

static char **slot_strv(ZygoteSlot *z, char *const *v) {
        size_t n = 0, room = ZYGOTE_SLOT_SIZE - sizeof *z;
        while (v && v[n])
                n++;
        z->used = (z->used + 7) & ~(size_t) 7;
        if (z->used + (n + 1) * sizeof(char *) > room)
                return NULL;
        char **d = (char **) (void *) (z->data + z->used);
        z->used += (n + 1) * sizeof(char *);
        for (size_t i = 0; i < n; i++)
                if (!(d[i] = slot_strdup(z, v[i])))
                        return NULL;
        d[n] = NULL;
        return d;
}

int sandbox_pool_clone_start(SandboxPool *p, const SandboxPlan *plan, char *const *argv, char *const *env,
                             const SandboxChildFds *fds, int cgroup_fd, bool trace, int *ret_slot) {
        /* Its clones are children of the pool's creator, with the creator's privileges: not for
         * a forked child of it, or once the creator has changed its identity. */
        if (p->zygote_sock < 0 || getpid() != p->owner || geteuid() != p->owner_uid)
                return -EOPNOTSUPP;
        int slot = -1;
        pthread_mutex_lock(&p->lock);
        for (int i = 0; i < ZYGOTE_SLOTS && slot < 0; i++)
                if (!p->slot_used[i]) {
                        p->slot_used[i] = true;
                        slot = i;
                }
        pthread_mutex_unlock(&p->lock);
        if (slot < 0)
                return -EBUSY; /* more tasks at once than slots: these clone from the worker */

        ZygoteSlot *z = (ZygoteSlot *) ((char *) p->arena + (size_t) slot * ZYGOTE_SLOT_SIZE);
        atomic_store(&z->done, 0);
        z->reply = 0;
        z->into_cgroup = false;
        z->used = 0;
        z->plan = *plan;
        z->plan.nocaps = p->nocaps;
        z->plan.marks = trace ? z->marks : NULL;
        memset(z->marks, 0, sizeof z->marks);
        bool fits = (!plan->cwd || (z->plan.cwd = slot_strdup(z, plan->cwd))) &&
                    (!plan->job_base || (z->plan.job_base = slot_strdup(z, plan->job_base)));
        for (size_t i = 0; fits && i < plan->n_mounts; i++)
                fits = (z->plan.mounts[i].src = slot_strdup(z, plan->mounts[i].src)) &&
                       (z->plan.mounts[i].dst = slot_strdup(z, plan->mounts[i].dst));
        z->argv = z->env = NULL;
        z->job = (SandboxJob) {};
        z->plan.job = plan->job ? &z->job : NULL;
        fits = fits && (!argv || (z->argv = slot_strv(z, argv))) && (!env || (z->env = slot_strv(z, env)));
        if (!fits) {
                sandbox_pool_release(p, slot, NULL);
                return -E2BIG; /* a huge environment: cloned from the worker */
        }

        int all[_ZFD_MAX] = { fds->out_w, fds->err_w, fds->error_w, fds->sync_r, fds->status_w, plan->template_fd, cgroup_fd };
        int send_fds[_ZFD_MAX];
        size_t n = 0;
        ZygoteRequest rq = { (unsigned) slot, 0 };
        for (int i = 0; i < _ZFD_MAX; i++)
                if (all[i] >= 0) {
                        send_fds[n++] = all[i];
                        rq.fd_mask |= 1u << i;
                }
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof send_fds)];
        } control = {};
        struct iovec iov = { .iov_base = &rq, .iov_len = sizeof rq };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                             .msg_controllen = CMSG_SPACE(sizeof(int) * n) };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
        memcpy(CMSG_DATA(cm), send_fds, sizeof(int) * n);
        /* One datagram per request: threads may send at once. The reply comes in the slot. */
        if (sendmsg(p->zygote_sock, &mh, MSG_NOSIGNAL) != (ssize_t) sizeof rq) {
                int e = -errno;
                sandbox_pool_release(p, slot, NULL);
                return e;
        }
        *ret_slot = slot;
        return 0;
}

pid_t sandbox_pool_clone_wait(SandboxPool *p, int slot) {
        ZygoteSlot *z = (ZygoteSlot *) ((char *) p->arena + (size_t) slot * ZYGOTE_SLOT_SIZE);
        while (atomic_load(&z->done) == 0) {
                struct timespec ts = { 0, 100 * 1000 * 1000 };
                (void) syscall(SYS_futex, &z->done, FUTEX_WAIT, 0, &ts, NULL, 0);
                /* A zygote that died (killed) never answers. */
                struct pollfd pf = { p->zygote_pidfd, POLLIN, 0 };
                if (atomic_load(&z->done) == 0 && p->zygote_pidfd >= 0 && poll(&pf, 1, 0) > 0)
                        return -EPIPE;
        }
        return z->reply;
}

bool sandbox_pool_clone_into_cgroup(SandboxPool *p, int slot) {
        ZygoteSlot *z = (ZygoteSlot *) ((char *) p->arena + (size_t) slot * ZYGOTE_SLOT_SIZE);
        if (atomic_load(&z->done) == 0 || !z->into_cgroup)
                return false;
        pthread_mutex_lock(&p->lock);
        p->clones_into_cgroup++;
        pthread_mutex_unlock(&p->lock);
        return true;
}

bool sandbox_pool_cgroups_v2(SandboxPool *p) {
        pthread_mutex_lock(&p->lock);
        bool v2 = p->cgroup_kind == SANDBOX_CGROUP_V2;
        pthread_mutex_unlock(&p->lock);
        return v2;
}

pid_t sandbox_pool_zygote(SandboxPool *p) {
        return p->zygote_sock >= 0 ? p->zygote_pid : 0;
}

void sandbox_pool_release(SandboxPool *p, int slot, usec_t *ret_marks) {
        if (slot < 0 || slot >= ZYGOTE_SLOTS)
                return;
        ZygoteSlot *z = (ZygoteSlot *) ((char *) p->arena + (size_t) slot * ZYGOTE_SLOT_SIZE);
        if (ret_marks)
                memcpy(ret_marks, z->marks, sizeof z->marks);
        pthread_mutex_lock(&p->lock);
        p->slot_used[slot] = false;
        pthread_mutex_unlock(&p->lock);
}

/* Reap the PID 1 (blocking or not); true when it is gone. */
static bool pending_reap(PoolPending *e, bool block) {
        siginfo_t si = {};
        int r;
        do
                r = waitid(P_PIDFD, (id_t) e->pidfd, &si, WEXITED | (block ? 0 : WNOHANG));
        while (r < 0 && errno == EINTR);
        /* ECHILD: someone else reaped it; it is gone all the same. */
        return r < 0 || si.si_pid != 0;
}

static void pending_done(SandboxPool *p, PoolPending *e) {
        close(e->pidfd);
        sandbox_pool_give_cgroup(p, &e->cg);
}

/* Take the PID 1s that have ended out of the list (or the oldest, waiting for it, when full). */
static void pool_reap(SandboxPool *p, bool make_room) {
        PoolPending done[POOL_PENDING_MAX];
        size_t n_done = 0;

        pthread_mutex_lock(&p->lock);
        for (size_t i = 0; i < p->n_pending;)
                if (pending_reap(&p->pending[i], false)) {
                        done[n_done++] = p->pending[i];
                        p->pending[i] = p->pending[--p->n_pending];
                } else
                        i++;
        bool wait_oldest = make_room && p->n_pending == POOL_PENDING_MAX;
        if (wait_oldest) {
                done[n_done++] = p->pending[0];
                p->pending[0] = p->pending[--p->n_pending];
        }
        pthread_mutex_unlock(&p->lock);
        if (wait_oldest)
                (void) pending_reap(&done[n_done - 1], true);
        for (size_t i = 0; i < n_done; i++)
                pending_done(p, &done[i]);
}

void sandbox_pool_defer(SandboxPool *p, int pidfd, SandboxCgroup *cg) {
        pool_reap(p, true);
        pthread_mutex_lock(&p->lock);
        bool kept = p->n_pending < POOL_PENDING_MAX;
        if (kept)
                p->pending[p->n_pending++] = (PoolPending) { pidfd, *cg };
        pthread_mutex_unlock(&p->lock);
        if (kept) {
                *cg = (SandboxCgroup) {};
                return;
        }
        /* Another thread filled the list meanwhile: wait for this one here. */
        PoolPending e = { pidfd, *cg };
        *cg = (SandboxCgroup) {};
        (void) pending_reap(&e, true);
        pending_done(p, &e);
}

static void warm_close(SandboxWarm *w) {
        w->sync_w = safe_close(w->sync_w);
        w->error_r = safe_close(w->error_r);
        w->status_r = safe_close(w->status_r);
}

void sandbox_pool_warm_discard(SandboxPool *p, SandboxWarm *w) {
        if (w->pid <= 0)
                return;
        int pidfd = (int) syscall(SYS_pidfd_open, w->pid, 0);
        (void) kill(w->pid, SIGKILL);
        warm_close(w);
        if (pidfd >= 0)
                sandbox_pool_defer(p, pidfd, &w->cg); /* reaped later, its cgroup given back then */
        else {
                (void) waitpid(w->pid, NULL, 0);
                sandbox_pool_give_cgroup(p, &w->cg);
        }
        sandbox_pool_release(p, w->slot, NULL);
        *w = (SandboxWarm) { .slot = -1, .sync_w = -EBADF, .error_r = -EBADF, .status_r = -EBADF };
}

/* Still waiting for a job: alive, and it reported no failure. */
static bool warm_alive(SandboxWarm *w) {
        struct pollfd pf = { w->error_r, POLLIN, 0 };
        siginfo_t si = {};
        if (poll(&pf, 1, 0) != 0)
                return false; /* a failure, or EOF: it is gone */
        return waitid(P_PID, (id_t) w->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == 0;
}

/* Take entry i out of the list (the lock held). */
static PoolWarm warm_remove(SandboxPool *p, size_t i) {
        PoolWarm e = p->warm[i];
        memmove(p->warm + i, p->warm + i + 1, sizeof(PoolWarm) * (p->n_warm - i - 1));
        p->n_warm--;
        return e;
}

int sandbox_pool_warm_take(SandboxPool *p, const char *key, SandboxWarm *ret) {
        for (;;) {
                PoolWarm e = {};
                pthread_mutex_lock(&p->lock);
                for (size_t i = 0; i < p->n_warm && !e.key; i++)
                        if (streq(p->warm[i].key, key))
                                e = warm_remove(p, i);
                pthread_mutex_unlock(&p->lock);
                if (!e.key)
                        return -ENOENT;
                free(e.key);
                if (warm_alive(&e.w)) {
                        /* The step times of this task, not of the sandbox's making. */
                        ZygoteSlot *z = (ZygoteSlot *) ((char *) p->arena + (size_t) e.w.slot * ZYGOTE_SLOT_SIZE);
                        memset(z->marks, 0, sizeof z->marks);
                        *ret = e.w;
                        return 0;
                }
                sandbox_pool_warm_discard(p, &e.w);
        }
}

int sandbox_pool_warm_start(SandboxPool *p, SandboxWarm *w, const char *cwd, char *const *argv, char *const *env,
                            int out_w, int err_w, int tree) {
        ZygoteSlot *z = (ZygoteSlot *) ((char *) p->arena + (size_t) w->slot * ZYGOTE_SLOT_SIZE);
        /* Written before the message that tells the PID 1 and the task to read it. */
        z->job = (SandboxJob) {};
        if ((cwd && !(z->job.cwd = slot_strdup(z, cwd))) || !(z->job.argv = slot_strv(z, argv)) ||
            !(z->job.env = slot_strv(z, env))) {
                safe_close(tree);
                return -E2BIG;
        }
        int fds[SANDBOX_JOB_FDS_MAX] = { out_w, err_w, tree };
        int r = sandbox_send_go(w->sync_w, 'j', fds, tree >= 0 ? 3 : 2);
        safe_close(tree);
        return r;
}

/* One pre-made sandbox for plan (without working directory) and o. */
static int warm_make(SandboxPool *p, const SandboxPlan *plan, const SandboxOptions *o, SandboxWarm *ret) {
        _cleanup_close_ int error_w = -EBADF, sync_r = -EBADF, status_w = -EBADF;
        SandboxWarm w = { .slot = -1, .sync_w = -EBADF, .error_r = -EBADF, .status_r = -EBADF };
        int q[2], join[SANDBOX_GO_FDS_MAX], n_join = 0;
        char err[200];
        int r;

        r = 0;
        if (pipe2(q, O_CLOEXEC) < 0)
                r = -errno;
        else
                w.error_r = q[0], error_w = q[1];
        if (r >= 0 && pipe2(q, O_CLOEXEC) < 0)
                r = -errno;
        else if (r >= 0)
                w.status_r = q[0], status_w = q[1];
        if (r >= 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, q) < 0)
                r = -errno;
        else if (r >= 0)
                sync_r = q[0], w.sync_w = q[1];
        if (r < 0) {
                warm_close(&w);
                return r;
        }

        /* The cgroup first: on v2 the PID 1 is cloned into it. */
        r = sandbox_pool_take_cgroup(p, o, &w.cg, err, sizeof err);
        if (r < 0 && o->mode != SANDBOX_REQUIRED) {
                snprintf(w.message, sizeof w.message, "no memory, pids or CPU limits: %s", err[0] ? err : strerror(-r));
                r = 0;
        }
        if (r < 0) {
                warm_close(&w);
                return r;
        }
        SandboxJob job = {};
        SandboxPlan wp = *plan;
        wp.job = &job; /* (its address is not used: the slot's is) */
        SandboxChildFds fds = { -EBADF, -EBADF, error_w, sync_r, status_w };
        r = sandbox_pool_clone_start(p, &wp, NULL, NULL, &fds, sandbox_cgroup_dir_fd(&w.cg), true, &w.slot);
        if (r < 0) {
                sandbox_pool_give_cgroup(p, &w.cg);
                warm_close(&w);
                return r;
        }
        if (plan->net_later && (r = join[0] = sandbox_netns_new()) >= 0)
                n_join = 1;
        w.pid = sandbox_pool_clone_wait(p, w.slot);
        if (w.pid > 0 && r >= 0 && !sandbox_pool_clone_into_cgroup(p, w.slot) &&
            (r = sandbox_cgroup_open_join(&w.cg, join + n_join)) >= 0)
                n_join += r;
        if (w.pid > 0 && r >= 0 && plan->userns && (r = sandbox_write_id_maps(plan, w.pid)) >= 0)
                r = sandbox_send_go(w.sync_w, 'g', NULL, 0);
        if (w.pid > 0 && r >= 0)
                r = sandbox_send_go(w.sync_w, w.cg.kind != SANDBOX_CGROUP_NONE ? 'c' : 'n', join, (size_t) n_join);
        if (plan->net_later && n_join > 0)
                close(join[0]);
        if (w.pid <= 0 || r < 0) {
                if (w.pid > 0)
                        sandbox_pool_warm_discard(p, &w);
                else {
                        sandbox_pool_give_cgroup(p, &w.cg);
                        sandbox_pool_release(p, w.slot, NULL);
                        warm_close(&w);
                }
                return w.pid < 0 ? w.pid : r < 0 ? r : -ESRCH;
        }
        *ret = w;
        return 0;
}

void sandbox_pool_warm_fill(SandboxPool *p, const SandboxPlan *plan, const SandboxOptions *o, const char *key) {
        size_t want = 0;

        pthread_mutex_lock(&p->lock);
        if (p->n_warming == 0 && now_monotonic() >= p->warm_retry) {
                size_t have = 0;
                for (size_t i = 0; i < p->n_warm; i++)
                        have += streq(p->warm[i].key, key);
                want = have < p->warm_per_key ? p->warm_per_key - have : 0;
                p->n_warming = want;
        }
        pthread_mutex_unlock(&p->lock);

        for (size_t i = 0; i < want; i++) {
                PoolWarm e = { .key = strdup(key), .made = now_monotonic() };
                int r = e.key ? warm_make(p, plan, o, &e.w) : -ENOMEM;
                PoolWarm old = {};
                bool last = r < 0 || i + 1 == want;
                pthread_mutex_lock(&p->lock);
                if (last)
                        p->n_warming = 0;
                if (r >= 0) {
                        p->warm_failed = 0;
                        if (p->n_warm == POOL_WARM_MAX)
                                old = warm_remove(p, 0);
                        p->warm[p->n_warm++] = e;
                } else if (r != -EBUSY) {
                        /* (Every zygote slot busy with running tasks is no failure: next time.) */
                        p->warm_failed = MIN(p->warm_failed + 1, 6u);
                        p->warm_retry = now_monotonic() + (USEC_PER_SEC << (p->warm_failed - 1));
                }
                pthread_mutex_unlock(&p->lock);
                if (old.key) {
                        free(old.key);
                        sandbox_pool_warm_discard(p, &old.w);
                }
                if (r < 0) {
                        free(e.key);
                        break;
                }
        }
        /* Those nobody took for long (their plan is not used any more): their processes, namespaces
         * and cgroups go. */
        for (;;) {
                PoolWarm stale = {};
                pthread_mutex_lock(&p->lock);
                for (size_t i = 0; i < p->n_warm && !stale.key; i++)
                        if (now_monotonic() - p->warm[i].made > POOL_WARM_IDLE && !streq(p->warm[i].key, key))
                                stale = warm_remove(p, i);
                pthread_mutex_unlock(&p->lock);
                if (!stale.key)
                        break;
                free(stale.key);
                sandbox_pool_warm_discard(p, &stale.w);
        }
}

SandboxPool *sandbox_pool_free(SandboxPool *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_warm; i++) {
                sandbox_pool_warm_discard(p, &p->warm[i].w);
                free(p->warm[i].key);
        }
        p->n_warm = 0;
        for (size_t i = 0; i < p->n_pending; i++) {
                (void) pending_reap(&p->pending[i], true);
                close(p->pending[i].pidfd);
                sandbox_cgroup_destroy(&p->pending[i].cg);
        }
        for (size_t i = 0; i < p->n_free; i++)
                sandbox_cgroup_destroy(&p->free[i]);
        if (p->zygote_sock >= 0) {
                close(p->zygote_sock); /* it exits at EOF */
                if (getpid() == p->owner)
                        (void) waitpid(p->zygote_pid, NULL, 0);
        }
        if (p->arena)
                (void) munmap(p->arena, (size_t) ZYGOTE_SLOTS * ZYGOTE_SLOT_SIZE);
        if (p->nocaps)
                cap_free(p->nocaps);
        if (p->zygote_pidfd >= 0)
                close(p->zygote_pidfd);
        sandbox_seccomp_free(&p->filter);
        if (p->template_fd >= 0)
                close(p->template_fd);
        free(p->template_key);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
}

/* What the template holds: the plan's mounts but the writable ones, in order. */
static char *template_key(const SandboxPlan *plan) {
        size_t n = 1;
        for (size_t i = 0; i < plan->n_mounts; i++)
                n += strlen(plan->mounts[i].src) + strlen(plan->mounts[i].dst) + 4;
        char *k = malloc(n), *e = k;
        if (!k)
                return NULL;
        for (size_t i = 0; i < plan->n_mounts; i++) {
                const SandboxMount *m = &plan->mounts[i];
                if (m->kind != SANDBOX_MOUNT_RW)
                        e += sprintf(e, "%d%s\n%s\n", (int) m->kind, m->src, m->dst);
        }
        *e = 0;
        return k;
}

int sandbox_pool_template(SandboxPool *p, const SandboxPlan *plan) {
        char *k = template_key(plan);
        int r;

        if (!k)
                return -ENOMEM;
        pthread_mutex_lock(&p->lock);
        if (p->template_error)
                r = p->template_error;
        else if (p->template_fd >= 0)
                r = streq(p->template_key, k) ? p->template_fd : -ESTALE;
        else {
                /* The first start makes it, the others wait for it (once per worker). */
                r = sandbox_template_new(plan);
                if (r >= 0) {
                        p->template_fd = r;
                        p->template_key = TAKE_PTR(k);
                } else
                        p->template_error = r;
        }
        pthread_mutex_unlock(&p->lock);
        free(k);
        return r;
}

const struct sock_fprog *sandbox_pool_filter(SandboxPool *p) {
        return &p->filter;
}

int sandbox_pool_take_cgroup(SandboxPool *p, const SandboxOptions *o, SandboxCgroup *ret, char *err, size_t err_size) {
        SandboxCgroup cg = {};
        bool have = false;
        unsigned long long n;

        pool_reap(p, false);
        pthread_mutex_lock(&p->lock);
        bool sweep = !p->swept;
        p->swept = true;
        pthread_mutex_unlock(&p->lock);
        /* Once: what earlier pools left when their process was killed. */
        if (sweep)
                sandbox_cgroup_sweep(o);
        pthread_mutex_lock(&p->lock);
        if (p->n_free > 0) {
                cg = p->free[--p->n_free];
                have = true;
        }
        n = atomic_fetch_add(&cgroups_made, 1); /* (process-wide: two pools must not share one) */
        pthread_mutex_unlock(&p->lock);

        if (have) {
                int r = sandbox_cgroup_reuse(&cg, o, err, err_size);
                if (r >= 0) {
                        *ret = cg;
                        return 0;
                }
                sandbox_cgroup_destroy(&cg);
                err[0] = 0;
        }
        /* Unique per worker process: its pid and a counter. */
        char name[64];
        snprintf(name, sizeof name, "pool-%d-%llu", (int) getpid(), n);
        int r = sandbox_cgroup_create(o, name, ret, err, err_size);
        if (r >= 0) {
                pthread_mutex_lock(&p->lock);
                p->cgroup_kind = ret->kind;
                pthread_mutex_unlock(&p->lock);
        }
        return r;
}

void sandbox_pool_give_cgroup(SandboxPool *p, SandboxCgroup *cg) {
        if (cg->kind != SANDBOX_CGROUP_NONE && sandbox_cgroup_reusable(cg)) {
                pthread_mutex_lock(&p->lock);
                bool kept = p->n_free < POOL_CGROUPS_MAX;
                if (kept)
                        p->free[p->n_free++] = *cg;
                pthread_mutex_unlock(&p->lock);
                if (kept) {
                        *cg = (SandboxCgroup) {};
                        return;
                }
        }
        sandbox_cgroup_destroy(cg);
}

void sandbox_pool_set_made_ahead(SandboxPool *p, unsigned per_plan) {
        PoolWarm gone[POOL_WARM_MAX];
        size_t n = 0;

        pthread_mutex_lock(&p->lock);
        p->warm_per_key = MIN(per_plan, 3u);
        if (p->warm_per_key == 0)
                while (p->n_warm > 0)
                        gone[n++] = warm_remove(p, 0);
        pthread_mutex_unlock(&p->lock);
        for (size_t i = 0; i < n; i++) {
                free(gone[i].key);
                sandbox_pool_warm_discard(p, &gone[i].w);
        }
}

void sandbox_pool_count_start(SandboxPool *p, bool made_ahead) {
        pthread_mutex_lock(&p->lock);
        if (made_ahead)
                p->starts_made_ahead++;
        else
                p->starts_built++;
        pthread_mutex_unlock(&p->lock);
}

void sandbox_pool_stats(SandboxPool *p, SandboxPoolStats *ret) {
        pthread_mutex_lock(&p->lock);
        *ret = (SandboxPoolStats) { p->starts_made_ahead, p->starts_built, p->clones_into_cgroup, (unsigned) p->n_warm };
        pthread_mutex_unlock(&p->lock);
}
