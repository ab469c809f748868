/* store-contract.h: what the files of the store contract suite share: fixtures and the tests main() runs. */
#pragma once

#include <math.h>
#include <pthread.h>
#include <poll.h>
#include <stdatomic.h>
#include <time.h>

#include "cleanup-jansson.h"
#include "store-test.h"
#include "strutil.h"

static const usec_t T0 = 1700000000ULL * USEC_PER_SEC; /* a fixed "now" for reproducible times */

#define CHECK_OK(expr)                                                                       \
        ({                                                                                   \
                int _r = (expr);                                                             \
                if (_r < 0)                                                                  \
                        ok(false, "%s:%d: %s = %d (%s)", __FILE__, __LINE__, #expr, _r, strerror(-_r)); \
                _r;                                                                          \
        })

/* The test plays the engine's part: what the engine would say about one of these documents. */
typedef struct TestMeta {
        StoreExecutionMeta m;
        StoreTaskRunMeta tr[8];
} TestMeta;

/* The store of the URL the suite set up; bails out when it cannot be opened. */
Store *open_store(void);
json_t *make_doc(const char *id, const char *ns, const char *flow, const char *state, const char *date);
const StoreExecutionMeta *meta_of(json_t *doc, TestMeta *t);
#define META(doc) meta_of((doc), &(TestMeta) {})

/* store-contract-flows.c */
void test_flows(Store *s);
void test_triggers(Store *s);
void test_kv(Store *s);
void test_literals(Store *s);
void test_services(Store *s);
/* store-contract-executions.c */
void test_executions(Store *s);
void test_meta(Store *s);
void test_task_runs(Store *s);
void test_get_after(Store *s);
void test_claim_and_outbox(Store *s);
void test_serialization(Store *s);
void test_skip_locked(Store *s);
/* store-contract-jobs.c */
void test_deferred(Store *s);
void test_deferred_events(Store *s);
void test_flush_refused(Store *s);
void test_jobs(Store *s);
void test_cancel(Store *s);
void test_pinned(Store *s);
void test_claim_race(Store *s);
void test_requeue_race(Store *s);
void test_complete_many(Store *s);
void test_claim_in_tx(Store *s);
void test_wakeups(Store *s);
void test_wakeups_other_process(Store *s);
/* store-contract-plans.c */
void test_plans(Store *s);
/* store-contract-logs.c */
void test_logs(Store *s);
void test_metrics(Store *s);
void test_metrics_batch(Store *s);
void test_purge(Store *s);
void test_queue_offsets(Store *s);
