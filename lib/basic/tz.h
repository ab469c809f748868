/* tz.h: IANA time zones read from the system tz database (TZif files), without touching TZ or localtime. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"
#include "timeutil.h"

#define TZ_DIR_DEFAULT "/usr/share/zoneinfo"

/* Offsets are limited to +-26h (the TZif format allows more, no real zone uses it); fixed-offset
 * names accept +-18:00 like java.time.ZoneOffset. */
#define TZ_OFFSET_MAX (26 * 3600)

typedef struct TimeZone TimeZone;

/* Civil (wall-clock) time. year is proleptic Gregorian, month 1-12, day 1-31, weekday 0 = Sunday
 * (ignored on input). offset_sec/dst are filled by tz_utc_to_local and ignored on input. */
typedef struct LocalTime {
        int64_t year;
        unsigned month, day, hour, minute, second;
        unsigned usec;
        unsigned weekday;
        int offset_sec;
        bool dst;
} LocalTime;

/* How tz_local_to_utc picks an instant for a wall-clock time that happens twice (overlap, fall
 * back) or never (gap, spring forward). Same meaning as java.time / Temporal:
 *   COMPATIBLE: overlap -> earlier instant, gap -> shifted forward by the gap length (02:30 -> 03:30).
 *   EARLIER:    overlap -> earlier instant, gap -> shifted backward (02:30 -> 01:30).
 *   LATER:      overlap -> later instant,   gap -> shifted forward.
 *   REJECT:     gap -> -ENOENT, overlap -> -ENOTUNIQ. */
typedef enum TzDisambiguation {
        TZ_DISAMBIGUATE_COMPATIBLE,
        TZ_DISAMBIGUATE_EARLIER,
        TZ_DISAMBIGUATE_LATER,
        TZ_DISAMBIGUATE_REJECT,
} TzDisambiguation;

/* Positive results of tz_local_to_utc: what kind of wall-clock time it was. */
enum {
        TZ_LOCAL_UNIQUE = 0,
        TZ_LOCAL_GAP = 1,
        TZ_LOCAL_OVERLAP = 2,
};

/* A maximal stretch of UTC seconds [start, end) with one UTC offset. start is INT64_MIN and end
 * INT64_MAX when unbounded. prev_offset_sec is the offset just before start (== offset_sec when
 * start is unbounded): prev < offset means the period begins with a gap (clocks jumped forward),
 * prev > offset with an overlap (clocks went back). */
typedef struct TzPeriod {
        int64_t start, end;
        int offset_sec, prev_offset_sec;
        bool dst;
} TzPeriod;

/* Load a zone: "UTC", "Z", "GMT", fixed offsets ("+02:00", "-0530", "+02", "UTC+01:00", "GMT-3"),
 * or an IANA name ("Europe/Paris") read from TZ_DIR_DEFAULT. Names with "..", a leading '/', or
 * characters outside [A-Za-z0-9/_+-] are refused with -EINVAL; an unknown name gives -ENOENT; a
 * corrupt file -EBADMSG. */
int tz_load(const char *name, TimeZone **ret);
/* Same, reading IANA names below dir (tests, or a tzdata copy elsewhere). */
int tz_load_from(const char *dir, const char *name, TimeZone **ret);
/* Parse TZif data already in memory (v1 data is skipped; v2+ 64-bit data and footer are used). */
int tz_load_tzif(const char *name, const void *data, size_t size, TimeZone **ret);
/* A zone with a fixed offset from UTC (seconds east). */
int tz_new_fixed(int offset_sec, TimeZone **ret);

TimeZone *tz_free(TimeZone *tz);
DEFINE_FREE_CLEANUP(TimeZone, tz_free)
#define _cleanup_tz_free_ _cleanup_(tz_freep)

/* The name the zone was loaded under ("Europe/Paris", "UTC", "+02:00"). */
const char *tz_name(const TimeZone *tz);

/* Offset (seconds east of UTC) and DST flag in effect at an instant. Either out pointer may be NULL. */
int tz_offset_at_utc(const TimeZone *tz, usec_t utc, int *ret_offset_sec, bool *ret_dst);
/* Same on signed Unix seconds (times before 1970 too). */
void tz_offset_at_sec(const TimeZone *tz, int64_t utc_sec, int *ret_offset_sec, bool *ret_dst);
/* The constant-offset period containing utc_sec. */
void tz_period_at(const TimeZone *tz, int64_t utc_sec, TzPeriod *ret);

/* Civil fields of an instant in the zone. */
int tz_utc_to_local(const TimeZone *tz, usec_t utc, LocalTime *ret);
/* The instant of a wall-clock time. Returns TZ_LOCAL_UNIQUE, TZ_LOCAL_GAP or TZ_LOCAL_OVERLAP
 * (with *ret chosen by d), or -EINVAL for invalid fields, -ERANGE before 1970 or past usec_t, or
 * -ENOENT/-ENOTUNIQ with TZ_DISAMBIGUATE_REJECT. */
int tz_local_to_utc(const TimeZone *tz, const LocalTime *lt, TzDisambiguation d, usec_t *ret);

/* Weekday (0 = Sunday) of a day counted from 1970-01-01. */
unsigned tz_weekday_from_days(int64_t days);
