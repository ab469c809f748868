/* test-process: output lines, exit codes, clean environment, no leaked fds, timeouts, cancellation
 * and the killing of whatever a command leaves behind. */
#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>

#include "process.h"
#include "strbuf.h"
#include "tap.h"

typedef struct Capture {
        StrBuf out, err;
        size_t lines;
        size_t longest;
} Capture;

static void on_line(void *userdata, ProcessStream stream, const char *line, size_t len) {
        Capture *c = userdata;
        StrBuf *sb = stream == PROCESS_STDOUT ? &c->out : &c->err;
        strbuf_append_n(sb, line, len);
        strbuf_append_char(sb, '|');
        c->lines++;
        c->longest = MAX(c->longest, len);
}

static int run_sh(const char *script, usec_t timeout, usec_t grace, int cancel_fd, Capture *c, ProcessResult *res) {
        char *argv[] = { (char *) "/bin/sh", (char *) "-c", (char *) script, NULL };
        char *env[] = { (char *) "PATH=/usr/bin:/bin", (char *) "TERN_TEST=1", NULL };
        ProcessSpec spec = { .argv = argv, .env = env, .cwd = "/", .timeout = timeout, .kill_grace = grace,
                             .cancel_fd = cancel_fd };
        *c = (Capture) { STRBUF_INIT, STRBUF_INIT, 0, 0 };
        return process_run(&spec, on_line, c, res);
}

/* Gone, or a zombie waiting for a PID 1 that may not reap (containers). */
static bool process_alive(pid_t pid) {
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return false;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        const char *p = strrchr(buf, ')');
        return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static void capture_done(Capture *c) {
        strbuf_done(&c->out);
        strbuf_done(&c->err);
}

int main(void) {
        Capture c;
        ProcessResult res;

        ok(run_sh("echo one; echo two >&2; printf 'three'; exit 3", 0, 0, -1, &c, &res) == 0, "runs");
        is_str(strbuf_str(&c.out), "one|three|", "stdout lines, final line without newline delivered");
        is_str(strbuf_str(&c.err), "two|", "stderr lines kept apart");
        is_int(res.exit_code, 3, "exit code");
        ok(!res.timed_out && !res.cancelled && res.signal == 0, "no timeout, no signal");
        capture_done(&c);

        run_sh("env | sort", 0, 0, -1, &c, &res);
        /* PWD is added by the shell itself; the check is that nothing of ours leaks. */
        is_str(strbuf_str(&c.out), "PATH=/usr/bin:/bin|PWD=/|TERN_TEST=1|", "environment is only what was given, cwd set");
        capture_done(&c);

        int leak = open("/dev/null", O_RDONLY); /* deliberately without O_CLOEXEC */
        run_sh("ls /proc/self/fd | wc -l", 0, 0, -1, &c, &res);
        is_str(strbuf_str(&c.out), "4|", "only stdin/stdout/stderr reach the command (plus ls's own dir fd)");
        close(leak);
        capture_done(&c);

        run_sh("tty; echo $?", 0, 0, -1, &c, &res);
        ok(strstr(strbuf_str(&c.out), "not a tty") != NULL, "no controlling terminal");
        capture_done(&c);

        run_sh("head -c 200000 /dev/zero | tr '\\0' x; echo", 0, 0, -1, &c, &res);
        ok(c.longest <= PROCESS_LINE_MAX && c.out.len == 200000 + c.lines, "a 200 kB line arrives split, complete");
        capture_done(&c);

        char *argv[] = { (char *) "/nonexistent/program", NULL };
        char *env[] = { NULL };
        ProcessSpec spec = { .argv = argv, .env = env, .cancel_fd = -1 };
        is_int(process_run(&spec, NULL, NULL, &res), -ENOENT, "missing program is -ENOENT");

        usec_t t0 = now_monotonic();
        run_sh("echo started; sleep 30", 300 * USEC_PER_MSEC, 0, -1, &c, &res);
        ok(res.timed_out && res.signal == SIGTERM, "timeout sends SIGTERM");
        ok(now_monotonic() - t0 < 5 * USEC_PER_SEC, "timeout returns promptly");
        is_str(strbuf_str(&c.out), "started|", "output before the timeout is kept");
        capture_done(&c);

        t0 = now_monotonic();
        run_sh("trap '' TERM; sleep 30", 200 * USEC_PER_MSEC, 300 * USEC_PER_MSEC, -1, &c, &res);
        ok(res.timed_out && res.signal == SIGKILL, "a command ignoring SIGTERM is SIGKILLed after the grace period");
        ok(now_monotonic() - t0 < 5 * USEC_PER_SEC, "grace period respected");
        capture_done(&c);

        run_sh("sleep 60 >/dev/null 2>&1 & echo $!", 0, 0, -1, &c, &res);
        pid_t bg = (pid_t) atoi(strbuf_str(&c.out));
        usleep(100000);
        ok(bg > 0 && !process_alive(bg), "a background child left behind is killed at exit");
        capture_done(&c);

        int efd = eventfd(1, EFD_CLOEXEC);
        t0 = now_monotonic();
        run_sh("sleep 30", 0, 0, efd, &c, &res);
        ok(res.cancelled && res.signal == SIGTERM, "cancel fd kills the command");
        ok(now_monotonic() - t0 < 5 * USEC_PER_SEC, "cancel is prompt");
        close(efd);
        capture_done(&c);
        return tap_done();
}
