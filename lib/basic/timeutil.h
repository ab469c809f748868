/* timeutil.h: microsecond clocks, ISO-8601 timestamps and durations (PT1.5S, P1D). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

typedef uint64_t usec_t;   /* microseconds; absolute times count from the Unix epoch */
typedef int64_t susec_t;   /* signed, for durations that may be negative */

#define USEC_INFINITY ((usec_t) UINT64_MAX)
#define USEC_PER_MSEC ((usec_t) 1000ULL)
#define USEC_PER_SEC ((usec_t) 1000000ULL)
#define USEC_PER_MINUTE (60 * USEC_PER_SEC)
#define USEC_PER_HOUR (60 * USEC_PER_MINUTE)
#define USEC_PER_DAY (24 * USEC_PER_HOUR)
#define USEC_PER_WEEK (7 * USEC_PER_DAY)

usec_t now_usec(clockid_t clock);
static inline usec_t now_realtime(void) {
        return now_usec(CLOCK_REALTIME);
}
static inline usec_t now_monotonic(void) {
        return now_usec(CLOCK_MONOTONIC);
}
struct timespec *timespec_store(struct timespec *ts, usec_t u);

/* "2026-11-29T13:35:37.123Z": UTC with milliseconds (microseconds are truncated), the form Kestra
 * stores and prints. buf needs TIMESTAMP_MAX. */
#define TIMESTAMP_MAX 40
char *timestamp_format(char buf[static TIMESTAMP_MAX], usec_t t);
/* Parse "YYYY-MM-DDTHH:MM[:SS[.frac]](Z|±HH[:MM])"; a space may stand for T. Without zone,
 * local_offset_sec is applied (0 = UTC). Returns -EINVAL on syntax, -ERANGE out of range. */
int timestamp_parse(const char *s, int local_offset_sec, usec_t *ret);

/* ISO-8601 duration: [-]P[nY][nM][nW][nD][T[nH][nM][n[.f]S]]. Years count 365 days and months 30
 * (as a fixed-length Duration); each number may carry a fraction only on seconds. Also accepts
 * lowercase. */
int duration_parse(const char *s, susec_t *ret);
/* "PT1.5S", "P1D", "PT0S", "P1DT2H3M". buf needs DURATION_MAX. */
#define DURATION_MAX 48
char *duration_format(char buf[static DURATION_MAX], susec_t d);
/* Human friendly "1.5s", "2m03s", "1h02m", "3d04h" for terminals. */
char *duration_format_short(char buf[static DURATION_MAX], usec_t d);

/* Civil date helpers (proleptic Gregorian, UTC). */
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);
void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);
bool is_leap_year(int64_t y);
unsigned days_in_month(int64_t y, unsigned m);
