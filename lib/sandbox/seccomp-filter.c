/* seccomp-filter.c: build the deny list a task runs under: no tracing, no mounts or new namespaces, no
 * kernel modules, keys, BPF, perf, userfaultfd or io_uring, no terminal injection. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "seccomp-filter.h"

static void seccomp_releasep(scmp_filter_ctx *c) {
        if (*c)
                seccomp_release(*c);
}

/* Calls that let a process leave or reshape its sandbox, reach the kernel's sensitive interfaces or
 * other processes' memory. A deny list keeps every ordinary program working. */
static const char *const denied[] = {
        "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
        "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig",
        "fsmount", "fspick", "mount_setattr", "setns", "unshare",
        "kexec_load", "kexec_file_load", "reboot", "init_module", "finit_module", "delete_module",
        "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
        "swapon", "swapoff", "syslog", "acct", "quotactl", "quotactl_fd", "lookup_dcookie",
        "open_by_handle_at", "name_to_handle_at", "iopl", "ioperm", "vhangup",
        "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
        "fanotify_init", "nfsservctl", "uselib", "personality", "process_madvise",
};

/* Refused as if the kernel lacked them, so that programs fall back to what they do without (libuv,
 * tokio, liburing users check for ENOSYS). io_uring runs a task's I/O in kernel threads the filter
 * never sees: every call made through a ring bypasses this list, and the interface has been a steady
 * source of kernel privilege escalations (Docker's and Android's profiles refuse it too). */
static const char *const absent[] = {
        "io_uring_setup", "io_uring_enter", "io_uring_register",
};

static int add_rules(scmp_filter_ctx ctx) {
        int r;

        for (size_t i = 0; i < ELEMENTSOF(denied); i++) {
                int nr = seccomp_syscall_resolve_name(denied[i]);
                if (nr == __NR_SCMP_ERROR)
                        continue; /* not on this architecture */
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < ELEMENTSOF(absent); i++) {
                int nr = seccomp_syscall_resolve_name(absent[i]);
                if (nr == __NR_SCMP_ERROR)
                        continue;
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
                if (r < 0)
                        return r;
        }
        /* Injecting input into a terminal, or rewriting the console. */
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                             SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI));
        if (r < 0)
                return r;
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                             SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCLINUX));
        if (r < 0)
                return r;
        /* New namespaces through clone: a user namespace would give back every capability inside it.
         * clone3 passes its flags in memory the filter cannot read, so it reports ENOSYS and libc
         * falls back to clone. */
        static const unsigned long ns_flags[] = { CLONE_NEWNS,  CLONE_NEWUSER, CLONE_NEWPID,   CLONE_NEWNET,
                                                  CLONE_NEWUTS, CLONE_NEWIPC,  CLONE_NEWCGROUP };
        for (size_t i = 0; i < ELEMENTSOF(ns_flags); i++) {
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                                     SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
                if (r < 0)
                        return r;
        }
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
        return r;
}

int sandbox_seccomp_build(struct sock_fprog *ret) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        if (!ctx)
                return -ENOMEM;
        /* A call through another ABI (i386 int 0x80, x32) would bypass a native-only filter: those
         * kill the process (libseccomp's default for foreign architectures). */
        /* A binary tree over the system call numbers rather than a list: the kernel checks every
         * system call number against the program when it loads it (its cache of always-allowed
         * calls), which takes half the time, and each call the task makes costs fewer steps.
         * Older libseccomp lacks it: the list works the same. */
        (void) seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
        r = add_rules(ctx);
        if (r < 0)
                return r;
        fd = memfd_create("tern-seccomp", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return r;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0)
                return -EIO;
        struct sock_filter *f = malloc((size_t) st.st_size);
        if (!f)
                return -ENOMEM;
        if (pread(fd, f, (size_t) st.st_size, 0) != st.st_size) {
                free(f);
                return -EIO;
        }
        *ret = (struct sock_fprog) { .len = (unsigned short) (st.st_size / sizeof(struct sock_filter)), .filter = f };
        return 0;
}

void sandbox_seccomp_free(struct sock_fprog *p) {
        free(p->filter);
        p->filter = NULL;
        p->len = 0;
}
