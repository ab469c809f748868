/* cli-kafka.c: tern.conf read for the Kafka queue backend and events sent to its executors, for
 * 'tern kafka', 'tern run --remote' and 'tern execution' (docs/KAFKA.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cleanup-jansson.h"
#include "cli-kafka.h"
#include "engine.h"
#include "execution-store.h"
#include "strutil.h"
#if HAVE_KAFKA
#include "kafka.h"
#endif

int cli_kafka_config_load(const char *cmd, const char *path, char **overrides, TernConfig *ret) {
        _cleanup_strv_free_ char **errors = NULL;
        int r = config_load_from(&(ConfigSource) { .path = path, .overrides = overrides, .command = true }, ret, &errors);
        if (r >= 0)
                return 0;
        for (size_t i = 0; errors && errors[i]; i++)
                fprintf(stderr, "%s: %s\n", cmd, errors[i]);
        if (!errors)
                fprintf(stderr, "%s: cannot read the configuration: %s\n", cmd, strerror(-r));
        return 1;
}

bool cli_queue_is_kafka(TernConfig *ret) {
        _cleanup_strv_free_ char **errors = NULL;
        if (config_load_from(&(ConfigSource) { .command = true }, ret, &errors) < 0)
                return false;
        if (config_queue_is_kafka(ret))
                return true;
        config_done(ret);
        return false;
}

int cli_kafka_event(const char *cmd, const TernConfig *cfg, const char *id, const char *type, json_t *payload,
                    json_t *execution, usec_t timeout) {
#if HAVE_KAFKA
        KafkaOptions o = { .brokers = cfg->queue_brokers, .topic_prefix = cfg->queue_topic_prefix,
                           .partitions = cfg->queue_partitions, .replication = cfg->queue_replication,
                           .properties = cfg->queue_kafka };
        _cleanup_free_ char *why = NULL;
        int r = kafka_send_event(&o, id, type, payload, execution, timeout, &why);
        if (r < 0) {
                fprintf(stderr, "%s: cannot send the %s event of execution '%s': %s\n", cmd, type, id,
                        why ? why : strerror(-r));
                return 1;
        }
        return 0;
#else
        fprintf(stderr, "%s: [queue] type = kafka, but this tern was built without the Kafka queue backend "
                        "(librdkafka; meson -Dkafka=enabled)\n", cmd);
        return 1;
#endif
}

typedef struct SubmitIndex {
        const Execution *e;
        json_t *doc;
} SubmitIndex;

/* (An execution the executor indexed first is left as it is.) */
static int submit_index_tx(StoreTx *tx, void *userdata) {
        SubmitIndex *x = userdata;
        _cleanup_(execution_store_meta_done) StoreExecutionMeta m = {};
        usec_t now = now_realtime();
        if (execution_store_meta(x->e, now, &m) < 0)
                return -ENOMEM;
        int r = store_execution_create(tx, &m, x->doc, NULL, NULL, now);
        return r == -EEXIST ? 0 : r;
}

int cli_kafka_submit(const char *cmd, const TernConfig *cfg, Store *s, const Execution *e, usec_t timeout) {
        _cleanup_json_ json_t *doc = execution_to_json(e);
        int r;
        if (!doc) {
                fprintf(stderr, "%s: out of memory\n", cmd);
                return 1;
        }
        if ((r = cli_kafka_event(cmd, cfg, e->id, ENGINE_EVENT_CREATED, NULL, doc, timeout)) != 0)
                return r;
        SubmitIndex x = { .e = e, .doc = doc };
        if ((r = store_transact(s, submit_index_tx, &x)) < 0)
                fprintf(stderr, "%s: warning: the execution is started but not shown in the database yet: %s\n", cmd,
                        r == -EINVAL || r == -ENOMEM ? strerror(-r) : store_error(s));
        return 0;
}
