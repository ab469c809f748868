/* execution-wait.c: waiting for an execution on the store's notifications (see execution-wait.h). */
#include <time.h>

#include "api.h"
#include "cleanup-jansson.h"
#include "execution-wait.h"

int api_wait_ended(Store *s, json_t *doc, void *userdata) {
        (void) s;
        (void) userdata;
        State st = api_execution_state(doc);
        return st >= 0 && state_is_terminal(st) && !execution_doc_after_pending(doc) ? 1 : 0;
}

static void sleep_for(usec_t u) {
        struct timespec ts = { .tv_sec = (time_t) (u / USEC_PER_SEC), .tv_nsec = (long) (u % USEC_PER_SEC) * 1000 };
        (void) nanosleep(&ts, NULL);
}

/* Sleep until a notification on the listened channels, a signal (Ctrl-C in the CLI cuts the
 * sleep short: store_wait_fds() polls), or timeout. > 0 notified, 0 not. */
static int wait_notified(Store *s, usec_t timeout) {
        return store_wait_fds(s, NULL, 0, timeout);
}

static int execution_read(Store *s, const char *id, StoreFollow *follow, json_t **ret) {
        _cleanup_store_tx_ StoreTx *tx = NULL;
        int r = store_begin(s, &tx);
        if (r < 0)
                return r;
        return follow ? store_execution_get_after(tx, id, follow, ret) : store_execution_get(tx, id, ret);
}

int api_execution_wait(Store *s, const char *id, const ApiWaitOptions *o, ApiWaitFn fn, void *userdata,
                       json_t **ret_doc) {
        _cleanup_(store_follow_done) StoreFollow follow = {};
        usec_t fallback = o->fallback ? o->fallback
                        : store_backend(s) == STORE_BACKEND_SQLITE ? API_WAIT_FALLBACK_SQLITE
                                                                   : API_WAIT_FALLBACK_POSTGRES;
        usec_t start = now_monotonic();
        usec_t deadline = o->timeout == USEC_INFINITY ? USEC_INFINITY : start + o->timeout;
        int r;

        if (!fn)
                fn = api_wait_ended;
        /* Listening first: a change between the read below and the sleep still wakes it. */
        if ((r = store_listen(s, STORE_CHANNEL_EXECUTIONS | (o->logs ? STORE_CHANNEL_LOGS : 0))) < 0)
                return r;
        for (;;) {
                _cleanup_json_ json_t *doc = NULL;
                if ((r = execution_read(s, id, o->incremental ? &follow : NULL, &doc)) < 0)
                        return r;
                usec_t read_at = now_monotonic();
                if ((r = fn(s, doc, userdata)) != 0 || read_at >= deadline) {
                        if (r >= 0 && ret_doc) {
                                json_decref(*ret_doc);
                                *ret_doc = TAKE_PTR(doc);
                        }
                        return r;
                }
                r = wait_notified(s, MIN(fallback, deadline - read_at));
                if (r < 0)
                        return r;
                /* A burst of commits (a busy executor) is read once. */
                usec_t now = now_monotonic();
                if (r > 0 && now < read_at + API_WAIT_MIN_INTERVAL)
                        sleep_for(MIN(read_at + API_WAIT_MIN_INTERVAL, deadline) - MIN(now, deadline));
        }
}
