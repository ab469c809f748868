/* pool.h: what a worker's sandboxed starts share, so that each start does less: the seccomp program
 * compiled once, and task cgroups kept for the next task instead of removed and made again. */
#pragma once

#include <linux/filter.h>
#include <stdbool.h>

#include "cgroup.h"
#include "namespace.h"
#include "sandbox.h"

/* Thread-safe: the worker's task threads share one (SandboxOptions.pool). */
int sandbox_pool_new(SandboxPool **ret);
/* Reaps what it was left to reap, removes the cgroups it keeps. NULL is fine. */
SandboxPool *sandbox_pool_free(SandboxPool *p);

/* The deny list's program; valid as long as the pool. */
const struct sock_fprog *sandbox_pool_filter(SandboxPool *p);

/* The mount namespace template for the plan's read-only mounts (made at the first call), or a
 * negative errno: none (a plan with other mounts than the first, or it could not be made). */
int sandbox_pool_template(SandboxPool *p, const SandboxPlan *plan);

/* A cgroup with the limits of o: one a previous task left clean, or a new one. */
int sandbox_pool_take_cgroup(SandboxPool *p, const SandboxOptions *o, SandboxCgroup *ret, char *err, size_t err_size);
/* After the task: kept for the next one if it is empty and clean, else removed. *cg is emptied. */
void sandbox_pool_give_cgroup(SandboxPool *p, SandboxCgroup *cg);
/* The task is over but its PID 1 (pidfd, our child) is still exiting: the pool reaps it later (at the
 * next take, or when freed) and then gives its cgroup back. Takes pidfd and *cg. */
void sandbox_pool_defer(SandboxPool *p, int pidfd, SandboxCgroup *cg);
