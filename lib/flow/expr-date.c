/* expr-date.c: dates for the date filters: ISO and Java-pattern parsing, Java-pattern formatting, fixed zones. */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "expr-internal.h"
#include "strutil.h"

static const char *const month_names[] = { "January", "February", "March",     "April",   "May",      "June",
                                           "July",    "August",   "September", "October", "November", "December" };
static const char *const day_names[] = { "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday" };

/* Named formats as Kestra's date filters know them. */
static const struct {
        const char *name, *pattern;
} named_formats[] = {
        { "iso", "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX" },
        { "iso_sec", "yyyy-MM-dd'T'HH:mm:ssXXX" },
        { "iso_milli", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX" },
        { "sql", "yyyy-MM-dd HH:mm:ss.SSSSSS" },
        { "sql_seconds", "yyyy-MM-dd HH:mm:ss" },
        { "sql_milli", "yyyy-MM-dd HH:mm:ss.SSS" },
        { "iso_date", "yyyy-MM-ddXXX" },
        { "iso_local_date", "yyyy-MM-dd" },
        { "iso_time", "HH:mm:ssXXX" },
        { "iso_local_time", "HH:mm:ss" },
        { "iso_local_date_time", "yyyy-MM-dd'T'HH:mm:ss" },
        { "iso_offset_date_time", "yyyy-MM-dd'T'HH:mm:ssXXX" },
        { "iso_date_time", "yyyy-MM-dd'T'HH:mm:ssXXX" },
        { "iso_instant", "INSTANT" },
        { "rfc_1123_date_time", "EEE, d MMM yyyy HH:mm:ss 'GMT'" },
};

int expr_parse_zone(const char *s, int *ret_offset_sec) {
        const char *p;

        if (streq(s, "Z") || strcasecmp(s, "UTC") == 0 || strcasecmp(s, "GMT") == 0 || streq(s, "Etc/UTC") ||
            streq(s, "Etc/GMT") || streq(s, "UCT") || streq(s, "Zulu")) {
                *ret_offset_sec = 0;
                return 0;
        }
        p = s;
        if (startswith(p, "UTC") || startswith(p, "GMT"))
                p += 3;
        if (*p != '+' && *p != '-')
                return -EINVAL;
        int sign = *p == '-' ? -1 : 1;
        p++;
        unsigned h = 0, m = 0, nd = 0;
        while (isdigit((unsigned char) *p) && nd < 2) {
                h = h * 10 + (unsigned) (*p++ - '0');
                nd++;
        }
        if (nd == 0)
                return -EINVAL;
        if (*p == ':')
                p++;
        nd = 0;
        while (isdigit((unsigned char) *p) && nd < 2) {
                m = m * 10 + (unsigned) (*p++ - '0');
                nd++;
        }
        if (*p || h > 18 || m > 59 || nd == 1)
                return -EINVAL;
        *ret_offset_sec = sign * (int) (h * 3600 + m * 60);
        return 0;
}

static int date_parse_iso(const char *s, ExprDate *ret) {
        _cleanup_free_ char *copy = strdup(s);
        usec_t u;
        int offset = 0, r;

        if (!copy)
                return -ENOMEM;
        /* Java's ZonedDateTime prints "...Z[UTC]": the bracketed zone adds nothing to the offset */
        char *br = strchr(copy, '[');
        if (br && endswith(br, "]"))
                *br = 0;
        r = timestamp_parse(copy, 0, &u);
        if (r < 0)
                return r;
        size_t n = strlen(copy);
        if (n > 10 && (copy[10] == 'T' || copy[10] == 't' || copy[10] == ' ')) {
                const char *z = NULL;
                for (const char *q = copy + 11; *q; q++)
                        if (*q == '+' || *q == '-' || *q == 'Z' || *q == 'z')
                                z = q;
                if (z && (*z == '+' || *z == '-'))
                        (void) expr_parse_zone(z, &offset);
        }
        *ret = (ExprDate) { .usec = (int64_t) u, .offset_sec = offset };
        return 0;
}

static size_t run_length(const char *p) {
        size_t n = 1;
        while (p[n] == p[0])
                n++;
        return n;
}

static int parse_number(const char **p, size_t min, size_t max, int64_t *ret) {
        int64_t v = 0;
        size_t n = 0;
        while (n < max && isdigit((unsigned char) (*p)[n])) {
                v = v * 10 + ((*p)[n] - '0');
                n++;
        }
        if (n < min)
                return -EINVAL;
        *p += n;
        *ret = v;
        return 0;
}

static int match_name(const char **p, const char *const *names, size_t count, bool abbrev, int64_t *ret) {
        for (size_t i = 0; i < count; i++) {
                size_t l = abbrev ? 3 : strlen(names[i]);
                if (strncasecmp(*p, names[i], l) == 0) {
                        *p += l;
                        *ret = (int64_t) i;
                        return 0;
                }
        }
        return -EINVAL;
}

/* Parse s with a Java DateTimeFormatter-style pattern (the common letters). */
static int date_parse_pattern(const char *s, const char *pattern, ExprDate *ret) {
        int64_t y = 1970, mo = 1, d = 1, h = 0, mi = 0, sec = 0, usec = 0, pm = -1;
        int offset = 0;
        const char *p = s, *f = pattern;

        while (*f) {
                if (*f == '\'') {
                        f++;
                        if (*f == '\'') {
                                if (*p++ != '\'')
                                        return -EINVAL;
                                f++;
                                continue;
                        }
                        while (*f && *f != '\'') {
                                if (*p++ != *f++)
                                        return -EINVAL;
                        }
                        if (*f)
                                f++;
                        continue;
                }
                if (!isalpha((unsigned char) *f)) {
                        if (*p++ != *f++)
                                return -EINVAL;
                        continue;
                }
                size_t n = run_length(f);
                int64_t v;
                int r = 0;
                switch (*f) {
                case 'y':
                case 'u':
                        r = parse_number(&p, n == 2 ? 2 : 1, n == 2 ? 2 : 9, &y);
                        if (n == 2)
                                y += 2000;
                        break;
                case 'M':
                case 'L':
                        if (n >= 3) {
                                r = match_name(&p, month_names, 12, n == 3, &v);
                                mo = v + 1;
                        } else
                                r = parse_number(&p, n, 2, &mo);
                        break;
                case 'd': r = parse_number(&p, n, 2, &d); break;
                case 'H':
                case 'h':
                case 'k': r = parse_number(&p, n, 2, &h); break;
                case 'm': r = parse_number(&p, n, 2, &mi); break;
                case 's': r = parse_number(&p, n, 2, &sec); break;
                case 'S': {
                        int64_t frac;
                        const char *start = p;
                        r = parse_number(&p, n, 9, &frac);
                        if (r >= 0) {
                                size_t digits = (size_t) (p - start);
                                for (; digits < 6; digits++)
                                        frac *= 10;
                                for (; digits > 6; digits--)
                                        frac /= 10;
                                usec = frac;
                        }
                        break;
                }
                case 'a':
                        if (strncasecmp(p, "AM", 2) == 0)
                                pm = 0;
                        else if (strncasecmp(p, "PM", 2) == 0)
                                pm = 1;
                        else
                                r = -EINVAL;
                        p += 2;
                        break;
                case 'E':
                        r = match_name(&p, day_names, 7, n <= 3, &v);
                        break;
                case 'X':
                case 'x':
                case 'Z': {
                        if (*p == 'Z' && (*f == 'X')) {
                                p++;
                                offset = 0;
                                break;
                        }
                        char z[8] = {};
                        size_t k = 0;
                        while (k < 6 && (isdigit((unsigned char) p[k]) || p[k] == ':' || (k == 0 && (p[k] == '+' || p[k] == '-'))))
                                k++;
                        memcpy(z, p, k);
                        r = expr_parse_zone(z, &offset);
                        p += k;
                        break;
                }
                default:
                        return -EOPNOTSUPP;
                }
                if (r < 0)
                        return r;
                f += n;
        }
        if (*p)
                return -EINVAL;
        if (pm >= 0 && h <= 12)
                h = (h % 12) + (pm ? 12 : 0);
        if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, (unsigned) mo) || h > 23 || mi > 59 || sec > 60)
                return -ERANGE;
        int64_t days = days_from_civil(y, (unsigned) mo, (unsigned) d);
        int64_t t = ((days * 24 + h) * 60 + mi) * 60 + sec - offset;
        *ret = (ExprDate) { .usec = t * (int64_t) USEC_PER_SEC + usec, .offset_sec = offset };
        return 0;
}

int expr_date_from_value(json_t *v, const char *existing_format, ExprDate *ret) {
        /* Kestra reads numbers as seconds since the epoch */
        if (json_is_integer(v)) {
                json_int_t s = json_integer_value(v);
                if (s > INT64_MAX / (int64_t) USEC_PER_SEC || s < INT64_MIN / (int64_t) USEC_PER_SEC)
                        return -ERANGE;
                *ret = (ExprDate) { .usec = s * (int64_t) USEC_PER_SEC };
                return 0;
        }
        if (json_is_real(v)) {
                double s = json_real_value(v) * 1e6;
                if (!(fabs(s) < 9e18))
                        return -ERANGE;
                *ret = (ExprDate) { .usec = (int64_t) s };
                return 0;
        }
        if (!json_is_string(v))
                return -EINVAL;
        const char *s = json_string_value(v);
        if (existing_format) {
                for (size_t i = 0; i < ELEMENTSOF(named_formats); i++)
                        if (streq(existing_format, named_formats[i].name)) {
                                existing_format = named_formats[i].pattern;
                                break;
                        }
                if (streq(existing_format, "INSTANT"))
                        return date_parse_iso(s, ret);
                return date_parse_pattern(s, existing_format, ret);
        }
        return date_parse_iso(s, ret);
}

static void append_offset(StrBuf *out, int off, size_t n, char letter) {
        if (off == 0 && letter == 'X') {
                strbuf_append_char(out, 'Z');
                return;
        }
        unsigned a = (unsigned) (off < 0 ? -off : off);
        char sign = off < 0 ? '-' : '+';
        if (letter == 'Z') /* +0000 */
                strbuf_appendf(out, "%c%02u%02u", sign, a / 3600, a / 60 % 60);
        else if (n == 1) /* +01, or +0130 */
                a % 3600 ? strbuf_appendf(out, "%c%02u%02u", sign, a / 3600, a / 60 % 60)
                         : strbuf_appendf(out, "%c%02u", sign, a / 3600);
        else if (n == 2)
                strbuf_appendf(out, "%c%02u%02u", sign, a / 3600, a / 60 % 60);
        else
                strbuf_appendf(out, "%c%02u:%02u", sign, a / 3600, a / 60 % 60);
}

int expr_date_format(const ExprDate *d, const char *format, StrBuf *out) {
        for (size_t i = 0; i < ELEMENTSOF(named_formats); i++)
                if (streq(format, named_formats[i].name)) {
                        format = named_formats[i].pattern;
                        break;
                }
        if (streq(format, "INSTANT")) {
                char buf[TIMESTAMP_MAX];
                if (d->usec < 0)
                        return -ERANGE;
                return strbuf_append(out, timestamp_format(buf, (usec_t) d->usec));
        }

        int64_t local = d->usec + (int64_t) d->offset_sec * (int64_t) USEC_PER_SEC;
        int64_t secs = local >= 0 ? local / (int64_t) USEC_PER_SEC : -((-local + (int64_t) USEC_PER_SEC - 1) / (int64_t) USEC_PER_SEC);
        int64_t usec = local - secs * (int64_t) USEC_PER_SEC;
        int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
        int64_t sod = secs - days * 86400;
        int64_t y;
        unsigned mo, dd;
        civil_from_days(days, &y, &mo, &dd);
        unsigned h = (unsigned) (sod / 3600), mi = (unsigned) (sod / 60 % 60), s = (unsigned) (sod % 60);
        unsigned wd = (unsigned) (((days % 7) + 7 + 3) % 7); /* 1970-01-01 was a Thursday; 0 = Monday */

        for (const char *f = format; *f;) {
                if (*f == '\'') {
                        f++;
                        if (*f == '\'') {
                                strbuf_append_char(out, '\'');
                                f++;
                                continue;
                        }
                        while (*f && *f != '\'')
                                strbuf_append_char(out, *f++);
                        if (*f)
                                f++;
                        continue;
                }
                if (!isalpha((unsigned char) *f)) {
                        strbuf_append_char(out, *f++);
                        continue;
                }
                size_t n = run_length(f);
                int w = (int) MIN(n, (size_t) 9);
                switch (*f) {
                case 'y':
                case 'u':
                        if (n == 2)
                                strbuf_appendf(out, "%02d", (int) (((y % 100) + 100) % 100));
                        else
                                strbuf_appendf(out, "%0*" PRId64, w, y);
                        break;
                case 'M':
                case 'L':
                        if (n >= 4)
                                strbuf_append(out, month_names[mo - 1]);
                        else if (n == 3)
                                strbuf_append_n(out, month_names[mo - 1], 3);
                        else
                                strbuf_appendf(out, "%0*u", w, mo);
                        break;
                case 'd': strbuf_appendf(out, "%0*u", w, dd); break;
                case 'D': strbuf_appendf(out, "%0*d", w, (int) (days - days_from_civil(y, 1, 1) + 1)); break;
                case 'H': strbuf_appendf(out, "%0*u", w, h); break;
                case 'k': strbuf_appendf(out, "%0*u", w, h == 0 ? 24 : h); break;
                case 'h': strbuf_appendf(out, "%0*u", w, h % 12 == 0 ? 12 : h % 12); break;
                case 'K': strbuf_appendf(out, "%0*u", w, h % 12); break;
                case 'm': strbuf_appendf(out, "%0*u", w, mi); break;
                case 's': strbuf_appendf(out, "%0*u", w, s); break;
                case 'S': {
                        char frac[32];
                        snprintf(frac, sizeof frac, "%06" PRId64 "000", usec);
                        strbuf_append_n(out, frac, MIN(n, (size_t) 9));
                        break;
                }
                case 'n': strbuf_appendf(out, "%" PRId64, usec * 1000); break;
                case 'a': strbuf_append(out, h < 12 ? "AM" : "PM"); break;
                case 'E':
                        if (n >= 4)
                                strbuf_append(out, day_names[wd]);
                        else
                                strbuf_append_n(out, day_names[wd], 3);
                        break;
                case 'e': strbuf_appendf(out, "%u", wd + 1); break;
                case 'X':
                case 'x':
                case 'Z': append_offset(out, d->offset_sec, n, *f == 'x' ? 'x' : *f); break;
                case 'z':
                case 'V':
                        if (d->offset_sec == 0)
                                strbuf_append(out, "UTC");
                        else
                                append_offset(out, d->offset_sec, 3, 'x');
                        break;
                default:
                        return -EOPNOTSUPP;
                }
                f += n;
        }
        return out->error;
}
