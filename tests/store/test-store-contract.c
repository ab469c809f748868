/* test-store-contract.c: the store's contract suite, run once per backend (argv[1]: sqlite | postgres | mysql).
 * The shared fixtures and main() are here; the tests are in store-contract-*.c by concern. */
#include "store-contract.h"

static StoreTestEnv env;

Store *open_store(void) {
        Store *s = NULL;
        int r = store_open(env.url, &s);
        if (r < 0) {
                printf("Bail out! store_open(%s): %s: %s\n", env.url, strerror(-r), store_error(s));
                exit(EXIT_FAILURE);
        }
        return s;
}

json_t *make_doc(const char *id, const char *ns, const char *flow, const char *state, const char *date) {
        return json_pack("{s:s, s:s, s:s, s:i, s:{s:s, s:[{s:s, s:s}]}, s:[{s:s, s:s}], s:i, s:[]}", "id", id,
                         "namespace", ns, "flowId", flow, "flowRevision", 1, "state", "current", state, "histories",
                         "state", state, "date", date, "labels", "key", "team", "value", "data", "applied", 0,
                         "taskRunList");
}

static usec_t date_of(json_t *history) {
        usec_t t = 0;
        const char *d = json_string_value(json_object_get(history, "date"));
        return d && timestamp_parse(d, 0, &t) >= 0 ? t : 0;
}

const StoreExecutionMeta *meta_of(json_t *doc, TestMeta *t) {
        static const char *const ended[] = { "SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED" };
        json_t *state = json_object_get(doc, "state"), *histories = json_object_get(state, "histories");
        json_t *list = json_object_get(doc, "taskRunList");
        const char *current = json_string_value(json_object_get(state, "current"));
        t->m = (StoreExecutionMeta) {
                .id = json_string_value(json_object_get(doc, "id")),
                .namespace = json_string_value(json_object_get(doc, "namespace")),
                .flow_id = json_string_value(json_object_get(doc, "flowId")),
                .flow_revision = (int) json_integer_value(json_object_get(doc, "flowRevision")),
                .state = current,
                .created = date_of(json_array_get(histories, 0)),
                .labels = json_object_get(doc, "labels"),
                .task_runs = t->tr,
                .n_task_runs = MIN(json_array_size(list), ELEMENTSOF(t->tr)),
        };
        for (size_t i = 0; i < ELEMENTSOF(ended); i++)
                if (streq_ptr(current, ended[i]))
                        t->m.ended = date_of(json_array_get(histories, json_array_size(histories) - 1));
        for (size_t i = 0; i < t->m.n_task_runs; i++) {
                json_t *tr = json_array_get(list, i);
                t->tr[i] = (StoreTaskRunMeta) { json_string_value(json_object_get(tr, "id")),
                                                json_string_value(json_object_get(json_object_get(tr, "state"), "current")) };
        }
        return &t->m;
}

/* ---- schema ---- */

static void *migrate_thread(void *arg) {
        Store *s = arg;
        return (void *) (intptr_t) store_migrate(s);
}

static void test_schema(Store *s) {
        int v = -1;
        is_int(store_check_schema(s, &v), -EPROTO, "an empty database is refused");
        is_int(v, 0, "an empty database has schema version 0");
        ok(strstr(store_error(s), "tern db migrate") != NULL, "the refusal says to run 'tern db migrate': %s",
           store_error(s));

        /* Two migrators at once: exactly one applies the migrations, the other finds them done. */
        _cleanup_store_ Store *s2 = NULL;
        is_int(store_dup(s, &s2), 0, "store_dup");
        pthread_t t1, t2;
        void *r1, *r2;
        pthread_create(&t1, NULL, migrate_thread, s);
        pthread_create(&t2, NULL, migrate_thread, s2);
        pthread_join(t1, &r1);
        pthread_join(t2, &r2);
        int a = (int) (intptr_t) r1, b = (int) (intptr_t) r2;
        ok(a >= 0 && b >= 0, "concurrent migrations both succeed (%d, %d)", a, b);
        is_int(a + b, store_schema_version_expected(store_backend(s)), "the migrations were applied once");
        is_int(store_migrate(s), 0, "migrating again applies nothing");
        is_int(store_check_schema(s, &v), 0, "the schema is accepted after migrating");
        is_int(v, store_schema_version_expected(store_backend(s)), "schema version is the expected one");
}

static void test_open_errors(void) {
        Store *s = NULL;
        is_int(store_open("oracle://x", &s), -EINVAL, "an unknown URL scheme is refused");
        store_free(s);
        s = NULL;
        is_int(store_open("sqlite:", &s), -EINVAL, "an empty sqlite path is refused");
        store_free(s);

        /* A MySQL URL that cannot be right is refused before connecting, saying why. */
        static const struct {
                const char *url, *says;
        } bad[] = {
                { "mysql://tern@localhost", "names no database" },
                { "mariadb://tern@db.example:99999/tern", "'99999' is not a port number" },
                { "mysql://tern@localhost/tern?sslmode=require", "unknown option 'sslmode'" },
                { "mysql://tern@localhost/tern?poll-max=fast", "'fast' is not a duration" },
                { "mysql://tern@localhost/tern?socket", "option 'socket' has no value" },
                { "mysql://tern:%zz@localhost/tern", "escape is not two hexadecimal digits" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                s = NULL;
                int r = store_open(bad[i].url, &s);
                ok(r == -EINVAL, "'%s' is refused (%d)", bad[i].url, r);
                ok(s && strstr(store_error(s), bad[i].says), "saying '%s': %s", bad[i].says, store_error(s));
                store_free(s);
        }
}

/* What a MySQL user sees when the server is not there, refuses the credentials or lacks the
 * database. url is a working mysql://USER:PASSWORD@HOST:PORT/DATABASE. */
static void test_mysql_connect_errors(const char *url) {
        char user[128], pass[128], host[256], db[128], u[1024];
        unsigned port;
        Store *s = NULL;
        if (sscanf(url, "mysql://%127[^:@]:%127[^@]@%255[^:/]:%u/%127s", user, pass, host, &port, db) != 5) {
                ok(false, "cannot take apart '%s'", url);
                return;
        }
        /* A port nobody listens on: a socket bound and closed again. */
        snprintf(u, sizeof u, "mysql://%s:%s@%s:1/%s?connect-timeout=2s", user, pass, host, db);
        is_int(store_open(u, &s), -ECONNREFUSED, "no server: connection refused");
        ok(s && strstr(store_error(s), "connect"), "saying so: %s", store_error(s));
        s = store_free(s);
        snprintf(u, sizeof u, "mysql://%s:wrong-%s@%s:%u/%s", user, pass, host, port, db);
        is_int(store_open(u, &s), -EACCES, "a wrong password is refused");
        ok(s && strstr(store_error(s), "Access denied"), "saying so: %s", store_error(s));
        s = store_free(s);
        snprintf(u, sizeof u, "mysql://%s:%s@%s:%u/%s_missing", user, pass, host, port, db);
        is_int(store_open(u, &s), -ENOENT, "a missing database is reported");
        ok(s && strstr(store_error(s), "Unknown database"), "saying so: %s", store_error(s));
        s = store_free(s);
        /* The password may come from the options (tern.conf's password-file does it this way). */
        snprintf(u, sizeof u, "mariadb://%s@%s:%u/%s?password=%s&poll_min=5ms", user, host, port, db, pass);
        is_int(store_open(u, &s), 0, "mariadb:// with the password as an option");
        s = store_free(s);
}

int main(int argc, char *argv[]) {
        const char *backend = argc > 1 ? argv[1] : "sqlite";

        test_open_errors();
        store_test_setup(backend, &env);
        diag("store URL: %s", env.url);
        if (streq(backend, "mysql"))
                test_mysql_connect_errors(env.url);
        _cleanup_store_ Store *s = open_store();

        test_schema(s);
        test_flows(s);
        test_executions(s);
        test_task_runs(s);
        test_get_after(s);
        test_meta(s);
        test_claim_and_outbox(s);
        test_serialization(s);
        if (store_backend(s) != STORE_BACKEND_SQLITE)
                test_skip_locked(s);
        /* Before the job tests: its hundreds of jobs (deleted since) change the tables'
         * statistics, and the job claims below must take what they ask for whatever plan that
         * gives (a claim once took 11 jobs of 4 after it). */
        test_deferred(s);
        test_deferred_events(s);
        test_flush_refused(s);
        test_jobs(s);
        test_cancel(s);
        test_pinned(s);
        test_claim_race(s);
        test_requeue_race(s);
        test_complete_many(s);
        test_claim_in_tx(s);
        test_plans(s);
        test_wakeups(s);
        if (store_backend(s) != STORE_BACKEND_SQLITE)
                test_wakeups_other_process(s);
        test_logs(s);
        test_metrics(s);
        test_metrics_batch(s);
        test_triggers(s);
        test_kv(s);
        test_literals(s);
        test_services(s);
        test_purge(s);
        test_queue_offsets(s);

        s = store_free(s);
        store_test_teardown(&env);
        return tap_done();
}
