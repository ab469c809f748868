/* announce.c: Kestra's task output protocol: "::{...}::" lines with outputs, metrics (counter, timer,
 * gauge) and log lines, as Kestra's libraries print them (npm @kestra-io/libs, Python kestra). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "json-limits.h"
#include "script.h"
#include "strutil.h"

int announcements_init(Announcements *a) {
        *a = (Announcements) { .vars = json_object(), .metrics = json_array(), .index = json_object() };
        return a->vars && a->metrics && a->index ? 0 : -ENOMEM;
}

void announcements_done(Announcements *a) {
        json_decref(a->vars);
        json_decref(a->metrics);
        json_decref(a->index);
        *a = (Announcements) {};
}

static size_t entry_size(const char *key, const json_t *v) {
        return strlen(key) + 4 + json_size_estimate(v, JSON_VALUE_SIZE_MAX);
}

/* A scalar as Jackson coerces it into a String (tags, messages); other values as JSON text. */
static char *scalar_text(json_t *v) {
        if (json_is_string(v))
                return strdup(json_string_value(v));
        return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* A metric's name is a column of the metrics table, 255 characters on MySQL (whose strict mode
 * refuses a longer one, and with it the task run's whole result). */
#define METRIC_NAME_MAX 255
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

static size_t utf8_chars(const char *s) {
        size_t n = 0;
        for (; *s; s++)
                n += ((unsigned char) *s & 0xc0) != 0x80;
        return n;
}

/* A number, or a number in a string (Jackson's coercion). */
static bool number_of(json_t *v, double *ret) {
        if (json_is_number(v)) {
                *ret = json_number_value(v);
                return isfinite(*ret);
        }
        if (json_is_string(v)) {
                char *end;
                const char *s = json_string_value(v);
                *ret = strtod(s, &end);
                return !isempty(s) && *end == 0 && isfinite(*ret);
        }
        return false;
}

/* One entry of "metrics" as Kestra stores it: {name, type, value, tags} with a timer's duration
 * (seconds as a number, or an ISO-8601 duration such as "PT1.5S") in milliseconds. NULL with
 * *ret_why set when Kestra would not read it. */
static json_t *metric_normalize(json_t *m, const char **ret_why) {
        const char *name = json_string_value(json_object_get(m, "name"));
        const char *type = json_string_value(json_object_get(m, "type"));
        json_t *value = json_object_get(m, "value"), *tags = json_object_get(m, "tags"), *v;
        double d;
        const char *k;

        if (!json_is_object(m))
                return *ret_why = "not an object", NULL;
        if (isempty(name))
                return *ret_why = "no name", NULL;
        if (utf8_chars(name) > METRIC_NAME_MAX)
                return *ret_why = "its name is longer than " STRINGIFY(METRIC_NAME_MAX) " characters", NULL;
        if (!type || !(streq(type, "counter") || streq(type, "timer") || streq(type, "gauge")))
                return *ret_why = "its type is not counter, timer or gauge", NULL;
        if (streq(type, "timer") && json_is_string(value) && json_string_value(value)[0] == 'P') {
                susec_t us;
                if (duration_parse(json_string_value(value), &us) < 0)
                        return *ret_why = "its value is not a duration", NULL;
                d = (double) us / 1e6;
        } else if (!number_of(value, &d))
                return *ret_why = "its value is not a number", NULL;
        if (streq(type, "timer")) {
                /* Kestra keeps a timer's Duration.toMillis(). */
                if (d > 9e12 || d < -9e12)
                        return *ret_why = "its value is out of range", NULL;
                d = (double) (long long) (d * 1000.0);
        }
        if (tags && !json_is_null(tags) && !json_is_object(tags))
                return *ret_why = "its tags are not a map", NULL;
        _cleanup_json_ json_t *t = json_object();
        if (!t)
                return NULL;
        json_object_foreach(tags, k, v) {
                _cleanup_free_ char *s = scalar_text(v);
                if (!s || json_object_set_new(t, k, json_string(s)) < 0)
                        return NULL;
        }
        return json_pack("{s:s, s:s, s:f, s:O, s:I}", "name", name, "type", type, "value", d, "tags", t, "timestamp",
                         (json_int_t) now_realtime());
}

/* Kestra merges what a task run reports under the same type, name and tags: this is their key (a
 * lookup, not a scan of every metric kept, which a flood of distinct ones would make quadratic). */
static char *metric_key(json_t *m) {
        _cleanup_json_ json_t *k = json_pack("[O, O, O]", json_object_get(m, "type"), json_object_get(m, "name"),
                                             json_object_get(m, "tags"));
        return k ? json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}

static void log_entries(TaskRunContext *ctx, json_t *logs) {
        size_t i;
        json_t *l;
        json_array_foreach(logs, i, l) {
                json_t *msg = json_object_get(l, "message");
                const char *lvl = json_string_value(json_object_get(l, "level"));
                TaskLogLevel level = task_log_level_from_string(lvl);
                _cleanup_free_ char *text = msg && !json_is_null(msg) ? scalar_text(msg) : strdup("");
                if (!text)
                        continue;
                if (level < 0) {
                        task_logf(ctx, TASK_LOG_WARN, "Log entry of unknown level '%s' in a ::{...}:: line: %s", strna(lvl),
                                  text);
                        continue;
                }
                ctx->log(ctx, level, text);
        }
}

bool announcement_parse(Announcements *a, TaskRunContext *ctx, const char *line, size_t len) {
        if (len < 6 || strncmp(line, "::{", 3) != 0 || strcmp(line + len - 3, "}::") != 0)
                return false;
        _cleanup_json_ json_t *j = json_loadb(line + 2, len - 4, 0, NULL);
        if (!json_is_object(j))
                return false;
        json_t *o = json_object_get(j, "outputs"), *m = json_object_get(j, "metrics"), *logs = json_object_get(j, "logs");
        json_t *assets = json_object_get(j, "assets"), *v;
        if (!json_is_object(o) && !json_is_array(m) && !json_is_array(logs) && !assets)
                return false;

        /* Log lines first: they go to the task's log (bounded there), not into what is kept. */
        log_entries(ctx, logs);
        if (assets && !a->assets_said) {
                a->assets_said = true;
                task_logf(ctx, TASK_LOG_WARN, "The task announced assets (::{\"assets\":...}::), which tern does not "
                                              "keep: they were dropped");
        }

        /* Past the bound, nothing more is kept: no work for it either. */
        if (a->too_much)
                return true;
        /* fresh: [key, metric] pairs; fresh_keys: the keys new to this line */
        _cleanup_json_ json_t *fresh = json_array(), *fresh_keys = json_object();
        if (!fresh || !fresh_keys)
                return true;
        size_t i, kept = a->kept;
        const char *k;
        json_array_foreach(m, i, v) {
                const char *why = NULL;
                _cleanup_json_ json_t *n = metric_normalize(v, &why);
                if (!n) {
                        if (why) {
                                _cleanup_free_ char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                                task_logf(ctx, TASK_LOG_WARN, "Metric dropped, %s: %.200s", why, strna(s));
                        }
                        continue;
                }
                _cleanup_free_ char *key = metric_key(n);
                if (!key)
                        continue;
                if (!json_object_get(a->index, key) && !json_object_get(fresh_keys, key)) {
                        kept += json_size_estimate(n, JSON_VALUE_SIZE_MAX) + 2;
                        json_object_set_new(fresh_keys, key, json_true());
                }
                json_array_append_new(fresh, json_pack("[s, O]", key, n));
        }
        json_object_foreach(o, k, v) {
                json_t *old = json_object_get(a->vars, k);
                if (old)
                        kept -= MIN(entry_size(k, old), kept);
                kept += entry_size(k, v);
        }
        /* What is kept is bounded while the task runs (a value announced again replaces the old one
         * and its size), not only when its outputs are stored. */
        if (a->too_much || kept > JSON_VALUE_SIZE_MAX) {
                a->too_much = true;
                return true;
        }
        a->kept = kept;
        if (json_is_object(o))
                json_object_update(a->vars, o);
        json_t *pair;
        json_array_foreach(fresh, i, pair) {
                const char *key = json_string_value(json_array_get(pair, 0));
                json_t *n = json_array_get(pair, 1), *pos = json_object_get(a->index, key);
                if (!pos) {
                        if (json_object_set_new(a->index, key, json_integer((json_int_t) json_array_size(a->metrics))) == 0)
                                json_array_append(a->metrics, n);
                        continue;
                }
                json_t *x = json_array_get(a->metrics, (size_t) json_integer_value(pos));
                double sum = json_real_value(json_object_get(n, "value"));
                if (!streq_ptr(json_string_value(json_object_get(n, "type")), "gauge"))
                        sum += json_real_value(json_object_get(x, "value"));
                json_object_set_new(x, "value", json_real(sum));
        }
        return true;
}
