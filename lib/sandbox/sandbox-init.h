/* sandbox-init.h: the sandbox's init (sandbox-init.c), the program a task's PID 1 becomes once the
 * task runs, and how the library starts it (init-blob.c). */
#pragma once

#include <stdint.h>

/* Written by the init to fd 3 once the task and everything it started are gone. */
typedef struct SandboxInitReport {
        int32_t status;  /* the task's wait status */
        uint32_t unused;
        uint64_t reaped; /* CLOCK_MONOTONIC, in microseconds: when the task was reaped */
} SandboxInitReport;

/* Its command line: the name, then the task's pid in the sandbox's PID namespace. Its environment is
 * empty, its fds are /dev/null on 0-2 and the report's pipe on 3, and the signals it passes on are
 * blocked already (SANDBOX_INIT_SIGNALS, SIGCHLD too). */
#define SANDBOX_INIT_NAME "tern-sandbox-init"
#define SANDBOX_INIT_SIGNALS SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2

/* A sealed, close-on-exec memfd holding the init's executable (built with the library and embedded
 * in it, so that no path has to be found or trusted at run time): made at the first call, the same
 * for the whole process afterwards (never close it). A negative errno when it cannot be made. */
int sandbox_init_fd(void);
