/* execution-wait.h: waiting for an execution to change or end, woken by the store's notifications (no sleep loop). */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "store.h"
#include "timeutil.h"

/* The CLI (tern run, --wait), the webserver's ?wait and its follow streams all wait the same way:
 * read the execution, ask the caller whether that is what it waits for, and if not sleep until a
 * commit that saved an execution (or appended log lines, when asked) wakes the Store, then read
 * again. A burst of commits is read once (reads are at least API_WAIT_MIN_INTERVAL apart).
 * Notifications do not cross processes on SQLite (a CLI waiting on a server's file): there, and
 * for a notification lost in a reconnect, a slow fallback read comes after `fallback`. */

#define API_WAIT_MIN_INTERVAL (10 * USEC_PER_MSEC)
#define API_WAIT_FALLBACK_SQLITE (100 * USEC_PER_MSEC)
#define API_WAIT_FALLBACK_POSTGRES USEC_PER_SEC

/* What the caller makes of the execution as it is now (doc is the wait's: fn may change it, e.g.
 * strip it, and takes a reference to keep it): > 0 it is what the wait was for (the wait returns this value), 0 wait for the next change, < 0 stop with this error. A
 * signal handler's flag is looked at here: a signal cuts the sleep short. */
typedef int (*ApiWaitFn)(Store *s, json_t *doc, void *userdata);

typedef struct ApiWaitOptions {
        usec_t timeout;  /* USEC_INFINITY: none; 0: read once */
        bool logs;       /* new log lines wake it too */
        usec_t fallback; /* longest sleep without a notification; 0: API_WAIT_FALLBACK_* of the backend */
        /* Each read after the first parses only the task runs whose stored text changed since
         * (store_execution_get_after()): a wait costs what changed, not the execution's size at
         * every change. fn must then leave doc's task runs as they are (later reads share them). */
        bool incremental;
} ApiWaitOptions;

/* Wait on s (a connection the caller does not use meanwhile: it listens on it) for execution id.
 * fn NULL: until the execution has ended. Returns fn's positive value, or 0 when the timeout came
 * first; in both cases *ret_doc (may be NULL) is replaced by the last document read (what it
 * held is released). -ENOENT when there is
 * no such execution (any more), fn's error, or the store's. */
int api_execution_wait(Store *s, const char *id, const ApiWaitOptions *o, ApiWaitFn fn, void *userdata,
                       json_t **ret_doc);

/* The default fn: 1 once the execution has ended. */
int api_wait_ended(Store *s, json_t *doc, void *userdata);
