/* pool.h: what a worker's sandboxed starts share, so that each start does less: the seccomp program
 * compiled once, task cgroups kept for the next task instead of removed and made again, a template
 * mount namespace each task copies, and a zygote process the PID 1s are cloned from. */
#pragma once

#include <linux/filter.h>
#include <stdbool.h>

#include "cgroup.h"
#include "namespace.h"
#include "sandbox.h"

/* Thread-safe: the worker's task threads share one (SandboxOptions.pool). Make it early, while the
 * worker is small (the zygote is a fork of it: every PID 1 copies its page tables), on a thread
 * that lives as long as the pool (the PID 1s die with it: PR_SET_PDEATHSIG). */
int sandbox_pool_new(SandboxPool **ret);
/* Reaps what it was left to reap, removes the cgroups it keeps. NULL is fine. */
SandboxPool *sandbox_pool_free(SandboxPool *p);

/* The deny list's program; valid as long as the pool. */
const struct sock_fprog *sandbox_pool_filter(SandboxPool *p);

/* The mount namespace template for the plan's read-only mounts (made at the first call), or a
 * negative errno: none (a plan with other mounts than the first, or it could not be made). */
int sandbox_pool_template(SandboxPool *p, const SandboxPlan *plan);

/* Have the pool's zygote clone the PID 1 for plan (its parent is the worker all the same), without
 * waiting: sandbox_pool_clone_wait gives its pid. *ret_slot is to be released after the task.
 * Negative errno: -EOPNOTSUPP (no zygote; a user namespace), -EBUSY (every slot in use), -E2BIG
 * (too big for a slot): clone it here. trace: the child's step times are kept in the slot, for
 * sandbox_pool_release. */
int sandbox_pool_clone_start(SandboxPool *p, const SandboxPlan *plan, char *const *argv, char *const *env,
                             const SandboxChildFds *fds, int cgroup_fd, bool trace, int *ret_slot);
/* The PID 1's pid, or the clone's negative errno (-EPIPE: the zygote is gone). */
pid_t sandbox_pool_clone_wait(SandboxPool *p, int slot);
/* After the wait: it was cloned into the cgroup_fd it was given (v2, sandbox_cgroup_dir_fd), so it
 * need not join it. */
bool sandbox_pool_clone_into_cgroup(SandboxPool *p, int slot);
/* The task cgroups it makes are on cgroup v2 (as far as it knows: the last one was): worth taking
 * before the clone, to clone into. */
bool sandbox_pool_cgroups_v2(SandboxPool *p);
/* The zygote's pid (for its CPU time in the benchmark), 0 without one. */
pid_t sandbox_pool_zygote(SandboxPool *p);
/* Once the PID 1 is gone or has reported the task's end; copies the step times to ret_marks. */
void sandbox_pool_release(SandboxPool *p, int slot, usec_t *ret_marks);

/* A pre-made sandbox: a PID 1 that has built all of a task's sandbox (namespaces, root, cgroup with
 * the limits, network namespace) but what is the task's own, and has forked the task's process,
 * which waits unprivileged and filtered for its streams, working directory, command and environment.
 * The start of a task is then only the hand-over (sandbox_pool_warm_start). Each serves one task. */
typedef struct SandboxWarm {
        pid_t pid;         /* the PID 1 (the worker's child) */
        int slot;          /* its zygote slot, released after the task (sandbox_pool_release) */
        int sync_w;        /* where the job goes */
        int error_r;       /* SandboxChildError on failure; EOF once the task has exec'ed */
        int status_r;      /* the task's wait status, from the PID 1 */
        SandboxCgroup cg;  /* the task's, joined; none in best-effort mode where there is none */
        char message[256]; /* then why, for the task's log (as a start without it says) */
} SandboxWarm;

/* How many sandboxes to make ahead for each plan: 0 (none: every start builds its own; no process
 * waits), 1, 2 (the default) or 3. */
void sandbox_pool_set_made_ahead(SandboxPool *p, unsigned per_plan);

/* Take a pre-made sandbox made for key (sandbox_plan_key): 0, or -ENOENT (none is ready). */
int sandbox_pool_warm_take(SandboxPool *p, const char *key, SandboxWarm *ret);
/* Hand w its task. tree: the working directory's mount (sandbox_open_workdir) or -1, taken; the
 * streams are copied. Negative errno: w is unusable (sandbox_pool_warm_discard it). */
int sandbox_pool_warm_start(SandboxPool *p, SandboxWarm *w, const char *cwd, char *const *argv, char *const *env,
                            int out_w, int err_w, int tree);
/* Kill a pre-made sandbox that was taken but cannot serve; its cgroup goes back to the pool. */
void sandbox_pool_warm_discard(SandboxPool *p, SandboxWarm *w);
/* Make pre-made sandboxes for the plan (its working directory left out) and the limits of o, until
 * the pool holds two for key (six in all: the oldest of other plans make room; those of a plan no
 * task had for ten minutes go). Best effort: a failure only means that starts build their sandbox
 * themselves for a while (the next try waits 1 s, then 2, 4... up to a minute). */
void sandbox_pool_warm_fill(SandboxPool *p, const SandboxPlan *plan, const SandboxOptions *o, const char *key);

typedef struct SandboxPoolStats {
        uint64_t starts_made_ahead, starts_built; /* sandboxed starts, by where their sandbox came from */
        uint64_t clones_into_cgroup;              /* PID 1s cloned into their v2 cgroup */
        unsigned ready;                           /* sandboxes made ahead, waiting for a task */
} SandboxPoolStats;
void sandbox_pool_stats(SandboxPool *p, SandboxPoolStats *ret);
/* process_run counts each sandboxed start. */
void sandbox_pool_count_start(SandboxPool *p, bool made_ahead);

/* A cgroup with the limits of o: one a previous task left clean, or a new one. */
int sandbox_pool_take_cgroup(SandboxPool *p, const SandboxOptions *o, SandboxCgroup *ret, char *err, size_t err_size);
/* After the task: kept for the next one if it is empty and clean, else removed. *cg is emptied. */
void sandbox_pool_give_cgroup(SandboxPool *p, SandboxCgroup *cg);
/* The task is over but its PID 1 (pidfd, our child) is still exiting: the pool reaps it later (at the
 * next take, or when freed) and then gives its cgroup back. Takes pidfd and *cg. */
void sandbox_pool_defer(SandboxPool *p, int pidfd, SandboxCgroup *cg);
