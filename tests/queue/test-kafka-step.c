/* test-kafka-step.c: the Kafka client and the transactional step on librdkafka's mock cluster: every
 * input's output is committed exactly once while a second member joins and leaves the group, a
 * step's function fails once, and a broker goes down and comes back in the middle of the run. */
#include <stdio.h>

#include "tap.h"

#if !HAVE_KAFKA
int main(void) {
        printf("1..0 # SKIP tern is built without the Kafka queue backend (librdkafka)\n");
        return 0;
}
#else

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "kafka.h" /* rdkafka.h, which rdkafka_mock.h wants first */
#include "strutil.h"
#include <librdkafka/rdkafka_mock.h>

#define N_INPUTS 1000
#define MAX_TXN 100000
#define FAIL_ONCE_ID 123 /* the function fails the first time it sees this input */

/* What a broker does and the mock does not (docs/KAFKA.md, "Testing against librdkafka's mock
 * cluster"): it keeps the offsets a transaction committed (at EndTxn, with its records) and starts a
 * newly assigned partition there, and read_committed readers see only the records of committed
 * transactions. The test plays that part: the committed hook stores the offsets in broker_offsets
 * and marks the transaction committed, under one lock; the assigned hook starts partitions at
 * broker_offsets; the records of each member's transactions are counted only when it committed. */
static pthread_mutex_t broker_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t broker_offsets[4] = { RD_KAFKA_OFFSET_BEGINNING, RD_KAFKA_OFFSET_BEGINNING, RD_KAFKA_OFFSET_BEGINNING,
                                     RD_KAFKA_OFFSET_BEGINNING };
static atomic_int assignments;
typedef struct Member {
        int id;
        KafkaStep *step;
        pthread_t thread;
        atomic_bool stop;
        atomic_int committed_inputs, aborts, fatal;
        char *fatal_why;
        bool committed_txn[MAX_TXN];
} Member;

static atomic_int total_committed;
static atomic_bool failed_once;
static atomic_int fn_failures;
static const char *out_topic = "step-out";

static int step_fn(KafkaStep *s, const rd_kafka_message_t *in, void *userdata) {
        Member *m = userdata;
        char id[32] = "";
        snprintf(id, sizeof id, "%.*s", (int) MIN(in->len, sizeof id - 1), (const char *) in->payload);
        if (atoi(id) == FAIL_ONCE_ID && !atomic_exchange(&failed_once, true)) {
                atomic_fetch_add(&fn_failures, 1);
                return -EBADMSG;
        }
        /* The output names its transaction, for the read_committed filter of count_outputs(). */
        char out[96];
        int n = snprintf(out, sizeof out, "%d:%llu:%s", m->id, (unsigned long long) kafka_step_txn(s), id);
        return kafka_step_emit(s, out_topic, in->key, in->key_len, out, (size_t) n);
}

static void step_committed(KafkaStep *s, const rd_kafka_topic_partition_list_t *offsets, uint64_t txn, void *userdata) {
        Member *m = userdata;
        pthread_mutex_lock(&broker_lock);
        if (txn < MAX_TXN)
                m->committed_txn[txn] = true;
        for (int i = 0; i < offsets->cnt; i++)
                if (offsets->elems[i].partition >= 0 && offsets->elems[i].partition < 4)
                        broker_offsets[offsets->elems[i].partition] = offsets->elems[i].offset;
        pthread_mutex_unlock(&broker_lock);
}

static void step_assigned(KafkaStep *s, rd_kafka_topic_partition_list_t *parts, void *userdata) {
        pthread_mutex_lock(&broker_lock);
        for (int i = 0; i < parts->cnt; i++)
                if (parts->elems[i].partition >= 0 && parts->elems[i].partition < 4)
                        parts->elems[i].offset = broker_offsets[parts->elems[i].partition];
        pthread_mutex_unlock(&broker_lock);
        atomic_fetch_add(&assignments, 1);
}

static void *member_run(void *p) {
        Member *m = p;
        while (!atomic_load(&m->stop)) {
                char *why = NULL;
                int r = kafka_step_run(m->step, 100 * USEC_PER_MSEC, step_fn, m, &why);
                if (r > 0) {
                        atomic_fetch_add(&m->committed_inputs, r);
                        atomic_fetch_add(&total_committed, r);
                } else if (r == -EAGAIN || r == -EBADMSG) {
                        atomic_fetch_add(&m->aborts, 1);
                } else if (r < 0) {
                        atomic_store(&m->fatal, r);
                        m->fatal_why = why;
                        return NULL;
                }
                free(why);
        }
        return NULL;
}

/* Inputs from to to (exclusive), keyed by "execution". */
static int produce(rd_kafka_t *p, int from, int to) {
        int failed = 0;
        for (int i = from; i < to; i++) {
                char key[32], value[32];
                int kl = snprintf(key, sizeof key, "exec-%d", i), vl = snprintf(value, sizeof value, "%d", i);
                failed += rd_kafka_producev(p, RD_KAFKA_V_TOPIC("step-in"), RD_KAFKA_V_KEY(key, (size_t) kl),
                                            RD_KAFKA_V_VALUE(value, (size_t) vl), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                            RD_KAFKA_V_END) != 0;
        }
        return failed ? -EIO : 0;
}

static KafkaOptions opts;
static char *const props[] = { "session.timeout.ms=6000", "heartbeat.interval.ms=300", "log_level=2", NULL };

static int member_start(Member *m, int id) {
        char tid[32];
        snprintf(tid, sizeof tid, "step-member-%d", id);
        char *topics[] = { "step-in", NULL };
        KafkaStepOptions so = {
                .group = "step-group",
                .transactional_id = tid,
                .topics = topics,
                .batch = 50,
                .committed = step_committed,
                .assigned = step_assigned,
                .userdata = m,
        };
        _cleanup_free_ char *why = NULL;
        m->id = id;
        int r = kafka_step_new(&opts, &so, &m->step, &why);
        if (r < 0) {
                diag("member %d: %s", id, why ? why : strerror(-r));
                return r;
        }
        return -pthread_create(&m->thread, NULL, member_run, m);
}

static void member_stop(Member *m) {
        atomic_store(&m->stop, true);
        pthread_join(m->thread, NULL);
        m->step = kafka_step_free(m->step);
}

/* Wait until cond() or the deadline (seconds). */
static bool wait_until(bool (*cond)(void), int seconds) {
        for (int i = 0; i < seconds * 50; i++) {
                if (cond())
                        return true;
                usleep(20000);
        }
        return cond();
}

static int target;
static bool reached(void) {
        return atomic_load(&total_committed) >= target;
}

static Member *members[3];
static int counts[N_INPUTS];

/* Read every record of the output topic; count each input's outputs from committed transactions. */
static int count_outputs(size_t *ret_records, size_t *ret_aborted) {
        _cleanup_kafka_client_ rd_kafka_t *c = NULL;
        const char *extra[] = { "group.id", "step-verifier", "enable.auto.commit", "false", NULL };
        _cleanup_free_ char *why = NULL;
        if (kafka_client_new(&opts, RD_KAFKA_CONSUMER, extra, &c, &why) < 0) {
                diag("verifier: %s", why);
                return -1;
        }
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(4);
        int64_t high[4];
        for (int p = 0; p < 4; p++) {
                int64_t low;
                if (rd_kafka_query_watermark_offsets(c, out_topic, p, &low, &high[p], 10000))
                        return -1;
                rd_kafka_topic_partition_list_add(parts, out_topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        }
        rd_kafka_assign(c, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        memset(counts, 0, sizeof counts);
        int64_t pos[4] = { 0, 0, 0, 0 };
        size_t records = 0, aborted = 0;
        for (int idle = 0; idle < 100;) {
                bool done = true;
                for (int p = 0; p < 4; p++)
                        done = done && pos[p] >= high[p];
                if (done)
                        break;
                rd_kafka_message_t *msg = rd_kafka_consumer_poll(c, 100);
                if (!msg) {
                        idle++;
                        continue;
                }
                if (!msg->err) {
                        int member, id;
                        unsigned long long txn;
                        char text[96];
                        snprintf(text, sizeof text, "%.*s", (int) MIN(msg->len, sizeof text - 1), (const char *) msg->payload);
                        pos[msg->partition] = msg->offset + 1;
                        records++;
                        if (sscanf(text, "%d:%llu:%d", &member, &txn, &id) == 3 && member >= 0 && member < 3 &&
                            members[member] && txn < MAX_TXN && id >= 0 && id < N_INPUTS) {
                                if (members[member]->committed_txn[txn])
                                        counts[id]++;
                                else
                                        aborted++;
                        }
                }
                rd_kafka_message_destroy(msg);
        }
        rd_kafka_consumer_close(c);
        *ret_records = records;
        *ret_aborted = aborted;
        return 0;
}

int main(void) {
        /* The client and the topic set. */
        KafkaOptions plain = { .brokers = "127.0.0.1:9" };
        _cleanup_free_ char *name = NULL;
        ok(kafka_topic_name(&plain, KAFKA_TOPIC_EXECUTION_EVENTS, &name) == 0 && streq(name, "tern.execution-events"),
           "topic names take the default prefix tern. (%s)", strna(name));
        ok(kafka_topic_compacted(KAFKA_TOPIC_EXECUTION_STATE) && kafka_topic_compacted(KAFKA_TOPIC_WORKER_HEARTBEATS) &&
                   !kafka_topic_compacted(KAFKA_TOPIC_EXECUTION_EVENTS) && !kafka_topic_compacted(KAFKA_TOPIC_LOGS),
           "execution-state and worker-heartbeats are the compacted topics");
        {
                char *const bad[] = { "no.such.property=1", NULL };
                KafkaOptions o = { .brokers = "127.0.0.1:9", .properties = bad };
                rd_kafka_conf_t *conf = NULL;
                _cleanup_free_ char *why = NULL;
                ok(kafka_conf_new(&o, NULL, &conf, &why) == -EINVAL && why &&
                           strstr(why, "[queue] kafka.no.such.property: librdkafka refuses it"),
                   "a property librdkafka does not know is refused, named as tern.conf spells it: %s", strna(why));
                KafkaOptions none = { 0 };
                free(why);
                why = NULL;
                ok(kafka_conf_new(&none, NULL, &conf, &why) == -EINVAL && why && strstr(why, "[queue] brokers"),
                   "no brokers is refused: %s", strna(why));
        }

        /* A 3-broker mock cluster. */
        char errstr[256];
        rd_kafka_t *host = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), errstr, sizeof errstr);
        rd_kafka_mock_cluster_t *mc = host ? rd_kafka_mock_cluster_new(host, 3) : NULL;
        if (!ok(mc != NULL, "librdkafka's mock cluster starts with 3 brokers"))
                return tap_done();
        rd_kafka_mock_topic_create(mc, "step-in", 4, 3);
        rd_kafka_mock_topic_create(mc, out_topic, 4, 3);
        opts = (KafkaOptions) { .brokers = rd_kafka_mock_cluster_bootstraps(mc), .properties = props };

        /* The inputs come in four quarters, one in each phase of the run, so that each event happens
         * while records flow. */
        _cleanup_kafka_client_ rd_kafka_t *producer = NULL;
        {
                const char *extra[] = { "enable.idempotence", "true", NULL };
                _cleanup_free_ char *why = NULL;
                ok(kafka_client_new(&opts, RD_KAFKA_PRODUCER, extra, &producer, &why) == 0, "a producer is made: %s",
                   strna(why));
                if (!producer)
                        return tap_done();
        }
        ok(produce(producer, 0, N_INPUTS / 4) == 0 && rd_kafka_flush(producer, 30000) == 0, "the first %d inputs are produced",
           N_INPUTS / 4);

        static Member a, b;
        members[0] = &a;
        members[1] = &b;
        ok(member_start(&a, 0) == 0, "member 0 joins the group and starts stepping");
        target = N_INPUTS / 8;
        ok(wait_until(reached, 60), "member 0 commits steps (%d inputs)", atomic_load(&total_committed));

        /* A second member joins: a rebalance in the middle of the run. */
        ok(member_start(&b, 1) == 0, "member 1 joins the group");
        for (int i = 0; i < 1500 && atomic_load(&assignments) < 3; i++)
                usleep(20000);
        ok(produce(producer, N_INPUTS / 4, N_INPUTS / 2) == 0 && rd_kafka_flush(producer, 30000) == 0,
           "the second quarter is produced while member 1 joins (assignments so far: %d)", atomic_load(&assignments));
        target = N_INPUTS / 2;
        bool half = wait_until(reached, 60);
        ok(half && atomic_load(&b.committed_inputs) > 0 && atomic_load(&a.committed_inputs) > 0,
           "both members commit steps after the rebalance (member 0: %d, member 1: %d)", atomic_load(&a.committed_inputs),
           atomic_load(&b.committed_inputs));
        /* ... and leaves: its partitions go back to member 0 from their committed offsets. */
        ok(produce(producer, N_INPUTS / 2, N_INPUTS * 3 / 4) == 0, "the third quarter is produced as member 1 leaves");
        member_stop(&b);
        ok(atomic_load(&b.fatal) == 0, "member 1 left without a fatal error: %s", strna(b.fatal_why));
        ok(rd_kafka_flush(producer, 30000) == 0, "the third quarter is flushed");
        target = N_INPUTS * 5 / 8;
        ok(wait_until(reached, 60), "member 0 goes on alone (%d inputs committed)", atomic_load(&total_committed));

        /* A broker fails and comes back in the middle of the run, the last quarter produced meanwhile. */
        int before = atomic_load(&total_committed);
        ok(rd_kafka_mock_broker_set_down(mc, 1) == 0, "broker 1 goes down after %d of %d inputs", before, N_INPUTS);
        ok(produce(producer, N_INPUTS * 3 / 4, N_INPUTS) == 0, "the last quarter is produced while it is down");
        for (int i = 0; i < 100; i++) /* 2 s down: it leads partitions of both topics */
                usleep(20000);
        ok(before < N_INPUTS, "the failure came before the end of the run (%d committed when it came back)",
           atomic_load(&total_committed));
        ok(rd_kafka_mock_broker_set_up(mc, 1) == 0, "broker 1 comes back");
        ok(rd_kafka_flush(producer, 60000) == 0, "the last quarter is flushed");

        target = N_INPUTS;
        ok(wait_until(reached, 120), "every input is committed (%d, with %d aborted transactions)",
           atomic_load(&total_committed), atomic_load(&a.aborts) + atomic_load(&b.aborts));
        /* Nothing more arrives: a doubled input would show here as more commits than inputs. */
        for (int i = 0; i < 50; i++)
                usleep(20000);
        member_stop(&a);
        ok(atomic_load(&a.fatal) == 0, "member 0 had no fatal error: %s", strna(a.fatal_why));
        is_int(atomic_load(&total_committed), N_INPUTS, "the members committed exactly as many inputs as there are");
        is_int(atomic_load(&fn_failures), 1, "the function's one failure aborted its transaction");

        size_t records = 0, aborted = 0;
        ok(count_outputs(&records, &aborted) == 0, "the output topic is read (%zu records, %zu of aborted transactions)",
           records, aborted);
        int missing = 0, doubled = 0;
        for (int i = 0; i < N_INPUTS; i++) {
                missing += counts[i] == 0;
                doubled += counts[i] > 1;
        }
        is_int(missing, 0, "no input lost its output");
        is_int(doubled, 0, "no input has two committed outputs");
        /* The aborted transactions' records are there (the mock shows them) but not counted: what a
         * read_committed reader of a real broker never sees. */
        diag("%zu records of aborted transactions were left out", aborted);

        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(host);
        return tap_done();
}
#endif
