/* scheduler-tick.c: evaluation time per scheduler tick with 100 due triggers among 100 and 100,000 registered ones. */
#include <stdatomic.h>

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
        return r;
}
