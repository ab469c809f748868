/* expr-jq.c: the jq filter through libjq, each program run in a child process bounded in time and memory. */
#include <ctype.h>
#include <fcntl.h>
#include <jq.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "expr-internal.h"
#include "fd-util.h"
#include "strutil.h"

/* Why a child process: libjq has no step budget and aborts the process when an allocation fails, and a
 * jq program can loop forever (`repeat(.)`) or build a list of a billion items (`[range(1e9)]`). In a
 * child, a time limit is a kill and a memory limit is an rlimit, and the executor or worker that renders
 * the expression survives both. The program is compiled in the child too: a compiler assertion in libjq
 * must not take the renderer down either.
 *
 * The child is this same executable started afresh (posix_spawn of /proc/self/exe, recognised by a
 * constructor before main), not a fork: a fork of a threaded renderer (a worker's slots, a webserver's
 * requests) copies whatever locks other threads hold at that instant, and a child that then allocates
 * can wait on one forever (AddressSanitizer's allocator does; so may any library's). A new process has
 * no such state. The request (limits, program, input) goes in on standard input, the results come out
 * on standard output. */

#define JQ_EXIT_NOMEM 3

/* In sanitizer builds, the process's death callback (libFuzzer's writes a crash file for the input it
 * was running) is the parent's business, not the child's: a jq child stopped by AddressSanitizer for
 * running out of memory is an outcome the parent reports. */
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

/* Builtins that would reach past the value given to the program are shadowed: the environment of the
 * process (env, $ENV: database passwords, tokens), other inputs, module files (import and include are
 * refused before compiling, modulemeta here), and writes to the process's own stderr. */
static const char jq_prelude[] =
        "def env: {}; def input: error(\"input is not available in a template\"); def inputs: empty; "
        "def input_filename: null; def modulemeta: error(\"jq modules are not available in a template\"); "
        "def get_search_list: []; def get_jq_origin: null; def get_prog_origin: null; "
        "def debug: .; def stderr: .; null as $ENV | ";

/* jq reads module directives only at the very start of a program; after the prelude they would be
 * syntax errors, but a user deserves a clearer message. */
static bool jq_uses_modules(const char *p) {
        for (;;) {
                while (isspace((unsigned char) *p))
                        p++;
                if (*p != '#')
                        break;
                while (*p && *p != '\n')
                        p++;
        }
        const char *words[] = { "import", "include", "module" };
        for (size_t i = 0; i < ELEMENTSOF(words); i++) {
                size_t n = strlen(words[i]);
                if (strncmp(p, words[i], n) == 0 && !isalnum((unsigned char) p[n]) && p[n] != '_')
                        return true;
        }
        return false;
}

/* "jq: error: foo/0 is not defined at <top-level>, line 1:\n<program>" -> "foo/0 is not defined" */
static char *jq_clean_message(const char *m) {
        const char *s = startswith(m, "jq: error: ") ?: m;
        size_t n = strcspn(s, "\n");
        const char *at = strstr(s, " at <top-level>");
        if (at && (size_t) (at - s) < n)
                n = (size_t) (at - s);
        return strndup(s, n);
}

typedef struct JqChild {
        int fd;
        jv first_error;
        char buf[65536]; /* lines go out in large writes: a program may print millions of small results */
        size_t n;
} JqChild;

static void child_error_cb(void *data, jv msg) {
        JqChild *c = data;
        if (jv_get_kind(c->first_error) == JV_KIND_INVALID && jv_get_kind(msg) == JV_KIND_STRING)
                c->first_error = msg;
        else
                jv_free(msg);
}

static void child_nomem(void *data) {
        _exit(JQ_EXIT_NOMEM);
}

static void child_flush(JqChild *c) {
        if (fd_write_all(c->fd, c->buf, c->n) < 0)
                _exit(1); /* the parent stopped reading */
        c->n = 0;
}

static void child_write(JqChild *c, const char *s, size_t n) {
        if (c->n + n > sizeof c->buf) {
                child_flush(c);
                if (n > sizeof c->buf) {
                        if (fd_write_all(c->fd, s, n) < 0)
                                _exit(1);
                        return;
                }
        }
        memcpy(c->buf + c->n, s, n);
        c->n += n;
}

static void child_write_line(JqChild *c, char kind, jv text) {
        const char *s = jv_string_value(text);
        child_write(c, &kind, 1);
        child_write(c, s, strlen(s));
        child_write(c, "\n", 1);
        jv_free(text);
}

/* An error line carries the message as a JSON string, so that it stays on one line. */
static void child_write_error(JqChild *c, const char *message) {
        child_write_line(c, 'e', jv_dump_string(jv_string(message), 0));
        child_flush(c);
}

/* The limit counts from what the process maps already (under AddressSanitizer, terabytes of shadow). */
static void child_limit_memory(size_t max) {
        FILE *f = fopen("/proc/self/status", "re");
        char line[256];
        unsigned long long kb = 0;
        if (!f)
                return;
        while (fgets(line, sizeof line, f))
                if (sscanf(line, "VmData: %llu kB", &kb) == 1)
                        break;
        fclose(f);
        if (kb == 0)
                return;
        struct rlimit rl;
        if (getrlimit(RLIMIT_DATA, &rl) < 0)
                return;
        rlim_t want = (rlim_t) kb * 1024 + max;
        if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
                want = rl.rlim_max;
        rl.rlim_cur = want;
        (void) setrlimit(RLIMIT_DATA, &rl);
}

/* The child keeps the standard streams and its results pipe, as fd 3, and nothing else of the renderer's:
 * the exec closed every close-on-exec descriptor; this closes any the renderer's libraries opened without
 * that flag, so that no reader of another pipe waits for this program to end before it sees its own end. */
static int child_close_fds(int fd) {
        if (fd != 3) {
                if (dup2(fd, 3) < 0)
                        return -1;
                fd = 3;
        }
        if (syscall(SYS_close_range, 4, ~0U, 0) < 0) {
                long max = sysconf(_SC_OPEN_MAX);
                for (long i = 4; i < MIN(max < 0 ? 4096 : max, 65536L); i++)
                        (void) close((int) i);
        }
        return fd;
}

_noreturn_ static void jq_child(const char *program, const char *text, usec_t timeout, size_t max_memory, int fd) {
        static JqChild c; /* this process's only one: off the stack, which jq uses deeply */
        if ((fd = child_close_fds(fd)) < 0)
                _exit(1);
        c.fd = fd;
        c.first_error = jv_invalid();

        /* the parent kills at the deadline; this stops a child whose parent went away */
        struct rlimit cpu = { timeout / USEC_PER_SEC + 2, timeout / USEC_PER_SEC + 3 };
        (void) setrlimit(RLIMIT_CPU, &cpu);
        /* a crash must not write the renderer's memory (secrets, connections) to a core file */
        (void) setrlimit(RLIMIT_CORE, &(struct rlimit) { 0, 0 });
        child_limit_memory(max_memory);
        signal(SIGPIPE, SIG_DFL);
        if (__sanitizer_set_death_callback)
                __sanitizer_set_death_callback(NULL);

        char *full = strjoin(jq_prelude, program);
        if (!full)
                _exit(JQ_EXIT_NOMEM);

        jq_state *jq = jq_init();
        if (!jq)
                _exit(JQ_EXIT_NOMEM);
        jq_set_nomem_handler(jq, child_nomem, NULL);
        jq_set_error_cb(jq, child_error_cb, &c);
        /* no library directories: nothing to import from, should a directive get through */
        jq_set_attr(jq, jv_string("JQ_LIBRARY_PATH"), jv_array());
        if (!jq_compile(jq, full)) {
                char *m = jv_get_kind(c.first_error) == JV_KIND_STRING ? jq_clean_message(jv_string_value(c.first_error)) : NULL;
                child_write_error(&c, m ? m : "invalid jq program");
                _exit(0);
        }
        jv in = jv_parse(text);
        if (!jv_is_valid(in))
                _exit(JQ_EXIT_NOMEM); /* jansson's own output: only a failed allocation makes it invalid */
        jq_start(jq, in, 0);
        for (;;) {
                jv v = jq_next(jq);
                if (jv_is_valid(v)) {
                        child_write_line(&c, 'v', jv_dump_string(v, 0));
                        continue;
                }
                if (jq_halted(jq)) {
                        jv code = jq_get_exit_code(jq);
                        jv msg = jq_get_error_message(jq);
                        bool failed = jv_get_kind(code) == JV_KIND_NUMBER && jv_number_value(code) != 0;
                        if (failed) {
                                jv m = jv_get_kind(msg) == JV_KIND_STRING ? jv_copy(msg) : jv_dump_string(jv_copy(msg), 0);
                                child_write_error(&c, jv_string_value(m));
                                jv_free(m);
                        }
                        jv_free(code);
                        jv_free(msg);
                        jv_free(v);
                        break;
                }
                if (jv_invalid_has_msg(jv_copy(v))) {
                        jv msg = jv_invalid_get_msg(v);
                        jv m = jv_get_kind(msg) == JV_KIND_STRING ? jv_copy(msg) : jv_dump_string(jv_copy(msg), 0);
                        child_write_error(&c, jv_string_value(m));
                        _exit(0);
                }
                jv_free(v);
                break;
        }
        child_write_line(&c, 'k', jv_string(""));
        child_flush(&c);
        _exit(0);
}

#define JQ_CHILD_ENV "TERN_JQ_CHILD"

/* The child's side: "TIMEOUT_USEC MAX_MEMORY PROGRAM_LENGTH\n" PROGRAM INPUT-JSON on standard input,
 * results on standard output. Runs before main (and so before any thread) when the renderer started
 * this executable with $TERN_JQ_CHILD set, and never returns. */
__attribute__((constructor)) static void jq_child_main(void) {
        const char *e = getenv(JQ_CHILD_ENV);
        if (!e || !streq(e, "1"))
                return;
        _cleanup_strbuf_ StrBuf in = STRBUF_INIT;
        char buf[65536];
        for (;;) {
                ssize_t k = read(STDIN_FILENO, buf, sizeof buf);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        _exit(1);
                if (k == 0)
                        break;
                strbuf_append_n(&in, buf, (size_t) k);
                if (in.error)
                        _exit(JQ_EXIT_NOMEM);
        }
        unsigned long long timeout, max_memory, plen;
        int head = 0;
        const char *req = strbuf_str(&in);
        if (sscanf(req, "%llu %llu %llu\n%n", &timeout, &max_memory, &plen, &head) != 3 || head <= 0 ||
            plen > in.len - (size_t) head)
                _exit(1);
        char *program = strndup(req + head, (size_t) plen);
        if (!program)
                _exit(JQ_EXIT_NOMEM);
        jq_child(program, req + head + plen, (usec_t) timeout, (size_t) max_memory, STDOUT_FILENO);
}

/* Start the child: this executable, afresh, with the request on its standard input (a sealed memory
 * file: nothing to block on, whatever its size) and its results on *ret_fd. */
static int jq_spawn(const char *program, json_t *input, usec_t timeout, size_t max_memory, pid_t *ret_pid, int *ret_fd) {
        _cleanup_free_ char *text = json_dumps(input, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!text)
                return -ENOMEM;
        _cleanup_close_ int req = memfd_create("tern-jq-request", MFD_CLOEXEC);
        if (req < 0)
                return -errno;
        char head[96];
        int hn = snprintf(head, sizeof head, "%llu %llu %zu\n", (unsigned long long) timeout,
                          (unsigned long long) max_memory, strlen(program));
        int r;
        if ((r = fd_write_all(req, head, (size_t) hn)) < 0 || (r = fd_write_all(req, program, strlen(program))) < 0 ||
            (r = fd_write_all(req, text, strlen(text))) < 0)
                return r;
        if (lseek(req, 0, SEEK_SET) < 0)
                return -errno;
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        _cleanup_close_ int rfd = fds[0], wfd = fds[1];

        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        if ((r = posix_spawn_file_actions_init(&fa)) != 0)
                return -r;
        if ((r = posix_spawnattr_init(&attr)) != 0) {
                posix_spawn_file_actions_destroy(&fa);
                return -r;
        }
        /* dup2 clears close-on-exec on the copies: the child keeps exactly 0, 1 and 2. */
        (void) posix_spawn_file_actions_adddup2(&fa, req, STDIN_FILENO);
        (void) posix_spawn_file_actions_adddup2(&fa, wfd, STDOUT_FILENO);
        /* The renderer may block or ignore signals: the child starts with the defaults. */
        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        (void) posix_spawnattr_setsigmask(&attr, &none);
        (void) posix_spawnattr_setsigdefault(&attr, &all);
        (void) posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        /* Nothing of the renderer's environment (database passwords, secrets): jq's env is empty
         * anyway; the sanitizers' settings, when there are any, so that a test's child behaves alike. */
        char *envp[4];
        size_t ne = 0;
        envp[ne++] = (char *) JQ_CHILD_ENV "=1";
        _cleanup_free_ char *asan = getenv("ASAN_OPTIONS") ? strjoin("ASAN_OPTIONS=", getenv("ASAN_OPTIONS")) : NULL;
        if (asan)
                envp[ne++] = asan;
        envp[ne] = NULL;
        char *argv[] = { (char *) "tern-jq", NULL };
        pid_t pid;
        r = posix_spawn(&pid, "/proc/self/exe", &fa, &attr, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r != 0)
                return -r;
        *ret_pid = pid;
        *ret_fd = TAKE_FD(rfd);
        return 0;
}

static int parse_result_line(const char *s, size_t n, json_t *list) {
        json_t *v = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (!v) {
                /* jq prints whole doubles past int64 as digits, which jansson refuses as integers */
                _cleanup_free_ char *t = strndup(s, n);
                double d;
                if (!t)
                        return -ENOMEM;
                if (safe_atod(t, &d) < 0)
                        return -EBADMSG;
                v = json_real(d);
                if (!v)
                        return -ENOMEM;
        }
        return json_array_append_new(list, v) < 0 ? -ENOMEM : 0;
}

static int set_message(char **ret_error, const char *fmt, ...) _printf_(2, 3);
static int set_message(char **ret_error, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(ret_error, fmt, ap);
        va_end(ap);
        if (r < 0) {
                *ret_error = NULL;
                return -ENOMEM;
        }
        return 0;
}

/* The process's jq children: a counting slot, held from the fork to the reaping. */
static pthread_mutex_t children_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t children_freed = PTHREAD_COND_INITIALIZER;
static unsigned children_running, children_peak;

void expr_jq_children(unsigned *ret_running, unsigned *ret_peak) {
        pthread_mutex_lock(&children_lock);
        *ret_running = children_running;
        *ret_peak = children_peak;
        pthread_mutex_unlock(&children_lock);
}

/* Wait for a slot until deadline (CLOCK_MONOTONIC µs): true when one was taken. */
static bool child_slot_take(usec_t deadline) {
        struct timespec ts = { .tv_sec = (time_t) (deadline / USEC_PER_SEC),
                               .tv_nsec = (long) (deadline % USEC_PER_SEC) * 1000 };
        bool taken = false;
        pthread_mutex_lock(&children_lock);
        for (;;) {
                if (children_running < EXPR_JQ_MAX_CHILDREN) {
                        if (++children_running > children_peak)
                                children_peak = children_running;
                        taken = true;
                        break;
                }
                int r = pthread_cond_clockwait(&children_freed, &children_lock, CLOCK_MONOTONIC, &ts);
                if (r == ETIMEDOUT)
                        break;
        }
        pthread_mutex_unlock(&children_lock);
        return taken;
}

static void child_slot_release(bool *taken) {
        if (!*taken)
                return;
        pthread_mutex_lock(&children_lock);
        children_running--;
        pthread_cond_signal(&children_freed);
        pthread_mutex_unlock(&children_lock);
        *taken = false;
}

int expr_jq_run(const char *program, json_t *input, usec_t timeout, size_t max_memory, json_t **ret, char **ret_error) {
        _cleanup_strbuf_ StrBuf out = STRBUF_INIT;
        _cleanup_json_ json_t *list = NULL;
        _cleanup_close_ int rfd = -EBADF;
        int status = 0, r;
        bool timed_out = false, too_large = false;

        *ret = NULL;
        *ret_error = NULL;
        if (jq_uses_modules(program))
                return set_message(ret_error, "jq modules (import, include, module) are not available in a template") ?: -EINVAL;
        if (program[strspn(program, " \t\r\n")] == 0)
                program = "."; /* jq's own command line takes an empty program as the identity */
        if (timeout == 0)
                timeout = EXPR_JQ_TIMEOUT;
        if (max_memory == 0)
                max_memory = EXPR_JQ_MAX_MEMORY;
        list = json_array();
        if (!list)
                return -ENOMEM;
        /* The wait for a slot counts in the program's time: a render never takes longer than that. */
        usec_t deadline = now_monotonic() + timeout;
        _cleanup_(child_slot_release) bool slot = child_slot_take(deadline);
        if (!slot) {
                char limit[DURATION_MAX];
                duration_format_short(limit, timeout);
                return set_message(ret_error, "%u jq programs were already running in this process for %s; try again later",
                                   EXPR_JQ_MAX_CHILDREN, limit) ?: -EBUSY;
        }
        pid_t pid;
        if ((r = jq_spawn(program, input, timeout, max_memory, &pid, &rfd)) < 0)
                return set_message(ret_error, "cannot start a process for jq: %s", strerror(-r)) ?: r;

        for (;;) {
                usec_t now = now_monotonic();
                if (now >= deadline) {
                        timed_out = true;
                        break;
                }
                struct pollfd pfd = { rfd, POLLIN, 0 };
                int n = poll(&pfd, 1, (int) MIN((deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC, (usec_t) INT32_MAX));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        (void) kill(pid, SIGKILL);
                        (void) waitpid(pid, NULL, 0);
                        return r;
                }
                if (n == 0)
                        continue;
                char buf[65536];
                ssize_t k = read(rfd, buf, sizeof buf);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                if (out.len + (size_t) k > EXPR_MAX_OUTPUT) {
                        too_large = true;
                        break;
                }
                strbuf_append_n(&out, buf, (size_t) k);
                if (out.error) {
                        (void) kill(pid, SIGKILL);
                        (void) waitpid(pid, NULL, 0);
                        return out.error;
                }
        }
        if (timed_out || too_large)
                (void) kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;

        char limit[DURATION_MAX];
        duration_format_short(limit, timeout);
        if (timed_out)
                return set_message(ret_error, "the jq program ran longer than %s and was stopped", limit) ?: -ETIME;
        if (too_large)
                return set_message(ret_error, "the jq program's results are larger than %u bytes", EXPR_MAX_OUTPUT) ?: -E2BIG;

        /* a result per 'v' line; 'e' an error; 'k' the end of a run that completed */
        bool complete = false;
        const char *p = strbuf_str(&out), *end = p + out.len;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                if (!nl)
                        break;
                if (*p == 'v') {
                        r = parse_result_line(p + 1, (size_t) (nl - p - 1), list);
                        if (r < 0)
                                return r == -ENOMEM ? r : (set_message(ret_error, "cannot read a result of jq") ?: -EIO);
                } else if (*p == 'e') {
                        _cleanup_json_ json_t *m = json_loadb(p + 1, (size_t) (nl - p - 1), JSON_DECODE_ANY, NULL);
                        return set_message(ret_error, "%s", json_is_string(m) ? json_string_value(m) : "jq failed") ?: -EINVAL;
                } else if (*p == 'k')
                        complete = true;
                p = nl + 1;
        }
        if (!complete) {
                if (WIFEXITED(status) && WEXITSTATUS(status) == JQ_EXIT_NOMEM)
                        return set_message(ret_error, "the jq program needed more than %zu MiB of memory", max_memory >> 20) ?: -E2BIG;
                if (WIFSIGNALED(status) && WTERMSIG(status) == SIGXCPU)
                        return set_message(ret_error, "the jq program used more than %s of processor time", limit) ?: -ETIME;
                /* what else stops the child early: an allocator that reports running out of memory itself
                 * (AddressSanitizer's), or a crash of libjq */
                char how[64];
                if (WIFSIGNALED(status))
                        snprintf(how, sizeof how, "signal %s", strsignal(WTERMSIG(status)));
                else
                        snprintf(how, sizeof how, "exit status %d", WEXITSTATUS(status));
                return set_message(ret_error, "the jq program stopped before its end (%s); it may have needed more than %zu MiB of memory",
                                   how, max_memory >> 20) ?: -E2BIG;
        }
        *ret = TAKE_PTR(list);
        return 0;
}
