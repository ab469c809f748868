/* worker-kafka-kills.c: the kills of running tasks that the executors send to the workers on Kafka:
 * every partition of worker-kills read by a thread of its own, each kill passed on and remembered. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "log.h"
#include "strutil.h"
#include "worker-kafka-kills.h"

typedef struct Kill {
        char *task_run_id;
        int64_t epoch;
        usec_t at; /* when it was sent (the record's timestamp), realtime */
} Kill;

struct WorkerKills {
        WorkerKillFn fn;
        void *userdata;
        char *topic;
        rd_kafka_t *consumer;
        pthread_t thread;
        bool started;
        atomic_bool stop;
        pthread_mutex_t lock;
        Kill *kills; /* those of the last WORKER_KILLS_KEEP_USEC (under lock) */
        size_t n_kills, n_alloc;
};

/* Kills are few (one per task run killed while it ran or waited): a list scanned whole will do. */
static void kills_forget_old(WorkerKills *k, usec_t now) {
        size_t j = 0;
        for (size_t i = 0; i < k->n_kills; i++)
                if (k->kills[i].at + WORKER_KILLS_KEEP_USEC >= now)
                        k->kills[j++] = k->kills[i];
                else
                        free(k->kills[i].task_run_id);
        k->n_kills = j;
}

static int kills_add(WorkerKills *k, const char *task_run_id, int64_t epoch, usec_t at) {
        int r = 0;
        pthread_mutex_lock(&k->lock);
        kills_forget_old(k, now_realtime());
        if (k->n_kills == k->n_alloc) {
                size_t na = MAX(k->n_alloc * 2, (size_t) 16);
                Kill *l = reallocarray(k->kills, na, sizeof *l);
                if (l) {
                        k->kills = l;
                        k->n_alloc = na;
                }
        }
        char *id = strdup(task_run_id);
        if (!id || k->n_kills == k->n_alloc) {
                free(id);
                r = -ENOMEM;
        } else
                k->kills[k->n_kills++] = (Kill) { id, epoch, at };
        pthread_mutex_unlock(&k->lock);
        return r;
}

bool worker_kills_has(WorkerKills *k, const char *task_run_id, int64_t epoch) {
        bool found = false;
        if (!k || !task_run_id)
                return false;
        pthread_mutex_lock(&k->lock);
        for (size_t i = 0; i < k->n_kills && !found; i++)
                found = k->kills[i].epoch == epoch && streq(k->kills[i].task_run_id, task_run_id);
        pthread_mutex_unlock(&k->lock);
        return found;
}

/* A record {type: "kill", executionId, taskRunId, epoch, jobId}: remembered, then passed on (in
 * that order: a slot that starts the job meanwhile finds it remembered, worker_kills_has()). */
static void kills_take(WorkerKills *k, const rd_kafka_message_t *m) {
        rd_kafka_timestamp_type_t tt;
        int64_t ts = rd_kafka_message_timestamp(m, &tt);
        usec_t at = ts > 0 ? (usec_t) ts * USEC_PER_MSEC : now_realtime();
        if (at + WORKER_KILLS_KEEP_USEC < now_realtime())
                return; /* older than any job still waiting to run */
        _cleanup_json_ json_t *v = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
        const char *tr = json_string_value(json_object_get(v, "taskRunId"));
        json_t *epoch = json_object_get(v, "epoch");
        if (!streq_ptr(json_string_value(json_object_get(v, "type")), "kill") || !tr || !json_is_integer(epoch)) {
                log_debug("Skipping the record at offset %lld of partition %d of '%s': not a kill.", (long long) m->offset,
                          (int) m->partition, k->topic);
                return;
        }
        if (kills_add(k, tr, json_integer_value(epoch), at) < 0)
                log_error("Out of memory: the kill of task run '%s' is not remembered for a job that starts later.", tr);
        k->fn(tr, json_integer_value(epoch), k->userdata);
}

static void *kills_thread(void *arg) {
        WorkerKills *k = arg;
        bool warned = false;
        while (!atomic_load(&k->stop)) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(k->consumer, 200);
                if (!m)
                        continue;
                if ((m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) &&
                    !warned) {
                        /* A cluster set up before this topic was: the rest works, kills do not stop tasks. */
                        log_warning("Cannot read '%s' (%s): a killed execution's tasks run on to their end on this "
                                    "worker; 'tern kafka init' makes the topic.", k->topic, rd_kafka_message_errstr(m));
                        warned = true;
                } else if (m->err)
                        log_debug("Reading '%s': %s", k->topic, rd_kafka_message_errstr(m));
                else
                        kills_take(k, m);
                rd_kafka_message_destroy(m);
        }
        return NULL;
}

int worker_kills_new(const KafkaOptions *o, WorkerKillFn fn, void *userdata, WorkerKills **ret, char **ret_error) {
        _cleanup_(worker_kills_freep) WorkerKills *k = calloc(1, sizeof *k);
        /* In no group: every worker reads every kill (the executor does not know which partition of
         * worker-jobs the worker running a job reads now, nor whether it reads any: a worker whose
         * slots are full does not fetch). A group id only because librdkafka wants one; nothing is
         * committed under it. */
        const char *extra[] = { "enable.auto.commit", "false", "group.id", "tern-worker-kills", "isolation.level",
                                "read_committed", NULL };
        unsigned n = o->partitions ?: KAFKA_PARTITIONS_DEFAULT;
        int r;
        if (!k)
                return -ENOMEM;
        pthread_mutex_init(&k->lock, NULL);
        k->fn = fn;
        k->userdata = userdata;
        if ((r = kafka_topic_name(o, KAFKA_TOPIC_WORKER_KILLS, &k->topic)) < 0)
                return r;
        if ((r = kafka_client_new(o, RD_KAFKA_CONSUMER, extra, &k->consumer, ret_error)) < 0)
                return r;
        _cleanup_(kafka_partition_list_freep) rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int) n);
        if (!l)
                return -ENOMEM;
        /* From the start: kills are few, and those older than WORKER_KILLS_KEEP_USEC are skipped. */
        for (unsigned i = 0; i < n; i++)
                rd_kafka_topic_partition_list_add(l, k->topic, (int32_t) i)->offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_resp_err_t err = rd_kafka_assign(k->consumer, l);
        if (err) {
                error_setf(ret_error, "cannot read '%s': %s", k->topic, rd_kafka_err2str(err));
                return kafka_errno(err);
        }
        *ret = TAKE_PTR(k);
        return 0;
}

int worker_kills_start(WorkerKills *k) {
        if (pthread_create(&k->thread, NULL, kills_thread, k) != 0)
                return -EAGAIN;
        k->started = true;
        return 0;
}

WorkerKills *worker_kills_free(WorkerKills *k) {
        if (!k)
                return NULL;
        atomic_store(&k->stop, true);
        if (k->started)
                pthread_join(k->thread, NULL);
        if (k->consumer) {
                (void) rd_kafka_consumer_close(k->consumer);
                rd_kafka_destroy(k->consumer);
        }
        for (size_t i = 0; i < k->n_kills; i++)
                free(k->kills[i].task_run_id);
        free(k->kills);
        free(k->topic);
        pthread_mutex_destroy(&k->lock);
        free(k);
        return NULL;
}
