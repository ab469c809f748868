/* process.c: run an external command with streamed output, timeout, cancellation and group kill. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "macro.h"
#include "namespace.h"
#include "pool.h"
#include "process.h"
#include "sandbox-init.h"

typedef struct LineBuf {
        char *buf;
        size_t len;
        bool eof;
} LineBuf;

static void linebuf_flush(LineBuf *lb, ProcessStream stream, ProcessLineFn fn, void *userdata, bool all) {
        size_t start = 0;
        for (size_t i = 0; i < lb->len; i++)
                if (lb->buf[i] == '\n') {
                        size_t n = i - start;
                        if (n > 0 && lb->buf[i - 1] == '\r')
                                n--;
                        lb->buf[start + n] = 0;
                        fn(userdata, stream, lb->buf + start, n);
                        start = i + 1;
                }
        /* A line that fills the buffer is delivered in pieces rather than growing without bound. */
        if ((all && start < lb->len) || lb->len - start >= PROCESS_LINE_MAX) {
                lb->buf[lb->len] = 0;
                fn(userdata, stream, lb->buf + start, lb->len - start);
                start = lb->len;
        }
        memmove(lb->buf, lb->buf + start, lb->len - start);
        lb->len -= start;
}

/* Read what is available; returns 0, or 1 at EOF. */
static int linebuf_read(int fd, LineBuf *lb, ProcessStream stream, ProcessLineFn fn, void *userdata) {
        for (;;) {
                ssize_t n = read(fd, lb->buf + lb->len, PROCESS_LINE_MAX - lb->len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        return 1;
                }
                if (n == 0)
                        return 1;
                lb->len += (size_t) n;
                linebuf_flush(lb, stream, fn, userdata, false);
        }
}

static void null_line(void *userdata, ProcessStream stream, const char *line, size_t len) {
}

_noreturn_ static void child_exec(const ProcessSpec *spec, int out_w, int err_w, int errpipe_w) {
        int e;

        /* Our own session: no controlling terminal, and a process group we can kill as a whole. */
        if (setsid() < 0)
                goto fail;
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(out_w, STDOUT_FILENO) < 0 ||
            dup2(err_w, STDERR_FILENO) < 0)
                goto fail;
        /* Close every inherited fd but the three standard ones (errpipe is O_CLOEXEC). */
        if (syscall(SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */) < 0) {
                for (int fd = 3; fd < 4096; fd++)
                        if (fd != errpipe_w)
                                (void) close(fd);
        }
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        signal(sig, SIG_DFL);
        if (spec->cwd && chdir(spec->cwd) < 0)
                goto fail;
        execvpe(spec->argv[0], spec->argv, spec->env);
fail:
        e = errno;
        SandboxChildError ce = { .err = e, .what = "exec" };
        (void) !write(errpipe_w, &ce, sizeof ce);
        _exit(127);
}

/* vfork: no copy of the worker's page tables (a fork costs milliseconds once the worker has some
 * memory); the child only makes system calls until it execs, and never returns from here, so no
 * caller's frame is shared with it. */
__attribute__((noinline)) static pid_t spawn_plain(const ProcessSpec *spec, int out_w, int err_w, int ep_w) {
        pid_t pid = vfork();
        if (pid == 0)
                child_exec(spec, out_w, err_w, ep_w);
        return pid;
}

static void kill_group(pid_t pid, int sig) {
        if (kill(-pid, sig) < 0 && errno == ESRCH)
                (void) kill(pid, sig);
}

static void message_append(ProcessResult *res, const char *fmt, ...) _printf_(2, 3);
static void message_append(ProcessResult *res, const char *fmt, ...) {
        size_t n = strlen(res->message);
        va_list ap;
        if (n > 0 && n + 2 < sizeof res->message) {
                res->message[n++] = ';';
                res->message[n++] = ' ';
                res->message[n] = 0;
        }
        va_start(ap, fmt);
        (void) vsnprintf(res->message + n, sizeof res->message - n, fmt, ap);
        va_end(ap);
}

/* The sandboxed start: the task's cgroup, the plan, the clone and the parent's share of the set-up
 * (id maps, cgroup membership), then the go-ahead. Returns the child's pid, 0 when best-effort mode
 * must fall back to a plain process, or a negative errno with res->message set. */
/* Sandboxes for this plan are made ahead: by a pool's zygote; for a root worker from the template
 * (the working directory then mounted from the worker's side), in a user namespace from scratch. */
static bool pre_made_for(const ProcessSpec *spec, const SandboxPlan *plan) {
        return spec->sandbox->pool && sandbox_pool_zygote(spec->sandbox->pool) > 0 &&
               (plan->template_fd >= 0 || plan->userns);
}

/* A pre-made sandbox of the pool for this plan, given the task: its PID 1, or 0 (none ready, or it
 * could not take the task: the caller builds one). Its error, status and job fds replace the
 * caller's. */
static pid_t warm_spawn(const ProcessSpec *spec, const SandboxPlan *plan, const char *key, SandboxCgroup *cg,
                        int out_w, int err_w, int *ep_r, int *st_r, int *sync_w, int *ret_slot, ProcessResult *res) {
        SandboxPool *pool = spec->sandbox->pool;
        SandboxWarm w;

        if (!key || sandbox_pool_warm_take(pool, key, &w) < 0)
                return 0;
        /* Without a template (in a user namespace), the PID 1 clones it from the host's tree. */
        bool clone_here = spec->cwd && plan->template_fd >= 0;
        int tree = clone_here ? sandbox_open_workdir(spec->cwd) : -EBADF;
        if ((clone_here && tree < 0) || sandbox_pool_warm_start(pool, &w, spec->cwd, spec->argv, spec->env, out_w, err_w, tree) < 0) {
                sandbox_pool_warm_discard(pool, &w);
                return 0;
        }
        safe_close(*ep_r);
        safe_close(*st_r);
        safe_close(*sync_w);
        *ep_r = w.error_r;
        *st_r = w.status_r;
        *sync_w = w.sync_w;
        *cg = w.cg;
        *ret_slot = w.slot;
        if (w.message[0])
                message_append(res, "%s", w.message);
        return w.pid;
}

/* The clone of the PID 1 failed with r (here, or in the zygote): an error that res explains, or 0
 * in best-effort mode where namespaces cannot be had at all (a plain process then; res says so). */
static int clone_failed(bool strict, int r, ProcessResult *res) {
        if (strict || (r != -EPERM && r != -EINVAL && r != -ENOSPC && r != -EUSERS))
                return message_append(res,
                                      "sandbox: cannot create namespaces: %s (the worker needs root, or the user namespace option)",
                                      strerror(-r)), r;
        message_append(res, "NOT SANDBOXED: cannot create namespaces: %s", strerror(-r));
        return 0;
}

/* The task's cgroup (the pool's, or a new one): 0, with none in best-effort mode where there is
 * none (res says why), or a negative errno (required mode; res says why). */
static int task_cgroup(const SandboxOptions *o, SandboxCgroup *cg, ProcessResult *res) {
        char err[200] = "", name[64];
        /* Unique per worker: the creating thread and the time. */
        snprintf(name, sizeof name, "task-%d-%llu", (int) gettid(), (unsigned long long) now_monotonic());
        int r = o->pool ? sandbox_pool_take_cgroup(o->pool, o, cg, err, sizeof err)
                        : sandbox_cgroup_create(o, name, cg, err, sizeof err);
        if (r >= 0)
                return 0;
        if (o->mode == SANDBOX_REQUIRED)
                return message_append(res, "sandbox: %s", err[0] ? err : strerror(-r)), r;
        message_append(res, "no memory, pids or CPU limits: %s", err[0] ? err : strerror(-r));
        return 0;
}

static pid_t sandbox_spawn(const ProcessSpec *spec, SandboxPlan *plan, SandboxCgroup *cg, const SandboxChildFds *fds,
                           int *ep_r, int *st_r, int *sync_w_ptr, usec_t *marks, usec_t *t, int *ret_slot,
                           char **ret_key, ProcessResult *res) {
        const SandboxOptions *o = spec->sandbox;
        bool strict = o->mode == SANDBOX_REQUIRED;
        char err[200] = "";
        int r;

        t[0] = now_monotonic();
        r = sandbox_plan_init(plan, o, spec->cwd, err, sizeof err);
        if (r < 0)
                return message_append(res, "sandbox: %s", err[0] ? err : strerror(-r)), r;
        plan->marks = marks;
        struct stat st;
        if (spec->cwd && stat(spec->cwd, &st) >= 0 && ((st.st_mode & S_ISVTX) || streq(spec->cwd, "/")))
                return message_append(res, "sandbox: the working directory %s is shared (as /tmp is): a task needs one of its own",
                                      spec->cwd), -EPERM;
        if (spec->cwd && (r = sandbox_chown_workdir(plan, spec->cwd)) < 0) {
                if (strict || (r != -EPERM && r != -EINVAL))
                        return message_append(res, "sandbox: cannot hand the working directory to the task's uid: %s",
                                              strerror(-r)), r;
                /* (EINVAL: the task's uid does not exist here, as in a user namespace of one uid) */
                message_append(res, "NOT SANDBOXED: cannot hand the working directory to the task's uid: %s",
                               strerror(-r));
                return 0;
        }

        t[1] = now_monotonic();
        /* A pool keeps sandboxes ready made for the plans it saw last (the key serves the caller
         * to make the next ones). */
        if (pre_made_for(spec, plan)) {
                const char *key = *ret_key = sandbox_plan_key(plan, o);
                pid_t pid = warm_spawn(spec, plan, key, cg, fds->out_w, fds->err_w, ep_r, st_r, sync_w_ptr, ret_slot, res);
                if (pid > 0) {
                        t[2] = t[3] = t[4] = now_monotonic();
                        res->pre_made = true;
                        return pid;
                }
        }
        int sync_w = *sync_w_ptr;
        pid_t pid = -1;
        /* On cgroup v2 the PID 1 is cloned into its cgroup, taken first (moving into it later would
         * wait for an RCU grace period). Elsewhere the clone happens while we make the cgroup and
         * network namespace, and the PID 1 joins the cgroup itself; its pid is needed only once
         * they are sent. */
        bool cg_first = o->pool && sandbox_pool_cgroups_v2(o->pool);
        if (cg_first && (r = task_cgroup(o, cg, res)) < 0)
                return r;
        r = o->pool ? sandbox_pool_clone_start(o->pool, plan, spec->argv, spec->env, fds,
                                               cg_first ? sandbox_cgroup_dir_fd(cg) : -EBADF, marks != NULL, ret_slot)
                    : -EOPNOTSUPP;
        bool zygote = r >= 0, into = false;
        if (r == -EOPNOTSUPP || r == -EBUSY || r == -E2BIG || r == -EPIPE || r == -ECONNRESET) {
                /* No zygote for this one: the PID 1 is cloned from this process. */
                pid = sandbox_clone(plan, cg_first ? sandbox_cgroup_dir_fd(cg) : -EBADF, &into);
                r = pid < 0 ? -errno : 0;
        }
        t[2] = now_monotonic();
        if (r < 0)
                return clone_failed(strict, r, res);
        if (!zygote && pid == 0)
                sandbox_child(plan, spec->argv, spec->env, fds);

        /* The child builds its root while we make its cgroup and network namespace: it waits for
         * them before it forks the task. A child that failed meanwhile has closed its end (EPIPE). */
        const char *step = "write the user namespace's id maps";
        if (zygote && (plan->userns || cg_first)) {
                /* The id maps need its pid; whether it was born in its cgroup is known then. */
                pid = sandbox_pool_clone_wait(o->pool, *ret_slot);
                if (pid < 0)
                        return clone_failed(strict, pid, res);
        }
        r = sandbox_write_id_maps(plan, pid);
        if (r >= 0 && plan->userns && (r = sandbox_send_go(sync_w, 'g', NULL, 0)) < 0)
                step = "start the sandbox";
        t[3] = now_monotonic();
        if (r >= 0 && !cg_first && (r = task_cgroup(o, cg, res)) < 0) {
                if (zygote)
                        pid = sandbox_pool_clone_wait(o->pool, *ret_slot);
                if (pid > 0) {
                        (void) kill(pid, SIGKILL);
                        (void) waitpid(pid, NULL, 0);
                }
                return r;
        }
        _Static_assert(_SANDBOX_CG_MAX + 1 <= SANDBOX_GO_FDS_MAX, "the namespace and a join file per hierarchy");
        int join[SANDBOX_GO_FDS_MAX];
        int n_join = 0;
        if (r >= 0 && plan->net_later) {
                step = "create the network namespace";
                r = join[0] = sandbox_netns_new();
                n_join = r >= 0;
        }
        if (zygote)
                into = sandbox_pool_clone_into_cgroup(o->pool, *ret_slot);
        if (r >= 0 && cg->kind != SANDBOX_CGROUP_NONE && !into) {
                step = "open the task's cgroup";
                r = sandbox_cgroup_open_join(cg, join + n_join);
                if (r >= 0)
                        n_join += r;
        }
        if (zygote) {
                /* Whatever happened above, the PID 1 may exist: it is needed to kill it. */
                pid = sandbox_pool_clone_wait(o->pool, *ret_slot);
                if (pid < 0) {
                        if (plan->net_later && n_join > 0)
                                close(join[0]);
                        return clone_failed(strict, pid, res);
                }
        }
        if (r >= 0 && (r = sandbox_send_go(sync_w, cg->kind != SANDBOX_CGROUP_NONE ? 'c' : 'n', join,
                                           (size_t) n_join)) < 0)
                step = "start the sandbox";
        if (plan->net_later && n_join > 0)
                close(join[0]); /* the cgroup's files stay open with it */
        t[4] = now_monotonic();
        if (r == -EPIPE || r == -ECONNRESET)
                return pid; /* the child failed: its reason is in the error pipe */
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return message_append(res, "sandbox: cannot %s: %s", step, strerror(-r)), r;
        }
        return pid;
}

int process_run(const ProcessSpec *spec, ProcessLineFn on_line, void *userdata, ProcessResult *ret) {
        _cleanup_close_ int out_r = -EBADF, out_w = -EBADF, err_r = -EBADF, err_w = -EBADF, ep_r = -EBADF,
                            ep_w = -EBADF, pidfd = -EBADF, sync_r = -EBADF, sync_w = -EBADF, st_r = -EBADF,
                            st_w = -EBADF;
        int p[2];
        LineBuf lo = {}, le = {};
        ProcessResult res = {};
        SandboxPlan plan = {};
        SandboxCgroup cg = {};
        bool sandboxed = spec->sandbox && spec->sandbox->mode != SANDBOX_OFF;
        usec_t *marks = NULL, t[5] = {}, t_exit = 0, reaped = 0; /* (when the sandbox's init reaped the task) */
        int slot = -1; /* the pool's zygote slot holding the PID 1's plan */
        _cleanup_free_ char *key = NULL; /* what sandboxes like this one are made ahead for */
        bool reported = false;
        int r = 0;

        if (!spec->argv || !spec->argv[0])
                return -EINVAL;
        if (!on_line)
                on_line = null_line;
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        out_r = p[0], out_w = p[1];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        err_r = p[0], err_w = p[1];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        ep_r = p[0], ep_w = p[1];
        if (sandboxed) {
                /* A socket, so that the go-ahead to a child that died is EPIPE rather than SIGPIPE. */
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0)
                        return -errno;
                sync_r = p[0], sync_w = p[1];
                if (pipe2(p, O_CLOEXEC) < 0)
                        return -errno;
                st_r = p[0], st_w = p[1];
        }
        lo.buf = malloc(PROCESS_LINE_MAX + 1);
        le.buf = malloc(PROCESS_LINE_MAX + 1);
        if (!lo.buf || !le.buf) {
                r = -ENOMEM;
                goto finish;
        }

        usec_t start = now_monotonic();
        pid_t pid = 0;
        if (sandboxed) {
                SandboxChildFds fds = { out_w, err_w, ep_w, sync_r, st_w };
                if (spec->trace) {
                        marks = mmap(NULL, _SANDBOX_MARK_MAX * sizeof(usec_t), PROT_READ | PROT_WRITE,
                                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
                        if (marks == MAP_FAILED)
                                marks = NULL;
                }
                pid = sandbox_spawn(spec, &plan, &cg, &fds, &ep_r, &st_r, &sync_w, marks, t, &slot, &key, &res);
                if (pid < 0) {
                        r = pid;
                        goto finish;
                }
                res.sandboxed = pid > 0;
        }
        if (pid == 0) {
                pid = spawn_plain(spec, out_w, err_w, ep_w);
                if (pid < 0) {
                        r = -errno;
                        goto finish;
                }
        }

        out_w = safe_close(out_w);
        err_w = safe_close(err_w);
        ep_w = safe_close(ep_w);
        st_w = safe_close(st_w);
        sync_r = safe_close(sync_r);

        /* Set-up and exec failures come through the CLOEXEC pipe: EOF means exec succeeded. */
        SandboxChildError ce = {};
        ssize_t n;
        do
                n = read(ep_r, &ce, sizeof ce);
        while (n < 0 && errno == EINTR);
        if (n == (ssize_t) sizeof ce) {
                (void) waitpid(pid, NULL, 0);
                r = -ce.err;
                if (!streq(ce.what, "exec"))
                        message_append(&res, "sandbox: cannot %s: %s", ce.what, strerror(ce.err));
                goto finish;
        }

        if (res.sandboxed && spec->sandbox->pool)
                sandbox_pool_count_start(spec->sandbox->pool, res.pre_made);
        /* While the task runs: sandboxes made ahead for the next ones like it. */
        if (res.sandboxed && !spec->one_off && key) {
                SandboxPlan warm;
                char base[PATH_MAX];
                sandbox_plan_without_cwd(&plan, &warm, base, sizeof base);
                sandbox_pool_warm_fill(spec->sandbox->pool, &warm, spec->sandbox, key);
        }
        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        fcntl(out_r, F_SETFL, O_NONBLOCK);
        fcntl(err_r, F_SETFL, O_NONBLOCK);

        usec_t deadline = spec->timeout ? start + spec->timeout : USEC_INFINITY;
        usec_t grace = spec->kill_grace ? spec->kill_grace : 5 * USEC_PER_SEC;
        usec_t kill_at = USEC_INFINITY; /* when SIGKILL follows the SIGTERM */
        bool exited = false;
        int status = 0;
        usec_t drain_until = USEC_INFINITY;
        /* With a pool, the task is over once the PID 1 reports its status: it has killed and reaped
         * everything else by then. Its own exit (the namespaces' teardown) is left to the pool to
         * reap, rather than waited for here. */
        bool watch_status = res.sandboxed && spec->sandbox->pool && pidfd >= 0;

        while (!exited || !lo.eof || !le.eof) {
                struct pollfd fds[5];
                int nf = 0, i_out = -1, i_err = -1, i_pid = -1, i_cancel = -1, i_st = -1;
                if (!lo.eof)
                        fds[i_out = nf++] = (struct pollfd) { out_r, POLLIN, 0 };
                if (!le.eof)
                        fds[i_err = nf++] = (struct pollfd) { err_r, POLLIN, 0 };
                if (!exited && pidfd >= 0)
                        fds[i_pid = nf++] = (struct pollfd) { pidfd, POLLIN, 0 };
                if (!exited && spec->cancel_fd >= 0 && !res.cancelled)
                        fds[i_cancel = nf++] = (struct pollfd) { spec->cancel_fd, POLLIN, 0 };
                if (!exited && watch_status)
                        fds[i_st = nf++] = (struct pollfd) { st_r, POLLIN, 0 };

                usec_t now = now_monotonic();
                usec_t wake = MIN(MIN(deadline, kill_at), drain_until);
                if (!exited && pidfd < 0)
                        wake = MIN(wake, now + 10 * USEC_PER_MSEC); /* no pidfd: poll waitpid */
                int timeout_ms = wake == USEC_INFINITY ? -1 : wake <= now ? 0 : (int) MIN((wake - now + 999) / 1000, 60000u);

                if (poll(fds, (nfds_t) nf, timeout_ms) < 0 && errno != EINTR) {
                        r = -errno;
                        kill_group(pid, SIGKILL);
                        (void) waitpid(pid, NULL, 0);
                        goto finish;
                }
                if (i_out >= 0 && fds[i_out].revents)
                        lo.eof = linebuf_read(out_r, &lo, PROCESS_STDOUT, on_line, userdata);
                if (i_err >= 0 && fds[i_err].revents)
                        le.eof = linebuf_read(err_r, &le, PROCESS_STDERR, on_line, userdata);
                if (i_cancel >= 0 && fds[i_cancel].revents) {
                        res.cancelled = true;
                        kill_group(pid, SIGTERM);
                        kill_at = now_monotonic() + grace;
                }

                if (i_st >= 0 && fds[i_st].revents) {
                        SandboxInitReport rep;
                        ssize_t k = read(st_r, &rep, sizeof rep);
                        if (k == (ssize_t) sizeof rep) {
                                status = rep.status;
                                reaped = rep.reaped;
                                reported = exited = true;
                                t_exit = now_monotonic();
                                drain_until = t_exit + USEC_PER_SEC;
                        } else if (k >= 0 || errno != EINTR)
                                watch_status = false; /* killed before it could report: reap it */
                }

                now = now_monotonic();
                if (!exited && now >= deadline && !res.timed_out) {
                        res.timed_out = true;
                        kill_group(pid, SIGTERM);
                        kill_at = now + grace;
                        deadline = USEC_INFINITY;
                }
                if (!exited && now >= kill_at) {
                        kill_group(pid, SIGKILL);
                        kill_at = USEC_INFINITY;
                }
                if (!exited) {
                        pid_t w = waitpid(pid, &status, WNOHANG);
                        if (w == pid) {
                                exited = true;
                                t_exit = now_monotonic();
                                /* Whatever the task left running in its group dies with it. */
                                kill_group(pid, SIGKILL);
                                /* Output still buffered in the pipes is read; a grandchild that
                                 * escaped the group and holds them open cannot stall us forever. */
                                drain_until = now + USEC_PER_SEC;
                        }
                }
                if (exited && now >= drain_until)
                        break;
        }
        linebuf_flush(&lo, PROCESS_STDOUT, on_line, userdata, true);
        linebuf_flush(&le, PROCESS_STDERR, on_line, userdata, true);

        res.duration = now_monotonic() - start;
        if (res.sandboxed) {
                /* The PID 1 reports how the task itself ended; without a report (it was killed
                 * on timeout or cancellation) its own status stands. */
                SandboxInitReport rep;
                if (!reported && read(st_r, &rep, sizeof rep) == (ssize_t) sizeof rep) {
                        status = rep.status;
                        reaped = rep.reaped;
                }
                res.oom_killed = sandbox_cgroup_oom_killed(&cg);
                res.pids_exhausted = sandbox_cgroup_pids_exhausted(&cg);
        }
        if (WIFEXITED(status))
                res.exit_code = WEXITSTATUS(status);
        else if (WIFSIGNALED(status)) {
                res.signal = WTERMSIG(status);
                res.exit_code = 128 + res.signal;
        }
finish:
        /* Every process of the task is gone: its cgroup may serve again once the PID 1 is too. */
        if (reported) {
                sandbox_pool_defer(spec->sandbox->pool, pidfd, &cg);
                pidfd = -EBADF;
        } else if (sandboxed && spec->sandbox->pool)
                sandbox_pool_give_cgroup(spec->sandbox->pool, &cg);
        else
                sandbox_cgroup_destroy(&cg);
        /* The PID 1 is gone, or has reported the end and touches its plan no more. */
        if (slot >= 0)
                sandbox_pool_release(spec->sandbox->pool, slot, marks);
        sandbox_plan_done(&plan);
        if (marks) {
                usec_t e = now_monotonic();
                marks[SANDBOX_MARK_REAPED] = reaped;
                bool all = t_exit > 0 && r >= 0;
                for (size_t i = 0; i < _SANDBOX_MARK_MAX; i++)
                        all = all && marks[i] > 0;
                if (all) {
                        /* Each step: from the end of the previous one, in the order they happen; the
                         * cgroup is made by the parent while the child builds the root. */
                        const usec_t ends[_SANDBOX_STEP_MAX] = {
                                [SANDBOX_STEP_PLAN] = t[1],
                                [SANDBOX_STEP_CLONE] = t[2],
                                [SANDBOX_STEP_HANDOFF] = marks[SANDBOX_MARK_GO],
                                [SANDBOX_STEP_TREES] = marks[SANDBOX_MARK_TREES],
                                [SANDBOX_STEP_NAMESPACES] = marks[SANDBOX_MARK_NAMESPACES],
                                [SANDBOX_STEP_MOUNTS] = marks[SANDBOX_MARK_MOUNTS],
                                [SANDBOX_STEP_PIVOT] = marks[SANDBOX_MARK_PIVOT],
                                [SANDBOX_STEP_CGROUP_WAIT] = marks[SANDBOX_MARK_CGROUP],
                                [SANDBOX_STEP_EXEC] = marks[SANDBOX_MARK_EXEC],
                                [SANDBOX_STEP_RUN] = marks[SANDBOX_MARK_REAPED],
                                [SANDBOX_STEP_TEARDOWN] = t_exit,
                                [SANDBOX_STEP_CLEANUP] = e,
                        };
                        usec_t prev = t[0];
                        for (size_t i = 0; i < _SANDBOX_STEP_MAX; i++) {
                                if (i == SANDBOX_STEP_CGROUP)
                                        continue;
                                spec->trace->usec[i] += ends[i] > prev ? ends[i] - prev : 0;
                                prev = ends[i];
                        }
                        spec->trace->usec[SANDBOX_STEP_CGROUP] += t[4] - t[3];
                        spec->trace->runs++;
                }
                (void) munmap(marks, _SANDBOX_MARK_MAX * sizeof(usec_t));
        }
        *ret = res;
        free(lo.buf);
        free(le.buf);
        return r;
}
