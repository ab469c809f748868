/* cli-store.c: state directory, store opening and in-process components for the CLI. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli-store.h"
#include "flow-cache.h"
#include "cli.h"
#include "executor.h"
#include "log.h"
#include "strutil.h"
#include "variables.h"
#include "worker.h"

const char *cli_state_dir(void) {
        const char *e = getenv("TERN_STATE_DIR");
        return !isempty(e) ? e : cli_state_dir_default();
}

const char *cli_state_dir_default(void) {
        static char buf[4096];
        const char *e;
        if (geteuid() == 0)
                return "/var/lib/tern";
        e = getenv("XDG_STATE_HOME");
        if (!isempty(e))
                snprintf(buf, sizeof buf, "%s/tern", e);
        else
                snprintf(buf, sizeof buf, "%s/.local/state/tern", strempty(getenv("HOME")));
        return buf;
}

static int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++)
                if (*s == '/') {
                        *s = 0;
                        if (mkdir(p, mode) < 0 && errno != EEXIST)
                                return -errno;
                        *s = '/';
                }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int cli_state_dir_make(const char *cmd, char **ret_path) {
        const char *d = cli_state_dir();
        int r = mkdir_p(d, 0750);
        if (r < 0) {
                fprintf(stderr, "%s: cannot create state directory '%s': %s\n", cmd, d, strerror(-r));
                return r;
        }
        if (ret_path && !(*ret_path = strdup(d)))
                return -ENOMEM;
        return 0;
}

char *cli_db_url(const char *url) {
        if (!isempty(url))
                return strdup(url);
        const char *e = getenv("TERN_DB");
        if (!isempty(e))
                return strdup(e);
        return strjoin("sqlite://", cli_state_dir(), "/tern.db");
}

/* The part after the scheme of a URL whose authority may carry a password. */
static const char *db_url_authority(const char *u) {
        return startswith(u, "postgresql://") ?: startswith(u, "postgres://") ?: startswith(u, "mysql://")
                                                                            ?: startswith(u, "mariadb://");
}

bool cli_db_url_has_password(const char *u) {
        const char *rest = db_url_authority(u);
        if (rest) {
                /* postgresql://USER:PASSWORD@HOST/...: the authority's user information. */
                size_t n = strcspn(rest, "/?");
                const char *at = memrchr(rest, '@', n);
                if (at && memchr(rest, ':', (size_t) (at - rest)))
                        return true;
        }
        /* password=... as a libpq keyword, or in a URL's query. */
        for (const char *p = strstr(u, "password="); p; p = strstr(p + 1, "password="))
                if (p == u || strchr(" \t?&", p[-1]))
                        return true;
        return false;
}

/* The URL as it may be shown in a message: its password, if any, as "***". */
static char *db_url_redacted(const char *u) {
        _cleanup_free_ char *s = strdup(u);
        if (!s)
                return NULL;
        char *rest = (char *) db_url_authority(s);
        if (rest) {
                size_t n = strcspn(rest, "/?");
                char *at = memrchr(rest, '@', n), *colon = at ? memchr(rest, ':', (size_t) (at - rest)) : NULL;
                if (colon) {
                        *colon = 0;
                        char *joined = strjoin(s, ":***", at);
                        if (!joined)
                                return NULL;
                        free(s);
                        s = joined;
                }
        }
        for (char *p = strstr(s, "password="); p; p = strstr(p + 1, "password=")) {
                if (p != s && !strchr(" \t?&", p[-1]))
                        continue;
                char *v = p + strlen("password="), *end = v + strcspn(v, " \t&");
                *v = 0;
                char *joined = strjoin(s, "***", end);
                if (!joined)
                        return NULL;
                p = joined + (p - s);
                free(s);
                s = joined;
        }
        return TAKE_PTR(s);
}

/* How long opening waits for a database that does not answer: the store's reconnect timeout. */
#define CLI_STORE_OPEN_WAIT (30 * USEC_PER_SEC)

/* u: the URL to open; flag: the --db it came from, or NULL. */
static int store_open_url(const char *cmd, const char *u, const char *flag, CliStoreMode mode, Store **ret) {
        Store *s = NULL;
        int r;

        if (flag && cli_db_url_has_password(flag))
                log_warning("%s: --db gives the database password on the command line, where every user of this host "
                            "can read it (ps, /proc/PID/cmdline), as long as the command runs: set TERN_DB instead, or "
                            "keep the password in a PGPASSFILE (~/.pgpass) or $MYSQL_PWD; the daemons read it from [database] "
                            "password-file or the db-password credential.",
                            cmd);
        /* A database that does not answer (down for a moment, a failover under way) is waited for as
         * long as a transaction waits for a lost connection to come back (the store's reconnect
         * timeout), so that a command issued meanwhile goes through once it answers. Not by
         * 'tern db' (CLI_STORE_RAW): 'tern db status' is how one asks whether it answers. */
        usec_t deadline = now_monotonic() + (mode == CLI_STORE_RAW ? 0 : CLI_STORE_OPEN_WAIT), delay = 100 * USEC_PER_MSEC;
        bool waited = false;
        while ((r = store_open(u, &s)) < 0 && s && store_error_unreachable(r) && now_monotonic() + delay < deadline) {
                if (!waited) {
                        _cleanup_free_ char *shown = db_url_redacted(u);
                        fprintf(stderr, "%s: database '%s' does not answer (%s); waiting up to %llu s\n", cmd,
                                strna(shown), store_error(s), (unsigned long long) (CLI_STORE_OPEN_WAIT / USEC_PER_SEC));
                }
                waited = true;
                s = store_free(s);
                struct timespec ts = { .tv_sec = delay / USEC_PER_SEC, .tv_nsec = (delay % USEC_PER_SEC) * 1000 };
                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                        ;
                delay = MIN(delay * 2, 2 * USEC_PER_SEC);
        }
        if (r == -EINVAL && !s) {
                _cleanup_free_ char *shown = db_url_redacted(u);
                cli_usage_error(cmd, "'%s' is not a database URL (sqlite:..., postgresql://..., mysql://... or key=value)", strna(shown));
                return EXIT_USAGE;
        }
        if (r < 0) {
                _cleanup_free_ char *shown = db_url_redacted(u);
                if (waited && store_error_unreachable(r))
                        fprintf(stderr, "%s: cannot open database '%s': the database did not answer for %llu s: %s\n", cmd,
                                strna(shown), (unsigned long long) (CLI_STORE_OPEN_WAIT / USEC_PER_SEC),
                                s ? store_error(s) : strerror(-r));
                else
                        fprintf(stderr, "%s: cannot open database '%s': %s\n", cmd, strna(shown),
                                s ? store_error(s) : strerror(-r));
                store_free(s);
                return 1;
        }
        if (mode == CLI_STORE_MIGRATE_EMBEDDED && store_backend(s) == STORE_BACKEND_SQLITE) {
                r = store_migrate(s);
                if (r < 0) {
                        fprintf(stderr, "%s: cannot prepare the database '%s': %s\n", cmd, u, store_error(s));
                        store_free(s);
                        return 1;
                }
        } else if (mode != CLI_STORE_RAW) {
                r = store_check_schema(s, NULL);
                if (r < 0) {
                        fprintf(stderr, "%s: %s\n", cmd, store_error(s));
                        store_free(s);
                        return 1;
                }
        }
        *ret = s;
        return 0;
}

int cli_store_open(const char *cmd, const char *url, CliStoreMode mode, Store **ret) {
        _cleanup_free_ char *u = cli_db_url(url);
        if (!u)
                return log_oom(), 1;
        if (!url && !getenv("TERN_DB") && cli_state_dir_make(cmd, NULL) < 0)
                return 1;
        return store_open_url(cmd, u, url, mode, ret);
}

int cli_store_open_config(const char *cmd, const char *url, const TernConfig *cfg, CliStoreMode mode, Store **ret) {
        _cleanup_free_ char *u = NULL;
        if (url)
                return store_open_url(cmd, url, url, mode, ret);
        if (config_db_url(cfg, &u) < 0)
                return log_oom(), 1;
        return store_open_url(cmd, u, NULL, mode, ret);
}

void cli_config_done(CliConfig *c) {
        config_done(&c->cfg);
        strv_free(c->defaults);
        strv_free(c->overrides);
        *c = (CliConfig) {};
}

int cli_config_add(CliConfig *c, const char *section_key, const char *value) {
        char *a = strjoin(section_key, "=", value);
        return a && strv_consume(&c->overrides, a) >= 0 ? 0 : (log_oom(), 1);
}

int cli_config_load(const char *cmd, CliConfig *c) {
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_free_ char *state = strjoin("server.state-dir=", cli_state_dir_default());
        int r;

        if (!state || strv_consume(&c->defaults, TAKE_PTR(state)) < 0)
                return log_oom(), 1;
        c->source = (ConfigSource) { .path = c->path, .defaults = c->defaults, .overrides = c->overrides, .command = true };
        r = config_load_from(&c->source, &c->cfg, &errors);
        if (r < 0) {
                for (size_t i = 0; errors && errors[i]; i++)
                        fprintf(stderr, "%s: %s\n", cmd, errors[i]);
                if (!errors)
                        fprintf(stderr, "%s: cannot read the configuration: %s\n", cmd, strerror(-r));
                fprintf(stderr, "%s: invalid configuration; see 'tern config check'.\n", cmd);
                return 1;
        }
        for (char **f = c->cfg.skipped; f && *f; f++)
                log_notice("%s: '%s' is not readable by this user; going on without it (--config FILE names another).",
                           cmd, *f);
        if ((r = cli_plugins_setup(cmd, c->cfg.plugins_path)) != 0)
                return r;
        /* The embedded database, the internal storage and the task directories live there. */
        if ((r = mkdir_p(c->cfg.state_dir, 0750)) < 0) {
                fprintf(stderr, "%s: cannot create state directory '%s': %s\n", cmd, c->cfg.state_dir, strerror(-r));
                return 1;
        }
        return 0;
}

int cli_storage_open(const char *cmd, const TernConfig *cfg, Storage **ret) {
        _cleanup_free_ char *err = NULL;
        int r = storage_open(cfg->storage_url, NULL, ret, &err);
        if (r == -ENOMEM)
                return log_oom(), 1;
        if (r < 0) {
                fprintf(stderr, "%s: cannot use the internal storage: %s\n", cmd, err ? err : strerror(-r));
                return 1;
        }
        return 0;
}

int cli_engine_config(const char *cmd, EngineConfig *ret) {
        _cleanup_free_ char *err = NULL;
        int r = runtime_engine_config(ret, &err);
        if (r < 0)
                fprintf(stderr, "%s: %s\n", cmd, err ? err : strerror(-r));
        return r;
}

struct Inproc {
        Executor *executor;
        Worker *worker;
        pthread_t executor_thread;
        bool executor_running;
        int stop_fd;
        char *work_root;
        char *cache_root;
};

static void *executor_main(void *arg) {
        Inproc *p = arg;
        (void) executor_run(p->executor, p->stop_fd);
        return NULL;
}

int inproc_start(Store *store, const InprocOptions *opt, Inproc **ret) {
        _cleanup_(inproc_freep) Inproc *p = calloc(1, sizeof *p);
        const TernConfig *cfg = opt->cfg;
        Store *xs = NULL;
        int r;

        if (!p)
                return -ENOMEM;
        p->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (p->stop_fd < 0)
                return -errno;
        p->work_root = strjoin(cfg->state_dir, "/work");
        p->cache_root = strjoin(cfg->state_dir, "/cache");
        if (!p->work_root || !p->cache_root)
                return -ENOMEM;
        if ((r = mkdir_p(p->work_root, 0700)) < 0)
                return r;
        if ((r = store_dup(store, &xs)) < 0)
                return r;
        ExecutorOptions xo = { .id = "executor", .batch = cfg->executor_batch, .poll = cfg->executor_poll,
                               .engine = *opt->engine, .flows = api_flow_cache_process() /* the process's */,
                               .storage_url = cfg->storage_url };
        if ((r = executor_new(xs, &xo, &p->executor)) < 0) {
                store_free(xs);
                return r;
        }
        char id[64];
        snprintf(id, sizeof id, "worker-%d", (int) getpid());
        /* The worker settings of tern.conf but its queue: this command's execution is the only work,
         * whatever its tasks' worker groups. */
        WorkerOptions wo = { .id = id, .slots = cfg->worker_slots, .lease = cfg->worker_lease,
                             .work_root = p->work_root, .cache_root = p->cache_root,
                             .pip_index_url = cfg->worker_pip_index_url, .storage_url = cfg->storage_url, .sandbox = opt->sandbox,
                             .max_log_lines = cfg->worker_log_lines, .max_log_bytes = cfg->worker_log_bytes,
                             .max_output_bytes = (uint64_t) cfg->worker_output_mib << 20 };
        if ((r = worker_new(store, &wo, &p->worker)) < 0 || (r = worker_start(p->worker)) < 0)
                return r;
        if ((r = -pthread_create(&p->executor_thread, NULL, executor_main, p)) < 0)
                return r;
        p->executor_running = true;
        *ret = TAKE_PTR(p);
        return 0;
}

void inproc_stop(Inproc *p, usec_t grace) {
        uint64_t one = 1;
        if (p->worker)
                worker_stop(p->worker, grace);
        if (p->executor_running) {
                (void) !write(p->stop_fd, &one, sizeof one);
                pthread_join(p->executor_thread, NULL);
                p->executor_running = false;
        }
}

Inproc *inproc_free(Inproc *p) {
        if (!p)
                return NULL;
        inproc_stop(p, 0);
        worker_free(p->worker);
        executor_free(p->executor);
        safe_close(p->stop_fd);
        free(p->work_root);
        free(p->cache_root);
        free(p);
        return NULL;
}

void cli_sandbox_help(bool automatic) {
        printf("\nSandbox of shell tasks (namespaces, read-only root, no network, an unprivileged uid, no\n"
               "capabilities, seccomp, cgroup limits):\n"
               "      --sandbox MODE          %s\n"
               "                              required: all of it or the task fails; best-effort: what\n"
               "                              the privileges allow, the rest logged; auto: the sandbox,\n"
               "                              without the limits where there are no cgroups to use, else\n"
               "                              plain processes and one warning saying why; off: plain\n"
               "                              processes\n"
               "      --sandbox-network       tasks keep the host's network (default: loopback only)\n"
               "      --sandbox-userns        a user namespace even as root (default: only when not root)\n"
               "      --sandbox-uid UID[:GID] the tasks' identity as root (default 65534:65534, nobody)\n"
               "      --sandbox-memory SIZE   memory limit per task, e.g. 512MB (default none)\n"
               "      --sandbox-pids N        processes per task (default 1024)\n"
               "      --sandbox-cpu PERCENT   CPU per task, 100 = one CPU (default none)\n"
               "      --sandbox-bind-ro PATH[:INSIDE], --sandbox-bind-rw PATH[:INSIDE]\n"
               "                              extra host paths visible to tasks (repeatable)\n"
               "      --sandbox-hide PATH     mask a host path inside (repeatable; /etc/tern and the\n"
               "                              state directory always are)\n"
               "      --sandbox-made-ahead N  sandboxes made ahead for the next tasks like the last,\n"
               "                              while tasks run: 0 to 3 (default 2; 0: each task's\n"
               "                              start builds its sandbox)\n",
               automatic ? "auto (default), required, best-effort or off:" : "required (default), best-effort, auto or off:");
}

int cli_sandbox_option(const char *cmd, int c, const char *arg, SandboxConfig *sc) {
        static const char *const keys[] = {
                [CLI_OPT_SANDBOX - CLI_OPT_SANDBOX] = "mode",
                [CLI_OPT_SANDBOX_NETWORK - CLI_OPT_SANDBOX] = "network",
                [CLI_OPT_SANDBOX_USERNS - CLI_OPT_SANDBOX] = "user-namespace",
                [CLI_OPT_SANDBOX_UID - CLI_OPT_SANDBOX] = "uid",
                [CLI_OPT_SANDBOX_MEMORY - CLI_OPT_SANDBOX] = "memory",
                [CLI_OPT_SANDBOX_PIDS - CLI_OPT_SANDBOX] = "pids",
                [CLI_OPT_SANDBOX_CPU - CLI_OPT_SANDBOX] = "cpu",
                [CLI_OPT_SANDBOX_BIND_RO - CLI_OPT_SANDBOX] = "bind-ro",
                [CLI_OPT_SANDBOX_BIND_RW - CLI_OPT_SANDBOX] = "bind-rw",
                [CLI_OPT_SANDBOX_HIDE - CLI_OPT_SANDBOX] = "hide",
                [CLI_OPT_SANDBOX_MADE_AHEAD - CLI_OPT_SANDBOX] = "made-ahead",
        };
        _cleanup_free_ char *err = NULL;

        if (c < CLI_OPT_SANDBOX || c >= CLI_OPT_SANDBOX + (int) ELEMENTSOF(keys))
                return 1;
        if (c == CLI_OPT_SANDBOX_NETWORK || c == CLI_OPT_SANDBOX_USERNS)
                arg = "yes";
        /* One path per option: a path with a blank in it stays one path. */
        if ((c == CLI_OPT_SANDBOX_BIND_RO || c == CLI_OPT_SANDBOX_BIND_RW || c == CLI_OPT_SANDBOX_HIDE) && arg[0] == '/') {
                char ***l = c == CLI_OPT_SANDBOX_BIND_RO ? &sc->binds_ro : c == CLI_OPT_SANDBOX_BIND_RW ? &sc->binds_rw : &sc->hidden;
                return strv_extend(l, arg) < 0 ? (log_oom(), 1) : 0;
        }
        int r = sandbox_config_set(sc, keys[c - CLI_OPT_SANDBOX], arg, &err);
        if (r == -ENOMEM)
                return log_oom(), EXIT_USAGE;
        if (r < 0)
                return cli_usage_error(cmd, "--sandbox%s%s %s", c == CLI_OPT_SANDBOX ? "" : "-", c == CLI_OPT_SANDBOX ? "" : keys[c - CLI_OPT_SANDBOX], err ? err : "is invalid");
        return 0;
}

int cli_sandbox_record(const char *cmd, int c, const char *arg, CliSandboxFlags *flags) {
        _cleanup_(sandbox_config_done) SandboxConfig scratch;
        sandbox_config_init(&scratch, true);
        /* Checked now, so that a bad value is a usage error before anything starts. */
        int r = cli_sandbox_option(cmd, c, arg, &scratch);
        if (r != 0)
                return r;
        CliSandboxFlag *v = reallocarray(flags->v, flags->n + 1, sizeof *v);
        if (!v)
                return log_oom(), EXIT_USAGE;
        flags->v = v;
        flags->v[flags->n++] = (CliSandboxFlag) { c, arg };
        return 0;
}

void cli_sandbox_flags_done(CliSandboxFlags *flags) {
        free(flags->v);
        *flags = (CliSandboxFlags) {};
}

int cli_sandbox_build(const char *cmd, const TernConfig *cfg, bool automatic, const CliSandboxFlags *flags,
                      SandboxConfig *sc) {
        _cleanup_free_ char *err = NULL;
        sandbox_config_done(sc);
        sandbox_config_init(sc, automatic);
        int r = sandbox_config_load(sc, cfg, &err);
        if (r == -ENOMEM)
                return log_oom(), 1;
        if (r < 0) {
                fprintf(stderr, "%s: invalid configuration: %s\n", cmd, strna(err));
                return 1;
        }
        for (size_t i = 0; i < flags->n; i++)
                if ((r = cli_sandbox_option(cmd, flags->v[i].c, flags->v[i].arg, sc)) != 0)
                        return r;
        return 0;
}

int cli_sandbox_setup(const char *cmd, SandboxConfig *sc, const char *state_dir) {
        _cleanup_free_ char *problem = NULL, *desc = NULL;
        int r = sandbox_config_resolve(sc, state_dir, &problem);
        if (r == -EINVAL)
                return log_error("%s: invalid sandbox option: %s", cmd, strna(problem)), EXIT_USAGE;
        if (r < 0)
                return log_oom(), 1;
        desc = sandbox_config_describe(sc);
        if (sc->options.mode == SANDBOX_OFF && problem)
                log_warning("Shell tasks run WITHOUT sandbox: %s (--sandbox required makes this an error, "
                            "--sandbox off silences it).", problem);
        else if (sc->options.mode == SANDBOX_OFF && !sc->automatic)
                log_warning("Shell tasks run WITHOUT sandbox (--sandbox off): they can do anything this user can.");
        else if (problem && sc->works)
                log_warning("Shell tasks run in the sandbox, incomplete here: %s.", problem);
        else if (problem && sc->options.mode == SANDBOX_BEST_EFFORT)
                log_warning("Shell tasks run WITHOUT sandbox (--sandbox best-effort): %s.", problem);
        else if (problem) {
                log_error("%s: --sandbox %s, but the task sandbox does not work here: %s "
                          "(run as root, allow unprivileged user namespaces, or choose --sandbox auto|best-effort|off).",
                          cmd, sandbox_mode_to_string(sc->options.mode), problem);
                return 1;
        } else
                log_info("Shell tasks run in the sandbox (%s).", strna(desc));
        return 0;
}
