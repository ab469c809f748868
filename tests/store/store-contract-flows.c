/* store-contract-flows.c: the store contract for flows, triggers, KV pairs, SQL literals and services. */
#include "store-contract.h"

/* ---- flows ---- */

void test_flows(Store *s) {
        StoreTx *tx;
        int rev = 0;
        StoreFlow f = {};
        StoreFlow *list = NULL;
        size_t n = 0;

        CHECK_OK(store_begin(s, &tx));
        is_int(store_flow_put(tx, "company.team", "hello", "id: hello\n", T0, &rev), 0, "first put creates a flow");
        is_int(rev, 1, "first revision is 1");
        is_int(store_flow_put(tx, "company.team", "hello", "id: hello\n", T0, &rev), STORE_UNCHANGED,
               "same source makes no revision");
        is_int(rev, 1, "unchanged put reports the latest revision");
        is_int(store_flow_put(tx, "company.team", "hello", "id: hello\n# v2\n", T0, &rev), 0, "changed source");
        is_int(rev, 2, "changed source makes revision 2");
        is_int(store_flow_put(tx, "company", "top", "id: top\n", T0, NULL), 0, "flow in parent namespace");
        is_int(store_flow_put(tx, "companyx", "other", "id: other\n", T0, NULL), 0, "flow in look-alike namespace");
        is_int(store_flow_get(tx, "company.team", "hello", 0, &f), 0, "get latest");
        is_str(f.source, "id: hello\n# v2\n", "latest source is kept verbatim");
        is_int(f.revision, 2, "latest revision");
        store_flow_done(&f);
        is_int(store_flow_get(tx, "company.team", "hello", 1, &f), 0, "get revision 1");
        is_str(f.source, "id: hello\n", "revision 1 source");
        store_flow_done(&f);

        is_int(store_flow_list(tx, "company", &list, &n), 0, "list by namespace prefix");
        is_int(n, 2, "prefix 'company' matches company and company.team, not companyx");
        if (n == 2) {
                is_str(list[0].id, "top", "sorted by namespace");
                is_str(list[1].id, "hello", "then id");
                is_int(list[1].revision, 2, "list shows the latest revision");
        }
        store_flows_free(list, n);
        /* Case matters on every backend (SQLite's LIKE would ignore it), and a wildcard is a character. */
        is_int(store_flow_list(tx, "Company", &list, &n), 0, "list by a prefix in another case");
        is_int(n, 0, "prefix 'Company' matches neither company nor company.team");
        store_flows_free(list, n);
        is_int(store_flow_list(tx, "COMPANY.TEAM", &list, &n), 0, "list by a dotted prefix in another case");
        is_int(n, 0, "prefix 'COMPANY.TEAM' matches nothing");
        store_flows_free(list, n);
        is_int(store_flow_list(tx, "compan_", &list, &n), 0, "list by a prefix with '_'");
        is_int(n, 0, "'_' in a prefix is no wildcard");
        store_flows_free(list, n);

        is_int(store_flow_delete(tx, "company.team", "hello", T0), 0, "delete");
        is_int(store_flow_get(tx, "company.team", "hello", 0, &f), -ENOENT, "a deleted flow is gone");
        is_int(store_flow_delete(tx, "company.team", "hello", T0), -ENOENT, "deleting twice fails");
        is_int(store_flow_list(tx, NULL, &list, &n), 0, "list all");
        is_int(n, 2, "deleted flows are not listed");
        store_flows_free(list, n);
        is_int(store_flow_revisions(tx, "company.team", "hello", &list, &n), 0, "revisions");
        is_int(n, 3, "history is kept: 2 revisions and the deletion");
        if (n == 3)
                ok(list[2].deleted && !list[1].deleted, "the last revision is the deletion");
        store_flows_free(list, n);
        is_int(store_flow_put(tx, "company.team", "hello", "id: hello\n# v2\n", T0, &rev), 0,
               "put after delete revives the flow even with the same source");
        is_int(rev, 4, "as revision 4");
        CHECK_OK(store_commit(tx));
}

/* ---- triggers, kv, literals, services ---- */

void test_triggers(Store *s) {
        StoreTx *tx;
        StoreTrigger *due = NULL, got = {};
        size_t n = 0;
        _cleanup_json_ json_t *state = json_pack("{s:i}", "count", 3);

        CHECK_OK(store_begin(s, &tx));
        StoreTrigger t1 = { .namespace = "ns", .flow_id = "f", .trigger_id = "every-minute", .next_date = T0 + 60,
                            .state = state };
        StoreTrigger t2 = { .namespace = "ns", .flow_id = "f", .trigger_id = "soon", .next_date = T0 + 10 };
        StoreTrigger t3 = { .namespace = "ns", .flow_id = "g", .trigger_id = "off", .next_date = T0, .disabled = true };
        CHECK_OK(store_trigger_put(tx, &t1));
        CHECK_OK(store_trigger_put(tx, &t2));
        CHECK_OK(store_trigger_put(tx, &t3));
        is_int(store_trigger_due(tx, T0 + 60, 10, &due, &n), 0, "due triggers");
        is_int(n, 2, "disabled triggers are not due");
        if (n == 2) {
                is_str(due[0].trigger_id, "soon", "earliest first");
                is_int(due[1].next_date, T0 + 60, "next date round-trips");
        }
        store_triggers_free(due, n);
        t2.next_date = T0 + 120;
        t2.last_execution_id = "exec9";
        t2.locked_by = "sched1";
        t2.evaluated_at = T0 + 11;
        CHECK_OK(store_trigger_put(tx, &t2));
        is_int(store_trigger_get(tx, "ns", "f", "soon", &got), 0, "get trigger");
        is_int(got.next_date, T0 + 120, "update moved next date");
        is_str(got.last_execution_id, "exec9", "last execution");
        is_str(got.locked_by, "sched1", "locked by");
        store_trigger_done(&got);
        is_int(store_trigger_get(tx, "ns", "f", "every-minute", &got), 0, "get trigger with state");
        ok(json_equal(got.state, state), "state round-trips");
        store_trigger_done(&got);
        is_int(store_trigger_delete(tx, "ns", "f", "soon"), 0, "delete trigger");
        is_int(store_trigger_get(tx, "ns", "f", "soon", &got), -ENOENT, "deleted trigger is gone");
        CHECK_OK(store_commit(tx));
}

void test_kv(Store *s) {
        StoreTx *tx;
        _cleanup_json_ json_t *v = json_pack("{s:[i,i]}", "a", 1, 2), *got = NULL, *keys = NULL;

        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_kv_put(tx, "ns", "forever", v, 0, T0));
        CHECK_OK(store_kv_put(tx, "ns", "short", v, T0 + 10, T0));
        CHECK_OK(store_kv_put(tx, "other", "x", v, 0, T0));
        is_int(store_kv_get(tx, "ns", "short", T0 + 5, &got), 0, "a value before expiry");
        ok(json_equal(got, v), "value round-trips");
        is_int(store_kv_get(tx, "ns", "short", T0 + 10, &got), -ENOENT, "an expired value is gone");
        is_int(store_kv_list(tx, "ns", T0 + 5, &keys), 0, "list keys");
        is_int(json_array_size(keys), 2, "two live keys");
        json_decref(keys);
        is_int(store_kv_list(tx, "ns", T0 + 20, &keys), 0, "list keys after expiry");
        is_int(json_array_size(keys), 1, "expired keys are not listed");
        is_int(store_kv_delete(tx, "ns", "forever"), 0, "delete key");
        is_int(store_kv_delete(tx, "ns", "forever"), -ENOENT, "delete missing key");
        CHECK_OK(store_commit(tx));
}

/* Parameters are values whatever they hold: quotes, backslashes (MySQL's literals are escaped by
 * the client, under NO_BACKSLASH_ESCAPES), "$n" (which the MySQL driver replaces in statements),
 * LIKE's wildcards, multibyte characters; an invalid UTF-8 sequence before a quote is refused or
 * kept as it is, never read as SQL. */
void test_literals(Store *s) {
        static const char *const tricky[] = {
                "'", "''", "\\", "\\'", "a\\", "'; DELETE FROM kv; --", "\\'; DELETE FROM kv; -- ", "$1", "$2 $1 $",
                "%_", "\"q\"", "`t`", "\xc3\xa9'", "\xf0\x9f\x98\x80'\\", NULL,
        };
        StoreTx *tx;
        size_t n = 0;
        CHECK_OK(store_begin(s, &tx));
        for (const char *const *t = tricky; *t; t++, n++) {
                _cleanup_json_ json_t *v = json_string(*t), *got = NULL;
                char key[16];
                snprintf(key, sizeof key, "k%zu", n);
                CHECK_OK(store_kv_put(tx, *t, key, v, 0, T0));
                CHECK_OK(store_kv_put(tx, "lit", *t, v, 0, T0));
                ok(store_kv_get(tx, *t, key, T0, &got) == 0 && json_equal(got, v), "a namespace %s round-trips", *t);
                json_decref(got);
                got = NULL;
                ok(store_kv_get(tx, "lit", *t, T0, &got) == 0 && json_equal(got, v), "a key %s round-trips", *t);
        }
        _cleanup_json_ json_t *keys = NULL;
        is_int(store_kv_list(tx, "lit", T0, &keys), 0, "list the keys");
        is_int((int) json_array_size(keys), (int) n, "each key is one row, nothing else happened");
        CHECK_OK(store_commit(tx));

        /* A lead byte that a lenient reader could take as swallowing the quote after it. */
        static const char bad[] = "bad\xf0'; DELETE FROM kv; --";
        CHECK_OK(store_begin(s, &tx));
        int r = store_kv_put(tx, "lit", bad, json_true(), 0, T0);
        if (r >= 0)
                r = store_commit(tx);
        else
                store_rollback(tx);
        CHECK_OK(store_begin(s, &tx));
        _cleanup_json_ json_t *v = NULL;
        ok(r < 0 || (store_kv_get(tx, "lit", bad, T0, &v) == 0 && json_is_true(v)),
           "invalid UTF-8 is refused or stored as it is (%d)", r);
        size_t left = 0;
        for (const char *const *t = tricky; *t; t++) {
                _cleanup_json_ json_t *got = NULL;
                left += store_kv_get(tx, "lit", *t, T0, &got) == 0;
        }
        is_int((int) left, (int) n, "... and never run: every other key is still there");
        CHECK_OK(store_commit(tx));
}

void test_services(Store *s) {
        StoreTx *tx;
        StoreService *l = NULL;
        size_t n = 0;

        CHECK_OK(store_begin(s, &tx));
        StoreService a = { .id = "svc-a", .component = "worker", .host = "h1", .pid = 42, .state = "RUNNING",
                           .started = T0, .heartbeat = T0 };
        StoreService b = { .id = "svc-b", .component = "executor", .host = "h2", .pid = 7, .state = "RUNNING",
                           .started = T0, .heartbeat = T0 };
        CHECK_OK(store_service_put(tx, &a));
        CHECK_OK(store_service_put(tx, &b));
        is_int(store_service_heartbeat(tx, "svc-a", NULL, T0 + 30 * USEC_PER_SEC), 0, "heartbeat");
        is_int(store_service_list(tx, T0 + 20 * USEC_PER_SEC, &l, &n), 0, "list silent services");
        is_int(n, 1, "one service is silent");
        if (n == 1)
                is_str(l[0].id, "svc-b", "the silent one");
        store_services_free(l, n);
        is_int(store_service_list(tx, 0, &l, &n), 0, "list all services");
        is_int(n, 2, "two services");
        if (n == 2)
                is_int(l[1].pid, 42, "pid round-trips");
        store_services_free(l, n);
        is_int(store_service_delete(tx, "svc-b"), 0, "delete a dead service");
        is_int(store_service_heartbeat(tx, "svc-b", "RUNNING", T0), -ENOENT, "a removed service's heartbeat fails");
        CHECK_OK(store_commit(tx));
}
