/* web-follow.c: server-sent events until an execution ends: GET /api/v1/executions/{id}/follow (the execution on each
 * change) and GET /api/v1/logs/{id}/follow (each new log line). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup-jansson.h"
#include "state.h"
#include "strbuf.h"
#include "strutil.h"
#include "web-internal.h"
#include "web-wait.h"

#define FOLLOW_KEEPALIVE_USEC (15 * USEC_PER_SEC)

typedef struct Follow {
        Store *store; /* a connection of its own: a stream lasts as long as the execution */
        char *id;
        char *last;   /* the last document sent, to send only changes */
        StrBuf out;   /* the event being sent */
        size_t out_off;
        bool ended;
        usec_t last_sent;
        bool logs;            /* log lines rather than the execution */
        StoreLogLevel min_level;
        int64_t log_cursor;
        WebWaitSlot slot;     /* its place among the server's streams */
} Follow;

static void follow_free(void *cls) {
        Follow *f = cls;
        web_wait_slot_release(&f->slot);
        store_free(f->store);
        free(f->id);
        free(f->last);
        strbuf_done(&f->out);
        free(f);
}

/* The execution as it is now, read in a transaction of its own. */
static int follow_get(Follow *f, json_t **ret) {
        StoreTx *tx;
        int r = store_begin(f->store, &tx);
        if (r < 0)
                return r;
        r = store_execution_get(tx, f->id, ret);
        store_rollback(tx);
        return r;
}

/* Fill f->out with the next event: blocks until the execution changes (or a keep-alive is due). */
static int follow_next(Follow *f) {
        strbuf_truncate(&f->out, 0);
        f->out_off = 0;
        for (unsigned i = 0;; i++) {
                json_t *doc = NULL;
                int r = follow_get(f, &doc);
                if (r < 0)
                        return r;
                json_object_del(doc, "ternEngine");
                size_t k;
                json_t *tr;
                json_array_foreach(json_object_get(doc, "taskRunList"), k, tr)
                        json_object_del(tr, "ternEngine");
                State st = state_from_string(json_string_value(json_object_get(json_object_get(doc, "state"), "current")));
                char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
                json_decref(doc);
                if (!s)
                        return -ENOMEM;
                if (!f->last || !streq(s, f->last)) {
                        free(f->last);
                        f->last = s;
                        f->ended = state_is_terminal(st);
                        f->last_sent = now_monotonic();
                        strbuf_appendf(&f->out, "event: execution\ndata: %s\n\n", s);
                        return f->out.error;
                }
                free(s);
                if (now_monotonic() - f->last_sent >= FOLLOW_KEEPALIVE_USEC) {
                        /* A comment: finds out whether the client is gone. */
                        f->last_sent = now_monotonic();
                        return strbuf_append(&f->out, ": keep-alive\n\n");
                }
                struct timespec ts = { 0, (long) MIN(10 + i * 10, 200u) * 1000000L };
                nanosleep(&ts, NULL);
        }
}

/* New log lines as events; 0 when there were none. */
static int follow_logs_once(Follow *f) {
        StoreLog *logs = NULL;
        size_t n = 0;
        StoreLogFilter lf = { .execution_id = f->id, .min_level = f->min_level, .after_seq = f->log_cursor, .limit = 200 };
        int r = store_log_search(f->store, &lf, &logs, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                char ts[TIMESTAMP_MAX];
                _cleanup_json_ json_t *j = json_pack("{s:s, s:s?, s:s?, s:i, s:s, s:s, s:s}", "executionId", f->id,
                                                     "taskRunId", logs[i].task_run_id, "taskId", logs[i].task_id,
                                                     "attemptNumber", logs[i].attempt, "level",
                                                     store_log_level_to_string(logs[i].level), "timestamp",
                                                     timestamp_format(ts, logs[i].timestamp), "message", logs[i].message);
                _cleanup_free_ char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
                if (!s) {
                        store_logs_free(logs, n);
                        return -ENOMEM;
                }
                strbuf_appendf(&f->out, "event: log\ndata: %s\n\n", s);
                f->log_cursor = logs[i].seq;
        }
        store_logs_free(logs, n);
        return f->out.error ? f->out.error : (int) n;
}

static int follow_next_logs(Follow *f) {
        strbuf_truncate(&f->out, 0);
        f->out_off = 0;
        for (unsigned i = 0;; i++) {
                /* The state first: lines written before the end are all read after seeing it. */
                json_t *doc = NULL;
                int r = follow_get(f, &doc);
                if (r < 0)
                        return r;
                bool ended = state_is_terminal(
                        state_from_string(json_string_value(json_object_get(json_object_get(doc, "state"), "current"))));
                json_decref(doc);
                if ((r = follow_logs_once(f)) != 0)
                        return r < 0 ? r : 0;
                if (ended) {
                        f->ended = true;
                        return 0;
                }
                if (now_monotonic() - f->last_sent >= FOLLOW_KEEPALIVE_USEC) {
                        f->last_sent = now_monotonic();
                        return strbuf_append(&f->out, ": keep-alive\n\n");
                }
                struct timespec ts = { 0, (long) MIN(10 + i * 10, 200u) * 1000000L };
                nanosleep(&ts, NULL);
        }
}

static ssize_t follow_read(void *cls, uint64_t pos, char *buf, size_t max) {
        Follow *f = cls;
        (void) pos;
        while (f->out_off >= f->out.len) {
                if (f->ended)
                        return MHD_CONTENT_READER_END_OF_STREAM;
                if ((f->logs ? follow_next_logs(f) : follow_next(f)) < 0)
                        return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        size_t n = MIN(max, f->out.len - f->out_off);
        memcpy(buf, f->out.buf + f->out_off, n);
        f->out_off += n;
        return (ssize_t) n;
}

static int follow_start(WebCtx *c, bool logs, StoreLogLevel min_level) {
        StoreTx *tx;
        json_t *doc = NULL;
        int r = store_begin(c->store, &tx);
        if (r < 0)
                return web_reply_store_error(c, r);
        r = store_execution_get(tx, c->params[0], &doc);
        store_rollback(tx);
        json_decref(doc);
        if (r == -ENOENT)
                return web_reply_error(c, 404, "no execution '%s'", c->params[0]);
        if (r < 0)
                return web_reply_store_error(c, r);
        /* HEAD learns that the stream is there without opening one (and its database connection). */
        if (streq(c->method, "HEAD"))
                return web_reply_text(c, 200, "text/event-stream", "");
        Follow *f = calloc(1, sizeof *f);
        if (!f)
                return web_reply_error(c, 500, "out of memory");
        if (web_waits_take(c->streams, c, &f->slot) < 0) {
                free(f);
                return web_reply_error(c, 429, "too many follow streams open from this address, or in all: close one first");
        }
        f->logs = logs;
        f->min_level = min_level;
        f->last_sent = now_monotonic();
        if (!(f->id = strdup(c->params[0])) || (r = store_dup(c->store, &f->store)) < 0) {
                follow_free(f);
                return web_reply_error(c, 500, "cannot follow the execution now");
        }
        c->stream = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, follow_read, f, follow_free);
        if (!c->stream) {
                follow_free(f);
                return web_reply_error(c, 500, "out of memory");
        }
        MHD_add_response_header(c->stream, "Content-Type", "text/event-stream");
        c->status = 200;
        c->content_type = NULL;
        return 0;
}

int web_api_execution_follow(WebCtx *c) {
        return follow_start(c, false, STORE_LOG_TRACE);
}

int web_api_logs_follow(WebCtx *c) {
        const char *lvl = web_query(c, "minLevel");
        int min = STORE_LOG_TRACE;
        if (lvl && (min = store_log_level_from_string(lvl)) < 0)
                return web_reply_error(c, 400, "unknown log level '%s'", lvl);
        return follow_start(c, true, (StoreLogLevel) min);
}
