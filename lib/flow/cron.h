/* cron.h: cron expressions of Schedule triggers: parsing and next/previous fire times in a time zone. */
#pragma once

#include <stdbool.h>

#include "macro.h"
#include "timeutil.h"
#include "tz.h"

/*
 * Syntax (Kestra's Schedule `cron`, which is cron-utils with a Unix definition):
 *   minute hour day-of-month month day-of-week            (5 fields)
 *   second minute hour day-of-month month day-of-week     (6 fields, CRON_WITH_SECONDS = `withSeconds: true`)
 *   @yearly @annually @monthly @weekly @daily @midnight @hourly
 * Each field is a comma list of `*`, `n`, `a-b`, `*` or `a-b` or `a` followed by `/step` (`a/step`
 * runs from a to the field's maximum). Months take JAN-DEC and days of week SUN-SAT, any case;
 * day-of-week 0 and 7 are Sunday. Ranges must not be reversed (`FRI-MON` is refused).
 * Extensions in the Quartz style, accepted by tern although Kestra's parser definition does not
 * enable them: day-of-month `L` (last day), `L-n` (n days before it), `nW` (weekday nearest day n,
 * within the month), `LW` (last weekday); day-of-week `nL` (last such weekday of the month) and
 * `n#k` (k-th such weekday, k 1-5); `?` as a synonym of `*` in the two day fields.
 *
 * Day-of-month and day-of-week: when both are restricted (neither is exactly `*` or `?`), a day
 * matches if EITHER matches, as in Unix cron and as cron-utils computes it for Kestra's definition
 * (no question-mark support, matchDayOfWeekAndDayOfMonth off => union of both candidate sets).
 * Note that `*\/2` counts as restricted (cron-utils semantics), unlike Vixie cron.
 *
 * Time zones and DST, evaluated on the zone's wall clock (tern's rule, after ISC/Vixie cron):
 *  - Schedules whose hour field is `*` follow real time: wall-clock times skipped by a spring-forward
 *    gap simply do not happen, and both occurrences of a repeated (fall-back) time fire, so an
 *    every-N-minutes or hourly schedule keeps its real-time rhythm.
 *  - Schedules that name hours (`30 2 * * *`) fire once per wall-clock slot: a slot inside a gap
 *    fires once at the first instant after the gap (02:30 on a 02:00->03:00 day runs at 03:00), and
 *    a repeated slot fires only at its first occurrence. Several slots in one gap collapse into one
 *    fire. cron-utils (Kestra) skips gap slots and de-duplicates overlaps only for schedules less
 *    frequent than hourly; tern deliberately guarantees "runs once" on both kinds of days.
 *
 * Fire times have whole-second precision. Searches look at most 400 years ahead (one Gregorian cycle)
 * and never past year 9999; an expression that never fires (`0 0 30 2 *`) gives -ENOENT.
 */

typedef struct Cron Cron;

typedef enum CronFlags {
        CRON_WITH_SECONDS = 1 << 0, /* expect 6 fields, the first one seconds */
} CronFlags;

/* Parse expr. On -EINVAL, *ret_error (if not NULL) gets a message naming the field and the problem,
 * e.g. `day-of-month: 32 is out of range 1-31`; free() it. */
int cron_parse(const char *expr, CronFlags flags, Cron **ret, char **ret_error);

Cron *cron_free(Cron *c);
DEFINE_FREE_CLEANUP(Cron, cron_free)
#define _cleanup_cron_free_ _cleanup_(cron_freep)

/* The first fire time strictly after `after`, as a UTC instant. -ENOENT if none within the search
 * bound. tz NULL means UTC. */
int cron_next(const Cron *c, const TimeZone *tz, usec_t after, usec_t *ret);
/* The last fire time strictly before `before`. -ENOENT if none (also before 1970). */
int cron_previous(const Cron *c, const TimeZone *tz, usec_t before, usec_t *ret);
