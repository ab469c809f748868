/* seccomp-filter.h: the task's system call deny list, compiled once to BPF before the sandbox forks so
 * that the child only has to load it. */
#pragma once

#include <linux/filter.h>

/* Fill *ret with a filter program (ret->filter is malloc'ed; free with sandbox_seccomp_free). */
int sandbox_seccomp_build(struct sock_fprog *ret);
void sandbox_seccomp_free(struct sock_fprog *p);
