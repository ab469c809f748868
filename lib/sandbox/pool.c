/* pool.c: a worker's shared sandbox state: the compiled filter and the task cgroups kept for reuse. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "pool.h"
#include "seccomp-filter.h"

/* As many as a worker runs tasks at once, in practice; more are removed. */
#define POOL_CGROUPS_MAX 64

struct SandboxPool {
        pthread_mutex_t lock;
        struct sock_fprog filter;
        SandboxCgroup free[POOL_CGROUPS_MAX];
        size_t n_free;
        unsigned long long made; /* names the new cgroups */
};

int sandbox_pool_new(SandboxPool **ret) {
        SandboxPool *p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
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

SandboxPool *sandbox_pool_free(SandboxPool *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_free; i++)
                sandbox_cgroup_destroy(&p->free[i]);
        sandbox_seccomp_free(&p->filter);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
}

const struct sock_fprog *sandbox_pool_filter(SandboxPool *p) {
        return &p->filter;
}

int sandbox_pool_take_cgroup(SandboxPool *p, const SandboxOptions *o, SandboxCgroup *ret, char *err, size_t err_size) {
        SandboxCgroup cg = {};
        bool have = false;
        unsigned long long n;

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
