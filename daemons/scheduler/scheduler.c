/* scheduler.c: the scheduler loop: trigger rows from flow changes, due Schedule slots, HTTP polls, Flow triggers,
 * backfills. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "conditions.h"
#include "cron.h"
#include "execution-store.h"
#include "expr.h"
#include "hashmap.h"
#include "http-poll.h"
#include "log.h"
#include "execution-create.h"
#include "scheduler.h"
#include "strutil.h"
#include "triggers.h"

struct Scheduler {
        Store *store;
        SchedulerOptions opt;
        ApiFlowCache *flows, *own_flows; /* the process's (options) or its own */
        Hashmap zones; /* name -> TimeZone* (owned) */
        pthread_mutex_t stats_lock; /* stats are read by the frame's thread */
        SchedulerStats stats;
        bool synced;
        bool start_failed; /* opt.start failed (and said why) in the step that failed */
};

/* ---- small helpers -------------------------------------------------------------------------- */

static usec_t sched_now(const Scheduler *s) {
        return s->opt.clock ? s->opt.clock(s->opt.clock_userdata) : store_clock_now(s->store);
}

/* FNV-1a over the parts (NUL-separated), seeded; then a murmur-style finalizer. Two seeds give
 * 128 bits: collisions between slots are out of reach, and the ids look like any other. */
static uint64_t hash64(uint64_t seed, const char *const *parts, size_t n) {
        uint64_t h = seed;
        for (size_t i = 0; i < n; i++) {
                for (const unsigned char *p = (const unsigned char *) strempty(parts[i]); *p; p++)
                        h = (h ^ *p) * 0x100000001b3ULL;
                h = (h ^ 0xff) * 0x100000001b3ULL;
        }
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 33;
        return h;
}

void scheduler_execution_id(const char *ns, const char *flow_id, const char *trigger_id, const char *key,
                            char ret[static ID_MAX]) {
        static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        const char *parts[] = { ns, flow_id, trigger_id, key };
        uint64_t hi = hash64(0xcbf29ce484222325ULL, parts, 4), lo = hash64(0x84222325cbf29ce4ULL, parts, 4);
        /* 128-bit number to 22 base62 digits, least significant last. */
        for (int i = ID_LEN - 1; i >= 0; i--) {
                unsigned __int128 v = ((unsigned __int128) hi << 64) | lo;
                ret[i] = alphabet[(unsigned) (v % 62)];
                v /= 62;
                hi = (uint64_t) (v >> 64);
                lo = (uint64_t) v;
        }
        ret[ID_LEN] = 0;
}

static json_t *prop(const Trigger *t, const char *name) {
        return json_object_get(t->properties, name);
}

/* A new reference to v, or a new empty object: for json_pack's "o" (which steals). */
static json_t *ref_or_object(json_t *v) {
        return v ? json_incref(v) : json_object();
}

static usec_t state_usec(json_t *state, const char *key) {
        json_t *v = json_object_get(state, key);
        return json_is_integer(v) && json_integer_value(v) > 0 ? (usec_t) json_integer_value(v) : 0;
}

/* The latest revision of a flow (parsed once per process and revision). -ENOENT: deleted. */
static int flow_for(Scheduler *s, StoreTx *tx, const char *ns, const char *id, ApiFlow **ret) {
        return api_flow_load(s->flows, tx, ns, id, 0, ret);
}

/* ---- registering triggers ------------------------------------------------------------------ */

/* On Kafka, what f's triggers ask that the scheduler cannot do there yet, said for each trigger when
 * its flow is registered (docs/KAFKA.md): executions' ends reach it through the indexer, which
 * reports neither the non-terminal states an execution passed through nor stopAfter. */
static void kafka_gaps_log(const Scheduler *s, const Flow *f) {
        if (!s->opt.kafka)
                return;
        for (size_t i = 0; i < f->n_triggers; i++) {
                const Trigger *t = &f->triggers[i];
                if (json_array_size(prop(t, "stopAfter")) > 0)
                        log_warning("Trigger '%s' of %s.%s: stopAfter is not applied on the Kafka queue yet: the "
                                    "trigger goes on firing after its executions end in those states.",
                                    t->id, f->namespace, f->id);
                if (streq(api_trigger_kind(t), "flow_states"))
                        log_warning("Trigger '%s' of %s.%s: on the Kafka queue a Flow trigger fires on the end "
                                    "states it lists only, not on the states executions pass through (RUNNING, "
                                    "PAUSED, ...): those are not reported there yet.",
                                    t->id, f->namespace, f->id);
        }
}

typedef struct SyncAllCtx {
        Scheduler *s;
        usec_t now;
        size_t synced;
} SyncAllCtx;

static int sync_all_tx(StoreTx *tx, void *userdata) {
        SyncAllCtx *c = userdata;
        StoreFlow *flows = NULL;
        StoreTrigger *rows = NULL;
        size_t n = 0, nt = 0;
        Hashmap live = HASHMAP_INIT;
        int r;

        c->synced = 0;
        if ((r = store_flow_list(tx, NULL, &flows, &n)) < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                const char *key[] = { flows[i].namespace, flows[i].id };
                r = hashmap_put_parts(&live, key, 2, &flows[i]);
        }
        /* Rows of flows that are gone (deleted while no scheduler read the inbox). */
        if (r >= 0)
                r = store_trigger_list(tx, NULL, NULL, NULL, &rows, &nt);
        for (size_t i = 0; i < nt && r >= 0; i++) {
                const char *key[] = { rows[i].namespace, rows[i].flow_id };
                if (!hashmap_get_parts(&live, key, 2))
                        r = store_trigger_delete(tx, rows[i].namespace, rows[i].flow_id, rows[i].trigger_id);
        }
        for (size_t i = 0; i < n && r >= 0; i++) {
                _cleanup_api_flow_ ApiFlow *f = NULL;
                if ((r = api_flow_from_store(c->s ? c->s->flows : NULL, &flows[i], &f)) < 0) {
                        r = r == -EBADMSG ? 0 : r;
                        continue;
                }
                if (f->flow->n_triggers == 0)
                        continue;
                r = api_trigger_sync(tx, flows[i].namespace, flows[i].id, f->flow, &c->s->zones, c->now);
                kafka_gaps_log(c->s, f->flow);
                c->synced++;
        }
        hashmap_done(&live);
        store_triggers_free(rows, nt);
        store_flows_free(flows, n);
        return r;
}

int scheduler_sync_all(Scheduler *s) {
        SyncAllCtx c = { .s = s, .now = sched_now(s) };
        int r = store_transact(s->store, sync_all_tx, &c);
        if (r < 0)
                return r;
        s->synced = true;
        pthread_mutex_lock(&s->stats_lock);
        s->stats.flows_synced += c.synced;
        pthread_mutex_unlock(&s->stats_lock);
        return (int) c.synced;
}

/* ---- creating executions -------------------------------------------------------------------- */

/* Create the execution of one firing with a derived id. Returns 1 when created, 0 when it
 * existed already (a rerun, or another scheduler) or the inputs were refused. */
static int create_execution(Scheduler *s, StoreTx *tx, const Flow *f, const Trigger *t, json_t *supplied,
                            json_t *labels, json_t *variables, const char *key, bool lenient, usec_t now,
                            char ret_id[static ID_MAX]) {
        _cleanup_json_ json_t *trigger = NULL;
        _cleanup_execution_ Execution *e = NULL;
        _cleanup_free_ char *err = NULL;
        int r;

        trigger = json_pack("{s:s, s:s, s:O}", "id", t->id, "type", t->type, "variables", variables);
        if (!trigger)
                return -ENOMEM;
        scheduler_execution_id(f->namespace, f->id, t->id, key, ret_id);
        ApiExecutionNew n = {
                .id = ret_id,
                .inputs = supplied,
                /* Kestra's Flow trigger passes its inputs unvalidated (a required input may be
                 * missing): do the same rather than drop the execution. */
                .inputs_mode = lenient ? API_INPUTS_LENIENT : API_INPUTS_RESOLVE,
                .labels = labels,
                .trigger = trigger,
        };
        r = api_execution_build(f, &n, now, &e, &err);
        if (r >= 0 && !s->opt.start)
                r = api_execution_store(tx, e, now, NULL);
        if (r == -EINVAL || r == -E2BIG || r == -EPERM) {
                log_warning("Trigger '%s' of %s.%s: %sno execution: %s", t->id, f->namespace, f->id,
                            r == -EINVAL ? "invalid inputs, " : "", r == -EPERM ? "the flow is disabled" : strempty(err));
                return 0;
        }
        /* (Another queue's errors are its own, never a reason to drop the firing.) */
        if (r >= 0 && s->opt.start) {
                r = s->opt.start(tx, e, now, s->opt.start_userdata);
                s->start_failed = s->start_failed || (r < 0 && r != -EEXIST);
        }
        if (r == -EEXIST)
                return 0;
        return r < 0 ? r : 1;
}

static json_t *time_json(usec_t t) {
        char buf[TIMESTAMP_MAX];
        return t ? json_string(timestamp_format(buf, t)) : json_null();
}

/* ---- Schedule triggers ---------------------------------------------------------------------- */

typedef struct StepCtx {
        Scheduler *s;
        usec_t now;
        size_t created, skipped, handled;
        json_t *polls; /* due HTTP polls, made after the transaction: [{namespace, flowId, triggerId, due, props}] */
} StepCtx;

/* Conditions of a Schedule: `conditions` and `scheduleConditions`, all must hold on the slot. */
static int slot_allowed(StepCtx *c, const Flow *f, const Trigger *t, const ApiSchedule *sp, usec_t slot,
                        json_t *vars) {
        ConditionCtx cc = { .variables = vars, .flow_namespace = f->namespace, .flow_id = f->id, .date = slot,
                            .tz = sp->tz, .now = c->now, .secret = c->s->opt.engine.secret,
                            .userdata = c->s->opt.engine.userdata };
        json_t *lists[] = { t->conditions, prop(t, "scheduleConditions") }, *cond;
        size_t i;
        for (size_t k = 0; k < ELEMENTSOF(lists); k++)
                json_array_foreach(lists[k], i, cond) {
                        int r = condition_eval(cond, &cc);
                        if (r <= 0)
                                return r;
                }
        return 1;
}

static int fire_slot(StepCtx *c, StoreTx *tx, const Flow *f, const Trigger *t, const ApiSchedule *sp,
                     StoreTrigger *row, usec_t slot, json_t *backfill) {
        _cleanup_json_ json_t *vars = NULL, *inputs = NULL, *labels = NULL;
        usec_t next = 0, prev = 0;
        char id[ID_MAX], key[64];
        int r;

        (void) api_schedule_next(sp, slot, &next);
        (void) api_schedule_previous(sp, slot, &prev);
        vars = json_pack("{s:o, s:o, s:o}", "date", time_json(slot), "next", time_json(next), "previous",
                         time_json(prev));
        if (!vars)
                return -ENOMEM;
        json_t *trig_vars = json_pack("{s:O}", "trigger", vars);
        if (!trig_vars)
                return -ENOMEM;
        r = slot_allowed(c, f, t, sp, slot, trig_vars);
        json_decref(trig_vars);
        if (r < 0)
                return r;
        if (r == 0) {
                c->skipped++;
                return 0;
        }
        inputs = prop(t, "inputs") ? json_deep_copy(prop(t, "inputs")) : json_object();
        labels = prop(t, "labels") ? json_deep_copy(prop(t, "labels")) : json_object();
        if (!inputs || !labels)
                return -ENOMEM;
        if (backfill) {
                json_object_update(inputs, json_object_get(backfill, "inputs"));
                if (json_is_object(labels)) {
                        json_object_update(labels, json_object_get(backfill, "labels"));
                        json_object_set_new(labels, "system.backfill", json_string("true"));
                }
        }
        snprintf(key, sizeof key, "slot:%llu", (unsigned long long) slot);
        r = create_execution(c->s, tx, f, t, inputs, labels, vars, key, false, c->now, id);
        if (r < 0)
                return r;
        if (r > 0) {
                c->created++;
                free(row->last_execution_id);
                if (!(row->last_execution_id = strdup(id)))
                        return -ENOMEM;
        }
        return 0;
}

/* recoverMissedSchedules, for slots strictly before the latest due one. */
typedef enum Recover { RECOVER_ALL, RECOVER_LAST, RECOVER_NONE } Recover;

static Recover recover_policy(Scheduler *s, const Trigger *t) {
        const char *p = json_string_value(prop(t, "recoverMissedSchedules")) ?: s->opt.recover_default;
        if (streq_ptr(p, "LAST"))
                return RECOVER_LAST;
        if (streq_ptr(p, "NONE"))
                return RECOVER_NONE;
        return RECOVER_ALL;
}

static int run_schedule(StepCtx *c, StoreTx *tx, const Flow *f, const Trigger *t, StoreTrigger *row) {
        Scheduler *s = c->s;
        _cleanup_(api_schedule_done) ApiSchedule sp = {};
        usec_t now = c->now, next = state_usec(row->state, "next");
        int r;

        if ((r = api_schedule_load(t, &s->zones, &sp)) < 0) {
                /* The flow validated, so only a zone missing on this host gets here: park it. */
                log_warning("Trigger '%s' of %s.%s: cannot load its schedule: %s", t->id, f->namespace, f->id,
                            strerror(-r));
                json_object_set_new(row->state, "next", json_integer(0));
                row->next_date = api_trigger_next_date(row->state);
                return 0;
        }
        /* lateMaximumDelay: slots older than it are skipped, whatever recoverMissedSchedules says;
         * the schedule goes on from the first slot within it (Kestra's nextEvaluationDate). */
        susec_t late = -1;
        json_t *lv = prop(t, "lateMaximumDelay");
        if (next && next <= now && json_is_string(lv) && duration_parse(json_string_value(lv), &late) >= 0 &&
            late >= 0 && next + (usec_t) late < now) {
                usec_t first;
                char buf[TIMESTAMP_MAX];
                if (api_schedule_next(&sp, now - (usec_t) late - 1, &first) < 0)
                        first = 0;
                log_info("Trigger '%s' of %s.%s: slots older than lateMaximumDelay skipped, next one at %s", t->id,
                         f->namespace, f->id, first ? timestamp_format(buf, first) : "(none)");
                c->skipped++;
                next = first;
                json_object_set_new(row->state, "next", json_integer((json_int_t) next));
        }
        if (next && next <= now) {
                Recover pol = recover_policy(s, t);
                usec_t latest = next, cur;
                if (pol != RECOVER_ALL && api_schedule_previous(&sp, now + 1, &cur) >= 0 && cur > latest)
                        latest = cur; /* the most recent slot at or before now */
                if (pol == RECOVER_ALL) {
                        size_t budget = s->opt.batch;
                        cur = next;
                        while (cur && cur <= now && budget-- > 0) {
                                if ((r = fire_slot(c, tx, f, t, &sp, row, cur, NULL)) < 0)
                                        return r;
                                if (api_schedule_next(&sp, cur, &cur) < 0)
                                        cur = 0;
                        }
                        next = cur; /* the rest of a long outage on the next steps */
                } else {
                        if (latest != next)
                                c->skipped++;
                        if (pol == RECOVER_LAST || now - latest <= s->opt.missed_after)
                                if ((r = fire_slot(c, tx, f, t, &sp, row, latest, NULL)) < 0)
                                        return r;
                        if (api_schedule_next(&sp, MAX(latest, now), &next) < 0)
                                next = 0;
                }
                json_object_set_new(row->state, "next", json_integer((json_int_t) next));
        }

        /* A backfill: one slot per period at the bounded rate, behind the live schedule. */
        json_t *b = json_object_get(row->state, "backfill");
        if (b && !json_is_true(json_object_get(b, "paused")) && state_usec(b, "notBefore") <= now) {
                usec_t slot = state_usec(b, "next"), end = state_usec(b, "end");
                if (slot && slot < end && slot <= now) {
                        if ((r = fire_slot(c, tx, f, t, &sp, row, slot, b)) < 0)
                                return r;
                        if (api_schedule_next(&sp, slot, &slot) < 0)
                                slot = 0;
                        json_object_set_new(b, "next", json_integer((json_int_t) slot));
                        json_object_set_new(b, "executions", json_integer(json_integer_value(json_object_get(b, "executions")) + 1));
                        json_object_set_new(b, "notBefore",
                                            json_integer((json_int_t) (now + USEC_PER_SEC / s->opt.backfill_rate)));
                }
                if (!slot || slot >= end || slot > now)
                        json_object_del(row->state, "backfill"); /* done */
        }
        row->next_date = api_trigger_next_date(row->state);
        return 0;
}

/* ---- polling HTTP triggers (io.kestra.plugin.core.http.Trigger) ------------------------------ */

/* The request's properties are rendered here, in the transaction that moves the row on by its
 * interval; the request itself is made after it (no I/O holds a transaction), then poll_fire() starts
 * the execution when the response satisfies responseCondition. */
static int queue_poll(StepCtx *c, const Flow *f, const Trigger *t, StoreTrigger *row) {
        static const char *const names[] = { "uri",  "method",  "headers",       "body",
                                             "contentType", "formData", "options", "basicAuthUser",
                                             "basicAuthPassword" };
        _cleanup_json_ json_t *raw = json_object(), *props = NULL,
                              *vars = json_pack("{s:{s:s, s:s, s:i}}", "flow", "id", f->id, "namespace", f->namespace,
                                                "revision", f->revision);
        susec_t interval = 60 * USEC_PER_SEC;
        ExprError err = {};
        int r;

        if (!raw || !vars)
                return -ENOMEM;
        json_t *iv = prop(t, "interval");
        if (json_is_string(iv) && (duration_parse(json_string_value(iv), &interval) < 0 || interval < 0))
                interval = 60 * USEC_PER_SEC;
        interval = MAX(interval, (susec_t) USEC_PER_SEC);
        usec_t due = state_usec(row->state, "next");
        json_object_set_new(row->state, "next", json_integer((json_int_t) (c->now + (usec_t) interval)));
        row->next_date = api_trigger_next_date(row->state);

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (prop(t, names[i]) && json_object_set(raw, names[i], prop(t, names[i])) < 0)
                        return -ENOMEM;
        ExprContext ec = { .variables = vars, .secret = c->s->opt.engine.secret, .userdata = c->s->opt.engine.userdata,
                           .now = c->now };
        r = expr_render_tree(raw, &ec, &props, &err);
        if (r < 0) {
                log_warning("Trigger '%s' of %s.%s: cannot render its request: %s", t->id, f->namespace, f->id,
                            err.message ? err.message : strerror(-r));
                expr_error_done(&err);
                return r == -ENOMEM ? r : 0;
        }
        expr_error_done(&err);
        json_t *p = json_pack("{s:s, s:s, s:s, s:I, s:O, s:O?}", "namespace", f->namespace, "flowId", f->id, "triggerId",
                              t->id, "due", (json_int_t) (due ? due : c->now), "props", props, "responseCondition",
                              prop(t, "responseCondition"));
        if (!p || json_array_append_new(c->polls, p) < 0)
                return -ENOMEM;
        return 0;
}

/* Kestra's TruthUtils: 0, -0, null, '' (and false) are false, anything else true. */
static bool truthy(const char *s) {
        return s && !isempty(s) && !streq(s, "0") && !streq(s, "-0") && !streq(s, "false") && !streq(s, "null");
}

typedef struct PollFire {
        StepCtx *c;
        json_t *poll;     /* queue_poll()'s entry */
        json_t *response; /* http_poll()'s answer: the trigger's variables */
} PollFire;

static int poll_fire_tx(StoreTx *tx, void *userdata) {
        PollFire *pf = userdata;
        StepCtx *c = pf->c;
        const char *ns = json_string_value(json_object_get(pf->poll, "namespace"));
        const char *flow_id = json_string_value(json_object_get(pf->poll, "flowId"));
        const char *trigger_id = json_string_value(json_object_get(pf->poll, "triggerId"));
        _cleanup_(store_trigger_done) StoreTrigger row = {};
        _cleanup_api_flow_ ApiFlow *af = NULL;
        const Trigger *t;
        char id[ID_MAX], key[64];
        int r;

        c->created = 0;
        if ((r = flow_for(c->s, tx, ns, flow_id, &af)) < 0)
                return r == -ENOENT || r == -EBADMSG ? 0 : r;
        if (!(t = api_trigger_find(af->flow, trigger_id)) || !streq(api_trigger_kind(t), "poll"))
                return 0; /* changed meanwhile */
        if ((r = store_trigger_get(tx, ns, flow_id, trigger_id, &row)) < 0)
                return r == -ENOENT ? 0 : r;
        if (row.disabled || api_trigger_disabled(af->flow, t, row.state))
                return 0;
        /* The generic conditions come after responseCondition, as in Kestra. */
        _cleanup_json_ json_t *vars = json_pack("{s:O}", "trigger", pf->response);
        if (!vars)
                return -ENOMEM;
        ConditionCtx cc = { .variables = vars, .flow_namespace = ns, .flow_id = flow_id, .date = c->now, .now = c->now,
                            .secret = c->s->opt.engine.secret, .userdata = c->s->opt.engine.userdata };
        size_t i;
        json_t *cond;
        json_array_foreach(t->conditions, i, cond) {
                if ((r = condition_eval(cond, &cc)) < 0)
                        return r;
                if (r == 0) {
                        c->skipped++;
                        return 0;
                }
        }
        _cleanup_json_ json_t *inputs = prop(t, "inputs") ? json_deep_copy(prop(t, "inputs")) : json_object();
        if (!inputs)
                return -ENOMEM;
        snprintf(key, sizeof key, "poll:%lld", (long long) json_integer_value(json_object_get(pf->poll, "due")));
        r = create_execution(c->s, tx, af->flow, t, inputs, prop(t, "labels"), pf->response, key, false, c->now, id);
        if (r <= 0)
                return r;
        c->created++;
        log_info("Trigger '%s' of %s.%s started execution %s: %s answered %lld", t->id, ns, flow_id, id,
                 strna(json_string_value(json_object_get(pf->response, "uri"))),
                 (long long) json_integer_value(json_object_get(pf->response, "code")));
        free(row.last_execution_id);
        if (!(row.last_execution_id = strdup(id)))
                return -ENOMEM;
        row.evaluated_at = c->now;
        return store_trigger_put(tx, &row);
}

/* Make the due requests, one after the other, each bounded by HTTP_POLL_TIMEOUT. */
static int run_polls(StepCtx *c, size_t *created) {
        size_t i;
        json_t *poll;
        json_array_foreach(c->polls, i, poll) {
                const char *tid = json_string_value(json_object_get(poll, "triggerId"));
                const char *ns = json_string_value(json_object_get(poll, "namespace"));
                const char *fid = json_string_value(json_object_get(poll, "flowId"));
                _cleanup_json_ json_t *response = NULL, *vars = NULL;
                _cleanup_free_ char *why = NULL, *verdict = NULL;
                int r = http_poll(json_object_get(poll, "props"), &response, &why);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        log_warning("Trigger '%s' of %s.%s: %s", strna(tid), strna(ns), strna(fid), strna(why));
                        continue;
                }
                /* responseCondition sees the response as Kestra names it. */
                vars = json_pack("{s:{s:O, s:O, s:O}}", "response", "statusCode", json_object_get(response, "code"),
                                 "body", json_object_get(response, "body"), "headers",
                                 json_object_get(response, "headers"));
                if (!vars)
                        return -ENOMEM;
                const char *cond = "{{ response.statusCode < 400 }}";
                ExprContext ec = { .variables = vars, .secret = c->s->opt.engine.secret,
                                   .userdata = c->s->opt.engine.userdata, .now = c->now };
                ExprError err = {};
                json_t *rc = json_object_get(poll, "responseCondition");
                if (json_is_string(rc))
                        cond = json_string_value(rc);
                r = expr_render(cond, &ec, &verdict, &err);
                if (r < 0) {
                        log_warning("Trigger '%s' of %s.%s: responseCondition failed: %s", strna(tid), strna(ns),
                                    strna(fid), err.message ? err.message : strerror(-r));
                        expr_error_done(&err);
                        if (r == -ENOMEM)
                                return r;
                        continue;
                }
                expr_error_done(&err);
                if (!truthy(strstrip(verdict))) {
                        c->skipped++;
                        continue;
                }
                PollFire pf = { .c = c, .poll = poll, .response = response };
                if ((r = store_transact(c->s->store, poll_fire_tx, &pf)) < 0)
                        return r;
                *created += c->created;
        }
        return 0;
}

static int handle_due(StepCtx *c, StoreTx *tx, StoreTrigger *row) {
        _cleanup_api_flow_ ApiFlow *af = NULL;
        const Flow *f;
        const Trigger *t;
        int r = flow_for(c->s, tx, row->namespace, row->flow_id, &af);

        if (r == -ENOENT) /* the flow was deleted: its triggers stop */
                return store_trigger_delete(tx, row->namespace, row->flow_id, row->trigger_id);
        if (r == -EBADMSG) {
                row->next_date = c->now + 60 * USEC_PER_SEC;
                return store_trigger_put(tx, row);
        }
        if (r < 0)
                return r;
        f = af->flow;
        t = api_trigger_find(f, row->trigger_id);
        const char *kind = t ? api_trigger_kind(t) : "";
        if (!streq(kind, "schedule") && !streq(kind, "poll"))
                return store_trigger_delete(tx, row->namespace, row->flow_id, row->trigger_id);
        if (!row->state && !(row->state = json_object()))
                return -ENOMEM;
        if (api_trigger_disabled(f, t, row->state)) {
                row->disabled = true;
                return store_trigger_put(tx, row);
        }
        if ((r = streq(kind, "poll") ? queue_poll(c, f, t, row) : run_schedule(c, tx, f, t, row)) < 0)
                return r;
        free(row->locked_by);
        row->locked_by = NULL;
        row->evaluated_at = c->now;
        c->handled++;
        return store_trigger_put(tx, row);
}

static int due_tx(StoreTx *tx, void *userdata) {
        StepCtx *c = userdata;
        StoreTrigger *rows = NULL;
        size_t n = 0;
        int r;

        c->created = c->skipped = c->handled = 0;
        json_array_clear(c->polls); /* a rerun of the transaction queues them again */
        if ((r = store_trigger_due(tx, c->now, c->s->opt.batch, &rows, &n)) < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++)
                r = handle_due(c, tx, &rows[i]);
        store_triggers_free(rows, n);
        return r < 0 ? r : (int) n;
}

/* ---- Flow triggers -------------------------------------------------------------------------- */

/* Variables of the ended execution, for Flow trigger inputs and Expression conditions. */
static json_t *source_variables(json_t *doc) {
        json_t *outputs = json_object(), *labels = json_object(), *tr;
        size_t i;
        json_array_foreach(json_object_get(doc, "taskRunList"), i, tr) {
                json_t *o = json_object_get(tr, "outputs");
                const char *task = json_string_value(json_object_get(tr, "taskId"));
                if (task && json_is_object(o) && !json_object_get(tr, "parentTaskRunId"))
                        json_object_set(outputs, task, o);
                else if (task && json_is_object(o) && !json_object_get(outputs, task))
                        json_object_set(outputs, task, o);
        }
        json_array_foreach(json_object_get(doc, "labels"), i, tr) {
                const char *k = json_string_value(json_object_get(tr, "key"));
                if (k)
                        json_object_set(labels, k, json_object_get(tr, "value"));
        }
        json_t *state = json_object_get(json_object_get(doc, "state"), "current");
        json_t *v = json_pack("{s:{s:O, s:O, s:o}, s:{s:O, s:O, s:O}, s:o, s:o, s:o, s:o}", "execution", "id",
                              json_object_get(doc, "id"), "state", state ?: json_null(), "outputs",
                              ref_or_object(json_object_get(doc, "outputs")), "flow", "namespace",
                              json_object_get(doc, "namespace"), "id", json_object_get(doc, "flowId"), "revision",
                              json_object_get(doc, "flowRevision") ?: json_null(), "outputs", outputs, "labels",
                              labels, "inputs", ref_or_object(json_object_get(doc, "inputs")), "trigger",
                              ref_or_object(json_object_get(json_object_get(doc, "trigger"), "variables")));
        return v;
}

/* "HH:MM[:SS]" as the time since midnight. */
static int clock_parse(const char *s, usec_t *ret) {
        unsigned h = 0, m = 0, sec = 0;
        if (!s || sscanf(s, "%u:%u:%u", &h, &m, &sec) < 2 || h > 24 || m > 59 || sec > 59)
                return -EINVAL;
        *ret = ((usec_t) h * 3600 + m * 60 + sec) * USEC_PER_SEC;
        return 0;
}

/* The window of a MultipleCondition or of preconditions at now (its timeWindow, or the older
 * window and windowAdvance beside the conditions). 0 when now is outside every window (the daily
 * types: nothing counts then), 1 otherwise with its start; *ret_sliding is the length of a
 * SLIDING_WINDOW (whose results are the times the conditions were met), else 0. Days are UTC. */
static int window_of(json_t *m, usec_t now, usec_t *ret_start, usec_t *ret_sliding) {
        json_t *tw = json_object_get(m, "timeWindow");
        if (!json_is_object(tw))
                tw = m;
        const char *type = json_string_value(json_object_get(tw, "type")) ?: "DURATION_WINDOW";
        const char *w = json_string_value(json_object_get(tw, "window"));
        const char *a = json_string_value(json_object_get(tw, "windowAdvance"));
        susec_t window = USEC_PER_DAY, advance = 0;
        usec_t day = now / USEC_PER_DAY * USEC_PER_DAY, from = 0, to = USEC_PER_DAY;

        if (w && (duration_parse(w, &window) < 0 || window <= 0))
                window = USEC_PER_DAY;
        if (a && duration_parse(a, &advance) < 0)
                advance = 0;
        *ret_sliding = 0;
        if (streq(type, "SLIDING_WINDOW")) {
                *ret_start = 0;
                *ret_sliding = (usec_t) window;
                return 1;
        }
        if (streq(type, "DAILY_TIME_DEADLINE") || streq(type, "DAILY_TIME_WINDOW")) {
                bool deadline = streq(type, "DAILY_TIME_DEADLINE");
                if (deadline ? clock_parse(json_string_value(json_object_get(tw, "deadline")), &to) < 0
                             : clock_parse(json_string_value(json_object_get(tw, "startTime")), &from) < 0 ||
                                       clock_parse(json_string_value(json_object_get(tw, "endTime")), &to) < 0)
                        return 0;
                *ret_start = day + from;
                return now >= day + from && now < day + to;
        }
        *ret_start = (usec_t) (((susec_t) now - advance) / window * window + advance);
        return 1;
}

/* MultipleCondition or preconditions: record which named conditions this execution meets in the
 * current window (kept in the trigger row under id); 1 when all of them are met. */
static int multiple_update(StepCtx *c, json_t *m, const char *id, const ConditionCtx *cc, json_t *state) {
        json_t *windows, *cur, *results, *sub;
        const char *name;
        usec_t start, sliding;

        if (window_of(m, c->now, &start, &sliding) == 0)
                return 0;
        if (!(windows = json_object_get(state, "windows"))) {
                json_object_set_new(state, "windows", json_object());
                windows = json_object_get(state, "windows");
        }
        cur = json_object_get(windows, id);
        if (!cur || state_usec(cur, "start") != start || json_is_true(json_object_get(cur, "sliding")) != !!sliding) {
                json_object_set_new(windows, id,
                                    json_pack("{s:I, s:b, s:{}}", "start", (json_int_t) start, "sliding", sliding > 0,
                                              "results"));
                cur = json_object_get(windows, id);
        }
        results = json_object_get(cur, "results");
        if (!results)
                return -ENOMEM;
        bool all = true;
        json_object_foreach(json_object_get(m, "conditions"), name, sub) {
                int r = condition_eval(sub, cc);
                if (r < 0)
                        return r;
                if (r > 0)
                        json_object_set_new(results, name, sliding ? json_integer((json_int_t) c->now) : json_true());
                json_t *got = json_object_get(results, name);
                if (sliding ? !(json_is_integer(got) && (usec_t) json_integer_value(got) + sliding >= c->now)
                            : !json_is_true(got))
                        all = false;
        }
        if (all && !json_is_false(json_object_get(m, "resetOnSuccess")))
                json_object_set_new(cur, "results", json_object());
        return all;
}

/* A Flow trigger's `preconditions` as a MultipleCondition: each of its `flows` and each of its
 * `where` filters is a condition to meet within the time window (Kestra's reading: a `where`
 * alone lets every matching execution through). */
static json_t *preconditions_condition(json_t *pre) {
        json_t *conds = json_object(), *v;
        size_t i, n = 0;
        char name[256];
        if (!conds)
                return NULL;
        json_array_foreach(json_object_get(pre, "flows"), i, v) {
                json_t *x = json_deep_copy(v);
                snprintf(name, sizeof name, "condition_%zu", ++n);
                if (!x || json_object_set_new(x, "type", json_string(CONDITION_UPSTREAM_FLOW)) < 0 ||
                    json_object_set_new(conds, name, x) < 0)
                        goto fail;
        }
        json_array_foreach(json_object_get(pre, "where"), i, v) {
                json_t *x = json_deep_copy(v);
                snprintf(name, sizeof name, "condition_%zu_%s", ++n, strempty(json_string_value(json_object_get(v, "id"))));
                if (!x || json_object_set_new(x, "type", json_string(CONDITION_EXECUTION_FILTER)) < 0 ||
                    json_object_set_new(conds, name, x) < 0)
                        goto fail;
        }
        return json_pack("{s:o, s:O?, s:O?}", "conditions", conds, "timeWindow", json_object_get(pre, "timeWindow"),
                         "resetOnSuccess", json_object_get(pre, "resetOnSuccess"));
fail:
        json_decref(conds);
        return NULL;
}

static bool state_listed(json_t *states, const char *state) {
        size_t i;
        json_t *v;
        json_array_foreach(states, i, v)
                if (streq_ptr(json_string_value(v), state))
                        return true;
        return false;
}

/* Offer one state of an execution (doc, in that state) to one Flow trigger; key names the
 * firing (the inbox row and the state's place in it). */
static int flow_listener(StepCtx *c, StoreTx *tx, StoreTrigger *row, json_t *doc, json_t *vars, const char *key) {
        const char *src_ns = json_string_value(json_object_get(doc, "namespace"));
        const char *src_flow = json_string_value(json_object_get(doc, "flowId"));
        const char *src_state = json_string_value(json_object_get(json_object_get(doc, "state"), "current"));
        _cleanup_api_flow_ ApiFlow *af = NULL;
        const Flow *f;
        const Trigger *t;
        size_t i;
        json_t *cond;
        int r;

        /* A flow never triggers itself: that would loop forever on a namespace condition. */
        if (streq_ptr(row->namespace, src_ns) && streq_ptr(row->flow_id, src_flow))
                return 0;
        r = flow_for(c->s, tx, row->namespace, row->flow_id, &af);
        if (r == -ENOENT || r == -EBADMSG)
                return 0;
        if (r < 0)
                return r;
        f = af->flow;
        if (!(t = api_trigger_find(f, row->trigger_id)) || !streq(t->def->name, "Flow") ||
            api_trigger_disabled(f, t, row->state))
                return 0;
        /* Without `states`, the end of an execution (whatever it is); with, only those listed. */
        json_t *states = prop(t, "states");
        State st = state_from_string(src_state);
        if (json_array_size(states) > 0 ? !state_listed(states, src_state) : !(st >= 0 && state_is_terminal(st)))
                return 0;

        ConditionCtx cc = { .execution = doc, .variables = vars, .flow_namespace = f->namespace, .flow_id = f->id,
                            .now = c->now, .secret = c->s->opt.engine.secret, .userdata = c->s->opt.engine.userdata };
        json_t *pre = prop(t, "preconditions");
        bool has_multiple = json_is_object(pre);
        json_array_foreach(t->conditions, i, cond) {
                const TaskType *ct = task_type_lookup(TASK_TYPE_CONDITION,
                                                      json_string_value(json_object_get(cond, "type")));
                if (ct && streq(ct->name, "MultipleCondition")) {
                        has_multiple = true;
                        continue;
                }
                if ((r = condition_eval(cond, &cc)) <= 0)
                        return r;
        }
        if (has_multiple) {
                /* Read again under the row lock: concurrent schedulers update the same windows. */
                _cleanup_(store_trigger_done) StoreTrigger locked = {};
                bool all = true;
                if ((r = store_trigger_get(tx, row->namespace, row->flow_id, row->trigger_id, &locked)) < 0)
                        return r == -ENOENT ? 0 : r;
                if (!locked.state && !(locked.state = json_object()))
                        return -ENOMEM;
                json_array_foreach(t->conditions, i, cond) {
                        const TaskType *ct = task_type_lookup(TASK_TYPE_CONDITION,
                                                              json_string_value(json_object_get(cond, "type")));
                        char idx[32];
                        const char *id = json_string_value(json_object_get(cond, "id"));
                        if (!ct || !streq(ct->name, "MultipleCondition"))
                                continue;
                        if (!id) {
                                snprintf(idx, sizeof idx, "%zu", i);
                                id = idx;
                        }
                        if ((r = multiple_update(c, cond, id, &cc, locked.state)) < 0)
                                return r;
                        all = all && r > 0;
                }
                if (json_is_object(pre)) {
                        _cleanup_json_ json_t *m = preconditions_condition(pre);
                        _cleanup_free_ char *id = strdup_printf(
                                "preconditions:%s", strempty(json_string_value(json_object_get(pre, "id"))));
                        if (!m || !id)
                                return -ENOMEM;
                        if ((r = multiple_update(c, m, id, &cc, locked.state)) < 0)
                                return r;
                        all = all && r > 0;
                }
                locked.evaluated_at = c->now;
                if ((r = store_trigger_put(tx, &locked)) < 0)
                        return r;
                if (!all)
                        return 0;
        }

        /* Inputs are rendered against the ended execution (outputs.*, execution.*, ...). */
        _cleanup_json_ json_t *inputs = NULL, *tvars = NULL;
        json_t *raw = prop(t, "inputs");
        if (raw) {
                ExprContext ec = { .variables = vars, .secret = c->s->opt.engine.secret,
                                   .userdata = c->s->opt.engine.userdata, .now = c->now };
                ExprError err = {};
                r = expr_render_tree(raw, &ec, &inputs, &err);
                if (r < 0) {
                        log_warning("Trigger '%s' of %s.%s: cannot render its inputs for execution %s: %s", t->id,
                                    f->namespace, f->id, json_string_value(json_object_get(doc, "id")),
                                    err.message ? err.message : strerror(-r));
                        expr_error_done(&err);
                        return r == -ENOMEM ? r : 0;
                }
                expr_error_done(&err);
        }
        tvars = json_pack("{s:O, s:s, s:s, s:O, s:s, s:o}", "executionId", json_object_get(doc, "id"), "namespace",
                          src_ns, "flowId", src_flow, "flowRevision",
                          json_object_get(doc, "flowRevision") ?: json_null(), "state", src_state, "outputs",
                          ref_or_object(json_object_get(doc, "outputs")));
        if (!tvars)
                return -ENOMEM;
        char id[ID_MAX];
        r = create_execution(c->s, tx, f, t, inputs, prop(t, "labels"), tvars, key, true, c->now, id);
        if (r > 0) {
                c->created++;
                log_info("Trigger '%s' of %s.%s started execution %s after %s.%s %s %s", t->id, f->namespace,
                         f->id, id, src_ns, src_flow, st >= 0 && state_is_terminal(st) ? "ended" : "entered",
                         src_state);
        }
        return r < 0 ? r : 0;
}

/* stopAfter: the execution a trigger started ended in a state its stopAfter lists (the executor
 * checked, against the execution's flow revision): disable the trigger until enabled by hand. */
static int stop_after(StepCtx *c, StoreTx *tx, json_t *payload) {
        _cleanup_(store_trigger_done) StoreTrigger row = {};
        const char *ns = json_string_value(json_object_get(payload, "namespace"));
        const char *flow_id = json_string_value(json_object_get(payload, "flowId"));
        const char *trigger_id = json_string_value(json_object_get(payload, "stopAfter"));
        const char *eid = json_string_value(json_object_get(payload, "executionId"));
        const char *state = json_string_value(json_object_get(payload, "state"));
        int r;

        if (!ns || !flow_id || !trigger_id || !eid || !state)
                return 0;
        r = store_trigger_get(tx, ns, flow_id, trigger_id, &row);
        if (r == -ENOENT)
                return 0; /* the flow or the trigger is gone */
        if (r < 0)
                return r;
        if (!row.state && !(row.state = json_object()))
                return -ENOMEM;
        if (json_is_true(json_object_get(row.state, "userDisabled")))
                return 0;
        json_t *why = json_pack("{s:s, s:s, s:I}", "executionId", eid, "state", state, "date", (json_int_t) c->now);
        if (!why || json_object_set_new(row.state, "stoppedAfter", why) < 0 ||
            json_object_set_new(row.state, "userDisabled", json_true()) < 0)
                return -ENOMEM;
        row.disabled = true;
        log_info("Trigger '%s' of %s.%s disabled: execution %s ended %s, which its stopAfter lists", trigger_id, ns,
                 flow_id, eid, state);
        return store_trigger_put(tx, &row);
}

/* Could the Flow trigger of row fire on state? Only its `states` list says no (none: any end state;
 * a row registered before the list was recorded there: maybe). */
static bool row_may_listen(const StoreTrigger *row, const char *state) {
        json_t *states = json_object_get(row->state, "states");
        return row->disabled ? false : !json_is_array(states) || state_listed(states, state);
}

/* Offer one state to the listeners in rows (doc is changed to that state). */
static int offer_state(StepCtx *c, StoreTx *tx, StoreTrigger *rows, size_t n, json_t *doc, const char *state,
                       const char *key) {
        _cleanup_json_ json_t *vars = NULL;
        int r = 0;
        if (n == 0)
                return 0;
        if (json_object_set_new(json_object_get(doc, "state"), "current", json_string(state)) < 0 ||
            !(vars = source_variables(doc)))
                return -ENOMEM;
        for (size_t i = 0; i < n && r >= 0; i++)
                if (!rows[i].disabled)
                        r = flow_listener(c, tx, &rows[i], doc, vars, key);
        return r;
}

/* An inbox row about an execution: it ended (execution_ended: Flow triggers of both kinds, and
 * stopAfter), or entered states on its way (execution_states: only the "flow_states" kind). Each
 * state goes to the listeners with the execution as it is now, in that state. */
static int handle_execution(StepCtx *c, StoreTx *tx, const StoreEvent *ev) {
        _cleanup_json_ json_t *doc = NULL;
        StoreTrigger *rows = NULL, *passing = NULL;
        size_t n = 0, n_passing = 0;
        bool ended = streq(ev->type, STORE_TRIGGER_EVENT_EXECUTION_ENDED);
        const char *eid = json_string_value(json_object_get(ev->payload, "executionId"));
        char key[160];
        int r = 0;

        if (!eid)
                return 0;
        if (ended && json_object_get(ev->payload, "stopAfter") && (r = stop_after(c, tx, ev->payload)) < 0)
                return r;
        if ((r = store_trigger_list(tx, NULL, NULL, "flow_states", &passing, &n_passing)) < 0)
                return r;
        if (ended && (r = store_trigger_list(tx, NULL, NULL, "flow", &rows, &n)) < 0)
                goto done;
        if (n + n_passing == 0)
                goto done;
        if (!ended) {
                /* Most reports (RUNNING of every execution) interest no listener: skip loading it. */
                bool wanted = false;
                size_t i;
                json_t *v;
                json_array_foreach(json_object_get(ev->payload, "states"), i, v)
                        for (size_t k = 0; k < n_passing && !wanted; k++)
                                wanted = row_may_listen(&passing[k], strempty(json_string_value(v)));
                if (!wanted)
                        goto done;
        }
        r = store_execution_get(tx, eid, &doc);
        if (r == -EBADMSG)
                /* Unreadable (the executor sets it aside): no trigger fires on it, and the inbox
                 * goes on with the other rows. */
                log_warning("Execution '%s' cannot be read; Flow triggers skip its state change.", eid);
        if (r == -ENOENT || r == -EBADMSG) {
                r = 0;
                goto done;
        }
        if (r < 0)
                goto done;
        if (!json_is_object(json_object_get(doc, "state")) && json_object_set_new(doc, "state", json_object()) < 0) {
                r = -ENOMEM;
                goto done;
        }
        if (ended) {
                const char *state = json_string_value(json_object_get(ev->payload, "state"));
                snprintf(key, sizeof key, "ended:%s:%lld", eid, (long long) ev->seq);
                if (state && (r = offer_state(c, tx, rows, n, doc, state, key)) >= 0)
                        r = offer_state(c, tx, passing, n_passing, doc, state, key);
        } else {
                size_t i;
                json_t *v;
                json_array_foreach(json_object_get(ev->payload, "states"), i, v) {
                        if (!json_is_string(v))
                                continue;
                        snprintf(key, sizeof key, "state:%s:%lld:%zu", eid, (long long) ev->seq, i);
                        if ((r = offer_state(c, tx, passing, n_passing, doc, json_string_value(v), key)) < 0)
                                break;
                }
        }
done:
        store_triggers_free(rows, n);
        store_triggers_free(passing, n_passing);
        return r;
}

static int inbox_tx(StoreTx *tx, void *userdata) {
        StepCtx *c = userdata;
        StoreEvent *evs = NULL;
        size_t n = 0;
        int r;

        c->created = c->skipped = c->handled = 0;
        if ((r = store_trigger_event_claim(tx, c->s->opt.batch, &evs, &n)) < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                const StoreEvent *ev = &evs[i];
                if (streq(ev->type, STORE_TRIGGER_EVENT_FLOW_CHANGED)) {
                        const char *ns = json_string_value(json_object_get(ev->payload, "namespace"));
                        const char *id = json_string_value(json_object_get(ev->payload, "id"));
                        r = api_trigger_sync_latest(tx, ns, id, &c->s->zones, c->now);
                        _cleanup_api_flow_ ApiFlow *af = NULL;
                        if (r >= 0 && c->s->opt.kafka && ns && id && flow_for(c->s, tx, ns, id, &af) >= 0)
                                kafka_gaps_log(c->s, af->flow);
                } else if (streq(ev->type, STORE_TRIGGER_EVENT_EXECUTION_ENDED) ||
                           streq(ev->type, STORE_TRIGGER_EVENT_EXECUTION_STATES))
                        r = handle_execution(c, tx, ev);
                if (r >= 0)
                        r = store_trigger_event_delete(tx, ev->seq);
                c->handled++;
        }
        store_events_free(evs, n);
        return r < 0 ? r : (int) n;
}

/* ---- the loop ------------------------------------------------------------------------------- */

int scheduler_new(Store *store, const SchedulerOptions *opt, Scheduler **ret) {
        Scheduler *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->store = store;
        s->opt = *opt;
        pthread_mutex_init(&s->stats_lock, NULL);
        s->stats.last_progress = now_monotonic();
        if (!s->opt.batch)
                s->opt.batch = 100;
        if (!s->opt.poll)
                s->opt.poll = store_backend(store) == STORE_BACKEND_SQLITE ? 200 * USEC_PER_MSEC : USEC_PER_SEC;
        if (!s->opt.missed_after)
                s->opt.missed_after = 60 * USEC_PER_SEC;
        if (!s->opt.backfill_rate)
                s->opt.backfill_rate = 10;
        int r = s->opt.flows ? 0 : api_flow_cache_new(0, &s->own_flows);
        s->flows = s->opt.flows ?: s->own_flows;
        if (r >= 0)
                r = store_listen(store, STORE_CHANNEL_TRIGGERS);
        if (r < 0) {
                s->store = NULL;
                scheduler_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

Scheduler *scheduler_free(Scheduler *s) {
        if (!s)
                return NULL;
        api_flow_cache_free(s->own_flows);
        for (size_t i = 0; i < s->zones.n_buckets; i++)
                if (s->zones.entries[i].key)
                        tz_free(s->zones.entries[i].value);
        hashmap_done(&s->zones);
        store_free(s->store);
        pthread_mutex_destroy(&s->stats_lock);
        free(s);
        return NULL;
}

void scheduler_stats(Scheduler *s, SchedulerStats *ret) {
        pthread_mutex_lock(&s->stats_lock);
        *ret = s->stats;
        pthread_mutex_unlock(&s->stats_lock);
}

static void scheduler_progressed(Scheduler *s) {
        pthread_mutex_lock(&s->stats_lock);
        s->stats.last_progress = now_monotonic();
        pthread_mutex_unlock(&s->stats_lock);
}

int scheduler_step(Scheduler *s) {
        StepCtx c = { .s = s, .now = sched_now(s) };
        size_t created = 0, inbox = 0, skipped = 0;
        int r;

        /* The loop turning is progress, also when the database fails it: a restart cannot help. */
        scheduler_progressed(s);
        s->start_failed = false;

        /* The inbox until it is empty (flow changes before slots: a new trigger is due at once). */
        for (;;) {
                r = store_transact(s->store, inbox_tx, &c);
                if (r < 0)
                        return r;
                created += c.created;
                inbox += (size_t) r;
                if ((size_t) r < s->opt.batch)
                        break;
        }
        usec_t t0 = now_monotonic();
        _cleanup_json_ json_t *polls = json_array();
        if (!polls)
                return -ENOMEM;
        for (;;) {
                c.polls = json_array();
                if (!c.polls)
                        return -ENOMEM;
                r = store_transact(s->store, due_tx, &c);
                if (r >= 0)
                        json_array_extend(polls, c.polls);
                json_decref(TAKE_PTR(c.polls));
                if (r < 0)
                        return r;
                created += c.created;
                skipped += c.skipped;
                if ((size_t) r < s->opt.batch)
                        break;
        }
        c.polls = polls;
        c.skipped = 0;
        r = run_polls(&c, &created);
        c.polls = NULL;
        skipped += c.skipped;
        if (r < 0)
                return r;
        pthread_mutex_lock(&s->stats_lock);
        s->stats.inbox += inbox;
        s->stats.skipped += skipped;
        s->stats.last_due_usec = now_monotonic() - t0;
        s->stats.steps++;
        s->stats.executions += created;
        pthread_mutex_unlock(&s->stats_lock);
        return (int) MIN(created, (size_t) INT32_MAX);
}

int scheduler_wait(Scheduler *s, int stop_fd) {
        usec_t next = USEC_INFINITY, now = sched_now(s);
        int r = store_next_due(s->store, STORE_CHANNEL_TRIGGERS, &next);
        if (r < 0)
                return r;
        usec_t timeout = s->opt.poll;
        if (next != USEC_INFINITY)
                timeout = next <= now ? 0 : MIN(timeout, next - now);
        struct pollfd p = { stop_fd, POLLIN, 0 };
        r = store_wait_fds(s->store, &p, stop_fd >= 0 ? 1 : 0, timeout);
        scheduler_progressed(s);
        return r;
}

int scheduler_run(Scheduler *s, int stop_fd) {
        for (;;) {
                struct pollfd p = { stop_fd, POLLIN, 0 };
                if (stop_fd >= 0 && poll(&p, 1, 0) > 0)
                        return 0;
                int r = s->synced ? 0 : scheduler_sync_all(s);
                if (r >= 0)
                        r = scheduler_step(s);
                if (r < 0) {
                        if (s->start_failed)
                                log_warning("Scheduler step rolled back: an execution could not be started (said "
                                            "above); its trigger is tried again.");
                        else
                                log_error_errno(r, "Scheduler step failed: %s", store_error(s->store));
                        struct pollfd w = { stop_fd, POLLIN, 0 };
                        (void) poll(&w, stop_fd >= 0 ? 1 : 0, 1000);
                        continue;
                }
                r = scheduler_wait(s, stop_fd);
                if (r < 0)
                        log_debug_errno(r, "Scheduler wait failed: %m");
        }
}
