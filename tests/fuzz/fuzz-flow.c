/* fuzz-flow: libFuzzer target for the flow loader (YAML tree, model, validation, inputs); invariants trap. */
#include <stdio.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "flow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_tasks(Task *const *tasks, size_t n, const Flow *f) {
        for (size_t i = 0; i < n; i++) {
                const Task *t = tasks[i];
                /* A valid flow has every task typed and findable by its id. */
                if (!t->id || !t->def || flow_find_task(f, t->id) != t)
                        __builtin_trap();
                for (size_t b = 0; b < t->n_branches; b++)
                        check_tasks(t->branches[b].tasks, t->branches[b].n_tasks, f);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_flow_diagnostics_ FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
        _cleanup_flow_ Flow *f = NULL;

        int r = flow_load_string((const char *) data, size, "fuzz.yaml", &f, &diags);
        if (r == FLOW_INVALID) {
                /* Refused input always says why, with a position for all but whole-file problems. */
                if (diags.n == 0 || f)
                        __builtin_trap();
                return 0;
        }
        if (r < 0)
                return 0;
        if (!f || diags.n != 0 || f->n_tasks == 0 || !f->id || !f->namespace)
                __builtin_trap();
        check_tasks(f->tasks, f->n_tasks, f);
        check_tasks(f->errors, f->n_errors, f);
        check_tasks(f->finally, f->n_finally, f);

        /* Resolving inputs with every value supplied as the same string must not crash. */
        _cleanup_json_ json_t *supplied = json_object(), *resolved = NULL;
        _cleanup_free_ char *error = NULL;
        for (size_t i = 0; supplied && i < f->n_inputs; i++)
                json_object_set_new(supplied, f->inputs[i].id, json_string("1"));
        r = flow_inputs_resolve(f, supplied, &resolved, &error);
        if (r == -EINVAL && !error)
                __builtin_trap();
        return 0;
}
