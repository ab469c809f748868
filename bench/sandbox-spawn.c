/* sandbox-spawn: start overhead of the task sandbox: median and p99 of /bin/true run plainly
 * (fork+exec+wait), through process_run() without sandbox, and sandboxed with and without a
 * network namespace, all measured in the same run. Needs root (exit 77 otherwise).
 * "sandbox-spawn [--steps] [--rss MB] [--cgroup2] [N]": --steps also prints the mean time of each step of
 * a sandboxed start and the CPU time per run; --rss first fills MB of memory, as a worker's heap would
 * be; --cgroup2 runs on the unified hierarchy, mounted at /sys/fs/cgroup in a mount namespace of its
 * own (without limits: where the controllers are bound to v1, as here, it has none). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pool.h"
#include "process.h"
#include "timeutil.h"

static int cmp_usec(const void *a, const void *b) {
        usec_t x = *(const usec_t *) a, y = *(const usec_t *) b;
        return x < y ? -1 : x > y;
}

static char *argv_true[] = { (char *) "/bin/true", NULL };
static char *env_true[] = { (char *) "PATH=/usr/bin:/bin", NULL };

static int run_plain(void) {
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                execve(argv_true[0], argv_true, env_true);
                _exit(127);
        }
        int st;
        if (waitpid(pid, &st, 0) < 0)
                return -errno;
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

static int run_process(const SandboxOptions *o, SandboxTrace *trace) {
        ProcessSpec spec = { .argv = argv_true, .env = env_true, .cwd = NULL, .cancel_fd = -1, .sandbox = o,
                             .trace = trace };
        ProcessResult res;
        int r = process_run(&spec, NULL, NULL, &res);
        if (r < 0) {
                fprintf(stderr, "process_run: %s %s\n", strerror(-r), res.message);
                return r;
        }
        return res.exit_code == 0 ? 0 : -EIO;
}

typedef struct Variant {
        const char *name;
        const SandboxOptions *sandbox; /* NULL with plain: raw fork+exec */
        bool plain;
        usec_t *samples;
        usec_t median, p99;
        SandboxTrace trace;
        usec_t cpu; /* user+system time of this process and its reaped children, summed */
} Variant;

/* This process, its reaped children, and the pool's zygote (a child reaped only at the end). */
static usec_t cpu_now(pid_t zygote) {
        struct rusage a, b;
        getrusage(RUSAGE_SELF, &a);
        getrusage(RUSAGE_CHILDREN, &b);
        usec_t u = (usec_t) (a.ru_utime.tv_sec + a.ru_stime.tv_sec + b.ru_utime.tv_sec + b.ru_stime.tv_sec) * USEC_PER_SEC +
                   (usec_t) (a.ru_utime.tv_usec + a.ru_stime.tv_usec + b.ru_utime.tv_usec + b.ru_stime.tv_usec);
        char path[64];
        unsigned long long ns = 0;
        snprintf(path, sizeof path, "/proc/%d/schedstat", (int) zygote);
        FILE *f = zygote > 0 ? fopen(path, "re") : NULL;
        if (f) {
                if (fscanf(f, "%llu", &ns) != 1)
                        ns = 0;
                fclose(f);
        }
        return u + ns / 1000;
}

int main(int argc, char **argv) {
        bool steps = false, cgroup2 = false;
        size_t rss_mb = 0;
        for (;;) {
                if (argc > 1 && strcmp(argv[1], "--steps") == 0) {
                        steps = true;
                        argc--;
                        argv++;
                } else if (argc > 1 && strcmp(argv[1], "--cgroup2") == 0) {
                        cgroup2 = true;
                        argc--;
                        argv++;
                } else if (argc > 2 && strcmp(argv[1], "--rss") == 0) {
                        rss_mb = (size_t) atoi(argv[2]);
                        argc -= 2;
                        argv += 2;
                } else
                        break;
        }
        if (geteuid() != 0) {
                printf("sandbox-spawn: SKIP: the sandbox needs root\n");
                return 77;
        }
        if (cgroup2) {
                if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                        perror("sandbox-spawn: a mount namespace");
                        return 1;
                }
                (void) umount2("/sys/fs/cgroup", MNT_DETACH);
                if (mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
                        perror("sandbox-spawn: mount cgroup2");
                        return 1;
                }
        }
        /* As a worker runs them: sharing a pool made at start-up, while the process is small (the
         * filter compiled once, cgroups reused, the template, the zygote). */
        SandboxOptions pnonet, pnet;
        sandbox_options_init(&pnonet);
        pnonet.cgroup_name = "tern-bench";
        if (cgroup2)
                pnonet.pids_max = 0;
        if (sandbox_pool_new(&pnonet.pool) < 0)
                return 1;
        pnet = pnonet;
        pnet.network = true;
        pid_t zygote = sandbox_pool_zygote(pnonet.pool);
        /* A worker is bigger than this benchmark: a start copies the page tables of the process the
         * PID 1 is cloned from (without a zygote, the worker), so show what memory in use costs. */
        char *ballast = rss_mb ? malloc(rss_mb << 20) : NULL;
        if (rss_mb && !ballast)
                return 1;
        if (ballast)
                memset(ballast, 1, rss_mb << 20);
        unsigned n = argc > 1 ? (unsigned) atoi(argv[1]) : 300;
        if (n == 0)
                n = 1;
        SandboxOptions nonet, net;
        sandbox_options_init(&nonet);
        nonet.cgroup_name = "tern-bench";
        if (cgroup2)
                nonet.pids_max = 0;
        net = nonet;
        net.network = true;
        /* As the packaged worker unit runs them: in a user namespace per task (there the worker is
         * not root: it maps only its own uid; here root maps nobody). */
        SandboxOptions puserns = pnonet;
        puserns.user_namespace = true;
        /* A pool that makes none ahead: every start builds its sandbox (as the first task of a
         * kind does, and a worker with [sandbox] made-ahead = 0). */
        SandboxOptions pbuilt = pnet;
        if (sandbox_pool_new(&pbuilt.pool) < 0)
                return 1;
        sandbox_pool_set_made_ahead(pbuilt.pool, 0);
        Variant v[] = {
                { "fork+exec (plain)", NULL, true, NULL, 0, 0, {}, 0 },
                { "process_run, no sandbox", NULL, false, NULL, 0, 0, {}, 0 },
                { "sandbox, host network", &net, false, NULL, 0, 0, {}, 0 },
                { "sandbox, network namespace", &nonet, false, NULL, 0, 0, {}, 0 },
                { "pooled sandbox, host network", &pnet, false, NULL, 0, 0, {}, 0 },
                { "pooled sandbox, network ns", &pnonet, false, NULL, 0, 0, {}, 0 },
                { "pooled sandbox, user ns, net ns", &puserns, false, NULL, 0, 0, {}, 0 },
                { "pooled, none made ahead, host net", &pbuilt, false, NULL, 0, 0, {}, 0 },
        };
        size_t nv = sizeof v / sizeof v[0];
        for (size_t i = 0; i < nv; i++)
                if (!(v[i].samples = calloc(n, sizeof(usec_t))))
                        return 1;
        /* Interleaved, so that a noisy moment of the (shared) machine hits every variant alike. */
        for (unsigned k = 0; k < n + 10; k++)
                for (size_t i = 0; i < nv; i++) {
                        usec_t t = now_monotonic(), c = cpu_now(zygote);
                        SandboxTrace *trace = steps && v[i].sandbox && k >= 10 ? &v[i].trace : NULL;
                        int r = v[i].plain ? run_plain() : run_process(v[i].sandbox, trace);
                        if (r < 0) {
                                fprintf(stderr, "%s failed: %s\n", v[i].name, strerror(-r));
                                return 1;
                        }
                        if (k >= 10) { /* warm-up */
                                v[i].samples[k - 10] = now_monotonic() - t;
                                v[i].cpu += cpu_now(zygote) - c;
                        }
                }
        printf("%-30s %10s %10s %8s\n", "variant (/bin/true)", "median us", "p99 us", "x plain");
        for (size_t i = 0; i < nv; i++) {
                qsort(v[i].samples, n, sizeof(usec_t), cmp_usec);
                v[i].median = v[i].samples[n / 2];
                v[i].p99 = v[i].samples[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
                printf("%-30s %10llu %10llu %8.2f\n", v[i].name, (unsigned long long) v[i].median,
                       (unsigned long long) v[i].p99, (double) v[i].median / (double) v[0].median);
        }
        if (steps) {
                /* Not three numbers a line: bench/run takes lines ending in three for figures. */
                printf("\n%-30s %12s %12s %12s %12s %12s %12s\n", "step (mean us)", "host net", "net ns", "pool h.net",
                       "pool net ns", "pool userns", "pool built");
                for (int s = 0; s < _SANDBOX_STEP_MAX; s++) {
                        printf("%-30s", sandbox_step_to_string((SandboxStep) s));
                        for (size_t i = 2; i < nv; i++)
                                printf(" %12.0f", v[i].trace.runs ? (double) v[i].trace.usec[s] / v[i].trace.runs : 0.0);
                        printf("\n");
                }
                /* CPU time rather than wall clock: what the machine's other load does not change. */
                printf("%-30s", "cpu per run (user+sys)");
                for (size_t i = 2; i < nv; i++)
                        printf(" %12.0f", (double) v[i].cpu / n);
                printf("\n%-30s %12.0f (plain fork+exec)\n", "", (double) v[0].cpu / n);
        }
        for (size_t i = 0; i < nv; i++)
                free(v[i].samples);
        sandbox_pool_free(pnonet.pool);
        sandbox_pool_free(pbuilt.pool);
        free(ballast);
        (void) !system("find /sys/fs/cgroup -depth -name tern-bench -type d -exec rmdir {} + 2>/dev/null");
        return 0;
}
