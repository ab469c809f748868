/* process.h: run a task's external command: clean environment, line-by-line output, timeout and
 * cancellation that kill the whole process group. The namespace sandbox builds on this. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "sandbox.h"
#include "timeutil.h"

typedef enum ProcessStream {
        PROCESS_STDOUT = 1,
        PROCESS_STDERR = 2,
} ProcessStream;

/* Called for every complete output line (without its newline; a final unterminated line is
 * delivered at exit; lines longer than PROCESS_LINE_MAX are split). Runs on the caller's thread. */
#define PROCESS_LINE_MAX (64 * 1024)
typedef void (*ProcessLineFn)(void *userdata, ProcessStream stream, const char *line, size_t len);

typedef struct ProcessSpec {
        char *const *argv;   /* argv[0] is executed as is (absolute path or found in PATH of env) */
        char *const *env;    /* the complete environment: nothing is inherited */
        const char *cwd;     /* NULL: inherit */
        usec_t timeout;      /* wall clock; 0 = none */
        usec_t kill_grace;   /* SIGTERM then this long before SIGKILL; 0 = default 5 s */
        int cancel_fd;       /* readable (eventfd/pipe) = cancel: kill the process group; -1 = none */
        const SandboxOptions *sandbox; /* NULL or mode off: a plain child process */
        SandboxTrace *trace; /* NULL, or where a sandboxed start adds the time of each step */
        bool one_off;        /* no sandboxes made ahead for more starts like this one (a check) */
} ProcessSpec;

typedef struct ProcessResult {
        int exit_code;    /* exit status, or 128+signal when killed by a signal */
        int signal;       /* terminating signal, 0 if it exited */
        bool timed_out;
        bool cancelled;
        usec_t duration;
        bool sandboxed;      /* ran inside the namespace sandbox */
        bool pre_made;       /* in a sandbox the pool made ahead, while earlier tasks ran (pool.h) */
        bool oom_killed;     /* the kernel's OOM killer hit the task (memory limit) */
        bool pids_exhausted; /* a fork was refused by the pids limit */
        /* Why the sandbox could not be set up (with a negative return), or, in best-effort mode,
         * which isolation is missing: for the task's log. Empty otherwise. */
        char message[256];
} ProcessResult;

/* Fork and exec spec->argv in a new session (its own process group, no controlling terminal),
 * with stdin from /dev/null and every other inherited fd closed, stream its output to on_line,
 * and wait for it. On timeout or cancellation the whole process group gets SIGTERM, then SIGKILL
 * after the grace period; when the main process exits, what is left of its group is killed too.
 * Returns 0 with *ret filled (a non-zero exit is not an error of this function), -ENOENT/-EACCES
 * when the program cannot be executed, or another negative errno (ret->message says why when the
 * sandbox could not be set up).
 *
 * With spec->sandbox, the command runs as the PID 1's child in new PID, mount, IPC, UTS, cgroup and
 * (unless network is allowed) network namespaces, below a read-only root where only spec->cwd
 * and a private /tmp are writable, as an unprivileged uid without capabilities under a seccomp
 * deny list and its own cgroup's limits. When the command exits, everything it started is killed. */
int process_run(const ProcessSpec *spec, ProcessLineFn on_line, void *userdata, ProcessResult *ret);
