/* test-flow: loading flows into the model; every bad flow fixture gives exactly its expected diagnostics. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "flow.h"
#include "strbuf.h"
#include "strutil.h"
#include "tap.h"

static const char *source_root(void) {
        const char *s = getenv("TERN_SOURCE_ROOT");
        return s ? s : ".";
}

static char *read_file(const char *path) {
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0)
                strbuf_append_n(&sb, buf, n);
        fclose(f);
        return strbuf_steal(&sb);
}

/* Each fixture ends with "# expect: LINE:COL: message-prefix" lines: the diagnostics must be
 * exactly those, in that order. */
static void test_invalid_fixture(const char *dir, const char *name) {
        _cleanup_free_ char *path = strjoin(dir, "/", name);
        _cleanup_free_ char *text = read_file(path);
        _cleanup_flow_diagnostics_ FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
        _cleanup_flow_ Flow *f = NULL;
        _cleanup_strv_free_ char **expect = NULL;

        if (!ok(text, "%s: readable", name))
                return;
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
                const char *e = startswith(line, "# expect: ");
                if (e)
                        strv_extend(&expect, e);
        }
        free(text);
        text = NULL;
        ok(strv_length(expect) > 0, "%s: has expectations", name);

        int r = flow_load_file(path, &f, &diags);
        is_int(r, FLOW_INVALID, name);
        ok(!f, "%s: no flow returned", name);
        if (!is_int(diags.n, strv_length(expect), "number of diagnostics")) {
                for (size_t i = 0; i < diags.n; i++)
                        diag("  got %u:%u: %s", diags.items[i].line, diags.items[i].column, diags.items[i].message);
        }
        for (size_t i = 0; expect && expect[i]; i++) {
                bool found = false;
                for (size_t j = 0; j < diags.n && !found; j++) {
                        _cleanup_free_ char *got = strdup_printf("%u:%u: %s", diags.items[j].line,
                                                                 diags.items[j].column, diags.items[j].message);
                        found = got && startswith(got, expect[i]);
                }
                if (!ok(found, "%s: %s", name, expect[i]))
                        for (size_t j = 0; j < diags.n; j++)
                                diag("  got %u:%u: %s", diags.items[j].line, diags.items[j].column,
                                     diags.items[j].message);
                ok(!diags.items[0].file || streq(diags.items[0].file, path), "diagnostic names the file");
        }
}

static void test_invalid_fixtures(void) {
        _cleanup_free_ char *dir = strjoin(source_root(), "/tests/flows/invalid");
        DIR *d = opendir(dir);
        _cleanup_strv_free_ char **names = NULL;
        struct dirent *de;

        if (!ok(d, "open %s", dir))
                return;
        while ((de = readdir(d)))
                if (endswith(de->d_name, ".yaml"))
                        strv_extend(&names, de->d_name);
        closedir(d);
        ok(strv_length(names) >= 10, "at least 10 invalid fixtures");
        for (char **n = names; n && *n; n++)
                test_invalid_fixture(dir, *n);
}

/* CPU time, not wall time: the test machine may be busy with other work. */
static double elapsed(struct timespec *a) {
        struct timespec b;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
        return (b.tv_sec - a->tv_sec) + (b.tv_nsec - a->tv_nsec) / 1e9;
}

static void expect_refused(const char *name, const char *text, size_t len, const char *message) {
        _cleanup_flow_diagnostics_ FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
        _cleanup_flow_ Flow *f = NULL;
        struct timespec t0;

        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
        int r = flow_load_string(text, len, name, &f, &diags);
        double secs = elapsed(&t0);
        is_int(r, FLOW_INVALID, name);
        ok(diags.n == 1 && strstr(diags.items[0].message, message), "%s: says '%s' (got '%s')", name, message,
           diags.n ? diags.items[0].message : "nothing");
        ok(secs < 1.0, "%s: refused quickly (%.3fs)", name, secs);
}

static void test_hostile(void) {
        /* Billion laughs: each level ten aliases of the previous one. */
        _cleanup_strbuf_ StrBuf bomb = STRBUF_INIT;
        strbuf_append(&bomb, "id: bomb\nnamespace: t\nl0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for (int i = 1; i < 15; i++) {
                strbuf_appendf(&bomb, "l%d: &l%d [", i, i);
                for (int j = 0; j < 10; j++)
                        strbuf_appendf(&bomb, "%s*l%d", j ? ", " : "", i - 1);
                strbuf_append(&bomb, "]\n");
        }
        strbuf_append(&bomb, "tasks: []\n");
        expect_refused("alias-bomb", strbuf_str(&bomb), bomb.len, "YAML bomb");

        /* 10,000 nested flow sequences, and block maps nested the same way. */
        size_t n = 10000;
        _cleanup_free_ char *deep = malloc(2 * n + 1);
        memset(deep, '[', n);
        memset(deep + n, ']', n);
        deep[2 * n] = 0;
        expect_refused("deep-flow", deep, 2 * n, "nesting deeper than 256");

        _cleanup_strbuf_ StrBuf deep_block = STRBUF_INIT;
        for (int i = 0; i < 2000; i++) {
                strbuf_append_repeat(&deep_block, ' ', (size_t) i);
                strbuf_append(&deep_block, "a:\n");
        }
        expect_refused("deep-block", strbuf_str(&deep_block), deep_block.len, "nesting deeper than 256");

        /* Recursive alias: refused, not expanded forever. */
        const char *rec = "id: r\nnamespace: t\ntasks: &a [*a]\n";
        expect_refused("recursive-alias", rec, strlen(rec), "recursive alias");

        /* A 100 MB file is refused from its size, without reading it. */
        char path[] = "/tmp/test-flow-huge-XXXXXX";
        int fd = mkostemp(path, O_CLOEXEC);
        if (ok(fd >= 0, "temporary file")) {
                ok(ftruncate(fd, 100 * 1024 * 1024) == 0, "100 MB sparse file");
                close(fd);
                _cleanup_flow_diagnostics_ FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
                _cleanup_flow_ Flow *f = NULL;
                struct timespec t0;
                clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
                int r = flow_load_file(path, &f, &diags);
                is_int(r, FLOW_INVALID, "huge file refused");
                ok(diags.n == 1 && strstr(diags.items[0].message, "file too large"), "huge file: says too large");
                ok(diags.n == 1 && diags.items[0].line == 1 && diags.items[0].column == 1, "huge file: at 1:1");
                ok(elapsed(&t0) < 0.5, "huge file refused quickly");
                unlink(path);
        }

        /* The default cap on tasks per flow; the parser's own scale is tested above it. */
        is_int(flow_max_tasks(), FLOW_TASKS_MAX_DEFAULT, "tasks per flow are capped at 10,000 by default");
        flow_set_max_tasks(100000);

        /* Big but legal: 20,000 tasks, anchors, aliases and Dag dependencies load in linear time. */
        _cleanup_strbuf_ StrBuf big = STRBUF_INIT;
        strbuf_append(&big, "id: big\nnamespace: t\nvariables:\n");
        for (int i = 0; i < 20000; i++)
                strbuf_appendf(&big, "  v%d: &a%d x\n  w%d: *a%d\n", i, i, i, i);
        strbuf_append(&big, "tasks:\n  - id: dag\n    type: Dag\n    tasks:\n");
        for (int i = 0; i < 20000; i++) {
                strbuf_appendf(&big, "      - task: {id: t%d, type: Return}\n", i);
                if (i > 0)
                        strbuf_appendf(&big, "        dependsOn: [t%d]\n", i - 1);
        }
        for (int i = 0; i < 20000; i++)
                strbuf_appendf(&big, "  - id: u%d\n    type: Return\n", i);
        struct timespec t0;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
        {
                _cleanup_flow_diagnostics_ FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
                _cleanup_flow_ Flow *bf = NULL;
                is_int(flow_load_string(strbuf_str(&big), big.len, NULL, &bf, &diags), 0, "big flow loads");
                ok(bf && bf->n_tasks == 20001, "big flow has all its tasks");
                ok(bf && flow_find_task(bf, "t19999") && flow_find_task(bf, "u19999"), "last tasks found");
        }
        ok(elapsed(&t0) < 3.0, "big flow loads quickly (%.2fs)", elapsed(&t0));

        /* The same id 20,000 times: every duplicate is found, the list is capped, time stays linear. */
        strbuf_truncate(&big, 0);
        strbuf_append(&big, "id: dups\nnamespace: t\ntasks:\n");
        for (int i = 0; i < 20000; i++)
                strbuf_append(&big, "  - {id: same, type: Return}\n");
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
        {
                _cleanup_flow_diagnostics_ FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
                _cleanup_flow_ Flow *bf = NULL;
                is_int(flow_load_string(strbuf_str(&big), big.len, NULL, &bf, &diags), FLOW_INVALID, "duplicates refused");
                ok(diags.n == FLOW_DIAGNOSTICS_MAX && diags.n_dropped == 19999 - FLOW_DIAGNOSTICS_MAX,
                   "diagnostics capped (%zu shown, %zu dropped)", diags.n, diags.n_dropped);
        }
        ok(elapsed(&t0) < 3.0, "duplicates found quickly (%.2fs)", elapsed(&t0));
        flow_set_max_tasks(0); /* back to the default */

        /* A file that cannot be read is an error code, not a diagnostic. */
        _cleanup_flow_ Flow *f = NULL;
        is_int(flow_load_file("/nonexistent/flow.yaml", &f, NULL), -ENOENT, "missing file is -ENOENT");
}

static void test_model(void) {
        _cleanup_free_ char *path = strjoin(source_root(), "/tests/flows/valid/model.yaml");
        _cleanup_flow_diagnostics_ FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
        _cleanup_flow_ Flow *f = NULL;
        const Task *t;
        const TaskBranch *b;

        int r = flow_load_file(path, &f, &diags);
        if (!is_int(r, 0, "model.yaml loads")) {
                flow_diagnostics_print(&diags, stdout);
                return;
        }
        is_str(f->id, "model", "flow id");
        is_str(f->namespace, "tern.tests.model", "namespace");
        is_int(f->revision, 3, "revision");
        is_str(f->description, "everything at once", "description");
        ok(f->source && strstr(f->source, "# A flow that uses most"), "verbatim source kept");
        is_str(json_string_value(json_object_get(f->labels, "team")), "data", "labels from the list form");
        is_str(json_string_value(json_object_get(f->labels, "tier")), "1", "label values are strings");
        is_int(json_integer_value(json_object_get(f->variables, "number")), 42, "plain 42 is an integer");
        is_str(json_string_value(json_object_get(f->variables, "quoted")), "42", "quoted 42 is a string");
        is_str(json_string_value(json_object_get(f->variables, "greeting")), "Hello {{ inputs.who }}", "anchor value");

        is_int(f->n_inputs, 4, "4 inputs");
        const FlowInput *in = flow_find_input(f, "count");
        ok(in && in->type == FLOW_INPUT_INT && in->required, "old 'name' key, INT, required by default");
        in = flow_find_input(f, "when");
        ok(in && !in->required && in->type == FLOW_INPUT_DATETIME, "optional DATETIME input");
        in = flow_find_input(f, "color");
        ok(in && in->type == FLOW_INPUT_ENUM && json_array_size(in->values) == 2, "SELECT is ENUM with values");

        is_int(f->n_tasks, 8, "8 top-level tasks");
        t = flow_find_task(f, "hello");
        ok(t && t->def && streq(t->def->name, "Log") && t->def->role == TASK_ROLE_RUNNABLE, "short name Log");
        is_str(json_string_value(task_property(t, "message")), "Hello {{ inputs.who }}", "alias resolved in property");
        is_str(json_string_value(task_property(t, "level")), "WARN", "pluginDefaults level, not the registry's INFO");
        t = flow_find_task(f, "old");
        ok(t && t->def && streq(task_type_kestra_name(t->def), "io.kestra.plugin.core.debug.Return"), "old alias");
        is_str(t ? t->type : NULL, "io.kestra.core.tasks.debugs.Return", "type kept as written");

        t = flow_find_task(f, "each");
        ok(t && t->def->role == TASK_ROLE_FLOWABLE, "ForEach is flowable");
        is_str(json_string_value(task_property(t, "concurrencyLimit")), "{{ inputs.count }}", "expression kept");
        ok(json_is_array(task_property(t, "values")), "values is a list");
        ok(!task_property(t, "tasks"), "child tasks are not properties");
        b = task_find_branch(t, "tasks", NULL);
        ok(b && b->n_tasks == 1, "ForEach tasks branch");
        b = task_find_branch(t, "errors", NULL);
        ok(b && b->n_tasks == 1 && streq(b->tasks[0]->id, "each-error"), "task-level errors branch");
        t = flow_find_task(f, "sw");
        ok(t && t->parent && streq(t->parent->id, "each"), "parent link");
        b = task_find_branch(t, "cases", "1");
        ok(b && b->n_tasks == 1 && streq(b->tasks[0]->id, "case-1"), "Switch case with an integer key");
        ok(task_find_branch(t, "cases", "a") && task_find_branch(t, "defaults", NULL), "case a and defaults");
        ok(flow_find_task(f, "default"), "find a task in Switch defaults");

        t = flow_find_task(f, "second");
        ok(t && t->depends_on && streq(t->depends_on[0], "first"), "Dag dependsOn");
        ok(t && t->parent && streq(t->parent->id, "dag"), "Dag child parent");

        t = flow_find_task(f, "sh");
        ok(t && t->retry && t->retry->type == RETRY_EXPONENTIAL, "exponential retry");
        ok(t && t->retry && t->retry->interval == (susec_t) USEC_PER_SEC && t->retry->max_interval == (susec_t) USEC_PER_MINUTE,
           "retry intervals");
        ok(t && t->retry && t->retry->delay_factor == 1.5 && t->retry->max_attempt == 4 && t->retry->warning_on_retry,
           "retry factor, attempts, warning");
        ok(t && t->timeout_usec == (susec_t) (5 * USEC_PER_MINUTE), "timeout parsed");
        ok(t && t->allow_failure && !t->disabled, "allowFailure / disabled");
        is_str(t ? t->worker_group : NULL, "gpu", "workerGroup key");
        ok(t && json_is_true(task_property(t, "warningOnStdErr")), "script default warningOnStdErr");
        ok(t && t->pos.line > 0 && t->pos.column == 5, "task position");

        t = flow_find_task(f, "fin");
        ok(t && json_array_size(task_property(t, "message")) == 2, "Log message as a list");
        is_int(f->n_finally, 1, "finally");
        is_int(f->n_after_execution, 1, "afterExecution");
        ok(flow_find_task(f, "after"), "find in afterExecution");
        ok(!flow_find_task(f, "nope"), "unknown task id");

        is_int(f->n_triggers, 1, "one trigger");
        ok(f->triggers[0].def && f->triggers[0].def->kind == TASK_TYPE_TRIGGER, "Schedule trigger");
        is_str(json_string_value(json_object_get(f->triggers[0].properties, "cron")), "0 * * * *", "cron property");
        is_str(json_string_value(json_object_get(f->triggers[0].properties, "timezone")), "Etc/UTC", "trigger default");
        is_int(json_array_size(f->triggers[0].conditions), 1, "trigger conditions kept");
        is_int(f->n_outputs, 1, "flow outputs");
        ok(f->concurrency.limit == 2 && f->concurrency.behavior == CONCURRENCY_FAIL, "concurrency");
        ok(f->retry && f->retry->type == RETRY_CONSTANT && f->retry->behavior == RETRY_BEHAVIOR_CREATE_NEW_EXECUTION,
           "flow retry");
        is_int(json_array_size(f->plugin_defaults), 1, "pluginDefaults");
        is_str(json_string_value(task_property(flow_find_task(f, "fin"), "level")), "WARN",
               "pluginDefaults fill a property the task does not set");
        is_str(json_string_value(task_property(flow_find_task(f, "each-error"), "level")), "WARN",
               "pluginDefaults apply at any depth");
        is_str(json_string_value(task_property(flow_find_task(f, "default"), "format")), "other",
               "pluginDefaults of another type do not apply");
}

static void test_strings(void) {
        static const struct {
                const char *name, *yaml;
                int expect;
                const char *message;
        } cases[] = {
                { "minimal", "id: a\nnamespace: b\ntasks:\n  - id: t\n    type: Return\n", 0, NULL },
                { "empty", "", FLOW_INVALID, "empty file" },
                { "comment only", "# nothing\n", FLOW_INVALID, "empty file" },
                { "scalar", "hello", FLOW_INVALID, "must be a map" },
                { "two documents", "id: a\n---\nid: b\n", FLOW_INVALID, "more than one YAML document" },
                { "taskDefaults old name", "id: a\nnamespace: b\ntaskDefaults: []\ntasks:\n  - id: t\n    type: Return\n", 0, NULL },
                { "expression as int", "id: a\nnamespace: b\ntasks:\n  - id: t\n    type: Parallel\n    concurrent: \"{{ 3 }}\"\n    tasks:\n      - id: u\n        type: Return\n", 0, NULL },
                { "quoted int coerced", "id: a\nnamespace: b\ntasks:\n  - id: t\n    type: Parallel\n    concurrent: \"3\"\n    tasks:\n      - id: u\n        type: Return\n", 0, NULL },
                { "empty child list", "id: a\nnamespace: b\ntasks:\n  - id: t\n    type: Sequential\n    tasks: []\n", FLOW_INVALID, "'tasks' of task 't' must not be empty" },
                { "optional child list may be empty", "id: a\nnamespace: b\ntasks:\n  - id: t\n    type: If\n    condition: x\n    then:\n      - {id: u, type: Return}\n    else: []\n", 0, NULL },
                { "tasks not a list", "id: a\nnamespace: b\ntasks: {}\n", FLOW_INVALID, "must be a list of tasks" },
                { "task without type", "id: a\nnamespace: b\ntasks:\n  - id: t\n", FLOW_INVALID, "without 'type'" },
                { "task without id", "id: a\nnamespace: b\ntasks:\n  - type: Return\n", FLOW_INVALID, "task without 'id'" },
                { "pluginDefaults supply a required property", "id: a\nnamespace: b\npluginDefaults:\n  - type: io.kestra.plugin.core.log\n    values:\n      message: hi\ntasks:\n  - id: t\n    type: Log\n", 0, NULL },
                { "pluginDefaults of another type do not", "id: a\nnamespace: b\npluginDefaults:\n  - type: io.kestra.plugin.core.debug.Return\n    values:\n      message: hi\ntasks:\n  - id: t\n    type: Log\n", FLOW_INVALID, "missing required property 'message'" },
                { "long id", "id: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nnamespace: b\ntasks:\n  - id: t\n    type: Return\n", FLOW_INVALID, "invalid flow id" },
                { "flow id with dots", "id: a.b_c-d\nnamespace: b\ntasks:\n  - id: t\n    type: Return\n", 0, NULL },
                { "non-scalar key", "id: a\nnamespace: b\n? [x]\n: y\ntasks:\n  - id: t\n    type: Return\n", FLOW_INVALID, "map key must be a scalar" },
                { "unknown alias", "id: a\nnamespace: b\ntasks: *nope\n", FLOW_INVALID, "unknown alias" },
                { "bad utf8", "id: \xff\n", FLOW_INVALID, "YAML syntax error" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_flow_diagnostics_ FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
                _cleanup_flow_ Flow *f = NULL;
                int r = flow_load_string(cases[i].yaml, strlen(cases[i].yaml), NULL, &f, &diags);
                is_int(r, cases[i].expect, cases[i].name);
                ok((r == 0) == (f != NULL), "%s: flow returned only when valid", cases[i].name);
                if (cases[i].message) {
                        bool found = false;
                        for (size_t j = 0; j < diags.n; j++)
                                found = found || strstr(diags.items[j].message, cases[i].message);
                        if (!ok(found, "%s: '%s'", cases[i].name, cases[i].message))
                                flow_diagnostics_print(&diags, stdout);
                }
        }
}

int main(void) {
        test_invalid_fixtures();
        test_hostile();
        test_model();
        test_strings();
        return tap_done();
}
