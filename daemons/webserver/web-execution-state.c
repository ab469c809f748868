/* web-execution-state.c: a user's say in an execution's course, Kestra's routes: the state of an
 * ended task run (POST /api/v1/executions/{id}/state), of an ended execution (change-status), a
 * created or queued one run now (force-run, unqueue), a running one paused (pause); change-status
 * and unqueue by query too. Each is an event for the executor, which applies it (lib/engine);
 * these routes check what they can first. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cleanup-jansson.h"
#include "engine.h"
#include "state.h"
#include "strutil.h"
#include "web-internal.h"

/* Whether flow verb exists in namespace ns: POST /api/v1/executions/{namespace}/{id} starts it,
 * and these routes have the same shape (Kestra's too). */
static bool flow_exists(WebCtx *c, const char *ns, const char *verb) {
        _cleanup_store_tx_ StoreTx *tx = NULL;
        _cleanup_(store_flow_done) StoreFlow f = {};
        return store_begin(c->store, &tx) >= 0 && store_flow_get(tx, ns, verb, 0, &f) >= 0;
}

/* The execution's document and state: 0, or replies and returns -ENOENT. When there is no such
 * execution but a flow named verb in a namespace of that name, the request is that flow's start,
 * as it was before these routes (an execution id is no namespace one writes). */
static int execution_load(WebCtx *c, const char *verb, json_t **ret_doc, State *ret_state) {
        const char *id = c->params[0];
        json_t *doc = NULL;
        int r = api_execution_get(c->store, id, &doc);
        if (r == -ENOENT && flow_exists(c, id, verb)) {
                c->params[1] = verb;
                web_api_execution_create(c);
                return -ENOENT;
        }
        if (r == -ENOENT) {
                web_reply_error(c, 404, "no execution '%s'", id);
                return -ENOENT;
        }
        if (r < 0) {
                web_reply_store_error(c, r);
                return -ENOENT;
        }
        *ret_doc = doc;
        *ret_state = api_execution_state(doc);
        return 0;
}

/* Emit the event (taking payload; NULL: {}) and answer 202 with the execution as it was (the
 * executor applies it soon). */
static int emit(WebCtx *c, json_t *doc, const char *type, json_t *payload_take) {
        _cleanup_json_ json_t *payload = payload_take ? payload_take : json_object();
        if (web_execution_event(c, c->params[0], type, payload, doc) < 0)
                return 0; /* replied */
        api_execution_strip(doc);
        return web_reply_json(c, 202, json_incref(doc));
}

/* The state a user may give an ended task run or execution: an outcome, not a course. */
static State end_state(const char *s, bool execution) {
        State st = state_from_string(s);
        if (st == STATE_SUCCESS || st == STATE_WARNING || st == STATE_FAILED)
                return st;
        if (execution && (st == STATE_KILLED || st == STATE_CANCELLED))
                return st;
        return _STATE_INVALID;
}

/* POST /api/v1/executions/{id}/state {taskRunId, state}: Kestra's change of a task run's state.
 * The execution goes on from there: a FAILED task made SUCCESS lets the next ones run. */
int web_api_execution_task_run_state(WebCtx *c) {
        const char *id = c->params[0];
        _cleanup_json_ json_t *body = json_loadb(c->body, c->body_len, 0, NULL), *doc = NULL;
        const char *tr_id = json_string_value(json_object_get(body, "taskRunId"));
        const char *state = json_string_value(json_object_get(body, "state"));
        State st, to;
        size_t i;
        json_t *tr, *found = NULL;

        if (execution_load(c, "state", &doc, &st) < 0)
                return 0;
        if (!json_is_object(body) || isempty(tr_id) || !state)
                return web_reply_error(c, 400, "the body must be {\"taskRunId\": \"...\", \"state\": \"SUCCESS|WARNING|FAILED\"}");
        if ((to = end_state(state, false)) < 0)
                return web_reply_error(c, 400, "a task run's state can be changed to SUCCESS, WARNING or FAILED, not '%s'", state);
        json_array_foreach(json_object_get(doc, "taskRunList"), i, tr)
                if (streq_ptr(json_string_value(json_object_get(tr, "id")), tr_id))
                        found = tr;
        if (!found)
                return web_reply_error(c, 404, "execution %s has no task run '%s'", id, tr_id);
        if (!state_is_terminal(st))
                return web_reply_error(c, 409, "execution %s is %s; the state of a task run can be changed once the execution ended",
                                       id, state_to_string(st));
        State cur = state_from_string(json_string_value(json_object_get(json_object_get(found, "state"), "current")));
        if (!state_is_terminal(cur))
                return web_reply_error(c, 409, "task run '%s' is %s; only an ended task run's state can be changed", tr_id,
                                       state_to_string(cur));
        return emit(c, doc, ENGINE_EVENT_CHANGE_STATE, json_pack("{s:s, s:s}", "taskRunId", tr_id, "state", state_to_string(to)));
}

/* The state a change-status names (its query parameter key): the state, or replies 400. */
static State change_status_to(WebCtx *c, const char *key) {
        const char *status = web_query(c, key);
        State to;
        if (isempty(status))
                return web_reply_error(c, 400, "the query parameter '%s' is required (SUCCESS, WARNING, FAILED, KILLED or CANCELLED)", key),
                       _STATE_INVALID;
        if ((to = end_state(status, true)) < 0)
                return web_reply_error(c, 400, "an execution's state can be changed to SUCCESS, WARNING, FAILED, KILLED or CANCELLED, not '%s'",
                                       status),
                       _STATE_INVALID;
        return to;
}

static int change_status(WebCtx *c, const char *key) {
        const char *id = c->params[0];
        _cleanup_json_ json_t *doc = NULL;
        State st, to;

        if (execution_load(c, "change-status", &doc, &st) < 0)
                return 0;
        if ((to = change_status_to(c, key)) < 0)
                return 0;
        if (!state_is_terminal(st))
                return web_reply_error(c, 409, "execution %s is %s; only an ended execution's state can be changed", id,
                                       state_to_string(st));
        return emit(c, doc, ENGINE_EVENT_CHANGE_STATE, json_pack("{s:s}", "state", state_to_string(to)));
}

/* POST /api/v1/executions/{id}/change-status?status=: Kestra's change of an ended execution's
 * state; nothing runs again. */
int web_api_execution_change_status(WebCtx *c) {
        return change_status(c, "status");
}

static int change_status_one(WebCtx *c, void *userdata) {
        (void) userdata;
        return change_status(c, "newStatus");
}

/* POST /api/v1/executions/change-status/by-query?newStatus=: the ended executions that the
 * search's filters select (Kestra's name for the parameter: "status" is no filter of theirs). */
int web_api_executions_change_status_by_query(WebCtx *c) {
        if (change_status_to(c, "newStatus") < 0)
                return 0;
        return web_executions_by_query(c, change_status_one, NULL, 202);
}

/* POST /api/v1/executions/{id}/force-run: a CREATED or QUEUED execution starts now, whatever its
 * flow's concurrency limit. */
int web_api_execution_force_run(WebCtx *c) {
        _cleanup_json_ json_t *doc = NULL;
        State st;

        if (execution_load(c, "force-run", &doc, &st) < 0)
                return 0;
        if (st != STATE_CREATED && st != STATE_QUEUED)
                return web_reply_error(c, 409, "execution %s is %s; only a CREATED or QUEUED execution can be forced to run",
                                       c->params[0], state_to_string(st));
        return emit(c, doc, ENGINE_EVENT_CREATED, json_pack("{s:b}", "force", true));
}

/* The state an unqueue names (its query parameter key; RUNNING when absent), or replies 400. */
static State unqueue_to(WebCtx *c, const char *key) {
        const char *state = web_query(c, key);
        State to = isempty(state) ? STATE_RUNNING : state_from_string(state);
        if (to != STATE_RUNNING && to != STATE_CANCELLED && to != STATE_FAILED && to != STATE_KILLED)
                return web_reply_error(c, 400, "a queued execution can be unqueued as RUNNING, CANCELLED, FAILED or KILLED, not '%s'",
                                       state),
                       _STATE_INVALID;
        return to;
}

static int unqueue(WebCtx *c, const char *key) {
        _cleanup_json_ json_t *doc = NULL;
        State st, to;

        if (execution_load(c, "unqueue", &doc, &st) < 0)
                return 0;
        if ((to = unqueue_to(c, key)) < 0)
                return 0;
        if (st != STATE_QUEUED)
                return web_reply_error(c, 409, "execution %s is %s; only a QUEUED execution can be unqueued", c->params[0],
                                       state_to_string(st));
        return emit(c, doc, ENGINE_EVENT_CREATED,
                    to == STATE_RUNNING ? json_pack("{s:b}", "force", true) : json_pack("{s:s}", "state", state_to_string(to)));
}

/* POST /api/v1/executions/{id}/unqueue?state=: a QUEUED execution (its flow's concurrency limit)
 * runs now (RUNNING, the default) or ends unstarted (CANCELLED, FAILED or KILLED). */
int web_api_execution_unqueue(WebCtx *c) {
        return unqueue(c, "state");
}

static int unqueue_one(WebCtx *c, void *userdata) {
        (void) userdata;
        return unqueue(c, "newState");
}

/* POST /api/v1/executions/unqueue/by-query?newState=: the queued executions that the search's
 * filters select ("state" is the filter there). */
int web_api_executions_unqueue_by_query(WebCtx *c) {
        if (unqueue_to(c, "newState") < 0)
                return 0;
        return web_executions_by_query(c, unqueue_one, NULL, 202);
}

/* POST /api/v1/executions/{id}/pause: Kestra's pause of a running execution: the task runs in
 * flight end, no new one starts until POST .../resume. */
int web_api_execution_pause(WebCtx *c) {
        _cleanup_json_ json_t *doc = NULL;
        State st;

        if (execution_load(c, "pause", &doc, &st) < 0)
                return 0;
        if (st != STATE_RUNNING)
                return web_reply_error(c, 409, "execution %s is %s; only a RUNNING execution can be paused", c->params[0],
                                       state_to_string(st));
        return emit(c, doc, ENGINE_EVENT_PAUSE, NULL);
}
