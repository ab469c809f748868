/* executor-kafka.c: the executor on Kafka: events and results applied by the pure engine in
 * transactional steps, execution state in memory and in the compacted execution-state topic. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "execution-create.h"
#include "execution-files.h"
#include "executor-kafka.h"
#include "executor-subflow.h"
#include "hashmap.h"
#include "id.h"
#include "kv-function.h"
#include "log.h"
#include "storage.h"
#include "strutil.h"

/* Keys of execution-state that are not executions: "offsets:TOPIC" holds the next offset of
 * partition p of TOPIC that the state of partition p reflects (an execution id has no ':'). */
#define OFFSETS_KEY_PREFIX "offsets:"
/* How long a rebuild of the state of the assigned partitions may take before the member gives up. */
#define REBUILD_TIMEOUT_USEC (120 * USEC_PER_SEC)
/* How often the heartbeats read are checked for dead workers. */
#define LIVENESS_CHECK_USEC (500 * USEC_PER_MSEC)
/* How many ended executions (at least) are remembered after they are forgotten (ended_add()). */
#define ENDED_REMEMBERED 65536

/* An execution this member owns: what the open transaction made of it, and what is committed. */
typedef struct KExec {
        Execution *e;      /* as applied so far */
        json_t *timers;    /* [{executionId, type, payload, dueAt}]: delayed events it emits when due */
        json_t *jobs;      /* taskRunId -> epoch of its job in flight (a result of another epoch is stale) */
        json_t *job_docs;  /* taskRunId -> that job as emitted: resubmitted from it when its worker dies */
        json_t *logs;      /* engine log lines not yet emitted to the logs topic (save() does) */
        json_t *committed; /* its state record as committed; NULL: new in the open transaction */
        json_t *pending;   /* its state record as the open transaction wrote it */
        int32_t partition;
        bool touched;
} KExec;

struct ExecutorKafka {
        Store *store;
        ExecutorKafkaOptions opt;
        char *topics[_KAFKA_TOPIC_MAX];
        KafkaStep *step;
        ApiFlowCache *flows, *own_flows;
        Storage *storage;
        Hashmap execs; /* id -> KExec* (NULL once dropped) */
        Hashmap ended[2]; /* ids of ended executions, the newer generation first (ended_add()) */
        size_t n_execs; /* of them not NULL */
        KExec **touched;
        size_t n_touched, n_touched_alloc;
        usec_t now;
        int fatal; /* a rebuild failed: this member cannot go on */
        rd_kafka_t *beats;  /* reads every partition of worker-heartbeats, in no group */
        json_t *workers;    /* workerId -> its latest heartbeat */
        usec_t liveness_next; /* monotonic: when dead workers are looked for next */
        pthread_mutex_t stats_lock;
        ExecutorStats stats;
};

static KExec *kexec_free(KExec *k) {
        if (!k)
                return NULL;
        execution_free(k->e);
        json_decref(k->timers);
        json_decref(k->jobs);
        json_decref(k->job_docs);
        json_decref(k->logs);
        json_decref(k->committed);
        json_decref(k->pending);
        free(k);
        return NULL;
}
DEFINE_FREE_CLEANUP(KExec, kexec_free)

/* The working state from a state record {execution, timers, jobs} (the record is not changed). */
static int kexec_load(KExec *k, json_t *record) {
        Execution *e = NULL;
        int r = execution_from_json(json_object_get(record, "execution"), &e);
        if (r < 0)
                return r;
        json_t *timers = json_object_get(record, "timers"), *jobs = json_object_get(record, "jobs");
        json_t *docs = json_object_get(record, "jobDocs");
        execution_free(k->e);
        json_decref(k->timers);
        json_decref(k->jobs);
        json_decref(k->job_docs);
        k->e = e;
        k->timers = json_is_array(timers) ? json_deep_copy(timers) : json_array();
        k->jobs = json_is_object(jobs) ? json_deep_copy(jobs) : json_object();
        k->job_docs = json_is_object(docs) ? json_deep_copy(docs) : json_object();
        json_array_clear(k->logs);
        return k->timers && k->jobs && k->job_docs ? 0 : -ENOMEM;
}

static int kexec_new(json_t *record, bool committed, int32_t partition, KExec **ret) {
        _cleanup_(kexec_freep) KExec *k = calloc(1, sizeof *k);
        if (!k || !(k->logs = json_array()))
                return -ENOMEM;
        int r = kexec_load(k, record);
        if (r < 0)
                return r;
        k->partition = partition;
        if (committed)
                k->committed = json_incref(record);
        *ret = TAKE_PTR(k);
        return 0;
}

static void execs_drop(ExecutorKafka *x, const char *id) {
        char key[ID_MAX];
        /* (id may be the execution's own, freed with it.) */
        snprintf(key, sizeof key, "%s", id);
        KExec *k = hashmap_get(&x->execs, key);
        if (k) {
                kexec_free(k);
                (void) hashmap_put(&x->execs, key, NULL);
                x->n_execs--;
        }
}

static int execs_add(ExecutorKafka *x, const char *id, KExec *k) {
        int r = hashmap_put(&x->execs, id, k);
        if (r >= 0)
                x->n_execs++;
        return r;
}

/* The map has no removal: the keys of dropped executions stay. Past twice as many as are in
 * flight (and a thousand), it is made anew with those in flight, so that memory follows what the
 * member holds, not every execution it ever ran. */
static void execs_compact(ExecutorKafka *x) {
        Hashmap h = HASHMAP_INIT;
        if (hashmap_size(&x->execs) < 2 * x->n_execs + 1024)
                return;
        for (size_t i = 0; i < x->execs.n_buckets; i++)
                if (x->execs.entries[i].key && x->execs.entries[i].value &&
                    hashmap_put(&h, x->execs.entries[i].key, x->execs.entries[i].value) < 0) {
                        hashmap_done(&h); /* (kept as it is: tried again at the next end) */
                        return;
                }
        hashmap_done(&x->execs);
        x->execs = h;
}

/* An execution that ended here, or that a rebuild found ended: a second "created" event of it (its
 * creator sent it again, not knowing that the first was acknowledged: a scheduler killed between
 * the brokers' acknowledgement and its commit) is refused rather than taken for a new execution once
 * the first is forgotten. Two generations of ENDED_REMEMBERED ids: memory stays bounded and the
 * latest ENDED_REMEMBERED are always known (a duplicate follows its first within a restart). */
static void ended_add(ExecutorKafka *x, const char *id) {
        if (hashmap_size(&x->ended[0]) >= ENDED_REMEMBERED) {
                hashmap_done(&x->ended[1]);
                x->ended[1] = x->ended[0];
                x->ended[0] = (Hashmap) HASHMAP_INIT;
        }
        /* (Out of memory, it is not remembered: only a duplicate of it would run again.) */
        (void) hashmap_put(&x->ended[0], id, (void *) 1);
}

static bool ended_known(const ExecutorKafka *x, const char *id) {
        return hashmap_get(&x->ended[0], id) || hashmap_get(&x->ended[1], id);
}

static void execs_clear(ExecutorKafka *x) {
        Hashmap *h = &x->execs;
        for (size_t i = 0; i < h->n_buckets; i++)
                if (h->entries[i].key)
                        kexec_free(h->entries[i].value);
        hashmap_done(h);
        *h = (Hashmap) HASHMAP_INIT;
        x->n_execs = 0;
        x->n_touched = 0;
}

/* ---- the records ------------------------------------------------------------------------------- */

static int emit_json(KafkaStep *s, const char *topic, int32_t partition, const char *key, json_t *v) {
        _cleanup_free_ char *buf = json_dumps(v, JSON_COMPACT);
        if (!buf)
                return -ENOMEM;
        return kafka_step_emit_to(s, topic, partition, key, strlen(key), buf, strlen(buf));
}

/* An event for execution id, into its partition of execution-events (the key's). */
static int emit_event(ExecutorKafka *x, KafkaStep *s, const char *id, const char *type, json_t *payload,
                      json_t *execution) {
        if (isempty(id) || isempty(type)) {
                /* The engine names a target for every event: one without is dropped, as the database
                 * executor drops an event for an execution that is gone. */
                log_debug("Dropping an event '%s' without a target execution.", strna(type));
                return 0;
        }
        _cleanup_json_ json_t *v = json_pack("{s:s, s:O?, s:O?}", "type", type, "payload", payload, "execution",
                                             execution);
        if (!v)
                return -ENOMEM;
        return emit_json(s, x->topics[KAFKA_TOPIC_EXECUTION_EVENTS], RD_KAFKA_PARTITION_UA, id, v);
}

static int touch(ExecutorKafka *x, KExec *k) {
        if (k->touched)
                return 0;
        if (x->n_touched == x->n_touched_alloc) {
                size_t na = MAX(x->n_touched_alloc * 2, (size_t) 32);
                KExec **t = reallocarray(x->touched, na, sizeof *t);
                if (!t)
                        return -ENOMEM;
                x->touched = t;
                x->n_touched_alloc = na;
        }
        x->touched[x->n_touched++] = k;
        k->touched = true;
        return 0;
}

/* The engine's log lines of k since its last save, to the logs topic in the open transaction (the
 * indexer writes them to the database once it is committed). */
static int emit_logs(ExecutorKafka *x, KafkaStep *s, KExec *k) {
        size_t i;
        json_t *l;
        int r;
        json_array_foreach(k->logs, i, l) {
                _cleanup_json_ json_t *v = json_pack("{s:s, s:O?, s:O?, s:O?, s:O?, s:I, s:O?}", "executionId", k->e->id,
                                                     "taskRunId", json_object_get(l, "taskRunId"), "taskId",
                                                     json_object_get(l, "taskId"), "attempt", json_object_get(l, "attempt"),
                                                     "level", json_object_get(l, "level"), "timestamp", (json_int_t) x->now,
                                                     "message", json_object_get(l, "message"));
                if (!v)
                        return -ENOMEM;
                if ((r = emit_json(s, x->topics[KAFKA_TOPIC_LOGS], k->partition, k->e->id, v)) < 0)
                        return r;
        }
        json_array_clear(k->logs);
        return 0;
}

/* Write k's state record in the open transaction, into the partition of execution-state that
 * matches its events' (its owner rebuilds it from there). */
static int save(ExecutorKafka *x, KafkaStep *s, KExec *k) {
        _cleanup_json_ json_t *rec = json_pack("{s:o, s:o, s:o, s:o}", "execution", execution_to_json(k->e), "timers",
                                               json_deep_copy(k->timers), "jobs", json_deep_copy(k->jobs), "jobDocs",
                                               json_deep_copy(k->job_docs));
        int r;
        if (!rec || !json_object_get(rec, "execution"))
                return -ENOMEM;
        if ((r = emit_json(s, x->topics[KAFKA_TOPIC_EXECUTION_STATE], k->partition, k->e->id, rec)) < 0 ||
            (r = emit_logs(x, s, k)) < 0)
                return r;
        json_decref(k->pending);
        k->pending = TAKE_PTR(rec);
        return 0;
}

/* ---- flows and the engine's effects ------------------------------------------------------------- */

typedef struct FlowLoad {
        ApiFlowCache *cache;
        const char *ns, *id;
        int revision;
        ApiFlow *flow;
} FlowLoad;

static int flow_load_tx(StoreTx *tx, void *userdata) {
        FlowLoad *l = userdata;
        return api_flow_load(l->cache, tx, l->ns, l->id, l->revision, &l->flow);
}

/* Flows stay in the database with the Kafka queue: the store reads them (a revision once). */
static int flow_load(ExecutorKafka *x, const char *ns, const char *id, int revision, ApiFlow **ret) {
        FlowLoad l = { .cache = x->flows, .ns = ns, .id = id, .revision = revision };
        int r = store_transact(x->store, flow_load_tx, &l);
        if (r < 0)
                return r;
        *ret = l.flow;
        return 0;
}

static int subflow_failed(ExecutorKafka *x, KafkaStep *s, json_t *req, const char *why) {
        _cleanup_json_ json_t *p = json_pack("{s:O, s:s}", "taskRunId", json_object_get(req, "parentTaskRunId"),
                                             "error", why);
        if (!p)
                return -ENOMEM;
        return emit_event(x, s, json_string_value(json_object_get(req, "parentExecutionId")),
                          ENGINE_EVENT_SUBFLOW_FAILED, p, NULL);
}

/* A new execution, announced by its "created" event carrying its document: whoever owns its
 * partition takes it from there. */
static int emit_created(ExecutorKafka *x, KafkaStep *s, const Execution *e) {
        _cleanup_json_ json_t *doc = execution_to_json(e);
        if (!doc)
                return -ENOMEM;
        return emit_event(x, s, e->id, ENGINE_EVENT_CREATED, NULL, doc);
}

static int create_subflow(ExecutorKafka *x, KafkaStep *s, const Execution *parent, json_t *req) {
        const char *ns = json_string_value(json_object_get(req, "namespace"));
        const char *id = json_string_value(json_object_get(req, "flowId"));
        json_t *rev = json_object_get(req, "revision");
        _cleanup_api_flow_ ApiFlow *f = NULL;
        _cleanup_free_ char *err = NULL, *why = NULL;
        _cleanup_(executor_subflow_done) ExecutorSubflow sub = {};
        _cleanup_execution_ Execution *child = NULL;
        int r;

        r = flow_load(x, ns, id, json_is_integer(rev) ? (int) json_integer_value(rev) : 0, &f);
        if (r == -ENOENT || r == -EBADMSG) {
                why = strdup_printf("Subflow '%s.%s' %s", ns, id, r == -ENOENT ? "not found" : "is not valid");
                return subflow_failed(x, s, req, why ? why : "subflow unavailable");
        }
        if (r < 0)
                return r;
        if ((r = executor_subflow_prepare(parent, req, &sub)) < 0)
                return r;
        r = api_execution_build(f->flow, &sub.n, x->now, &child, &err);
        if (r == -EINVAL || r == -E2BIG || r == -EPERM) {
                why = strdup_printf("Subflow '%s.%s': %s%s", ns, id, r == -EINVAL ? "invalid inputs: " : "",
                                    err ? err : strerror(-r));
                return subflow_failed(x, s, req, why ? why : "invalid inputs");
        }
        if (r < 0)
                return r;
        return emit_created(x, s, child);
}

/* The next execution of a retry chain (retry behavior CREATE_NEW_EXECUTION). */
static int create_retry(ExecutorKafka *x, KafkaStep *s, json_t *req) {
        const char *ns = json_string_value(json_object_get(req, "namespace"));
        const char *id = json_string_value(json_object_get(req, "flowId"));
        _cleanup_api_flow_ ApiFlow *f = NULL;
        _cleanup_free_ char *err = NULL;
        _cleanup_execution_ Execution *e = NULL;
        int r = flow_load(x, ns, id, (int) json_integer_value(json_object_get(req, "revision")), &f);
        if (r == -ENOENT || r == -EBADMSG) {
                log_error("Cannot retry an execution of %s.%s: its flow is %s", ns, id, r == -ENOENT ? "gone" : "not valid");
                return 0;
        }
        if (r < 0)
                return r;
        ApiExecutionNew n = executor_retry_new(req, &x->opt.engine);
        r = api_execution_build(f->flow, &n, x->now, &e, &err);
        if (r == -EINVAL || r == -E2BIG || r == -EPERM) {
                log_error("Cannot retry an execution of %s.%s: %s", ns, id, err ? err : strerror(-r));
                return 0;
        }
        return r < 0 ? r : emit_created(x, s, e);
}

/* Tell the workers to stop the job of task run tr at epoch: every worker reads worker-kills whole,
 * and the one running it stops its task (docs/KAFKA.md). In the step's transaction, with the state
 * that ends the task run. */
static int emit_kill(ExecutorKafka *x, KafkaStep *s, KExec *k, const char *tr, json_t *epoch) {
        _cleanup_json_ json_t *v = json_pack("{s:s, s:s, s:s, s:O, s:O?}", "type", "kill", "executionId", k->e->id,
                                             "taskRunId", tr, "epoch", epoch, "jobId",
                                             json_object_get(json_object_get(k->job_docs, tr), "jobId"));
        if (!v)
                return -ENOMEM;
        return emit_json(s, x->topics[KAFKA_TOPIC_WORKER_KILLS], RD_KAFKA_PARTITION_UA, k->e->id, v);
}

static int apply_effects(ExecutorKafka *x, KafkaStep *s, KExec *k, EngineEffects *fx) {
        size_t i;
        json_t *j;
        int r;

        json_array_foreach(fx->jobs, i, j) {
                const char *tr = json_string_value(json_object_get(j, "taskRunId"));
                char id[128];
                if (!tr)
                        continue;
                /* Each job of a task run (a new attempt) carries the next epoch: a late result of an
                 * earlier one is refused. */
                json_int_t epoch = json_integer_value(json_object_get(k->jobs, tr)) + 1;
                snprintf(id, sizeof id, "%s-%lld", tr, (long long) json_integer_value(json_object_get(j, "attempt")));
                _cleanup_json_ json_t *job = json_copy(j);
                if (!job || json_object_set_new(job, "jobId", json_string(id)) < 0 ||
                    json_object_set_new(job, "epoch", json_integer(epoch)) < 0 ||
                    json_object_set_new(job, "partition", json_integer(k->partition)) < 0 ||
                    json_object_set_new(k->jobs, tr, json_integer(epoch)) < 0 || json_object_set(k->job_docs, tr, job) < 0)
                        return -ENOMEM;
                if ((r = emit_json(s, x->topics[KAFKA_TOPIC_WORKER_JOBS], RD_KAFKA_PARTITION_UA, k->e->id, job)) < 0)
                        return r;
        }
        json_array_foreach(fx->events, i, j) {
                usec_t due = (usec_t) json_integer_value(json_object_get(j, "dueAt"));
                if (due > x->now) {
                        /* Held in the emitting execution's state until due (retries, pauses, Sleep). */
                        if (json_array_append(k->timers, j) < 0)
                                return -ENOMEM;
                        continue;
                }
                if ((r = emit_event(x, s, json_string_value(json_object_get(j, "executionId")),
                                    json_string_value(json_object_get(j, "type")), json_object_get(j, "payload"),
                                    NULL)) < 0)
                        return r;
        }
        json_array_foreach(fx->subflows, i, j)
                if ((r = create_subflow(x, s, k->e, j)) < 0)
                        return r;
        json_array_foreach(fx->executions, i, j)
                if ((r = create_retry(x, s, j)) < 0)
                        return r;
        json_array_foreach(fx->cancels, i, j) {
                /* The task run is ended KILLED now, and the worker running the job is told to stop
                 * its task (worker-kills); the job's own result, if it comes, is refused as stale. */
                const char *tr = json_string_value(j);
                json_t *epoch = tr ? json_object_get(k->jobs, tr) : NULL;
                if (!epoch)
                        continue;
                _cleanup_json_ json_t *p = json_pack("{s:s, s:O, s:{s:s, s:s}}", "taskRunId", tr, "epoch", epoch, "result",
                                                     "state", state_to_string(STATE_KILLED), "error", "killed");
                if (!p)
                        return -ENOMEM;
                if ((r = emit_event(x, s, k->e->id, ENGINE_EVENT_TASK_RESULT, p, NULL)) < 0 ||
                    (r = emit_kill(x, s, k, tr, epoch)) < 0)
                        return r;
        }
        return json_array_extend(k->logs, fx->logs) < 0 ? -ENOMEM : 0;
}

/* An execution the engine cannot work with (its flow is gone or invalid) ends FAILED with a log
 * line saying why, so that it blocks nothing. */
static int fail(ExecutorKafka *x, KExec *k, const char *why) {
        log_error("Execution '%s' of %s.%s failed: %s", k->e->id, k->e->namespace, k->e->flow_id, why);
        if (state_is_terminal(k->e->state.current))
                return 0;
        state_info_force(&k->e->state, STATE_FAILED, x->now);
        return json_array_append_new(k->logs, json_pack("{s:s, s:s}", "level", "ERROR", "message", why)) < 0 ? -ENOMEM
                                                                                                             : 0;
}

/* A flow's concurrency limit needs the count of its active executions, which are spread over the
 * partitions and their members here (the database executor counts them in its transaction): not
 * kept yet, so an execution of such a flow that would start is refused rather than run past it. */
static bool concurrency_refused(const Flow *f, const char *type) {
        return f->concurrency.limit > 0 && (streq(type, ENGINE_EVENT_CREATED) || streq(type, ENGINE_EVENT_RESTART));
}

static int apply(ExecutorKafka *x, KafkaStep *s, KExec *k, const char *type, json_t *payload) {
        _cleanup_api_flow_ ApiFlow *af = NULL;
        Execution *e = k->e;
        bool was_terminal = state_is_terminal(e->state.current);
        int r;

        if ((r = touch(x, k)) < 0)
                return r;
        r = flow_load(x, e->namespace, e->flow_id, e->flow_revision, &af);
        if (r == -ENOENT || r == -EBADMSG) {
                _cleanup_free_ char *why = strdup_printf("flow '%s.%s' revision %d is %s", e->namespace, e->flow_id,
                                                         e->flow_revision, r == -ENOENT ? "missing" : "not valid");
                if ((r = fail(x, k, why ? why : "its flow is unavailable")) < 0)
                        return r;
        } else if (r < 0)
                return r;
        else if (concurrency_refused(af->flow, type)) {
                _cleanup_free_ char *why = strdup_printf(
                        "flow '%s.%s' has a concurrency limit (%lld), which the Kafka queue backend does not keep yet "
                        "(docs/KAFKA.md): the execution is not run", e->namespace, e->flow_id,
                        (long long) af->flow->concurrency.limit);
                if ((r = fail(x, k, why ? why : "a concurrency limit is not kept on Kafka yet")) < 0)
                        return r;
        } else {
                EngineEffects fx;
                if ((r = engine_effects_init(&fx)) < 0)
                        return r;
                r = engine_apply(&x->opt.engine, af->flow, e, type, payload, x->now, &fx);
                if (r >= 0)
                        r = apply_effects(x, s, k, &fx);
                engine_effects_done(&fx);
                if (r < 0)
                        return r;
        }
        if (!was_terminal && state_is_terminal(e->state.current))
                log_fields_errno(LOG_INFO, 0,
                                 LOG_FIELDS({ "TERN_EXECUTION_ID", e->id }, { "TERN_NAMESPACE", e->namespace },
                                            { "TERN_FLOW", e->flow_id }),
                                 3, "Execution %s of %s.%s ended %s", e->id, e->namespace, e->flow_id,
                                 state_to_string(e->state.current));
        return save(x, s, k);
}

/* The state of partition p of the execution-state topic reflects the records of partition p of topic
 * up to this offset: written in the step's transaction, so that a member that takes the partition
 * over starts where the state ends whatever the group's committed offsets say. */
static int emit_offset(ExecutorKafka *x, KafkaStep *s, const rd_kafka_message_t *m) {
        _cleanup_free_ char *key = strjoin(OFFSETS_KEY_PREFIX, rd_kafka_topic_name(m->rkt));
        _cleanup_json_ json_t *v = json_pack("{s:I}", "offset", (json_int_t) (m->offset + 1));
        if (!key || !v)
                return -ENOMEM;
        return emit_json(s, x->topics[KAFKA_TOPIC_EXECUTION_STATE], m->partition, key, v);
}

/* The events whose document the member takes an execution from when it does not hold it: a new
 * execution ("created"), and an ended one that is restarted (the CLI or API sends the document
 * the database shows, the last its executor indexed: an ended execution is forgotten here). */
static bool event_takes_document(const char *type) {
        return streq(type, ENGINE_EVENT_CREATED) || streq(type, ENGINE_EVENT_RESTART);
}

/* One consumed event or result. Records that do not apply (not an event, an execution this member
 * does not hold, a stale result) are consumed without effect, with the reason at debug level. */
static int step_fn(KafkaStep *s, const rd_kafka_message_t *m, void *userdata) {
        ExecutorKafka *x = userdata;
        char id[ID_MAX];
        json_error_t jerr;
        int r;

        x->now = now_realtime();
        if (m->key_len == 0 || m->key_len >= sizeof id || memchr(m->key, ':', m->key_len)) {
                log_warning("Dropping a record of '%s' (partition %d, offset %lld) without an execution id as key.",
                            rd_kafka_topic_name(m->rkt), (int) m->partition, (long long) m->offset);
                return emit_offset(x, s, m);
        }
        snprintf(id, sizeof id, "%.*s", (int) m->key_len, (const char *) m->key);
        _cleanup_json_ json_t *v = json_loadb(m->payload, m->len, 0, &jerr);
        const char *type = json_string_value(json_object_get(v, "type"));
        json_t *payload = json_object_get(v, "payload"), *doc = json_object_get(v, "execution");
        if (!type) {
                log_warning("Dropping a record of '%s' (partition %d, offset %lld) for execution '%s': not an event (%s).",
                            rd_kafka_topic_name(m->rkt), (int) m->partition, (long long) m->offset, id,
                            v ? "no type" : jerr.text);
                return emit_offset(x, s, m);
        }
        KExec *k = hashmap_get(&x->execs, id);
        if (!k && doc && event_takes_document(type) && !(streq(type, ENGINE_EVENT_CREATED) && ended_known(x, id))) {
                _cleanup_json_ json_t *rec = json_pack("{s:O}", "execution", doc);
                if (!rec)
                        return -ENOMEM;
                r = kexec_new(rec, false, m->partition, &k);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        log_error("Dropping the '%s' event of execution '%s': its document cannot be read (%s).", type, id,
                                  strerror(-r));
                        return emit_offset(x, s, m);
                }
                if (!streq(k->e->id, id) || execs_add(x, id, k) < 0) {
                        log_error("Dropping the '%s' event of execution '%s': its document is another's ('%s').", type, id,
                                  k->e->id);
                        kexec_free(k);
                        return emit_offset(x, s, m);
                }
        } else if (!k || (streq(type, ENGINE_EVENT_CREATED) && doc)) {
                /* Ended (and dropped from memory), never created, or created twice (a creator's
                 * retry, also after its first ended: ended_add()): nothing to apply. */
                log_debug("Event '%s' for execution '%s' not applied: %s.", type, id, k ? "it exists already" : "unknown or ended here");
                return emit_offset(x, s, m);
        }
        if (streq(type, ENGINE_EVENT_TASK_RESULT)) {
                /* Fencing (engine rule 3): only the result of the job in flight counts. */
                const char *tr = json_string_value(json_object_get(payload, "taskRunId"));
                json_t *want = tr ? json_object_get(k->jobs, tr) : NULL;
                json_t *got = json_object_get(payload, "epoch");
                if (!want || !json_equal(want, got)) {
                        log_warning("Result for task run '%s' of execution '%s' refused: epoch %lld is not the job's (%s).",
                                    strna(tr), id, (long long) json_integer_value(got), want ? "resubmitted" : "none in flight");
                        return emit_offset(x, s, m);
                }
                if ((r = touch(x, k)) < 0)
                        return r;
                json_object_del(k->jobs, tr);
                json_object_del(k->job_docs, tr);
        }
        if ((r = apply(x, s, k, type, payload)) < 0)
                return r;
        return emit_offset(x, s, m);
}

/* ---- after a transaction ------------------------------------------------------------------------ */

/* The open transaction committed: what it wrote is the state now (the indexer writes it to the
 * database: docs/KAFKA.md), and the executions that ended are forgotten. */
static void step_committed(KafkaStep *s, const rd_kafka_topic_partition_list_t *offsets, uint64_t txn, void *userdata) {
        ExecutorKafka *x = userdata;
        size_t ended = 0;
        for (size_t i = 0; i < x->n_touched; i++) {
                KExec *k = x->touched[i];
                json_decref(k->committed);
                k->committed = TAKE_PTR(k->pending);
                json_array_clear(k->logs);
                k->touched = false;
                if (state_is_terminal(k->e->state.current) && json_array_size(k->timers) == 0) {
                        ended++;
                        ended_add(x, k->e->id);
                        execs_drop(x, k->e->id);
                }
        }
        x->n_touched = 0;
        if (ended > 0)
                execs_compact(x);
        pthread_mutex_lock(&x->stats_lock);
        x->stats.steps++;
        x->stats.executions_ended += ended;
        x->stats.last_progress = now_monotonic();
        pthread_mutex_unlock(&x->stats_lock);
}

/* The open transaction was aborted: back to the committed state (its records are consumed again). */
static void rollback(ExecutorKafka *x) {
        for (size_t i = 0; i < x->n_touched; i++) {
                KExec *k = x->touched[i];
                k->touched = false;
                json_decref(k->pending);
                k->pending = NULL;
                if (!k->committed || kexec_load(k, k->committed) < 0) {
                        /* (A reload that fails for want of memory: the partition's next owner, or this
                         * member after a restart, rebuilds it from the topic.) */
                        execs_drop(x, k->e->id);
                        continue;
                }
        }
        x->n_touched = 0;
}

/* ---- rebuilding the state of assigned partitions ------------------------------------------------ */

static int rebuild_record(ExecutorKafka *x, const rd_kafka_message_t *m, json_t *offsets) {
        char key[256];
        if (m->key_len == 0 || m->key_len >= sizeof key)
                return 0;
        snprintf(key, sizeof key, "%.*s", (int) m->key_len, (const char *) m->key);
        const char *topic = startswith(key, OFFSETS_KEY_PREFIX);
        _cleanup_json_ json_t *v = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
        if (topic) {
                char where[300];
                snprintf(where, sizeof where, "%s/%d", topic, (int) m->partition);
                json_t *o = json_object_get(v, "offset");
                return json_is_integer(o) ? json_object_set(offsets, where, o) : 0;
        }
        KExec *k = NULL;
        if (strlen(key) >= ID_MAX)
                return 0; /* not an execution's */
        execs_drop(x, key);
        if (!v)
                return 0; /* a tombstone */
        int r = kexec_new(v, true, m->partition, &k);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                log_error("Execution '%s': its state at offset %lld of partition %d of '%s' cannot be read (%s); skipped.",
                          key, (long long) m->offset, (int) m->partition, rd_kafka_topic_name(m->rkt), strerror(-r));
                return 0;
        }
        if (state_is_terminal(k->e->state.current) && json_array_size(k->timers) == 0) {
                ended_add(x, key);
                kexec_free(k);
                return 0;
        }
        if (execs_add(x, key, k) < 0) {
                kexec_free(k);
                return -ENOMEM;
        }
        return 0;
}

/* Read partitions parts (of execution-events and worker-results) of execution-state from the start to
 * the end, keeping the latest state of each execution that has not ended; set where each of parts
 * starts: where that state ends. */
static int rebuild(ExecutorKafka *x, rd_kafka_topic_partition_list_t *parts, char **ret_error) {
        _cleanup_kafka_client_ rd_kafka_t *c = NULL;
        _cleanup_(kafka_partition_list_freep) rd_kafka_topic_partition_list_t *state = rd_kafka_topic_partition_list_new(parts->cnt);
        _cleanup_json_ json_t *offsets = json_object();
        const char *state_topic = x->topics[KAFKA_TOPIC_EXECUTION_STATE];
        int r;

        if (!state || !offsets)
                return -ENOMEM;
        for (int i = 0; i < parts->cnt; i++)
                if (!rd_kafka_topic_partition_list_find(state, state_topic, parts->elems[i].partition))
                        rd_kafka_topic_partition_list_add(state, state_topic, parts->elems[i].partition)->offset =
                                RD_KAFKA_OFFSET_BEGINNING;
        if (state->cnt == 0)
                return 0;
        const char *extra[] = { "enable.partition.eof", "true", "isolation.level", "read_committed",
                                "enable.auto.commit", "false", "group.id", "tern-executor-rebuild", NULL };
        if ((r = kafka_client_new(x->opt.kafka, RD_KAFKA_CONSUMER, extra, &c, ret_error)) < 0)
                return r;
        rd_kafka_resp_err_t err = rd_kafka_assign(c, state);
        if (err) {
                error_setf(ret_error, "cannot read '%s': %s", state_topic, rd_kafka_err2str(err));
                return kafka_errno(err);
        }
        _cleanup_free_ bool *at_end = calloc((size_t) state->cnt, sizeof(bool));
        int n_end = 0;
        r = 0;
        usec_t deadline = now_monotonic() + REBUILD_TIMEOUT_USEC;
        if (!at_end)
                return -ENOMEM;
        while (n_end < state->cnt) {
                if (now_monotonic() > deadline) {
                        error_setf(ret_error, "reading the state of %d partition(s) of '%s' took too long",
                                               state->cnt - n_end, state_topic);
                        return -ETIMEDOUT;
                }
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
                if (!m)
                        continue;
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        for (int i = 0; i < state->cnt; i++)
                                if (state->elems[i].partition == m->partition && !at_end[i]) {
                                        at_end[i] = true;
                                        n_end++;
                                }
                } else if (!m->err)
                        r = rebuild_record(x, m, offsets);
                rd_kafka_message_destroy(m);
                if (r < 0)
                        return r;
        }
        (void) rd_kafka_consumer_close(c);
        for (int i = 0; i < parts->cnt; i++) {
                char where[300];
                snprintf(where, sizeof where, "%s/%d", parts->elems[i].topic, (int) parts->elems[i].partition);
                json_t *o = json_object_get(offsets, where);
                if (json_is_integer(o))
                        parts->elems[i].offset = json_integer_value(o);
        }
        return 0;
}

/* Eager rebalancing: every assignment is the member's whole new share. What it held is forgotten
 * and its partitions' state read again from the topic (the truth; a local cache is for later). */
static void step_assigned(KafkaStep *s, rd_kafka_topic_partition_list_t *parts, void *userdata) {
        ExecutorKafka *x = userdata;
        _cleanup_free_ char *why = NULL;
        usec_t start = now_monotonic();

        execs_clear(x);
        int r = rebuild(x, parts, &why);
        if (r < 0) {
                log_error_errno(r, "Cannot rebuild the state of the partitions assigned to this executor: %s",
                                why ? why : strerror(-r));
                x->fatal = r;
                return;
        }
        log_info("Executor took %d partition(s): %zu execution(s) in flight, state read in %llu ms.", parts->cnt,
                 x->n_execs, (unsigned long long) ((now_monotonic() - start) / USEC_PER_MSEC));
}

/* ---- timers ------------------------------------------------------------------------------------- */

static usec_t next_due(ExecutorKafka *x) {
        usec_t next = USEC_INFINITY;
        for (size_t i = 0; i < x->execs.n_buckets; i++) {
                KExec *k = x->execs.entries[i].key ? x->execs.entries[i].value : NULL;
                size_t j;
                json_t *t;
                if (!k)
                        continue;
                json_array_foreach(k->timers, j, t)
                        next = MIN(next, (usec_t) json_integer_value(json_object_get(t, "dueAt")));
        }
        return next;
}

/* The due delayed events, sent to their executions' partitions in one transaction with the state of
 * the executions that held them (so that none is sent twice nor lost). */
static int fire_fn(KafkaStep *s, void *userdata) {
        ExecutorKafka *x = userdata;
        int r;
        x->now = now_realtime();
        for (size_t i = 0; i < x->execs.n_buckets; i++) {
                KExec *k = x->execs.entries[i].key ? x->execs.entries[i].value : NULL;
                bool fired = false;
                if (!k)
                        continue;
                for (size_t j = 0; j < json_array_size(k->timers);) {
                        json_t *t = json_array_get(k->timers, j);
                        if ((usec_t) json_integer_value(json_object_get(t, "dueAt")) > x->now) {
                                j++;
                                continue;
                        }
                        if ((r = touch(x, k)) < 0 ||
                            (r = emit_event(x, s, json_string_value(json_object_get(t, "executionId")),
                                            json_string_value(json_object_get(t, "type")), json_object_get(t, "payload"),
                                            NULL)) < 0)
                                return r;
                        json_array_remove(k->timers, j);
                        fired = true;
                }
                if (fired && (r = save(x, s, k)) < 0)
                        return r;
        }
        return 0;
}

/* ---- worker liveness ---------------------------------------------------------------------------- */

/* Read every partition of worker-heartbeats from the start (compacted: the latest record of each
 * worker), in no group: every executor sees every worker, whichever partitions it owns. */
static int liveness_open(ExecutorKafka *x, char **ret_error) {
        const char *topic = x->topics[KAFKA_TOPIC_WORKER_HEARTBEATS];
        const char *extra[] = { "enable.auto.commit", "false", "group.id", "tern-executor-liveness", NULL };
        unsigned n = x->opt.kafka->partitions ?: KAFKA_PARTITIONS_DEFAULT;
        int r;
        if (!(x->workers = json_object()))
                return -ENOMEM;
        if ((r = kafka_client_new(x->opt.kafka, RD_KAFKA_CONSUMER, extra, &x->beats, ret_error)) < 0)
                return r;
        _cleanup_(kafka_partition_list_freep) rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int) n);
        if (!l)
                return -ENOMEM;
        for (unsigned i = 0; i < n; i++)
                rd_kafka_topic_partition_list_add(l, topic, (int32_t) i)->offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_resp_err_t err = rd_kafka_assign(x->beats, l);
        if (err) {
                error_setf(ret_error, "cannot read '%s': %s", topic, rd_kafka_err2str(err));
                return kafka_errno(err);
        }
        return 0;
}

/* Take in the heartbeats that arrived (without waiting). */
static void liveness_read(ExecutorKafka *x) {
        for (int i = 0; i < 1000; i++) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(x->beats, 0);
                char id[256];
                if (!m)
                        return;
                if (!m->err && m->key_len > 0 && m->key_len < sizeof id) {
                        snprintf(id, sizeof id, "%.*s", (int) m->key_len, (const char *) m->key);
                        json_t *v = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
                        if (json_is_object(v))
                                (void) json_object_set_new(x->workers, id, v);
                        else {
                                json_decref(v);
                                (void) json_object_del(x->workers, id); /* a tombstone */
                        }
                } else if (m->err)
                        log_debug("Reading '%s': %s", x->topics[KAFKA_TOPIC_WORKER_HEARTBEATS], rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
        }
}

/* Whether every partition of worker-heartbeats was read up to its end as the brokers last told
 * it: before that (starting, or back from a broker failure) a worker's latest heartbeat may be
 * one not read yet, and none is judged. */
static bool liveness_caught_up(ExecutorKafka *x) {
        rd_kafka_topic_partition_list_t *l = NULL;
        bool ok = true;
        if (rd_kafka_assignment(x->beats, &l) || !l)
                return false;
        (void) rd_kafka_position(x->beats, l);
        for (int i = 0; i < l->cnt && ok; i++) {
                int64_t lo, hi;
                if (rd_kafka_get_watermark_offsets(x->beats, l->elems[i].topic, l->elems[i].partition, &lo, &hi) ||
                    hi < 0)
                        ok = false;
                else
                        ok = l->elems[i].offset >= 0 ? l->elems[i].offset >= hi : hi == lo;
        }
        rd_kafka_topic_partition_list_destroy(l);
        return ok;
}

/* The job of task run tr of k, held by worker, runs again under the next epoch: the same job from
 * k's state (its next attempt), and the job_resubmitted event that closes the attempt as
 * RESUBMITTED, in the open transaction. */
static int resubmit(ExecutorKafka *x, KafkaStep *s, KExec *k, const char *tr, const char *worker, bool stopped,
                    usec_t silent) {
        json_t *doc = json_object_get(k->job_docs, tr);
        json_int_t epoch = json_integer_value(json_object_get(k->jobs, tr)) + 1;
        char id[128];
        int r;
        if (!doc) {
                log_warning("Task run '%s' of execution '%s' cannot be resubmitted: its job is not in the state "
                            "(written before resubmission was built).", tr, k->e->id);
                return 0;
        }
        json_int_t attempt = json_integer_value(json_object_get(doc, "attempt")) + 1;
        snprintf(id, sizeof id, "%s-%lld", tr, (long long) attempt);
        _cleanup_json_ json_t *job = json_copy(doc);
        _cleanup_json_ json_t *p = json_pack("{s:s, s:s, s:I, s:s}", "taskRunId", tr, "workerId", worker, "epoch", epoch,
                                             "reason", stopped ? STORE_RESUBMIT_RELEASED : STORE_RESUBMIT_WORKER_DEAD);
        if (!job || !p || json_object_set_new(job, "jobId", json_string(id)) < 0 ||
            json_object_set_new(job, "epoch", json_integer(epoch)) < 0 ||
            json_object_set_new(job, "attempt", json_integer(attempt)) < 0)
                return -ENOMEM;
        if ((r = touch(x, k)) < 0 ||
            (r = emit_json(s, x->topics[KAFKA_TOPIC_WORKER_JOBS], RD_KAFKA_PARTITION_UA, k->e->id, job)) < 0)
                return r;
        if (json_object_set_new(k->jobs, tr, json_integer(epoch)) < 0 || json_object_set(k->job_docs, tr, job) < 0)
                return -ENOMEM;
        if (stopped)
                log_warning("Worker '%s' stopped without finishing task run '%s' of execution '%s': resubmitted (epoch %lld).",
                            worker, tr, k->e->id, (long long) epoch);
        else
                log_warning("Worker '%s' silent for %llus: task run '%s' of execution '%s' resubmitted (epoch %lld).",
                            worker, (unsigned long long) (silent / USEC_PER_SEC), tr, k->e->id, (long long) epoch);
        return apply(x, s, k, ENGINE_EVENT_JOB_RESUBMITTED, p);
}

/* Of the jobs listed (a heartbeat's), those in flight here at the epoch listed: how many; with s,
 * resubmits them. */
static int resubmit_listed(ExecutorKafka *x, KafkaStep *s, const char *worker, json_t *jobs, bool stopped,
                           usec_t silent) {
        json_t *j;
        size_t i;
        int n = 0, r;
        json_array_foreach(jobs, i, j) {
                const char *exec = json_string_value(json_object_get(j, "executionId"));
                const char *tr = json_string_value(json_object_get(j, "taskRunId"));
                KExec *k = exec ? hashmap_get(&x->execs, exec) : NULL;
                json_t *want = k && tr ? json_object_get(k->jobs, tr) : NULL;
                json_t *doc = want ? json_object_get(k->job_docs, tr) : NULL;
                /* (The job id too: the next attempt's job may carry the same epoch.) */
                if (!want || !json_equal(want, json_object_get(j, "epoch")) ||
                    (doc && !json_equal(json_object_get(doc, "jobId"), json_object_get(j, "jobId"))))
                        continue; /* done, resubmitted already, or another member's */
                n++;
                if (s && (r = resubmit(x, s, k, tr, worker, stopped, silent)) < 0)
                        return r;
        }
        return n;
}

/* The jobs in flight here that their worker no longer runs: it is dead (its latest heartbeat is
 * older than dead-after, on its own clock, as the database backend's heartbeats are on the
 * database's), it stopped (STOPPED) without finishing them, or it gave them up after a silence of
 * its own (released). Returns how many; with s, resubmits them. */
static int liveness_scan(ExecutorKafka *x, KafkaStep *s) {
        const char *worker;
        json_t *hb;
        int n = 0, r;
        usec_t now = now_realtime();
        json_object_foreach(x->workers, worker, hb) {
                usec_t at = (usec_t) json_integer_value(json_object_get(hb, "at"));
                usec_t silent = now > at ? now - at : 0;
                bool stopped = streq_ptr(json_string_value(json_object_get(hb, "state")), "STOPPED");
                if ((r = resubmit_listed(x, s, worker, json_object_get(hb, "released"), false, MAX(silent, x->opt.dead_after))) < 0)
                        return r;
                n += r;
                if (!stopped && silent < x->opt.dead_after)
                        continue;
                if ((r = resubmit_listed(x, s, worker, json_object_get(hb, "jobs"), stopped, silent)) < 0)
                        return r;
                n += r;
        }
        return n;
}

static int resubmit_fn(KafkaStep *s, void *userdata) {
        ExecutorKafka *x = userdata;
        x->now = now_realtime();
        int r = liveness_scan(x, s);
        return r < 0 ? r : 0;
}

/* Whether dead workers hold jobs of this member (looked at every LIVENESS_CHECK_USEC). */
static bool liveness_due(ExecutorKafka *x) {
        usec_t now = now_monotonic();
        liveness_read(x);
        if (now < x->liveness_next)
                return false;
        x->liveness_next = now + LIVENESS_CHECK_USEC;
        return liveness_caught_up(x) && liveness_scan(x, NULL) > 0;
}

/* ---- the member ---------------------------------------------------------------------------------- */

typedef struct KvGet {
        const char *ns, *key;
        json_t *value;
} KvGet;

static int kv_get_tx(StoreTx *tx, void *userdata) {
        KvGet *g = userdata;
        json_decref(g->value); /* (a rerun of the transaction) */
        g->value = NULL;
        return store_kv_get(tx, g->ns, g->key, now_realtime(), &g->value);
}

/* The key-value store stays in the database with the Kafka queue: read in a transaction of its
 * own, outside the step's Kafka transaction (a step consumed again reads the value as it is then,
 * as a rerun database step would). */
static int executor_kv_get(void *userdata, const char *ns, const char *key, json_t **ret) {
        ExecutorKafka *x = userdata;
        KvGet g = { .ns = ns, .key = key };
        int r = store_transact(x->store, kv_get_tx, &g);
        if (r < 0) {
                json_decref(g.value);
                return r;
        }
        *ret = g.value;
        return 0;
}

/* kv() from the database's key-value store, and the execution's files, as the database executor
 * reads them. */
static int executor_function(void *userdata, json_t *variables, const char *name, json_t *args, json_t **ret,
                             char **ret_message) {
        ExecutorKafka *x = userdata;
        if (streq(name, "kv")) {
                json_t *flow = json_object_get(variables, "flow");
                return api_kv_function(executor_kv_get, x, json_string_value(json_object_get(flow, "namespace")), args,
                                       ret, ret_message);
        }
        return api_file_function(x->storage, variables, name, args, ret, ret_message);
}

int executor_kafka_new(Store *store, const ExecutorKafkaOptions *opt, ExecutorKafka **ret, char **ret_error) {
        _cleanup_(executor_kafka_freep) ExecutorKafka *x = calloc(1, sizeof *x);
        _cleanup_free_ char *txn_id = NULL;
        int r;
        if (!x)
                return -ENOMEM;
        x->opt = *opt;
        pthread_mutex_init(&x->stats_lock, NULL);
        x->stats.last_progress = now_monotonic();
        if (!x->opt.batch)
                x->opt.batch = 32;
        if (!x->opt.dead_after)
                x->opt.dead_after = 30 * USEC_PER_SEC;
        for (KafkaTopic t = 0; t < _KAFKA_TOPIC_MAX; t++)
                if ((r = kafka_topic_name(opt->kafka, t, &x->topics[t])) < 0)
                        return r;
        r = x->opt.flows ? 0 : api_flow_cache_new(0, &x->own_flows);
        x->flows = x->opt.flows ?: x->own_flows;
        if (r >= 0 && x->opt.storage_url)
                r = storage_open(x->opt.storage_url, NULL, &x->storage, NULL);
        x->opt.storage_url = NULL; /* the caller's string: not kept */
        x->opt.engine.function = executor_function;
        x->opt.engine.function_userdata = x;
        if (r < 0)
                return r;
        if (!(txn_id = strjoin("tern-executor-", opt->id ?: "executor")))
                return -ENOMEM;
        char *topics[] = { x->topics[KAFKA_TOPIC_EXECUTION_EVENTS], x->topics[KAFKA_TOPIC_WORKER_RESULTS], NULL };
        KafkaStepOptions so = {
                .group = "tern-executor",
                .transactional_id = txn_id,
                .topics = topics,
                .batch = x->opt.batch,
                .committed = step_committed,
                .assigned = step_assigned,
                .userdata = x,
        };
        if ((r = kafka_step_new(opt->kafka, &so, &x->step, ret_error)) < 0 || (r = liveness_open(x, ret_error)) < 0)
                return r;
        /* (Taken last: on failure the store is the caller's.) */
        x->store = store;
        *ret = TAKE_PTR(x);
        return 0;
}

ExecutorKafka *executor_kafka_free(ExecutorKafka *x) {
        if (!x)
                return NULL;
        /* Leaves the group first: the rebalance that follows calls nothing of x's any more. */
        kafka_step_free(x->step);
        kafka_client_free(x->beats);
        json_decref(x->workers);
        execs_clear(x);
        hashmap_done(&x->ended[0]);
        hashmap_done(&x->ended[1]);
        free(x->touched);
        for (KafkaTopic t = 0; t < _KAFKA_TOPIC_MAX; t++)
                free(x->topics[t]);
        api_flow_cache_free(x->own_flows);
        storage_free(x->storage);
        store_free(x->store);
        pthread_mutex_destroy(&x->stats_lock);
        free(x);
        return NULL;
}

void executor_kafka_stats(ExecutorKafka *x, ExecutorStats *ret) {
        pthread_mutex_lock(&x->stats_lock);
        *ret = x->stats;
        pthread_mutex_unlock(&x->stats_lock);
}

/* Errors after which this member cannot go on (kafka_step_run()'s fatal ones): systemd restarts it
 * and the new life rebuilds its state from the topic. */
static bool fatal_error(int r) {
        return r == -ENOTRECOVERABLE || r == -ETIMEDOUT;
}

int executor_kafka_run(ExecutorKafka *x, int stop_fd) {
        for (;;) {
                struct pollfd p = { stop_fd, POLLIN, 0 };
                _cleanup_free_ char *why = NULL;
                int r;

                if (stop_fd >= 0 && poll(&p, 1, 0) > 0)
                        return 0;
                if (x->fatal < 0)
                        return x->fatal;
                usec_t next = next_due(x), now = now_realtime();
                if (next <= now)
                        r = kafka_step_produce(x->step, fire_fn, x, &why);
                else if (liveness_due(x))
                        r = kafka_step_produce(x->step, resubmit_fn, x, &why);
                else
                        r = kafka_step_run(x->step, MIN(next - now, 250 * USEC_PER_MSEC), step_fn, x, &why);
                pthread_mutex_lock(&x->stats_lock);
                x->stats.last_progress = now_monotonic();
                if (r > 0)
                        x->stats.events += (uint64_t) r;
                pthread_mutex_unlock(&x->stats_lock);
                if (r >= 0)
                        continue;
                rollback(x);
                if (fatal_error(r)) {
                        log_error_errno(r, "Executor step on Kafka failed, this executor stops: %s", why ? why : strerror(-r));
                        return r;
                }
                log_warning_errno(r, "Executor step on Kafka aborted, trying again: %s", why ? why : strerror(-r));
                if (r != -EAGAIN)
                        (void) poll(&p, stop_fd >= 0 ? 1 : 0, 1000);
        }
}
