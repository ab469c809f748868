/* web-follow.c: server-sent events until an execution ends: GET /api/v1/executions/{id}/follow (the execution on each
 * change) and GET /api/v1/logs/{id}/follow (each new log line). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cleanup-jansson.h"
#include "execution-wait.h"
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

/* A keep-alive comment when nothing was sent for a while: finds out whether the client is gone. */
static int follow_keepalive(Follow *f) {
        f->last_sent = now_monotonic();
        return strbuf_append(&f->out, ": keep-alive\n\n");
}

static usec_t follow_keepalive_in(const Follow *f) {
        usec_t since = now_monotonic() - f->last_sent;
        return since >= FOLLOW_KEEPALIVE_USEC ? 0 : FOLLOW_KEEPALIVE_USEC - since;
}

/* The execution as an event when it differs from the last one sent. */
static int follow_changed(Store *s, json_t *doc, void *userdata) {
        Follow *f = userdata;
        bool after_pending = execution_doc_after_pending(doc);
        api_execution_strip(doc);
        char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text)
                return -ENOMEM;
        if (f->last && streq(text, f->last)) {
                free(text);
                return 0;
        }
        free(f->last);
        f->last = text;
        State st = api_execution_state(doc);
        f->ended = st >= 0 && state_is_terminal(st) && !after_pending;
        f->last_sent = now_monotonic();
        strbuf_appendf(&f->out, "event: execution\ndata: %s\n\n", text);
        return f->out.error ? f->out.error : 1;
}

/* Fill f->out with the next event: blocks until the execution changes (or a keep-alive is due). */
static int follow_next(Follow *f) {
        strbuf_truncate(&f->out, 0);
        f->out_off = 0;
        ApiWaitOptions o = { .timeout = follow_keepalive_in(f) };
        int r = api_execution_wait(f->store, f->id, &o, follow_changed, f, NULL);
        if (r == 0)
                return follow_keepalive(f);
        return r < 0 ? r : 0;
}

/* New log lines as events; 0 when there were none. */
/* Log lines read at once, and at most per wake-up: an execution with many lines (100,000) is
 * streamed in rounds of thousands, not one wait (which reads the execution) per few hundred. */
#define FOLLOW_LOG_BATCH 1000
#define FOLLOW_LOG_ROUND 20000

static int follow_logs_once(Follow *f) {
        StoreLog *logs = NULL;
        size_t n = 0;
        StoreLogFilter lf = { .execution_id = f->id, .min_level = f->min_level, .after_seq = f->log_cursor,
                              .limit = FOLLOW_LOG_BATCH };
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

/* Up to FOLLOW_LOG_ROUND new lines: how many, or a negative errno. */
static int follow_logs_round(Follow *f) {
        int r, sent = 0;
        do {
                r = follow_logs_once(f);
                sent += MAX(r, 0);
        } while (r == FOLLOW_LOG_BATCH && sent < FOLLOW_LOG_ROUND);
        if (sent > 0)
                f->last_sent = now_monotonic();
        return r < 0 ? r : sent;
}

/* New log lines, or the end: the state is read first, so that the lines written before the end
 * are all read after seeing it. */
static int follow_logged(Store *s, json_t *doc, void *userdata) {
        Follow *f = userdata;
        State st = api_execution_state(doc);
        bool ended = st >= 0 && state_is_terminal(st) && !execution_doc_after_pending(doc);
        int r = follow_logs_round(f);
        if (r != 0)
                return r;
        if (ended)
                f->ended = true;
        return ended;
}

static int follow_next_logs(Follow *f) {
        strbuf_truncate(&f->out, 0);
        f->out_off = 0;
        /* Lines already there go without reading the execution, whose document costs its size
         * (10,000 task runs): it is read to wait, and to see the end, once there are none. */
        int r = follow_logs_round(f);
        if (r != 0)
                return MIN(r, 0);
        ApiWaitOptions o = { .timeout = follow_keepalive_in(f), .logs = true };
        r = api_execution_wait(f->store, f->id, &o, follow_logged, f, NULL);
        if (r == 0)
                return follow_keepalive(f);
        return r < 0 ? r : 0;
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
        /* Whether it exists, from its row: its document costs its size (10,000 task runs). */
        StoreExecutionRow row = {};
        StoreTx *tx;
        int r = store_begin(c->store, &tx);
        if (r >= 0) {
                r = store_execution_row(tx, c->params[0], &row);
                store_rollback(tx);
                store_execution_row_done(&row);
        }
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
