/* execution-kafka.c: events for the executors on the Kafka queue backend, and new executions
 * shown in the database at once (execution-kafka.h). */
#include <errno.h>

#include "cleanup-jansson.h"
#include "execution-kafka.h"
#include "execution-store.h"
#include "strutil.h"

int api_kafka_event(KafkaSender *k, const char *id, const char *type, json_t *payload, json_t *execution,
                    usec_t timeout, char **ret_error) {
        _cleanup_json_ json_t *v = json_pack("{s:s, s:O?, s:O?}", "type", type, "payload", payload, "execution", execution);
        _cleanup_free_ char *buf = v ? json_dumps(v, JSON_COMPACT) : NULL;
        if (!buf)
                return -ENOMEM;
        return kafka_sender_send(k, KAFKA_TOPIC_EXECUTION_EVENTS, id, buf, timeout, ret_error);
}

typedef struct CreatedIndex {
        const Execution *e;
        json_t *doc;
} CreatedIndex;

static int index_created_tx(StoreTx *tx, void *userdata) {
        CreatedIndex *x = userdata;
        _cleanup_(execution_store_meta_done) StoreExecutionMeta m = {};
        usec_t now = now_realtime();
        if (execution_store_meta(x->e, now, &m) < 0)
                return -ENOMEM;
        int r = store_execution_create(tx, &m, x->doc, NULL, NULL, now);
        return r == -EEXIST ? 0 : r;
}

int api_kafka_index_created(Store *s, const Execution *e, json_t *doc) {
        CreatedIndex x = { .e = e, .doc = doc };
        return store_transact(s, index_created_tx, &x);
}
