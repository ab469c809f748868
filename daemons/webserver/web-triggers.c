/* web-triggers.c: the triggers API (Kestra's /api/v1/triggers): listing, enable/disable, unlock, backfills. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup-jansson.h"
#include "flow-cache.h"
#include "flow.h"
#include "strutil.h"
#include "timeutil.h"
#include "triggers.h"
#include "web-internal.h"

/* ---- JSON of a trigger row ----------------------------------------------------------------- */

static json_t *date_json(usec_t t) {
        char buf[TIMESTAMP_MAX];
        return t ? json_string(timestamp_format(buf, t)) : json_null();
}

/* The state as `tern trigger list` names it. */
static const char *trigger_state(const StoreTrigger *t) {
        if (t->disabled)
                return json_object_get(t->state, "stoppedAfter") ? "stopped" : "disabled";
        return json_object_get(t->state, "backfill") ? "backfill" : "enabled";
}

/* The backfill kept in the row's state (dates in microseconds) in Kestra's shape. */
static json_t *backfill_json(json_t *b) {
        json_t *j = json_object();
        if (!j)
                return NULL;
        static const struct {
                const char *from, *to;
        } dates[] = { { "start", "start" }, { "end", "end" }, { "next", "currentDate" }, { "created", "createdDate" } };
        for (size_t i = 0; i < ELEMENTSOF(dates); i++) {
                json_t *v = json_object_get(b, dates[i].from);
                if (json_is_integer(v))
                        json_object_set_new(j, dates[i].to, date_json((usec_t) json_integer_value(v)));
        }
        json_object_set_new(j, "paused", json_boolean(json_is_true(json_object_get(b, "paused"))));
        json_object_set_new(j, "executions", json_integer(json_integer_value(json_object_get(b, "executions"))));
        json_t *in = json_object_get(b, "inputs"), *lb = json_object_get(b, "labels");
        json_object_set_new(j, "inputs", in ? json_incref(in) : json_object());
        json_object_set_new(j, "labels", lb ? json_incref(lb) : json_object());
        return j;
}

/* Kestra's trigger context (namespace, flowId, triggerId, nextExecutionDate, disabled, backfill,
 * executionId), plus tern's kind and state. */
static json_t *trigger_json(const StoreTrigger *t) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:b, s:o}", "namespace", t->namespace, "flowId", t->flow_id,
                              "triggerId", t->trigger_id, "kind", t->kind, "state", trigger_state(t), "disabled",
                              t->disabled, "nextExecutionDate", date_json(t->next_date));
        if (!j)
                return NULL;
        if (t->last_execution_id)
                json_object_set_new(j, "executionId", json_string(t->last_execution_id));
        /* Being evaluated by a scheduler (or stuck there after a crash: unlock it). */
        if (t->locked_by)
                json_object_set_new(j, "evaluateRunningDate", date_json(t->evaluated_at));
        json_t *b = json_object_get(t->state, "backfill");
        if (b)
                json_object_set_new(j, "backfill", backfill_json(b));
        json_t *stopped = json_object_get(t->state, "stoppedAfter");
        if (stopped)
                json_object_set_new(j, "stoppedAfter",
                                    json_pack("{s:O?, s:O?}", "executionId", json_object_get(stopped, "executionId"),
                                              "state", json_object_get(stopped, "state")));
        return j;
}

/* The trigger as written in the flow: id, type, description, disabled. Only those: a Webhook's
 * key is a secret and has no business in a listing. */
static json_t *abstract_trigger_json(const Flow *f, const char *trigger_id) {
        for (size_t i = 0; f && i < f->n_triggers; i++) {
                const Trigger *t = &f->triggers[i];
                if (streq(t->id, trigger_id))
                        return json_pack("{s:s, s:s, s:s?, s:b}", "id", t->id, "type", t->type, "description",
                                         t->description, "disabled", t->disabled);
        }
        return json_pack("{s:s}", "id", trigger_id);
}

/* ---- listing -------------------------------------------------------------------------------- */

typedef struct ListCtx {
        const char *ns, *flow_id, *q;
        size_t offset, limit;
        bool exact_ns;  /* the namespace itself, not those below it */
        bool with_flow; /* search: {abstractTrigger, triggerContext}; per flow: the contexts */
        json_t *results;
        size_t total;
} ListCtx;

static bool list_match(const ListCtx *l, const StoreTrigger *t) {
        if (l->exact_ns && !streq(t->namespace, l->ns))
                return false;
        return !l->q || strcasestr(t->trigger_id, l->q) || strcasestr(t->flow_id, l->q) ||
               strcasestr(t->namespace, l->q);
}

static int list_tx(StoreTx *tx, void *userdata) {
        ListCtx *l = userdata;
        StoreTrigger *t = NULL;
        size_t n = 0;
        int r = store_trigger_list(tx, l->ns, l->flow_id, NULL, &t, &n);
        if (r < 0)
                return r;
        /* A rerun (store_transact retries) starts over. */
        json_decref(l->results);
        l->total = 0;
        if (!(l->results = json_array())) {
                store_triggers_free(t, n);
                return -ENOMEM;
        }
        Flow *f = NULL;
        for (size_t i = 0; i < n && r >= 0; i++) {
                if (!list_match(l, &t[i]))
                        continue;
                if (l->total >= l->offset && l->total < l->offset + l->limit) {
                        json_t *ctx = trigger_json(&t[i]), *one = ctx;
                        if (ctx && l->with_flow) {
                                /* Rows come sorted by flow: one load per flow of the page. */
                                if (!f || !streq(f->namespace, t[i].namespace) || !streq(f->id, t[i].flow_id)) {
                                        f = flow_free(f);
                                        r = api_flow_load_owned(tx, t[i].namespace, t[i].flow_id, 0, &f);
                                        if (r == -ENOENT || r == -EBADMSG)
                                                r = 0; /* deleted meanwhile or not valid: the row alone */
                                }
                                one = json_pack("{s:o, s:o}", "abstractTrigger",
                                                abstract_trigger_json(f, t[i].trigger_id), "triggerContext", ctx);
                        }
                        if (!one || json_array_append_new(l->results, one) < 0)
                                r = -ENOMEM;
                }
                l->total++;
        }
        flow_free(f);
        store_triggers_free(t, n);
        return r < 0 ? r : 0;
}

static int list_reply(WebCtx *c, ListCtx *l) {
        int r = store_transact(c->store, list_tx, l);
        if (r < 0) {
                json_decref(l->results);
                return r == -ENOMEM ? web_reply_error(c, 500, "out of memory") : web_reply_store_error(c, r);
        }
        return web_reply_json(c, 200, json_pack("{s:o, s:I}", "results", l->results, "total", (json_int_t) l->total));
}

/* GET /api/v1/triggers/search?namespace=&flowId=&q=&page=&size= */
int web_api_trigger_search(WebCtx *c) {
        ListCtx l = { .ns = web_query(c, "namespace"), .flow_id = web_query(c, "flowId"), .q = web_query(c, "q"),
                      .with_flow = true };
        if (web_paging(c, 25, &l.offset, &l.limit) < 0)
                return 0;
        if (isempty(l.ns))
                l.ns = NULL;
        if (isempty(l.flow_id))
                l.flow_id = NULL;
        if (isempty(l.q))
                l.q = NULL;
        return list_reply(c, &l);
}

/* GET /api/v1/triggers/{namespace}/{flowId}: the trigger contexts of one flow. */
int web_api_trigger_flow(WebCtx *c) {
        /* store_trigger_list takes a namespace prefix; this path names one flow, and a flow of
         * that id in a namespace below must not show up. */
        ListCtx l = { .ns = c->params[0], .flow_id = c->params[1], .q = web_query(c, "q"), .exact_ns = true };
        if (web_paging(c, 25, &l.offset, &l.limit) < 0)
                return 0;
        if (isempty(l.q))
                l.q = NULL;
        return list_reply(c, &l);
}

/* ---- changes -------------------------------------------------------------------------------- */

typedef enum TriggerOp {
        OP_UPDATE,   /* PUT /api/v1/triggers: disabled and/or a new backfill */
        OP_UNLOCK,
        OP_BF_PAUSE,
        OP_BF_UNPAUSE,
        OP_BF_DELETE,
} TriggerOp;

typedef enum OpFailure { FAIL_NONE, FAIL_NO_TRIGGER, FAIL_NO_BACKFILL, FAIL_BACKFILL } OpFailure;

typedef struct OpCtx {
        TriggerOp op;
        const char *ns, *flow_id, *trigger_id;
        int disabled; /* OP_UPDATE: -1 leaves it, 0 enables, 1 disables */
        bool backfill; /* OP_UPDATE: create one */
        usec_t start, end;
        json_t *inputs, *labels;
        OpFailure failure;
        json_t *result; /* the trigger context after the change */
} OpCtx;

static int op_tx(StoreTx *tx, void *userdata) {
        OpCtx *o = userdata;
        _cleanup_(store_trigger_done) StoreTrigger row = {};
        usec_t now = now_realtime();
        int r;

        o->failure = FAIL_NONE;
        json_decref(o->result);
        o->result = NULL;
        /* First the row, so that "no such trigger" and "no backfill" (both -ENOENT below) differ. */
        r = store_trigger_get(tx, o->ns, o->flow_id, o->trigger_id, &row);
        if (r == -ENOENT)
                o->failure = FAIL_NO_TRIGGER;
        if (r < 0)
                return r;
        /* The same backfill sent again (say, a client that PUTs back the context it was given,
         * to change something else) is not a second one. */
        json_t *cur = json_object_get(row.state, "backfill");
        bool same_backfill = o->backfill && o->end && cur &&
                             json_integer_value(json_object_get(cur, "start")) == (json_int_t) o->start &&
                             json_integer_value(json_object_get(cur, "end")) == (json_int_t) o->end;
        store_trigger_done(&row);
        row = (StoreTrigger) {};

        switch (o->op) {
        case OP_UPDATE:
                if (o->disabled >= 0 &&
                    (r = api_trigger_set_enabled(tx, o->ns, o->flow_id, o->trigger_id, !o->disabled, now)) < 0) {
                        if (r == -ENOENT) /* the flow lost the trigger meanwhile */
                                o->failure = FAIL_NO_TRIGGER;
                        return r;
                }
                if (o->backfill && !same_backfill &&
                    (r = api_backfill_create(tx, o->ns, o->flow_id, o->trigger_id, o->start, o->end ?: now, o->inputs,
                                             o->labels, now)) < 0) {
                        o->failure = r == -ENOENT ? FAIL_NO_TRIGGER : FAIL_BACKFILL;
                        return r;
                }
                break;
        case OP_UNLOCK:
                r = api_trigger_unlock(tx, o->ns, o->flow_id, o->trigger_id, now);
                break;
        case OP_BF_PAUSE:
        case OP_BF_UNPAUSE:
                r = api_backfill_pause(tx, o->ns, o->flow_id, o->trigger_id, o->op == OP_BF_PAUSE, now);
                if (r == -ENOENT)
                        o->failure = FAIL_NO_BACKFILL;
                break;
        case OP_BF_DELETE:
                r = api_backfill_delete(tx, o->ns, o->flow_id, o->trigger_id, now);
                if (r == -ENOENT)
                        o->failure = FAIL_NO_BACKFILL;
                break;
        }
        if (r < 0)
                return r;
        if ((r = store_trigger_get(tx, o->ns, o->flow_id, o->trigger_id, &row)) < 0)
                return r;
        if (!(o->result = trigger_json(&row)))
                return -ENOMEM;
        return 0;
}

static int op_reply(WebCtx *c, OpCtx *o) {
        int r = store_transact(c->store, op_tx, o);
        if (r >= 0)
                return web_reply_json(c, 200, TAKE_PTR(o->result));
        json_decref(o->result);
        o->result = NULL;
        switch (o->failure) {
        case FAIL_NO_TRIGGER:
                return web_reply_error(c, 404, "no trigger '%s' in flow '%s' of namespace '%s'", o->trigger_id,
                                       o->flow_id, o->ns);
        case FAIL_NO_BACKFILL:
                return web_reply_error(c, 404, "trigger '%s' of '%s.%s' has no backfill", o->trigger_id, o->ns,
                                       o->flow_id);
        case FAIL_BACKFILL:
                if (r == -EBUSY)
                        return web_reply_error(c, 409,
                                               "trigger '%s' of '%s.%s' already has a backfill (delete it first)",
                                               o->trigger_id, o->ns, o->flow_id);
                if (r == -ERANGE)
                        return web_reply_error(c, 400,
                                               "no slot of the schedule falls in [backfill.start, backfill.end)");
                if (r == -EINVAL)
                        return web_reply_error(c, 422, "trigger '%s' of '%s.%s' is not a Schedule: only Schedule "
                                               "triggers take backfills", o->trigger_id, o->ns, o->flow_id);
                break;
        case FAIL_NONE:
                break;
        }
        return r == -ENOMEM ? web_reply_error(c, 500, "out of memory") : web_reply_store_error(c, r);
}

/* The request body as a JSON object; NULL when it is not (the reply is set). */
static json_t *body_object(WebCtx *c) {
        const char *ct = web_header(c, "Content-Type");
        if (ct && !startswith(ct, "application/json"))
                return web_reply_error(c, 415, "the body must be application/json"), NULL;
        if (c->body_len == 0)
                return web_reply_error(c, 400, "the body must be a JSON object naming the trigger "
                                       "(namespace, flowId, triggerId)"), NULL;
        json_error_t err;
        json_t *j = json_loadb(c->body, c->body_len, JSON_REJECT_DUPLICATES, &err);
        if (!j)
                return web_reply_error(c, 400, "malformed JSON at line %d, column %d: %s", err.line, err.column,
                                       err.text), NULL;
        if (!json_is_object(j)) {
                json_decref(j);
                return web_reply_error(c, 400, "the body must be a JSON object"), NULL;
        }
        return j;
}

static const char *nonempty_string(json_t *o, const char *key) {
        const char *s = json_string_value(json_object_get(o, key));
        return isempty(s) ? NULL : s;
}

/* namespace, flowId and triggerId of a trigger object; 0, or -EINVAL with the reply set. */
static int trigger_ref(WebCtx *c, json_t *o, const char *where, OpCtx *ret) {
        ret->ns = nonempty_string(o, "namespace");
        ret->flow_id = nonempty_string(o, "flowId");
        ret->trigger_id = nonempty_string(o, "triggerId");
        if (!ret->ns || !ret->flow_id || !ret->trigger_id)
                return web_reply_error(c, 400, "%s must name the trigger: namespace, flowId and triggerId (strings)",
                                       where), -EINVAL;
        return 0;
}

static int parse_date(WebCtx *c, json_t *b, const char *key, usec_t *ret) {
        json_t *v = json_object_get(b, key);
        if (!v || json_is_null(v))
                return 0;
        const char *s = json_string_value(v);
        if (!s || timestamp_parse(s, 0, ret) < 0)
                return web_reply_error(c, 400, "backfill.%s must be a date-time such as 2024-01-31T00:00:00Z", key),
                       -EINVAL;
        return 0;
}

/* Labels as an object of strings, or as Kestra's list of {key, value}: an object of strings. */
static json_t *labels_object(json_t *v) {
        json_t *o = json_object(), *e;
        const char *k;
        size_t i;
        if (!o)
                return NULL;
        if (json_is_object(v)) {
                json_object_foreach(v, k, e) {
                        if (!json_is_string(e))
                                goto bad;
                        json_object_set(o, k, e);
                }
        } else if (json_is_array(v)) {
                json_array_foreach(v, i, e) {
                        const char *key = json_string_value(json_object_get(e, "key"));
                        json_t *val = json_object_get(e, "value");
                        if (isempty(key) || !json_is_string(val))
                                goto bad;
                        json_object_set(o, key, val);
                }
        } else if (v && !json_is_null(v))
                goto bad;
        return o;
bad:
        json_decref(o);
        return json_null(); /* a marker: not a valid label set */
}

/* PUT /api/v1/triggers: {namespace, flowId, triggerId, disabled?, backfill?: {start, end?, inputs?,
 * labels?}}. As in Kestra, this is how a backfill is created; disabled enables or disables. Unlike
 * Kestra, a backfill does not replace a running one (409; the same start and end again: no change). */
int web_api_trigger_update(WebCtx *c) {
        _cleanup_json_ json_t *body = body_object(c), *labels = NULL;
        OpCtx o = { .op = OP_UPDATE, .disabled = -1 };
        if (!body || trigger_ref(c, body, "the body", &o) < 0)
                return 0;
        json_t *d = json_object_get(body, "disabled");
        if (d && !json_is_null(d)) {
                if (!json_is_boolean(d))
                        return web_reply_error(c, 400, "disabled must be true or false");
                o.disabled = json_is_true(d);
        }
        json_t *b = json_object_get(body, "backfill");
        if (b && !json_is_null(b)) {
                if (!json_is_object(b))
                        return web_reply_error(c, 400, "backfill must be an object: {start, end, inputs, labels}");
                if (!json_object_get(b, "start") || json_is_null(json_object_get(b, "start")))
                        return web_reply_error(c, 400, "backfill.start is required");
                if (parse_date(c, b, "start", &o.start) < 0 || parse_date(c, b, "end", &o.end) < 0)
                        return 0;
                usec_t end = o.end ?: now_realtime();
                if (o.start >= end)
                        return web_reply_error(c, 400,
                                               "backfill.start must be before backfill.end (or now when no end)");
                json_t *in = json_object_get(b, "inputs");
                if (in && !json_is_null(in) && !json_is_object(in))
                        return web_reply_error(c, 400, "backfill.inputs must be an object");
                o.inputs = json_is_object(in) ? in : NULL;
                labels = labels_object(json_object_get(b, "labels"));
                if (!labels)
                        return web_reply_error(c, 500, "out of memory");
                if (json_is_null(labels))
                        return web_reply_error(c, 400, "backfill.labels must be an object of strings or a list of "
                                               "{key, value}");
                o.labels = labels;
                o.backfill = true;
        }
        if (o.disabled < 0 && !o.backfill)
                return web_reply_error(c, 400, "nothing to change: give disabled (true or false) or a backfill");
        return op_reply(c, &o);
}

static int body_op(WebCtx *c, TriggerOp op) {
        _cleanup_json_ json_t *body = body_object(c);
        OpCtx o = { .op = op, .disabled = -1 };
        if (!body || trigger_ref(c, body, "the body", &o) < 0)
                return 0;
        return op_reply(c, &o);
}

/* PUT /api/v1/triggers/backfill/pause, PUT .../unpause, POST .../delete: the body names the trigger. */
int web_api_trigger_backfill_pause(WebCtx *c) {
        return body_op(c, OP_BF_PAUSE);
}
int web_api_trigger_backfill_unpause(WebCtx *c) {
        return body_op(c, OP_BF_UNPAUSE);
}
int web_api_trigger_backfill_delete(WebCtx *c) {
        return body_op(c, OP_BF_DELETE);
}

/* POST /api/v1/triggers/{namespace}/{flowId}/{triggerId}/unlock */
int web_api_trigger_unlock(WebCtx *c) {
        OpCtx o = { .op = OP_UNLOCK, .disabled = -1, .ns = c->params[0], .flow_id = c->params[1],
                    .trigger_id = c->params[2] };
        return op_reply(c, &o);
}

/* ---- POST /api/v1/triggers/set-disabled/by-triggers ------------------------------------------ */

typedef struct BulkCtx {
        json_t *triggers;
        bool disabled;
        size_t failed; /* index of the unknown trigger, when -ENOENT */
} BulkCtx;

static int bulk_tx(StoreTx *tx, void *userdata) {
        BulkCtx *b = userdata;
        usec_t now = now_realtime();
        size_t i;
        json_t *t;
        json_array_foreach(b->triggers, i, t) {
                int r = api_trigger_set_enabled(tx, json_string_value(json_object_get(t, "namespace")),
                                                json_string_value(json_object_get(t, "flowId")),
                                                json_string_value(json_object_get(t, "triggerId")), !b->disabled, now);
                if (r < 0) {
                        b->failed = i;
                        return r;
                }
        }
        return 0;
}

/* {triggers: [{namespace, flowId, triggerId}...], disabled}: all of them or none (404 naming the
 * first unknown one). Answers Kestra's {count}. */
int web_api_trigger_set_disabled(WebCtx *c) {
        _cleanup_json_ json_t *body = body_object(c);
        if (!body)
                return 0;
        json_t *list = json_object_get(body, "triggers"), *d = json_object_get(body, "disabled"), *t;
        if (!json_is_array(list) || json_array_size(list) == 0)
                return web_reply_error(c, 400, "triggers must be a non-empty list of {namespace, flowId, triggerId}");
        if (!json_is_boolean(d))
                return web_reply_error(c, 400, "disabled must be true or false");
        size_t i;
        json_array_foreach(list, i, t) {
                OpCtx ref = {};
                char where[64];
                snprintf(where, sizeof where, "triggers[%zu]", i);
                if (trigger_ref(c, t, where, &ref) < 0)
                        return 0;
        }
        BulkCtx b = { .triggers = list, .disabled = json_is_true(d) };
        int r = store_transact(c->store, bulk_tx, &b);
        if (r == -ENOENT) {
                t = json_array_get(list, b.failed);
                return web_reply_error(c, 404, "no trigger '%s' in flow '%s' of namespace '%s'; nothing was changed",
                                       json_string_value(json_object_get(t, "triggerId")),
                                       json_string_value(json_object_get(t, "flowId")),
                                       json_string_value(json_object_get(t, "namespace")));
        }
        if (r < 0)
                return web_reply_store_error(c, r);
        return web_reply_json(c, 200, json_pack("{s:I}", "count", (json_int_t) json_array_size(list)));
}
