/* sandbox-init.c: the PID 1 of a task's sandbox while the task runs. The process that built the
 * sandbox is a copy of the worker (its command line with a --db password, its environment, its
 * memory with the secrets it decoded); it execs this small static program once the task is
 * started, so that none of that stays in the sandbox. This reaps what ends, passes the worker's
 * signals on to every process of the sandbox, and when the task ends kills what it left and
 * reports the task's wait status. System calls only: nothing here needs more. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox-init.h"

static void forward(int sig) {
        /* Never runs (the signals stay blocked and are taken with sigwaitinfo): a handler keeps the
         * kernel from dropping the signals a namespace's init leaves at SIG_DFL. */
}

int main(int argc, char **argv) {
        static const int passed[] = { SANDBOX_INIT_SIGNALS };
        SandboxInitReport report = {};
        struct sigaction sa = { .sa_handler = forward };
        sigset_t set;

        if (argc != 2)
                return 127;
        char *end;
        errno = 0;
        long task = strtol(argv[1], &end, 10);
        if (errno != 0 || *end || task <= 1)
                return 127;
        (void) prctl(PR_SET_NAME, SANDBOX_INIT_NAME);
        sigemptyset(&set);
        sigaddset(&set, SIGCHLD);
        for (size_t i = 0; i < sizeof passed / sizeof passed[0]; i++) {
                sigaddset(&set, passed[i]);
                (void) sigaction(passed[i], &sa, NULL);
        }
        /* (Blocked since before the task was forked: what came meanwhile is pending.) */
        sigprocmask(SIG_BLOCK, &set, NULL);

        for (bool done = false; !done;) {
                /* The task may have ended before this program started: look before waiting. */
                for (;;) {
                        int st;
                        pid_t w = waitpid(-1, &st, WNOHANG);
                        if (w <= 0)
                                break;
                        if (w == (pid_t) task) {
                                report.status = st;
                                done = true;
                        }
                }
                if (done)
                        break;
                siginfo_t si;
                int sig = sigwaitinfo(&set, &si);
                if (sig > 0 && sig != SIGCHLD)
                        (void) kill(-1, sig);
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        report.reaped = (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
        /* The task is over: nothing it started may outlive it. */
        (void) kill(-1, SIGKILL);
        while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
                ;
        (void) !write(3, &report, sizeof report);
        return 0;
}
