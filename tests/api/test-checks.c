/* test-checks.c: a flow's checks, evaluated by the one create path (api_execution_create) on a real
 * store: BLOCK_EXECUTION refuses with Kestra's message, FAIL_EXECUTION creates a FAILED execution
 * that says why, CREATE_EXECUTION creates it as usual; the most restrictive failed check wins. */
#include "api.h"
#include "cleanup-jansson.h"
#include "execution-create.h"
#include "store-test.h"

static StoreTestEnv env;
static Store *store;

static Flow *load(const char *yaml) {
        Flow *f = NULL;
        FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
        if (flow_load_string(yaml, strlen(yaml), "checks.yaml", &f, &diags) != 0) {
                flow_diagnostics_print(&diags, stdout);
                f = NULL;
        }
        flow_diagnostics_done(&diags);
        return f;
}

typedef struct Create {
        const Flow *f;
        json_t *inputs;
        json_t *doc;
        char *error;
} Create;

static int create_tx(StoreTx *tx, void *userdata) {
        Create *c = userdata;
        ApiExecutionNew n = { .inputs = c->inputs };
        json_decref(c->doc);
        c->doc = NULL;
        free(c->error);
        c->error = NULL;
        return api_execution_create(tx, c->f, &n, now_realtime(), &c->doc, &c->error);
}

static int create(const Flow *f, const char *name, Create *c) {
        *c = (Create) { .f = f, .inputs = json_pack("{s:s}", "name", name) };
        return store_transact(store, create_tx, c);
}

static void create_done(Create *c) {
        json_decref(c->inputs);
        json_decref(c->doc);
        free(c->error);
}

#define CHECKS_FLOW(behavior2)                                                                                     \
        "id: guarded\nnamespace: tern.tests\ninputs:\n  - id: name\n    type: STRING\n"                           \
        "checks:\n  - message: \"Sorry, this flow can only be executed with 'Kestra'\"\n"                          \
        "    when: \"{{ (inputs.name | upper) == 'KESTRA' }}\"\n    style: ERROR\n    behavior: BLOCK_EXECUTION\n" \
        "  - message: Not approved\n    condition: \"{{ inputs.name != 'unapproved' }}\"\n    style: WARNING\n"     \
        "    behavior: " behavior2 "\n"                                                                               \
        "tasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"

int main(int argc, char *argv[]) {
        store_test_setup(argc > 1 ? argv[1] : "sqlite", &env);
        if (store_open(env.url, &store) < 0 || store_migrate(store) < 0) {
                printf("Bail out! cannot open %s: %s\n", env.url, store ? store_error(store) : "");
                store_test_teardown(&env);
                return EXIT_FAILURE;
        }
        _cleanup_(flow_freep) Flow *f = load(CHECKS_FLOW("FAIL_EXECUTION"));
        Create c;
        ok(f != NULL, "a flow with checks loads");

        int r = create(f, "kestra", &c);
        ok(r == 0 && api_execution_state(c.doc) == STATE_CREATED, "checks that hold: the execution is created");
        create_done(&c);

        r = create(f, "other", &c);
        is_int(r, -EINVAL, "a failed BLOCK_EXECUTION check: no execution");
        is_str(c.error,
               "Flow execution blocked: one or more condition checks evaluated to false.\n"
               "Failed checks: Sorry, this flow can only be executed with 'Kestra'",
               "Kestra's message, with the check's");
        create_done(&c);

        _cleanup_(flow_freep) Flow *g = load(
                "id: fail\nnamespace: tern.tests\ninputs:\n  - id: name\n    type: STRING\n"
                "checks:\n  - message: Not approved\n    when: \"{{ inputs.name != 'unapproved' }}\"\n    behavior: FAIL_EXECUTION\n"
                "  - message: Just a warning\n    when: \"{{ false }}\"\n    behavior: CREATE_EXECUTION\n"
                "tasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n");
        r = create(g, "unapproved", &c);
        ok(r == 0 && api_execution_state(c.doc) == STATE_FAILED,
           "a failed FAIL_EXECUTION check (with a CREATE_EXECUTION one): created FAILED");
        const char *id = json_string_value(json_object_get(c.doc, "id"));
        _cleanup_json_ json_t *logs = id ? api_execution_logs_json(store, id, STORE_LOG_TRACE) : NULL;
        const char *msg = json_string_value(json_object_get(json_array_get(logs, 0), "message"));
        ok(msg && strstr(msg, "Flow execution failed because one or more condition checks evaluated to false") &&
                   strstr(msg, "Not approved, Just a warning"),
           "its log says why, naming the failed checks (%s)", strna(msg));
        is_str(json_string_value(json_object_get(json_array_get(logs, 0), "level")), "WARN", "as a WARN line");
        create_done(&c);

        r = create(g, "fine", &c);
        ok(r == 0 && api_execution_state(c.doc) == STATE_CREATED, "only a failed CREATE_EXECUTION check: created as usual");
        create_done(&c);

        _cleanup_(flow_freep) Flow *h = load(
                "id: broken\nnamespace: tern.tests\n"
                "checks:\n  - message: Broken gate\n    when: \"{{ undefined_variable.x }}\"\n    behavior: CREATE_EXECUTION\n"
                "  - message: Text is not a boolean\n    when: \"true\"\n    behavior: CREATE_EXECUTION\n"
                "tasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n");
        r = create(h, "x", &c);
        ok(r == -EINVAL && c.error && strstr(c.error, "Broken gate"),
           "a check that cannot be evaluated blocks, whatever its behavior");
        create_done(&c);

        /* Validation */
        Flow *bad = NULL;
        FlowDiagnostics d = FLOW_DIAGNOSTICS_INIT;
        const char *yaml = "id: bad\nnamespace: t\nchecks:\n  - message: m\n    behavior: BLOCK\n"
                           "tasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: x\n";
        r = flow_load_string(yaml, strlen(yaml), "bad.yaml", &bad, &d);
        ok(r == FLOW_INVALID && d.n == 2, "a check without 'when' and with an unknown behavior is refused");
        flow_diagnostics_done(&d);

        store_free(store);
        store_test_teardown(&env);
        return tap_done();
}
