/* test-cron: cron parsing and next/previous fire times, including DST days, leap years and L/W/#. */
#include "cron.h"
#include "tap.h"
#include "timeutil.h"
#include "tz.h"

#define MAX_FIRES 8

static usec_t ts(const char *s) {
        usec_t t = 0;
        if (timestamp_parse(s, 0, &t) < 0) {
                diag("bad timestamp in test: %s", s);
                abort();
        }
        return t;
}

static const struct {
        const char *expr;
        CronFlags flags;
        const char *zone;
        const char *start;
        const char *fires[MAX_FIRES]; /* NULL-terminated; none at all means -ENOENT */
} cases[] = {
        { "*/15 * * * *", 0, "UTC", "2024-01-01T00:07:00Z",
          { "2024-01-01T00:15:00Z", "2024-01-01T00:30:00Z", "2024-01-01T00:45:00Z", "2024-01-01T01:00:00Z" } },
        { "5/20 * * * *", 0, "UTC", "2024-01-01T00:00:00Z",
          { "2024-01-01T00:05:00Z", "2024-01-01T00:25:00Z", "2024-01-01T00:45:00Z", "2024-01-01T01:05:00Z" } },
        { "0 9 * * MON-FRI", 0, "UTC", "2024-06-07T10:00:00Z",
          { "2024-06-10T09:00:00Z", "2024-06-11T09:00:00Z", "2024-06-12T09:00:00Z" } },
        { "0 0 1 jan,Jul *", 0, "UTC", "2024-01-01T00:00:00Z", { "2024-07-01T00:00:00Z", "2025-01-01T00:00:00Z" } },
        { "0 0 * * 7", 0, "UTC", "2024-06-05T00:00:00Z", { "2024-06-09T00:00:00Z", "2024-06-16T00:00:00Z" } },
        { "0 0 * * sun", 0, "UTC", "2024-06-09T00:00:00Z", { "2024-06-16T00:00:00Z" } },
        { "0 0 * * 0-7", 0, "UTC", "2024-06-05T00:00:00Z", { "2024-06-06T00:00:00Z", "2024-06-07T00:00:00Z" } },
        { "0 0 * * 5-7", 0, "UTC", "2024-06-05T00:00:00Z",
          { "2024-06-07T00:00:00Z", "2024-06-08T00:00:00Z", "2024-06-09T00:00:00Z", "2024-06-14T00:00:00Z" } },
        { "0 22 * * 1-5/2", 0, "UTC", "2024-06-09T00:00:00Z", /* Mon, Wed, Fri */
          { "2024-06-10T22:00:00Z", "2024-06-12T22:00:00Z", "2024-06-14T22:00:00Z", "2024-06-17T22:00:00Z" } },
        /* Leap years, and what never happens. */
        { "0 0 29 2 *", 0, "UTC", "2023-01-01T00:00:00Z",
          { "2024-02-29T00:00:00Z", "2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z" } },
        { "0 0 29 2 *", 0, "UTC", "2096-03-01T00:00:00Z", { "2104-02-29T00:00:00Z" } }, /* 2100 is not leap */
        { "0 0 30 2 *", 0, "UTC", "2024-01-01T00:00:00Z", {} },
        { "0 0 31 4,6,9,11 *", 0, "UTC", "2024-01-01T00:00:00Z", {} },
        /* Day of month and day of week both restricted: either matches (Friday or the 13th). */
        { "0 0 13 * 5", 0, "UTC", "2024-09-01T00:00:00Z",
          { "2024-09-06T00:00:00Z", "2024-09-13T00:00:00Z", "2024-09-20T00:00:00Z", "2024-09-27T00:00:00Z",
            "2024-10-04T00:00:00Z", "2024-10-11T00:00:00Z", "2024-10-13T00:00:00Z" } },
        { "0 0 ? * 5", 0, "UTC", "2024-09-01T00:00:00Z", { "2024-09-06T00:00:00Z", "2024-09-13T00:00:00Z" } },
        /* L, W, # */
        { "0 0 L * *", 0, "UTC", "2024-01-15T00:00:00Z",
          { "2024-01-31T00:00:00Z", "2024-02-29T00:00:00Z", "2024-03-31T00:00:00Z", "2024-04-30T00:00:00Z" } },
        { "0 0 L-3 * *", 0, "UTC", "2024-02-01T00:00:00Z",
          { "2024-02-26T00:00:00Z", "2024-03-28T00:00:00Z", "2024-04-27T00:00:00Z" } },
        { "0 0 15W * *", 0, "UTC", "2024-06-01T00:00:00Z",
          { "2024-06-14T00:00:00Z", "2024-07-15T00:00:00Z", "2024-08-15T00:00:00Z", "2024-09-16T00:00:00Z" } },
        { "0 0 1W * *", 0, "UTC", "2024-06-01T00:00:00Z",
          { "2024-06-03T00:00:00Z", "2024-07-01T00:00:00Z", "2024-08-01T00:00:00Z" } },
        { "0 0 LW * *", 0, "UTC", "2024-08-01T00:00:00Z",
          { "2024-08-30T00:00:00Z", "2024-09-30T00:00:00Z", "2024-10-31T00:00:00Z", "2024-11-29T00:00:00Z" } },
        { "0 12 * * 5L", 0, "UTC", "2024-01-01T00:00:00Z",
          { "2024-01-26T12:00:00Z", "2024-02-23T12:00:00Z", "2024-03-29T12:00:00Z" } },
        { "0 12 * * FRI#3", 0, "UTC", "2024-01-01T00:00:00Z",
          { "2024-01-19T12:00:00Z", "2024-02-16T12:00:00Z", "2024-03-15T12:00:00Z" } },
        { "0 12 * * 1#5", 0, "UTC", "2024-01-01T00:00:00Z", /* only months with five Mondays */
          { "2024-01-29T12:00:00Z", "2024-04-29T12:00:00Z", "2024-07-29T12:00:00Z", "2024-09-30T12:00:00Z" } },
        /* Seconds field and aliases. */
        { "*/20 * * * * *", CRON_WITH_SECONDS, "UTC", "2024-01-01T00:00:05Z",
          { "2024-01-01T00:00:20Z", "2024-01-01T00:00:40Z", "2024-01-01T00:01:00Z" } },
        { "30 0 0 1 1 *", CRON_WITH_SECONDS, "UTC", "2024-01-01T00:00:30Z", { "2025-01-01T00:00:30Z" } },
        { "@hourly", CRON_WITH_SECONDS, "UTC", "2024-01-01T00:00:00.5Z", { "2024-01-01T01:00:00Z" } },
        { "@weekly", 0, "UTC", "2024-06-05T00:00:00Z", { "2024-06-09T00:00:00Z", "2024-06-16T00:00:00Z" } },
        { "@yearly", 0, "UTC", "2024-06-05T00:00:00Z", { "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z" } },
        { "@monthly", 0, "Asia/Kolkata", "2024-06-05T00:00:00Z", { "2024-06-30T18:30:00Z", "2024-07-31T18:30:00Z" } },
        { "@daily", 0, "+02:00", "2024-06-05T00:00:00Z", { "2024-06-05T22:00:00Z" } },
        /* Paris, spring forward 2024-03-31 (02:00 CET -> 03:00 CEST): 02:30 runs once, at 03:00. */
        { "30 2 * * *", 0, "Europe/Paris", "2024-03-30T00:00:00Z",
          { "2024-03-30T01:30:00Z", "2024-03-31T01:00:00Z", "2024-04-01T00:30:00Z" } },
        { "15,45 2 * * *", 0, "Europe/Paris", "2024-03-31T00:00:00Z",
          { "2024-03-31T01:00:00Z", "2024-04-01T00:15:00Z", "2024-04-01T00:45:00Z" } },
        { "0 2,3 * * *", 0, "Europe/Paris", "2024-03-30T12:00:00Z",
          { "2024-03-31T01:00:00Z", "2024-04-01T00:00:00Z", "2024-04-01T01:00:00Z" } },
        /* ... hourly schedules keep real time: the missing hour does not fire. */
        { "0 * * * *", 0, "Europe/Paris", "2024-03-30T23:30:00Z",
          { "2024-03-31T00:00:00Z", "2024-03-31T01:00:00Z", "2024-03-31T02:00:00Z" } },
        { "*/20 * * * *", 0, "Europe/Paris", "2024-03-31T00:30:00Z",
          { "2024-03-31T00:40:00Z", "2024-03-31T01:00:00Z", "2024-03-31T01:20:00Z" } },
        /* Paris, fall back 2024-10-27 (03:00 CEST -> 02:00 CET): 02:30 runs once, the first time. */
        { "30 2 * * *", 0, "Europe/Paris", "2024-10-26T00:00:00Z",
          { "2024-10-26T00:30:00Z", "2024-10-27T00:30:00Z", "2024-10-28T01:30:00Z" } },
        { "0 * * * *", 0, "Europe/Paris", "2024-10-26T23:30:00Z",
          { "2024-10-27T00:00:00Z", "2024-10-27T01:00:00Z", "2024-10-27T02:00:00Z" } },
        { "0 3 * * *", 0, "Europe/Paris", "2024-10-26T12:00:00Z", { "2024-10-27T02:00:00Z", "2024-10-28T02:00:00Z" } },
        /* New York, spring forward 2024-03-10 and fall back 2024-11-03. */
        { "30 2 * * *", 0, "America/New_York", "2024-03-09T00:00:00Z",
          { "2024-03-09T07:30:00Z", "2024-03-10T07:00:00Z", "2024-03-11T06:30:00Z" } },
        { "30 1 * * *", 0, "America/New_York", "2024-11-02T00:00:00Z",
          { "2024-11-02T05:30:00Z", "2024-11-03T05:30:00Z", "2024-11-04T06:30:00Z" } },
        { "*/30 1 * * *", 0, "America/New_York", "2024-11-03T04:00:00Z",
          { "2024-11-03T05:00:00Z", "2024-11-03T05:30:00Z", "2024-11-04T06:00:00Z", "2024-11-04T06:30:00Z" } },
        { "30 * * * *", 0, "America/New_York", "2024-11-03T04:45:00Z",
          { "2024-11-03T05:30:00Z", "2024-11-03T06:30:00Z", "2024-11-03T07:30:00Z" } },
        { "0 0 * * *", 0, "America/New_York", "2024-03-09T00:00:00Z",
          { "2024-03-09T05:00:00Z", "2024-03-10T05:00:00Z", "2024-03-11T04:00:00Z" } },
        /* Lord Howe moves its clocks by 30 minutes; Apia skipped 2011-12-30 entirely. */
        { "15 2 * * *", 0, "Australia/Lord_Howe", "2024-10-05T00:00:00Z",
          { "2024-10-05T15:30:00Z", "2024-10-06T15:15:00Z" } },
        { "0 12 * * *", 0, "Pacific/Apia", "2011-12-28T00:00:00Z",
          { "2011-12-28T22:00:00Z", "2011-12-29T22:00:00Z", "2011-12-30T10:00:00Z", "2011-12-30T22:00:00Z" } },
        /* Far future: the zone's POSIX rule. 2200-03-30 is Paris' spring-forward Sunday. */
        { "0 0 1 1 *", 0, "Europe/Paris", "2199-12-31T00:00:00Z", { "2199-12-31T23:00:00Z" } },
        { "30 2 * * *", 0, "Europe/Paris", "2200-03-29T12:00:00Z",
          { "2200-03-30T01:00:00Z", "2200-03-31T00:30:00Z" } },
};

static void test_table(void) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_cron_free_ Cron *c = NULL;
                _cleanup_tz_free_ TimeZone *tz = NULL;
                _cleanup_free_ char *err = NULL;
                char buf[TIMESTAMP_MAX], name[200];
                usec_t t = ts(cases[i].start), got = 0;
                int r;

                snprintf(name, sizeof(name), "\"%s\" in %s after %s", cases[i].expr, cases[i].zone, cases[i].start);
                r = cron_parse(cases[i].expr, cases[i].flags, &c, &err);
                if (!ok(r == 0, "parse %s", name)) {
                        diag("  r=%d error=%s", r, strna(err));
                        continue;
                }
                if (!ok(tz_load(cases[i].zone, &tz) == 0, "zone %s", cases[i].zone))
                        continue;

                if (!cases[i].fires[0]) {
                        r = cron_next(c, tz, t, &got);
                        if (!is_int(r, -ENOENT, name))
                                diag("  got %s", timestamp_format(buf, got));
                        continue;
                }

                bool good = true;
                usec_t prev_fire = 0;
                for (size_t k = 0; k < MAX_FIRES && cases[i].fires[k]; k++) {
                        r = cron_next(c, tz, t, &got);
                        if (r < 0 || got != ts(cases[i].fires[k])) {
                                diag("  fire %zu: r=%d got %s expected %s", k, r, timestamp_format(buf, got),
                                     cases[i].fires[k]);
                                good = false;
                                break;
                        }
                        /* previous() walks the same fires back. */
                        if (k > 0) {
                                usec_t back = 0;
                                r = cron_previous(c, tz, got, &back);
                                if (r < 0 || back != prev_fire) {
                                        diag("  previous(%s): r=%d got %s", cases[i].fires[k], r,
                                             timestamp_format(buf, back));
                                        good = false;
                                        break;
                                }
                        }
                        prev_fire = got;
                        t = got;
                }
                ok(good, "%s", name);
        }
}

static const struct {
        const char *expr;
        CronFlags flags;
        const char *error;
} errors[] = {
        { "60 * * * *", 0, "minute: 60 is out of range 0-59" },
        { "* 24 * * *", 0, "hour: 24 is out of range 0-23" },
        { "* * 0 * *", 0, "day-of-month: 0 is out of range 1-31" },
        { "* * 32 * *", 0, "day-of-month: 32 is out of range 1-31" },
        { "* * * 13 *", 0, "month: 13 is out of range 1-12" },
        { "* * * * 8", 0, "day-of-week: 8 is out of range 0-7" },
        { "60 * * * * *", CRON_WITH_SECONDS, "second: 60 is out of range 0-59" },
        { "* * * FOO *", 0, "month: unknown name \"FOO\" (expected JAN-DEC)" },
        { "* * * * MONDAY", 0, "day-of-week: unknown name \"MONDAY\" (expected SUN-SAT)" },
        { "* MON * * *", 0, "hour: \"MON\" is not a number" },
        { "*/0 * * * *", 0, "minute: step must be at least 1 in \"*/0\"" },
        { "*/61 * * * *", 0, "minute: step 61 is out of range (at most 60)" },
        { "5-1 * * * *", 0, "minute: range \"5-1\" is reversed (start after end)" },
        { "* * * * FRI-MON", 0, "day-of-week: range \"FRI-MON\" is reversed (start after end)" },
        { "1,,2 * * * *", 0, "minute: empty element in list \"1,,2\"" },
        { "1, * * * *", 0, "minute: empty element in list \"1,\"" },
        { "* * 15X * *", 0, "day-of-month: unexpected \"X\" in \"15X\"" },
        { "* * W * *", 0, "day-of-month: \"W\": W needs a day before it, like 15W or LW" },
        { "* * 1-5W * *", 0, "day-of-month: \"1-5W\": W takes a single day, like 15W" },
        { "* * L-31 * *", 0, "day-of-month: offset after L- 31 is out of range (at most 30)" },
        { "* * * * 5#6", 0, "day-of-week: occurrence after # 6 is out of range (at most 5)" },
        { "* * * * 5#0", 0, "day-of-week: \"5#0\": the occurrence after # must be 1-5" },
        { "* * * * L", 0, "day-of-week: \"L\" alone is ambiguous here, write 6 or SAT (or 5L for the last Friday)" },
        { "? * * * *", 0, "minute: \"?\" is only allowed in day-of-month and day-of-week" },
        { "* * * *", 0, "expected 5 fields (minute hour day-of-month month day-of-week), got 4" },
        { "", 0, "expected 5 fields (minute hour day-of-month month day-of-week), got 0" },
        { "0 * * * * *", 0,
          "expected 5 fields (minute hour day-of-month month day-of-week), got 6; a leading seconds field needs withSeconds: true" },
        { "* * * * *", CRON_WITH_SECONDS, "expected 6 fields (second minute hour day-of-month month day-of-week), got 5" },
        { "@reboot", 0,
          "unknown alias \"@reboot\" (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)" },
        { "@daily 5", 0,
          "unknown alias \"@daily 5\" (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)" },
        { "-1 * * * *", 0, "minute: expected a value, got \"-1\"" },
        { "1- * * * *", 0, "minute: expected a value, got \"nothing\"" },
        { "99999999999 * * * *", 0, "minute: number in \"99999999999\" is too large" },
};

static void test_errors(void) {
        for (size_t i = 0; i < ELEMENTSOF(errors); i++) {
                _cleanup_cron_free_ Cron *c = NULL;
                _cleanup_free_ char *err = NULL;
                int r = cron_parse(errors[i].expr, errors[i].flags, &c, &err);
                ok(r == -EINVAL && !c, "\"%s\" is refused", errors[i].expr);
                is_str(err, errors[i].error, errors[i].error);
        }
        /* Accepted forms that look odd. */
        static const char *const good[] = { "  0  0 * * *  ", "0\t0\t*\t*\t*", "@DAILY", "0 0 ? * ?", "0 0 1,L,15W * *",
                                            "0 0 * * 1#1,5L,SAT", "59 23 31 12 7", "0-59/7 */5 1-31/10 JAN-DEC/3 *" };
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                _cleanup_cron_free_ Cron *c = NULL;
                _cleanup_free_ char *err = NULL;
                if (!ok(cron_parse(good[i], 0, &c, &err) == 0, "\"%s\" is accepted", good[i]))
                        diag("  %s", strna(err));
        }
}

/* Walk many fires across DST years: strictly increasing, previous() mirrors next(), and daily
 * schedules with named hours fire exactly once per local day. */
static void test_walks(void) {
        static const char *const zones[] = { "UTC", "Europe/Paris", "America/New_York", "Australia/Sydney",
                                             "Australia/Lord_Howe", "America/Santiago" };
        static const char *const exprs[] = { "30 2 * * *", "0 * * * *", "*/7 1,2,3 * * *", "0 0 L * *",
                                             "17 3 * * MON", "0 0,12 1 * 1" };
        for (size_t z = 0; z < ELEMENTSOF(zones); z++)
                for (size_t e = 0; e < ELEMENTSOF(exprs); e++) {
                        _cleanup_cron_free_ Cron *c = NULL;
                        _cleanup_tz_free_ TimeZone *tz = NULL;
                        usec_t t = ts("2023-12-25T00:00:00Z"), got, back;
                        bool good = true;
                        char buf[TIMESTAMP_MAX];

                        if (cron_parse(exprs[e], 0, &c, NULL) < 0 || tz_load(zones[z], &tz) < 0) {
                                ok(false, "setup %s %s", exprs[e], zones[z]);
                                continue;
                        }
                        for (unsigned n = 0; n < 1500 && good; n++) {
                                if (cron_next(c, tz, t, &got) < 0 || got <= t) {
                                        diag("  next after %s failed", timestamp_format(buf, t));
                                        good = false;
                                } else if (n > 0 && (cron_previous(c, tz, got, &back) < 0 || back != t)) {
                                        diag("  previous(%s) != %s", timestamp_format(buf, got), timestamp_format(buf, t));
                                        good = false;
                                }
                                t = got;
                        }
                        ok(good, "1500 fires of \"%s\" in %s are consistent", exprs[e], zones[z]);
                }

        /* "30 2 * * *" fires on every local day of 2024 exactly once, DST or not. */
        for (size_t z = 0; z < ELEMENTSOF(zones); z++) {
                _cleanup_cron_free_ Cron *c = NULL;
                _cleanup_tz_free_ TimeZone *tz = NULL;
                usec_t t = ts("2023-12-31T00:00:00Z"), got;
                LocalTime lt, last = {};
                unsigned days = 0;
                bool good = true;

                (void) cron_parse("30 2 * * *", 0, &c, NULL);
                (void) tz_load(zones[z], &tz);
                while (cron_next(c, tz, t, &got) == 0) {
                        tz_utc_to_local(tz, got, &lt);
                        if (lt.year > 2024)
                                break;
                        if (lt.year == 2024) {
                                if (last.year == lt.year && last.month == lt.month && last.day == lt.day)
                                        good = false;
                                days++;
                        }
                        last = lt;
                        t = got;
                }
                ok(good && days == 366, "\"30 2 * * *\" in %s: once on each of 2024's 366 days (got %u)", zones[z], days);
        }
}

static void test_speed(void) {
        _cleanup_cron_free_ Cron *c = NULL;
        _cleanup_tz_free_ TimeZone *tz = NULL;
        usec_t t = ts("2024-01-01T00:00:00Z"), got = 0;
        unsigned n = 40000;

        ok(cron_parse("*/5 9-17 * * MON-FRI", 0, &c, NULL) == 0 && tz_load("Europe/Paris", &tz) == 0, "speed setup");
        usec_t start = now_monotonic();
        for (unsigned i = 0; i < n; i++) {
                if (cron_next(c, tz, t, &got) < 0)
                        break;
                t = got;
        }
        usec_t took = now_monotonic() - start;
        diag("cron_next: %.2f us per call", (double) took / n);
        ok(got > ts("2025-01-01T00:00:00Z"), "40000 business-hour fires reach 2025");

        _cleanup_cron_free_ Cron *never = NULL;
        ok(cron_parse("0 0 30 2 *", 0, &never, NULL) == 0, "parse Feb 30");
        start = now_monotonic();
        is_int(cron_next(never, tz, t, &got), -ENOENT, "Feb 30 never fires");
        is_int(cron_previous(never, tz, t, &got), -ENOENT, "Feb 30 never fired");
        took = now_monotonic() - start;
        ok(took < 2 * USEC_PER_SEC, "and that is found quickly (%llu us)", (unsigned long long) took);
}

int main(void) {
        _cleanup_tz_free_ TimeZone *probe = NULL;
        if (tz_load("Europe/Paris", &probe) == -ENOENT)
                tap_skip_all("no tz database in " TZ_DIR_DEFAULT " (install tzdata)");

        test_table();
        test_errors();
        test_walks();
        test_speed();
        return tap_done();
}
