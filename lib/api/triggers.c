/* triggers.c: trigger rows from flows, and enable/disable, unlock and backfills of a trigger (see triggers.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "state.h"
#include "strutil.h"
#include "flow-cache.h"
#include "triggers.h"

/* ---- a row's meaning ----------------------------------------------------------------------- */

/* A Flow trigger whose `states` name a state an execution passes through (RUNNING, PAUSED...):
 * the executor reports those to it, at a cost, so such triggers have a kind of their own. */
static bool lists_passing_state(const Trigger *t) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(t->properties, "states"), i, v) {
                State st = state_from_string(json_string_value(v));
                if (st >= 0 && !state_is_terminal(st))
                        return true;
        }
        return false;
}

const char *api_trigger_kind(const Trigger *t) {
        const char *n = t->def ? t->def->name : "";
        if (streq(n, "Schedule") || streq(n, "ScheduleOnDates"))
                return "schedule";
        if (streq(n, "Flow"))
                return lists_passing_state(t) ? "flow_states" : "flow";
        if (streq(n, "Webhook"))
                return "webhook";
        if (streq(n, "http.Trigger"))
                return "poll";
        return "other";
}

const Trigger *api_trigger_find(const Flow *f, const char *id) {
        for (size_t i = 0; f && i < f->n_triggers; i++)
                if (streq(f->triggers[i].id, id))
                        return &f->triggers[i];
        return NULL;
}

static json_t *prop(const Trigger *t, const char *name) {
        return json_object_get(t->properties, name);
}

static usec_t state_usec(json_t *state, const char *key) {
        json_t *v = json_object_get(state, key);
        return json_is_integer(v) && json_integer_value(v) > 0 ? (usec_t) json_integer_value(v) : 0;
}

usec_t api_trigger_next_date(json_t *state) {
        usec_t next = state_usec(state, "next");
        json_t *b = json_object_get(state, "backfill");
        if (b && !json_is_true(json_object_get(b, "paused"))) {
                usec_t nb = MAX(state_usec(b, "notBefore"), (usec_t) 1);
                next = next ? MIN(next, nb) : nb;
        }
        return next;
}

bool api_trigger_disabled(const Flow *f, const Trigger *t, json_t *state) {
        return f->disabled || t->disabled || json_is_true(json_object_get(state, "userDisabled"));
}

static int zone_load(Hashmap *zones, const char *name, TimeZone **ret_owned, const TimeZone **ret) {
        TimeZone *z;
        int r;
        if (isempty(name))
                name = "Etc/UTC";
        if (zones && (z = hashmap_get(zones, name))) {
                *ret = z;
                return 0;
        }
        if ((r = tz_load(name, &z)) < 0)
                return r;
        if (zones) {
                if ((r = hashmap_put(zones, name, z)) < 0) {
                        tz_free(z);
                        return r;
                }
        } else
                *ret_owned = z;
        *ret = z;
        return 0;
}

void api_schedule_done(ApiSchedule *sp) {
        sp->cron = cron_free(sp->cron);
        free(sp->dates);
        sp->dates = NULL;
        sp->n_dates = 0;
        sp->tz_owned = tz_free(sp->tz_owned);
        sp->tz = NULL;
}

static int usec_compare(const void *a, const void *b) {
        usec_t x = *(const usec_t *) a, y = *(const usec_t *) b;
        return x < y ? -1 : x > y;
}

/* One of a ScheduleOnDates' dates: with its zone, or a wall-clock time of tz. */
static int date_load(const char *s, const TimeZone *tz, usec_t *ret) {
        usec_t naive, shifted;
        int r, off = 0;
        if ((r = timestamp_parse(s, 0, &naive)) < 0)
                return r;
        if ((r = timestamp_parse(s, 3600, &shifted)) < 0)
                return r;
        if (naive == shifted || !tz) {
                *ret = naive; /* it names its zone (or is UTC) */
                return 0;
        }
        /* The zone's offset at that wall-clock time: looked up twice, so that the offset is the one in
         * force at the instant found (DST). */
        for (int pass = 0; pass < 2; pass++) {
                if ((r = tz_offset_at_utc(tz, naive - (usec_t) ((int64_t) off * (int64_t) USEC_PER_SEC), &off, NULL)) < 0)
                        return r;
        }
        *ret = naive - (usec_t) ((int64_t) off * (int64_t) USEC_PER_SEC);
        return 0;
}

static int dates_load(json_t *list, const TimeZone *tz, ApiSchedule *sp) {
        size_t i, n = 0;
        json_t *v;
        if (!json_is_array(list) || json_array_size(list) == 0)
                return -EINVAL;
        if (!(sp->dates = calloc(json_array_size(list), sizeof(usec_t))))
                return -ENOMEM;
        json_array_foreach(list, i, v) {
                int r = json_is_string(v) ? date_load(json_string_value(v), tz, &sp->dates[n]) : -EINVAL;
                if (r < 0)
                        return r;
                n++;
        }
        qsort(sp->dates, n, sizeof(usec_t), usec_compare);
        sp->n_dates = 0;
        for (i = 0; i < n; i++)
                if (sp->n_dates == 0 || sp->dates[sp->n_dates - 1] != sp->dates[i])
                        sp->dates[sp->n_dates++] = sp->dates[i];
        return 0;
}

int api_schedule_load(const Trigger *t, Hashmap *zones, ApiSchedule *ret) {
        _cleanup_free_ char *err = NULL;
        const char *cron = json_string_value(prop(t, "cron"));
        json_t *dates = prop(t, "dates");
        CronFlags fl = json_is_true(prop(t, "withSeconds")) ? CRON_WITH_SECONDS : 0;
        int r;
        *ret = (ApiSchedule) {};
        if (!cron && !dates)
                return -EINVAL;
        if (cron && (r = cron_parse(cron, fl, &ret->cron, &err)) < 0)
                return r;
        if ((r = zone_load(zones, json_string_value(prop(t, "timezone")), &ret->tz_owned, &ret->tz)) < 0 ||
            (!cron && (r = dates_load(dates, ret->tz, ret)) < 0)) {
                api_schedule_done(ret);
                return r;
        }
        return 0;
}

int api_schedule_next(const ApiSchedule *sp, usec_t after, usec_t *ret) {
        if (sp->cron)
                return cron_next(sp->cron, sp->tz, after, ret);
        for (size_t i = 0; i < sp->n_dates; i++)
                if (sp->dates[i] > after) {
                        *ret = sp->dates[i];
                        return 0;
                }
        return -ENOENT;
}

int api_schedule_previous(const ApiSchedule *sp, usec_t before, usec_t *ret) {
        if (sp->cron)
                return cron_previous(sp->cron, sp->tz, before, ret);
        for (size_t i = sp->n_dates; i > 0; i--)
                if (sp->dates[i - 1] < before) {
                        *ret = sp->dates[i - 1];
                        return 0;
                }
        return -ENOENT;
}

/* What identifies the schedule: when it changes with a new revision, the next date is computed
 * afresh; otherwise the trigger keeps its place. */
static char *schedule_key(const Trigger *t) {
        _cleanup_free_ char *dates = prop(t, "dates") ? json_dumps(prop(t, "dates"), JSON_COMPACT) : NULL;
        if (dates)
                return strdup_printf("dates:%s|%s", dates, strempty(json_string_value(prop(t, "timezone"))));
        return strdup_printf("%s|%s|%d", strempty(json_string_value(prop(t, "cron"))),
                             strempty(json_string_value(prop(t, "timezone"))), json_is_true(prop(t, "withSeconds")));
}

/* ---- registering a flow's triggers --------------------------------------------------------- */

/* The row's columns and state from trigger t of f (revision, kind, the next slot of a Schedule,
 * the states of a Flow trigger, disabled). */
static int row_refresh(StoreTrigger *row, const Flow *f, const Trigger *t, Hashmap *zones, usec_t now) {
        const char *kind = api_trigger_kind(t);

        if (!row->state && !(row->state = json_object()))
                return -ENOMEM;
        json_object_set_new(row->state, "type", json_string(t->type));
        json_object_set_new(row->state, "revision", json_integer(f->revision));
        free(row->kind);
        if (!(row->kind = strdup(kind)))
                return -ENOMEM;
        if (streq(kind, "schedule")) {
                _cleanup_free_ char *key = schedule_key(t);
                if (!key)
                        return -ENOMEM;
                if (!streq_ptr(json_string_value(json_object_get(row->state, "spec")), key) ||
                    !json_object_get(row->state, "next")) {
                        ApiSchedule sp;
                        usec_t next = 0;
                        if (api_schedule_load(t, zones, &sp) >= 0) {
                                if (api_schedule_next(&sp, now, &next) < 0)
                                        next = 0;
                                api_schedule_done(&sp);
                        }
                        json_object_set_new(row->state, "spec", json_string(key));
                        json_object_set_new(row->state, "next", json_integer((json_int_t) next));
                }
        } else if (streq(kind, "poll")) {
                /* A polling trigger's first request is at once, then every interval (scheduler.c). */
                if (!json_object_get(row->state, "next"))
                        json_object_set_new(row->state, "next", json_integer((json_int_t) MAX(now, (usec_t) 1)));
                json_object_del(row->state, "backfill");
        } else {
                json_object_del(row->state, "next");
                json_object_del(row->state, "backfill");
        }
        /* A Flow trigger's states, so that the inbox can drop a report nobody listens to
         * without loading the execution. */
        json_t *states = streq(t->def->name, "Flow") ? prop(t, "states") : NULL;
        if (json_array_size(states) > 0)
                json_object_set(row->state, "states", states);
        else
                json_object_del(row->state, "states");
        row->next_date = api_trigger_next_date(row->state);
        row->disabled = api_trigger_disabled(f, t, row->state);
        return 0;
}

int api_trigger_sync(StoreTx *tx, const char *ns, const char *flow_id, const Flow *f, Hashmap *zones, usec_t now) {
        StoreTrigger *rows = NULL;
        size_t n = 0;
        int r;

        if ((r = store_trigger_list(tx, ns, flow_id, NULL, &rows, &n)) < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                if (!streq(rows[i].namespace, ns))
                        continue; /* a sub-namespace's flow of the same id */
                if (!api_trigger_find(f, rows[i].trigger_id))
                        r = store_trigger_delete(tx, ns, flow_id, rows[i].trigger_id);
        }
        store_triggers_free(rows, n);
        if (r < 0 || !f)
                return r < 0 ? r : 0;

        for (size_t i = 0; i < f->n_triggers; i++) {
                const Trigger *t = &f->triggers[i];
                _cleanup_(store_trigger_done) StoreTrigger row = {};

                r = store_trigger_get(tx, ns, flow_id, t->id, &row);
                if (r == -ENOENT) {
                        row = (StoreTrigger) { .namespace = strdup(ns), .flow_id = strdup(flow_id),
                                               .trigger_id = strdup(t->id) };
                        if (!row.namespace || !row.flow_id || !row.trigger_id)
                                return -ENOMEM;
                } else if (r < 0)
                        return r;
                if ((r = row_refresh(&row, f, t, zones, now)) < 0 || (r = store_trigger_put(tx, &row)) < 0)
                        return r;
        }
        return 0;
}

int api_trigger_sync_latest(StoreTx *tx, const char *ns, const char *flow_id, Hashmap *zones, usec_t now) {
        _cleanup_flow_ Flow *f = NULL;
        int r = api_flow_load_owned(tx, ns, flow_id, 0, &f);
        if (r == -EBADMSG)
                return 0; /* an invalid revision cannot be stored by tern; keep what runs */
        if (r < 0 && r != -ENOENT)
                return r;
        return api_trigger_sync(tx, ns, flow_id, r == -ENOENT ? NULL : f, zones, now);
}

/* ---- administration ------------------------------------------------------------------------ */

static int row_get(StoreTx *tx, const char *ns, const char *flow_id, const char *trigger_id, StoreTrigger *row) {
        int r = store_trigger_get(tx, ns, flow_id, trigger_id, row);
        if (r < 0)
                return r;
        if (!row->state && !(row->state = json_object()))
                return -ENOMEM;
        return 0;
}

/* A new reference to v, or a new empty object: for json_pack's "o" (which steals). */
static json_t *ref_or_object(json_t *v) {
        return v ? json_incref(v) : json_object();
}

int api_backfill_create(StoreTx *tx, const char *ns, const char *flow_id, const char *trigger_id, usec_t start,
                        usec_t end, json_t *inputs, json_t *labels, usec_t now) {
        _cleanup_(store_trigger_done) StoreTrigger row = {};
        _cleanup_flow_ Flow *f = NULL;
        _cleanup_(api_schedule_done) ApiSchedule sp = {};
        const Trigger *t;
        usec_t first;
        int r;

        if (start >= end)
                return -EINVAL;
        if ((r = row_get(tx, ns, flow_id, trigger_id, &row)) < 0)
                return r;
        if (!streq_ptr(row.kind, "schedule"))
                return -EINVAL;
        if (json_object_get(row.state, "backfill"))
                return -EBUSY;
        if ((r = api_flow_load_owned(tx, ns, flow_id, 0, &f)) < 0)
                return r;
        if (!(t = api_trigger_find(f, trigger_id)) || (r = api_schedule_load(t, NULL, &sp)) < 0)
                return -EINVAL;
        /* The first slot at or after start. */
        if (api_schedule_next(&sp, start - 1, &first) < 0 || first >= end)
                return -ERANGE;
        json_t *b = json_pack("{s:I, s:I, s:I, s:I, s:b, s:I, s:I, s:o, s:o}", "start", (json_int_t) start, "end",
                              (json_int_t) end, "next", (json_int_t) first, "notBefore", (json_int_t) now, "paused",
                              0, "created", (json_int_t) now, "executions", (json_int_t) 0, "inputs",
                              ref_or_object(inputs), "labels", ref_or_object(labels));
        if (!b)
                return -ENOMEM;
        json_object_set_new(row.state, "backfill", b);
        row.next_date = api_trigger_next_date(row.state);
        return store_trigger_put(tx, &row);
}

int api_backfill_pause(StoreTx *tx, const char *ns, const char *flow_id, const char *trigger_id, bool pause,
                       usec_t now) {
        _cleanup_(store_trigger_done) StoreTrigger row = {};
        int r = row_get(tx, ns, flow_id, trigger_id, &row);
        if (r < 0)
                return r;
        json_t *b = json_object_get(row.state, "backfill");
        if (!b)
                return -ENOENT;
        json_object_set_new(b, "paused", json_boolean(pause));
        if (!pause)
                json_object_set_new(b, "notBefore", json_integer((json_int_t) now));
        row.next_date = api_trigger_next_date(row.state);
        return store_trigger_put(tx, &row);
}

int api_backfill_delete(StoreTx *tx, const char *ns, const char *flow_id, const char *trigger_id, usec_t now) {
        _cleanup_(store_trigger_done) StoreTrigger row = {};
        int r = row_get(tx, ns, flow_id, trigger_id, &row);
        if (r < 0)
                return r;
        if (json_object_del(row.state, "backfill") < 0)
                return -ENOENT;
        row.next_date = api_trigger_next_date(row.state);
        return store_trigger_put(tx, &row);
}

int api_trigger_set_enabled(StoreTx *tx, const char *ns, const char *flow_id, const char *trigger_id, bool enabled,
                            usec_t now) {
        _cleanup_(store_trigger_done) StoreTrigger row = {};
        _cleanup_flow_ Flow *f = NULL;
        const Trigger *t;
        int r = row_get(tx, ns, flow_id, trigger_id, &row);
        if (r < 0)
                return r;
        json_object_set_new(row.state, "userDisabled", json_boolean(!enabled));
        if (enabled)
                json_object_del(row.state, "stoppedAfter");
        if ((r = api_flow_load_owned(tx, ns, flow_id, 0, &f)) < 0)
                return r;
        if (!(t = api_trigger_find(f, trigger_id)))
                return -ENOENT;
        row.disabled = api_trigger_disabled(f, t, row.state);
        return store_trigger_put(tx, &row);
}

int api_trigger_unlock(StoreTx *tx, const char *ns, const char *flow_id, const char *trigger_id, usec_t now) {
        _cleanup_(store_trigger_done) StoreTrigger row = {};
        int r = row_get(tx, ns, flow_id, trigger_id, &row);
        if (r < 0)
                return r;
        free(row.locked_by);
        row.locked_by = NULL;
        if (streq_ptr(row.kind, "schedule")) {
                /* Recomputed from now by the sync. */
                json_object_del(row.state, "next");
                if ((r = store_trigger_put(tx, &row)) < 0)
                        return r;
                return api_trigger_sync_latest(tx, ns, flow_id, NULL, now);
        }
        return store_trigger_put(tx, &row);
}
