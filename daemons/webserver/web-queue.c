/* web-queue.c: what the API sends to the executors: on the database queue an event stored in the
 * database, on the Kafka queue backend ([queue] type = kafka) a record on execution-events, as the
 * CLI sends it (docs/KAFKA.md); and the routes that cannot act on Kafka yet, refused. */
#include <errno.h>
#include <stdlib.h>

#include "api.h"
#include "cleanup-jansson.h"
#include "engine.h"
#include "log.h"
#include "strutil.h"
#include "web-internal.h"
#if HAVE_KAFKA
#include "execution-kafka.h"
#endif

/* How long a request waits for the brokers' acknowledgement of its event, and how long the start
 * waits for a broker to answer at all. */
#define WEB_KAFKA_TIMEOUT_USEC (10 * USEC_PER_SEC)
#define WEB_KAFKA_RETRY_AFTER_SEC "5"

#if HAVE_KAFKA
struct WebKafka {
        KafkaSender *sender; /* one producer for the process, shared by the requests' threads */
};
#endif

int web_kafka_new(const TernConfig *cfg, WebKafka **ret) {
#if HAVE_KAFKA
        _cleanup_(web_kafka_freep) WebKafka *k = calloc(1, sizeof *k);
        _cleanup_free_ char *why = NULL;
        KafkaOptions o = API_KAFKA_OPTIONS(cfg);
        int r;
        if (!k)
                return log_oom();
        if ((r = kafka_sender_new(&o, WEB_KAFKA_TIMEOUT_USEC, &k->sender, &why)) < 0 ||
            (r = kafka_sender_ping(k->sender, WEB_KAFKA_TIMEOUT_USEC, &why)) < 0)
                return log_error_errno(r, "[queue] type = kafka: the webserver cannot send executions' events: %s",
                                       why ? why : strerror(-r));
        *ret = TAKE_PTR(k);
        return 0;
#else
        log_error("[queue] type = kafka: this tern was built without the Kafka queue backend (librdkafka).");
        return -EOPNOTSUPP;
#endif
}

WebKafka *web_kafka_free(WebKafka *k) {
        if (!k)
                return NULL;
#if HAVE_KAFKA
        kafka_sender_free(k->sender); /* what requests sent is acknowledged before it goes */
#endif
        free(k);
        return NULL;
}

int web_reply_queue_error(WebCtx *c, const char *why) {
        /* Nothing wrong with the request: the brokers may answer when it is sent again. The reason
         * names brokers and topics, which are the operator's to read (the log), not the API
         * client's, as for the database's errors. */
        log_warning("A request's event was not acknowledged by Kafka: %s", why);
        c->retry_after = WEB_KAFKA_RETRY_AFTER_SEC;
        return web_reply_error(c, 503,
                               "the queue (Kafka) did not acknowledge the request in time, nothing was done; retry in " WEB_KAFKA_RETRY_AFTER_SEC " s");
}

int web_execution_submit(WebCtx *c, const Flow *f, const ApiExecutionNew *n, json_t **ret_doc, char **ret_error) {
        if (!c->kafka)
                return api_execution_submit(c->store, f, n, now_realtime(), ret_doc, ret_error);
#if HAVE_KAFKA
        _cleanup_execution_ Execution *e = NULL;
        _cleanup_json_ json_t *doc = NULL;
        _cleanup_free_ char *why = NULL;
        int r = api_execution_build(f, n, now_realtime(), &e, ret_error);
        if (r < 0)
                return r;
        if (!(doc = execution_to_json(e)))
                return -ENOMEM;
        if ((r = api_kafka_event(c->kafka->sender, e->id, ENGINE_EVENT_CREATED, NULL, doc, WEB_KAFKA_TIMEOUT_USEC, &why)) < 0) {
                log_warning("webserver: cannot send the created event of execution '%s': %s", e->id, strna(why));
                if (r == -ENOMEM)
                        return r;
                if (ret_error) {
                        free(*ret_error);
                        *ret_error = why ? TAKE_PTR(why) : strdup(strerror(-r));
                }
                return -ECOMM;
        }
        /* Started: not showing it at once is no reason to tell the client otherwise. */
        if ((r = api_kafka_index_created(c->store, e, doc)) < 0)
                log_warning("webserver: execution '%s' is started but not shown in the database yet: %s", e->id,
                            r == -ENOMEM ? strerror(-r) : store_error(c->store));
        *ret_doc = TAKE_PTR(doc);
        return 0;
#else
        return -EOPNOTSUPP; /* (never: the component refuses to start) */
#endif
}

int web_execution_event(WebCtx *c, const char *id, const char *type, json_t *payload, json_t *doc) {
        int r;
        if (!payload)
                return web_reply_error(c, 500, "out of memory"), -ENOMEM;
        if (!c->kafka) {
                if ((r = api_execution_event(c->store, id, type, payload)) < 0)
                        return web_reply_store_error(c, r), r;
                return 0;
        }
#if HAVE_KAFKA
        _cleanup_free_ char *why = NULL;
        /* An ended execution is forgotten by its executor: a restart carries its document as the
         * database shows it, for the one owning its partition to take it from. */
        json_t *execution = streq(type, ENGINE_EVENT_RESTART) ? doc : NULL;
        if ((r = api_kafka_event(c->kafka->sender, id, type, payload, execution, WEB_KAFKA_TIMEOUT_USEC, &why)) < 0) {
                log_warning("webserver: cannot send the %s event of execution '%s': %s", type, id, strna(why));
                if (r == -ENOMEM)
                        return web_reply_error(c, 500, "out of memory"), r;
                return web_reply_queue_error(c, why ? why : strerror(-r)), -ECOMM;
        }
        return 0;
#else
        return web_reply_error(c, 500, "internal error"), -EOPNOTSUPP;
#endif
}

/* The routes that would change an execution in the database, where on Kafka nothing reads it (or
 * the indexer writes the executor's document over it): refused, never accepted and ignored. */
static const struct {
        WebHandler handler;
        const char *endpoint;
        const char *why;
} kafka_refused[] = {
#define REPLAY_WHY "replays are not sent to Kafka yet (the new execution would be created on the database queue)"
        { web_api_execution_replay, "POST /api/v1/executions/{executionId}/replay", REPLAY_WHY },
        { web_api_executions_replay_by_query, "POST /api/v1/executions/replay/by-query", REPLAY_WHY },
#define STATE_WHY "the state of an ended execution or task run is not changed on Kafka yet (its executor no longer holds it)"
        { web_api_execution_task_run_state, "POST /api/v1/executions/{executionId}/state", STATE_WHY },
        { web_api_execution_change_status, "POST /api/v1/executions/{executionId}/change-status", STATE_WHY },
        { web_api_executions_change_status_by_query, "POST /api/v1/executions/change-status/by-query", STATE_WHY },
#define LABELS_WHY "labels are not sent to Kafka yet (set in the database, the indexer would write the executor's over them)"
        { web_api_execution_labels, "POST /api/v1/executions/{executionId}/labels", LABELS_WHY },
        { web_api_executions_labels_by_query, "POST /api/v1/executions/labels/by-query", LABELS_WHY },
};

int web_queue_refused(WebCtx *c, WebHandler h) {
        if (!c->kafka)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(kafka_refused); i++)
                if (kafka_refused[i].handler == h) {
                        web_reply_error(c, 501, "%s is not available with [queue] type = kafka: %s (docs/KAFKA.md)",
                                        kafka_refused[i].endpoint, kafka_refused[i].why);
                        return 1;
                }
        return 0;
}
