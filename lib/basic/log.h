/* log.h: logging to journald (native, with structured fields) under systemd, readable lines on stderr otherwise. */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <syslog.h>

#include "macro.h"

typedef enum LogTarget {
        LOG_TARGET_AUTO,    /* journal when JOURNAL_STREAM names our stderr, else console */
        LOG_TARGET_CONSOLE,
        LOG_TARGET_JOURNAL,
        LOG_TARGET_NULL,
        _LOG_TARGET_MAX,
} LogTarget;

/* A structured field: key is an upper-case journal field name ("TERN_EXECUTION_ID"). */
typedef struct LogField {
        const char *key;
        const char *value;
} LogField;

/* Set identifier and component ("tern", "executor"), read TERN_LOG_LEVEL / TERN_LOG_TARGET and
 * pick the target. May be called again (e.g. after config reload). */
void log_setup(const char *identifier, const char *component);
void log_set_max_level(int level);
int log_get_max_level(void);
void log_set_target(LogTarget t);
LogTarget log_get_target(void);
/* Console lines carry an ISO timestamp and the level (useful for daemons not under journald). */
void log_set_console_verbose(bool b);

int log_level_from_string(const char *s);  /* "debug", "info", "warning"/"warn", "error"/"err", ... */
const char *log_level_to_string(int level);
int log_target_from_string(const char *s); /* "auto", "console", "journal", "null" */

/* Returns -abs(error) (or 0 when error is 0) so callers can "return log_error_errno(r, ...)". */
int log_internal(int level, int error, const char *file, int line, const char *func, const LogField *fields,
                 size_t n_fields, const char *fmt, ...) _printf_(8, 9);
int log_internalv(int level, int error, const char *file, int line, const char *func, const LogField *fields,
                  size_t n_fields, const char *fmt, va_list ap) _printf_(8, 0);

#define log_full_errno(level, error, ...)                                                             \
        ({                                                                                            \
                int _level = (level), _e = (error);                                                   \
                _level <= log_get_max_level()                                                         \
                        ? log_internal(_level, _e, __FILE__, __LINE__, __func__, NULL, 0, __VA_ARGS__) \
                        : (_e > 0 ? -_e : _e);                                                        \
        })
#define log_full(level, ...) (void) log_full_errno(level, 0, __VA_ARGS__)
#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)
#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)
#define log_oom() log_error_errno(ENOMEM, "Out of memory.")

/* Log with explicit extra fields: LOG_FIELDS("TERN_FLOW", flow, "TERN_NAMESPACE", ns). */
#define LOG_FIELDS(...) ((const LogField[]) { __VA_ARGS__ })
#define log_fields_errno(level, error, fields, n, ...)                                                     \
        ({                                                                                                 \
                int _level = (level), _e = (error);                                                        \
                _level <= log_get_max_level()                                                              \
                        ? log_internal(_level, _e, __FILE__, __LINE__, __func__, (fields), (n), __VA_ARGS__) \
                        : (_e > 0 ? -_e : _e);                                                             \
        })

/* Per-thread context fields added to every line logged by this thread while pushed (e.g. the
 * execution and task run a worker slot is running). The array must outlive the push. */
#define LOG_CONTEXT_MAX 8
typedef struct LogContext LogContext;
LogContext *log_context_push(const LogField *fields, size_t n);
void log_context_pop(LogContext *c);
static inline void log_context_popp(LogContext **c) {
        if (*c)
                log_context_pop(*c);
}
#define _cleanup_log_context_ _cleanup_(log_context_popp) _unused_
