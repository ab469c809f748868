/* triggers.h: what a trigger's row in the store means, and the operations on triggers that the scheduler, the tern command and the webserver share. */
#pragma once

/* Every trigger of every stored flow has a row in the store's triggers table (see the scheduler's
 * scheduler.h for how the scheduler fires them). Its `kind` and `disabled` columns and its
 * `next_date` are derived from the flow and from the row's `state` (JSON), which holds:
 *   type, revision        the trigger's type and the flow revision the row was made from
 *   spec, next            Schedule: what identifies the schedule (cron|timezone|withSeconds; the
 *                         dates of a ScheduleOnDates), and its next slot (µs; 0: none)
 *   backfill              Schedule: {start, end, next, notBefore, paused, created, executions,
 *                         inputs, labels}, while one runs
 *   userDisabled          disabled by hand (kept across flow revisions)
 *   stoppedAfter          {executionId, state}: disabled by the trigger's stopAfter
 *   states                Flow trigger: the states it listens for
 * Each function here that takes a StoreTx runs inside the caller's transaction: callers run them
 * through store_transact() (they may be run again), and commit once. */

#include <jansson.h>
#include <stdbool.h>

#include "cron.h"
#include "engine.h"
#include "flow.h"
#include "hashmap.h"
#include "store.h"
#include "tz.h"

/* ---- a row's meaning ----------------------------------------------------------------------- */

/* The kind stored in the triggers table: "schedule" (Schedule and ScheduleOnDates), "flow", "flow_states" (a Flow trigger
 * listing non-terminal states, which the executor reports at a cost), "webhook", "poll" (http.Trigger, polled every
 * interval), or "other". */
const char *api_trigger_kind(const Trigger *t);
/* The trigger of flow f with this id, or NULL. */
const Trigger *api_trigger_find(const Flow *f, const char *id);
/* The row's next_date from its state: the next slot, or an active backfill's when earlier (0: none). */
usec_t api_trigger_next_date(json_t *state);
/* Disabled in the flow, by hand or by stopAfter. */
bool api_trigger_disabled(const Flow *f, const Trigger *t, json_t *state);

/* A Schedule trigger's cron, or a ScheduleOnDates trigger's dates, and its time zone. */
typedef struct ApiSchedule {
        Cron *cron;         /* Schedule */
        usec_t *dates;      /* ScheduleOnDates: its dates, sorted, each once */
        size_t n_dates;
        const TimeZone *tz;
        TimeZone *tz_owned; /* when loaded without a cache */
} ApiSchedule;

/* zones (may be NULL): a cache of loaded zones by name, which keeps the zones it is given (its
 * owner frees them with it). -EINVAL when the trigger has no cron (no list of dates, or one that is
 * not ISO-8601 date-times); the cron's or the zone's error. A date without a zone is a wall-clock
 * time of the trigger's `timezone`. */
int api_schedule_load(const Trigger *t, Hashmap *zones, ApiSchedule *ret);
void api_schedule_done(ApiSchedule *sp);
/* The first slot strictly after `after`, the last one strictly before `before` (cron_next() and
 * cron_previous() for either kind). -ENOENT: none. */
int api_schedule_next(const ApiSchedule *sp, usec_t after, usec_t *ret);
int api_schedule_previous(const ApiSchedule *sp, usec_t before, usec_t *ret);

/* ---- registering a flow's triggers --------------------------------------------------------- */

/* Make the rows of flow (ns, flow_id) match f, its latest revision, parsed (NULL: the flow is gone
 * and so are its rows): rows of triggers it no longer has go, the others are made or refreshed. A
 * Schedule keeps its next date unless its schedule changed. zones as for api_schedule_load. */
int api_trigger_sync(StoreTx *tx, const char *ns, const char *flow_id, const Flow *f, Hashmap *zones, usec_t now);
/* The same for the flow's latest stored revision (an invalid one leaves the rows as they are). */
int api_trigger_sync_latest(StoreTx *tx, const char *ns, const char *flow_id, Hashmap *zones, usec_t now);

/* ---- administration (tern trigger, tern backfill, /api/v1/triggers) ------------------------ */

/* Enable or disable by hand (kept across flow revisions); enabling also restarts a trigger that
 * its stopAfter stopped. -ENOENT: no such trigger (or the latest revision lost it). */
int api_trigger_set_enabled(StoreTx *tx, const char *ns, const char *flow_id, const char *trigger_id, bool enabled,
                            usec_t now);
/* Clear a stale lock and, for a Schedule, compute the next date from now (a trigger stuck after a
 * crash or a clock jump). -ENOENT: no such trigger. */
int api_trigger_unlock(StoreTx *tx, const char *ns, const char *flow_id, const char *trigger_id, usec_t now);

/* Run a Schedule's slots in [start, end) at a bounded rate (the scheduler's backfill_rate), each
 * slot at most once; inputs and labels (objects) may be NULL. -EINVAL: start >= end, or not a
 * Schedule; -ENOENT: no such trigger; -EBUSY: one is already running (delete it first); -ERANGE: no
 * slot of the schedule falls in [start, end). */
int api_backfill_create(StoreTx *tx, const char *ns, const char *flow_id, const char *trigger_id, usec_t start,
                        usec_t end, json_t *inputs, json_t *labels, usec_t now);
/* Pause (pause true) or resume a backfill. -ENOENT when there is no such trigger or no backfill. */
int api_backfill_pause(StoreTx *tx, const char *ns, const char *flow_id, const char *trigger_id, bool pause,
                       usec_t now);
/* Stop and forget a backfill. -ENOENT when there is no such trigger or no backfill. */
int api_backfill_delete(StoreTx *tx, const char *ns, const char *flow_id, const char *trigger_id, usec_t now);

/* ---- Webhook triggers (webhook.c; the webserver receives the calls) ------------------------ */

/* 0 when the trigger's row says disabled (by hand, or by stopAfter), 1 otherwise (also when no
 * scheduler registered it yet: then the flow's own `disabled` decides, which the caller checks). */
int api_webhook_enabled(StoreTx *tx, const char *ns, const char *flow_id, const char *trigger_id);
/* The trigger's `inputs` with their {{ }} rendered against trigger.body, trigger.headers and
 * trigger.parameters (trigger_vars) and flow.*; cfg (may be NULL) adds envs, globals, secret().
 * -EINVAL etc. with *ret_error (free it) when an expression fails. */
int api_webhook_inputs(const Flow *f, const Trigger *t, json_t *trigger_vars, const EngineConfig *cfg, usec_t now,
                       json_t **ret, char **ret_error);
