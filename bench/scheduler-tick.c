/* scheduler-tick.c: evaluation time per scheduler tick with 100 due triggers among 100 and 100,000 registered ones; what the executor's state reports for Flow triggers cost. */
#include <stdatomic.h>

#include "cleanup-jansson.h"
#include "scheduler.h"
#include "store-test.h"

static _Atomic usec_t clock_now;

static usec_t bench_clock(void *userdata) {
        return atomic_load(&clock_now);
}

#define DUE 100
#define TICKS 20

typedef struct Fill {
        size_t idle;
        usec_t now;
} Fill;

static int flows_tx(StoreTx *tx, void *userdata) {
        Fill *f = userdata;
        for (int i = 0; i < DUE; i++) {
                char id[32], src[512];
                snprintf(id, sizeof id, "due-%d", i);
                snprintf(src, sizeof src,
                         "id: %s\nnamespace: bench\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n"
                         "    message: x\ntriggers:\n  - id: m\n    type: io.kestra.plugin.core.trigger.Schedule\n"
                         "    cron: \"* * * * *\"\n",
                         id);
                int r = store_flow_put(tx, "bench", id, src, f->now, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Idle triggers: rows whose next date is far away (yearly schedules, paused ones); they must
 * cost the tick nothing. Written directly, 10,000 per transaction. */
typedef struct IdleArgs {
        size_t from, to;
} IdleArgs;

static int idle_tx(StoreTx *tx, void *userdata) {
        IdleArgs *a = userdata;
        for (size_t i = a->from; i < a->to; i++) {
                char fid[32];
                snprintf(fid, sizeof fid, "idle-%zu", i);
                StoreTrigger t = { .namespace = (char *) "bench.idle", .flow_id = fid, .trigger_id = (char *) "yearly",
                                   .next_date = atomic_load(&clock_now) + 300 * USEC_PER_DAY,
                                   .kind = (char *) "schedule" };
                int r = store_trigger_put(tx, &t);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int run(const char *url, size_t idle) {
        _cleanup_store_ Store *s = NULL;
        Store *d = NULL;
        Scheduler *sch = NULL;
        int r;

        if ((r = store_open(url, &s)) < 0 || (r = store_migrate(s)) < 0) {
                fprintf(stderr, "cannot open %s: %s\n", url, s ? store_error(s) : strerror(-r));
                return 1;
        }
        atomic_store(&clock_now, 1735689600ULL * USEC_PER_SEC); /* 2025-01-01 */
        Fill f = { idle, atomic_load(&clock_now) };
        if (store_transact(s, flows_tx, &f) < 0)
                return 1;
        for (size_t i = 0; i < idle; i += 10000) {
                IdleArgs a = { i, MIN(idle, i + 10000) };
                if (store_transact(s, idle_tx, &a) < 0) {
                        fprintf(stderr, "cannot add idle triggers: %s\n", store_error(s));
                        return 1;
                }
        }
        SchedulerOptions o = { .id = "bench", .clock = bench_clock, .batch = 200 };
        if (store_dup(s, &d) < 0 || scheduler_new(d, &o, &sch) < 0)
                return 1;
        scheduler_step(sch); /* register the due flows' triggers */
        usec_t total = 0, worst = 0;
        size_t created = 0;
        for (int tick = 1; tick <= TICKS; tick++) {
                atomic_store(&clock_now, f.now + (usec_t) tick * 60 * USEC_PER_SEC);
                r = scheduler_step(sch);
                if (r < 0) {
                        fprintf(stderr, "step failed: %s\n", strerror(-r));
                        return 1;
                }
                created += (size_t) r;
                SchedulerStats st;
                scheduler_stats(sch, &st);
                total += st.last_due_usec;
                worst = MAX(worst, st.last_due_usec);
        }
        printf("%-10s %8zu triggers (%d due per tick): %7.2f ms per tick (worst %.2f ms), %.3f ms per execution, "
               "%zu executions\n",
               store_backend(s) == STORE_BACKEND_POSTGRES ? "postgres" : "sqlite", idle + DUE, DUE,
               (double) total / TICKS / 1000.0, (double) worst / 1000.0, (double) total / (double) created / 1000.0,
               created);
        scheduler_free(sch);
        return created == (size_t) TICKS * DUE ? 0 : 1;
}

/* The executor reports the states an execution entered at each step (store_execution_states_emit):
 * what that call costs inside a step's transaction when no Flow trigger lists such states (an
 * index probe) and when one does (a row for the scheduler). Each call is timed alone; the median
 * and the fastest are printed (the machine may be shared: the fastest is what the code costs). */
typedef struct ReportArgs {
        json_t *states;
        usec_t *took;
} ReportArgs;

static int report_tx(StoreTx *tx, void *userdata) {
        ReportArgs *a = userdata;
        StoreTrigger t = { .namespace = (char *) "bench", .flow_id = (char *) "step", .trigger_id = (char *) "t",
                           .kind = (char *) "other", .evaluated_at = now_realtime() };
        int r = store_trigger_put(tx, &t); /* the step's own write */
        if (r < 0)
                return r;
        usec_t t0 = now_monotonic();
        r = store_execution_states_emit(tx, "0000000000000000000000", "bench", "src", a->states, atomic_load(&clock_now));
        *a->took = now_monotonic() - t0;
        return r < 0 ? r : 0;
}

#define REPORTS 2000

static int usec_cmp(const void *a, const void *b) {
        usec_t x = *(const usec_t *) a, y = *(const usec_t *) b;
        return x < y ? -1 : x > y;
}

/* Median and fastest of REPORTS calls, in ret[0] and ret[1]. */
static int report_cost(Store *s, json_t *states, double ret[2]) {
        _cleanup_free_ usec_t *took = calloc(REPORTS, sizeof *took);
        if (!took)
                return -ENOMEM;
        for (int i = 0; i < REPORTS; i++) {
                ReportArgs a = { states, &took[i] };
                if (store_transact(s, report_tx, &a) < 0)
                        return -EIO;
        }
        qsort(took, REPORTS, sizeof took[0], usec_cmp);
        ret[0] = (double) took[REPORTS / 2];
        ret[1] = (double) took[0];
        return 0;
}

static int put_tx(StoreTx *tx, void *userdata) {
        return store_trigger_put(tx, userdata);
}

static int clear_tx(StoreTx *tx, void *userdata) {
        StoreEvent *evs = NULL;
        size_t n = 0;
        int r;
        while ((r = store_trigger_event_claim(tx, 1000, &evs, &n)) >= 0 && n > 0) {
                for (size_t i = 0; i < n && r >= 0; i++)
                        r = store_trigger_event_delete(tx, evs[i].seq);
                store_events_free(evs, n);
                evs = NULL;
                if (r < 0)
                        break;
        }
        return r;
}

static int state_reports(const char *url) {
        _cleanup_store_ Store *s = NULL;
        _cleanup_json_ json_t *states = json_pack("[s]", "RUNNING");
        double none[2], one[2];
        int r;
        if (!states || (r = store_open(url, &s)) < 0 || (r = store_migrate(s)) < 0)
                return 1;
        if (report_cost(s, states, none) < 0)
                return 1;
        StoreTrigger t = { .namespace = (char *) "bench", .flow_id = (char *) "listener", .trigger_id = (char *) "t",
                           .kind = (char *) "flow_states" };
        if (store_transact(s, put_tx, &t) < 0 || report_cost(s, states, one) < 0)
                return 1;
        (void) store_transact(s, clear_tx, NULL);
        printf("%-10s state report per executor step: %.0f us (fastest %.0f) with no flow_states trigger, "
               "%.0f us (fastest %.0f) with one\n",
               store_backend(s) == STORE_BACKEND_POSTGRES ? "postgres" : "sqlite", none[0], none[1], one[0], one[1]);
        return 0;
}

int main(int argc, char *argv[]) {
        StoreTestEnv env;
        int r = 0;
        const char *backends[] = { "sqlite", "postgres" };
        for (size_t b = 0; b < ELEMENTSOF(backends); b++)
                for (size_t idle = 0; idle <= 99900; idle += 99900) {
                        store_test_setup(backends[b], &env);
                        r |= run(env.url, idle);
                        store_test_teardown(&env);
                }
        for (size_t b = 0; b < ELEMENTSOF(backends); b++) {
                store_test_setup(backends[b], &env);
                r |= state_reports(env.url);
                store_test_teardown(&env);
        }
        return r;
}
