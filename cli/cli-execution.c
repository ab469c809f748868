/* cli-execution.c: reading, signalling, waiting for and printing executions in the CLI. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "cli-execution.h"
#include "execution-wait.h"
#include "strutil.h"

static const char *state_color(const char *state, bool tty) {
        if (!tty)
                return "";
        if (streq(state, "SUCCESS"))
                return "\033[32m";
        if (streq(state, "FAILED") || streq(state, "KILLED"))
                return "\033[31m";
        if (streq(state, "WARNING") || streq(state, "PAUSED") || streq(state, "RETRYING"))
                return "\033[33m";
        return "\033[2m";
}

static void task_run_label(json_t *tr, char *buf, size_t n) {
        const char *value = json_string_value(json_object_get(tr, "value"));
        snprintf(buf, n, "%s%s%s%s", strna(json_string_value(json_object_get(tr, "taskId"))), value ? " [" : "",
                 value ? value : "", value ? "]" : "");
}

static void task_run_duration(json_t *tr, char dur[static DURATION_MAX]) {
        StateInfo si;
        dur[0] = 0;
        if (state_info_from_json(json_object_get(tr, "state"), &si) == 0) {
                usec_t end = state_info_end_date(&si);
                if (end != USEC_INFINITY)
                        duration_format_short(dur, end - state_info_start_date(&si));
                state_info_done(&si);
        }
}

static int cli_execution_wait_full(Store *s, const char *id, size_t n_histories, unsigned until_mask, usec_t timeout,
                                   CliProgress *progress, volatile int *interrupted, json_t **ret);

void cli_progress_show(Store *s, const char *id, json_t *doc, CliProgress *p) {
        size_t i;
        json_t *tr;
        json_array_foreach(json_object_get(doc, "taskRunList"), i, tr) {
                const char *trid = json_string_value(json_object_get(tr, "id"));
                State st = state_from_string(json_string_value(json_object_get(json_object_get(tr, "state"), "current")));
                if (!trid || st < 0)
                        continue;
                const char *was = hashmap_get(&p->seen, trid);
                if (was && streq(was, state_to_string(st)))
                        continue;
                hashmap_put(&p->seen, trid, (void *) state_to_string(st));
                char label[256], dur[DURATION_MAX], t[DURATION_MAX];
                task_run_label(tr, label, sizeof label);
                task_run_duration(tr, dur);
                printf("  %8s  %-40s %s%-9s%s %s\n", duration_format_short(t, now_realtime() - p->start), label,
                       state_color(state_to_string(st), p->tty), state_to_string(st), p->tty ? "\033[0m" : "", dur);
        }
        StoreLog *logs = NULL;
        size_t n = 0;
        StoreLogFilter f = { .execution_id = id, .after_seq = p->log_cursor, .limit = 500 };
        if (store_log_search(s, &f, &logs, &n) >= 0) {
                for (size_t k = 0; k < n; k++) {
                        printf("  %8s  %s%s │ %s%s\n", "", p->tty ? "\033[2m" : "", logs[k].task_id ? logs[k].task_id : "(flow)",
                               p->tty ? "\033[0m" : "", logs[k].message);
                        p->log_cursor = logs[k].seq;
                }
                store_logs_free(logs, n);
        }
        fflush(stdout);
}

void cli_progress_done(CliProgress *p) {
        hashmap_done(&p->seen);
}

int cli_execution_wait(Store *s, const char *id, unsigned until_mask, usec_t timeout, CliProgress *progress,
                       volatile int *interrupted, json_t **ret) {
        return cli_execution_wait_full(s, id, 0, until_mask, timeout, progress, interrupted, ret);
}

int cli_execution_wait_after(Store *s, const char *id, size_t n_histories, unsigned until_mask, usec_t timeout,
                             volatile int *interrupted, json_t **ret) {
        return cli_execution_wait_full(s, id, n_histories, until_mask, timeout, NULL, interrupted, ret);
}

typedef struct WaitFor {
        const char *id;
        size_t n_histories;
        unsigned until_mask;
        CliProgress *progress;
        volatile int *interrupted;
} WaitFor;

static int wait_for(Store *s, json_t *doc, void *userdata) {
        WaitFor *w = userdata;
        if (w->progress)
                cli_progress_show(s, w->id, doc, w->progress);
        State st = api_execution_state(doc);
        bool applied = json_array_size(json_object_get(json_object_get(doc, "state"), "histories")) > w->n_histories;
        bool ended = st >= 0 && state_is_terminal(st) && !execution_doc_after_pending(doc);
        if (applied && st >= 0 && (ended || (w->until_mask & (1u << st))))
                return 1;
        if (w->interrupted && *w->interrupted)
                return -EINTR;
        return 0;
}

static int cli_execution_wait_full(Store *s, const char *id, size_t n_histories, unsigned until_mask, usec_t timeout,
                                   CliProgress *progress, volatile int *interrupted, json_t **ret) {
        WaitFor w = { .id = id, .n_histories = n_histories, .until_mask = until_mask, .progress = progress,
                      .interrupted = interrupted };
        /* Log lines wake it too when they are shown as they come. */
        ApiWaitOptions o = { .timeout = timeout ? timeout : USEC_INFINITY, .logs = progress != NULL,
                             .incremental = true };
        _cleanup_json_ json_t *doc = NULL;
        int r = api_execution_wait(s, id, &o, wait_for, &w, &doc);
        if (r < 0)
                return r;
        if (r == 0)
                return -ETIME;
        *ret = TAKE_PTR(doc);
        return 0;
}

void cli_execution_print(json_t *doc, bool tty) {
        const char *cur = json_string_value(json_object_get(json_object_get(doc, "state"), "current"));
        char dur[DURATION_MAX];
        task_run_duration(doc, dur);
        printf("Execution  %s\nFlow       %s.%s (revision %lld)\nState      %s%s%s%s%s\n",
               strna(json_string_value(json_object_get(doc, "id"))),
               strna(json_string_value(json_object_get(doc, "namespace"))),
               strna(json_string_value(json_object_get(doc, "flowId"))),
               (long long) json_integer_value(json_object_get(doc, "flowRevision")), state_color(strempty(cur), tty),
               strna(cur), tty ? "\033[0m" : "", *dur ? " after " : "", dur);
        const char *start = json_string_value(json_object_get(json_object_get(doc, "state"), "startDate"));
        if (start)
                printf("Started    %s\n", start);
        const char *parent = json_string_value(json_object_get(doc, "parentId"));
        if (parent)
                printf("Parent     %s\n", parent);
        json_t *labels = json_object_get(doc, "labels"), *l;
        size_t i;
        if (json_array_size(labels) > 0) {
                printf("Labels    ");
                json_array_foreach(labels, i, l)
                        printf(" %s=%s", strna(json_string_value(json_object_get(l, "key"))),
                               strna(json_string_value(json_object_get(l, "value"))));
                printf("\n");
        }
        json_t *inputs = json_object_get(doc, "inputs");
        if (json_object_size(inputs) > 0) {
                _cleanup_free_ char *s = json_dumps(inputs, JSON_COMPACT);
                printf("Inputs     %s\n", strempty(s));
        }
        printf("\n  %-40s %-9s %-8s %s\n", "TASK", "STATE", "DURATION", "ATTEMPTS");
        json_t *tr;
        json_array_foreach(json_object_get(doc, "taskRunList"), i, tr) {
                /* Indent by depth so that the tree shows. */
                int depth = 0;
                const char *pid = json_string_value(json_object_get(tr, "parentTaskRunId"));
                for (size_t guard = 0; pid && guard < 64; guard++) {
                        depth++;
                        json_t *p = NULL, *x;
                        size_t k;
                        json_array_foreach(json_object_get(doc, "taskRunList"), k, x)
                                if (streq_ptr(json_string_value(json_object_get(x, "id")), pid))
                                        p = x;
                        pid = p ? json_string_value(json_object_get(p, "parentTaskRunId")) : NULL;
                }
                char label[256], indented[300], d[DURATION_MAX];
                task_run_label(tr, label, sizeof label);
                snprintf(indented, sizeof indented, "%*s%s", depth * 2, "", label);
                task_run_duration(tr, d);
                const char *ts = json_string_value(json_object_get(json_object_get(tr, "state"), "current"));
                json_t *attempts = json_object_get(tr, "attempts"), *a;
                printf("  %-40s %s%-9s%s %-8s %zu", indented, state_color(strempty(ts), tty), strna(ts),
                       tty ? "\033[0m" : "", d, json_array_size(attempts));
                /* More than one: how each ended (RETRIED, RESUBMITTED by a dead worker...). */
                size_t k;
                if (json_array_size(attempts) > 1)
                        json_array_foreach(attempts, k, a)
                                printf("%s%s%s", k == 0 ? " (" : ", ",
                                       strna(json_string_value(json_object_get(json_object_get(a, "state"), "current"))),
                                       k + 1 == json_array_size(attempts) ? ")" : "");
                printf("\n");
        }
        json_t *outs = json_object_get(doc, "outputs");
        if (json_object_size(outs) > 0) {
                _cleanup_free_ char *s = json_dumps(outs, JSON_INDENT(2));
                printf("\nOutputs %s\n", strempty(s));
        }
}

void cli_execution_print_metrics(json_t *entries) {
        size_t i;
        json_t *m;
        if (json_array_size(entries) == 0)
                return;
        printf("\nMetrics\n  %-24s %-8s %-24s %16s  %s\n", "TASK", "TYPE", "NAME", "VALUE", "TAGS");
        json_array_foreach(entries, i, m) {
                _cleanup_free_ char *tags = NULL;
                json_t *t = json_object_get(m, "tags");
                if (json_object_size(t) > 0)
                        tags = json_dumps(t, JSON_COMPACT | JSON_SORT_KEYS);
                const char *type = json_string_value(json_object_get(m, "type"));
                double v = json_number_value(json_object_get(m, "value"));
                char value[64];
                if (v < 1e15 && v > -1e15 && v == (double) (long long) v)
                        snprintf(value, sizeof value, "%lld%s", (long long) v, streq_ptr(type, "timer") ? " ms" : "");
                else
                        snprintf(value, sizeof value, "%.6g%s", v, streq_ptr(type, "timer") ? " ms" : "");
                printf("  %-24s %-8s %-24s %16s  %s\n", strna(json_string_value(json_object_get(m, "taskId"))), strna(type),
                       strna(json_string_value(json_object_get(m, "name"))), value, strempty(tags));
        }
}
