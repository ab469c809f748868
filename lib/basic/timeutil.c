/* timeutil.c: clocks, ISO-8601 timestamps and durations. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "timeutil.h"

usec_t now_usec(clockid_t clock) {
        struct timespec ts;
        if (clock_gettime(clock, &ts) < 0)
                return 0;
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

struct timespec *timespec_store(struct timespec *ts, usec_t u) {
        ts->tv_sec = (time_t) (u / USEC_PER_SEC);
        ts->tv_nsec = (long) (u % USEC_PER_SEC) * 1000;
        return ts;
}

bool is_leap_year(int64_t y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(int64_t y, unsigned m) {
        static const unsigned dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        if (m < 1 || m > 12)
                return 0;
        return dm[m - 1] + (m == 2 && is_leap_year(y));
}

/* Howard Hinnant's well-known days-from-civil algorithm. */
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        unsigned yoe = (unsigned) (y - era * 400);
        unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t) doe - 719468;
}

void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
        z += 719468;
        int64_t era = (z >= 0 ? z : z - 146096) / 146097;
        unsigned doe = (unsigned) (z - era * 146097);
        unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        int64_t yy = (int64_t) yoe + era * 400;
        unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        unsigned mp = (5 * doy + 2) / 153;
        *d = doy - (153 * mp + 2) / 5 + 1;
        *m = mp < 10 ? mp + 3 : mp - 9;
        *y = yy + (*m <= 2);
}

char *timestamp_format(char buf[static TIMESTAMP_MAX], usec_t t) {
        int64_t secs = (int64_t) (t / USEC_PER_SEC);
        unsigned frac = (unsigned) (t % USEC_PER_SEC);
        int64_t days = secs / 86400, rem = secs % 86400;
        int64_t y;
        unsigned mo, d;

        civil_from_days(days, &y, &mo, &d);
        int n = snprintf(buf, TIMESTAMP_MAX, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u", y, mo, d,
                         (unsigned) (rem / 3600), (unsigned) (rem / 60 % 60), (unsigned) (rem % 60));
        /* Always milliseconds, as Kestra stores and prints instants ("...:20.123Z"). */
        snprintf(buf + n, TIMESTAMP_MAX - (size_t) n, ".%03uZ", frac / 1000);
        return buf;
}

static int parse_digits(const char **p, unsigned n, unsigned *ret) {
        unsigned v = 0;
        for (unsigned i = 0; i < n; i++) {
                if (!isdigit((unsigned char) (*p)[i]))
                        return -EINVAL;
                v = v * 10 + (unsigned) ((*p)[i] - '0');
        }
        *p += n;
        *ret = v;
        return 0;
}

int timestamp_parse(const char *s, int local_offset_sec, usec_t *ret) {
        unsigned y, mo, d, h = 0, mi = 0, sec = 0, usec = 0;
        const char *p = s;
        int64_t offset = local_offset_sec;

        if (parse_digits(&p, 4, &y) < 0 || *p++ != '-' || parse_digits(&p, 2, &mo) < 0 || *p++ != '-' ||
            parse_digits(&p, 2, &d) < 0)
                return -EINVAL;
        if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
                return -ERANGE;
        if (*p == 'T' || *p == 't' || *p == ' ') {
                p++;
                if (parse_digits(&p, 2, &h) < 0 || *p++ != ':' || parse_digits(&p, 2, &mi) < 0)
                        return -EINVAL;
                if (*p == ':') {
                        p++;
                        if (parse_digits(&p, 2, &sec) < 0)
                                return -EINVAL;
                        if (*p == '.' || *p == ',') {
                                p++;
                                unsigned digits = 0, scale = 100000;
                                if (!isdigit((unsigned char) *p))
                                        return -EINVAL;
                                while (isdigit((unsigned char) *p)) {
                                        if (digits < 6)
                                                usec += (unsigned) (*p - '0') * scale;
                                        scale /= 10;
                                        digits++;
                                        p++;
                                        if (digits > 9)
                                                return -EINVAL;
                                }
                        }
                }
                if (h > 23 || mi > 59 || sec > 60)
                        return -ERANGE;
                if (sec == 60)
                        sec = 59; /* leap second: clamp */
        } else if (*p)
                return -EINVAL;

        if (*p == 'Z' || *p == 'z') {
                offset = 0;
                p++;
        } else if (*p == '+' || *p == '-') {
                int sign = *p == '-' ? -1 : 1;
                unsigned oh, om = 0;
                p++;
                if (parse_digits(&p, 2, &oh) < 0)
                        return -EINVAL;
                if (*p == ':')
                        p++;
                if (*p && parse_digits(&p, 2, &om) < 0)
                        return -EINVAL;
                if (oh > 18 || om > 59)
                        return -ERANGE;
                offset = sign * (int64_t) (oh * 3600 + om * 60);
        }
        if (*p)
                return -EINVAL;

        int64_t days = days_from_civil(y, mo, d);
        int64_t secs = days * 86400 + (int64_t) h * 3600 + (int64_t) mi * 60 + sec - offset;
        if (secs < 0)
                return -ERANGE;
        *ret = (usec_t) secs * USEC_PER_SEC + usec;
        return 0;
}

int duration_parse(const char *s, susec_t *ret) {
        const char *p = s;
        bool neg = false, time_part = false, any = false;
        __int128 total = 0;
        char last_unit = 0;

        if (*p == '-' || *p == '+') {
                neg = *p == '-';
                p++;
        }
        if (*p != 'P' && *p != 'p')
                return -EINVAL;
        p++;
        /* Units in the order they must appear. */
        static const char date_units[] = "YMWD", time_units[] = "HMS";
        const char *order = date_units;
        while (*p) {
                if (*p == 'T' || *p == 't') {
                        if (time_part)
                                return -EINVAL;
                        time_part = true;
                        order = time_units;
                        last_unit = 0;
                        p++;
                        if (!*p)
                                return -EINVAL;
                        continue;
                }
                bool nneg = false;
                if (*p == '-') {
                        nneg = true;
                        p++;
                }
                if (!isdigit((unsigned char) *p))
                        return -EINVAL;
                uint64_t ip = 0;
                while (isdigit((unsigned char) *p)) {
                        if (ip > (UINT64_MAX - 9) / 10)
                                return -ERANGE;
                        ip = ip * 10 + (uint64_t) (*p - '0');
                        p++;
                }
                uint64_t frac = 0; /* in micro-units */
                bool has_frac = false;
                if (*p == '.' || *p == ',') {
                        unsigned scale = 100000;
                        has_frac = true;
                        p++;
                        if (!isdigit((unsigned char) *p))
                                return -EINVAL;
                        while (isdigit((unsigned char) *p)) {
                                frac += (uint64_t) (*p - '0') * scale;
                                scale /= 10;
                                p++;
                        }
                }
                char u = (char) toupper((unsigned char) *p);
                const char *pos = u ? strchr(order, u) : NULL;
                if (!pos)
                        return -EINVAL;
                if (last_unit && pos <= strchr(order, last_unit))
                        return -EINVAL;
                if (has_frac && !(time_part && u == 'S'))
                        return -EINVAL;
                last_unit = u;
                p++;
                usec_t mult;
                if (!time_part)
                        mult = u == 'Y' ? 365 * USEC_PER_DAY : u == 'M' ? 30 * USEC_PER_DAY : u == 'W' ? USEC_PER_WEEK : USEC_PER_DAY;
                else
                        mult = u == 'H' ? USEC_PER_HOUR : u == 'M' ? USEC_PER_MINUTE : USEC_PER_SEC;
                __int128 v = (__int128) ip * mult + (__int128) frac;
                total += nneg ? -v : v;
                if (total > INT64_MAX || total < -INT64_MAX)
                        return -ERANGE;
                any = true;
        }
        if (!any)
                return -EINVAL;
        *ret = (susec_t) (neg ? -total : total);
        return 0;
}

char *duration_format(char buf[static DURATION_MAX], susec_t d) {
        size_t n = 0;
        uint64_t u = d < 0 ? (uint64_t) (-(d + 1)) + 1 : (uint64_t) d;

        if (d < 0)
                buf[n++] = '-';
        buf[n++] = 'P';
        uint64_t days = u / USEC_PER_DAY;
        u %= USEC_PER_DAY;
        if (days)
                n += (size_t) snprintf(buf + n, DURATION_MAX - n, "%" PRIu64 "D", days);
        if (u || !days) {
                uint64_t h = u / USEC_PER_HOUR, m = u / USEC_PER_MINUTE % 60, s = u / USEC_PER_SEC % 60, f = u % USEC_PER_SEC;
                buf[n++] = 'T';
                if (h)
                        n += (size_t) snprintf(buf + n, DURATION_MAX - n, "%" PRIu64 "H", h);
                if (m)
                        n += (size_t) snprintf(buf + n, DURATION_MAX - n, "%" PRIu64 "M", m);
                if (s || f || (!h && !m)) {
                        n += (size_t) snprintf(buf + n, DURATION_MAX - n, "%" PRIu64, s);
                        if (f) {
                                char fr[8];
                                snprintf(fr, sizeof fr, "%06" PRIu64, f);
                                for (int i = 5; i > 0 && fr[i] == '0'; i--)
                                        fr[i] = 0;
                                n += (size_t) snprintf(buf + n, DURATION_MAX - n, ".%s", fr);
                        }
                        buf[n++] = 'S';
                }
        }
        buf[n] = 0;
        return buf;
}

char *duration_format_short(char buf[static DURATION_MAX], usec_t d) {
        if (d < USEC_PER_SEC)
                snprintf(buf, DURATION_MAX, "%" PRIu64 "ms", d / USEC_PER_MSEC);
        else if (d < USEC_PER_MINUTE)
                snprintf(buf, DURATION_MAX, "%" PRIu64 ".%01" PRIu64 "s", d / USEC_PER_SEC, d / 100000 % 10);
        else if (d < USEC_PER_HOUR)
                snprintf(buf, DURATION_MAX, "%" PRIu64 "m%02" PRIu64 "s", d / USEC_PER_MINUTE, d / USEC_PER_SEC % 60);
        else if (d < USEC_PER_DAY)
                snprintf(buf, DURATION_MAX, "%" PRIu64 "h%02" PRIu64 "m", d / USEC_PER_HOUR, d / USEC_PER_MINUTE % 60);
        else
                snprintf(buf, DURATION_MAX, "%" PRIu64 "d%02" PRIu64 "h", d / USEC_PER_DAY, d / USEC_PER_HOUR % 24);
        return buf;
}
