/* pool.c: a worker's shared sandbox state: the compiled filter and the task cgroups kept for reuse. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "pool.h"
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

struct SandboxPool {
        pthread_mutex_t lock;
        struct sock_fprog filter;
        SandboxCgroup free[POOL_CGROUPS_MAX];
        size_t n_free;
        PoolPending pending[POOL_PENDING_MAX];
        size_t n_pending;
        int template_fd;     /* the mount namespace template, -1 before the first sandboxed start */
        char *template_key;  /* the read-only mounts it was made for */
        int template_error;  /* it could not be made: not tried again */
        unsigned long long made; /* names the new cgroups */
};

int sandbox_pool_new(SandboxPool **ret) {
        SandboxPool *p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        p->template_fd = -EBADF;
        int r = pthread_mutex_init(&p->lock, NULL);
        if (r != 0) {
                free(p);
                return -r;
        }
        r = sandbox_seccomp_build(&p->filter);
        if (r < 0) {
                sandbox_pool_free(p);
                return r;
        }
        *ret = p;
        return 0;
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

SandboxPool *sandbox_pool_free(SandboxPool *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_pending; i++) {
                (void) pending_reap(&p->pending[i], true);
                close(p->pending[i].pidfd);
                sandbox_cgroup_destroy(&p->pending[i].cg);
        }
        for (size_t i = 0; i < p->n_free; i++)
                sandbox_cgroup_destroy(&p->free[i]);
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
        if (p->n_free > 0) {
                cg = p->free[--p->n_free];
                have = true;
        }
        n = p->made++;
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
        return sandbox_cgroup_create(o, name, ret, err, err_size);
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
