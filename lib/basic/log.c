/* log.c: journald native logging with structured fields, or plain stderr lines. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "log.h"
#include "timeutil.h"

/* The log level and target are the only process-wide mutable state, set once at start-up. */
static int max_level = LOG_INFO;
static LogTarget target = LOG_TARGET_AUTO;
static LogTarget resolved = LOG_TARGET_CONSOLE;
static bool console_verbose = false;
static char identifier[64] = "tern";
static char component[64] = "";

struct LogContext {
        const LogField *fields;
        size_t n;
};
static _Thread_local LogContext context_stack[LOG_CONTEXT_MAX];
static _Thread_local size_t context_depth;

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",     [LOG_ERR] = "error",
        [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

int log_level_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
                if (strcasecmp(s, level_names[i]) == 0)
                        return (int) i;
        if (strcasecmp(s, "warn") == 0)
                return LOG_WARNING;
        if (strcasecmp(s, "err") == 0)
                return LOG_ERR;
        if (strcasecmp(s, "trace") == 0)
                return LOG_DEBUG;
        if (isdigit((unsigned char) s[0]) && !s[1])
                return s[0] - '0';
        return -EINVAL;
}

const char *log_level_to_string(int level) {
        if (level < 0 || (size_t) level >= ELEMENTSOF(level_names))
                return NULL;
        return level_names[level];
}

int log_target_from_string(const char *s) {
        static const char *const names[] = { "auto", "console", "journal", "null" };
        for (size_t i = 0; s && i < ELEMENTSOF(names); i++)
                if (streq(s, names[i]))
                        return (int) i;
        return -EINVAL;
}

static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return st.st_dev == (dev_t) dev && st.st_ino == (ino_t) ino;
}

static void resolve_target(void) {
        if (target == LOG_TARGET_AUTO)
                resolved = stderr_is_journal() ? LOG_TARGET_JOURNAL : LOG_TARGET_CONSOLE;
        else
                resolved = target;
}

void log_setup(const char *ident, const char *comp) {
        const char *e;
        int l;

        if (ident)
                snprintf(identifier, sizeof identifier, "%s", ident);
        if (comp)
                snprintf(component, sizeof component, "%s", comp);
        e = getenv("TERN_LOG_LEVEL");
        if (e && (l = log_level_from_string(e)) >= 0)
                max_level = l;
        e = getenv("TERN_LOG_TARGET");
        if (e && (l = log_target_from_string(e)) >= 0)
                target = (LogTarget) l;
        /* Under systemd without a journal stream (e.g. StandardError=tty) keep the console but
         * make each line self-describing. */
        if (getenv("INVOCATION_ID") && !stderr_is_journal())
                console_verbose = true;
        resolve_target();
}

void log_set_max_level(int level) {
        max_level = CLAMP(level, LOG_EMERG, LOG_DEBUG);
}
int log_get_max_level(void) {
        return max_level;
}
void log_set_target(LogTarget t) {
        target = t;
        resolve_target();
}
LogTarget log_get_target(void) {
        return resolved;
}
void log_set_console_verbose(bool b) {
        console_verbose = b;
}

LogContext *log_context_push(const LogField *fields, size_t n) {
        if (context_depth >= LOG_CONTEXT_MAX)
                return NULL;
        LogContext *c = &context_stack[context_depth++];
        c->fields = fields;
        c->n = n;
        return c;
}

void log_context_pop(LogContext *c) {
        /* Pops down to (and including) c, so an early return can never leave stale frames. */
        while (context_depth > 0) {
                LogContext *top = &context_stack[--context_depth];
                if (top == c)
                        break;
        }
}

static void write_journal(int level, int error, const char *file, int line, const char *func, const LogField *fields,
                          size_t n_fields, const char *msg) {
        struct iovec iov[16 + LOG_CONTEXT_MAX * 4 + 8];
        char *bufs[ELEMENTSOF(iov)];
        size_t n = 0;

#define ADD(...)                                                                \
        do {                                                                    \
                if (n < ELEMENTSOF(iov)) {                                      \
                        char *_s = NULL;                                        \
                        if (asprintf(&_s, __VA_ARGS__) >= 0) {                  \
                                bufs[n] = _s;                                   \
                                iov[n] = (struct iovec) { _s, strlen(_s) };     \
                                n++;                                            \
                        }                                                       \
                }                                                               \
        } while (0)

        ADD("MESSAGE=%s", msg);
        ADD("PRIORITY=%d", level);
        ADD("SYSLOG_IDENTIFIER=%s", identifier);
        if (component[0])
                ADD("TERN_COMPONENT=%s", component);
        if (error)
                ADD("ERRNO=%d", error > 0 ? error : -error);
        ADD("CODE_FILE=%s", file);
        ADD("CODE_LINE=%d", line);
        ADD("CODE_FUNC=%s", func);
        for (size_t d = 0; d < context_depth; d++)
                for (size_t i = 0; i < context_stack[d].n; i++)
                        if (context_stack[d].fields[i].value)
                                ADD("%s=%s", context_stack[d].fields[i].key, context_stack[d].fields[i].value);
        for (size_t i = 0; i < n_fields; i++)
                if (fields[i].value)
                        ADD("%s=%s", fields[i].key, fields[i].value);
#undef ADD
        if (sd_journal_sendv(iov, (int) n) < 0)
                fprintf(stderr, "%s: %s\n", identifier, msg);
        for (size_t i = 0; i < n; i++)
                free(bufs[i]);
}

static void write_console(int level, const char *msg) {
        char line[4096];
        size_t off = 0;

        if (console_verbose) {
                char ts[TIMESTAMP_MAX];
                off += (size_t) snprintf(line, sizeof line, "%s %-7s %s%s%s: ", timestamp_format(ts, now_realtime()),
                                         log_level_to_string(level), identifier, component[0] ? "/" : "", component);
        } else {
                off += (size_t) snprintf(line, sizeof line, "%s: ", identifier);
                if (level <= LOG_WARNING && level != LOG_ERR)
                        off += (size_t) snprintf(line + off, sizeof line - off, "%s: ", log_level_to_string(level));
                else if (level == LOG_DEBUG)
                        off += (size_t) snprintf(line + off, sizeof line - off, "debug: ");
        }
        if (console_verbose)
                for (size_t d = 0; d < context_depth && off < sizeof line; d++)
                        for (size_t i = 0; i < context_stack[d].n && off < sizeof line; i++)
                                if (context_stack[d].fields[i].value)
                                        off += (size_t) snprintf(line + off, sizeof line - off, "[%s] ",
                                                                 context_stack[d].fields[i].value);
        if (off >= sizeof line)
                off = sizeof line - 1;
        /* One write per line so that concurrent threads never interleave within a line. */
        struct iovec iov[3] = {
                { line, off },
                { (void *) msg, strlen(msg) },
                { (void *) "\n", 1 },
        };
        (void) !writev(STDERR_FILENO, iov, 3);
}

int log_internalv(int level, int error, const char *file, int line, const char *func, const LogField *fields,
                  size_t n_fields, const char *fmt, va_list ap) {
        char msg[2048];
        int saved = errno;

        if (error)
                errno = error > 0 ? error : -error;
        vsnprintf(msg, sizeof msg, fmt, ap);
        if (resolved == LOG_TARGET_JOURNAL)
                write_journal(level, error, file, line, func, fields, n_fields, msg);
        else if (resolved == LOG_TARGET_CONSOLE)
                write_console(level, msg);
        errno = saved;
        return error > 0 ? -error : error;
}

int log_internal(int level, int error, const char *file, int line, const char *func, const LogField *fields,
                 size_t n_fields, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = log_internalv(level, error, file, line, func, fields, n_fields, fmt, ap);
        va_end(ap);
        return r;
}
