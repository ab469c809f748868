/* cgroup.h: one cgroup per task under the worker's own, on cgroup v2 or on the v1 hierarchies,
 * carrying the task's memory, pids and CPU limits, telling an OOM kill, killing what is left. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sandbox.h"

typedef enum SandboxCgroupKind {
        SANDBOX_CGROUP_NONE,
        SANDBOX_CGROUP_V2,
        SANDBOX_CGROUP_V1,
} SandboxCgroupKind;

enum { SANDBOX_CG_MEMORY, SANDBOX_CG_PIDS, SANDBOX_CG_CPU, _SANDBOX_CG_MAX };

/* The files a cgroup keeps open: per hierarchy the join file and cgroup.procs, and the counters. */
enum {
        SANDBOX_CGF_JOIN = 0,
        SANDBOX_CGF_PROCS = SANDBOX_CGF_JOIN + _SANDBOX_CG_MAX,
        SANDBOX_CGF_OOM = SANDBOX_CGF_PROCS + _SANDBOX_CG_MAX,
        SANDBOX_CGF_PIDS,
        SANDBOX_CGF_DIR, /* v2: the cgroup's directory, to clone a process into (CLONE_INTO_CGROUP) */
        _SANDBOX_CGF_MAX,
};

typedef struct SandboxCgroup {
        SandboxCgroupKind kind;
        char *path[_SANDBOX_CG_MAX]; /* v2: path[0] is the one cgroup; v1: one per controller or NULL */
        uint64_t memory_max, pids_max; /* the limits it has now (0 = none) */
        unsigned cpu_percent;
        int fd[_SANDBOX_CGF_MAX]; /* kept open, fd + 1 (0: not open, so that {} is a valid empty one) */
} SandboxCgroup;

/* Create the task's cgroup(s) named name and set the limits of o. Returns 0, or a negative errno
 * with a reason in err (no usable hierarchy, no permission, controller missing). */
int sandbox_cgroup_create(const SandboxOptions *o, const char *name, SandboxCgroup *ret, char *err, size_t err_size);
/* Remove the empty cgroups that pools of processes now gone kept for reuse ("pool-PID-N" below the
 * task cgroups' parent of o). */
void sandbox_cgroup_sweep(const SandboxOptions *o);
/* Give a cgroup that ran a task (sandbox_cgroup_reusable) the limits of o, for the next task.
 * -EOPNOTSUPP: it cannot have them (made without the cpu hierarchy): make a fresh one. */
int sandbox_cgroup_reuse(SandboxCgroup *cg, const SandboxOptions *o, char *err, size_t err_size);
/* Empty, and no OOM kill or refused fork was counted in it: another task may use it. */
bool sandbox_cgroup_reusable(SandboxCgroup *cg);
/* Open the files through which a process moves itself (writing "0") into the task's cgroup(s):
 * the v1 "tasks" files (a thread moving itself skips the global lock a migration of another process
 * takes, and a single-threaded process is its thread), the v2 "cgroup.procs". Returns how many (at
 * most _SANDBOX_CG_MAX); they stay the cgroup's (closed by sandbox_cgroup_destroy). */
int sandbox_cgroup_open_join(SandboxCgroup *cg, int *fds);
/* v2: the cgroup's directory, kept open, for clone3(CLONE_INTO_CGROUP): a process made there needs
 * no migration, whose global lock waits for an RCU grace period (milliseconds) once it has been
 * idle. -EOPNOTSUPP on v1 (its processes join through "tasks", which takes no such lock). */
int sandbox_cgroup_dir_fd(SandboxCgroup *cg);
/* The kernel's OOM killer killed a process of the task. */
bool sandbox_cgroup_oom_killed(SandboxCgroup *cg);
/* The pids limit refused a fork at least once. */
bool sandbox_cgroup_pids_exhausted(SandboxCgroup *cg);
/* Kill every process left in it, wait for them to go (bounded), remove the cgroup(s). */
void sandbox_cgroup_destroy(SandboxCgroup *cg);
