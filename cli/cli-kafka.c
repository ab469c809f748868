/* cli-kafka.c: tern.conf read for the Kafka queue backend and events sent to its executors, for
 * 'tern kafka', 'tern run --remote' and 'tern execution' (docs/KAFKA.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cleanup-jansson.h"
#include "cli-kafka.h"
#include "engine.h"
#include "strutil.h"
#if HAVE_KAFKA
#include "execution-kafka.h"
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
        KafkaOptions o = API_KAFKA_OPTIONS(cfg);
        _cleanup_(kafka_sender_freep) KafkaSender *k = NULL;
        _cleanup_free_ char *why = NULL;
        int r = kafka_sender_new(&o, timeout, &k, &why);
        if (r >= 0)
                r = api_kafka_event(k, id, type, payload, execution, timeout, &why);
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

int cli_kafka_submit(const char *cmd, const TernConfig *cfg, Store *s, const Execution *e, usec_t timeout) {
        _cleanup_json_ json_t *doc = execution_to_json(e);
        int r;
        if (!doc) {
                fprintf(stderr, "%s: out of memory\n", cmd);
                return 1;
        }
        if ((r = cli_kafka_event(cmd, cfg, e->id, ENGINE_EVENT_CREATED, NULL, doc, timeout)) != 0)
                return r;
#if HAVE_KAFKA
        if ((r = api_kafka_index_created(s, e, doc)) < 0)
                fprintf(stderr, "%s: warning: the execution is started but not shown in the database yet: %s\n", cmd,
                        r == -EINVAL || r == -ENOMEM ? strerror(-r) : store_error(s));
#endif
        return 0;
}
