/* python-deps.c: the `dependencies` of Kestra's Python tasks: pip installs them into a virtual
 * environment, kept in the worker's cache for every task that lists the same ones, that the task runs in. */
/* The environment is made without pip (`venv --without-pip`) and the host's pip installs into it
 * (`pip --python`, pip >= 22.3): venv's ensurepip would install pip into every new environment, about
 * 6 s of CPU each, where the bare environment takes 0.1 s and pip 1.6 s for a small wheel. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "beneath.h"
#include "cleanup-jansson.h"
#include "fd-util.h"
#include "process.h"
#include "script.h"
#include "strbuf.h"
#include "strutil.h"

/* What pip said, kept for the task's log should it fail (bounded: a resolver can talk a lot). */
#define PIP_OUTPUT_MAX (1024 * 1024)
#define VENV_READY ".tern-ready"
#define VENV_REQUIREMENTS "tern-requirements.txt"

typedef struct PipRun {
        StrBuf output; /* "E" or "O" (stderr, stdout), then the line, '\n' */
        bool truncated;
        char *error;  /* pip's last "ERROR: ..." line */
        bool no_pip;  /* the interpreter has no pip module */
        bool old_pip; /* its pip is older than 22.3: no --python */
} PipRun;

static void pip_run_done(PipRun *p) {
        strbuf_done(&p->output);
        free(p->error);
}

static void on_pip_line(void *userdata, ProcessStream stream, const char *line, size_t len) {
        PipRun *p = userdata;
        if (len >= 7 && strncmp(line, "ERROR: ", 7) == 0) {
                char *e = strndup(line, len);
                if (e) {
                        free(p->error);
                        p->error = e;
                }
        }
        if (len >= 21 && strncmp(line + len - 21, ": No module named pip", 21) == 0)
                p->no_pip = true;
        if (memmem(line, len, "no such option: --python", 24))
                p->old_pip = true;
        if (p->output.len + len + 2 > PIP_OUTPUT_MAX) {
                p->truncated = true;
                return;
        }
        (void) strbuf_append_char(&p->output, stream == PROCESS_STDERR ? 'E' : 'O');
        (void) strbuf_append_n(&p->output, line, len);
        (void) strbuf_append_char(&p->output, '\n');
}

/* The whole output in the task's log (stdout INFO, stderr WARN, as a script's lines). */
static void pip_log_output(TaskRunContext *ctx, const PipRun *p) {
        const char *s = strbuf_str(&p->output);
        while (s && *s) {
                size_t n = strcspn(s, "\n");
                _cleanup_free_ char *line = strndup(s + 1, n ? n - 1 : 0);
                if (line)
                        ctx->log(ctx, *s == 'E' ? TASK_LOG_WARN : TASK_LOG_INFO, line);
                s += n + (s[n] == '\n');
        }
        if (p->truncated)
                task_logf(ctx, TASK_LOG_WARN, "(pip's output past %u KiB is not shown)", PIP_OUTPUT_MAX / 1024);
}

/* The dependency pip names in its error (it repeats the requirement as written), or NULL. */
static const char *pip_failed_dependency(const char *error, char *const *deps) {
        static const char *const markers[] = {"No matching distribution found for ",
                                              "Could not find a version that satisfies the requirement ",
                                              "Invalid requirement: "};
        for (size_t i = 0; error && i < ELEMENTSOF(markers); i++) {
                const char *m = strstr(error, markers[i]);
                if (!m)
                        continue;
                m += strlen(markers[i]);
                m += *m == '\'';
                size_t n = strcspn(m, " '");
                for (char *const *d = deps; *d; d++)
                        if (strlen(*d) == n && strncmp(*d, m, n) == 0)
                                return *d;
                /* pip may give the name alone ("pkg" of "pkg>=2"): the listed one it begins. */
                for (char *const *d = deps; *d; d++)
                        if (strncmp(*d, m, n) == 0 && strchr("<>=!~[; @", (*d)[n]))
                                return *d;
        }
        return NULL;
}

static int cmp_strings(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The listed dependencies: a list of strings, or a JSON list (or one) in a string, as a rendered
 * expression gives; sorted and without duplicates, each one requirement line of pip. */
static int parse_dependencies(json_t *v, char ***ret, TaskOutcome *out) {
        _cleanup_json_ json_t *parsed = NULL;
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        size_t i;
        json_t *e;

        if (!l)
                return -ENOMEM;
        if (json_is_string(v)) {
                parsed = json_loads(json_string_value(v), JSON_DECODE_ANY, NULL);
                if (json_is_array(parsed))
                        v = parsed;
                else if (strv_extend(&l, json_string_value(v)) < 0)
                        return -ENOMEM;
        } else if (v && !json_is_null(v) && !json_is_array(v))
                return task_fail(
                               out,
                               "property 'dependencies' must be a list of package specifiers such as 'requests>=2.28'"),
                       -EINVAL;
        json_array_foreach (json_is_array(v) ? v : NULL, i, e) {
                if (!json_is_string(e))
                        return task_fail(out, "property 'dependencies' must be a list of strings: entry %zu is not one",
                                         i + 1),
                               -EINVAL;
                if (strv_extend(&l, json_string_value(e)) < 0)
                        return -ENOMEM;
        }
        for (char **d = l; *d; d++)
                if (strpbrk(strstrip(*d), "\n\r"))
                        return task_fail(out,
                                         "Python dependency '%s' spans several lines: give one package specifier per "
                                         "entry",
                                         *d),
                               -EINVAL;
        /* An empty entry (an expression that gave nothing) asks for nothing. */
        size_t n = 0;
        for (size_t k = 0; l[k]; k++) {
                if (isempty(l[k]))
                        free(l[k]);
                else
                        l[n++] = l[k];
        }
        l[n] = NULL;
        qsort(l, n, sizeof(char *), cmp_strings);
        size_t m = 0;
        for (size_t k = 0; k < n; k++) {
                if (m > 0 && streq(l[m - 1], l[k])) {
                        free(l[k]);
                        continue;
                }
                l[m++] = l[k];
        }
        l[m] = NULL;
        *ret = TAKE_PTR(l);
        return 0;
}

/* Where the cached environment of these dependencies goes: named by a hash of what makes it (the
 * interpreter, the index, the list), so that tasks listing the same ones share it. */
static int venv_key(const char *python, const char *index_url, char *const *deps, char ret[static 33]) {
        _cleanup_strbuf_ StrBuf text = STRBUF_INIT;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;

        strbuf_appendf(&text, "tern python venv 1\n%s\n%s\n", python, strempty(index_url));
        for (char *const *d = deps; *d; d++)
                strbuf_appendf(&text, "%s\n", *d);
        if (text.error)
                return text.error;
        if (EVP_Digest(strbuf_str(&text), text.len, md, &len, EVP_sha256(), NULL) != 1 || len < 16)
                return -EIO;
        for (unsigned i = 0; i < 16; i++)
                snprintf(ret + 2 * i, 3, "%02x", md[i]);
        return 0;
}

static int mkdir_parents(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* What is left of the task's timeout, for pip's run (0: none, or -ETIMEDOUT when it is over). */
static int time_left(TaskRunContext *ctx, usec_t *ret) {
        usec_t now = now_monotonic();
        if (!ctx->deadline) {
                *ret = 0;
                return 0;
        }
        if (now >= ctx->deadline)
                return -ETIMEDOUT;
        *ret = ctx->deadline - now;
        return 0;
}

/* Run one step of the build in dir (the process's working directory: the sandbox makes it the
 * writable one, the task's user its owner). Returns 0 when it succeeded; PYTHON_DEPS_FAILED when
 * it failed, out filled and the output logged. */
static int venv_step(TaskRunContext *ctx, const SandboxOptions *sb, const char *dir, char *const *argv,
                     char *const *env, char *const *deps, const char *what, TaskOutcome *out) {
        _cleanup_(pip_run_done) PipRun p = {.output = STRBUF_INIT};
        char d[DURATION_MAX];
        ProcessResult res;
        usec_t left;

        if (time_left(ctx, &left) < 0)
                return task_fail(out, "Timeout after %s: while installing the Python dependencies",
                                 duration_format(d, (susec_t) ctx->timeout)),
                       PYTHON_DEPS_FAILED;
        ProcessSpec spec = {.argv = argv,
                            .env = env,
                            .cwd = dir,
                            .timeout = left,
                            .cancel_fd = ctx->cancel_fd,
                            .sandbox = sb,
                            .one_off = true};
        int r = process_run(&spec, on_pip_line, &p, &res);
        if (r < 0 && res.message[0])
                return task_fail(out, "Cannot install the Python dependencies: %s", res.message), PYTHON_DEPS_FAILED;
        if (r < 0)
                return task_fail(out, "Cannot install the Python dependencies: cannot run '%s': %s", argv[0],
                                 strerror(-r)),
                       PYTHON_DEPS_FAILED;
        if (res.cancelled) {
                out->state = STATE_KILLED;
                return PYTHON_DEPS_FAILED;
        }
        if (res.timed_out)
                return task_fail(out, "Timeout after %s: while installing the Python dependencies",
                                 duration_format(d, (susec_t) ctx->timeout)),
                       PYTHON_DEPS_FAILED;
        if (res.exit_code == 0) {
                /* The whole of it only at DEBUG: a task's log is about the task. */
                const char *s = strbuf_str(&p.output);
                while (s && *s) {
                        size_t n = strcspn(s, "\n");
                        _cleanup_free_ char *line = strndup(s + 1, n ? n - 1 : 0);
                        if (line)
                                ctx->log(ctx, TASK_LOG_DEBUG, line);
                        s += n + (s[n] == '\n');
                }
                return 0;
        }
        pip_log_output(ctx, &p);
        if (p.no_pip)
                return task_fail(out,
                                 "Cannot install the Python dependencies: '%s' has no pip (on Debian, install the "
                                 "package python3-pip)",
                                 argv[0]),
                       PYTHON_DEPS_FAILED;
        if (p.old_pip)
                return task_fail(out,
                                 "Cannot install the Python dependencies: the pip of '%s' is older than 22.3 (it "
                                 "cannot install into a virtual environment with --python): upgrade it",
                                 argv[0]),
                       PYTHON_DEPS_FAILED;
        const char *dep = pip_failed_dependency(p.error, deps);
        if (dep)
                return task_fail(out, "pip cannot install Python dependency '%s': %s", dep,
                                 p.error + strlen("ERROR: ")),
                       PYTHON_DEPS_FAILED;
        _cleanup_free_ char *all = strv_join((char **) deps, "', '");
        return task_fail(out, "%s failed for the Python dependencies '%s' (exit code %d)%s%s", what, strempty(all),
                         res.exit_code, p.error ? ": " : "", p.error ? p.error + strlen("ERROR: ") : ""),
               PYTHON_DEPS_FAILED;
}

/* Make the environment in dir (existing, empty but for what is made here): python -m venv without
 * pip, then the host's pip installs into it, both run in cwd (dir or a parent: what the sandbox lets
 * them write). Returns 0 done, PYTHON_DEPS_FAILED (out filled). */
static int venv_build(TaskRunContext *ctx, const SandboxOptions *sb, const char *python, const char *cwd,
                      const char *dir, char *const *deps, TaskOutcome *out) {
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_free_ char *req = strjoin(dir, "/" VENV_REQUIREMENTS), *venv_python = strjoin(dir, "/bin/python");
        _cleanup_free_ char *home = strjoin("HOME=", dir);
        _cleanup_free_ char *list = strv_join((char **) deps, "\n");
        int r;

        if (!req || !venv_python || !home || !list)
                return -ENOMEM;
        /* The requirements as a file, as Kestra hands them over: any specifier pip takes, one a line. */
        _cleanup_close_ int fd = open(req, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        size_t n = strlen(list);
        if (write(fd, list, n) != (ssize_t) n || write(fd, "\n", 1) != 1)
                return -EIO;
        fd = safe_close(fd);

        for (char *const *e = ctx->base_env; e && *e; e++)
                if (!startswith(*e, "HOME=") && strv_extend(&env, *e) < 0)
                        return -ENOMEM;
        if (strv_extend(&env, home) < 0 || strv_extend(&env, "PIP_NO_CACHE_DIR=1") < 0 ||
            strv_extend(&env, "PIP_NO_INPUT=1") < 0 || strv_extend(&env, "PIP_DISABLE_PIP_VERSION_CHECK=1") < 0 ||
            strv_extend(&env, "PIP_ROOT_USER_ACTION=ignore") < 0)
                return -ENOMEM;
        if (ctx->pip_index_url && strv_consume(&env, strjoin("PIP_INDEX_URL=", ctx->pip_index_url)) < 0)
                return -ENOMEM;

        char *const venv_argv[] = {(char *) python,          (char *) "-m", (char *) "venv",
                                   (char *) "--without-pip", (char *) dir,  NULL};
        char *const pip_argv[] = {(char *) python,     (char *) "-m", (char *) "pip",
                                  (char *) "--python", venv_python,   (char *) "install",
                                  (char *) "-r",       req,           NULL};
        if ((r = venv_step(ctx, sb, cwd, venv_argv, env, deps, "python3 -m venv", out)) != 0 ||
            (r = venv_step(ctx, sb, cwd, pip_argv, env, deps, "pip install", out)) != 0)
                return r;
        return 0;
}

/* Wait for the cache entry's lock (another slot, or another worker of the state directory, may be
 * making the same environment), as long as the task may. Returns the locked fd, or -ECANCELED /
 * -ETIMEDOUT with out filled. */
static int venv_lock(TaskRunContext *ctx, const char *path, TaskOutcome *out) {
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        bool said = false;

        if (fd < 0)
                return -errno;
        while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno != EWOULDBLOCK && errno != EINTR)
                        return -errno;
                if (!said) {
                        task_logf(ctx, TASK_LOG_INFO,
                                  "Waiting for another task that installs the same Python dependencies");
                        said = true;
                }
                int r = task_check_stop(ctx, out,
                                        "while waiting for another task installing the same Python dependencies");
                if (r < 0)
                        return r;
                nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
        }
        return TAKE_FD(fd);
}

int python_deps_prepare(TaskRunContext *ctx, json_t *props, const char *python, const SandboxOptions *sb,
                        char **ret_venv, TaskOutcome *out) {
        _cleanup_strv_free_ char **deps = NULL;
        char real[PATH_MAX], key[33];
        bool cache;
        int r;

        *ret_venv = NULL;
        if ((r = parse_dependencies(json_object_get(props, "dependencies"), &deps, out)) < 0)
                return out->error ? PYTHON_DEPS_FAILED : r;
        if (!deps[0])
                return 0;
        if (!realpath(python, real))
                return task_fail(out, "Cannot install the Python dependencies: '%s': %s", python, strerror(errno)),
                       PYTHON_DEPS_FAILED;
        /* Kestra installs the version asked for with uv; tern has the host's interpreter only. */
        const char *version = task_prop_string(props, "pythonVersion", NULL);
        const char *base = strrchr(real, '/') ? strrchr(real, '/') + 1 : real;
        if (version && !(startswith(base, "python") && startswith(base + 6, version)) &&
            !(startswith(base, "python") && startswith(version, base + 6) && base[6]))
                task_logf(ctx, TASK_LOG_WARN,
                          "pythonVersion '%s' is not installed by tern: the dependencies are installed for "
                          "this worker's '%s'",
                          version, real);
        if (task_prop_bool(props, "dependencyCacheEnabled", true, &cache) < 0)
                return task_fail(out, "property 'dependencyCacheEnabled' must be a boolean"), PYTHON_DEPS_FAILED;
        _cleanup_free_ char *list = strv_join(deps, "', '");
        if (!list)
                return -ENOMEM;

        if (!cache || !ctx->cache_root) {
                /* Made for this task alone, in its working directory (removed with it); an earlier task
                 * of the same WorkingDirectory may have left one. */
                _cleanup_free_ char *dir = strjoin(ctx->working_dir, "/.venv");
                _cleanup_close_ int wd = open(ctx->working_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (!dir)
                        return -ENOMEM;
                if (wd < 0 || (r = beneath_remove_tree(wd, ".venv")) < 0 || mkdirat(wd, ".venv", 0755) < 0)
                        return task_fail(out, "Cannot create '%s' for the Python dependencies: %s", dir,
                                         wd >= 0 && r < 0 ? beneath_refusal(r) : strerror(errno)),
                               PYTHON_DEPS_FAILED;
                task_logf(ctx, TASK_LOG_INFO, "Installing the Python dependencies '%s' with pip (not cached)", list);
                r = venv_build(ctx, sb, real, ctx->working_dir, dir, deps, out);
                if (r != 0)
                        return r;
                *ret_venv = TAKE_PTR(dir);
                return 0;
        }

        if ((r = venv_key(real, ctx->pip_index_url, deps, key)) < 0)
                return r;
        _cleanup_free_ char *root = strjoin(ctx->cache_root, "/python");
        _cleanup_free_ char *dir = root ? strjoin(root, "/", key) : NULL;
        _cleanup_free_ char *ready = dir ? strjoin(dir, "/" VENV_READY) : NULL;
        _cleanup_free_ char *lock = dir ? strjoin(dir, ".lock") : NULL;
        if (!lock)
                return -ENOMEM;
        if (access(ready, F_OK) == 0) {
                task_logf(ctx, TASK_LOG_INFO, "Python dependencies '%s': installed already (%s)", list, dir);
                *ret_venv = TAKE_PTR(dir);
                return 0;
        }
        if ((r = mkdir_parents(root, 0755)) < 0)
                return task_fail(out, "Cannot create the cache directory '%s' for the Python dependencies: %s", root,
                                 strerror(-r)),
                       PYTHON_DEPS_FAILED;
        _cleanup_close_ int lock_fd = venv_lock(ctx, lock, out);
        if (lock_fd == -ECANCELED || lock_fd == -ETIMEDOUT)
                return PYTHON_DEPS_FAILED;
        if (lock_fd < 0)
                return task_fail(out, "Cannot lock '%s' for the Python dependencies: %s", lock, strerror(-lock_fd)),
                       PYTHON_DEPS_FAILED;
        /* Made while this task waited. */
        if (access(ready, F_OK) == 0) {
                task_logf(ctx, TASK_LOG_INFO, "Python dependencies '%s': installed by another task (%s)", list, dir);
                *ret_venv = TAKE_PTR(dir);
                return 0;
        }
        /* What a build that did not finish (a worker killed) left. */
        if ((r = beneath_remove_path(dir)) < 0 || mkdir(dir, 0755) < 0)
                return task_fail(out, "Cannot prepare '%s' for the Python dependencies: %s", dir,
                                 strerror(r < 0 ? -r : errno)),
                       PYTHON_DEPS_FAILED;
        task_logf(ctx, TASK_LOG_INFO, "Installing the Python dependencies '%s' with pip into %s", list, dir);
        usec_t start = now_monotonic();
        r = venv_build(ctx, sb, real, dir, dir, deps, out);
        if (r != 0) {
                (void) beneath_remove_path(dir);
                return r;
        }
        /* Whole from now on: tasks that find the mark use it without the lock. */
        _cleanup_close_ int mark = open(ready, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (mark < 0)
                return task_fail(out, "Cannot mark '%s' complete: %s", dir, strerror(errno)), PYTHON_DEPS_FAILED;
        char d[DURATION_MAX];
        task_logf(ctx, TASK_LOG_INFO, "Python dependencies '%s' installed in %s", list,
                  duration_format(d, (susec_t) (now_monotonic() - start)));
        *ret_venv = TAKE_PTR(dir);
        return 0;
}
