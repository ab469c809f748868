/* cron.c: cron expression parser and a field-by-field next/previous search on the zone's wall clock. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>

#include "cron.h"
#include "strutil.h"

#define CRON_YEAR_MAX 9999
#define CRON_SEARCH_YEARS 400
/* Constant-offset periods crossed by one search; two a year for 400 years is far below it. */
#define CRON_PERIODS_MAX 4000

struct Cron {
        uint64_t seconds, minutes; /* bits 0-59 */
        uint32_t hours;            /* bits 0-23 */
        uint16_t months;           /* bits 1-12 */
        uint32_t dom;              /* bits 1-31: plain days */
        uint32_t dom_w;            /* bits 1-31: weekday nearest day n */
        uint32_t dom_last;         /* bit n: n days before the last day (L-n; L is bit 0) */
        bool dom_lw;               /* LW: last weekday of the month */
        uint8_t dow;               /* bits 0-6, 0 = Sunday */
        uint8_t dow_last;          /* bits 0-6: last such weekday of the month (nL) */
        uint8_t dow_nth[7];        /* bits 1-5 per weekday: n#k */
        bool dom_star, dow_star;   /* field was exactly * or ?: unrestricted for the union rule */
        bool hour_all;             /* every hour matches: follow real time across DST */
};

typedef enum CronFieldId {
        CRON_SECOND,
        CRON_MINUTE,
        CRON_HOUR,
        CRON_DOM,
        CRON_MONTH,
        CRON_DOW,
        _CRON_FIELD_MAX,
} CronFieldId;

static const char *const month_names[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                           "JUL", "AUG", "SEP", "OCT", "NOV", "DEC" };
static const char *const dow_names[] = { "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT" };

static const struct {
        const char *name;
        unsigned min, max;
        const char *const *names; /* names[i] stands for min + i */
        unsigned n_names;
} cron_fields[_CRON_FIELD_MAX] = {
        [CRON_SECOND] = { "second", 0, 59, NULL, 0 },
        [CRON_MINUTE] = { "minute", 0, 59, NULL, 0 },
        [CRON_HOUR] = { "hour", 0, 23, NULL, 0 },
        [CRON_DOM] = { "day-of-month", 1, 31, NULL, 0 },
        [CRON_MONTH] = { "month", 1, 12, month_names, 12 },
        [CRON_DOW] = { "day-of-week", 0, 7, dow_names, 7 },
};

Cron *cron_free(Cron *c) {
        free(c);
        return NULL;
}

/* ---- parsing ---- */

typedef struct CronParser {
        char *error;
} CronParser;

_printf_(3, 4) static int cron_fail(CronParser *p, CronFieldId f, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (!p->error && msg)
                p->error = (unsigned) f < _CRON_FIELD_MAX ? strjoin(cron_fields[f].name, ": ", msg) : TAKE_PTR(msg);
        return -EINVAL;
}

/* A number or (month, day-of-week) a three-letter name; consumes what it parsed. */
static int cron_parse_value(CronParser *p, CronFieldId f, const char **s, unsigned *ret) {
        const char *q = *s;
        unsigned v = 0;

        if (isdigit((unsigned char) *q)) {
                while (isdigit((unsigned char) *q)) {
                        v = v * 10 + (unsigned) (*q - '0');
                        if (v > 1000)
                                return cron_fail(p, f, "number in \"%s\" is too large", *s);
                        q++;
                }
                if (v < cron_fields[f].min || v > cron_fields[f].max)
                        return cron_fail(p, f, "%u is out of range %u-%u", v, cron_fields[f].min, cron_fields[f].max);
        } else if (isalpha((unsigned char) *q)) {
                size_t n = 0;
                while (isalpha((unsigned char) q[n]))
                        n++;
                /* A lone L/W belongs to the caller (L, LW, 5L, 15W). */
                if (n == 1 || (n == 2 && strncasecmp(q, "LW", 2) == 0))
                        return cron_fail(p, f, "expected a value, got \"%s\"", *s);
                unsigned i;
                for (i = 0; i < cron_fields[f].n_names; i++)
                        if (n == 3 && strncasecmp(q, cron_fields[f].names[i], 3) == 0)
                                break;
                if (i >= cron_fields[f].n_names) {
                        if (cron_fields[f].n_names == 0)
                                return cron_fail(p, f, "\"%.*s\" is not a number", (int) n, q);
                        return cron_fail(p, f, "unknown name \"%.*s\" (expected %s-%s)", (int) n, q,
                                         cron_fields[f].names[0], cron_fields[f].names[cron_fields[f].n_names - 1]);
                }
                v = cron_fields[f].min + i;
                q += n;
        } else
                return cron_fail(p, f, "expected a value, got \"%s\"", *q ? q : "nothing");
        *s = q;
        *ret = v;
        return 0;
}

static int cron_parse_uint(CronParser *p, CronFieldId f, const char **s, unsigned max, const char *what, unsigned *ret) {
        const char *q = *s;
        unsigned v = 0;
        if (!isdigit((unsigned char) *q))
                return cron_fail(p, f, "expected %s, got \"%s\"", what, *q ? q : "nothing");
        while (isdigit((unsigned char) *q)) {
                v = v * 10 + (unsigned) (*q - '0');
                if (v > 1000)
                        break;
                q++;
        }
        if (v > max)
                return cron_fail(p, f, "%s %u is out of range (at most %u)", what, v, max);
        *s = q;
        *ret = v;
        return 0;
}

static unsigned cron_dow_norm(unsigned v) {
        return v == 7 ? 0 : v;
}

/* Day-of-month specials: L, L-n, LW, nW. Returns 1 if item was one of them. */
static int cron_parse_dom_special(CronParser *p, Cron *c, const char *item) {
        const char *s = item;
        unsigned n;

        if (strcasecmp(s, "L") == 0) {
                c->dom_last |= 1u;
                return 1;
        }
        if (strcasecmp(s, "LW") == 0) {
                c->dom_lw = true;
                return 1;
        }
        if ((s[0] == 'L' || s[0] == 'l') && s[1] == '-') {
                s += 2;
                if (cron_parse_uint(p, CRON_DOM, &s, 30, "offset after L-", &n) < 0)
                        return -EINVAL;
                if (*s)
                        return cron_fail(p, CRON_DOM, "unexpected \"%s\" after \"L-%u\"", s, n);
                c->dom_last |= 1u << n;
                return 1;
        }
        size_t len = strlen(s);
        if (len >= 2 && (s[len - 1] == 'W' || s[len - 1] == 'w') && isdigit((unsigned char) s[0])) {
                if (cron_parse_value(p, CRON_DOM, &s, &n) < 0)
                        return -EINVAL;
                if (s != item + len - 1)
                        return cron_fail(p, CRON_DOM, "\"%s\": W takes a single day, like 15W", item);
                c->dom_w |= 1u << n;
                return 1;
        }
        if (strchr(s, 'W') || strchr(s, 'w'))
                return cron_fail(p, CRON_DOM, "\"%s\": W needs a day before it, like 15W or LW", item);
        return 0;
}

/* Day-of-week specials: nL, n#k. Returns 1 if item was one of them. */
static int cron_parse_dow_special(CronParser *p, Cron *c, const char *item) {
        const char *s = item, *hash = strchr(item, '#');
        size_t len = strlen(item);
        unsigned v, k;

        if (hash) {
                if (cron_parse_value(p, CRON_DOW, &s, &v) < 0)
                        return -EINVAL;
                if (s != hash)
                        return cron_fail(p, CRON_DOW, "\"%s\": # takes a single day, like 5#3", item);
                s++;
                if (cron_parse_uint(p, CRON_DOW, &s, 5, "occurrence after #", &k) < 0)
                        return -EINVAL;
                if (k < 1 || *s)
                        return cron_fail(p, CRON_DOW, "\"%s\": the occurrence after # must be 1-5", item);
                c->dow_nth[cron_dow_norm(v)] |= (uint8_t) (1u << k);
                return 1;
        }
        if (len >= 2 && (item[len - 1] == 'L' || item[len - 1] == 'l')) {
                if (cron_parse_value(p, CRON_DOW, &s, &v) < 0)
                        return -EINVAL;
                if (s != item + len - 1)
                        return cron_fail(p, CRON_DOW, "\"%s\": L takes a single day, like 5L", item);
                c->dow_last |= (uint8_t) (1u << cron_dow_norm(v));
                return 1;
        }
        if (strcasecmp(item, "L") == 0)
                return cron_fail(p, CRON_DOW, "\"L\" alone is ambiguous here, write 6 or SAT (or 5L for the last Friday)");
        return 0;
}

static int cron_parse_field(CronParser *p, Cron *c, CronFieldId f, const char *text, uint64_t *ret_mask) {
        _cleanup_free_ char *copy = strdup(text);
        uint64_t mask = 0;
        unsigned min = cron_fields[f].min, max = cron_fields[f].max;
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        if (text[0] == ',' || endswith(text, ",") || strstr(text, ",,"))
                return cron_fail(p, f, "empty element in list \"%s\"", text);

        for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
                const char *s = item;
                unsigned lo, hi, step = 1;
                int r;

                if (f == CRON_DOM) {
                        r = cron_parse_dom_special(p, c, item);
                        if (r != 0) {
                                if (r < 0)
                                        return r;
                                continue;
                        }
                } else if (f == CRON_DOW) {
                        r = cron_parse_dow_special(p, c, item);
                        if (r != 0) {
                                if (r < 0)
                                        return r;
                                continue;
                        }
                }

                if (*s == '*' || (*s == '?' && (f == CRON_DOM || f == CRON_DOW))) {
                        s++;
                        lo = min;
                        hi = max;
                        if (*s && *s != '/')
                                return cron_fail(p, f, "unexpected \"%s\" after \"%c\"", s, item[0]);
                } else if (*s == '?')
                        return cron_fail(p, f, "\"?\" is only allowed in day-of-month and day-of-week");
                else {
                        if (cron_parse_value(p, f, &s, &lo) < 0)
                                return -EINVAL;
                        hi = lo;
                        if (*s == '-') {
                                s++;
                                if (cron_parse_value(p, f, &s, &hi) < 0)
                                        return -EINVAL;
                                if (hi < lo)
                                        return cron_fail(p, f, "range \"%s\" is reversed (start after end)", item);
                        } else if (*s == '/')
                                hi = max; /* a/n: from a to the end of the field */
                }
                if (*s == '/') {
                        s++;
                        if (cron_parse_uint(p, f, &s, max - min + 1, "step", &step) < 0)
                                return -EINVAL;
                        if (step == 0)
                                return cron_fail(p, f, "step must be at least 1 in \"%s\"", item);
                }
                if (*s)
                        return cron_fail(p, f, "unexpected \"%s\" in \"%s\"", s, item);
                for (unsigned v = lo; v <= hi; v += step)
                        mask |= UINT64_C(1) << (f == CRON_DOW ? cron_dow_norm(v) : v);
        }
        *ret_mask = mask;
        return 0;
}

static const struct {
        const char *name, *fields;
} cron_aliases[] = {
        { "@yearly", "0 0 1 1 *" },  { "@annually", "0 0 1 1 *" }, { "@monthly", "0 0 1 * *" },
        { "@weekly", "0 0 * * 0" },  { "@daily", "0 0 * * *" },    { "@midnight", "0 0 * * *" },
        { "@hourly", "0 * * * *" },
};

int cron_parse(const char *expr, CronFlags flags, Cron **ret, char **ret_error) {
        _cleanup_free_ Cron *c = NULL;
        _cleanup_strv_free_ char **fields = NULL;
        CronParser p = {};
        const char *spec = expr;
        bool seconds = flags & CRON_WITH_SECONDS, alias = false;
        uint64_t m;
        int r;

        if (ret_error)
                *ret_error = NULL;
        if (!expr || !ret)
                return -EINVAL;

        c = calloc(1, sizeof(Cron));
        if (!c)
                return -ENOMEM;

        spec += strspn(spec, " \t");
        if (*spec == '@') {
                size_t n = strcspn(spec, " \t");
                for (size_t i = 0; i < ELEMENTSOF(cron_aliases); i++)
                        if (strlen(cron_aliases[i].name) == n && strncasecmp(spec, cron_aliases[i].name, n) == 0) {
                                if (spec[n + strspn(spec + n, " \t")] != 0)
                                        break;
                                spec = cron_aliases[i].fields;
                                alias = true;
                        }
                if (!alias) {
                        r = cron_fail(&p, _CRON_FIELD_MAX,
                                      "unknown alias \"%s\" (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)",
                                      expr);
                        goto fail;
                }
        }

        r = strv_split(spec, " \t\n", &fields);
        if (r < 0)
                return r;
        size_t n = strv_length(fields), want = seconds && !alias ? 6 : 5;
        if (n != want) {
                if (seconds)
                        r = cron_fail(&p, _CRON_FIELD_MAX,
                                      "expected 6 fields (second minute hour day-of-month month day-of-week), got %zu", n);
                else
                        r = cron_fail(&p, _CRON_FIELD_MAX,
                                      "expected 5 fields (minute hour day-of-month month day-of-week), got %zu%s", n,
                                      n == 6 ? "; a leading seconds field needs withSeconds: true" : "");
                goto fail;
        }

        char **f = fields;
        if (want == 6) {
                if ((r = cron_parse_field(&p, c, CRON_SECOND, *f++, &c->seconds)) < 0)
                        goto fail;
        } else
                c->seconds = 1;
        if ((r = cron_parse_field(&p, c, CRON_MINUTE, *f++, &c->minutes)) < 0)
                goto fail;
        if ((r = cron_parse_field(&p, c, CRON_HOUR, *f++, &m)) < 0)
                goto fail;
        c->hours = (uint32_t) m;
        c->dom_star = streq(*f, "*") || streq(*f, "?");
        if ((r = cron_parse_field(&p, c, CRON_DOM, *f++, &m)) < 0)
                goto fail;
        c->dom = (uint32_t) m;
        if ((r = cron_parse_field(&p, c, CRON_MONTH, *f++, &m)) < 0)
                goto fail;
        c->months = (uint16_t) m;
        c->dow_star = streq(*f, "*") || streq(*f, "?");
        if ((r = cron_parse_field(&p, c, CRON_DOW, *f++, &m)) < 0)
                goto fail;
        c->dow = (uint8_t) m;
        c->hour_all = c->hours == (UINT32_C(1) << 24) - 1;

        *ret = TAKE_PTR(c);
        return 0;

fail:
        if (r == -EINVAL && ret_error)
                *ret_error = TAKE_PTR(p.error);
        free(p.error);
        return r;
}

/* ---- evaluation on the wall clock (civil seconds: local time counted like Unix time) ---- */

static int64_t cron_floor_div(int64_t a, int64_t b) {
        return a / b - (a % b != 0 && ((a < 0) != (b < 0)));
}

/* Smallest set bit >= from (<= 63), or -ENOENT. */
static int cron_bit_next(uint64_t mask, int from) {
        if (from < 0)
                from = 0;
        if (from > 63)
                return -ENOENT;
        mask >>= from;
        return mask ? from + __builtin_ctzll(mask) : -ENOENT;
}

/* Largest set bit <= from, or -ENOENT. */
static int cron_bit_prev(uint64_t mask, int from) {
        if (from < 0)
                return -ENOENT;
        if (from < 63)
                mask &= (UINT64_C(2) << from) - 1;
        return mask ? 63 - __builtin_clzll(mask) : -ENOENT;
}

static unsigned cron_weekday(int64_t y, unsigned m, unsigned d) {
        return tz_weekday_from_days(days_from_civil(y, m, d));
}

/* The matching days of one month as bits 1-31. */
static uint32_t cron_days(const Cron *c, int64_t y, unsigned m) {
        unsigned dim = days_in_month(y, m), wd1 = cron_weekday(y, m, 1);
        uint32_t all = ((UINT32_C(1) << dim) - 1) << 1, dom = 0, dow = 0;

        if (c->dom_star && c->dow_star)
                return all;

        if (!c->dom_star) {
                dom = c->dom & all;
                for (unsigned n = 0; n < 31; n++)
                        if (c->dom_last & (1u << n) && n < dim)
                                dom |= 1u << (dim - n);
                for (unsigned n = 1; n <= dim; n++) {
                        if (!(c->dom_w & (1u << n)))
                                continue;
                        unsigned wd = (wd1 + n - 1) % 7, d = n;
                        if (wd == 6) /* Saturday: Friday before, or Monday after if that leaves the month */
                                d = n == 1 ? 3 : n - 1;
                        else if (wd == 0) /* Sunday: Monday after, or Friday before at the month's end */
                                d = n == dim ? n - 2 : n + 1;
                        dom |= 1u << d;
                }
                if (c->dom_lw) {
                        unsigned wd = (wd1 + dim - 1) % 7;
                        dom |= 1u << (wd == 6 ? dim - 1 : wd == 0 ? dim - 2 : dim);
                }
        }
        if (!c->dow_star) {
                for (unsigned d = 1; d <= dim; d++) {
                        unsigned wd = (wd1 + d - 1) % 7;
                        if ((c->dow & (1u << wd)) || ((c->dow_last & (1u << wd)) && d + 7 > dim) ||
                            (c->dow_nth[wd] & (1u << ((d - 1) / 7 + 1))))
                                dow |= 1u << d;
                }
        }
        if (c->dom_star)
                return dow;
        if (c->dow_star)
                return dom;
        return dom | dow;
}

typedef struct CronCivil {
        int64_t y;
        int m, d, h, mi, s;
} CronCivil;

static void cron_civil_from(int64_t cs, CronCivil *ret) {
        int64_t days = cron_floor_div(cs, 86400), sod = cs - days * 86400;
        unsigned m, d;
        civil_from_days(days, &ret->y, &m, &d);
        ret->m = (int) m;
        ret->d = (int) d;
        ret->h = (int) (sod / 3600);
        ret->mi = (int) (sod / 60 % 60);
        ret->s = (int) (sod % 60);
}

static int64_t cron_civil_to(const CronCivil *v) {
        return days_from_civil(v->y, (unsigned) v->m, (unsigned) v->d) * 86400 + v->h * 3600 + v->mi * 60 + v->s;
}

/* Smallest matching wall-clock time >= cs. Each step either matches a field or carries into the
 * next larger unit, so the loop runs a few times per month visited. */
static int cron_next_civil(const Cron *c, int64_t cs, int64_t *ret) {
        CronCivil v;
        cron_civil_from(cs, &v);
        int64_t y_end = MIN(v.y + CRON_SEARCH_YEARS, (int64_t) CRON_YEAR_MAX);
        int k;

        for (;;) {
                if (v.y > y_end)
                        return -ENOENT;
                k = cron_bit_next(c->months, v.m);
                if (k < 0 || k > 12) {
                        v = (CronCivil) { .y = v.y + 1, .m = 1, .d = 1 };
                        continue;
                }
                if (k != v.m)
                        v = (CronCivil) { .y = v.y, .m = k, .d = 1 };
                k = cron_bit_next(cron_days(c, v.y, (unsigned) v.m), v.d);
                if (k < 0) {
                        v = (CronCivil) { .y = v.y, .m = v.m + 1, .d = 1 };
                        continue;
                }
                if (k != v.d)
                        v = (CronCivil) { .y = v.y, .m = v.m, .d = k };
                k = cron_bit_next(c->hours, v.h);
                if (k < 0) {
                        /* Past the month's end is caught by the day mask on the next turn. */
                        v = (CronCivil) { .y = v.y, .m = v.m, .d = v.d + 1 };
                        continue;
                }
                if (k != v.h)
                        v.h = k, v.mi = 0, v.s = 0;
                k = cron_bit_next(c->minutes, v.mi);
                if (k < 0) {
                        v.h++, v.mi = 0, v.s = 0;
                        continue;
                }
                if (k != v.mi)
                        v.mi = k, v.s = 0;
                k = cron_bit_next(c->seconds, v.s);
                if (k < 0) {
                        v.mi++, v.s = 0;
                        continue;
                }
                v.s = k;
                *ret = cron_civil_to(&v);
                return 0;
        }
}

/* Largest matching wall-clock time <= cs. */
static int cron_prev_civil(const Cron *c, int64_t cs, int64_t *ret) {
        CronCivil v;
        cron_civil_from(cs, &v);
        int64_t y_end = v.y - CRON_SEARCH_YEARS;
        int k;

        for (;;) {
                if (v.y < y_end || v.y < 1969)
                        return -ENOENT;
                k = cron_bit_prev(c->months & 0x1ffe, v.m);
                if (k < 0) {
                        v = (CronCivil) { .y = v.y - 1, .m = 12, .d = 31, .h = 23, .mi = 59, .s = 59 };
                        continue;
                }
                if (k != v.m)
                        v = (CronCivil) { .y = v.y, .m = k, .d = 31, .h = 23, .mi = 59, .s = 59 };
                int dim = (int) days_in_month(v.y, (unsigned) v.m);
                if (v.d > dim)
                        v.d = dim, v.h = 23, v.mi = 59, v.s = 59;
                k = cron_bit_prev(cron_days(c, v.y, (unsigned) v.m), v.d);
                if (k < 0) {
                        v = (CronCivil) { .y = v.y, .m = v.m - 1, .d = 31, .h = 23, .mi = 59, .s = 59 };
                        if (v.m == 0)
                                v.y--, v.m = 12;
                        continue;
                }
                if (k != v.d)
                        v.d = k, v.h = 23, v.mi = 59, v.s = 59;
                k = cron_bit_prev(c->hours, v.h);
                if (k < 0) {
                        v.d--, v.h = 23, v.mi = 59, v.s = 59;
                        continue;
                }
                if (k != v.h)
                        v.h = k, v.mi = 59, v.s = 59;
                k = cron_bit_prev(c->minutes, v.mi);
                if (k < 0) {
                        v.h--, v.mi = 59, v.s = 59;
                        continue;
                }
                if (k != v.mi)
                        v.mi = k, v.s = 59;
                k = cron_bit_prev(c->seconds, v.s);
                if (k < 0) {
                        v.mi--, v.s = 59;
                        continue;
                }
                v.s = k;
                *ret = cron_civil_to(&v);
                return 0;
        }
}

static void cron_period(const TimeZone *tz, int64_t t, TzPeriod *ret) {
        if (tz)
                tz_period_at(tz, t, ret);
        else
                *ret = (TzPeriod) { .start = INT64_MIN, .end = INT64_MAX };
}

static int cron_store(int64_t t, usec_t *ret) {
        if (t < 0 || (uint64_t) t > USEC_INFINITY / USEC_PER_SEC - 1)
                return -ENOENT;
        *ret = (usec_t) t * USEC_PER_SEC;
        return 0;
}

int cron_next(const Cron *c, const TimeZone *tz, usec_t after, usec_t *ret) {
        int64_t t, civ;
        TzPeriod p, q;
        int r;

        if (!c || !ret)
                return -EINVAL;
        if (after >= USEC_INFINITY - USEC_PER_SEC)
                return -ENOENT;
        t = (int64_t) (after / USEC_PER_SEC) + 1;

        for (unsigned n = 0; n < CRON_PERIODS_MAX; n++) {
                cron_period(tz, t, &p);
                int64_t cs = t + p.offset_sec;
                /* After a fall back, slots of named hours already fired at their first occurrence. */
                if (!c->hour_all && p.start != INT64_MIN && p.prev_offset_sec > p.offset_sec)
                        cs = MAX(cs, p.start + p.prev_offset_sec);

                r = cron_next_civil(c, cs, &civ);
                if (r < 0)
                        return r;
                if (p.end == INT64_MAX || civ < p.end + p.offset_sec)
                        return cron_store(civ - p.offset_sec, ret);

                /* The match lies past this period. A slot of a named hour inside a spring-forward
                 * gap fires once, at the first instant after the gap. */
                cron_period(tz, p.end, &q);
                if (!c->hour_all && q.prev_offset_sec < q.offset_sec && civ < p.end + q.offset_sec)
                        return cron_store(p.end, ret);
                t = p.end;
        }
        return -ENOENT;
}

int cron_previous(const Cron *c, const TimeZone *tz, usec_t before, usec_t *ret) {
        int64_t t, civ;
        TzPeriod p;
        int r;

        if (!c || !ret)
                return -EINVAL;
        if (before < USEC_PER_SEC)
                return -ENOENT;
        /* The last whole second strictly before `before`. */
        t = (int64_t) ((before - 1) / USEC_PER_SEC);

        for (unsigned n = 0; n < CRON_PERIODS_MAX; n++) {
                cron_period(tz, t, &p);
                r = cron_prev_civil(c, t + p.offset_sec, &civ);
                if (r < 0)
                        return r;
                if (p.start == INT64_MIN)
                        return cron_store(civ - p.offset_sec, ret);

                int64_t lower = p.start + p.offset_sec;
                if (!c->hour_all && p.prev_offset_sec > p.offset_sec)
                        lower = p.start + p.prev_offset_sec; /* repeated slots belong to the first occurrence */
                if (civ >= lower)
                        return cron_store(civ - p.offset_sec, ret);
                if (!c->hour_all && p.prev_offset_sec < p.offset_sec && civ >= p.start + p.prev_offset_sec)
                        return cron_store(p.start, ret); /* a slot in the gap fired when it ended */
                if (p.start <= 0)
                        return -ENOENT;
                t = p.start - 1;
        }
        return -ENOENT;
}
