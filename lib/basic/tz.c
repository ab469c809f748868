/* tz.c: IANA time zones parsed from TZif files (RFC 8536) plus the POSIX TZ footer rule for the future. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "strutil.h"
#include "tz.h"

/* tzdata files are a few KiB; anything much larger is not a zone file. */
#define TZ_FILE_MAX (1024 * 1024)
/* Give up looking for an offset change after this many no-op transitions (permanent-DST rules). */
#define TZ_CHANGE_SEARCH_MAX 1000

typedef struct TzType {
        int32_t offset;
        bool dst;
} TzType;

/* One end of a POSIX DST rule: "Jn" (1-365, Feb 29 never counted), "n" (0-365), "Mm.w.d". */
typedef struct TzRuleDate {
        char kind; /* 'J', 'N' or 'M' */
        int n, m, w, d;
        int time; /* seconds after local midnight, may be negative or past 24h (RFC 8536) */
} TzRuleDate;

typedef struct TzRule {
        int std_offset, dst_offset; /* seconds east */
        bool has_dst;
        TzRuleDate start, end;
} TzRule;

struct TimeZone {
        char *name;
        size_t n_trans;
        int64_t *trans;
        uint8_t *trans_type;
        size_t n_types;
        TzType *types;
        bool has_rule;
        TzRule rule;
};

TimeZone *tz_free(TimeZone *tz) {
        if (!tz)
                return NULL;
        free(tz->name);
        free(tz->trans);
        free(tz->trans_type);
        free(tz->types);
        free(tz);
        return NULL;
}

const char *tz_name(const TimeZone *tz) {
        return tz->name;
}

unsigned tz_weekday_from_days(int64_t days) {
        /* 1970-01-01 was a Thursday. */
        return (unsigned) (((days % 7) + 7 + 4) % 7);
}

static int64_t floor_div(int64_t a, int64_t b) {
        return a / b - (a % b != 0 && ((a < 0) != (b < 0)));
}

static int64_t year_of_sec(int64_t t) {
        int64_t y;
        unsigned m, d;
        civil_from_days(floor_div(t, 86400), &y, &m, &d);
        return y;
}

/* ---- POSIX TZ footer ---- */

static bool tz_parse_abbr(const char **p) {
        const char *s = *p;
        if (*s == '<') {
                s++;
                while (*s && *s != '>')
                        s++;
                if (*s != '>')
                        return false;
                *p = s + 1;
                return true;
        }
        while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))
                s++;
        if (s - *p < 3)
                return false;
        *p = s;
        return true;
}

static bool tz_parse_num(const char **p, int max, int *ret) {
        const char *s = *p;
        int v = 0;
        if (*s < '0' || *s > '9')
                return false;
        while (*s >= '0' && *s <= '9') {
                v = v * 10 + (*s - '0');
                if (v > max)
                        return false;
                s++;
        }
        *p = s;
        *ret = v;
        return true;
}

/* [+-]hh[:mm[:ss]] in seconds, hours up to max_hours. */
static bool tz_parse_hms(const char **p, int max_hours, int *ret) {
        const char *s = *p;
        int sign = 1, h, m = 0, sec = 0;
        if (*s == '+' || *s == '-')
                sign = *s++ == '-' ? -1 : 1;
        if (!tz_parse_num(&s, max_hours, &h))
                return false;
        if (*s == ':') {
                s++;
                if (!tz_parse_num(&s, 59, &m))
                        return false;
                if (*s == ':') {
                        s++;
                        if (!tz_parse_num(&s, 59, &sec))
                                return false;
                }
        }
        *p = s;
        *ret = sign * (h * 3600 + m * 60 + sec);
        return true;
}

static bool tz_parse_rule_date(const char **p, TzRuleDate *ret) {
        const char *s = *p;
        TzRuleDate r = { .time = 2 * 3600 };
        if (*s == 'J') {
                s++;
                r.kind = 'J';
                if (!tz_parse_num(&s, 365, &r.n) || r.n < 1)
                        return false;
        } else if (*s == 'M') {
                s++;
                r.kind = 'M';
                if (!tz_parse_num(&s, 12, &r.m) || r.m < 1 || *s++ != '.' || !tz_parse_num(&s, 5, &r.w) || r.w < 1 ||
                    *s++ != '.' || !tz_parse_num(&s, 6, &r.d))
                        return false;
        } else {
                r.kind = 'N';
                if (!tz_parse_num(&s, 365, &r.n))
                        return false;
        }
        if (*s == '/') {
                s++;
                if (!tz_parse_hms(&s, 167, &r.time))
                        return false;
        }
        *p = s;
        *ret = r;
        return true;
}

static int tz_parse_posix(const char *s, TzRule *ret) {
        TzRule r = {};
        int off;

        if (!tz_parse_abbr(&s) || !tz_parse_hms(&s, 24, &off))
                return -EBADMSG;
        r.std_offset = -off; /* POSIX counts west of Greenwich as positive */
        if (*s == 0) {
                *ret = r;
                return 0;
        }
        if (!tz_parse_abbr(&s))
                return -EBADMSG;
        r.has_dst = true;
        r.dst_offset = r.std_offset + 3600;
        if (*s && *s != ',') {
                if (!tz_parse_hms(&s, 24, &off))
                        return -EBADMSG;
                r.dst_offset = -off;
        }
        if (*s == 0) {
                /* No rule: the historical US default, as glibc does. */
                r.start = (TzRuleDate) { .kind = 'M', .m = 3, .w = 2, .d = 0, .time = 7200 };
                r.end = (TzRuleDate) { .kind = 'M', .m = 11, .w = 1, .d = 0, .time = 7200 };
        } else {
                if (*s++ != ',' || !tz_parse_rule_date(&s, &r.start) || *s++ != ',' ||
                    !tz_parse_rule_date(&s, &r.end) || *s != 0)
                        return -EBADMSG;
        }
        if (abs(r.std_offset) > TZ_OFFSET_MAX || abs(r.dst_offset) > TZ_OFFSET_MAX)
                return -EBADMSG;
        *ret = r;
        return 0;
}

/* Local midnight (as days since the epoch) of the rule date in year y. */
static int64_t tz_rule_date_days(const TzRuleDate *r, int64_t y) {
        int64_t jan1 = days_from_civil(y, 1, 1);
        switch (r->kind) {
        case 'J':
                return jan1 + r->n - 1 + (is_leap_year(y) && r->n >= 60);
        case 'N':
                return jan1 + r->n;
        default: {
                int64_t first = days_from_civil(y, (unsigned) r->m, 1);
                int64_t day = first + (r->d - (int) tz_weekday_from_days(first) + 7) % 7 + (r->w - 1) * 7;
                while (day >= first + days_in_month(y, (unsigned) r->m))
                        day -= 7;
                return day;
        }
        }
}

static void tz_rule_transitions(const TzRule *r, int64_t y, int64_t *ret_start, int64_t *ret_end) {
        /* The start happens on standard time, the end on daylight time. */
        *ret_start = tz_rule_date_days(&r->start, y) * 86400 + r->start.time - r->std_offset;
        *ret_end = tz_rule_date_days(&r->end, y) * 86400 + r->end.time - r->dst_offset;
}

static bool tz_rule_is_dst(const TzRule *r, int64_t t) {
        int64_t s, e;
        if (!r->has_dst)
                return false;
        tz_rule_transitions(r, year_of_sec(t + r->std_offset), &s, &e);
        if (s < e)
                return t >= s && t < e;
        /* Southern hemisphere: DST spans the new year. */
        return !(t >= e && t < s);
}

/* ---- TZif ---- */

static uint32_t tz_be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static int64_t tz_be64(const uint8_t *p) {
        return (int64_t) ((uint64_t) tz_be32(p) << 32 | tz_be32(p + 4));
}

typedef struct TzHeader {
        uint8_t version;
        uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
} TzHeader;

static int tz_parse_header(const uint8_t *p, size_t size, TzHeader *h) {
        if (size < 44 || memcmp(p, "TZif", 4) != 0)
                return -EBADMSG;
        h->version = p[4];
        h->isutcnt = tz_be32(p + 20);
        h->isstdcnt = tz_be32(p + 24);
        h->leapcnt = tz_be32(p + 28);
        h->timecnt = tz_be32(p + 32);
        h->typecnt = tz_be32(p + 36);
        h->charcnt = tz_be32(p + 40);
        if (h->typecnt == 0 || h->typecnt > 256 || h->timecnt > 100000 || h->leapcnt > 100000 ||
            h->charcnt > 100000 || (h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
            (h->isstdcnt != 0 && h->isstdcnt != h->typecnt))
                return -EBADMSG;
        return 0;
}

static size_t tz_data_size(const TzHeader *h, size_t time_size) {
        return (size_t) h->timecnt * (time_size + 1) + (size_t) h->typecnt * 6 + h->charcnt +
               (size_t) h->leapcnt * (time_size + 4) + h->isstdcnt + h->isutcnt;
}

static int tz_parse_data(TimeZone *tz, const TzHeader *h, const uint8_t *p, size_t time_size) {
        tz->n_trans = h->timecnt;
        tz->n_types = h->typecnt;
        tz->trans = calloc(MAX(h->timecnt, 1u), sizeof(int64_t));
        tz->trans_type = calloc(MAX(h->timecnt, 1u), 1);
        tz->types = calloc(h->typecnt, sizeof(TzType));
        if (!tz->trans || !tz->trans_type || !tz->types)
                return -ENOMEM;

        for (size_t i = 0; i < h->timecnt; i++) {
                tz->trans[i] = time_size == 8 ? tz_be64(p) : (int32_t) tz_be32(p);
                p += time_size;
                if (i > 0 && tz->trans[i] <= tz->trans[i - 1])
                        return -EBADMSG;
        }
        for (size_t i = 0; i < h->timecnt; i++) {
                tz->trans_type[i] = *p++;
                if (tz->trans_type[i] >= h->typecnt)
                        return -EBADMSG;
        }
        for (size_t i = 0; i < h->typecnt; i++) {
                int32_t off = (int32_t) tz_be32(p);
                if (off > TZ_OFFSET_MAX || off < -TZ_OFFSET_MAX)
                        return -EBADMSG;
                tz->types[i] = (TzType) { .offset = off, .dst = p[4] != 0 };
                p += 6;
        }
        /* Abbreviations, leap seconds and std/ut indicators are not needed: we count Unix time
         * (no leap seconds) and only convert, never generate, POSIX rules. */
        return 0;
}

int tz_load_tzif(const char *name, const void *data, size_t size, TimeZone **ret) {
        _cleanup_tz_free_ TimeZone *tz = NULL;
        const uint8_t *p = data;
        TzHeader h;
        int r;

        r = tz_parse_header(p, size, &h);
        if (r < 0)
                return r;
        size_t v1 = 44 + tz_data_size(&h, 4);
        if (v1 > size)
                return -EBADMSG;

        tz = calloc(1, sizeof(TimeZone));
        if (!tz)
                return -ENOMEM;
        tz->name = strdup(name);
        if (!tz->name)
                return -ENOMEM;

        if (h.version == 0) {
                r = tz_parse_data(tz, &h, p + 44, 4);
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(tz);
                return 0;
        }

        p += v1;
        size -= v1;
        r = tz_parse_header(p, size, &h);
        if (r < 0)
                return r;
        size_t v2 = 44 + tz_data_size(&h, 8);
        if (v2 > size)
                return -EBADMSG;
        r = tz_parse_data(tz, &h, p + 44, 8);
        if (r < 0)
                return r;
        p += v2;
        size -= v2;

        /* Footer: "\n<POSIX TZ string>\n"; an empty string means no rule past the table. */
        if (size >= 2 && p[0] == '\n') {
                const uint8_t *nl = memchr(p + 1, '\n', size - 1);
                if (!nl)
                        return -EBADMSG;
                size_t len = (size_t) (nl - p - 1);
                if (len > 0) {
                        char footer[256];
                        if (len >= sizeof(footer))
                                return -EBADMSG;
                        memcpy(footer, p + 1, len);
                        footer[len] = 0;
                        r = tz_parse_posix(footer, &tz->rule);
                        if (r < 0)
                                return r;
                        tz->has_rule = true;
                }
        }
        *ret = TAKE_PTR(tz);
        return 0;
}

int tz_new_fixed(int offset_sec, TimeZone **ret) {
        _cleanup_tz_free_ TimeZone *tz = NULL;
        char buf[32];

        if (offset_sec > TZ_OFFSET_MAX || offset_sec < -TZ_OFFSET_MAX)
                return -ERANGE;
        tz = calloc(1, sizeof(TimeZone));
        if (!tz)
                return -ENOMEM;
        tz->types = calloc(1, sizeof(TzType));
        if (!tz->types)
                return -ENOMEM;
        tz->n_types = 1;
        tz->types[0].offset = offset_sec;
        if (offset_sec == 0)
                snprintf(buf, sizeof(buf), "UTC");
        else {
                unsigned a = (unsigned) abs(offset_sec);
                if (a % 60)
                        snprintf(buf, sizeof(buf), "%c%02u:%02u:%02u", offset_sec < 0 ? '-' : '+', a / 3600,
                                 a / 60 % 60, a % 60);
                else
                        snprintf(buf, sizeof(buf), "%c%02u:%02u", offset_sec < 0 ? '-' : '+', a / 3600, a / 60 % 60);
        }
        tz->name = strdup(buf);
        if (!tz->name)
                return -ENOMEM;
        *ret = TAKE_PTR(tz);
        return 0;
}

/* "Z", "UTC", "GMT", "UT", optionally followed by +-H, +-HH, +-HHMM, +-HH:MM, +-HH:MM:SS, +-HHMMSS;
 * or the bare offset. Returns 1 and the offset if name is such a fixed zone, 0 if not. */
static int tz_parse_fixed(const char *name, int *ret) {
        const char *s = name, *q;
        unsigned h, m = 0, sec = 0;
        int sign;

        if (streq(s, "Z")) {
                *ret = 0;
                return 1;
        }
        if ((q = startswith(s, "UTC")) || (q = startswith(s, "GMT")) || (q = startswith(s, "UT")))
                s = q;
        if (*s == 0) {
                *ret = 0;
                return 1;
        }
        if (*s != '+' && *s != '-')
                return 0;
        sign = *s++ == '-' ? -1 : 1;

        size_t digits = strspn(s, "0123456789");
        if (digits == 1 || digits == 2) {
                h = (unsigned) atoi(s);
                s += digits;
                if (*s == ':') {
                        if (strspn(s + 1, "0123456789") != 2)
                                return -EINVAL;
                        m = (unsigned) (s[1] - '0') * 10 + (unsigned) (s[2] - '0');
                        s += 3;
                        if (*s == ':') {
                                if (strspn(s + 1, "0123456789") != 2)
                                        return -EINVAL;
                                sec = (unsigned) (s[1] - '0') * 10 + (unsigned) (s[2] - '0');
                                s += 3;
                        }
                }
        } else if (digits == 4 || digits == 6) {
                h = (unsigned) (s[0] - '0') * 10 + (unsigned) (s[1] - '0');
                m = (unsigned) (s[2] - '0') * 10 + (unsigned) (s[3] - '0');
                if (digits == 6)
                        sec = (unsigned) (s[4] - '0') * 10 + (unsigned) (s[5] - '0');
                s += digits;
        } else
                return -EINVAL;
        if (*s != 0 || m > 59 || sec > 59)
                return -EINVAL;
        int off = (int) (h * 3600 + m * 60 + sec);
        if (off > 18 * 3600)
                return -ERANGE;
        *ret = sign * off;
        return 1;
}

static bool tz_name_is_valid(const char *name) {
        size_t n = strlen(name);
        if (n == 0 || n > 255 || name[0] == '/' || name[n - 1] == '/')
                return false;
        for (const char *p = name; *p; p++) {
                bool ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                          *p == '/' || *p == '_' || *p == '+' || *p == '-';
                if (!ok)
                        return false;
                /* Refuse empty components ("a//b") and, through the character set, "." and "..". */
                if (*p == '/' && p[1] == '/')
                        return false;
        }
        return true;
}

static int tz_read_file(const char *path, uint8_t **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ uint8_t *buf = NULL;
        struct stat st;
        size_t have = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOTDIR || errno == ENAMETOOLONG ? -ENOENT : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -ENOENT;
        if (st.st_size > TZ_FILE_MAX)
                return -EBADMSG;
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (have < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + have, (size_t) st.st_size - have);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                have += (size_t) k;
        }
        *ret = TAKE_PTR(buf);
        *ret_size = have;
        return 0;
}

int tz_load_from(const char *dir, const char *name, TimeZone **ret) {
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ char *path = NULL;
        size_t size = 0;
        int off, r;

        if (isempty(name) || !ret)
                return -EINVAL;
        r = tz_parse_fixed(name, &off);
        if (r < 0)
                return r;
        if (r > 0) {
                TimeZone *tz;
                r = tz_new_fixed(off, &tz);
                if (r < 0)
                        return r;
                /* Keep the name the user wrote, so that it round-trips into trigger state. */
                char *n = strdup(name);
                if (!n) {
                        tz_free(tz);
                        return -ENOMEM;
                }
                free(tz->name);
                tz->name = n;
                *ret = tz;
                return 0;
        }
        if (!tz_name_is_valid(name))
                return -EINVAL;

        path = strjoin(dir, "/", name);
        if (!path)
                return -ENOMEM;
        r = tz_read_file(path, &data, &size);
        if (r < 0)
                return r;
        return tz_load_tzif(name, data, size, ret);
}

int tz_load(const char *name, TimeZone **ret) {
        return tz_load_from(TZ_DIR_DEFAULT, name, ret);
}

/* ---- lookups ---- */

/* Index of the last transition <= t, or -1. */
static ssize_t tz_find(const TimeZone *tz, int64_t t) {
        size_t lo = 0, hi = tz->n_trans;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (tz->trans[mid] <= t)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return (ssize_t) lo - 1;
}

static bool tz_rule_applies(const TimeZone *tz, int64_t t) {
        return tz->has_rule && (tz->n_trans == 0 || t >= tz->trans[tz->n_trans - 1]);
}

void tz_offset_at_sec(const TimeZone *tz, int64_t t, int *ret_offset, bool *ret_dst) {
        int off;
        bool dst;

        if (tz_rule_applies(tz, t)) {
                dst = tz_rule_is_dst(&tz->rule, t);
                off = dst ? tz->rule.dst_offset : tz->rule.std_offset;
        } else {
                /* RFC 8536: before the first transition, type 0 applies. */
                ssize_t i = tz_find(tz, t);
                const TzType *ty = &tz->types[i < 0 ? 0 : tz->trans_type[i]];
                off = ty->offset;
                dst = ty->dst;
        }
        if (ret_offset)
                *ret_offset = off;
        if (ret_dst)
                *ret_dst = dst;
}

static int tz_offset(const TimeZone *tz, int64_t t) {
        int off;
        tz_offset_at_sec(tz, t, &off, NULL);
        return off;
}

int tz_offset_at_utc(const TimeZone *tz, usec_t utc, int *ret_offset_sec, bool *ret_dst) {
        if (!tz)
                return -EINVAL;
        tz_offset_at_sec(tz, (int64_t) (utc / USEC_PER_SEC), ret_offset_sec, ret_dst);
        return 0;
}

/* Smallest raw transition instant > t (it may not change the offset). */
static bool tz_raw_next(const TimeZone *tz, int64_t t, int64_t *ret) {
        if (tz->n_trans > 0 && t < tz->trans[tz->n_trans - 1]) {
                ssize_t i = tz_find(tz, t);
                *ret = tz->trans[i + 1];
                return true;
        }
        if (!tz->has_rule || !tz->rule.has_dst)
                return false;
        int64_t y = year_of_sec(t), best = INT64_MAX;
        for (int64_t yy = y - 1; yy <= y + 2; yy++) {
                int64_t s, e;
                tz_rule_transitions(&tz->rule, yy, &s, &e);
                if (s > t && s < best)
                        best = s;
                if (e > t && e < best)
                        best = e;
        }
        if (best == INT64_MAX)
                return false;
        *ret = best;
        return true;
}

/* Largest raw transition instant <= t. */
static bool tz_raw_prev(const TimeZone *tz, int64_t t, int64_t *ret) {
        if (tz_rule_applies(tz, t) && tz->rule.has_dst) {
                int64_t floor = tz->n_trans > 0 ? tz->trans[tz->n_trans - 1] : INT64_MIN;
                int64_t y = year_of_sec(t), best = INT64_MIN;
                for (int64_t yy = y - 2; yy <= y + 1; yy++) {
                        int64_t s, e;
                        tz_rule_transitions(&tz->rule, yy, &s, &e);
                        if (s <= t && s > floor && s > best)
                                best = s;
                        if (e <= t && e > floor && e > best)
                                best = e;
                }
                if (best != INT64_MIN) {
                        *ret = best;
                        return true;
                }
        }
        ssize_t i = tz_find(tz, t);
        if (i < 0)
                return false;
        *ret = tz->trans[i];
        return true;
}

void tz_period_at(const TimeZone *tz, int64_t t, TzPeriod *ret) {
        int off, o;
        bool dst;
        int64_t w, p = t;

        tz_offset_at_sec(tz, t, &off, &dst);
        *ret = (TzPeriod) { .start = INT64_MIN, .end = INT64_MAX, .offset_sec = off, .prev_offset_sec = off, .dst = dst };

        for (unsigned n = 0; n < TZ_CHANGE_SEARCH_MAX && tz_raw_prev(tz, p, &w) && w > INT64_MIN; n++) {
                o = tz_offset(tz, w - 1);
                if (o != off) {
                        ret->start = w;
                        ret->prev_offset_sec = o;
                        break;
                }
                p = w - 1;
        }
        p = t;
        for (unsigned n = 0; n < TZ_CHANGE_SEARCH_MAX && tz_raw_next(tz, p, &w); n++) {
                if (tz_offset(tz, w) != off) {
                        ret->end = w;
                        break;
                }
                p = w;
        }
}

int tz_utc_to_local(const TimeZone *tz, usec_t utc, LocalTime *ret) {
        int off;
        bool dst;
        int64_t t = (int64_t) (utc / USEC_PER_SEC), days, rem;
        unsigned m, d;

        if (!tz || !ret)
                return -EINVAL;
        tz_offset_at_sec(tz, t, &off, &dst);
        t += off;
        days = floor_div(t, 86400);
        rem = t - days * 86400;
        *ret = (LocalTime) {
                .hour = (unsigned) (rem / 3600),
                .minute = (unsigned) (rem / 60 % 60),
                .second = (unsigned) (rem % 60),
                .usec = (unsigned) (utc % USEC_PER_SEC),
                .weekday = tz_weekday_from_days(days),
                .offset_sec = off,
                .dst = dst,
        };
        civil_from_days(days, &ret->year, &m, &d);
        ret->month = m;
        ret->day = d;
        return 0;
}

int tz_local_to_utc(const TimeZone *tz, const LocalTime *lt, TzDisambiguation how, usec_t *ret) {
        int64_t cand[4], local, u = 0;
        size_t n = 0;
        int kind;

        if (!tz || !lt || !ret)
                return -EINVAL;
        if (lt->month < 1 || lt->month > 12 || lt->day < 1 || lt->day > days_in_month(lt->year, lt->month) ||
            lt->hour > 23 || lt->minute > 59 || lt->second > 59 || lt->usec >= USEC_PER_SEC)
                return -EINVAL;
        if (lt->year < 1969 || lt->year > 500000)
                return -ERANGE;
        local = days_from_civil(lt->year, lt->month, lt->day) * 86400 + lt->hour * 3600 + lt->minute * 60 + lt->second;

        /* Walk the constant-offset periods that could contain an instant showing this wall clock. */
        TzPeriod p, gap = {};
        bool have_gap = false;
        tz_period_at(tz, local - TZ_OFFSET_MAX, &p);
        for (;;) {
                int64_t x = local - p.offset_sec;
                if (x >= p.start && x < p.end && n < ELEMENTSOF(cand))
                        cand[n++] = x;
                if (p.end == INT64_MAX || p.end > local + TZ_OFFSET_MAX)
                        break;
                tz_period_at(tz, p.end, &p);
                if (p.prev_offset_sec < p.offset_sec && local >= p.start + p.prev_offset_sec &&
                    local < p.start + p.offset_sec) {
                        gap = p;
                        have_gap = true;
                }
        }

        if (n == 1) {
                kind = TZ_LOCAL_UNIQUE;
                u = cand[0];
        } else if (n >= 2) {
                kind = TZ_LOCAL_OVERLAP;
                if (how == TZ_DISAMBIGUATE_REJECT)
                        return -ENOTUNIQ;
                u = how == TZ_DISAMBIGUATE_LATER ? cand[n - 1] : cand[0];
        } else {
                if (!have_gap)
                        return -EINVAL; /* cannot happen with consistent data */
                kind = TZ_LOCAL_GAP;
                if (how == TZ_DISAMBIGUATE_REJECT)
                        return -ENOENT;
                /* EARLIER reads the wall clock with the offset after the gap (lands before it),
                 * the others with the offset before it (lands after it). */
                u = how == TZ_DISAMBIGUATE_EARLIER ? local - gap.offset_sec : local - gap.prev_offset_sec;
        }
        if (u < 0)
                return -ERANGE;
        *ret = (usec_t) u * USEC_PER_SEC + lt->usec;
        return kind;
}
