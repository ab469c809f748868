/* executor.c: the executor loop around the pure engine. */
#include <assert.h>
#include <malloc.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "execution-create.h"
#include "execution-files.h"
#include "execution-store.h"
#include "executor.h"
#include "executor-subflow.h"
#include "hashmap.h"
#include "id.h"
#include "json-limits.h"
#include "kv-function.h"
#include "log.h"
#include "storage.h"
#include "strutil.h"

/* The documents of executions this executor stepped last, by version, with the engine's structure
 * they were made from: the next step of the same execution (the common case: one executor) starts
 * from memory instead of reading and parsing the whole document again, and writes out only the task
 * runs it may have changed, so that a step costs what it changed, not the size of the execution (a
 * ForEach of thousands of items). Bounded; executions that ended are dropped. */
#define DOC_CACHE_MAX 512

typedef struct CachedDoc {
        int64_t version;
        json_t *doc;
        Execution *e; /* what doc was made from; NULL while a step holds it, or when not kept */
} CachedDoc;

struct Executor {
        Store *store;
        ExecutorOptions opt;
        ApiFlowCache *flows, *own_flows; /* the process's (options) or its own */
        Storage *storage; /* internal storage for the file functions of expressions; NULL: none */
        StoreTx *tx;      /* the step's transaction while the engine applies an event (kv() reads through it) */
        Hashmap docs;  /* execution id -> CachedDoc* (owned; NULL once dropped) */
        bool check_saves; /* TERN_EXECUTOR_CHECK_SAVES=1: every partial save is checked against a whole one */
        size_t n_docs; /* of them not NULL: executions in flight here */
        usec_t last_trim;
        bool untrimmed; /* steps did work since the heap was last trimmed */
        bool trim_due;  /* the last step ended the last execution in flight here */
        json_t *aside; /* execution id -> why: executions the next step sets aside (FAILED) */
        char strike_id[ID_MAX]; /* the execution the last steps failed on, and how many times */
        unsigned strikes;
        bool more_due; /* the last step claimed a full batch */
        usec_t fallback; /* the next wait's poll for a lost notification: short after work, then up to opt.poll */
        usec_t last_requeue; /* monotonic */
        pthread_mutex_t stats_lock; /* stats are read by the frame's thread */
        ExecutorStats stats;
};

static int executor_kv_get(void *userdata, const char *ns, const char *key, json_t **ret) {
        Executor *x = userdata;
        return store_kv_get(x->tx, ns, key, now_realtime(), ret);
}

/* kv(), read(), fileURI(), fileSize(), fileExists() where the engine renders (runIf, If and Switch,
 * Subflow inputs, labels, outputs...): the namespace's key-value store, read in the step's own
 * transaction (a second one could wait on the first: SQLite has one writer), and the execution's
 * files, as the worker has them. */
static int executor_function(void *userdata, json_t *variables, const char *name, json_t *args, json_t **ret,
                             char **ret_message) {
        Executor *x = userdata;
        if (streq(name, "kv")) {
                json_t *flow = json_object_get(variables, "flow");
                return api_kv_function(x->tx ? executor_kv_get : NULL, x,
                                       json_string_value(json_object_get(flow, "namespace")), args, ret, ret_message);
        }
        return api_file_function(x->storage, variables, name, args, ret, ret_message);
}

int executor_new(Store *store, const ExecutorOptions *opt, Executor **ret) {
        Executor *x = calloc(1, sizeof *x);
        if (!x)
                return -ENOMEM;
        x->store = store;
        x->opt = *opt;
        pthread_mutex_init(&x->stats_lock, NULL);
        x->stats.last_progress = now_monotonic();
        if (!(x->aside = json_object())) {
                free(x);
                return -ENOMEM;
        }
        if (!x->opt.batch)
                x->opt.batch = 32;
        /* SQLite has no notifications across processes (a CLI in another process adding events):
         * poll it more often; it is a local file read. */
        if (!x->opt.poll)
                x->opt.poll = store_backend(store) == STORE_BACKEND_SQLITE ? 100 * USEC_PER_MSEC : USEC_PER_SEC;
        if (!x->opt.requeue_every)
                x->opt.requeue_every = USEC_PER_SEC;
        int r = x->opt.flows ? 0 : api_flow_cache_new(0, &x->own_flows);
        x->flows = x->opt.flows ?: x->own_flows;
        /* The executor's thread is the only one to render with it: one handle. */
        if (r >= 0 && x->opt.storage_url)
                r = storage_open(x->opt.storage_url, NULL, &x->storage, NULL);
        x->opt.storage_url = NULL; /* the caller's string: not kept */
        x->opt.engine.function = executor_function;
        x->opt.engine.function_userdata = x;
        x->check_saves = streq_ptr(getenv("TERN_EXECUTOR_CHECK_SAVES"), "1");
        if (r >= 0)
                r = store_listen(store, STORE_CHANNEL_EVENTS);
        if (r < 0) {
                x->store = NULL;
                executor_free(x);
                return r;
        }
        *ret = x;
        return 0;
}

static void docs_free(Executor *x) {
        Hashmap *h = &x->docs;
        for (size_t i = 0; i < h->n_buckets; i++)
                if (h->entries[i].key && h->entries[i].value) {
                        CachedDoc *d = h->entries[i].value;
                        json_decref(d->doc);
                        execution_free(d->e);
                        free(d);
                }
        hashmap_done(h);
        *h = (Hashmap) HASHMAP_INIT;
        x->n_docs = 0;
}

/* The documents are gone: give what they took back to the system. The heap of a busy executor
 * (documents, results, rows) is mostly free once its executions ended, but glibc keeps freed
 * memory in its arenas (20 MB after the benchmark's load, 10 MB idle). */
static void docs_trim(Executor *x) {
        docs_free(x);
        malloc_trim(0);
        x->last_trim = now_monotonic();
        x->untrimmed = false;
}

Executor *executor_free(Executor *x) {
        if (!x)
                return NULL;
        docs_free(x);
        api_flow_cache_free(x->own_flows);
        json_decref(x->aside);
        store_free(x->store);
        storage_free(x->storage);
        pthread_mutex_destroy(&x->stats_lock);
        free(x);
        return NULL;
}

void executor_stats(Executor *x, ExecutorStats *ret) {
        pthread_mutex_lock(&x->stats_lock);
        *ret = x->stats;
        pthread_mutex_unlock(&x->stats_lock);
}

static void executor_progressed(Executor *x) {
        pthread_mutex_lock(&x->stats_lock);
        x->stats.last_progress = now_monotonic();
        pthread_mutex_unlock(&x->stats_lock);
}

static int store_level(const char *level) {
        int l = store_log_level_from_string(level);
        return l < 0 ? STORE_LOG_INFO : l;
}

static int emit_logs(StoreTx *tx, Execution *e, json_t *logs, usec_t now) {
        size_t n = json_array_size(logs), i;
        json_t *l;
        if (n == 0)
                return 0;
        _cleanup_free_ StoreLog *batch = calloc(n, sizeof(StoreLog));
        if (!batch)
                return -ENOMEM;
        json_array_foreach(logs, i, l) {
                batch[i] = (StoreLog) {
                        .execution_id = e->id,
                        .task_run_id = json_string_value(json_object_get(l, "taskRunId")),
                        .task_id = json_string_value(json_object_get(l, "taskId")),
                        .level = (StoreLogLevel) store_level(json_string_value(json_object_get(l, "level"))),
                        .timestamp = now,
                        .message = json_string_value(json_object_get(l, "message")) ?: "",
                };
        }
        return store_log_append_tx(tx, batch, n);
}

static int subflow_failed(StoreTx *tx, json_t *req, const char *why, usec_t now) {
        _cleanup_json_ json_t *p = json_pack("{s:O, s:s}", "taskRunId", json_object_get(req, "parentTaskRunId"),
                                             "error", why);
        if (!p)
                return -ENOMEM;
        return store_event_emit(tx, json_string_value(json_object_get(req, "parentExecutionId")),
                                ENGINE_EVENT_SUBFLOW_FAILED, p, now, now, NULL);
}

static int create_subflow(Executor *x, StoreTx *tx, const Execution *parent, json_t *req, usec_t now) {
        const char *ns = json_string_value(json_object_get(req, "namespace"));
        const char *id = json_string_value(json_object_get(req, "flowId"));
        json_t *rev = json_object_get(req, "revision");
        _cleanup_api_flow_ ApiFlow *f = NULL;
        _cleanup_free_ char *err = NULL, *why = NULL;
        _cleanup_(executor_subflow_done) ExecutorSubflow sub = {};
        int r;

        r = api_flow_load(x->flows, tx, ns, id, json_is_integer(rev) ? (int) json_integer_value(rev) : 0, &f);
        if (r == -ENOENT || r == -EBADMSG) {
                why = strdup_printf("Subflow '%s.%s' %s", ns, id, r == -ENOENT ? "not found" : "is not valid");
                return subflow_failed(tx, req, why ? why : "subflow unavailable", now);
        }
        if (r < 0)
                return r;
        if ((r = executor_subflow_prepare(parent, req, &sub)) < 0)
                return r;
        r = api_execution_create(tx, f->flow, &sub.n, now, NULL, &err);
        if (r == -EINVAL || r == -E2BIG) {
                why = strdup_printf("Subflow '%s.%s': %s%s", ns, id, r == -EINVAL ? "invalid inputs: " : "",
                                    strempty(err));
                return subflow_failed(tx, req, why ? why : "invalid inputs", now);
        }
        /* A rerun of this transaction after an in-doubt commit finds the child already there. */
        return r == -EEXIST ? 0 : r;
}

/* The next execution of a retry chain (retry behavior CREATE_NEW_EXECUTION): the same revision of the
 * flow, the same inputs (as they were resolved), labels and trigger. */
static int create_retry(Executor *x, StoreTx *tx, json_t *req, usec_t now) {
        const char *ns = json_string_value(json_object_get(req, "namespace"));
        const char *id = json_string_value(json_object_get(req, "flowId"));
        _cleanup_api_flow_ ApiFlow *f = NULL;
        _cleanup_free_ char *err = NULL;
        int r = api_flow_load(x->flows, tx, ns, id, (int) json_integer_value(json_object_get(req, "revision")), &f);
        if (r == -ENOENT || r == -EBADMSG) {
                log_error("Cannot retry an execution of %s.%s: its flow is %s", ns, id, r == -ENOENT ? "gone" : "not valid");
                return 0;
        }
        if (r < 0)
                return r;
        ApiExecutionNew n = executor_retry_new(req, &x->opt.engine);
        r = api_execution_create(tx, f->flow, &n, now, NULL, &err);
        if (r == -EINVAL || r == -E2BIG || r == -EPERM) {
                log_error("Cannot retry an execution of %s.%s: %s", ns, id, err ? err : strerror(-r));
                return 0;
        }
        return r;
}

static int apply_effects(Executor *x, StoreTx *tx, Execution *e, EngineEffects *fx, usec_t now) {
        size_t i;
        json_t *j;
        int r;

        json_array_foreach(fx->jobs, i, j) {
                char id[128];
                const char *tr = json_string_value(json_object_get(j, "taskRunId"));
                /* Deterministic id: a rerun of the transaction cannot enqueue the same attempt twice. */
                snprintf(id, sizeof id, "%s-%lld", tr, (long long) json_integer_value(json_object_get(j, "attempt")));
                r = store_job_enqueue(tx, id, e->id, tr, json_string_value(json_object_get(j, "queue")), j, now, now,
                                      NULL);
                if (r < 0)
                        return r;
        }
        json_array_foreach(fx->events, i, j) {
                usec_t due = (usec_t) json_integer_value(json_object_get(j, "dueAt"));
                r = store_event_emit(tx, json_string_value(json_object_get(j, "executionId")),
                                     json_string_value(json_object_get(j, "type")), json_object_get(j, "payload"),
                                     due > now ? due : now, now, NULL);
                /* The target may have been deleted meanwhile (a parent execution): drop the event
                 * (deferred, the step's flush drops it). */
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        /* Creating executions reads what is stored (their flows' active executions, with a
         * concurrency limit): what the step deferred is written first. Rare: not worth more. */
        if ((json_array_size(fx->subflows) > 0 || json_array_size(fx->executions) > 0) &&
            (r = store_tx_flush(tx)) < 0)
                return r;
        json_array_foreach(fx->subflows, i, j)
                if ((r = create_subflow(x, tx, e, j, now)) < 0)
                        return r;
        json_array_foreach(fx->executions, i, j)
                if ((r = create_retry(x, tx, j, now)) < 0)
                        return r;
        if (json_array_size(fx->cancels) > 0) {
                /* What a job killed before it started comes back as, for the engine. */
                _cleanup_json_ json_t *killed = json_pack("{s:s, s:s}", "state", state_to_string(STATE_KILLED), "error",
                                                          "killed before it started");
                if (!killed)
                        return -ENOMEM;
                /* The jobs to cancel may have been enqueued in this step: written first. */
                if ((r = store_tx_flush(tx)) < 0)
                        return r;
                json_array_foreach(fx->cancels, i, j)
                        if ((r = store_job_cancel(tx, json_string_value(j), killed, now)) < 0)
                                return r;
        }
        return emit_logs(tx, e, fx->logs, now);
}

/* Write e as it is now, from prev_doc (may be NULL); *ret_doc (optional) gets what was written. */
/* Save e, written over prev_doc (NULL: unknown, everything is written). changed marks the task runs the
 * step may have changed (NULL: any); the others are taken from prev_doc as they are. */
static int save_execution_from(Executor *x, StoreTx *tx, const Execution *e, json_t *prev_doc, const bool *changed,
                               usec_t now, int64_t *ret_version, json_t **ret_doc) {
        _cleanup_(execution_store_meta_done) StoreExecutionMeta m = {};
        json_t *prev_list = json_object_get(prev_doc, "taskRunList");
        _cleanup_json_ json_t *doc = prev_doc ? execution_to_json_from(e, prev_list, changed) : execution_to_json(e);
        int r;
        if (!doc || execution_store_meta(e, now, &m) < 0)
                return -ENOMEM;
        if (x && x->check_saves && prev_doc && changed) {
                /* The self-check of the test suite: a task run this step was not expected to change
                 * must equal what the whole execution says of it. */
                _cleanup_json_ json_t *whole = execution_to_json(e);
                json_t *a = json_object_get(doc, "taskRunList"), *b = json_object_get(whole, "taskRunList");
                for (size_t i = 0; whole && i < json_array_size(b); i++)
                        if (!json_equal(json_array_get(a, i), json_array_get(b, i))) {
                                _cleanup_free_ char *was = json_dumps(json_array_get(a, i), JSON_COMPACT),
                                                    *is = json_dumps(json_array_get(b, i), JSON_COMPACT);
                                log_error("Execution '%s': task run %zu ('%s', %s) changed in a step that was not "
                                          "expected to change it; a partial save would have lost it: %s became %s",
                                          e->id, i, e->task_runs[i]->task_id, state_to_string(e->task_runs[i]->state.current),
                                          strempty(was), strempty(is));
                                abort();
                        }
        }
        if ((r = store_execution_save_from(tx, &m, doc, prev_doc, now, ret_version)) < 0)
                return r;
        if (ret_doc)
                *ret_doc = TAKE_PTR(doc);
        return 0;
}

static int save_execution(StoreTx *tx, const Execution *e, json_t *prev_doc, usec_t now, int64_t *ret_version,
                          json_t **ret_doc) {
        return save_execution_from(NULL, tx, e, prev_doc, NULL, now, ret_version, ret_doc);
}

/* Without a usable document: a minimal FAILED one, from what the store's columns still say. */
static int set_aside(StoreTx *tx, const char *id, usec_t now) {
        _cleanup_(store_execution_row_done) StoreExecutionRow row = {};
        _cleanup_(execution_store_meta_done) StoreExecutionMeta m = {};
        _cleanup_execution_ Execution *e = NULL;
        _cleanup_json_ json_t *doc = NULL;
        int r;
        /* It reads the task runs and events as stored: what the step deferred is written first. */
        if ((r = store_tx_flush(tx)) < 0 ||
            (r = store_execution_row(tx, id, &row)) < 0 ||
            (r = execution_new(id, row.namespace, row.flow_id, row.flow_revision, row.created ? row.created : now,
                               &e)) < 0 ||
            (r = state_info_force(&e->state, STATE_FAILED, now)) < 0)
                return r;
        if (!(doc = execution_to_json(e)) || execution_store_meta(e, now, &m) < 0)
                return -ENOMEM;
        return store_execution_set_aside(tx, &m, doc, now);
}

/* A document or flow the engine cannot work with must not be retried forever: the execution is
 * failed with a log line saying why, and its events are consumed. Without a usable document (e
 * NULL, or one the store refuses to write) a minimal one replaces it. */
static int fail_execution(StoreTx *tx, Execution *e, const StoreClaim *c, const char *why, usec_t now) {
        StoreLog l = { .execution_id = c->execution_id, .level = STORE_LOG_ERROR, .timestamp = now, .message = why };
        int r;
        if (e && state_is_terminal(e->state.current))
                goto consume;
        if ((r = store_log_append_tx(tx, &l, 1)) < 0)
                return r;
        if (e) {
                state_info_force(&e->state, STATE_FAILED, now);
                r = save_execution(tx, e, NULL, now, NULL, NULL);
                if (r != -E2BIG) {
                        if (r < 0)
                                return r;
                        goto consume;
                }
        }
        return set_aside(tx, c->execution_id, now);
consume:
        for (size_t i = 0; i < c->n_events; i++)
                if ((r = store_event_delete(tx, c->events[i].seq)) < 0)
                        return r;
        return 0;
}

/* Does the trigger that started e say stopAfter: [state]? */
static bool trigger_stops(const Flow *f, const Execution *e) {
        const char *id = json_string_value(json_object_get(e->trigger, "id"));
        const char *type = json_string_value(json_object_get(e->trigger, "type"));
        const char *state = state_to_string(e->state.current);
        size_t i;
        json_t *v;
        for (size_t k = 0; id && k < f->n_triggers; k++) {
                const Trigger *t = &f->triggers[k];
                if (!streq(t->id, id) || !streq_ptr(t->type, type))
                        continue;
                json_array_foreach(json_object_get(t->properties, "stopAfter"), i, v)
                        if (streq_ptr(json_string_value(v), state))
                                return true;
        }
        return false;
}

/* Tell the scheduler's Flow triggers about state changes, in the step's transaction: the
 * non-terminal states entered (only stored when a Flow trigger lists such states) and the end
 * (only stored when a Flow trigger exists, or when the execution's own trigger has stopAfter on
 * that state: the scheduler disables it). */
static int report_states(StoreTx *tx, const Flow *f, const Execution *e, size_t seen, bool was_terminal,
                         usec_t now) {
        _cleanup_json_ json_t *entered = NULL;
        int r;
        for (size_t i = seen; i < e->state.n_histories; i++) {
                State st = e->state.histories[i].state;
                if (state_is_terminal(st))
                        continue;
                if (!entered && !(entered = json_array()))
                        return -ENOMEM;
                if (json_array_append_new(entered, json_string(state_to_string(st))) < 0)
                        return -ENOMEM;
        }
        if (entered && (r = store_execution_states_emit(tx, e->id, e->namespace, e->flow_id, entered, now)) < 0)
                return r;
        if (was_terminal || !state_is_terminal(e->state.current))
                return 0;
        if (!trigger_stops(f, e))
                return store_execution_ended_emit(tx, e->id, e->namespace, e->flow_id,
                                                  state_to_string(e->state.current), now);
        _cleanup_json_ json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:O}", "executionId", e->id, "namespace",
                                             e->namespace, "flowId", e->flow_id, "state",
                                             state_to_string(e->state.current), "stopAfter",
                                             json_object_get(e->trigger, "id"));
        if (!p)
                return -ENOMEM;
        return store_trigger_event_emit(tx, STORE_TRIGGER_EVENT_EXECUTION_ENDED, p, now);
}

typedef struct StepCtx {
        Executor *x;
        usec_t now;
        size_t applied, ended;
        json_t *saved; /* execution id -> [version, doc or null when it ended]: the cache after commit */
        Execution **held; /* the structures the saved documents were made from, for the cache */
        size_t n_held;
        size_t claimed;
        char failed_id[ID_MAX]; /* the execution being applied when the step failed */
        bool one_by_one; /* each row written at once, not deferred: a failed write names its execution */
} StepCtx;

static bool doc_known(void *userdata, const char *id, int64_t version) {
        Executor *x = userdata;
        CachedDoc *d = hashmap_get(&x->docs, id);
        return d && d->version == version;
}

static void held_free(StepCtx *c) {
        for (size_t i = 0; i < c->n_held; i++)
                execution_free(c->held[i]);
        c->n_held = 0;
}

static void step_ctx_done(StepCtx *c) {
        held_free(c);
        free(c->held);
}

/* After a commit: what this step saved is what the database holds, and the structures it was made
 * from are kept with it. */
static void docs_update(Executor *x, StepCtx *c) {
        json_t *saved = c->saved;
        const char *id;
        json_t *v;
        if (hashmap_size(&x->docs) + json_object_size(saved) > DOC_CACHE_MAX)
                docs_free(x);
        json_object_foreach(saved, id, v) {
                CachedDoc *d = hashmap_get(&x->docs, id);
                json_t *doc = json_array_get(v, 1);
                if (!json_is_object(doc)) {
                        if (d) {
                                json_decref(d->doc);
                                execution_free(d->e);
                                free(d);
                                (void) hashmap_put(&x->docs, id, NULL);
                                x->n_docs--;
                        }
                        continue;
                }
                if (!d) {
                        if (!(d = calloc(1, sizeof *d)))
                                return;
                        if (hashmap_put(&x->docs, id, d) < 0) {
                                free(d);
                                return;
                        }
                        x->n_docs++;
                } else {
                        json_decref(d->doc);
                        d->e = execution_free(d->e);
                }
                d->version = json_integer_value(json_array_get(v, 0));
                d->doc = json_incref(doc);
        }
        for (size_t i = 0; i < c->n_held; i++) {
                CachedDoc *d = hashmap_get(&x->docs, c->held[i]->id);
                if (d && !d->e)
                        d->e = TAKE_PTR(c->held[i]);
        }
        held_free(c);
}

static int apply_claim(StepCtx *c, StoreTx *tx, const StoreClaim *cl) {
        Executor *x = c->x;
        _cleanup_execution_ Execution *e = NULL;
        _cleanup_api_flow_ ApiFlow *af = NULL;
        const Flow *f = NULL;
        int r;

        const char *aside = json_string_value(json_object_get(x->aside, cl->execution_id));
        if (cl->error < 0 || aside) {
                /* It blocks nothing more: FAILED with the reason in its logs, its events consumed. */
                const char *reason =
                        aside ? aside : "its document or one of its events cannot be read back (not JSON, or nested too deep)";
                _cleanup_free_ char *why = strdup_printf("The executor set this execution aside (FAILED): %s", reason);
                log_error("Execution '%s' set aside as FAILED: %s", cl->execution_id, reason);
                if (cl->doc && execution_from_json(cl->doc, &e) < 0)
                        e = execution_free(e);
                if ((r = fail_execution(tx, e, cl, why ? why : "set aside by the executor", c->now)) < 0)
                        return r;
                json_object_del(x->aside, cl->execution_id);
                return json_object_set_new(c->saved, cl->execution_id, json_pack("[I, n]", (json_int_t) 0)) < 0
                               ? -ENOMEM
                               : 0;
        }
        /* The structure this document was made from, when this executor saved it last. It is the
         * step's now: a step that fails or runs again reads the document. */
        CachedDoc *cached = hashmap_get(&x->docs, cl->execution_id);
        if (cached && cached->e && cached->doc == cl->doc)
                e = TAKE_PTR(cached->e);
        else if ((r = execution_from_json(cl->doc, &e)) == -ENOMEM)
                return r;
        else if (r < 0) {
                log_error("Execution '%s' has a malformed document; failing it.", cl->execution_id);
                return fail_execution(tx, NULL, cl, "malformed execution document", c->now);
        }
        r = api_flow_load(x->flows, tx, e->namespace, e->flow_id, e->flow_revision, &af);
        if (r == -ENOENT || r == -EBADMSG) {
                _cleanup_free_ char *why = strdup_printf("Flow '%s.%s' revision %d is %s", e->namespace, e->flow_id,
                                                         e->flow_revision, r == -ENOENT ? "missing" : "not valid");
                return fail_execution(tx, e, cl, why ? why : "flow unavailable", c->now);
        }
        if (r < 0)
                return r;
        f = af->flow;

        bool was_terminal = state_is_terminal(e->state.current);
        bool limited = f->concurrency.limit > 0;
        /* The task runs as the step found them: those that had ended are not changed by the events
         * of a step, except a failed one (a flowable's retry takes it up again), and a restart or a
         * change of state, which may change any of them. TERN_EXECUTOR_CHECK_SAVES=1 checks it. */
        size_t n_start = e->n_task_runs;
        _cleanup_free_ TaskRun **start = n_start ? malloc(n_start * sizeof *start) : NULL;
        _cleanup_free_ bool *settled = n_start ? malloc(n_start * sizeof *settled) : NULL;
        bool any_changed = n_start == 0 || !start || !settled;
        for (size_t i = 0; !any_changed && i < n_start; i++) {
                State st = e->task_runs[i]->state.current;
                start[i] = e->task_runs[i];
                settled[i] = state_is_terminal(st) && !state_is_failed(st);
        }
        /* The states entered in this step start after this history entry (CREATED too, on the first
         * step: nobody reported it when the execution was created). */
        size_t seen = e->state.n_histories == 1 && e->state.current == STATE_CREATED ? 0 : e->state.n_histories;
        for (size_t i = 0; i < cl->n_events; i++) {
                EngineEffects fx;
                _cleanup_json_ json_t *payload = json_incref(cl->events[i].payload);
                if (limited && streq(cl->events[i].type, ENGINE_EVENT_CREATED)) {
                        /* The engine decides on the count of the flow's active executions (as
                         * stored: the step's deferred saves first). */
                        int64_t active = 0;
                        if ((r = store_tx_flush(tx)) < 0 ||
                            (r = store_execution_concurrency(tx, e->namespace, e->flow_id, e->id, &active, NULL)) < 0)
                                return r;
                        /* A force-run or unqueue keeps its own fields next to the count. */
                        json_t *p = json_is_object(payload) ? json_copy(payload) : json_object();
                        json_decref(payload);
                        payload = p;
                        if (!payload || json_object_set_new(payload, "running", json_integer(active)) < 0)
                                return -ENOMEM;
                }
                if (streq(cl->events[i].type, ENGINE_EVENT_RESTART) || streq(cl->events[i].type, ENGINE_EVENT_CHANGE_STATE))
                        any_changed = true;
                if ((r = engine_effects_init(&fx)) < 0)
                        return r;
                x->tx = tx;
                r = engine_apply(&x->opt.engine, f, e, cl->events[i].type, payload, c->now, &fx);
                x->tx = NULL;
                if (r >= 0)
                        r = apply_effects(x, tx, e, &fx, c->now);
                engine_effects_done(&fx);
                if (r < 0)
                        return r;
                if ((r = store_event_delete(tx, cl->events[i].seq)) < 0)
                        return r;
                c->applied++;
        }
        /* Which task runs to write out: every one from the start position of the first that is not
         * where it was (a restart drops some), and those that had not ended or are new. */
        _cleanup_free_ bool *changed = NULL;
        if (!any_changed && e->n_task_runs >= n_start && (changed = calloc(e->n_task_runs, sizeof *changed))) {
                for (size_t i = 0; i < e->n_task_runs; i++)
                        changed[i] = i >= n_start || !settled[i] || e->task_runs[i] != start[i];
        }
        _cleanup_json_ json_t *doc = NULL;
        int64_t version = 0;
        if ((r = save_execution_from(x, tx, e, cl->doc, changed, c->now, &version, &doc)) < 0)
                return r;
        /* A deferred save's version is not known before the flush: it is the claimed one's next
         * (the execution is locked, saved once a step). */
        if (version == 0)
                version = cl->version + 1;
        json_t *entry = json_pack("[I, O]", (json_int_t) version,
                                  state_is_terminal(e->state.current) ? json_null() : doc);
        if (!entry || json_object_set_new(c->saved, e->id, entry) < 0)
                return -ENOMEM;
        if (!was_terminal && state_is_terminal(e->state.current)) {
                c->ended++;
                /* A slot of a concurrency-limited flow freed: the oldest queued execution gets another go. */
                _cleanup_free_ char *next = NULL;
                int64_t active;
                if (limited && ((r = store_tx_flush(tx)) < 0 ||
                                (r = store_execution_concurrency(tx, e->namespace, e->flow_id, e->id, &active, &next)) < 0))
                        return r;
                if (next && active < f->concurrency.limit) {
                        _cleanup_json_ json_t *p = json_object();
                        if ((r = store_event_emit(tx, next, ENGINE_EVENT_CREATED, p, c->now, c->now, NULL)) < 0)
                                return r;
                }
                log_fields_errno(LOG_INFO, 0,
                                 LOG_FIELDS({ "TERN_EXECUTION_ID", e->id }, { "TERN_NAMESPACE", e->namespace },
                                            { "TERN_FLOW", e->flow_id }),
                                 3, "Execution %s of %s.%s ended %s", e->id, e->namespace, e->flow_id,
                                 state_to_string(e->state.current));
        }
        if ((r = report_states(tx, f, e, seen, was_terminal, c->now)) < 0)
                return r;
        if (!state_is_terminal(e->state.current)) {
                Execution **h = realloc(c->held, (c->n_held + 1) * sizeof *h);
                if (!h)
                        return -ENOMEM;
                c->held = h;
                c->held[c->n_held++] = TAKE_PTR(e);
        }
        return 0;
}

static int step_tx(StoreTx *tx, void *userdata) {
        StepCtx *c = userdata;
        StoreClaim *claims = NULL;
        size_t n = 0;
        int r;

        c->applied = c->ended = 0; /* a rerun starts over */
        json_object_clear(c->saved);
        held_free(c);
        /* The task runs, jobs and consumed events of every execution of the step are written
         * together at its end: one statement per table, not per row. */
        if (!c->one_by_one && (r = store_tx_defer(tx)) < 0)
                return r;
        r = store_claim_executions_known(tx, c->now, c->x->opt.batch, doc_known, c->x, &claims, &n);
        if (r < 0)
                return r;
        c->claimed = n;
        for (size_t i = 0; i < n && r >= 0; i++) {
                if (!claims[i].doc) {
                        /* Not read: held here, or unreadable (error set). */
                        CachedDoc *d = hashmap_get(&c->x->docs, claims[i].execution_id);
                        assert(d || claims[i].error < 0);
                        if (d)
                                claims[i].doc = json_incref(d->doc);
                }
                r = apply_claim(c, tx, &claims[i]);
                if (r < 0)
                        snprintf(c->failed_id, sizeof c->failed_id, "%s", claims[i].execution_id);
        }
        store_claims_free(claims, n);
        if (r >= 0)
                r = store_tx_flush(tx);
        return r < 0 ? r : (int) c->applied;
}

/* Errors that say the database or the machine is in trouble, not the execution: retried as they
 * come, however long. */
static bool error_is_transient(int r) {
        switch (-r) {
        case ENOMEM: case EAGAIN: case ECONNRESET: case ECONNREFUSED: case ENOTCONN: case ENOSPC: case ETIMEDOUT:
        case EINTR: case EBUSY:
                return true;
        default:
                return false;
        }
}

/* Errors that an execution's own contents cause (unreadable, too deep, malformed): the same
 * again at every try. */
static bool error_is_the_executions(int r) {
        switch (-r) {
        case EBADMSG: case E2BIG: case EINVAL: case ERANGE: case EDOM: case EILSEQ: case ELOOP: case EOVERFLOW:
                return true;
        default:
                return false;
        }
}

#define STRIKES_MAX 3

/* The first fallback poll after work: what a lost notification costs while executions flow. */
#define FALLBACK_MIN (100 * USEC_PER_MSEC)

/* A step failed while applying execution id: set it aside at the next step when the error is its
 * own, or when other errors (e.g. a statement the database refuses) came STRIKES_MAX times in a row
 * on it. Returns true when it is set aside. */
static bool strike(Executor *x, const char *id, int r) {
        if (isempty(id) || error_is_transient(r))
                return false;
        if (!streq(x->strike_id, id)) {
                snprintf(x->strike_id, sizeof x->strike_id, "%s", id);
                x->strikes = 0;
        }
        if (!error_is_the_executions(r) && ++x->strikes < STRIKES_MAX)
                return false;
        x->strike_id[0] = 0;
        x->strikes = 0;
        _cleanup_free_ char *why = strdup_printf("applying its events failed: %s", strerror(-r));
        return json_object_set_new(x->aside, id, json_string(why ? why : "applying its events failed")) >= 0;
}

int executor_step(Executor *x) {
        _cleanup_json_ json_t *saved = json_object();
        /* The cluster's clock: due dates and leases are compared with the workers' and the other
         * executors' (store_clock_now()); a step of this host's clock must not expire leases. */
        _cleanup_(step_ctx_done) StepCtx c = { .x = x, .now = store_clock_now(x->store), .saved = saved };
        int r;

        if (!saved)
                return -ENOMEM;
        /* The loop turning is progress, also when the database fails it: a restart cannot help. */
        executor_progressed(x);
        /* One execution that cannot be stepped must not stop the others: it is set aside and the
         * step runs again without it (each rerun sets one more aside, so this ends). */
        for (;;) {
                c.failed_id[0] = 0;
                r = store_transact(x->store, step_tx, &c);
                if (r >= 0)
                        break;
                if (!c.one_by_one && isempty(c.failed_id) && !error_is_transient(r)) {
                        /* The step's deferred writes failed at its end, for all its executions: once
                         * more with each row written at once, so that the one the database refuses
                         * is known and set aside, not the whole step retried forever. */
                        log_debug_errno(r, "A step's deferred writes failed (%s): stepping again row by row.",
                                        store_error(x->store));
                        c.one_by_one = true;
                        continue;
                }
                if (!strike(x, c.failed_id, r))
                        return r;
                log_error_errno(r, "Execution '%s' cannot be stepped (%s): setting it aside as FAILED.", c.failed_id,
                                store_error(x->store));
        }
        docs_update(x, &c);
        /* The last execution in flight here ended: the executor goes idle with a heap full of
         * what the busy period freed. Trimmed at once, when the step has freed what it held
         * (executor_wait()), not a poll interval later: memory is read when the work is done. At
         * most ten times a second (it walks the arenas); one skipped is done when the executor
         * has been idle for a poll interval. */
        x->untrimmed |= c.applied > 0;
        x->trim_due = c.ended > 0 && x->n_docs == 0 && now_monotonic() - x->last_trim >= USEC_PER_SEC / 10;
        /* A full batch may have left due events behind; otherwise the next one announces itself
         * (every event is notified at its commit) or is found by executor_wait's due time. */
        x->more_due = c.claimed >= x->opt.batch;
        /* While work flows a lost notification costs a short poll, not a whole idle interval. */
        if (c.applied > 0)
                x->fallback = FALLBACK_MIN;
        pthread_mutex_lock(&x->stats_lock);
        x->stats.steps++;
        x->stats.events += c.applied;
        x->stats.executions_ended += c.ended;
        pthread_mutex_unlock(&x->stats_lock);
        return (int) c.applied;
}

bool executor_more_due(const Executor *x) {
        return x->more_due;
}

/* Jobs whose worker stopped renewing their lease go back to the queue. Before a wait, not at the
 * start of a step: a step woken by a notification must not wait for this statement first. */
static void requeue_expired(Executor *x) {
        if (now_monotonic() - x->last_requeue < x->opt.requeue_every)
                return;
        x->last_requeue = now_monotonic();
        int r = store_job_requeue_expired(x->store, store_clock_now(x->store));
        if (r > 0) {
                pthread_mutex_lock(&x->stats_lock);
                x->stats.requeued += (uint64_t) r;
                pthread_mutex_unlock(&x->stats_lock);
                log_warning("Re-queued %d job(s) whose worker stopped renewing its lease.", r);
        }
}

int executor_wait(Executor *x, int stop_fd) {
        requeue_expired(x);
        usec_t next = USEC_INFINITY, now = store_clock_now(x->store);
        if (x->trim_due) {
                x->trim_due = false;
                docs_trim(x);
        }
        int r = store_next_due(x->store, STORE_CHANNEL_EVENTS, &next);
        if (r < 0)
                return r;
        usec_t fallback = MIN(x->fallback ?: x->opt.poll, x->opt.poll);
        usec_t timeout = fallback;
        if (next != USEC_INFINITY)
                timeout = next <= now ? 0 : MIN(timeout, next - now);
        timeout = MIN(timeout, x->opt.requeue_every);
        struct pollfd p = { stop_fd, POLLIN, 0 };
        r = store_wait_fds(x->store, &p, stop_fd >= 0 ? 1 : 0, timeout);
        executor_progressed(x);
        if (r != 0 || p.revents || timeout < fallback)
                return r;
        /* Nothing came for the whole fallback: the next one is longer. */
        x->fallback = MIN(fallback * 2, x->opt.poll);
        if (fallback >= x->opt.poll && (hashmap_size(&x->docs) > 0 || x->untrimmed))
                /* A whole poll interval without work: the cached documents are of executions
                 * that are waiting (pauses, long tasks) or done; give their memory back. */
                docs_trim(x);
        return 0;
}

int executor_run(Executor *x, int stop_fd) {
        for (;;) {
                struct pollfd p = { stop_fd, POLLIN, 0 };
                if (stop_fd >= 0 && poll(&p, 1, 0) > 0)
                        return 0;
                int r = executor_step(x);
                if (r < 0) {
                        log_error_errno(r, "Executor step failed: %s", store_error(x->store));
                        /* The store reconnects by itself; do not spin on a persistent failure. */
                        struct pollfd w = { stop_fd, POLLIN, 0 };
                        (void) poll(&w, stop_fd >= 0 ? 1 : 0, 1000);
                        continue;
                }
                if (r > 0 && x->more_due) {
                        requeue_expired(x); /* a backlog must not keep it from running */
                        continue;
                }
                r = executor_wait(x, stop_fd);
                if (r < 0)
                        log_debug_errno(r, "Executor wait failed: %m");
        }
}
