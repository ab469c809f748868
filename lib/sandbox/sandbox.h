/* sandbox.h: how a task's process is isolated: the options a worker (and a task) choose, with safe
 * defaults. process_run() applies them; the pieces live in namespace.c, cgroup.c and seccomp.c. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "timeutil.h"

typedef enum SandboxMode {
        SANDBOX_OFF,         /* a plain child process: chosen explicitly, never a silent fallback */
        SANDBOX_REQUIRED,    /* every isolation below, or the task fails with the reason */
        SANDBOX_BEST_EFFORT, /* what the worker's privileges allow; what is missing is reported in
                              * ProcessResult.message (the task logs it as a warning) */
        _SANDBOX_MODE_MAX,
        _SANDBOX_MODE_INVALID = -22,
} SandboxMode;

/* What a worker's starts share (pool.h): NULL in SandboxOptions.pool makes every start build all. */
typedef struct SandboxPool SandboxPool;

typedef struct SandboxOptions {
        SandboxMode mode;
        bool network;        /* keep the host's network; false: a namespace with only loopback */
        bool user_namespace; /* also a new user namespace (how a worker that is not root sandboxes) */
        uid_t uid;           /* the task's identity; 0 = 65534 (nobody): a task never runs as root */
        gid_t gid;           /* 0 = 65534 (nogroup) */
        uint64_t memory_max; /* bytes of memory (and swap) for the whole task; 0 = no limit */
        uint64_t pids_max;   /* processes and threads of the whole task; 0 = no limit */
        unsigned cpu_percent; /* CPU time, 100 = one CPU; 0 = no limit */
        uint64_t nofile;     /* RLIMIT_NOFILE; 0 = 1024 */
        uint64_t fsize;      /* RLIMIT_FSIZE in bytes; 0 = no limit */
        char *const *ro_binds; /* extra host paths visible read-only, "PATH" or "HOST:INSIDE" */
        char *const *rw_binds; /* extra host paths visible writable (shared caches, sockets) */
        char *const *hidden;   /* host paths masked inside (the worker's state and storage dirs);
                                * /etc/tern is always masked */
        const char *cgroup_name; /* sub-cgroup of the worker's own that holds task cgroups;
                                  * NULL = "tern-tasks" */
        bool require_image;      /* a task that asks for a container image (which this worker cannot
                                  * run) fails instead of running on the host with a warning */
        SandboxPool *pool;       /* NULL, or the worker's (sandbox_pool_new, kept by the caller): the
                                  * seccomp program compiled once, task cgroups reused, a template
                                  * root, PID 1s cloned by a small zygote (pool.h) */
} SandboxOptions;

#define SANDBOX_NOBODY 65534

/* Where a sandboxed start spends its time, for the benchmark (bench/sandbox-spawn --steps). */
typedef enum SandboxStep {
        SANDBOX_STEP_PLAN,       /* parent: paths, ids, the filter */
        SANDBOX_STEP_CLONE,      /* parent: clone into the new namespaces */
        SANDBOX_STEP_HANDOFF,    /* parent: id maps, the go-ahead reaching the child */
        SANDBOX_STEP_TREES,      /* child: private mounts, copies of the host paths */
        SANDBOX_STEP_NAMESPACES, /* child: ids, hostname, loopback */
        SANDBOX_STEP_MOUNTS,     /* child: the new root's mounts */
        SANDBOX_STEP_PIVOT,      /* child: pivot_root, detach the host's tree, read-only root */
        SANDBOX_STEP_CGROUP,     /* parent, while the child builds its root: the task's cgroup(s) and
                                  * limits, the network namespace */
        SANDBOX_STEP_CGROUP_WAIT, /* child: waiting for those after its root is built, joining them */
        SANDBOX_STEP_EXEC,       /* child: cgroup namespace, rlimits, fork of the task, identity, filter,
                                  * until execve */
        SANDBOX_STEP_RUN,        /* the task runs (/bin/true: its exec and exit) until the PID 1 reaps it */
        SANDBOX_STEP_TEARDOWN,   /* the PID 1 ends; its namespaces go; the parent reaps it */
        SANDBOX_STEP_CLEANUP,    /* parent: the cgroup's verdicts, killing what is left, removal */
        _SANDBOX_STEP_MAX,
} SandboxStep;

typedef struct SandboxTrace {
        usec_t usec[_SANDBOX_STEP_MAX]; /* summed over the runs that were given this trace; all but
                                         * SANDBOX_STEP_CGROUP follow one another */
        unsigned runs;
} SandboxTrace;

const char *sandbox_step_to_string(SandboxStep s);

/* Safe defaults: required, no network, nobody, 1024 pids, 1024 files. */
void sandbox_options_init(SandboxOptions *o);

const char *sandbox_mode_to_string(SandboxMode m);
SandboxMode sandbox_mode_from_string(const char *s);

/* "512MB", "1GiB", "2g", "1048576" -> bytes (Kestra's and Docker's spellings). */
int sandbox_parse_bytes(const char *s, uint64_t *ret);
