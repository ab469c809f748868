/* expr-functions.c: the functions a template can call: now(), range(), secret(), render(), ... */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "expr-internal.h"
#include "id.h"
#include "strutil.h"

typedef int (*FunctionFn)(ExprEval *ev, const ExprNode *n, const ExprArgs *a, json_t **ret);

#define FAIL(...) expr_fail(ev, n, -EINVAL, __VA_ARGS__)

static int fn_now(ExprEval *ev, const ExprNode *n, const ExprArgs *a, json_t **ret) {
        char buf[TIMESTAMP_MAX];
        usec_t now = ev->ctx->now ? ev->ctx->now : now_realtime();
        json_t *zone = expr_arg(a, 99, "timeZone");
        if (zone) {
                /* an offset-qualified ISO string in the requested zone */
                _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
                int off;
                if (!json_is_string(zone) || expr_parse_zone(json_string_value(zone), &off) < 0)
                        return FAIL("now(): unsupported time zone (use UTC or an offset like +02:00)");
                ExprDate d = { .usec = (int64_t) now, .offset_sec = off };
                int r = expr_date_format(&d, "iso", &sb);
                if (r < 0)
                        return r;
                *ret = json_stringn_nocheck(strbuf_str(&sb), sb.len);
                return *ret ? 0 : -ENOMEM;
        }
        *ret = json_string(timestamp_format(buf, now));
        return *ret ? 0 : -ENOMEM;
}

static int random_bytes(ExprEval *ev, const ExprNode *n, void *buf, size_t size) {
        for (size_t got = 0; got < size;) {
                ssize_t k = getrandom((uint8_t *) buf + got, size - got, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return expr_fail(ev, n, -errno, "%s(): no randomness available", n->name);
                }
                got += (size_t) k;
        }
        return 0;
}

static int fn_uuid(ExprEval *ev, const ExprNode *n, const ExprArgs *a, json_t **ret) {
        uint8_t b[16];
        char s[37];
        int r = random_bytes(ev, n, b, sizeof b);
        if (r < 0)
                return r;
        b[6] = (uint8_t) ((b[6] & 0x0F) | 0x40); /* version 4 */
        b[8] = (uint8_t) ((b[8] & 0x3F) | 0x80); /* RFC 4122 variant */
        snprintf(s, sizeof s, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
                 b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
        *ret = json_string(s);
        return *ret ? 0 : -ENOMEM;
}

/* id(): a new identifier, like the ids of executions. */
static int fn_id(ExprEval *ev, const ExprNode *n, const ExprArgs *a, json_t **ret) {
        char id[ID_MAX];
        int r = id_new(id);
        if (r < 0)
                return expr_fail(ev, n, r, "id(): no randomness available");
        *ret = json_string(id);
        return *ret ? 0 : -ENOMEM;
}

/* randomInt(lower, upper): an integer from lower (included) to upper (excluded; lower when equal). */
static int fn_randomInt(ExprEval *ev, const ExprNode *n, const ExprArgs *a, json_t **ret) {
        json_t *lo = expr_arg(a, 0, "lower"), *hi = expr_arg(a, 1, "upper");
        if (!lo || !hi)
                return FAIL("randomInt() needs the arguments `lower` and `upper`");
        if (!json_is_integer(lo) || !json_is_integer(hi))
                return FAIL("randomInt(): `lower` and `upper` must be integers, not a %s and a %s", expr_type_name(lo),
                            expr_type_name(hi));
        int64_t l = json_integer_value(lo), h = json_integer_value(hi);
        if (h < l)
                return FAIL("randomInt(): upper (%" JSON_INTEGER_FORMAT ") is less than lower (%" JSON_INTEGER_FORMAT ")",
                            (json_int_t) h, (json_int_t) l);
        uint64_t span = (uint64_t) h - (uint64_t) l, x = 0;
        if (span > 0) {
                /* rejection sampling: every value equally likely */
                uint64_t limit = UINT64_MAX - UINT64_MAX % span;
                do {
                        int r = random_bytes(ev, n, &x, sizeof x);
                        if (r < 0)
                                return r;
                } while (x >= limit);
                x %= span;
        }
        *ret = json_integer((json_int_t) ((uint64_t) l + x));
        return *ret ? 0 : -ENOMEM;
}

/* randomPort(): a TCP port free right now, as the kernel picks one for a socket bound to port 0. */
static int fn_randomPort(ExprEval *ev, const ExprNode *n, const ExprArgs *a, json_t **ret) {
        _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
        socklen_t len = sizeof sa;
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0 || getsockname(fd, (struct sockaddr *) &sa, &len) < 0)
                return expr_fail(ev, n, -EINVAL, "randomPort(): unable to get a free port: %s", strerror(errno));
        *ret = json_integer(ntohs(sa.sin_port));
        return *ret ? 0 : -ENOMEM;
}

static int int_arg(ExprEval *ev, const ExprNode *n, const ExprArgs *a, size_t pos, const char *name, int64_t def, int64_t *ret) {
        json_t *v = expr_arg(a, pos, name);
        if (!v) {
                *ret = def;
                return 0;
        }
        if (!json_is_integer(v))
                return FAIL("%s(): argument `%s` must be an integer, not a %s", n->name, name, expr_type_name(v));
        *ret = json_integer_value(v);
        return 0;
}

static int fn_range(ExprEval *ev, const ExprNode *n, const ExprArgs *a, json_t **ret) {
        int64_t start, end, step;
        int r;
        if (!expr_arg(a, 0, "start") || !expr_arg(a, 1, "end"))
                return FAIL("range() needs a start and an end, like range(1, 5)");
        r = int_arg(ev, n, a, 0, "start", 0, &start);
        if (r < 0)
                return r;
        r = int_arg(ev, n, a, 1, "end", 0, &end);
        if (r < 0)
                return r;
        r = int_arg(ev, n, a, 2, "step", 1, &step);
        if (r < 0)
                return r;
        return expr_range(ev, n, start, end, step, ret);
}

static int fn_fromJson(ExprEval *ev, const ExprNode *n, const ExprArgs *a, json_t **ret) {
        json_t *v = expr_arg(a, 0, "json");
        if (!v)
                return FAIL("%s() needs a JSON string", n->name);
        return expr_parse_json(ev, n, n->name, v, ret);
}

static int fn_secret(ExprEval *ev, const ExprNode *n, const ExprArgs *a, json_t **ret) {
        _cleanup_free_ char *value = NULL;
        json_t *key = expr_arg(a, 0, "key");
        int r;

        if (!json_is_string(key))
                return FAIL("secret() needs a key string, like secret('MY_SECRET')");
        if (!ev->ctx->secret)
                return FAIL("secret() is not available here (no secret provider)");
        r = ev->ctx->secret(ev->ctx->userdata, json_string_value(key), &value);
        if (r == -ENOENT)
                return FAIL("Cannot find secret for key '%s'", json_string_value(key));
        if (r < 0)
                return expr_fail(ev, n, r, "Cannot read secret '%s': %s", json_string_value(key), strerror(-r));
        *ret = json_string(value);
        if (!*ret)
                return FAIL("Secret '%s' is not UTF-8 text", json_string_value(key));
        return 0;
}

static int fn_render(ExprEval *ev, const ExprNode *n, const ExprArgs *a, json_t **ret) {
        json_t *v = expr_arg(a, 0, "toRender");
        if (!v)
                return FAIL("%s() needs a string to render", n->name);
        if (!json_is_string(v) || !expr_has_template(json_string_value(v))) {
                /* nothing to render: the value itself */
                *ret = json_incref(v);
                return 0;
        }
        /* Kestra renders recursively by default (a variable referring to a variable that holds an
         * expression): again while the result is still a template, bounded by the render depth. */
        json_t *rec = expr_arg(a, 1, "recursive");
        /* renderOnce(x) is render(x, recursive=false) */
        bool recursive = !streq(n->name, "renderOnce") &&
                         (!rec || json_is_true(rec) || (json_is_string(rec) && streq(json_string_value(rec), "true")));
        json_t *cur = NULL;
        int r = expr_render_nested(ev, n, json_string_value(v), &cur);
        unsigned max = ev->ctx->max_render_depth ? ev->ctx->max_render_depth : 10;
        for (unsigned i = 1; r >= 0 && recursive && json_is_string(cur) && expr_has_template(json_string_value(cur));
             i++) {
                if (i >= max) {
                        json_decref(cur);
                        return expr_fail(ev, n, -ELOOP, "%s() still finds expressions after %u rounds", n->name, max);
                }
                json_t *next = NULL;
                r = expr_render_nested(ev, n, json_string_value(cur), &next);
                json_decref(cur);
                cur = next;
        }
        if (r < 0) {
                json_decref(cur);
                return r;
        }
        *ret = cur;
        return 0;
}

static int fn_minmax(ExprEval *ev, const ExprNode *n, const ExprArgs *a, json_t **ret) {
        bool max = streq(n->name, "max");
        json_t *best = NULL;
        json_t *const *items = a->values;
        size_t count = a->n;

        /* max([1, 2]) works like max(1, 2) */
        if (count == 1 && json_is_array(a->values[0])) {
                count = json_array_size(a->values[0]);
                items = NULL;
        }
        if (count == 0)
                return FAIL("%s() needs at least one value", n->name);
        for (size_t i = 0; i < count; i++) {
                json_t *x = items ? items[i] : json_array_get(a->values[0], i);
                int c;
                if (!best) {
                        best = x;
                        continue;
                }
                if (expr_compare(x, best, &c) < 0)
                        return FAIL("%s(): cannot compare a %s with a %s", n->name, expr_type_name(x), expr_type_name(best));
                if (max ? c > 0 : c < 0)
                        best = x;
        }
        *ret = json_incref(best);
        return 0;
}

static int fn_printContext(ExprEval *ev, const ExprNode *n, const ExprArgs *a, json_t **ret) {
        _cleanup_json_ json_t *all = ev->ctx->variables ? json_copy(ev->ctx->variables) : json_object();
        if (!all)
                return -ENOMEM;
        for (size_t i = 0; i < ev->n_scopes; i++)
                if (json_object_update(all, ev->scopes[i]) < 0)
                        return -ENOMEM;
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        expr_append_json(&sb, all);
        if (sb.error)
                return sb.error;
        *ret = json_stringn_nocheck(strbuf_str(&sb), sb.len);
        return *ret ? 0 : -ENOMEM;
}

static json_t *lookup_var(ExprEval *ev, const char *name) {
        for (size_t i = ev->n_scopes; i > 0; i--) {
                json_t *v = json_object_get(ev->scopes[i - 1], name);
                if (v)
                        return v;
        }
        return json_object_get(ev->ctx->variables, name);
}

/* currentEachOutput(outputs.x): the output of the current ForEach iteration, found through the
 * values of the enclosing loops (parents, outermost last) and of the current task run. */
static int fn_currentEachOutput(ExprEval *ev, const ExprNode *n, const ExprArgs *a, json_t **ret) {
        json_t *v = expr_arg(a, 0, "outputs");
        if (!v)
                return FAIL("currentEachOutput() needs the outputs of a task");
        json_t *parents = lookup_var(ev, "parents");
        for (size_t i = json_array_size(parents); i > 0; i--) {
                json_t *value = json_object_get(json_object_get(json_array_get(parents, i - 1), "taskrun"), "value");
                if (json_is_string(value) && json_is_object(v) && json_object_get(v, json_string_value(value)))
                        v = json_object_get(v, json_string_value(value));
        }
        json_t *value = json_object_get(lookup_var(ev, "taskrun"), "value");
        if (json_is_string(value) && json_is_object(v) && json_object_get(v, json_string_value(value)))
                v = json_object_get(v, json_string_value(value));
        *ret = json_incref(v);
        return 0;
}

static const struct {
        const char *name;
        FunctionFn fn;
} functions[] = {
        { "currentEachOutput", fn_currentEachOutput },
        { "fetchContext", fn_printContext },
        { "fromIon", expr_function_from_ion },
        { "fromJson", fn_fromJson },
        { "id", fn_id },
        { "json", fn_fromJson },
        { "max", fn_minmax },
        { "min", fn_minmax },
        { "now", fn_now },
        { "printContext", fn_printContext },
        { "randomInt", fn_randomInt },
        { "randomPort", fn_randomPort },
        { "range", fn_range },
        { "render", fn_render },
        { "renderOnce", fn_render },
        { "secret", fn_secret },
        { "uuid", fn_uuid },
        { "yaml", expr_function_yaml },
};

/* Functions the engine leaves to its host (ExprContext.function): known names, so that a flow using
 * them validates, with what each needs for the message when a host does not provide it. */
static const struct {
        const char *name;
        const char *needs;
} host_functions[] = {
        { "decrypt", "an encryption key (Kestra's kestra.encryption.secret-key), which tern does not have" },
        { "encrypt", "an encryption key (Kestra's kestra.encryption.secret-key), which tern does not have" },
        { "errorLogs", "the execution's logs, which only a worker reads (use it in a task's properties, as in Kestra)" },
        { "fileExists", "the execution's files, which are not available where this expression is rendered" },
        { "fileSize", "the execution's files, which are not available where this expression is rendered" },
        { "fileURI", "the execution's files, which are not available where this expression is rendered" },
        { "kv", "the key-value store, which is not available where this expression is rendered" },
        { "read", "the execution's files, which are not available where this expression is rendered" },
};

/* Known functions no host of this build provides: refused at validation (what each needs), rather
 * than accepted and failing when rendered. */
const char *expr_function_refused(const char *name) {
        if (!streq(name, "encrypt") && !streq(name, "decrypt"))
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(host_functions); i++)
                if (streq(host_functions[i].name, name))
                        return host_functions[i].needs;
        return NULL;
}

bool expr_function_exists(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(functions); i++)
                if (streq(functions[i].name, name))
                        return true;
        for (size_t i = 0; i < ELEMENTSOF(host_functions); i++)
                if (streq(host_functions[i].name, name))
                        return true;
        return false;
}

const char *expr_function_name(size_t i, const char **ret_needs) {
        if (i < ELEMENTSOF(functions)) {
                *ret_needs = NULL;
                return functions[i].name;
        }
        i -= ELEMENTSOF(functions);
        if (i < ELEMENTSOF(host_functions)) {
                *ret_needs = host_functions[i].needs;
                return host_functions[i].name;
        }
        return NULL;
}

const char *expr_function_suggest(const char *name, const char *const *extra, size_t n_extra) {
        const char *names[ELEMENTSOF(functions) + ELEMENTSOF(host_functions)];
        size_t k = 0;
        for (size_t i = 0; i < ELEMENTSOF(functions); i++)
                names[k++] = functions[i].name;
        for (size_t i = 0; i < ELEMENTSOF(host_functions); i++)
                names[k++] = host_functions[i].name;
        const char *best = expr_suggest(name, names, k);
        /* a macro of the template wins when it is as close */
        const char *macro = extra ? expr_suggest(name, extra, n_extra) : NULL;
        if (macro && (!best || str_edit_distance(name, macro, 3) <= str_edit_distance(name, best, 3)))
                return macro;
        return best;
}

int expr_call_function(ExprEval *ev, const ExprNode *n, const ExprArgs *args, json_t **ret) {
        int r;

        *ret = NULL;
        for (size_t i = 0; i < ELEMENTSOF(functions); i++)
                if (streq(functions[i].name, n->name)) {
                        r = functions[i].fn(ev, n, args, ret);
                        if (r >= 0 && !*ret)
                                *ret = json_null();
                        return r;
                }

        /* Pebble's order: the engine's functions (the host's are Kestra's too), then macros */
        if (ev->ctx->function) {
                _cleanup_json_ json_t *list = json_array();
                _cleanup_free_ char *message = NULL;
                if (!list)
                        return -ENOMEM;
                for (size_t i = 0; i < args->n; i++)
                        if (json_array_append(list, args->values[i]) < 0)
                                return -ENOMEM;
                r = ev->ctx->function(ev->ctx->userdata, n->name, list, ret, &message);
                if (r >= 0) {
                        if (!*ret)
                                *ret = json_null();
                        return 0;
                }
                if (r != -ENOENT || message)
                        return expr_fail(ev, n, r == -ENOMEM ? -EIO : r, "%s(): %s", n->name, message ? message : strerror(-r));
        }

        const ExprNode *macro = expr_find_macro(ev, n->name);
        if (macro)
                return expr_call_macro(ev, n, macro, args, ret);

        for (size_t i = 0; i < ELEMENTSOF(host_functions); i++)
                if (streq(host_functions[i].name, n->name))
                        return FAIL("%s() is not available here: it needs %s", n->name, host_functions[i].needs);

        _cleanup_free_ const char **macros = NULL;
        size_t n_macros = expr_macro_names(ev, &macros);
        const char *hint = expr_function_suggest(n->name, macros, n_macros);
        if (hint)
                return FAIL("Unknown function `%s`, did you mean `%s`?", n->name, hint);
        return FAIL("Unknown function `%s`", n->name);
}
