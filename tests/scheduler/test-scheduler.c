/* test-scheduler.c: Schedule and ScheduleOnDates triggers with an injected clock: slots, recovery, revisions, deletion, backfills, what state reports cost, preconditions' windows, two schedulers. */
#include <pthread.h>
#include <stdatomic.h>

#include "cleanup-jansson.h"
#include "execution-store.h"
#include "scheduler.h"
#include "store-test.h"
#include "triggers.h"

static const char *backend;
static StoreTestEnv env;
static _Atomic usec_t clock_now;

static usec_t test_clock(void *userdata) {
        return atomic_load(&clock_now);
}

static usec_t ts(const char *s) {
        usec_t t = 0;
        if (timestamp_parse(s, 0, &t) < 0)
                abort();
        return t;
}

typedef struct PutArgs {
        const char *ns, *id, *source;
} PutArgs;

static int put_tx(StoreTx *tx, void *userdata) {
        PutArgs *a = userdata;
        if (!a->source)
                return store_flow_delete(tx, a->ns, a->id, atomic_load(&clock_now));
        return store_flow_put(tx, a->ns, a->id, a->source, atomic_load(&clock_now), NULL);
}

static void put_flow(Store *s, const char *id, const char *source) {
        PutArgs a = { "test.sched", id, source };
        int r = store_transact(s, put_tx, &a);
        if (r < 0)
                diag("put flow %s: %s", id, store_error(s));
}

typedef struct CountArgs {
        const char *flow_id;
        json_t *found;
} CountArgs;

static int count_tx(StoreTx *tx, void *userdata) {
        CountArgs *a = userdata;
        StoreExecutionFilter f = { .flow_id = a->flow_id, .limit = 10000 };
        json_decref(a->found);
        a->found = NULL;
        return store_execution_search(tx, &f, &a->found);
}

/* Executions of a flow, oldest first is not guaranteed: callers sort what they need. */
static json_t *executions(Store *s, const char *flow_id) {
        CountArgs a = { flow_id, NULL };
        if (store_transact(s, count_tx, &a) < 0)
                return json_array();
        return a.found;
}

static size_t count(Store *s, const char *flow_id) {
        _cleanup_json_ json_t *e = executions(s, flow_id);
        return json_array_size(e);
}

static bool has_trigger_date(json_t *list, const char *date) {
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e)
                if (streq_ptr(json_string_value(json_object_get(
                                      json_object_get(json_object_get(e, "trigger"), "variables"), "date")),
                              date))
                        return true;
        return false;
}

typedef struct TrigArgs {
        const char *flow_id, *trigger_id;
        StoreTrigger t;
} TrigArgs;

static int trig_tx(StoreTx *tx, void *userdata) {
        TrigArgs *a = userdata;
        store_trigger_done(&a->t);
        return store_trigger_get(tx, "test.sched", a->flow_id, a->trigger_id, &a->t);
}

static int trigger_get(Store *s, const char *flow_id, const char *trigger_id, StoreTrigger *ret) {
        TrigArgs a = { flow_id, trigger_id, {} };
        int r = store_transact(s, trig_tx, &a);
        *ret = a.t;
        return r;
}

static Scheduler *new_scheduler(Store *s, const char *recover) {
        Store *d = NULL;
        Scheduler *sch = NULL;
        SchedulerOptions o = { .id = "test", .clock = test_clock, .recover_default = recover };
        if (store_dup(s, &d) < 0 || scheduler_new(d, &o, &sch) < 0) {
                printf("Bail out! cannot create a scheduler\n");
                exit(EXIT_FAILURE);
        }
        return sch;
}

#define FLOW(id, trigger) \
        "id: " id "\nnamespace: test.sched\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n" \
        "    message: hi\ntriggers:\n" trigger

static void test_slots(Store *s) {
        _cleanup_(scheduler_freep) Scheduler *sch = new_scheduler(s, NULL);
        StoreTrigger t = {};

        atomic_store(&clock_now, ts("2024-01-01T00:00:01Z"));
        put_flow(s, "every5", FLOW("every5", "  - id: five\n    type: io.kestra.plugin.core.trigger.Schedule\n"
                                             "    cron: \"*/5 * * * *\"\n"
                                             "    inputs:\n      ignored: 1\n"));
        is_int(scheduler_step(sch), 0, "a new schedule starts nothing before its first slot");
        is_int(trigger_get(s, "every5", "five", &t), 0, "the flow change registered the trigger");
        is_int(t.next_date, ts("2024-01-01T00:05:00Z"), "its next date is the first slot after now");
        is_str(t.kind, "schedule", "its kind is schedule");
        store_trigger_done(&t);

        atomic_store(&clock_now, ts("2024-01-01T00:05:00.200Z"));
        is_int(scheduler_step(sch), 1, "the slot starts one execution");
        is_int(scheduler_step(sch), 0, "stepping again at the same time starts nothing");
        _cleanup_json_ json_t *list = executions(s, "every5");
        is_int(json_array_size(list), 1, "one execution stored");
        json_t *vars = json_object_get(json_object_get(json_array_get(list, 0), "trigger"), "variables");
        is_str(json_string_value(json_object_get(vars, "date")), "2024-01-01T00:05:00.000Z", "trigger.date is the slot");
        is_str(json_string_value(json_object_get(vars, "next")), "2024-01-01T00:10:00.000Z", "trigger.next");
        is_str(json_string_value(json_object_get(vars, "previous")), "2024-01-01T00:00:00.000Z", "trigger.previous");
        is_str(json_string_value(json_object_get(json_object_get(json_array_get(list, 0), "trigger"), "id")), "five",
               "trigger.id");
        char id[ID_MAX];
        char key[64];
        snprintf(key, sizeof key, "slot:%llu", (unsigned long long) ts("2024-01-01T00:05:00Z"));
        scheduler_execution_id("test.sched", "every5", "five", key, id);
        is_str(json_string_value(json_object_get(json_array_get(list, 0), "id")), id,
               "the execution id is derived from flow, trigger and slot");
        ok(id_is_valid(id), "the derived id is a valid id (%s)", id);

        /* A new revision with the same cron keeps the trigger's place. */
        put_flow(s, "every5", FLOW("every5", "  - id: five\n    type: io.kestra.plugin.core.trigger.Schedule\n"
                                             "    cron: \"*/5 * * * *\"\n"
                                             "    description: revision 2\n"));
        atomic_store(&clock_now, ts("2024-01-01T00:07:00Z"));
        scheduler_step(sch);
        is_int(trigger_get(s, "every5", "five", &t), 0, "trigger still there after a new revision");
        is_int(t.next_date, ts("2024-01-01T00:10:00Z"), "a new revision keeps the next date");
        store_trigger_done(&t);

        /* Downtime of 30 minutes: ALL (the default) starts every missed slot, once. */
        atomic_store(&clock_now, ts("2024-01-01T00:37:30Z"));
        is_int(scheduler_step(sch), 6, "ALL recovers the 6 missed slots 00:10..00:35");
        is_int(scheduler_step(sch), 0, "and not twice");
        json_decref(list);
        list = executions(s, "every5");
        is_int(json_array_size(list), 7, "7 executions in all");
        ok(has_trigger_date(list, "2024-01-01T00:20:00.000Z"), "the 00:20 slot ran");

        /* Deleting the flow stops its triggers. */
        put_flow(s, "every5", NULL);
        atomic_store(&clock_now, ts("2024-01-01T01:00:00Z"));
        is_int(scheduler_step(sch), 0, "a deleted flow starts nothing");
        is_int(trigger_get(s, "every5", "five", &t), -ENOENT, "its trigger row is gone");
        is_int(count(s, "every5"), 7, "no new execution after deletion");
}

static void test_recover(Store *s) {
        _cleanup_(scheduler_freep) Scheduler *sch = new_scheduler(s, NULL);
        atomic_store(&clock_now, ts("2024-02-01T00:00:00Z"));
        put_flow(s, "rec-last", FLOW("rec-last", "  - id: t\n    type: io.kestra.plugin.core.trigger.Schedule\n"
                                                 "    cron: \"@hourly\"\n    recoverMissedSchedules: LAST\n"));
        put_flow(s, "rec-none", FLOW("rec-none", "  - id: t\n    type: io.kestra.plugin.core.trigger.Schedule\n"
                                                 "    cron: \"@hourly\"\n    recoverMissedSchedules: NONE\n"));
        put_flow(s, "rec-all", FLOW("rec-all", "  - id: t\n    type: io.kestra.plugin.core.trigger.Schedule\n"
                                               "    cron: \"@hourly\"\n    recoverMissedSchedules: ALL\n"));
        scheduler_step(sch);
        /* Down from 00:00 to 05:10: slots 01:00..05:00 were missed. */
        atomic_store(&clock_now, ts("2024-02-01T05:10:00Z"));
        scheduler_step(sch);
        is_int(count(s, "rec-all"), 5, "ALL: the 5 missed slots");
        is_int(count(s, "rec-last"), 1, "LAST: only the latest");
        _cleanup_json_ json_t *l = executions(s, "rec-last");
        ok(has_trigger_date(l, "2024-02-01T05:00:00.000Z"), "LAST ran the 05:00 slot");
        is_int(count(s, "rec-none"), 0, "NONE: nothing (05:00 is older than missed_after)");
        atomic_store(&clock_now, ts("2024-02-01T06:00:00.5Z"));
        scheduler_step(sch);
        is_int(count(s, "rec-none"), 1, "NONE: the next slot on time runs");
        is_int(count(s, "rec-last"), 2, "LAST: and so on");

        /* A restart (a new scheduler on the same store) neither repeats nor forgets slots. */
        scheduler_free(TAKE_PTR(sch));
        sch = new_scheduler(s, NULL);
        is_int(scheduler_step(sch), 0, "a restarted scheduler repeats nothing");
        atomic_store(&clock_now, ts("2024-02-01T08:00:00Z"));
        scheduler_step(sch);
        is_int(count(s, "rec-all"), 8, "after the restart: 07:00 and 08:00 ran, once each");
}

/* ScheduleTest#lateMaximumDelay: every minute, 15 minutes late, a delay of 5: the slots older than
 * 5 minutes are skipped, those within it run. */
static void test_late(Store *s) {
        _cleanup_(scheduler_freep) Scheduler *sch = new_scheduler(s, NULL);
        StoreTrigger t = {};
        atomic_store(&clock_now, ts("2024-03-01T00:00:30Z"));
        put_flow(s, "late", FLOW("late", "  - id: t\n    type: io.kestra.plugin.core.trigger.Schedule\n"
                                         "    cron: \"* * * * *\"\n    lateMaximumDelay: PT5M\n"));
        scheduler_step(sch);
        atomic_store(&clock_now, ts("2024-03-01T00:15:30Z"));
        scheduler_step(sch);
        _cleanup_json_ json_t *l = executions(s, "late");
        is_int(json_array_size(l), 5, "lateMaximumDelay: the 5 slots within the delay ran (00:11..00:15)");
        ok(has_trigger_date(l, "2024-03-01T00:11:00.000Z") && !has_trigger_date(l, "2024-03-01T00:10:00.000Z"),
           "00:10:00 is older than the delay; 00:11:00 is within it");
        is_int(trigger_get(s, "late", "t", &t), 0, "the trigger is there");
        is_int(t.next_date, ts("2024-03-01T00:16:00Z"), "and goes on at 00:16");
        store_trigger_done(&t);
        put_flow(s, "late", NULL); /* the tests after this one move the clock by days */
}

static void test_options(Store *s) {
        _cleanup_(scheduler_freep) Scheduler *sch = new_scheduler(s, NULL);
        atomic_store(&clock_now, ts("2024-03-03T12:00:00Z")); /* a Sunday */
        put_flow(s, "monday", FLOW("monday", "  - id: t\n    type: io.kestra.plugin.core.trigger.Schedule\n"
                                             "    cron: \"0 9 * * *\"\n    timezone: Europe/Paris\n"
                                             "    conditions:\n"
                                             "      - type: io.kestra.plugin.core.condition.DayWeek\n"
                                             "        dayOfWeek: MONDAY\n"));
        put_flow(s, "off", FLOW("off", "  - id: t\n    type: io.kestra.plugin.core.trigger.Schedule\n"
                                       "    cron: \"0 9 * * *\"\n    disabled: true\n"));
        put_flow(s, "secs", "id: secs\nnamespace: test.sched\ninputs:\n  - id: who\n    type: STRING\n"
                            "tasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
                            "triggers:\n  - id: t\n    type: io.kestra.plugin.core.trigger.Schedule\n"
                            "    cron: \"*/10 * * * * *\"\n    withSeconds: true\n    recoverMissedSchedules: NONE\n"
                            "    inputs:\n      who: cron\n");
        scheduler_step(sch);
        for (int day = 0; day < 7; day++) {
                atomic_store(&clock_now, ts("2024-03-04T08:00:00Z") + (usec_t) day * USEC_PER_DAY);
                scheduler_step(sch);
        }
        _cleanup_json_ json_t *l = executions(s, "monday");
        is_int(json_array_size(l), 1, "a DayWeek condition lets one day of seven through");
        ok(has_trigger_date(l, "2024-03-04T08:00:00.000Z"), "09:00 Paris is 08:00 UTC in winter");
        is_int(count(s, "off"), 0, "a disabled trigger starts nothing");
        _cleanup_json_ json_t *sl = executions(s, "secs");
        ok(json_array_size(sl) > 0, "withSeconds schedules run (%zu)", json_array_size(sl));
        is_str(json_string_value(json_object_get(json_object_get(json_array_get(sl, 0), "inputs"), "who")), "cron",
               "the trigger's inputs reach the execution");
}

typedef struct AdminArgs {
        int op;
        usec_t a, b;
} AdminArgs;

static int admin_tx(StoreTx *tx, void *userdata) {
        AdminArgs *a = userdata;
        usec_t now = atomic_load(&clock_now);
        switch (a->op) {
        case 0:
                return api_backfill_create(tx, "test.sched", "daily", "t", a->a, a->b, NULL, NULL, now);
        case 1:
                return api_backfill_pause(tx, "test.sched", "daily", "t", true, now);
        case 2:
                return api_backfill_pause(tx, "test.sched", "daily", "t", false, now);
        case 3:
                return api_trigger_set_enabled(tx, "test.sched", "daily", "t", false, now);
        case 5:
                return api_backfill_delete(tx, "test.sched", "daily", "t", now);
        case 6:
                return api_trigger_unlock(tx, "test.sched", "daily", "t", now);
        default:
                return api_trigger_set_enabled(tx, "test.sched", "daily", "t", true, now);
        }
}

static int admin(Store *s, int op, usec_t a, usec_t b) {
        AdminArgs x = { op, a, b };
        return store_transact(s, admin_tx, &x);
}

static void test_backfill(Store *s) {
        _cleanup_(scheduler_freep) Scheduler *sch = new_scheduler(s, NULL);
        atomic_store(&clock_now, ts("2024-04-01T12:00:00Z"));
        put_flow(s, "daily", FLOW("daily", "  - id: t\n    type: io.kestra.plugin.core.trigger.Schedule\n"
                                           "    cron: \"0 0 * * *\"\n"));
        scheduler_step(sch);
        is_int(admin(s, 0, ts("2024-03-01T00:00:00Z"), ts("2024-03-31T00:00:00Z")), 0, "backfill created");
        is_int(admin(s, 0, ts("2024-03-01T00:00:00Z"), ts("2024-03-31T00:00:00Z")), -EBUSY,
               "a second backfill is refused while one runs");
        /* The rate is bounded (10/s by default): one simulated second starts about ten. */
        for (int i = 0; i < 10; i++) {
                atomic_store(&clock_now, atomic_load(&clock_now) + 100 * USEC_PER_MSEC);
                scheduler_step(sch);
        }
        size_t n = count(s, "daily");
        ok(n >= 9 && n <= 11, "about 10 backfill executions per second (%zu)", n);
        _cleanup_json_ json_t *l = executions(s, "daily");
        ok(has_trigger_date(l, "2024-03-01T00:00:00.000Z"), "the backfill starts at its first slot");
        is_int(admin(s, 1, 0, 0), 0, "backfill paused");
        for (int i = 0; i < 10; i++) {
                atomic_store(&clock_now, atomic_load(&clock_now) + 100 * USEC_PER_MSEC);
                scheduler_step(sch);
        }
        is_int(count(s, "daily"), n, "a paused backfill starts nothing");
        is_int(admin(s, 2, 0, 0), 0, "backfill resumed");
        for (int i = 0; i < 40; i++) {
                atomic_store(&clock_now, atomic_load(&clock_now) + 100 * USEC_PER_MSEC);
                scheduler_step(sch);
        }
        is_int(count(s, "daily"), 30, "the backfill covered the 30 days of [start, end)");
        StoreTrigger t = {};
        trigger_get(s, "daily", "t", &t);
        ok(!json_object_get(t.state, "backfill"), "a finished backfill is gone from the trigger");
        store_trigger_done(&t);

        is_int(admin(s, 3, 0, 0), 0, "trigger disabled by hand");
        atomic_store(&clock_now, ts("2024-04-03T00:00:01Z"));
        scheduler_step(sch);
        is_int(count(s, "daily"), 30, "a disabled trigger starts nothing");
        put_flow(s, "daily", FLOW("daily", "  - id: t\n    type: io.kestra.plugin.core.trigger.Schedule\n"
                                           "    cron: \"0 0 * * *\"\n    description: v2\n"));
        scheduler_step(sch);
        trigger_get(s, "daily", "t", &t);
        ok(t.disabled, "disabled by hand survives a new revision");
        store_trigger_done(&t);
        is_int(admin(s, 4, 0, 0), 0, "trigger enabled again");
        scheduler_step(sch);
        is_int(count(s, "daily"), 32, "enabled again: the missed slots (ALL) run");

        /* Deleting a running backfill stops it where it is. */
        is_int(admin(s, 5, 0, 0), -ENOENT, "deleting a backfill that does not exist: -ENOENT");
        is_int(admin(s, 0, ts("2023-01-01T00:00:00Z"), ts("2023-12-31T00:00:00Z")), 0, "another backfill");
        for (int i = 0; i < 5; i++) {
                atomic_store(&clock_now, atomic_load(&clock_now) + 100 * USEC_PER_MSEC);
                scheduler_step(sch);
        }
        n = count(s, "daily");
        ok(n > 32 && n < 40, "it started a few (%zu)", n - 32);
        is_int(admin(s, 5, 0, 0), 0, "backfill deleted");
        for (int i = 0; i < 20; i++) {
                atomic_store(&clock_now, atomic_load(&clock_now) + 100 * USEC_PER_MSEC);
                scheduler_step(sch);
        }
        is_int(count(s, "daily"), n, "a deleted backfill starts nothing more");
        trigger_get(s, "daily", "t", &t);
        ok(!json_object_get(t.state, "backfill") && t.next_date == ts("2024-04-04T00:00:00Z"),
           "the live schedule is back to its own next date");
        store_trigger_done(&t);

        /* Unlock: a trigger stuck far behind (a clock jump) starts over from now. */
        atomic_store(&clock_now, ts("2024-04-20T12:00:00Z"));
        is_int(admin(s, 6, 0, 0), 0, "trigger unlocked");
        trigger_get(s, "daily", "t", &t);
        ok(t.next_date == ts("2024-04-21T00:00:00Z") && !t.locked_by, "its next date is computed from now");
        store_trigger_done(&t);
        scheduler_step(sch);
        is_int(count(s, "daily"), n, "the 16 slots it was behind are not run");
}

/* ---- what the executor's reports cost ------------------------------------------------------- */

typedef struct EmitArgs {
        bool ended;
} EmitArgs;

static int emit_tx(StoreTx *tx, void *userdata) {
        EmitArgs *a = userdata;
        usec_t now = atomic_load(&clock_now);
        if (a->ended)
                return store_execution_ended_emit(tx, "0000000000000000000000", "test.src", "src", "SUCCESS", now);
        _cleanup_json_ json_t *states = json_pack("[s, s]", "RUNNING", "PAUSED");
        return store_execution_states_emit(tx, "0000000000000000000000", "test.src", "src", states, now);
}

static int emit(Store *s, bool ended) {
        EmitArgs a = { ended };
        return store_transact(s, emit_tx, &a);
}

static void test_state_reports(Store *s) {
        _cleanup_(scheduler_freep) Scheduler *sch = new_scheduler(s, NULL);
        StoreTrigger t = {};
        is_int(emit(s, false), STORE_SKIPPED, "no Flow trigger lists a passing state: the executor's state report is not stored");
        is_int(emit(s, true), STORE_SKIPPED, "no Flow trigger at all: nor is the end of an execution");
        put_flow(s, "on-end", FLOW("on-end", "  - id: t\n    type: io.kestra.plugin.core.trigger.Flow\n"
                                             "    states: [FAILED, WARNING]\n"));
        scheduler_step(sch);
        trigger_get(s, "on-end", "t", &t);
        is_str(t.kind, "flow", "a Flow trigger on end states is of kind flow");
        store_trigger_done(&t);
        is_int(emit(s, false), STORE_SKIPPED, "a Flow trigger on end states only: state reports are still not stored");
        is_int(emit(s, true), STORE_OK, "but the end of an execution is");
        put_flow(s, "on-pause", FLOW("on-pause", "  - id: t\n    type: io.kestra.plugin.core.trigger.Flow\n"
                                                 "    states: [PAUSED, SUCCESS]\n"));
        scheduler_step(sch);
        trigger_get(s, "on-pause", "t", &t);
        is_str(t.kind, "flow_states", "a Flow trigger listing PAUSED is of kind flow_states");
        _cleanup_json_ json_t *listed = json_pack("[s, s]", "PAUSED", "SUCCESS");
        ok(json_equal(json_object_get(t.state, "states"), listed),
           "its row records the states it listens to (reports of others are dropped unread)");
        store_trigger_done(&t);
        is_int(emit(s, false), STORE_OK, "now state reports are stored");
        put_flow(s, "on-end", NULL);
        scheduler_step(sch);
        is_int(emit(s, true), STORE_OK, "the end of an execution reaches a flow_states trigger alone");
        put_flow(s, "on-pause", FLOW("on-pause", "  - id: t\n    type: io.kestra.plugin.core.trigger.Flow\n"
                                                 "    states: [PAUSED, SUCCESS]\n    disabled: true\n"));
        scheduler_step(sch);
        is_int(emit(s, false), STORE_SKIPPED, "a disabled one costs nothing either");
        scheduler_step(sch); /* the inbox rows about a missing execution are dropped */
        put_flow(s, "on-pause", NULL);
        scheduler_step(sch);
}

/* ---- preconditions' time windows ------------------------------------------------------------- */

typedef struct EndArgs {
        const char *flow_id, *state;
} EndArgs;

/* An execution of test.src.FLOW that ended in state now, as the executor would leave it. */
static int end_tx(StoreTx *tx, void *userdata) {
        EndArgs *a = userdata;
        usec_t now = atomic_load(&clock_now);
        _cleanup_execution_ Execution *e = NULL;
        _cleanup_json_ json_t *doc = NULL;
        char id[ID_MAX];
        int r = id_new(id);
        if (r < 0 || (r = execution_new(id, "test.src", a->flow_id, 1, now, &e)) < 0)
                return r;
        if ((r = state_info_force(&e->state, state_from_string(a->state), now)) < 0)
                return r;
        _cleanup_(execution_store_meta_done) StoreExecutionMeta m = {};
        if (!(doc = execution_to_json(e)) || execution_store_meta(e, now, &m) < 0)
                return -ENOMEM;
        if ((r = store_execution_create(tx, &m, doc, ENGINE_EVENT_CREATED, NULL, now)) < 0)
                return r;
        r = store_execution_ended_emit(tx, e->id, "test.src", a->flow_id, a->state, now);
        return r < 0 ? r : 0;
}

static void ended_at(Store *s, Scheduler *sch, const char *when, const char *flow_id) {
        EndArgs a = { flow_id, "SUCCESS" };
        atomic_store(&clock_now, ts(when));
        if (store_transact(s, end_tx, &a) < 0)
                diag("cannot end an execution of %s: %s", flow_id, store_error(s));
        scheduler_step(sch);
}

#define PRE(id, window)                                                                                          \
        FLOW(id, "  - id: t\n    type: io.kestra.plugin.core.trigger.Flow\n    preconditions:\n      id: p\n"      \
                 "      timeWindow:\n" window "      flows:\n        - namespace: test.src\n          flowId: a\n" \
                 "        - namespace: test.src\n          flowId: b\n")

static void test_windows(Store *s) {
        _cleanup_(scheduler_freep) Scheduler *sch = new_scheduler(s, NULL);
        atomic_store(&clock_now, ts("2024-06-03T00:00:00Z"));
        put_flow(s, "sliding", PRE("sliding", "        type: SLIDING_WINDOW\n        window: PT1H\n"));
        put_flow(s, "deadline", PRE("deadline", "        type: DAILY_TIME_DEADLINE\n        deadline: \"09:00:00\"\n"));
        put_flow(s, "day-window", PRE("day-window", "        type: DAILY_TIME_WINDOW\n        startTime: \"06:00:00\"\n"
                                          "        endTime: \"09:00:00\"\n"));
        put_flow(s, "duration", PRE("duration", "        type: DURATION_WINDOW\n        window: PT6H\n"
                                                "        windowAdvance: PT3H\n"));
        scheduler_step(sch);

        ended_at(s, sch, "2024-06-03T05:30:00Z", "a");
        ended_at(s, sch, "2024-06-03T06:10:00Z", "b");
        is_int(count(s, "sliding"), 1, "SLIDING_WINDOW PT1H: a then b 40 minutes later fires");
        is_int(count(s, "deadline"), 1, "DAILY_TIME_DEADLINE 09:00: both before the deadline fires");
        is_int(count(s, "day-window"), 0, "DAILY_TIME_WINDOW 06:00-09:00: a at 05:30 did not count");
        is_int(count(s, "duration"), 1, "DURATION_WINDOW PT6H from 03:00: both in 03:00-09:00 fires");

        ended_at(s, sch, "2024-06-03T07:00:00Z", "a");
        is_int(count(s, "day-window"), 1, "DAILY_TIME_WINDOW: a at 07:00 with b at 06:10 fires");
        ended_at(s, sch, "2024-06-03T08:30:00Z", "b");
        is_int(count(s, "sliding"), 1, "SLIDING_WINDOW: after a reset, a 90 minutes before b does not count");
        ended_at(s, sch, "2024-06-03T09:10:00Z", "a");
        is_int(count(s, "sliding"), 2, "but a within the hour after b does");
        is_int(count(s, "deadline"), 2, "DAILY_TIME_DEADLINE: a (07:00) and b (08:30) fired before 09:00, not a at 09:10");
        is_int(count(s, "duration"), 2, "DURATION_WINDOW: a (07:00) and b (08:30) in 03:00-09:00");
        ended_at(s, sch, "2024-06-03T10:00:00Z", "b");
        is_int(count(s, "deadline"), 2, "DAILY_TIME_DEADLINE: nothing counts after 09:00");
        is_int(count(s, "duration"), 3, "DURATION_WINDOW: a (09:10) and b (10:00) in the 09:00-15:00 window");
        is_int(count(s, "day-window"), 1, "DAILY_TIME_WINDOW: nothing counts after 09:00");
        for (const char *const *f = (const char *const[]) { "sliding", "deadline", "day-window", "duration", NULL }; *f; f++)
                put_flow(s, *f, NULL);
        scheduler_step(sch);
}

/* ---- two schedulers --------------------------------------------------------------------------- */

static pthread_barrier_t barrier;
static _Atomic int rounds_failed;

static void *scheduler_thread(void *arg) {
        Scheduler *sch = arg;
        for (int round = 0; round < 200; round++) {
                pthread_barrier_wait(&barrier); /* the driver moved the clock */
                if (scheduler_step(sch) < 0)
                        atomic_fetch_add(&rounds_failed, 1);
                pthread_barrier_wait(&barrier);
        }
        return NULL;
}

static void test_two_schedulers(Store *s) {
        Scheduler *a = new_scheduler(s, NULL), *b = new_scheduler(s, NULL);
        pthread_t ta, tb;
        usec_t start = ts("2024-05-01T00:00:00.5Z");

        atomic_store(&clock_now, start);
        put_flow(s, "persec", FLOW("persec", "  - id: t\n    type: io.kestra.plugin.core.trigger.Schedule\n"
                                             "    cron: \"* * * * * *\"\n    withSeconds: true\n"));
        scheduler_step(a);
        pthread_barrier_init(&barrier, NULL, 3);
        pthread_create(&ta, NULL, scheduler_thread, a);
        pthread_create(&tb, NULL, scheduler_thread, b);
        for (int round = 1; round <= 200; round++) {
                atomic_store(&clock_now, start + (usec_t) round * USEC_PER_SEC);
                if (round == 100) {
                        /* A third scheduler dies in the middle of an evaluation: it holds the due
                         * trigger locked when its connection goes away. */
                        Store *z = NULL;
                        StoreTx *tx = NULL;
                        StoreTrigger *due = NULL;
                        size_t n = 0;
                        if (store_dup(s, &z) >= 0 && store_begin(z, &tx) >= 0) {
                                (void) store_trigger_due(tx, atomic_load(&clock_now), 10, &due, &n);
                                store_triggers_free(due, n);
                        }
                        store_free(z); /* no commit: the database rolls it back */
                }
                pthread_barrier_wait(&barrier);
                pthread_barrier_wait(&barrier);
        }
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        pthread_barrier_destroy(&barrier);
        is_int(atomic_load(&rounds_failed), 0, "no step failed");
        is_int(count(s, "persec"), 200, "two schedulers over 200 one-second slots: exactly 200 executions");
        SchedulerStats sa, sb;
        scheduler_stats(a, &sa);
        scheduler_stats(b, &sb);
        diag("scheduler A created %llu, B created %llu", (unsigned long long) sa.executions,
             (unsigned long long) sb.executions);
        scheduler_free(a);
        scheduler_free(b);
}

/* ScheduleOnDates: its dates are the slots, sorted, a date without a zone read in the trigger's
 * timezone; after the last one there is no next. (First of the tests: its dates come before theirs.) */
static void test_on_dates(Store *s) {
        _cleanup_(scheduler_freep) Scheduler *sch = new_scheduler(s, NULL);
        StoreTrigger t = {};
        atomic_store(&clock_now, ts("2023-05-01T00:00:01Z"));
        put_flow(s, "on-dates", FLOW("on-dates", "  - id: d\n    type: io.kestra.plugin.core.trigger.ScheduleOnDates\n"
                                                 "    timezone: Europe/Paris\n    inputs:\n      ignored: 1\n"
                                                 "    dates:\n      - 2023-05-02T10:00:00Z\n"
                                                 "      - \"2023-05-01T14:00:00\"\n"
                                                 "      - 2023-05-03T00:00:00+02:00\n      - 2023-05-02T10:00:00Z\n"));
        scheduler_step(sch);
        is_int(count(s, "on-dates"), 0, "ScheduleOnDates: nothing before its first date");
        is_int(trigger_get(s, "on-dates", "d", &t), 0, "its trigger is registered");
        is_str(t.kind, "schedule", "as a schedule");
        is_int(t.next_date, ts("2023-05-01T12:00:00Z"), "the next date is the earliest, 14:00 in Paris (UTC+2)");
        store_trigger_done(&t);

        atomic_store(&clock_now, ts("2023-05-01T12:00:00.5Z"));
        scheduler_step(sch);
        _cleanup_json_ json_t *list = executions(s, "on-dates");
        is_int(json_array_size(list), 1, "the first date starts one execution");
        json_t *vars = json_object_get(json_object_get(json_array_get(list, 0), "trigger"), "variables");
        is_str(json_string_value(json_object_get(vars, "date")), "2023-05-01T12:00:00.000Z", "trigger.date is the date");
        is_str(json_string_value(json_object_get(vars, "next")), "2023-05-02T10:00:00.000Z", "trigger.next the next date");

        atomic_store(&clock_now, ts("2023-05-04T00:00:00Z"));
        scheduler_step(sch);
        json_decref(list);
        list = executions(s, "on-dates");
        is_int(json_array_size(list), 3, "the two missed dates ran (ALL), the repeated one once");
        ok(has_trigger_date(list, "2023-05-02T22:00:00.000Z"), "a date with its own offset is that instant");
        is_int(trigger_get(s, "on-dates", "d", &t), 0, "the trigger is there");
        is_int(t.next_date, 0, "with no next date after the last one");
        store_trigger_done(&t);
        atomic_store(&clock_now, ts("2023-06-01T00:00:00Z"));
        scheduler_step(sch);
        is_int(count(s, "on-dates"), 3, "and nothing more runs");
        put_flow(s, "on-dates", NULL);
}

int main(int argc, char *argv[]) {
        backend = argc > 1 ? argv[1] : "sqlite";
        store_test_setup(backend, &env);
        _cleanup_store_ Store *s = NULL;
        if (store_open(env.url, &s) < 0 || store_migrate(s) < 0) {
                printf("Bail out! cannot open %s: %s\n", env.url, s ? store_error(s) : "");
                store_test_teardown(&env);
                return EXIT_FAILURE;
        }
        test_on_dates(s);
        test_slots(s);
        test_recover(s);
        test_late(s);
        test_options(s);
        test_backfill(s);
        test_state_reports(s);
        test_windows(s);
        test_two_schedulers(s);
        store_free(TAKE_PTR(s));
        store_test_teardown(&env);
        return tap_done();
}
