/* sandbox-config.c: [sandbox] settings and --sandbox-* options into SandboxOptions, and the start-up
 * probe (a sandboxed 'true') that tells whether this process can isolate its tasks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"
#include "pool.h"
#include "process.h"
#include "sandbox-config.h"
#include "strbuf.h"
#include "strutil.h"

void sandbox_config_init(SandboxConfig *c, bool automatic) {
        *c = (SandboxConfig) { .automatic = automatic, .fallback_off = automatic, .userns = -1, .made_ahead = -1 };
        sandbox_options_init(&c->options);
}

void sandbox_config_done(SandboxConfig *c) {
        c->binds_ro = strv_free(c->binds_ro);
        c->binds_rw = strv_free(c->binds_rw);
        c->hidden = strv_free(c->hidden);
        c->options.pool = sandbox_pool_free(c->options.pool);
}

static int parse_bool(const char *v) {
        static const char *const yes[] = { "yes", "true", "on", "1" }, *const no[] = { "no", "false", "off", "0" };
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (streq(v, yes[i]))
                        return 1;
                if (streq(v, no[i]))
                        return 0;
        }
        return -EINVAL;
}

static int fail(char **ret_error, const char *value, const char *want) {
        if (ret_error && !(*ret_error = strdup_printf("'%s' %s", value, want)))
                return -ENOMEM;
        return -EINVAL;
}

static int add_paths(char ***l, const char *key, const char *value, char **ret_error) {
        _cleanup_strv_free_ char **parts = NULL;
        if (strv_split(value, " \t", &parts) < 0)
                return -ENOMEM;
        for (char **p = parts; p && *p; p++) {
                if ((*p)[0] != '/')
                        return fail(ret_error, *p, "must be an absolute path");
                if (strv_extend(l, *p) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int sandbox_config_set(SandboxConfig *c, const char *key, const char *value, char **ret_error) {
        SandboxOptions *o = &c->options;
        int b;

        if (ret_error)
                *ret_error = NULL;
        if (!value)
                value = "";
        if (streq(key, "mode")) {
                if (streq(value, "auto")) {
                        c->automatic = true;
                        o->mode = SANDBOX_REQUIRED;
                        return 0;
                }
                SandboxMode m = sandbox_mode_from_string(value);
                if (m < 0)
                        return fail(ret_error, value, "must be auto, required, best-effort or off");
                c->automatic = false;
                o->mode = m;
                return 0;
        }
        if (streq(key, "network")) {
                if ((b = parse_bool(value)) < 0)
                        return fail(ret_error, value, "must be yes or no");
                o->network = b;
                return 0;
        }
        if (streq(key, "require-image")) {
                if ((b = parse_bool(value)) < 0)
                        return fail(ret_error, value, "must be yes or no");
                o->require_image = b;
                return 0;
        }
        if (streq(key, "user-namespace")) {
                if (streq(value, "auto")) {
                        c->userns = -1;
                        return 0;
                }
                if ((b = parse_bool(value)) < 0)
                        return fail(ret_error, value, "must be auto, yes or no");
                c->userns = b;
                return 0;
        }
        if (streq(key, "uid")) {
                _cleanup_free_ char *copy = strdup(value);
                if (!copy)
                        return -ENOMEM;
                char *colon = strchr(copy, ':');
                unsigned uid, gid = 0;
                if (colon)
                        *colon = 0;
                if (safe_atou(copy, &uid) < 0 || uid == 0 || (colon && (safe_atou(colon + 1, &gid) < 0 || gid == 0)))
                        return fail(ret_error, value, "must be UID[:GID], not root");
                o->uid = uid;
                o->gid = colon ? gid : uid;
                return 0;
        }
        if (streq(key, "memory")) {
                uint64_t v;
                if (sandbox_parse_bytes(value, &v) < 0 || v < (1 << 20))
                        return fail(ret_error, value, "must be a size of at least 1MB, such as 512MB");
                o->memory_max = v;
                return 0;
        }
        if (streq(key, "pids") || streq(key, "cpu")) {
                unsigned v;
                if (safe_atou(value, &v) < 0 || v == 0)
                        return fail(ret_error, value, "must be a positive number");
                if (streq(key, "pids"))
                        o->pids_max = v;
                else
                        o->cpu_percent = v;
                return 0;
        }
        if (streq(key, "made-ahead")) {
                unsigned v;
                if (safe_atou(value, &v) < 0 || v > 3)
                        return fail(ret_error, value, "must be 0 (none), 1, 2 or 3");
                c->made_ahead = (int) v;
                return 0;
        }
        if (streq(key, "bind-ro"))
                return add_paths(&c->binds_ro, key, value, ret_error);
        if (streq(key, "bind-rw"))
                return add_paths(&c->binds_rw, key, value, ret_error);
        if (streq(key, "hide"))
                return add_paths(&c->hidden, key, value, ret_error);
        return fail(ret_error, value, "unknown setting");
}

int sandbox_config_load(SandboxConfig *c, const TernConfig *cfg, char **ret_error) {
        const struct {
                const char *key, *value;
        } settings[] = {
                { "mode", cfg->sandbox_mode },       { "network", cfg->sandbox_network },
                { "user-namespace", cfg->sandbox_user_namespace }, { "uid", cfg->sandbox_uid },
                { "memory", cfg->sandbox_memory },   { "pids", cfg->sandbox_pids },
                { "cpu", cfg->sandbox_cpu },         { "bind-ro", cfg->sandbox_bind_ro },
                { "bind-rw", cfg->sandbox_bind_rw }, { "hide", cfg->sandbox_hide },
                { "made-ahead", cfg->sandbox_made_ahead }, { "require-image", cfg->sandbox_require_image },
        };

        if (ret_error)
                *ret_error = NULL;
        for (size_t i = 0; i < ELEMENTSOF(settings); i++) {
                _cleanup_free_ char *err = NULL;
                if (!settings[i].value)
                        continue;
                int r = sandbox_config_set(c, settings[i].key, settings[i].value, &err);
                if (r == -EINVAL && ret_error &&
                    !(*ret_error = strdup_printf("[sandbox] %s = %s", settings[i].key, strna(err))))
                        return -ENOMEM;
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Start a sandboxed 'true' the way a task would start (the namespaces, the mounts, the cgroup, a
 * working directory below work_dir when given, handed to the task's uid as a task's is) in mode: returns 0 when it
 * ran sandboxed with nothing missing, 1 with *ret_problem saying what is missing (*ret_sandboxed:
 * it ran sandboxed all the same, without limits), or -ENOMEM. */
static int probe(const SandboxOptions *o, SandboxMode mode, const char *work_dir, char **ret_problem,
                 bool *ret_sandboxed) {
        SandboxOptions p = *o;
        char *argv[] = { (char *) "true", NULL };
        char *env[] = { (char *) "PATH=/usr/local/bin:/usr/bin:/bin", NULL };
        ProcessResult res = {};
        _cleanup_free_ char *cwd = work_dir ? strjoin(work_dir, "/.sandbox-probe-XXXXXX") : NULL;

        if (work_dir && !cwd)
                return -ENOMEM;
        if (cwd && !mkdtemp(cwd)) {
                free(cwd); /* no working directory then: the rest is still worth checking */
                cwd = NULL;
        }
        p.mode = mode;
        ProcessSpec spec = { .argv = argv, .env = env, .cwd = cwd, .timeout = 30 * USEC_PER_SEC, .cancel_fd = -1,
                             .sandbox = &p, .one_off = true };
        int r = process_run(&spec, NULL, NULL, &res);
        if (cwd)
                (void) rmdir(cwd);
        *ret_sandboxed = r >= 0 && res.exit_code == 0 && res.sandboxed;
        if (*ret_sandboxed && !res.message[0])
                return 0;
        char *why;
        if (res.message[0])
                why = strdup(res.message);
        else if (r < 0)
                why = strdup(strerror(-r));
        else
                why = strdup_printf("a sandboxed 'true' exited with status %d", res.exit_code);
        if (!why)
                return -ENOMEM;
        *ret_problem = why;
        return 1;
}

int sandbox_config_resolve(SandboxConfig *c, const char *state_dir, char **ret_problem) {
        SandboxOptions *o = &c->options;
        _cleanup_free_ char *problem = NULL;
        int r;

        if (state_dir && !strv_contains(c->hidden, state_dir) && strv_extend(&c->hidden, state_dir) < 0)
                return -ENOMEM;
        /* Exec plugins run in the sandbox: their directories are seen read-only, where they are (those
         * below the system directories the sandbox shows already need nothing). */
        for (size_t i = 0; plugin_get(i); i++) {
                const Plugin *pl = plugin_get(i);
                static const char *const shown[] = { "/usr/", "/opt/", "/etc/", "/bin/", "/sbin/", "/lib/", "/lib64/" };
                bool seen = pl->kind != PLUGIN_EXEC || strv_contains(c->binds_ro, pl->dir);
                for (size_t k = 0; !seen && k < ELEMENTSOF(shown); k++)
                        seen = startswith(pl->dir, shown[k]);
                if (!seen && strv_extend(&c->binds_ro, pl->dir) < 0)
                        return -ENOMEM;
        }
        /* Without root, namespaces other than a user namespace need capabilities we do not have. */
        o->user_namespace = c->userns < 0 ? geteuid() != 0 : c->userns > 0;
        o->ro_binds = c->binds_ro;
        o->rw_binds = c->binds_rw;
        o->hidden = c->hidden;
        /* A bind that cannot work is a mistake to fix, not a host that cannot sandbox (which auto
         * would answer with plain processes). */
        if (o->mode != SANDBOX_OFF) {
                char err[512] = "";
                if (sandbox_options_check(o, err, sizeof err) == -EINVAL) {
                        if (ret_problem && !(*ret_problem = strdup(err)))
                                return -ENOMEM;
                        return -EINVAL;
                }
        }
        /* Shared by the worker's task threads: the seccomp program compiled once, cgroups reused.
         * Only an optimization: without it every start builds everything. */
        if (o->mode != SANDBOX_OFF && !o->pool && (r = sandbox_pool_new(&o->pool)) == -ENOMEM)
                return r;
        if (o->pool && c->made_ahead >= 0)
                sandbox_pool_set_made_ahead(o->pool, (unsigned) c->made_ahead);
        if (o->mode != SANDBOX_OFF) {
                bool sandboxed;
                if ((r = probe(o, o->mode, state_dir, &problem, &sandboxed)) < 0)
                        return r;
                c->works = sandboxed;
                /* Auto: namespaces without cgroup limits (an unprivileged user's usual lot, or a
                 * container's) still beat none; when even they fail, plain processes or failing tasks. */
                if (r > 0 && c->automatic) {
                        free(TAKE_PTR(problem));
                        if ((r = probe(o, SANDBOX_BEST_EFFORT, state_dir, &problem, &sandboxed)) < 0)
                                return r;
                        c->works = sandboxed;
                        o->mode = sandboxed ? SANDBOX_BEST_EFFORT : c->fallback_off ? SANDBOX_OFF : SANDBOX_REQUIRED;
                }
                if (o->mode == SANDBOX_OFF)
                        o->pool = sandbox_pool_free(o->pool);
        }
        if (ret_problem)
                *ret_problem = TAKE_PTR(problem);
        return 0;
}

char *sandbox_config_describe(const SandboxConfig *c) {
        const SandboxOptions *o = &c->options;
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;

        strbuf_appendf(&sb, "%s%s", c->automatic ? "auto: " : "", sandbox_mode_to_string(o->mode));
        if (o->mode == SANDBOX_OFF)
                return strbuf_steal(&sb);
        strbuf_append(&sb, o->network ? ", host network" : ", no network");
        if (o->user_namespace)
                strbuf_append(&sb, ", user namespace");
        else
                strbuf_appendf(&sb, ", uid %u", (unsigned) (o->uid ?: SANDBOX_NOBODY));
        if (o->memory_max)
                strbuf_appendf(&sb, ", memory %llu MiB", (unsigned long long) (o->memory_max >> 20));
        if (o->pids_max)
                strbuf_appendf(&sb, ", %llu pids", (unsigned long long) o->pids_max);
        if (o->cpu_percent)
                strbuf_appendf(&sb, ", cpu %u%%", o->cpu_percent);
        return strbuf_steal(&sb);
}
