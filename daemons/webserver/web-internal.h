/* web-internal.h: what the webserver's HTTP plumbing (web-server.c) and its API handlers (web-api.c) share. */
#pragma once

#include <jansson.h>
#include <microhttpd.h>

#include "execution-create.h"
#include "flow-cache.h"
#include "flow.h"
#include "storage.h"
#include "store.h"
#include "web-route.h"
#include "web-server.h"

typedef struct WebWaits WebWaits;
typedef struct WebStoragePool WebStoragePool;

typedef struct WebCtx {
        struct MHD_Connection *con;
        Store *store;
        const char *method;
        const char *params[WEB_ROUTE_PARAMS_MAX];
        const char *body; /* NUL-terminated; "" when none */
        size_t body_len;
        const char *user; /* authenticated user, NULL on open routes */
        const char *session; /* the session cookie that authenticated the request, or NULL */
        unsigned wait_max_sec;
        WebServer *server; /* whose pool c->store came from (web_store_release) */
        WebWaits *waits;   /* the server's count of requests waiting for an execution (web-wait.c) */
        WebWaits *streams; /* the same for follow streams, each holding a connection of its own */
        WebStoragePool *storages; /* the server's handles on the internal storage; NULL: it has none */
        Storage *storage;         /* this request's handle, taken from there by web_storage() */
        ApiFlowCache *flows;      /* the server's parsed flows (api_flow_load) */
        WebKafka *kafka;          /* [queue] type = kafka: where executions' events go; NULL: the database */
        /* A multipart/form-data body: its plain fields (name -> string) and its files (name ->
         * {"path": temporary file, "filename": as sent}); NULL for other bodies. A webhook's: its
         * fields name -> [strings], its files [{name, path, filename, contentType}] (names repeat). */
        json_t *form_fields, *form_files;
        uint64_t n_requests, n_4xx, n_5xx; /* the server's counters, for /metrics */
        /* The response, set by a handler through web_reply*(). */
        unsigned status;
        char *resp;       /* malloc'ed */
        size_t resp_len;
        const char *content_type;
        struct MHD_Response *stream; /* instead of resp: a streamed response (server-sent events) */
        char *set_cookie; /* malloc'ed: a Set-Cookie header for the response, or NULL */
        const char *retry_after; /* a Retry-After header for the response (seconds, static), or NULL */
} WebCtx;

typedef int (*WebHandler)(WebCtx *c);

/* Set the response; always return 0 so handlers can "return web_reply...". */
int web_reply_json(WebCtx *c, unsigned status, json_t *j); /* steals j; NULL = out of memory (500) */
int web_reply_text(WebCtx *c, unsigned status, const char *content_type, const char *text);
int web_reply_error(WebCtx *c, unsigned status, const char *fmt, ...) _printf_(3, 4);
/* 503 with Retry-After when the database could not be reached (store_error_unreachable(): a lost
 * connection not back within the store's reconnect timeout, a failover not over), else 500; the
 * store's message is logged at debug, never shown to the client. */
int web_reply_store_error(WebCtx *c, int r);
const char *web_query(WebCtx *c, const char *key);
/* Every value of a repeated query parameter (?labels=a&labels=b), in order: the first max in ret
 * (valid as long as the request), and how many there are. */
size_t web_query_all(WebCtx *c, const char *key, const char **ret, size_t max);
const char *web_header(WebCtx *c, const char *key);
/* Kestra's paging: page (1-based) and size (default_size when not given); returns 0, or replies
 * 400 and returns -EINVAL. */
int web_paging(WebCtx *c, unsigned default_size, size_t *ret_offset, size_t *ret_limit);
/* A date-time query parameter (ISO 8601, UTC without a zone) into *ret (0 when absent); replies 400
 * and returns -EINVAL when malformed. */
int web_query_date(WebCtx *c, const char *key, usec_t *ret);
/* Give c->store back to the server's pool before the handler is done (a long wait must not hold
 * one of the few shared connections); c->store is NULL afterwards. */
void web_store_release(WebCtx *c);
/* Check a user's password as the Authorization header's Basic is checked (the same backoff, the
 * same cost for unknown names), holding no pooled connection while hashing: a WEB_AUTH_* outcome
 * (web-auth.h) with *ret_user on WEB_AUTH_OK, or a negative errno. */
int web_password_check(WebCtx *c, const char *name, const char *password, char **ret_user, unsigned *ret_retry_sec);

/* web-files.c: the server's pool of handles on the internal storage at url: those given back are
 * kept, up to max_idle of them (the rest freed); taking one never waits (a new one is opened when
 * none is kept). NULL when out of memory. */
WebStoragePool *web_storage_pool_new(const char *url, size_t max_idle);
WebStoragePool *web_storage_pool_free(WebStoragePool *p);
/* Give s (NULL: nothing) back to p. */
void web_storage_pool_put(WebStoragePool *p, Storage *s);
/* For /metrics: handles kept, handles in use, handles opened since the start. */
void web_storage_pool_counts(WebStoragePool *p, size_t *ret_idle, size_t *ret_busy, uint64_t *ret_opened);
/* The request's handle on the internal storage (taken from the pool on first use, given back with
 * the request by web_storage_release()): 0, -ENOTSUP when the server has none, or the reason it
 * cannot be opened (logged). */
int web_storage(WebCtx *c, Storage **ret);
void web_storage_release(WebCtx *c);
/* Stream the stored object key (size bytes, as storage_stat() said) as the reply, a download named
 * after its base name; takes c->storage over, giving it back to the pool when the reply is done. */
int web_reply_stored_file(WebCtx *c, const char *key, uint64_t size);

/* web-api.c */
/* The executions search's filters of the request's query (namespace, flowId, state, labels=k:v
 * repeated, startDate, endDate), as GET /api/v1/executions/search takes them and the bulk actions
 * by query too: 0, or replies 400 and returns a negative errno. */
#define WEB_LABELS_FILTER_MAX 20
typedef struct WebExecutionFilter {
        StoreExecutionFilter f; /* points into the rest, valid until web_execution_filter_done() */
        StoreLabelFilter labels[WEB_LABELS_FILTER_MAX];
        json_t *keys;
} WebExecutionFilter;
int web_execution_filter(WebCtx *c, WebExecutionFilter *ret);
void web_execution_filter_done(WebExecutionFilter *f);
int web_api_health(WebCtx *c);
int web_api_metrics(WebCtx *c);
int web_api_flow_create(WebCtx *c);
int web_api_flow_update(WebCtx *c);
int web_api_flow_get(WebCtx *c);
int web_api_flow_delete(WebCtx *c);
int web_api_flow_revisions(WebCtx *c);
int web_api_flow_graph(WebCtx *c);
int web_api_flow_dependencies(WebCtx *c);
int web_api_namespace_dependencies(WebCtx *c);
int web_api_flows_disable(WebCtx *c);
int web_api_flows_enable(WebCtx *c);
int web_api_flow_search(WebCtx *c);
int web_api_flow_list_namespace(WebCtx *c);
int web_api_flow_validate(WebCtx *c);
int web_api_flow_validate_task(WebCtx *c);
int web_api_flow_validate_trigger(WebCtx *c);
int web_api_flow_namespace_update(WebCtx *c);
int web_api_execution_create(WebCtx *c);
int web_api_execution_get(WebCtx *c);
int web_api_execution_delete(WebCtx *c);
int web_api_execution_search(WebCtx *c);
int web_api_execution_latest(WebCtx *c);
int web_api_executions_kill(WebCtx *c);
int web_api_executions_restart(WebCtx *c);
int web_api_executions_delete(WebCtx *c);
int web_api_execution_kill(WebCtx *c);
int web_api_execution_resume(WebCtx *c);
int web_api_execution_restart(WebCtx *c);
int web_api_execution_replay(WebCtx *c);
int web_api_executions_labels_by_query(WebCtx *c);

/* web-queue.c: what the API sends to the executors, on the database queue or on Kafka. */
/* Create the execution as api_execution_submit() does on the database; on Kafka, send its
 * "created" event and show it in the database at once. Results as api_execution_submit(), and
 * -ECOMM with *ret_error naming the brokers when it could not be sent (web_reply_queue_error()). */
int web_execution_submit(WebCtx *c, const Flow *f, const ApiExecutionNew *n, json_t **ret_doc, char **ret_error);
/* Send execution id's event type with payload (NULL: out of memory, answered 500); doc is the
 * execution as the database shows it (a restart carries it on Kafka). 0, or a negative errno once
 * the reply is set (the store's error; 503 naming the brokers on Kafka). */
int web_execution_event(WebCtx *c, const char *id, const char *type, json_t *payload, json_t *doc);
/* 503 with Retry-After: the brokers did not take an event (why names them). */
int web_reply_queue_error(WebCtx *c, const char *why);
/* On Kafka, refuse a route that cannot act there yet with 501 naming it and why: 1 when refused
 * (replied), else 0. */
int web_queue_refused(WebCtx *c, WebHandler h);

/* web-bulk.c: Kestra's actions by query. Walk every execution the search's filters select, in
 * batches, each in turn given to one(c, userdata) with c->params[0] its id and no body: it
 * replies as the single route would, and one_ok is its status when it acted (any other 4xx: the
 * execution was skipped, not in a state for it or gone meanwhile). Answers {count}: how many it
 * acted on; a 5xx stops the walk and is answered with the count so far. */
typedef int (*WebBulkOne)(WebCtx *c, void *userdata);
int web_executions_by_query(WebCtx *c, WebBulkOne one, void *userdata, unsigned one_ok);
int web_api_executions_delete_by_query(WebCtx *c);
int web_api_executions_kill_by_query(WebCtx *c);
int web_api_executions_restart_by_query(WebCtx *c);
int web_api_executions_resume_by_query(WebCtx *c);
int web_api_executions_replay_by_query(WebCtx *c);
int web_api_executions_pause_by_query(WebCtx *c);
int web_api_executions_force_run_by_query(WebCtx *c);

/* web-execution-state.c */
int web_api_execution_task_run_state(WebCtx *c);
int web_api_execution_change_status(WebCtx *c);
int web_api_execution_force_run(WebCtx *c);
int web_api_execution_unqueue(WebCtx *c);
int web_api_executions_change_status_by_query(WebCtx *c);
int web_api_executions_unqueue_by_query(WebCtx *c);
int web_api_execution_pause(WebCtx *c);
int web_api_execution_labels(WebCtx *c);
int web_api_execution_file(WebCtx *c);
int web_api_logs(WebCtx *c);
int web_api_logs_download(WebCtx *c);
int web_api_logs_delete(WebCtx *c);
int web_api_logs_search(WebCtx *c);
/* web-metrics.c: Kestra's metrics API. */
int web_api_metrics_execution(WebCtx *c);
int web_api_metric_names(WebCtx *c);
int web_api_metric_tasks(WebCtx *c);
int web_api_metric_aggregates(WebCtx *c);
/* web-plugins.c */
int web_api_plugins(WebCtx *c);
int web_api_plugin_get(WebCtx *c);
int web_api_webhook(WebCtx *c);
/* Before a webhook's body is read: -ENOENT when flow ns/flow_id has no webhook with that key. */
int web_api_webhook_check(Store *s, ApiFlowCache *flows, const char *ns, const char *flow_id, const char *key);
int web_api_openapi(WebCtx *c);
extern const char web_openapi_json[]; /* openapi.json, compiled in */
/* web-webhook.c */
/* The enabled Webhook trigger of f whose key is key, or NULL; the time taken does not depend on the
 * keys' contents or lengths. */
const Trigger *web_webhook_find(const Flow *f, const char *key);
/* A boolean property of the trigger (wait, returnOutputs): true only when set to true. */
bool web_webhook_property(const Trigger *t, const char *name);
/* trigger.body: a request body (len bytes, content_type may be NULL) as a value: JSON (an object or
 * an array; any value under a JSON content type), else the text, else (not UTF-8, or a NUL byte)
 * the bytes base64-encoded; null when empty. 0, -ENOMEM or -E2BIG. */
int web_webhook_body(const char *body, size_t len, const char *content_type, json_t **ret);
/* trigger.variables of a webhook call: body (web_webhook_body), headers and query parameters (each a
 * list of values; Authorization and Cookie left out); for a multipart/form-data body, body null,
 * formFields (name -> list of values) and parts (empty until web_webhook_store). */
int web_webhook_variables(WebCtx *c, json_t **ret);
/* What of the call goes to internal storage, under execution exec_id of f (.../trigger/TRIGGER/):
 * each file part (N/FILENAME, listed in vars' parts with name, filename, contentType, size and uri)
 * and, with fetchType STORE, a body that is not multipart ("body", vars' uri instead of its body;
 * fetchType NONE drops the body). The URIs stored are added to *stored, also on failure, for the
 * caller to delete if the execution is not created. On failure the reply is set. */
int web_webhook_store(WebCtx *c, const Flow *f, const Trigger *hook, const char *exec_id, json_t *vars, char ***stored);
/* Answer a webhook call that created execution doc; waited: the trigger's wait, ended: whether the
 * execution ended within it. */
int web_webhook_reply(WebCtx *c, const Trigger *hook, json_t *doc, bool waited, bool ended);
/* web-nsfiles.c: Kestra's namespace file API. */
int web_api_nsfile_content(WebCtx *c);
int web_api_nsfile_stats(WebCtx *c);
int web_api_nsfile_directory(WebCtx *c);
int web_api_nsfile_mkdir(WebCtx *c);
int web_api_nsfile_create(WebCtx *c);
int web_api_nsfile_delete(WebCtx *c);
int web_api_nsfile_move(WebCtx *c);
int web_api_nsfile_search(WebCtx *c);
/* web-namespaces.c: Kestra's namespace listing. */
int web_api_namespace_search(WebCtx *c);
int web_api_namespace_ids(WebCtx *c);
int web_api_namespace_autocomplete(WebCtx *c);
int web_api_namespace_get(WebCtx *c);

/* web-kv.c: Kestra's key-value store API. */
int web_api_kv_list(WebCtx *c);
int web_api_kv_get(WebCtx *c);
int web_api_kv_put(WebCtx *c);
int web_api_kv_delete(WebCtx *c);
/* web-triggers.c */
int web_api_trigger_search(WebCtx *c);
int web_api_trigger_flow(WebCtx *c);
int web_api_trigger_update(WebCtx *c);
int web_api_trigger_set_disabled(WebCtx *c);
int web_api_trigger_unlock(WebCtx *c);
int web_api_trigger_backfill_pause(WebCtx *c);
int web_api_trigger_backfill_unpause(WebCtx *c);
int web_api_trigger_backfill_delete(WebCtx *c);
/* web-stats.c */
int web_api_stats_daily(WebCtx *c);
int web_api_stats_daily_by_flow(WebCtx *c);
/* web-session.c */
int web_session_login(WebCtx *c);
int web_session_get(WebCtx *c);
int web_session_logout(WebCtx *c);
/* web-follow.c */
int web_api_execution_follow(WebCtx *c);
int web_api_logs_follow(WebCtx *c);
