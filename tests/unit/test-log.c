/* test-log: levels, targets, errno return values, console format and context fields. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"

static char *capture(void (*fn)(void)) {
        static char buf[4096];
        char path[] = "/tmp/tern-test-log-XXXXXX";
        int fd = mkstemp(path), saved = dup(STDERR_FILENO);
        fflush(stderr);
        dup2(fd, STDERR_FILENO);
        fn();
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = 0;
        close(fd);
        unlink(path);
        return buf;
}

static void emit_plain(void) {
        log_info("hello %s", "world");
        log_debug("hidden");
}
static void emit_errno(void) {
        (void) log_error_errno(ENOENT, "cannot open '%s': %m", "x.yaml");
}
static void emit_context(void) {
        static const LogField f[] = { { "TERN_EXECUTION_ID", "exec1" } };
        _cleanup_log_context_ LogContext *c = log_context_push(f, 1);
        log_warning("inside");
}
static void emit_after_context(void) {
        log_warning("outside");
}

int main(void) {
        unsetenv("JOURNAL_STREAM");
        unsetenv("INVOCATION_ID");
        setenv("TERN_LOG_LEVEL", "info", 1);
        unsetenv("TERN_LOG_TARGET");
        log_setup("tern", "test");
        is_int(log_get_target(), LOG_TARGET_CONSOLE, "console target without JOURNAL_STREAM");
        is_int(log_get_max_level(), LOG_INFO, "level from TERN_LOG_LEVEL");

        is_str(capture(emit_plain), "tern: hello world\n", "plain console line, debug filtered");
        is_str(capture(emit_errno), "tern: cannot open 'x.yaml': No such file or directory\n", "%m uses the error passed");
        is_int(log_error_errno(EINVAL, "x"), -EINVAL, "returns negative errno for positive input");
        is_int(log_debug_errno(-EPERM, "filtered"), -EPERM, "returns negative errno even when filtered");

        log_set_console_verbose(true);
        const char *out = capture(emit_context);
        ok(strstr(out, "warning tern/test: [exec1] inside") != NULL, "verbose console shows level, component, context");
        out = capture(emit_after_context);
        ok(strstr(out, "exec1") == NULL, "context popped at scope exit");
        log_set_console_verbose(false);

        is_int(log_level_from_string("warn"), LOG_WARNING, "warn alias");
        is_int(log_level_from_string("DEBUG"), LOG_DEBUG, "case-insensitive");
        is_int(log_level_from_string("loud"), -EINVAL, "unknown level");
        is_int(log_target_from_string("journal"), LOG_TARGET_JOURNAL, "target name");

        /* JOURNAL_STREAM naming our stderr switches to journald. */
        struct stat st;
        char js[64];
        fstat(STDERR_FILENO, &st);
        snprintf(js, sizeof js, "%llu:%llu", (unsigned long long) st.st_dev, (unsigned long long) st.st_ino);
        setenv("JOURNAL_STREAM", js, 1);
        log_setup(NULL, NULL);
        is_int(log_get_target(), LOG_TARGET_JOURNAL, "journal target when JOURNAL_STREAM matches stderr");
        setenv("JOURNAL_STREAM", "1:1", 1);
        log_setup(NULL, NULL);
        is_int(log_get_target(), LOG_TARGET_CONSOLE, "console when JOURNAL_STREAM names another file");
        setenv("TERN_LOG_TARGET", "null", 1);
        log_setup(NULL, NULL);
        is_str(capture(emit_plain), "", "null target writes nothing");
        return tap_done();
}
