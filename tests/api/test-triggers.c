/* test-triggers.c: lib/api's trigger operations on a real store (SQLite, or PostgreSQL): registering a flow's triggers, backfills and their errors, enable/disable, unlock, webhook calls. */
#include "cleanup-jansson.h"
#include "store-test.h"
#include "triggers.h"

#define NS "test.api"

static StoreTestEnv env;
static usec_t now;

static usec_t ts(const char *s) {
        usec_t t = 0;
        if (timestamp_parse(s, 0, &t) < 0)
                abort();
        return t;
}

typedef enum Op {
        OP_PUT_FLOW,
        OP_DELETE_FLOW,
        OP_SYNC,
        OP_BACKFILL,
        OP_PAUSE,
        OP_RESUME,
        OP_BACKFILL_DELETE,
        OP_ENABLE,
        OP_DISABLE,
        OP_UNLOCK,
        OP_WEBHOOK_ENABLED,
        OP_LOCK, /* what a scheduler that crashed mid-evaluation leaves: a lock and a stale next date */
} Op;

typedef struct Args {
        Op op;
        const char *flow_id, *trigger_id, *source;
        usec_t start, end;
        json_t *inputs;
} Args;

static int op_tx(StoreTx *tx, void *userdata) {
        Args *a = userdata;
        switch (a->op) {
        case OP_PUT_FLOW:
                return store_flow_put(tx, NS, a->flow_id, a->source, now, NULL);
        case OP_DELETE_FLOW:
                return store_flow_delete(tx, NS, a->flow_id, now);
        case OP_SYNC:
                return api_trigger_sync_latest(tx, NS, a->flow_id, NULL, now);
        case OP_BACKFILL:
                return api_backfill_create(tx, NS, a->flow_id, a->trigger_id, a->start, a->end, a->inputs, NULL, now);
        case OP_PAUSE:
        case OP_RESUME:
                return api_backfill_pause(tx, NS, a->flow_id, a->trigger_id, a->op == OP_PAUSE, now);
        case OP_BACKFILL_DELETE:
                return api_backfill_delete(tx, NS, a->flow_id, a->trigger_id, now);
        case OP_ENABLE:
        case OP_DISABLE:
                return api_trigger_set_enabled(tx, NS, a->flow_id, a->trigger_id, a->op == OP_ENABLE, now);
        case OP_UNLOCK:
                return api_trigger_unlock(tx, NS, a->flow_id, a->trigger_id, now);
        case OP_WEBHOOK_ENABLED:
                return api_webhook_enabled(tx, NS, a->flow_id, a->trigger_id);
        case OP_LOCK: {
                _cleanup_(store_trigger_done) StoreTrigger t = {};
                int r = store_trigger_get(tx, NS, a->flow_id, a->trigger_id, &t);
                if (r < 0)
                        return r;
                if (!(t.locked_by = strdup("crashed-scheduler")))
                        return -ENOMEM;
                json_object_set_new(t.state, "next", json_integer((json_int_t) ts("2020-01-01T00:00:00Z")));
                t.next_date = ts("2020-01-01T00:00:00Z");
                return store_trigger_put(tx, &t);
        }
        }
        return -EINVAL;
}

static int op(Store *s, Op o, const char *flow_id, const char *trigger_id) {
        Args a = { .op = o, .flow_id = flow_id, .trigger_id = trigger_id };
        return store_transact(s, op_tx, &a);
}

static int put_flow(Store *s, const char *flow_id, const char *source) {
        Args a = { .op = OP_PUT_FLOW, .flow_id = flow_id, .source = source };
        return store_transact(s, op_tx, &a);
}

static int backfill(Store *s, const char *flow_id, const char *trigger_id, usec_t start, usec_t end, json_t *inputs) {
        Args a = { .op = OP_BACKFILL, .flow_id = flow_id, .trigger_id = trigger_id, .start = start, .end = end,
                   .inputs = inputs };
        return store_transact(s, op_tx, &a);
}

typedef struct GetArgs {
        const char *flow_id, *trigger_id;
        StoreTrigger t;
} GetArgs;

static int get_tx(StoreTx *tx, void *userdata) {
        GetArgs *a = userdata;
        store_trigger_done(&a->t);
        a->t = (StoreTrigger) {};
        return store_trigger_get(tx, NS, a->flow_id, a->trigger_id, &a->t);
}

static int get(Store *s, const char *flow_id, const char *trigger_id, StoreTrigger *ret) {
        GetArgs a = { flow_id, trigger_id, {} };
        int r = store_transact(s, get_tx, &a);
        *ret = a.t;
        return r;
}

static usec_t state_usec(json_t *o, const char *key) {
        return (usec_t) json_integer_value(json_object_get(o, key));
}

#define DAILY                                                                                                    \
        "id: daily\nnamespace: " NS "\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n"        \
        "    message: hi\ntriggers:\n"                                                                           \
        "  - id: nightly\n    type: io.kestra.plugin.core.trigger.Schedule\n    cron: \"0 0 * * *\"\n"           \
        "  - id: hook\n    type: io.kestra.plugin.core.trigger.Webhook\n    key: s3cr3t-key-0123\n"              \
        "    inputs:\n      who: \"{{ trigger.body.name }} of {{ flow.id }}\"\n"                                 \
        "  - id: watch\n    type: io.kestra.plugin.core.trigger.Flow\n    states: [RUNNING, SUCCESS]\n"

/* Registering, and what a row then says. */
static void test_sync(Store *s) {
        StoreTrigger t = {};
        now = ts("2024-04-01T12:00:00Z");
        is_int(put_flow(s, "daily", DAILY), 0, "a flow with three triggers is stored");
        is_int(get(s, "daily", "nightly", &t), -ENOENT, "storing a flow registers no trigger by itself");
        store_trigger_done(&t);
        is_int(op(s, OP_SYNC, "daily", NULL), 0, "api_trigger_sync_latest registers its triggers");

        is_int(get(s, "daily", "nightly", &t), 0, "the Schedule has a row");
        is_str(t.kind, "schedule", "of kind schedule");
        is_int(t.next_date, ts("2024-04-02T00:00:00Z"), "its next date is the first slot after now");
        ok(!t.disabled, "it is enabled");
        store_trigger_done(&t);
        is_int(get(s, "daily", "hook", &t), 0, "the Webhook has a row");
        is_str(t.kind, "webhook", "of kind webhook");
        is_int(t.next_date, 0, "and no next date");
        store_trigger_done(&t);
        is_int(get(s, "daily", "watch", &t), 0, "the Flow trigger has a row");
        is_str(t.kind, "flow_states", "a Flow trigger listing a state on the way (RUNNING) is of kind flow_states");
        ok(json_array_size(json_object_get(t.state, "states")) == 2, "its states are kept in the row");
        store_trigger_done(&t);

        /* Later: the Schedule keeps its place when its schedule did not change. */
        now = ts("2024-04-01T18:00:00Z");
        is_int(op(s, OP_SYNC, "daily", NULL), 0, "syncing again");
        is_int(get(s, "daily", "nightly", &t), 0, "the Schedule still has its row");
        is_int(t.next_date, ts("2024-04-02T00:00:00Z"), "with the same next date");
        store_trigger_done(&t);
        now = ts("2024-04-01T12:00:00Z");
}

static void test_backfill(Store *s) {
        StoreTrigger t = {};
        usec_t start = ts("2024-03-01T00:00:00Z"), end = ts("2024-03-05T00:00:00Z");
        _cleanup_json_ json_t *inputs = json_pack("{s:s}", "who", "backfill");

        is_int(backfill(s, "daily", "ghost", start, end, NULL), -ENOENT,
               "a backfill of an unknown trigger: -ENOENT");
        is_int(backfill(s, "nope", "nightly", start, end, NULL), -ENOENT,
               "a backfill of an unknown flow: -ENOENT");
        is_int(backfill(s, "daily", "hook", start, end, NULL), -EINVAL,
               "a backfill of a Webhook: -EINVAL (not a Schedule)");
        is_int(backfill(s, "daily", "nightly", end, start, NULL), -EINVAL,
               "a backfill whose start is after its end: -EINVAL");
        is_int(backfill(s, "daily", "nightly", ts("2024-03-01T01:00:00Z"), ts("2024-03-01T23:00:00Z"), NULL),
               -ERANGE, "a backfill in which no slot falls: -ERANGE");
        is_int(op(s, OP_PAUSE, "daily", "nightly"), -ENOENT, "pausing where there is no backfill: -ENOENT");
        is_int(op(s, OP_BACKFILL_DELETE, "daily", "nightly"), -ENOENT,
               "deleting where there is no backfill: -ENOENT");

        is_int(backfill(s, "daily", "nightly", start, end, inputs), 0,
               "a backfill of the Schedule over four days");
        is_int(get(s, "daily", "nightly", &t), 0, "its row");
        json_t *b = json_object_get(t.state, "backfill");
        ok(b, "holds the backfill");
        is_int(state_usec(b, "next"), start, "whose first slot is start (a slot itself)");
        is_int(state_usec(b, "end"), end, "and end is kept");
        is_str(json_string_value(json_object_get(json_object_get(b, "inputs"), "who")), "backfill",
               "so are its inputs");
        ok(!json_is_true(json_object_get(b, "paused")), "it is not paused");
        is_int(t.next_date, now, "the row is due now (the backfill's first slot, not the schedule's)");
        store_trigger_done(&t);
        is_int(backfill(s, "daily", "nightly", start, end, NULL), -EBUSY,
               "a second backfill while one runs: -EBUSY");

        is_int(op(s, OP_PAUSE, "daily", "nightly"), 0, "pausing it");
        is_int(get(s, "daily", "nightly", &t), 0, "its row");
        ok(json_is_true(json_object_get(json_object_get(t.state, "backfill"), "paused")), "says paused");
        is_int(t.next_date, ts("2024-04-02T00:00:00Z"), "and is due at the schedule's next slot again");
        store_trigger_done(&t);

        now = ts("2024-04-01T12:30:00Z");
        is_int(op(s, OP_RESUME, "daily", "nightly"), 0, "resuming it");
        is_int(get(s, "daily", "nightly", &t), 0, "its row");
        ok(!json_is_true(json_object_get(json_object_get(t.state, "backfill"), "paused")), "says running");
        is_int(t.next_date, now, "and is due from the time it was resumed");
        store_trigger_done(&t);

        is_int(op(s, OP_BACKFILL_DELETE, "daily", "nightly"), 0, "deleting it");
        is_int(get(s, "daily", "nightly", &t), 0, "its row");
        ok(!json_object_get(t.state, "backfill"), "has no backfill");
        is_int(t.next_date, ts("2024-04-02T00:00:00Z"), "and is due at the schedule's next slot");
        store_trigger_done(&t);
        is_int(backfill(s, "daily", "nightly", start, end, NULL), 0,
               "then a new backfill may start");
        is_int(op(s, OP_BACKFILL_DELETE, "daily", "nightly"), 0, "(deleted again)");
        now = ts("2024-04-01T12:00:00Z");
}

static void test_enable(Store *s) {
        StoreTrigger t = {};
        is_int(op(s, OP_DISABLE, "daily", "ghost"), -ENOENT, "disabling an unknown trigger: -ENOENT");
        is_int(op(s, OP_WEBHOOK_ENABLED, "daily", "hook"), 1, "the webhook is enabled");

        is_int(op(s, OP_DISABLE, "daily", "hook"), 0, "disabling the webhook by hand");
        is_int(get(s, "daily", "hook", &t), 0, "its row");
        ok(t.disabled && json_is_true(json_object_get(t.state, "userDisabled")), "says disabled by hand");
        store_trigger_done(&t);
        is_int(op(s, OP_WEBHOOK_ENABLED, "daily", "hook"), 0, "so a call of it may not fire");

        is_int(put_flow(s, "daily", DAILY "    description: a new revision\n"), 0,
               "a new revision of the flow");
        is_int(op(s, OP_SYNC, "daily", NULL), 0, "synced");
        is_int(get(s, "daily", "hook", &t), 0, "the webhook's row");
        ok(t.disabled, "stays disabled across revisions");
        store_trigger_done(&t);

        is_int(op(s, OP_ENABLE, "daily", "hook"), 0, "enabling it again");
        is_int(get(s, "daily", "hook", &t), 0, "its row");
        ok(!t.disabled && !json_is_true(json_object_get(t.state, "userDisabled")), "says enabled");
        store_trigger_done(&t);
        is_int(op(s, OP_WEBHOOK_ENABLED, "daily", "hook"), 1, "and a call of it may fire");
        is_int(op(s, OP_WEBHOOK_ENABLED, "daily", "unregistered"), 1,
               "a webhook no scheduler registered yet is left to the flow's own disabled");
}

static void test_unlock(Store *s) {
        StoreTrigger t = {};
        is_int(op(s, OP_UNLOCK, "daily", "ghost"), -ENOENT, "unlocking an unknown trigger: -ENOENT");
        is_int(op(s, OP_LOCK, "daily", "nightly"), 0, "a Schedule left locked, its next date in 2020");
        now = ts("2024-04-03T06:00:00Z");
        is_int(op(s, OP_UNLOCK, "daily", "nightly"), 0, "unlocking it");
        is_int(get(s, "daily", "nightly", &t), 0, "its row");
        ok(!t.locked_by, "has no lock");
        is_int(t.next_date, ts("2024-04-04T00:00:00Z"), "and its next date is the first slot after now");
        store_trigger_done(&t);
        now = ts("2024-04-01T12:00:00Z");
}

static void test_removed(Store *s) {
        StoreTrigger t = {};
        is_int(put_flow(s, "daily", "id: daily\nnamespace: " NS "\ntasks:\n  - id: hello\n"
                                         "    type: io.kestra.plugin.core.log.Log\n    message: hi\ntriggers:\n"
                                         "  - id: nightly\n    type: io.kestra.plugin.core.trigger.Schedule\n"
                                         "    cron: \"0 6 * * *\"\n"),
               0, "a revision that drops two triggers and changes the schedule");
        is_int(op(s, OP_SYNC, "daily", NULL), 0, "synced");
        is_int(get(s, "daily", "hook", &t), -ENOENT, "the dropped webhook lost its row");
        store_trigger_done(&t);
        is_int(get(s, "daily", "nightly", &t), 0, "the Schedule kept its row");
        is_int(t.next_date, ts("2024-04-02T06:00:00Z"), "with its next date from the new schedule");
        store_trigger_done(&t);
        is_int(op(s, OP_DISABLE, "daily", "hook"), -ENOENT, "disabling the dropped one: -ENOENT");

        is_int(op(s, OP_DELETE_FLOW, "daily", NULL), 0, "the flow deleted");
        is_int(op(s, OP_SYNC, "daily", NULL), 0, "synced");
        is_int(get(s, "daily", "nightly", &t), -ENOENT, "its triggers lost their rows");
        store_trigger_done(&t);
}

static void test_webhook_inputs(void) {
        _cleanup_flow_ Flow *f = NULL;
        _cleanup_json_ json_t *vars = json_pack("{s:{s:s}}", "body", "name", "alice"), *inputs = NULL;
        _cleanup_free_ char *err = NULL;
        if (flow_load_string(DAILY, strlen(DAILY), "daily", &f, NULL) != 0) {
                ok(false, "the test flow loads");
                return;
        }
        const Trigger *hook = api_trigger_find(f, "hook");
        ok(hook && streq(api_trigger_kind(hook), "webhook"), "api_trigger_find finds the webhook");
        ok(!api_trigger_find(f, "ghost"), "and nothing for an unknown id");
        is_int(api_webhook_inputs(f, hook, vars, NULL, now, &inputs, &err), 0, "its inputs render");
        is_str(json_string_value(json_object_get(inputs, "who")), "alice of daily",
               "against trigger.body and flow.*");
        json_decref(inputs);
        inputs = NULL;
        const Trigger *nightly = api_trigger_find(f, "nightly");
        is_int(api_webhook_inputs(f, nightly, vars, NULL, now, &inputs, &err), 0, "a trigger without inputs");
        ok(json_is_object(inputs) && json_object_size(inputs) == 0, "has none");
}

int main(int argc, char *argv[]) {
        store_test_setup(argc > 1 ? argv[1] : "sqlite", &env);
        _cleanup_store_ Store *s = NULL;
        if (store_open(env.url, &s) < 0 || store_migrate(s) < 0) {
                printf("Bail out! cannot open %s: %s\n", env.url, s ? store_error(s) : "");
                store_test_teardown(&env);
                return EXIT_FAILURE;
        }
        test_sync(s);
        test_backfill(s);
        test_enable(s);
        test_unlock(s);
        test_webhook_inputs();
        test_removed(s);
        store_free(TAKE_PTR(s));
        store_test_teardown(&env);
        return tap_done();
}
