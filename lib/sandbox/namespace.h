/* namespace.h: the sandbox's process side: a plan made in the parent (paths, ids, the compiled
 * filter), a clone into new namespaces, and the child that builds the root, starts the task as an
 * unprivileged process and then becomes the sandbox's init (sandbox-init.h), the PID 1 of the
 * task's namespace. */
#pragma once

#include <linux/filter.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/capability.h>
#include <sys/types.h>

#include "sandbox.h"
#include "timeutil.h"

typedef enum SandboxMountKind {
        SANDBOX_MOUNT_RO,      /* read-only bind of a host path */
        SANDBOX_MOUNT_RW,      /* writable bind (the working directory, configured rw binds) */
        SANDBOX_MOUNT_SYMLINK, /* a symlink like the host's (/bin -> usr/bin) */
        SANDBOX_MOUNT_HIDE,    /* masked by an empty read-only directory or file, if it exists */
} SandboxMountKind;

typedef struct SandboxMount {
        SandboxMountKind kind;
        char *src; /* host path (symlink: its target) */
        char *dst; /* path inside, relative to the new root */
} SandboxMount;

#define SANDBOX_MOUNTS_MAX 64

/* Times the child takes (SandboxTrace): written into a shared page when the caller asked. */
enum {
        SANDBOX_MARK_GO,         /* the go-ahead read */
        SANDBOX_MARK_TREES,      /* host paths copied */
        SANDBOX_MARK_NAMESPACES, /* ids, hostname, loopback */
        SANDBOX_MARK_MOUNTS,     /* the new root is built */
        SANDBOX_MARK_PIVOT,      /* it is the root */
        SANDBOX_MARK_CGROUP,     /* the parent said the cgroup is joined */
        SANDBOX_MARK_EXEC,       /* the task calls execve */
        SANDBOX_MARK_REAPED,     /* the PID 1 has reaped the task (its init says when: SandboxInitReport) */
        _SANDBOX_MARK_MAX,
};

/* A pre-made sandbox's task (pool.h), written by the worker into memory its PID 1 shares before it
 * sends the job (sandbox_send_go 'j' with the task's stdout, stderr and working directory mount). */
typedef struct SandboxJob {
        char *cwd;
        char **argv, **env;
} SandboxJob;

typedef struct SandboxPlan {
        unsigned long clone_flags;
        SandboxMount mounts[SANDBOX_MOUNTS_MAX];
        size_t n_mounts;
        char *cwd;          /* the working directory, at the same path inside */
        uid_t uid, map_uid; /* uid inside; with a user namespace, inside 0 maps to map_uid */
        gid_t gid, map_gid;
        bool userns, userns_root; /* user namespace; created by root (may set groups) */
        bool net_later;           /* the parent sends a new network namespace (with loopback up) */
        uint64_t nofile, fsize;
        struct sock_fprog filter;
        bool own_filter; /* compiled for this plan, not the pool's */
        cap_t nocaps;
        usec_t *marks; /* NULL, or _SANDBOX_MARK_MAX times in memory shared with the parent */
        int template_fd; /* a mount namespace holding the read-only part of this root (the pool's,
                          * made by sandbox_template_new), or -1: the child builds it all */
        SandboxJob *job; /* non-NULL: a pre-made sandbox, whose task comes later (see SandboxJob); its
                          * plan has no working directory, and out_w and err_w are -1 */
        char *job_base;  /* a pre-made sandbox without template: the directory its job's working
                          * directory is in (the PID 1 clones it from there), or NULL */
        int init_fd;     /* the sandbox's init the PID 1 execs once the task runs (sandbox_init_fd) */
} SandboxPlan;

/* Why the child could not set the sandbox up or exec: sent through a close-on-exec pipe. */
typedef struct SandboxChildError {
        int err;
        char what[124];
} SandboxChildError;

typedef struct SandboxChildFds {
        int out_w, err_w; /* the task's stdout and stderr */
        int error_w;      /* SandboxChildError on failure; EOF once the task has exec'ed */
        int sync_r;       /* 'g' once the parent has written the id maps (user namespace only), then
                           * 'c' with the network namespace (net_later) and the files that move us
                           * into the task's cgroup ('n': no cgroup, best-effort mode) */
        int status_w;     /* the task's end (SandboxInitReport), written by the PID 1 */
} SandboxChildFds;

/* The go-ahead byte on the sync socket, with the network namespace (SandboxPlan.net_later) and the
 * files the child writes "0" to join its cgroup. */
#define SANDBOX_GO_FDS_MAX 4
int sandbox_send_go(int sock, char c, const int *fds, size_t n_fds);
int sandbox_recv_go(int sock, char *ret_c, int *fds, size_t *n_fds);

/* The job's message: 'j' with the task's stdout and stderr, and its working directory's mount. */
#define SANDBOX_JOB_FDS_MAX 3

/* Prepare everything the child needs, so that it only makes system calls (the worker is
 * multi-threaded: its child must not take locks such as malloc's). err explains a failure. */
int sandbox_plan_init(SandboxPlan *p, const SandboxOptions *o, const char *cwd, char *err, size_t err_size);
void sandbox_plan_done(SandboxPlan *p);
/* Whether o can make a sandbox at all, as far as its settings go: the binds well-formed, their host
 * paths there, their mount points possible (not below a read-only system directory where they do
 * not exist). -EINVAL with err saying which and why; other negative errnos: none could be checked. */
int sandbox_options_check(const SandboxOptions *o, char *err, size_t err_size);

/* A mount namespace with the plan's root except what each task gets fresh (/tmp, /dev/shm,
 * /proc, the writable binds), built once by a short-lived child: its fd, or a negative errno. */
int sandbox_template_new(const SandboxPlan *p);
/* A raw clone with flags (fork semantics: 0 in the child; the exit signal in flags' low byte). With
 * cgroup_fd (a v2 cgroup's directory, sandbox_cgroup_dir_fd) the child is born in that cgroup
 * (clone3's CLONE_INTO_CGROUP) where the kernel can: *ret_into says whether it was. */
pid_t sandbox_clone_flags(unsigned long flags, int cgroup_fd, bool *ret_into);
/* Into the plan's namespaces, from this process. */
pid_t sandbox_clone(const SandboxPlan *p, int cgroup_fd, bool *ret_into);
/* A new network namespace with loopback up, made by the calling thread for the child: its fd. */
int sandbox_netns_new(void);
/* Parent, after clone: write the user namespace's id maps. */
int sandbox_write_id_maps(const SandboxPlan *p, pid_t pid);
/* Child: never returns. */
_Noreturn void sandbox_child(const SandboxPlan *p, char *const *argv, char *const *env, const SandboxChildFds *fds);

/* What a pre-made sandbox for p and o must have been made for: everything in p but its working
 * directory (whether it has one, and without template the directory it is in), and the limits of o
 * (malloc'ed). NULL without memory, or when no sandbox can be made ahead for p (without template, a
 * working directory right below /). */
char *sandbox_plan_key(const SandboxPlan *p, const SandboxOptions *o);
/* p without its working directory and its bind, as a pre-made sandbox is made: its mounts share
 * p's strings (do not sandbox_plan_done it). Without a template, the directory the working
 * directory is in goes into base, for job_base. */
void sandbox_plan_without_cwd(const SandboxPlan *p, SandboxPlan *ret, char *base, size_t base_size);
/* The working directory as a detached, nosuid and nodev mount, for a pre-made sandbox's job. */
int sandbox_open_workdir(const char *cwd);

/* Hand the working directory (recursively, never through symlinks nor into what is mounted below it)
 * to the task's host uid. -EPERM for a shared directory (sticky bit, as /tmp): a task's working
 * directory is its own. */
int sandbox_chown_workdir(const SandboxPlan *p, const char *dir);
