/* sandbox-test.h: what the sandbox tests share: a task's output captured line by line, and checks
 * that the process running the tasks (the worker) is left as it was. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "process.h"
#include "strbuf.h"

typedef struct Capture {
        StrBuf out, err;
} Capture;

/* A ProcessLineFn: appends each line (and a newline) to userdata's (a Capture) out or err. */
void capture_line(void *userdata, ProcessStream stream, const char *line, size_t len);
/* Empty both, for the next task. */
void capture_reset(Capture *c);
/* What the task printed on stdout ("" for nothing). */
const char *capture_out(Capture *c);

/* How many fds this process has open. */
int count_fds(void);
/* A process of ours with this argument in its command line is still alive. */
bool process_with_arg(const char *arg);
/* The pid of a process with this argument in its command line, 0 if none. */
pid_t process_find_arg(const char *arg);
/* A process's parent (its PPid), or a negative errno. */
pid_t process_parent(pid_t pid);
/* Whether the readable memory of pid holds needle: 1 it does, 0 it does not, a negative errno when
 * it could not be read (mappings of more than 256 MiB are skipped: sanitizers' shadow). */
int process_memory_contains(pid_t pid, const char *needle);
