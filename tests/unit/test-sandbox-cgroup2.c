/* test-sandbox-cgroup2: the sandbox on a host with only the unified cgroup hierarchy, as most hosts
 * are now. In a mount namespace of its own, the test puts cgroup2 at /sys/fs/cgroup in place of
 * what the host mounts there (on this project's CI machine: the v1 hierarchies). Where the host binds
 * the memory and pids controllers to v1 hierarchies, the unified one has none: then tasks without
 * limits run in v2 cgroups (kept together, killed together, reused by a pool), and tasks with limits
 * get the reason they cannot have them. Where it has them, the limits are tried too. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "pool.h"
#include "process.h"
#include "sandbox-init.h"
#include "sandbox-test.h"
#include "strutil.h"
#include "tap.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* Named by this process's pid: the unified hierarchy is the host's, shared with any other run of this test. */
static char cgname[64], cgroups[128];

static char workdir[] = "/tmp/tern-cgroup2-test-XXXXXX";

/* While the task runs: how many processes its cgroup(s) below the test's cgroup hold. */
typedef struct Watch {
        Capture c;
        int in_cgroup; /* -1: not looked */
} Watch;

/* The number a shell command prints, -1 if none. */
static int shell_count(const char *cmd) {
        FILE *f = popen(cmd, "re");
        int n = -1;
        if (f) {
                if (fscanf(f, "%d", &n) != 1)
                        n = -1;
                pclose(f);
        }
        return n;
}

static int count_task_processes(void) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "cat %s/*/cgroup.procs 2>/dev/null | wc -l", cgroups);
        return shell_count(cmd);
}

static void watch_line(void *userdata, ProcessStream stream, const char *line, size_t len) {
        Watch *w = userdata;
        capture_line(&w->c, stream, line, len);
        if (stream == PROCESS_STDOUT && streq(line, "look"))
                w->in_cgroup = count_task_processes();
}

static int run_sh(const SandboxOptions *o, const char *script, Watch *w, ProcessResult *res) {
        char *argv[] = { (char *) "/bin/sh", (char *) "-c", (char *) script, NULL };
        char *env[] = { (char *) "PATH=/usr/bin:/bin", NULL };
        ProcessSpec spec = { .argv = argv, .env = env, .cwd = workdir, .timeout = 20 * USEC_PER_SEC,
                             .kill_grace = 500 * USEC_PER_MSEC, .cancel_fd = -1, .sandbox = o };
        capture_reset(&w->c);
        w->in_cgroup = -1;
        *res = (ProcessResult) {};
        return process_run(&spec, watch_line, w, res);
}

/* The unified hierarchy's controllers available to our cgroup (we are in its root here). */
static bool has_controllers(void) {
        char buf[256] = "";
        FILE *f = fopen("/sys/fs/cgroup/cgroup.controllers", "re");
        if (f) {
                if (!fgets(buf, sizeof buf, f))
                        buf[0] = 0;
                fclose(f);
        }
        return strstr(buf, "memory") && strstr(buf, "pids");
}

static void tasks(SandboxOptions *o, const char *label) {
        Watch w = { { STRBUF_INIT, STRBUF_INIT }, -1 };
        ProcessResult res;
        char what[128];

        /* It runs in a cgroup of its own on the unified hierarchy, rooted there (cgroup namespace). */
        int r = run_sh(o, "grep '^0::' /proc/self/cgroup; echo look; sleep 0.2", &w, &res);
        if (r < 0)
                diag("%s", res.message);
        snprintf(what, sizeof what, "%s: a task runs, in a cgroup namespace rooted at its v2 cgroup", label);
        is_str(capture_out(&w.c), "0::/\nlook\n", what);
        snprintf(what, sizeof what, "%s: its PID 1, shell and sleep are in its cgroup (%d)", label, w.in_cgroup);
        ok(res.sandboxed && w.in_cgroup >= 2, "%s", what);

        /* What it leaves running is killed with it. */
        run_sh(o, "(sleep 308.5 &) ; sh -c 'sleep 309.5 &'; echo started", &w, &res);
        snprintf(what, sizeof what, "%s: a double-forking task's orphans are killed with it", label);
        ok(res.exit_code == 0 && !process_with_arg("sleep 308.5") && !process_with_arg("sleep 309.5"), "%s", what);
        /* (A pool's sandboxes made ahead wait in cgroups of their own.) */
        if (!o->pool) {
                snprintf(what, sizeof what, "%s: no process is left in the task cgroups", label);
                is_int(count_task_processes(), 0, what);
        }
        strbuf_done(&w.c.out);
        strbuf_done(&w.c.err);
}

int main(void) {
        if (geteuid() != 0)
                tap_skip_all("the sandbox needs root; CI runs this as root");
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                tap_skip_all("no mount namespace of our own");
        struct statfs sf;
        if (statfs("/sys/fs/cgroup", &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC) {
                /* Whatever is there (v1 hierarchies under a tmpfs, or the hybrid layout) goes. */
                (void) umount2("/sys/fs/cgroup", MNT_DETACH);
                if (mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                        tap_skip_all("cannot mount cgroup2 at /sys/fs/cgroup");
        }
        ok(mkdtemp(workdir) != NULL && chmod(workdir, 0755) == 0, "a working directory");
        (void) sandbox_init_fd(); /* (one memfd for the life of the process) */
        int fds_before = count_fds();

        SandboxOptions o;
        sandbox_options_init(&o);
        snprintf(cgname, sizeof cgname, "tern-test-cgroup2-%d", (int) getpid());
        snprintf(cgroups, sizeof cgroups, "/sys/fs/cgroup/%s", cgname);
        o.cgroup_name = cgname;
        o.pids_max = 0;
        o.memory_max = 0;
        tasks(&o, "without limits");

        SandboxPool *pool = NULL;
        ok(sandbox_pool_new(&pool) == 0, "a pool");
        SandboxOptions po = o;
        po.pool = pool;
        tasks(&po, "with a pool");
        tasks(&po, "again, in sandboxes made ahead");
        char find[256];
        snprintf(find, sizeof find, "find %s -mindepth 1 -maxdepth 1 -name 'pool-*' -type d | wc -l", cgroups);
        int kept = shell_count(find);
        ok(kept >= 1 && kept <= 7, "the pool's cgroups are kept for reuse on v2 too (%d)", kept);
        SandboxPoolStats ps;
        sandbox_pool_stats(pool, &ps);
        ok(ps.clones_into_cgroup > 0, "PID 1s are cloned into their v2 cgroup, not moved there (%llu)",
           (unsigned long long) ps.clones_into_cgroup);
        /* And without sandboxes made ahead, a start clones its PID 1 into its cgroup itself. */
        sandbox_pool_set_made_ahead(pool, 0);
        uint64_t before = ps.clones_into_cgroup;
        tasks(&po, "with a pool, none made ahead");
        sandbox_pool_stats(pool, &ps);
        ok(ps.clones_into_cgroup > before, "a start with nothing made ahead clones its PID 1 into its cgroup (%llu)",
           (unsigned long long) (ps.clones_into_cgroup - before));

        Watch w = { { STRBUF_INIT, STRBUF_INIT }, -1 };
        ProcessResult res;
        SandboxOptions lo = o;
        lo.pids_max = 64;
        lo.memory_max = 256 << 20;
        if (has_controllers()) {
                /* A host that delegates them: the limits hold. */
                int r = run_sh(&lo, "i=0; while [ $i -lt 200 ]; do sleep 5 & i=$((i+1)); done 2>/dev/null; echo done", &w, &res);
                ok(r == 0 && res.pids_exhausted, "the pids limit holds on v2");
        } else {
                int r = run_sh(&lo, "echo ran", &w, &res);
                ok(r < 0 && strstr(res.message, "lacks the") && strstr(res.message, "delegate it to the worker"),
                   "limits without their controllers: the task is refused, with the reason (%s)", res.message);
                lo.mode = SANDBOX_BEST_EFFORT;
                r = run_sh(&lo, "echo ran", &w, &res);
                ok(r == 0 && res.sandboxed && streq(capture_out(&w.c), "ran\n") && strstr(res.message, "no memory, pids or CPU limits"),
                   "best effort: it runs sandboxed, and says which limits it lacks (%s)", res.message);
        }

        pool = sandbox_pool_free(pool);
        is_int(count_fds(), fds_before, "no fd leaked");
        snprintf(find, sizeof find, "test -z \"$(find %s -mindepth 1 -type d 2>/dev/null)\"", cgroups);
        ok(system(find) == 0, "every task cgroup was removed");
        (void) rmdir(cgroups);
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", workdir);
        (void) !system(cmd);
        strbuf_done(&w.c.out);
        strbuf_done(&w.c.err);
        return tap_done();
}
