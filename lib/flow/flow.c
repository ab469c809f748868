/* flow.c: loading a flow (file or string) into the model, freeing it, and finding its parts. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flow-internal.h"
#include "strutil.h"

static void task_list_free(Task **tasks, size_t n) {
        for (size_t i = 0; i < n; i++)
                task_free(tasks[i]);
        free(tasks);
}

Flow *flow_free(Flow *f) {
        if (!f)
                return NULL;
        free(f->file);
        free(f->source);
        free(f->id);
        free(f->namespace);
        free(f->description);
        json_decref(f->labels);
        json_decref(f->variables);
        for (size_t i = 0; i < f->n_inputs; i++)
                flow_input_done(&f->inputs[i]);
        free(f->inputs);
        for (size_t i = 0; i < f->n_outputs; i++) {
                free(f->outputs[i].id);
                free(f->outputs[i].description);
                json_decref(f->outputs[i].value);
        }
        free(f->outputs);
        task_list_free(f->tasks, f->n_tasks);
        task_list_free(f->errors, f->n_errors);
        task_list_free(f->finally, f->n_finally);
        task_list_free(f->after_execution, f->n_after_execution);
        for (size_t i = 0; i < f->n_triggers; i++) {
                Trigger *t = &f->triggers[i];
                free(t->id);
                free(t->type);
                free(t->description);
                json_decref(t->conditions);
                json_decref(t->properties);
        }
        free(f->triggers);
        free(f->retry);
        json_decref(f->plugin_defaults);
        json_decref(f->sla);
        json_decref(f->checks);
        free(f->worker_group);
        free(f);
        return NULL;
}

static size_t max_tasks = FLOW_TASKS_MAX_DEFAULT;

void flow_set_max_tasks(size_t n) {
        max_tasks = n ? n : FLOW_TASKS_MAX_DEFAULT;
}

size_t flow_max_tasks(void) {
        return max_tasks;
}

int flow_load_string(const char *text, size_t len, const char *file, Flow **ret, FlowDiagnostics *diags) {
        _cleanup_flow_diagnostics_ FlowDiagnostics local = FLOW_DIAGNOSTICS_INIT;
        _cleanup_yaml_node_ YamlNode *root = NULL;
        _cleanup_flow_ Flow *f = NULL;
        int r;

        if (ret)
                *ret = NULL;
        if (!diags)
                diags = &local;
        r = yaml_tree_parse(text, len, file, NULL, diags, &root);
        if (r < 0)
                return r;
        if (r > 0) {
                flow_diagnostics_sort(diags);
                return FLOW_INVALID;
        }

        f = calloc(1, sizeof *f);
        if (!f)
                return -ENOMEM;
        f->source = strndup(text, len);
        if (!f->source || (file && !(f->file = strdup(file))))
                return -ENOMEM;

        FlowParser p = { .file = file, .diags = diags, .source = text, .source_len = len };
        (void) fp_parse_flow(&p, root, f);
        fp_check_expressions(&p, root);
        free(p.ids);
        if (p.error < 0)
                return p.error;
        if (diags->error < 0)
                return diags->error;
        if (p.invalid) {
                flow_diagnostics_sort(diags);
                return FLOW_INVALID;
        }
        if (ret)
                *ret = TAKE_PTR(f);
        return 0;
}

int flow_load_file(const char *path, Flow **ret, FlowDiagnostics *diags) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t len = 0, cap;

        if (ret)
                *ret = NULL;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        /* Refuse an oversized file before reading it; read at most one byte past the limit in
         * case it is not a regular file (a pipe) or grows meanwhile. */
        if (S_ISREG(st.st_mode) && (uint64_t) st.st_size > YAML_MAX_SIZE_DEFAULT) {
                flow_diagnostics_add(diags, path, 1, 1, "file too large (%jd bytes, the limit is %zu)",
                                     (intmax_t) st.st_size, YAML_MAX_SIZE_DEFAULT);
                return FLOW_INVALID;
        }
        cap = S_ISREG(st.st_mode) ? (size_t) st.st_size + 1 : 65536;
        buf = malloc(cap + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                if (len == cap) {
                        if (cap > YAML_MAX_SIZE_DEFAULT)
                                break;
                        size_t c = MIN(cap * 2, YAML_MAX_SIZE_DEFAULT + 1);
                        char *n = realloc(buf, c + 1);
                        if (!n)
                                return -ENOMEM;
                        buf = n;
                        cap = c;
                }
                ssize_t k = read(fd, buf + len, cap - len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        buf[len] = 0;
        /* yaml_tree_parse() reports the size limit itself. */
        return flow_load_string(buf, len, path, ret, diags);
}

static const Task *task_find_in(Task *const *tasks, size_t n, const char *id) {
        for (size_t i = 0; i < n; i++) {
                const Task *t = tasks[i];
                if (t->id && streq(t->id, id))
                        return t;
                for (size_t b = 0; b < t->n_branches; b++) {
                        const Task *found = task_find_in(t->branches[b].tasks, t->branches[b].n_tasks, id);
                        if (found)
                                return found;
                }
        }
        return NULL;
}

const Task *flow_find_task(const Flow *f, const char *id) {
        const Task *t;
        if (!f || !id)
                return NULL;
        if ((t = task_find_in(f->tasks, f->n_tasks, id)) || (t = task_find_in(f->errors, f->n_errors, id)) ||
            (t = task_find_in(f->finally, f->n_finally, id)) ||
            (t = task_find_in(f->after_execution, f->n_after_execution, id)))
                return t;
        return NULL;
}

const FlowInput *flow_find_input(const Flow *f, const char *id) {
        for (size_t i = 0; f && id && i < f->n_inputs; i++)
                if (f->inputs[i].id && streq(f->inputs[i].id, id))
                        return &f->inputs[i];
        return NULL;
}

const TaskBranch *task_find_branch(const Task *t, const char *name, const char *case_value) {
        for (size_t i = 0; t && i < t->n_branches; i++)
                if (streq(t->branches[i].name, name) && streq_ptr(t->branches[i].case_value, case_value))
                        return &t->branches[i];
        return NULL;
}

json_t *task_property(const Task *t, const char *name) {
        return t ? json_object_get(t->properties, name) : NULL;
}

FlowCheckBehavior flow_check_behavior(json_t *check) {
        const char *b = json_string_value(json_object_get(check, "behavior"));
        if (b && streq(b, "FAIL_EXECUTION"))
                return FLOW_CHECK_FAIL_EXECUTION;
        if (b && streq(b, "CREATE_EXECUTION"))
                return FLOW_CHECK_CREATE_EXECUTION;
        return FLOW_CHECK_BLOCK_EXECUTION;
}

const char *flow_check_when(json_t *check) {
        json_t *w = json_object_get(check, "when");
        return json_string_value(w ? w : json_object_get(check, "condition"));
}
