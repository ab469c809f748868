/* test-timeutil: ISO-8601 timestamps and durations, both directions, and civil date math. */
#include "tap.h"
#include "timeutil.h"

static void check_duration(const char *in, susec_t expected, const char *formatted) {
        susec_t d = -1;
        char buf[DURATION_MAX];
        int r = duration_parse(in, &d);
        if (!ok(r == 0 && d == expected, "duration_parse(\"%s\")", in))
                diag("  r=%d got %lld expected %lld", r, (long long) d, (long long) expected);
        is_str(duration_format(buf, expected), formatted, formatted);
}

int main(void) {
        char buf[TIMESTAMP_MAX];
        usec_t t;

        is_str(timestamp_format(buf, 0), "1970-01-01T00:00:00.000Z", "epoch, always with milliseconds");
        is_str(timestamp_format(buf, 1700000000123000ULL), "2023-11-14T22:13:20.123Z", "milliseconds");
        is_str(timestamp_format(buf, 1700000000123456ULL), "2023-11-14T22:13:20.123Z", "microseconds truncated");
        ok(timestamp_parse("2023-11-14T22:13:20.123Z", 0, &t) == 0 && t == 1700000000123000ULL, "parse Z");
        ok(timestamp_parse("2023-11-14T23:13:20.123+01:00", 0, &t) == 0 && t == 1700000000123000ULL, "parse offset");
        ok(timestamp_parse("2023-11-14 22:13:20", 0, &t) == 0 && t == 1700000000000000ULL, "space separator");
        ok(timestamp_parse("2023-11-14T22:13:20", 3600, &t) == 0 && t == 1700000000000000ULL - 3600 * USEC_PER_SEC,
           "local offset applied without zone");
        ok(timestamp_parse("2024-02-29", 0, &t) == 0 && t == 1709164800000000ULL, "date only, leap day");
        is_int(timestamp_parse("2023-02-29T00:00:00Z", 0, &t), -ERANGE, "no Feb 29 in 2023");
        is_int(timestamp_parse("2023-11-14T25:00:00Z", 0, &t), -ERANGE, "hour out of range");
        is_int(timestamp_parse("2023-11-14X", 0, &t), -EINVAL, "garbage");
        is_int(timestamp_parse("2023-11-14T22:13:20Zjunk", 0, &t), -EINVAL, "trailing garbage");
        ok(timestamp_parse("2023-11-14T22:13:20.1234567891Z", 0, &t) == -EINVAL, "too many fraction digits");

        for (usec_t u = 0; u < 400ULL * 366 * USEC_PER_DAY; u += 37ULL * USEC_PER_DAY + 12345000) {
                usec_t back;
                timestamp_format(buf, u);
                if (timestamp_parse(buf, 0, &back) != 0 || back != u) {
                        ok(false, "round trip of %s", buf);
                        goto done_rt;
                }
        }
        ok(true, "timestamps round-trip over four centuries");
done_rt:

        check_duration("PT1.5S", 1500000, "PT1.5S");
        check_duration("P1D", USEC_PER_DAY, "P1D");
        check_duration("PT0S", 0, "PT0S");
        check_duration("PT1M", USEC_PER_MINUTE, "PT1M");
        check_duration("P1DT2H3M4S", USEC_PER_DAY + 2 * USEC_PER_HOUR + 3 * USEC_PER_MINUTE + 4 * USEC_PER_SEC, "P1DT2H3M4S");
        check_duration("PT36H", 36 * USEC_PER_HOUR, "P1DT12H");
        check_duration("P2W", 14 * USEC_PER_DAY, "P14D");
        check_duration("-PT5S", -5 * (susec_t) USEC_PER_SEC, "-PT5S");
        check_duration("PT0.001S", 1000, "PT0.001S");
        check_duration("pt10s", 10 * USEC_PER_SEC, "PT10S");

        susec_t d;
        is_int(duration_parse("1h", &d), -EINVAL, "no P prefix");
        is_int(duration_parse("P", &d), -EINVAL, "empty duration");
        is_int(duration_parse("PT", &d), -EINVAL, "empty time part");
        is_int(duration_parse("PT1.5M", &d), -EINVAL, "fraction only on seconds");
        is_int(duration_parse("PT1S2M", &d), -EINVAL, "units out of order");
        is_int(duration_parse("P1H", &d), -EINVAL, "hours need T");
        is_int(duration_parse("PT99999999999999999999S", &d), -ERANGE, "overflow");

        char s[DURATION_MAX];
        is_str(duration_format_short(s, 1500000), "1.5s", "short seconds");
        is_str(duration_format_short(s, 42000), "42ms", "short ms");
        is_str(duration_format_short(s, 125 * USEC_PER_SEC), "2m05s", "short minutes");

        int64_t y;
        unsigned m, dd;
        civil_from_days(days_from_civil(2000, 2, 29), &y, &m, &dd);
        ok(y == 2000 && m == 2 && dd == 29, "civil round trip");
        is_int(days_in_month(1900, 2), 28, "1900 not leap");
        is_int(days_in_month(2000, 2), 29, "2000 leap");
        return tap_done();
}
