/* test-sandbox: a task in the sandbox tries every escape of issue 8 and each must fail, while the
 * process that runs it (the worker) stays healthy: no fd, process or cgroup left behind. The test
 * binary doubles as the in-sandbox probe ("test-sandbox probe WHAT") for the system-call checks. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pool.h"
#include "process.h"
#include "sandbox-init.h"
#include "sandbox-test.h"
#include "strbuf.h"
#include "strutil.h"
#include "tap.h"

#define PROBE "/probe/test-sandbox"

/* ---- the probe, run inside the sandbox: prints one result line ---- */

static int probe(int argc, char **argv) {
        const char *what = argv[2];
        if (streq(what, "ptrace")) {
                pid_t c = fork();
                if (c == 0) {
                        pause();
                        _exit(0);
                }
                long r = ptrace(PTRACE_ATTACH, c, NULL, NULL);
                printf("ptrace=%ld errno=%d\n", r, r < 0 ? errno : 0);
                kill(c, SIGKILL);
                return 0;
        }
        if (streq(what, "mount")) {
                int r = mount("none", "/tmp", "tmpfs", 0, NULL);
                printf("mount=%d errno=%d\n", r, r < 0 ? errno : 0);
                return 0;
        }
        if (streq(what, "unshare")) {
                int r = unshare(CLONE_NEWUSER | CLONE_NEWNS);
                printf("unshare=%d errno=%d\n", r, r < 0 ? errno : 0);
                return 0;
        }
        if (streq(what, "io_uring")) {
                /* A ring would run the task's I/O where the filter does not look. */
                char params[120] = {}; /* struct io_uring_params */
                long fd = syscall(SYS_io_uring_setup, 1, params);
                int e1 = fd < 0 ? errno : 0;
                long r2 = syscall(SYS_io_uring_enter, fd < 0 ? -1 : (int) fd, 0, 0, 0, NULL, 0);
                int e2 = r2 < 0 ? errno : 0;
                long r3 = syscall(SYS_io_uring_register, fd < 0 ? -1 : (int) fd, 0, NULL, 0);
                int e3 = r3 < 0 ? errno : 0;
                printf("setup=%d/%d enter=%ld/%d register=%ld/%d\n", fd < 0 ? -1 : 0, e1, r2, e2, r3, e3);
                return 0;
        }
        if (streq(what, "tiocsti")) {
                char c = 'x';
                int tty = open("/dev/tty", O_RDWR | O_CLOEXEC);
                int r = ioctl(STDOUT_FILENO, TIOCSTI, &c);
                printf("tty=%d ioctl=%d errno=%d\n", tty, r, r < 0 ? errno : 0);
                return 0;
        }
        if (streq(what, "connect")) {
                int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) atoi(argv[3])),
                                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                int r = connect(s, (struct sockaddr *) &a, sizeof a);
                printf("connect=%d\n", r);
                return 0;
        }
        if (streq(what, "fds")) {
                int open_fds = 0;
                for (int fd = 3; fd < 4096; fd++)
                        if (fcntl(fd, F_GETFD) >= 0)
                                open_fds++;
                printf("extra-fds=%d\n", open_fds);
                return 0;
        }
        if (streq(what, "ids")) {
                printf("euid=%d\n", (int) geteuid());
                return 0;
        }
        if (streq(what, "kill")) {
                int r = kill(atoi(argv[3]), SIGKILL);
                printf("kill=%d errno=%d\n", r, r < 0 ? errno : 0);
                return 0;
        }
        if (streq(what, "forkbomb")) {
                int n = 0;
                for (; n < 2000; n++) {
                        pid_t c = fork();
                        if (c < 0)
                                break;
                        if (c == 0) {
                                pause();
                                _exit(0);
                        }
                }
                printf("forked=%d\n", n);
                return 0;
        }
        if (streq(what, "membomb")) {
                /* mmap, not malloc: a sanitizer's allocator would refuse first. */
                for (size_t total = 0; total < (size_t) 2 << 30; total += 16 << 20) {
                        char *p = mmap(NULL, 16 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                        if (p == MAP_FAILED)
                                break;
                        memset(p, 1, 16 << 20);
                }
                printf("survived\n");
                return 0;
        }
        return 2;
}

/* ---- the test, run by the worker's side ---- */

static char workdir[256];

static int run_in(const SandboxOptions *o, usec_t timeout, Capture *c, ProcessResult *res, char *const *argv) {
        char *env[] = { (char *) "PATH=/usr/bin:/bin", (char *) "ASAN_OPTIONS=detect_leaks=0", NULL };
        ProcessSpec spec = { .argv = argv, .env = env, .cwd = workdir, .timeout = timeout,
                             .kill_grace = 500 * USEC_PER_MSEC, .cancel_fd = -1, .sandbox = o };
        capture_reset(c);
        return process_run(&spec, capture_line, c, res);
}

/* ---- the task's PID 1, seen from the worker's side ---- */

/* A secret in the worker's memory, as the database password it decoded. */
static char worker_secret[64];

typedef struct Pid1Look {
        bool seen;
        char exe[PATH_MAX], cmdline[1024];
        int mem; /* process_memory_contains(its PID 1, worker_secret) */
} Pid1Look;

/* A ProcessLineFn: at the task's "ready", look at its PID 1 from here, then end the task. */
static void look_at_pid1(void *userdata, ProcessStream stream, const char *line, size_t len) {
        Pid1Look *l = userdata;
        char path[64];
        pid_t task = 0;

        if (stream != PROCESS_STDOUT || !streq(line, "ready") || l->seen)
                return;
        for (int i = 0; i < 300 && task <= 0; i++)
                if ((task = process_find_arg("sleep 307.5")) <= 0)
                        usleep(10 * 1000);
        pid_t pid1 = task > 0 ? process_parent(task) : -ESRCH;
        /* It becomes the init once the task runs: give it the time to. */
        for (int i = 0; pid1 > 0 && i < 300; i++) {
                snprintf(path, sizeof path, "/proc/%d/exe", (int) pid1);
                ssize_t n = readlink(path, l->exe, sizeof l->exe - 1);
                l->exe[n > 0 ? n : 0] = 0;
                if (strstr(l->exe, SANDBOX_INIT_NAME))
                        break;
                usleep(10 * 1000);
        }
        snprintf(path, sizeof path, "/proc/%d/cmdline", (int) pid1);
        int fd = pid1 > 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        ssize_t n = fd >= 0 ? read(fd, l->cmdline, sizeof l->cmdline - 1) : 0;
        if (fd >= 0)
                close(fd);
        for (ssize_t i = 0; i < n; i++)
                if (l->cmdline[i] == 0)
                        l->cmdline[i] = ' ';
        l->cmdline[n > 0 ? n : 0] = 0;
        l->mem = pid1 > 0 ? process_memory_contains(pid1, worker_secret) : pid1;
        l->seen = pid1 > 0;
        if (task > 0)
                kill(task, SIGKILL);
}

static void look_at_task_pid1(const SandboxOptions *o, const char *how) {
        char *env[] = { (char *) "PATH=/usr/bin:/bin", NULL };
        char *argv[] = { (char *) "/bin/sh", (char *) "-c", (char *) "echo ready; exec sleep 307.5", NULL };
        ProcessSpec spec = { .argv = argv, .env = env, .cwd = workdir, .timeout = 20 * USEC_PER_SEC, .cancel_fd = -1,
                             .sandbox = o };
        ProcessResult res;
        Pid1Look l = { .mem = -EIO };
        int r = process_run(&spec, look_at_pid1, &l, &res);
        ok(r == 0 && l.seen && strstr(l.exe, SANDBOX_INIT_NAME), "%s: the task's PID 1 is the sandbox's init (%s), not a copy of the worker",
           how, l.exe);
        ok(l.seen && !strstr(l.cmdline, "secret"), "%s: its command line is not the worker's (%s)", how, l.cmdline);
        ok(l.mem == 0, "%s: a secret in the worker's memory is not in the PID 1's (%d)", how, l.mem);
}

static int run_sh(const SandboxOptions *o, const char *script, Capture *c, ProcessResult *res) {
        char *argv[] = { (char *) "/bin/sh", (char *) "-c", (char *) script, NULL };
        return run_in(o, 20 * USEC_PER_SEC, c, res, argv);
}

static int run_probe(const SandboxOptions *o, const char *what, const char *arg, Capture *c, ProcessResult *res) {
        char *argv[] = { (char *) PROBE, (char *) "probe", (char *) what, (char *) arg, NULL };
        return run_in(o, 20 * USEC_PER_SEC, c, res, argv);
}

static int write_text(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        ssize_t n = write(fd, text, strlen(text));
        close(fd);
        return n == (ssize_t) strlen(text) ? 0 : -EIO;
}

static int copy_file(const char *from, const char *to, mode_t mode) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
        if (system(cmd) != 0)
                return -EIO;
        return chmod(to, mode) < 0 ? -errno : 0;
}

/* SIGKILL the processes of pre-made sandboxes that wait for a task (the PID 1s' children, as
 * nobody): how many. */
static int kill_waiting_tasks(void) {
        FILE *f = popen("ps -e -o pid=,ppid=,uid=", "re");
        int pid[4096], ppid[4096], uid[4096], n = 0, killed = 0;
        while (f && n < 4096 && fscanf(f, "%d %d %d", &pid[n], &ppid[n], &uid[n]) == 3)
                n++;
        if (f)
                pclose(f);
        for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                        if (uid[i] == 65534 && ppid[i] == pid[j] && ppid[j] == getpid() && kill(pid[i], SIGKILL) == 0)
                                killed++;
        usleep(100 * 1000);
        return killed;
}

int main(int argc, char **argv) {
        if (argc >= 3 && streq(argv[1], "probe"))
                return probe(argc, argv);
        if (geteuid() != 0)
                tap_skip_all("the sandbox needs root (or a user namespace); CI runs this as root");
        /* The worker's command line and environment carry a secret, as a --db URL with a password
         * would: run again with them. */
        if (!getenv("TERN_TEST_ENV_SECRET")) {
                char *again[8] = {};
                int k = 0;
                for (int i = 0; i < argc && k < 6; i++)
                        again[k++] = argv[i];
                again[k++] = (char *) "--db=postgresql://tern:argv-secret@db/tern";
                if (setenv("TERN_TEST_ENV_SECRET", "env-secret", 1) == 0)
                        execv("/proc/self/exe", again);
                tap_skip_all("cannot run again with a secret argument");
        }
        snprintf(worker_secret, sizeof worker_secret, "worker-memory-secret-%d-%llu", (int) getpid(),
                 (unsigned long long) now_monotonic());

        char base[] = "/tmp/tern-sandbox-test-XXXXXX", path[1024], exe[256];
        ok(mkdtemp(base) != NULL && chmod(base, 0755) == 0, "scratch directory");
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = 0;
        snprintf(workdir, sizeof workdir, "%s/work/task-1", base);
        snprintf(path, sizeof path, "mkdir -p %s %s/other %s/data/state %s/etc/tern %s/probe && cp /etc/passwd /etc/group %s/etc/",
                 workdir, base, base, base, base, base);
        ok(system(path) == 0, "directories");
        snprintf(path, sizeof path, "%s/other/file", base);
        write_text(path, "other task's data\n");
        snprintf(path, sizeof path, "%s/data/state/secret", base);
        write_text(path, "worker state\n");
        snprintf(path, sizeof path, "%s/data/public", base);
        write_text(path, "shared data\n");
        snprintf(path, sizeof path, "%s/etc/tern/tern.conf", base);
        write_text(path, "database=secret\n");
        /* The probe, and a setuid-root copy of it to try gaining root with. */
        snprintf(path, sizeof path, "%s/probe/test-sandbox", base);
        ok(copy_file(exe, path, 0755) == 0, "probe copied");
        snprintf(path, sizeof path, "%s/probe/suid-probe", base);
        ok(copy_file(exe, path, 04755) == 0, "setuid-root probe copied");

        char probe_bind[128], data_bind[128], etc_bind[128];
        snprintf(probe_bind, sizeof probe_bind, "%s/probe:/probe", base);
        snprintf(data_bind, sizeof data_bind, "%s/data:/data", base);
        /* An /etc that has a tern.conf, as a worker host does: /etc/tern must still be masked. */
        snprintf(etc_bind, sizeof etc_bind, "%s/etc:/etc", base);
        char *ro[] = { probe_bind, data_bind, etc_bind, NULL };
        /* /data/later appears only after the first tasks ran (a pool's template was made then). */
        char *hidden[] = { (char *) "/data/state", (char *) "/data/later", NULL };
        SandboxOptions o;
        sandbox_options_init(&o);
        o.ro_binds = ro;
        o.hidden = hidden;
        /* A name of this process's own: test-sandbox and test-sandbox-pooled run side by side, and
         * each counts and removes the task cgroups under its name. */
        char cgname[64];
        snprintf(cgname, sizeof cgname, "tern-test-sandbox-%d", (int) getpid());
        o.cgroup_name = cgname;
        /* "test-sandbox pooled": every escape again, as a worker runs tasks: through a pool (the
         * mount namespace template, reused cgroups, the PID 1 reaped later). */
        bool pooled = argc >= 2 && streq(argv[1], "pooled");

        Capture c = { STRBUF_INIT, STRBUF_INIT };
        ProcessResult res;
        (void) sandbox_init_fd(); /* (one memfd for the life of the process) */
        int fds_before = count_fds();
        /* The parent makes each task's network namespace on its own thread, and must come back. */
        char netns_before[64] = "";
        (void) !readlink("/proc/thread-self/ns/net", netns_before, sizeof netns_before - 1);
        if (pooled)
                ok(sandbox_pool_new(&o.pool) == 0, "a pool for every task");

        /* It runs at all, and as whom. */
        int r = run_sh(&o, "echo hello; id -u; hostname; pwd; echo $$", &c, &res);
        if (r < 0)
                diag("sandbox failed: %s (%s)", strerror(-r), res.message);
        ok(r == 0 && res.exit_code == 0 && res.sandboxed, "a command runs in the sandbox");
        char expect[512];
        snprintf(expect, sizeof expect, "hello\n65534\ntern\n%s\n2\n", workdir);
        is_str(capture_out(&c), expect, "as nobody, host name tern, in its working directory, PID 2 under our PID 1");

        if (pooled) {
                /* The pool made sandboxes ahead for tasks like that one: each serves one task. */
                run_sh(&o, "echo one > /tmp/mark; echo $$", &c, &res);
                ok(res.pre_made && res.exit_code == 0, "the next task like it starts in a sandbox made ahead");
                is_str(capture_out(&c), "2\n", "as PID 2 under a PID 1 of its own");
                run_sh(&o, "cat /tmp/mark 2>/dev/null || echo fresh; echo $$; hostname; id -u", &c, &res);
                ok(res.pre_made, "and the one after it too");
                is_str(capture_out(&c), "fresh\n2\ntern\n65534\n", "with a /tmp and PID namespace of its own, as nobody");
                char *missing[] = { (char *) "/no/such/program", NULL };
                is_int(run_in(&o, 5 * USEC_PER_SEC, &c, &res, missing), -ENOENT,
                       "a program that is not there is -ENOENT in a sandbox made ahead");
                ok(res.pre_made, "(it was one)");
                /* A working directory below a top-level directory of the shared root, as a worker's
                 * under /var/lib/tern: the task gets a tmpfs of its own to mount it in. */
                char vardir[] = "/var/tmp/tern-test-sandbox-XXXXXX";
                ok(mkdtemp(vardir) != NULL && chmod(vardir, 0755) == 0, "a working directory under /var");
                char saved[sizeof workdir];
                snprintf(saved, sizeof saved, "%s", workdir);
                snprintf(workdir, sizeof workdir, "%s", vardir);
                run_sh(&o, "pwd; echo made > here.txt; ls /var | wc -l; touch /var/x 2>/dev/null || echo ro", &c, &res);
                snprintf(expect, sizeof expect, "%s\n1\nro\n", vardir);
                is_str(capture_out(&c), expect, "in it, only its own path under a read-only /var");
                ok(res.pre_made, "(made ahead, for another working directory)");
                snprintf(path, sizeof path, "%s/here.txt", vardir);
                ok(access(path, F_OK) == 0, "what it wrote is on the host");
                /* A writable bind under the same top-level directory: the pre-made sandbox has
                 * covered it already, the job's working directory goes on the same tmpfs. */
                char cache[] = "/var/tmp/tern-test-sandbox-cache-XXXXXX";
                ok(mkdtemp(cache) != NULL && chmod(cache, 0777) == 0, "a cache directory under /var");
                char *rw[] = { cache, NULL };
                SandboxOptions rwo = o;
                rwo.rw_binds = rw;
                snprintf(path, sizeof path, "echo c > %s/c.txt && echo w > w.txt && echo ok", cache);
                for (int i = 0; i < 3; i++) {
                        int rr = run_sh(&rwo, path, &c, &res);
                        if (rr < 0)
                                diag("%s", res.message);
                        if (i > 0)
                                ok(rr == 0 && res.pre_made && streq(capture_out(&c), "ok\n"),
                                   "a writable bind beside the working directory, task %d made ahead", i + 1);
                }
                /* None made ahead, if so configured: each start builds its sandbox, nothing waits. */
                sandbox_pool_set_made_ahead(o.pool, 0);
                run_sh(&o, "echo built", &c, &res);
                bool built = !res.pre_made && streq(capture_out(&c), "built\n");
                run_sh(&o, "echo built", &c, &res);
                ok(built && !res.pre_made && res.exit_code == 0 && kill_waiting_tasks() == 0,
                   "made-ahead 0: every start builds its sandbox, none waits");
                sandbox_pool_set_made_ahead(o.pool, 2);
                run_sh(&o, "true", &c, &res);
                /* A task's process killed from outside while it waited: the start makes another. */
                int killed = kill_waiting_tasks();
                run_sh(&o, "echo alive", &c, &res);
                ok(killed > 0 && res.pre_made && res.exit_code == 0 && streq(capture_out(&c), "alive\n"),
                   "a pre-made sandbox whose waiting task was killed still runs its task (%d killed)", killed);
                snprintf(workdir, sizeof workdir, "%s", saved);
                snprintf(path, sizeof path, "rm -rf '%s' '%s'", vardir, cache);
                (void) !system(path);
        }

        /* A shared directory is no task's working directory: its files would become the task's. */
        char saved_cwd[sizeof workdir];
        snprintf(saved_cwd, sizeof saved_cwd, "%s", workdir);
        snprintf(workdir, sizeof workdir, "/tmp");
        struct stat tmp_before = {}, tmp_after = {};
        (void) stat("/tmp", &tmp_before);
        r = run_sh(&o, "true", &c, &res);
        (void) stat("/tmp", &tmp_after);
        ok(r == -EPERM && strstr(res.message, "is shared") && tmp_after.st_uid == tmp_before.st_uid,
           "/tmp as a working directory is refused, and left as it was (%s)", res.message);
        snprintf(workdir, sizeof workdir, "%s", saved_cwd);

        /* The task's PID 1 holds nothing of the worker's: not its command line (a --db password),
         * environment or memory; the task does not even see it. */
        run_sh(&o, "test -e /proc/1 && echo visible || echo hidden; cat /proc/1/cmdline /proc/1/environ 2>/dev/null | tr '\\0' '\\n' | grep -c secret",
               &c, &res);
        is_str(capture_out(&c), "hidden\n0\n", "the task sees no PID 1 in /proc (hidepid), nor the worker's arguments in it");
        look_at_task_pid1(&o, pooled ? "pooled" : "built");
        ok(process_memory_contains(getpid(), worker_secret) == 1, "(the search finds that secret in the worker)");

        /* Secrets and other tasks' files. */
        run_sh(&o, "cat /etc/tern/tern.conf; cat /data/state/secret; ls /data/state | wc -l; cat /data/public", &c, &res);
        is_str(capture_out(&c), "0\nshared data\n", "/etc/tern and the hidden state dir are masked, the rest of a bind is readable");
        snprintf(path, sizeof path, "cat %s/other/file; ls %s | wc -l; ls /tmp", base, base);
        run_sh(&o, path, &c, &res);
        snprintf(expect, sizeof expect, "1\n%s\n", base + strlen("/tmp/"));
        is_str(capture_out(&c), expect, "other tasks' directories are not there; /tmp holds only the working dir's path");
        SandboxOptions plain_etc = o;
        plain_etc.ro_binds = NULL;
        run_sh(&plain_etc, "cat /etc/shadow 2>/dev/null || echo denied", &c, &res);
        is_str(capture_out(&c), "denied\n", "/etc/shadow cannot be read");
        snprintf(path, sizeof path, "mkdir %s/data/later && echo later-secret > %s/data/later/secret", base, base);
        ok(system(path) == 0, "a hidden directory appears");
        run_sh(&o, "cat /data/later/secret 2>/dev/null; ls /data/later | wc -l", &c, &res);
        is_str(capture_out(&c), "0\n", "it is masked for the next task too");

        /* Writes. */
        snprintf(path, sizeof path,
                 "for f in /usr/x /etc/x /x /proc/x /dev/x /data/x %s/other/file; do echo pwned > $f 2>/dev/null && echo wrote $f; done;"
                 "echo ok > out.txt && echo wrote-workdir; echo t > /tmp/t && echo wrote-tmp",
                 base);
        run_sh(&o, path, &c, &res);
        is_str(capture_out(&c), "wrote-workdir\nwrote-tmp\n", "only the working directory and /tmp are writable");
        snprintf(path, sizeof path, "%s/out.txt", workdir);
        struct stat st = {};
        ok(stat(path, &st) == 0 && st.st_uid == 65534, "the task's file is on the host, owned by nobody");
        snprintf(path, sizeof path, "%s/other/file", base);
        FILE *f = fopen(path, "re");
        char line[128] = "";
        if (f) {
                (void) !fgets(line, sizeof line, f);
                fclose(f);
        }
        is_str(line, "other task's data\n", "another task's file is untouched");
        ok(access("/tmp/t", F_OK) < 0, "the private /tmp is not the host's");

        /* Host processes. */
        char pid_s[32];
        snprintf(pid_s, sizeof pid_s, "%d", (int) getpid());
        run_sh(&o, "ls /proc | grep -c '^[0-9]'", &c, &res);
        ok(atoi(capture_out(&c)) <= 4, "only the task's own processes are visible (%s)", capture_out(&c));
        run_probe(&o, "kill", pid_s, &c, &res);
        is_str(capture_out(&c), "kill=-1 errno=3\n", "kill -9 of the worker's pid: no such process");
        ok(kill(getpid(), 0) == 0, "the worker is alive");

        /* System calls the filter and the dropped capabilities refuse. */
        run_probe(&o, "ptrace", NULL, &c, &res);
        is_str(capture_out(&c), "ptrace=-1 errno=1\n", "ptrace is refused (EPERM)");
        run_probe(&o, "mount", NULL, &c, &res);
        is_str(capture_out(&c), "mount=-1 errno=1\n", "mount is refused (EPERM)");
        run_probe(&o, "unshare", NULL, &c, &res);
        is_str(capture_out(&c), "unshare=-1 errno=1\n", "a new user namespace (to regain capabilities) is refused");
        run_probe(&o, "io_uring", NULL, &c, &res);
        is_str(capture_out(&c), "setup=-1/38 enter=-1/38 register=-1/38\n",
               "io_uring_setup, io_uring_enter and io_uring_register fail with ENOSYS");
        run_probe(&o, "tiocsti", NULL, &c, &res);
        is_str(capture_out(&c), "tty=-1 ioctl=-1 errno=1\n", "no controlling terminal, TIOCSTI refused by the filter");
        run_sh(&o, "grep -E '^(CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\\t ' ' '",
               &c, &res);
        is_str(capture_out(&c),
               "CapPrm: 0000000000000000\nCapEff: 0000000000000000\nCapBnd: 0000000000000000\n"
               "CapAmb: 0000000000000000\nNoNewPrivs: 1\nSeccomp: 2\n",
               "no capabilities, none to regain, no_new_privs, seccomp");
        snprintf(path, sizeof path, "%s", "/probe/suid-probe");
        char *suid_argv[] = { path, (char *) "probe", (char *) "ids", NULL };
        run_in(&o, 10 * USEC_PER_SEC, &c, &res, suid_argv);
        is_str(capture_out(&c), "euid=65534\n", "a setuid-root binary does not make the task root");

        /* Fds of the worker. */
        int leak = open("/etc/hostname", O_RDONLY); /* deliberately without O_CLOEXEC */
        ok(leak >= 0 && dup2(leak, 100) == 100, "the worker holds fds without close-on-exec");
        run_probe(&o, "fds", NULL, &c, &res);
        is_str(capture_out(&c), "extra-fds=0\n", "none of the worker's fds reach the task");
        close(leak);
        close(100);

        /* Network. */
        int srv = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t al = sizeof a;
        ok(srv >= 0 && bind(srv, (struct sockaddr *) &a, sizeof a) == 0 && listen(srv, 8) == 0 &&
                   getsockname(srv, (struct sockaddr *) &a, &al) == 0,
           "a server listens on the host's loopback");
        char port[16];
        snprintf(port, sizeof port, "%d", ntohs(a.sin_port));
        run_probe(&o, "connect", port, &c, &res);
        is_str(capture_out(&c), "connect=-1\n", "without network, the host's loopback server is unreachable");
        SandboxOptions net = o;
        net.network = true;
        run_probe(&net, "connect", port, &c, &res);
        is_str(capture_out(&c), "connect=0\n", "with network allowed, it is reachable");
        run_sh(&o, "grep ':' /proc/net/dev | cut -d: -f1 | tr -d ' '", &c, &res);
        is_str(capture_out(&c), "lo\n", "the task's namespace has loopback only");
        close(srv);

        /* Limits (on this host: the cgroup v1 hierarchies). */
        SandboxOptions lim = o;
        lim.pids_max = 32;
        r = run_probe(&lim, "forkbomb", NULL, &c, &res);
        ok(r == 0 && atoi(capture_out(&c) + strlen("forked=")) < 32, "a fork bomb stops at the pids limit (%s)",
           capture_out(&c));
        ok(res.pids_exhausted, "the result says the pids limit was hit");
        lim = o;
        lim.memory_max = 64 << 20;
        r = run_probe(&lim, "membomb", NULL, &c, &res);
        ok(r == 0 && res.signal == SIGKILL && res.oom_killed, "a memory bomb is OOM-killed inside the task");
        is_str(capture_out(&c), "", "it did not survive");
        lim = o;
        lim.fsize = 4096;
        run_sh(&lim, "head -c 100000 /dev/zero > big 2>/dev/null; wc -c < big", &c, &res);
        is_str(capture_out(&c), "4096\n", "RLIMIT_FSIZE caps a file");

        /* Nothing outlives the task. */
        usec_t t0 = now_monotonic();
        run_sh(&o, "(sleep 301.5 &) ; sh -c 'sleep 302.5 &'; echo started", &c, &res);
        ok(res.exit_code == 0 && now_monotonic() - t0 < 3 * USEC_PER_SEC, "a double-forking task ends at once");
        ok(!process_with_arg("sleep 301.5") && !process_with_arg("sleep 302.5"), "its orphans were killed with it");
        t0 = now_monotonic();
        char *sleeper[] = { (char *) "/bin/sh", (char *) "-c", (char *) "sleep 303.5 & sleep 304.5", NULL };
        run_in(&o, 300 * USEC_PER_MSEC, &c, &res, sleeper);
        ok(res.timed_out && now_monotonic() - t0 < 3 * USEC_PER_SEC, "the timeout stops the task");
        ok(!process_with_arg("sleep 303.5") && !process_with_arg("sleep 304.5"), "and the whole tree with it");

        /* Set-up failures are errors, not a silent plain run. */
        char *missing[] = { (char *) "/no/such/program", NULL };
        is_int(run_in(&o, 0, &c, &res, missing), -ENOENT, "a missing program is -ENOENT, as without sandbox");
        SandboxOptions bad = o;
        char *bad_bind[] = { (char *) "relative/path", NULL };
        bad.ro_binds = bad_bind;
        r = run_sh(&bad, "true", &c, &res);
        ok(r == -EINVAL && strstr(res.message, "relative/path"), "a bad bind is refused: %s", res.message);
        SandboxOptions nonroot = o;
        pid_t child = fork();
        if (child == 0) {
                /* A worker without privileges and without a user namespace. */
                if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                        _exit(3);
                ProcessResult cr;
                Capture cc = { STRBUF_INIT, STRBUF_INIT };
                int rr = run_sh(&nonroot, "true", &cc, &cr);
                bool clear = rr < 0 && strstr(cr.message, "sandbox: ");
                nonroot.mode = SANDBOX_BEST_EFFORT;
                rr = run_sh(&nonroot, "echo ran", &cc, &cr);
                bool fallback = rr == 0 && !cr.sandboxed && strstr(cr.message, "NOT SANDBOXED") &&
                                streq(capture_out(&cc), "ran\n");
                if (!fallback)
                        fprintf(stderr, "best-effort: %d %d '%s' '%s'\n", rr, cr.sandboxed, cr.message, capture_out(&cc));
                _exit(clear ? (fallback ? 0 : 2) : 1);
        }
        int ws = -1;
        waitpid(child, &ws, 0);
        is_int(WIFEXITED(ws) ? WEXITSTATUS(ws) : 100, 0,
               "without privileges: required mode fails with a reason, best-effort runs and says NOT SANDBOXED");

        /* A user namespace, as a worker that is not root would use it. */
        SandboxOptions uns = o;
        uns.user_namespace = true;
        r = run_sh(&uns, "id -u; echo x > userns.txt; cat /etc/tern/tern.conf 2>/dev/null; grep CapEff /proc/self/status", &c,
                   &res);
        if (r < 0)
                diag("userns: %s", res.message);
        is_str(capture_out(&c), "0\nCapEff:\t0000000000000000\n", "user namespace: uid 0 inside, without capabilities");
        snprintf(path, sizeof path, "%s/userns.txt", workdir);
        ok(stat(path, &st) == 0 && st.st_uid == 65534, "and nobody outside");
        run_sh(&uns, "test -e /proc/1 && echo visible || echo hidden; cat /proc/1/cmdline /proc/1/environ 2>/dev/null | tr '\\0' '\\n' | grep -c secret",
               &c, &res);
        is_str(capture_out(&c), "hidden\n0\n", "user namespace: no PID 1 in /proc, nor the worker's arguments");
        look_at_task_pid1(&uns, "user namespace");
        if (pooled) {
                /* Made ahead in a user namespace (no template there): the working directory comes
                 * from the host's tree the PID 1 kept, which then goes. */
                for (int i = 0; i < 3; i++) {
                        unlink(path);
                        run_sh(&uns, "id -u; echo x > userns.txt; ls -a /dev | grep -c host; cat /data/later/secret 2>/dev/null; cat /etc/tern/tern.conf 2>/dev/null; cat /tmp/m 2>/dev/null; echo m > /tmp/m",
                               &c, &res);
                        if (i == 0)
                                continue; /* (the sandboxes for the next ones are made meanwhile) */
                        ok(res.pre_made, "user namespace, task %d: in a sandbox made ahead", i + 1);
                        is_str(capture_out(&c), "0\n0\n", "uid 0 inside, the host's tree gone, hidden paths masked, a fresh /tmp");
                        ok(stat(path, &st) == 0 && st.st_uid == 65534, "its file is in its working directory, nobody's outside");
                }
                /* A working directory right below /: nothing to mount it from in a sandbox made
                 * ahead without template, so each start builds its own. */
                char top[] = "/tern-test-top-XXXXXX", saved_wd[sizeof workdir];
                ok(mkdtemp(top) != NULL && chmod(top, 0755) == 0, "a working directory right below /");
                snprintf(saved_wd, sizeof saved_wd, "%s", workdir);
                snprintf(workdir, sizeof workdir, "%s", top);
                bool all = true;
                for (int i = 0; i < 3; i++) {
                        run_sh(&uns, "pwd; echo x > here.txt && echo wrote", &c, &res);
                        snprintf(expect, sizeof expect, "%s\nwrote\n", top);
                        all = all && res.exit_code == 0 && !res.pre_made && streq(capture_out(&c), expect);
                }
                snprintf(path, sizeof path, "%s/here.txt", top);
                ok(all && access(path, F_OK) == 0, "there, in a user namespace, every start builds its sandbox and the task writes there");
                snprintf(workdir, sizeof workdir, "%s", saved_wd);
                snprintf(path, sizeof path, "rm -rf '%s'", top);
                (void) !system(path);
        }

        /* A worker's pool: the filter compiled once and cgroups reused, while each task still gets
         * its own limits and verdicts, and nothing of it outlives it. */
        o.pool = sandbox_pool_free(o.pool); /* (pooled: its cgroups go, for the count below) */
        /* A cgroup an earlier pool kept, whose process was killed: the next pool removes it. */
        pid_t dead = fork();
        if (dead == 0)
                _exit(0);
        waitpid(dead, NULL, 0);
        char stale[PATH_MAX] = "";
        char cmd[256];
        snprintf(cmd, sizeof cmd, "find /sys/fs/cgroup/pids -type d -name %s | head -1", cgname);
        FILE *fp = popen(cmd, "re");
        if (fp) {
                if (fgets(stale, sizeof stale, fp))
                        stale[strcspn(stale, "\n")] = 0;
                pclose(fp);
        }
        size_t sl = strlen(stale);
        snprintf(stale + sl, sizeof stale - sl, "/pool-%d-7", (int) dead);
        ok(sl > 0 && mkdir(stale, 0755) == 0, "a stale pooled cgroup of a dead process (%s)", stale);
        SandboxPool *pool = NULL;
        ok(sandbox_pool_new(&pool) == 0, "a sandbox pool");
        ok(sandbox_pool_zygote(pool) > 0, "with a zygote (we are root) that its tasks' PID 1s come from");
        SandboxOptions po = o;
        po.pool = pool;
        po.pids_max = 32;
        r = run_sh(&po, "id -u; grep Seccomp: /proc/self/status", &c, &res);
        if (r < 0)
                diag("pool: %s", res.message);
        is_str(capture_out(&c), "65534\nSeccomp:\t2\n", "with a pool: as nobody, under the filter");
        snprintf(cmd, sizeof cmd, "find /sys/fs/cgroup/pids -path '*%s/pool-*' -type d | wc -l", cgname);
        FILE *cnt = popen(cmd, "re");
        int n_pooled = -1;
        if (cnt) {
                (void) !fscanf(cnt, "%d", &n_pooled);
                pclose(cnt);
        }
        /* One more for each of the two sandboxes made ahead for the next tasks like it. */
        is_int(n_pooled, 3, "its cgroup is kept for the next task, and two sandboxes made ahead have theirs");
        ok(access(stale, F_OK) < 0, "the stale one was removed");
        po.pids_max = 64;
        r = run_probe(&po, "forkbomb", NULL, &c, &res);
        int forked = atoi(capture_out(&c) + strlen("forked="));
        ok(r == 0 && forked > 32 && forked < 64 && res.pids_exhausted,
           "the next task has its own pids limit in the reused cgroup (%s)", capture_out(&c));
        po.pids_max = 1024;
        run_sh(&po, "true", &c, &res);
        ok(res.exit_code == 0 && !res.pids_exhausted, "a cgroup whose limit was hit is not reused: the next verdict is clean");
        t0 = now_monotonic();
        run_sh(&po, "(sleep 305.5 &) ; sh -c 'sleep 306.5 &'; echo started", &c, &res);
        ok(res.exit_code == 0 && now_monotonic() - t0 < 3 * USEC_PER_SEC &&
           !process_with_arg("sleep 305.5") && !process_with_arg("sleep 306.5"),
           "with a pool, a double-forking task's orphans are killed with it");
        po.memory_max = 64 << 20;
        r = run_probe(&po, "membomb", NULL, &c, &res);
        ok(r == 0 && res.signal == SIGKILL && res.oom_killed, "with a pool, a memory bomb is OOM-killed");
        po.memory_max = 0;
        run_sh(&po, "true", &c, &res);
        ok(res.exit_code == 0 && !res.oom_killed, "and the next task is not said to be OOM-killed");
        pool = sandbox_pool_free(pool);
        ok(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "the pool reaped every PID 1 it was left");
        char netns_now[64] = "";
        (void) !readlink("/proc/thread-self/ns/net", netns_now, sizeof netns_now - 1);
        is_str(netns_now, netns_before, "the worker's thread is still in its own network namespace");

        /* The worker is healthy: same fds, it still runs things, no cgroup left. */
        is_int(count_fds(), fds_before, "no fd leaked in the worker");
        ok(run_sh(NULL, "exit 7", &c, &res) == 0 && res.exit_code == 7 && !res.sandboxed, "plain processes still run");
        snprintf(cmd, sizeof cmd, "test -z \"$(find /sys/fs/cgroup -path '*%s/*' -type d 2>/dev/null)\"", cgname);
        ok(system(cmd) == 0, "every task cgroup was removed");

        snprintf(path, sizeof path, "rm -rf '%s'; find /sys/fs/cgroup -depth -name %s -type d -exec rmdir {} + 2>/dev/null",
                 base, cgname);
        (void) !system(path);
        strbuf_done(&c.out);
        strbuf_done(&c.err);
        return tap_done();
}
