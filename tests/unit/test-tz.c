/* test-tz: zone loading, UTC offsets around known DST transitions, gaps, overlaps and the POSIX footer. */
#include "tap.h"
#include "timeutil.h"
#include "tz.h"

static usec_t ts(const char *s) {
        usec_t t = 0;
        if (timestamp_parse(s, 0, &t) < 0) {
                diag("bad timestamp in test: %s", s);
                abort();
        }
        return t;
}

static const struct {
        const char *zone, *utc;
        int offset;
        bool dst;
} offsets[] = {
        { "Europe/Paris", "2024-01-15T12:00:00Z", 3600, false },
        { "Europe/Paris", "2024-03-31T00:59:59Z", 3600, false },
        { "Europe/Paris", "2024-03-31T01:00:00Z", 7200, true },    /* spring forward */
        { "Europe/Paris", "2024-10-27T00:59:59Z", 7200, true },
        { "Europe/Paris", "2024-10-27T01:00:00Z", 3600, false },   /* fall back */
        { "America/New_York", "2024-03-10T06:59:59Z", -18000, false },
        { "America/New_York", "2024-03-10T07:00:00Z", -14400, true },
        { "America/New_York", "2024-11-03T05:59:59Z", -14400, true },
        { "America/New_York", "2024-11-03T06:00:00Z", -18000, false },
        { "Australia/Sydney", "2024-01-10T00:00:00Z", 39600, true }, /* southern summer */
        { "Australia/Sydney", "2024-07-10T00:00:00Z", 36000, false },
        { "Australia/Lord_Howe", "2024-01-10T00:00:00Z", 39600, true }, /* 30-minute DST */
        { "Australia/Lord_Howe", "2024-07-10T00:00:00Z", 37800, false },
        { "Asia/Kolkata", "2024-07-10T00:00:00Z", 19800, false },
        { "America/Sao_Paulo", "2018-12-01T00:00:00Z", -7200, true }, /* DST abolished in 2019 */
        { "America/Sao_Paulo", "2024-12-01T00:00:00Z", -10800, false },
        { "Pacific/Apia", "2011-12-30T09:59:59Z", -36000, true }, /* skipped 2011-12-30 entirely */
        { "Pacific/Apia", "2011-12-30T10:00:00Z", 50400, true },
        /* Far future: past the table, the POSIX footer rule decides. */
        { "Europe/Paris", "2200-03-30T00:59:59Z", 3600, false },
        { "Europe/Paris", "2200-03-30T01:00:00Z", 7200, true },
        { "Europe/Paris", "2200-10-26T00:59:59Z", 7200, true },
        { "Europe/Paris", "2200-10-26T01:00:00Z", 3600, false },
        { "America/New_York", "2150-03-08T06:59:59Z", -18000, false },
        { "America/New_York", "2150-03-08T07:00:00Z", -14400, true },
        { "Australia/Sydney", "2300-01-10T00:00:00Z", 39600, true },
        { "Australia/Sydney", "2300-07-10T00:00:00Z", 36000, false },
        /* Built-ins and fixed offsets. */
        { "UTC", "2024-06-01T00:00:00Z", 0, false },
        { "Z", "2024-06-01T00:00:00Z", 0, false },
        { "+02:00", "2024-06-01T00:00:00Z", 7200, false },
        { "-05:30", "2024-06-01T00:00:00Z", -19800, false },
        { "+0930", "2024-06-01T00:00:00Z", 34200, false },
        { "UTC+01:00", "2024-06-01T00:00:00Z", 3600, false },
        { "GMT-3", "2024-06-01T00:00:00Z", -10800, false },
        { "Etc/GMT+5", "2024-06-01T00:00:00Z", -18000, false }, /* POSIX sign inversion in the name */
};

static void test_offsets(void) {
        for (size_t i = 0; i < ELEMENTSOF(offsets); i++) {
                _cleanup_tz_free_ TimeZone *tz = NULL;
                int off = 12345, r;
                bool dst = false;

                r = tz_load(offsets[i].zone, &tz);
                if (!ok(r == 0, "load %s", offsets[i].zone)) {
                        diag("  r=%d", r);
                        continue;
                }
                r = tz_offset_at_utc(tz, ts(offsets[i].utc), &off, &dst);
                if (!ok(r == 0 && off == offsets[i].offset && dst == offsets[i].dst, "%s at %s: offset %d dst %d",
                        offsets[i].zone, offsets[i].utc, offsets[i].offset, offsets[i].dst))
                        diag("  got offset %d dst %d", off, dst);
        }
}

static const struct {
        const char *zone;
        int64_t year;
        unsigned month, day, hour, minute;
        TzDisambiguation how;
        int kind;
        const char *utc;
} to_utc[] = {
        { "Europe/Paris", 2024, 6, 1, 12, 0, TZ_DISAMBIGUATE_COMPATIBLE, TZ_LOCAL_UNIQUE, "2024-06-01T10:00:00Z" },
        /* 02:30 does not exist on 2024-03-31 in Paris. */
        { "Europe/Paris", 2024, 3, 31, 2, 30, TZ_DISAMBIGUATE_COMPATIBLE, TZ_LOCAL_GAP, "2024-03-31T01:30:00Z" },
        { "Europe/Paris", 2024, 3, 31, 2, 30, TZ_DISAMBIGUATE_LATER, TZ_LOCAL_GAP, "2024-03-31T01:30:00Z" },
        { "Europe/Paris", 2024, 3, 31, 2, 30, TZ_DISAMBIGUATE_EARLIER, TZ_LOCAL_GAP, "2024-03-31T00:30:00Z" },
        { "Europe/Paris", 2024, 3, 31, 2, 30, TZ_DISAMBIGUATE_REJECT, -ENOENT, NULL },
        { "Europe/Paris", 2024, 3, 31, 3, 0, TZ_DISAMBIGUATE_COMPATIBLE, TZ_LOCAL_UNIQUE, "2024-03-31T01:00:00Z" },
        { "Europe/Paris", 2024, 3, 31, 1, 59, TZ_DISAMBIGUATE_COMPATIBLE, TZ_LOCAL_UNIQUE, "2024-03-31T00:59:00Z" },
        /* 02:30 happens twice on 2024-10-27 in Paris. */
        { "Europe/Paris", 2024, 10, 27, 2, 30, TZ_DISAMBIGUATE_COMPATIBLE, TZ_LOCAL_OVERLAP, "2024-10-27T00:30:00Z" },
        { "Europe/Paris", 2024, 10, 27, 2, 30, TZ_DISAMBIGUATE_EARLIER, TZ_LOCAL_OVERLAP, "2024-10-27T00:30:00Z" },
        { "Europe/Paris", 2024, 10, 27, 2, 30, TZ_DISAMBIGUATE_LATER, TZ_LOCAL_OVERLAP, "2024-10-27T01:30:00Z" },
        { "Europe/Paris", 2024, 10, 27, 2, 30, TZ_DISAMBIGUATE_REJECT, -ENOTUNIQ, NULL },
        { "Europe/Paris", 2024, 10, 27, 3, 0, TZ_DISAMBIGUATE_COMPATIBLE, TZ_LOCAL_UNIQUE, "2024-10-27T02:00:00Z" },
        { "America/New_York", 2024, 3, 10, 2, 30, TZ_DISAMBIGUATE_COMPATIBLE, TZ_LOCAL_GAP, "2024-03-10T07:30:00Z" },
        { "America/New_York", 2024, 11, 3, 1, 30, TZ_DISAMBIGUATE_COMPATIBLE, TZ_LOCAL_OVERLAP, "2024-11-03T05:30:00Z" },
        { "America/New_York", 2024, 11, 3, 1, 30, TZ_DISAMBIGUATE_LATER, TZ_LOCAL_OVERLAP, "2024-11-03T06:30:00Z" },
        { "Australia/Lord_Howe", 2024, 10, 6, 2, 15, TZ_DISAMBIGUATE_COMPATIBLE, TZ_LOCAL_GAP, "2024-10-05T15:45:00Z" },
        { "Pacific/Apia", 2011, 12, 30, 12, 0, TZ_DISAMBIGUATE_COMPATIBLE, TZ_LOCAL_GAP, "2011-12-30T22:00:00Z" },
        /* Far future, from the footer rule. */
        { "Europe/Paris", 2200, 3, 30, 2, 30, TZ_DISAMBIGUATE_REJECT, -ENOENT, NULL },
        { "Europe/Paris", 2200, 10, 26, 2, 30, TZ_DISAMBIGUATE_LATER, TZ_LOCAL_OVERLAP, "2200-10-26T01:30:00Z" },
        { "UTC", 2024, 2, 29, 23, 59, TZ_DISAMBIGUATE_COMPATIBLE, TZ_LOCAL_UNIQUE, "2024-02-29T23:59:00Z" },
        { "UTC", 2023, 2, 29, 0, 0, TZ_DISAMBIGUATE_COMPATIBLE, -EINVAL, NULL },
};

static void test_local_to_utc(void) {
        for (size_t i = 0; i < ELEMENTSOF(to_utc); i++) {
                _cleanup_tz_free_ TimeZone *tz = NULL;
                char buf[TIMESTAMP_MAX];
                usec_t u = 0;
                LocalTime lt = {
                        .year = to_utc[i].year,
                        .month = to_utc[i].month,
                        .day = to_utc[i].day,
                        .hour = to_utc[i].hour,
                        .minute = to_utc[i].minute,
                };
                if (tz_load(to_utc[i].zone, &tz) < 0) {
                        ok(false, "load %s", to_utc[i].zone);
                        continue;
                }
                int r = tz_local_to_utc(tz, &lt, to_utc[i].how, &u);
                bool good = r == to_utc[i].kind && (!to_utc[i].utc || u == ts(to_utc[i].utc));
                if (!ok(good, "%s %04lld-%02u-%02u %02u:%02u (how=%d) -> %d %s", to_utc[i].zone,
                        (long long) to_utc[i].year, to_utc[i].month, to_utc[i].day, to_utc[i].hour, to_utc[i].minute,
                        to_utc[i].how, to_utc[i].kind, strna(to_utc[i].utc)))
                        diag("  got %d %s", r, timestamp_format(buf, u));
        }
}

static void test_utc_to_local(void) {
        _cleanup_tz_free_ TimeZone *tz = NULL;
        LocalTime lt;

        ok(tz_load("America/New_York", &tz) == 0, "load New York");
        ok(tz_utc_to_local(tz, ts("2024-11-03T05:30:00.25Z"), &lt) == 0 && lt.year == 2024 && lt.month == 11 &&
                   lt.day == 3 && lt.hour == 1 && lt.minute == 30 && lt.second == 0 && lt.usec == 250000 &&
                   lt.weekday == 0 && lt.dst && lt.offset_sec == -14400,
           "first 01:30 of the fall-back Sunday is EDT");
        ok(tz_utc_to_local(tz, ts("2024-11-03T06:30:00Z"), &lt) == 0 && lt.hour == 1 && lt.minute == 30 && !lt.dst &&
                   lt.offset_sec == -18000,
           "second 01:30 is EST");
        ok(tz_utc_to_local(tz, ts("2024-03-01T04:59:59Z"), &lt) == 0 && lt.month == 2 && lt.day == 29 && lt.hour == 23 &&
                   lt.minute == 59 && lt.second == 59 && lt.weekday == 4,
           "leap day, Thursday");

        /* Round trip through local time over a year of New York hours, with both disambiguations. */
        bool all = true;
        for (usec_t u = ts("2024-01-01T00:00:00Z"); u < ts("2025-01-01T00:00:00Z"); u += 1800 * USEC_PER_SEC) {
                usec_t back = 0;
                tz_utc_to_local(tz, u, &lt);
                int r = tz_local_to_utc(tz, &lt, TZ_DISAMBIGUATE_EARLIER, &back);
                if (r == TZ_LOCAL_OVERLAP && back != u)
                        r = tz_local_to_utc(tz, &lt, TZ_DISAMBIGUATE_LATER, &back);
                if (r < 0 || r == TZ_LOCAL_GAP || back != u) {
                        char buf[TIMESTAMP_MAX];
                        diag("  round trip failed at %s: r=%d", timestamp_format(buf, u), r);
                        all = false;
                        break;
                }
        }
        ok(all, "every half hour of 2024 round-trips through New York local time");
}

static void test_periods(void) {
        _cleanup_tz_free_ TimeZone *paris = NULL, *utc = NULL;
        TzPeriod p;

        ok(tz_load("Europe/Paris", &paris) == 0, "load Paris");
        tz_period_at(paris, (int64_t) (ts("2024-06-01T00:00:00Z") / USEC_PER_SEC), &p);
        ok(p.start == (int64_t) (ts("2024-03-31T01:00:00Z") / USEC_PER_SEC) &&
                   p.end == (int64_t) (ts("2024-10-27T01:00:00Z") / USEC_PER_SEC) && p.offset_sec == 7200 &&
                   p.prev_offset_sec == 3600 && p.dst,
           "Paris summer 2024 period starts with a one-hour gap");
        tz_period_at(paris, (int64_t) (ts("2300-12-01T00:00:00Z") / USEC_PER_SEC), &p);
        ok(p.start == (int64_t) (ts("2300-10-28T01:00:00Z") / USEC_PER_SEC) &&
                   p.end == (int64_t) (ts("2301-03-31T01:00:00Z") / USEC_PER_SEC) && p.offset_sec == 3600 &&
                   p.prev_offset_sec == 7200 && !p.dst,
           "Paris winter 2300 from the footer rule starts with an overlap");

        ok(tz_load("UTC", &utc) == 0, "load UTC");
        tz_period_at(utc, 0, &p);
        ok(p.start == INT64_MIN && p.end == INT64_MAX && p.offset_sec == 0, "UTC is one unbounded period");
}

static void test_names(void) {
        static const struct {
                const char *name;
                int r;
        } names[] = {
                { "Europe/Paris", 0 },        { "UTC", 0 },
                { "Etc/UTC", 0 },             { "America/Argentina/Buenos_Aires", 0 },
                { "+18:00", 0 },              { "+18:01", -ERANGE },
                { "+2:3", -EINVAL },          { "+02:60", -EINVAL },
                { "../etc/passwd", -EINVAL }, { "/etc/localtime", -EINVAL },
                { "Europe/../UTC", -EINVAL }, { "Europe//Paris", -EINVAL },
                { "", -EINVAL },              { "Mars/Olympus_Mons", -ENOENT },
                { "Europe", -ENOENT },        { "Europe/Paris ", -EINVAL },
        };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_tz_free_ TimeZone *tz = NULL;
                is_int(tz_load(names[i].name, &tz), names[i].r, names[i].name);
                if (tz)
                        ok(streq(tz_name(tz), names[i].name), "name of %s kept", names[i].name);
        }

        /* Corrupt data is refused, not misread. */
        _cleanup_tz_free_ TimeZone *tz = NULL;
        is_int(tz_load_tzif("x", "TZif2", 5, &tz), -EBADMSG, "truncated TZif");
        is_int(tz_load_tzif("x", "not a zone file at all, definitely not one, no sir, nothing of the kind", 70, &tz),
               -EBADMSG, "no magic");
}

int main(void) {
        _cleanup_tz_free_ TimeZone *probe = NULL;
        if (tz_load("Europe/Paris", &probe) == -ENOENT)
                tap_skip_all("no tz database in " TZ_DIR_DEFAULT " (install tzdata)");

        test_offsets();
        test_local_to_utc();
        test_utc_to_local();
        test_periods();
        test_names();
        return tap_done();
}
