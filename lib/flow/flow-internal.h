/* flow-internal.h: what the flow loader's files share: the parse context and its helpers. */
#pragma once

#include "flow.h"
#include "yaml-tree.h"

typedef struct FlowIdRef {
        const char *id; /* borrowed from the Task */
        FlowPos pos;
        size_t order;
} FlowIdRef;

typedef struct FlowParser {
        const char *file;
        const char *source; /* the flow's text, to find positions inside its scalars */
        size_t source_len;
        FlowDiagnostics *diags;
        bool invalid;
        size_t n_errors; /* reported so far, to tell whether one part had problems */
        int error;    /* first system error (-ENOMEM) */
        FlowIdRef *ids; /* every task id, for the duplicate check */
        const YamlNode *plugin_defaults; /* the flow's pluginDefaults list, applied to each task */
        size_t n_ids, ids_cap;
} FlowParser;

static inline FlowPos flow_pos(const YamlNode *n) {
        return n ? (FlowPos) { n->line, n->column } : (FlowPos) { 0, 0 };
}

void fp_error(FlowParser *p, const YamlNode *at, const char *fmt, ...) _printf_(3, 4);
void fp_error_at(FlowParser *p, FlowPos pos, const char *fmt, ...) _printf_(3, 4);
void fp_oom(FlowParser *p);
/* The scalar's text duplicated, or NULL (after reporting) when n is not a scalar. */
char *fp_strdup_scalar(FlowParser *p, const YamlNode *n, const char *what);
bool fp_is_expression(const YamlNode *n);
/* Report a key not in allowed (NULL-terminated), with a did-you-mean hint. */
void fp_unknown_key(FlowParser *p, const YamlNode *key, const char *where, const char *const *allowed);
/* The properties of Kestra's HTTP types (http.Request, http.Download, http.Trigger) this build cannot
 * honour, refused rather than accepted and ignored: encryptBody unless false, and any sslOptions but
 * insecureTrustAllCertificates. n: the task's or trigger's map; props: its properties; what: "task 'x'
 * (http.Request)". Types without HTTP properties are left alone. */
void fp_check_http_properties(FlowParser *p, const YamlNode *n, const TaskType *def, json_t *props, const char *what);
/* Check that value fits a property kind; reports problems. Returns true when it fits. */
bool fp_check_value(FlowParser *p, const YamlNode *value, const TaskProperty *prop, const char *where);
int fp_parse_duration(FlowParser *p, const YamlNode *n, const char *what, susec_t *ret);
bool fp_check_bool(FlowParser *p, const YamlNode *n, const char *what, bool *ret);
bool fp_check_int(FlowParser *p, const YamlNode *n, const char *what, int64_t *ret);
json_t *fp_to_json(FlowParser *p, const YamlNode *n);

/* flow-task.c */
Task *task_free(Task *t);
int fp_parse_task_list(FlowParser *p, const YamlNode *n, Task *parent, const char *what, Task ***ret, size_t *n_ret);
Retry *fp_parse_retry(FlowParser *p, const YamlNode *n);
int fp_parse_conditions(FlowParser *p, const YamlNode *n, const char *what);
int fp_parse_condition(FlowParser *p, const YamlNode *n, const char *what);
void fp_check_duplicate_ids(FlowParser *p);

/* flow-inputs.c */
void flow_input_done(FlowInput *in);
int fp_parse_inputs(FlowParser *p, const YamlNode *n, FlowInput **ret, size_t *n_ret);

/* flow-expr.c: the flow's expressions name only filters, functions, tests and tags that exist. */
void fp_check_expressions(FlowParser *p, const YamlNode *root);

/* flow-parse.c */
int fp_parse_flow(FlowParser *p, const YamlNode *root, Flow *f);

/* The keys every task accepts (flowable: those flowable tasks add) and those of an input, for
 * flow_language_keys(). */
const char *const *fp_task_keys(bool flowable);
const char *const *fp_input_keys(void);
