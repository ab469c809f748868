/* scheduler-kafka.c: the scheduler's executions started on the Kafka queue backend: each firing's
 * "created" event sent to the executors and acknowledged inside the transaction that records it. */
#include <errno.h>
#include <stdlib.h>

#include "cleanup-jansson.h"
#include "engine.h"
#include "execution-kafka.h"
#include "execution-store.h"
#include "log.h"
#include "scheduler-kafka.h"
#include "strutil.h"

struct SchedulerKafka {
        const KafkaOptions *o;
        KafkaSender *sender; /* NULL after a failed send: made again at the next */
};

int scheduler_kafka_new(const KafkaOptions *o, SchedulerKafka **ret, char **ret_error) {
        _cleanup_(scheduler_kafka_freep) SchedulerKafka *k = calloc(1, sizeof *k);
        if (!k)
                return -ENOMEM;
        k->o = o;
        int r = kafka_sender_new(o, SCHEDULER_KAFKA_TIMEOUT_USEC, &k->sender, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(k);
        return 0;
}

SchedulerKafka *scheduler_kafka_free(SchedulerKafka *k) {
        if (!k)
                return NULL;
        kafka_sender_free(k->sender);
        free(k);
        return NULL;
}

int scheduler_kafka_start(StoreTx *tx, const Execution *e, usec_t now, void *userdata) {
        SchedulerKafka *k = userdata;
        _cleanup_(execution_store_meta_done) StoreExecutionMeta m = {};
        _cleanup_json_ json_t *doc = execution_to_json(e);
        _cleanup_free_ char *why = NULL;
        int r;

        if (!doc || execution_store_meta(e, now, &m) < 0)
                return -ENOMEM;
        /* The row first: its id is derived from the firing, so a row there means this firing's
         * event was sent and acknowledged before (a transaction that committed, or the indexer's
         * copy of what the executor took from the event). Written without an event: the database's
         * queue is not read on Kafka. It also shows the execution at once, as 'tern kafka submit'
         * does; the indexer replaces it with each step. */
        if ((r = store_execution_create(tx, &m, doc, NULL, NULL, now)) < 0)
                return r;
        if (!k->sender && (r = kafka_sender_new(k->o, SCHEDULER_KAFKA_TIMEOUT_USEC, &k->sender, &why)) < 0)
                goto fail;
        /* Sent while tx holds the trigger's row (another scheduler skips it): the slot is recorded
         * only once the brokers have the event, and a crash between the two leaves a rerun of the
         * slot that the row (or the executor holding the execution) refuses. */
        r = api_kafka_event(k->sender, e->id, ENGINE_EVENT_CREATED, NULL, doc, SCHEDULER_KAFKA_TIMEOUT_USEC, &why);
        if (r >= 0)
                return 0;
        k->sender = kafka_sender_free(k->sender);
fail:
        log_error("Cannot start execution %s of %s.%s on Kafka (tried again at the next step): %s", e->id,
                  e->namespace, e->flow_id, why ? why : strerror(-r));
        return r;
}
