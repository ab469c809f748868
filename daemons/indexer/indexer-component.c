/* indexer-component.c: the indexer's descriptor for the daemon frame: its options from [queue], its
 * loop on a thread of its own, its status and metrics. */
#include <stdlib.h>

#include "indexer-component.h"
#include "log.h"
#include "strutil.h"
#if HAVE_KAFKA
#include "indexer-kafka.h"
#endif

typedef struct IndexerComponent {
#if HAVE_KAFKA
        IndexerKafka *kafka;
        KafkaOptions kafka_options;
#endif
        int unused; /* (a struct has a member without Kafka too) */
} IndexerComponent;

static void ic_free(void *state) {
        IndexerComponent *ic = state;
        if (!ic)
                return;
#if HAVE_KAFKA
        indexer_kafka_free(ic->kafka);
#endif
        free(ic);
}

static int ic_start(Daemon *d, const char *id, const void *params, void **ret) {
        IndexerComponent *ic = calloc(1, sizeof *ic);
        if (!ic)
                return -ENOMEM;
        *ret = ic; /* freed by ic_free whatever happens next */
        /* (With [queue] type = database the frame refused it already: config_queue_unsupported().) */
#if HAVE_KAFKA
        const TernConfig *cfg = daemon_config(d);
        _cleanup_free_ char *err = NULL;
        Store *s = NULL;
        int r;
        if ((r = store_dup(daemon_store(d), &s)) < 0)
                return r;
        /* The configuration is the daemon's for as long as the component lives (a reload that
         * changes [queue] needs a restart, as config_restart_needed() says). */
        ic->kafka_options = (KafkaOptions) { .brokers = cfg->queue_brokers, .topic_prefix = cfg->queue_topic_prefix,
                                             .partitions = cfg->queue_partitions, .replication = cfg->queue_replication,
                                             .properties = cfg->queue_kafka };
        IndexerKafkaOptions ko = { .kafka = &ic->kafka_options };
        if ((r = indexer_kafka_new(s, &ko, &ic->kafka, &err)) < 0) {
                store_free(s);
                return log_error_errno(r, "Cannot start the indexer on Kafka: %s", err ? err : strerror(-r));
        }
        log_info("Indexer on Kafka ('%s'), member of group '%s'.", cfg->queue_brokers, INDEXER_KAFKA_GROUP);
        return 0;
#else
        log_error("[queue] type = kafka: this tern was built without the Kafka queue backend (librdkafka).");
        return -EINVAL;
#endif
}

#if HAVE_KAFKA
static int ic_run(void *state, int stop_fd) {
        IndexerComponent *ic = state;
        /* Each batch is one database transaction with its offsets: stopping between them loses nothing. */
        return indexer_kafka_run(ic->kafka, stop_fd);
}

static bool ic_progress(void *state, usec_t window) {
        IndexerComponent *ic = state;
        IndexerStats st;
        indexer_kafka_stats(ic->kafka, &st);
        return now_monotonic() - st.last_progress < window;
}

static void ic_status(void *state, StrBuf *out) {
        IndexerComponent *ic = state;
        IndexerStats st;
        indexer_kafka_stats(ic->kafka, &st);
        strbuf_appendf(out, "%llu records indexed: %llu execution writes, %llu log lines",
                       (unsigned long long) st.records, (unsigned long long) st.executions, (unsigned long long) st.logs);
}

static void ic_metrics(void *state, StrBuf *out) {
        IndexerComponent *ic = state;
        IndexerStats st;
        indexer_kafka_stats(ic->kafka, &st);
        strbuf_appendf(out,
                       "tern_indexer_transactions_total %llu\ntern_indexer_records_total %llu\n"
                       "tern_indexer_executions_total %llu\ntern_indexer_logs_total %llu\n"
                       "tern_indexer_refused_total %llu\n",
                       (unsigned long long) st.transactions, (unsigned long long) st.records,
                       (unsigned long long) st.executions, (unsigned long long) st.logs,
                       (unsigned long long) st.refused);
}
#else
static int ic_run(void *state, int stop_fd) {
        return -EOPNOTSUPP; /* (never started: ic_start refuses) */
}
#define ic_progress NULL
#define ic_status NULL
#define ic_metrics NULL
#endif

const DaemonComponent indexer_component = {
        .name = "indexer",
        .start = ic_start,
        .run = ic_run,
        .free = ic_free,
        .progress = ic_progress,
        .status = ic_status,
        .metrics = ic_metrics,
};
