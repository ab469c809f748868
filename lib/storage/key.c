/* key.c: which storage keys are valid, and Kestra's kestra:/// layout of stored files. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"
#include "macro.h"
#include "strbuf.h"
#include "strutil.h"

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* What "%XY" at p decodes to, or -1 when it is not an escape. */
static int escape_at(const char *p) {
        if (p[0] != '%')
                return -1;
        int h = hexval(p[1]), l = h >= 0 ? hexval(p[2]) : -1;
        return l < 0 ? -1 : h * 16 + l;
}

const char *storage_key_invalid(const char *key) {
        if (!key || !*key)
                return "the key is empty";
        if (*key == '/')
                return "the key is an absolute path";
        if (strlen(key) > STORAGE_KEY_MAX)
                return "the key is too long";
        for (const char *seg = key;;) {
                size_t n = strcspn(seg, "/");
                if (n == 0)
                        return "the key has an empty segment";
                if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
                        return "the key has a '.' or '..' segment";
                if (n > STORAGE_SEGMENT_MAX)
                        return "a segment of the key is too long";
                for (size_t i = 0; i < n; i++) {
                        unsigned char c = (unsigned char) seg[i];
                        if (c == '\\')
                                return "the key has a backslash";
                        if (c < 0x20 || c == 0x7f)
                                return "the key has a control character";
                        int e = escape_at(seg + i);
                        /* Whoever decodes the key once more must not find a path in it either. */
                        if (e >= 0 && (e == '.' || e == '/' || e == '\\' || e == '%' || e < 0x20 || e == 0x7f))
                                return "the key has a percent-encoded '.', '/', '\\', '%' or control character";
                }
                if (!seg[n])
                        return NULL;
                seg += n + 1;
        }
}

const char *storage_prefix_invalid(const char *prefix) {
        if (!prefix)
                return "the prefix is missing";
        return *prefix ? storage_key_invalid(prefix) : NULL;
}

int storage_key_from_uri(const char *uri, char **ret_key, const char **ret_why) {
        const char *why = NULL;
        const char *rel = uri ? startswith(uri, "kestra:///") : NULL;
        if (!rel)
                why = "not a kestra:/// URI";
        _cleanup_free_ char *key = rel ? malloc(strlen(rel) + 1) : NULL;
        if (rel && !key)
                return -ENOMEM;
        if (key) {
                char *w = key;
                for (const char *p = rel; *p && !why; p++) {
                        if (*p == '?' || *p == '#')
                                why = "the URI has a query or fragment";
                        else if (*p != '%')
                                *w++ = *p;
                        else {
                                int e = escape_at(p);
                                if (e < 0)
                                        why = "the URI has a malformed percent escape";
                                else if (e == 0)
                                        why = "the URI has an encoded NUL";
                                if (why)
                                        break;
                                *w++ = (char) e;
                                p += 2;
                        }
                }
                *w = 0;
                if (!why)
                        why = storage_key_invalid(key);
        }
        if (why) {
                if (ret_why)
                        *ret_why = why;
                return -EINVAL;
        }
        *ret_key = TAKE_PTR(key);
        return 0;
}

char *storage_key_to_uri(const char *key) {
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;
        strbuf_append(&b, "kestra:///");
        for (const unsigned char *p = (const unsigned char *) key; *p; p++) {
                if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                    strchr("-._~/!$&'()*+,;=:@", *p))
                        strbuf_append_char(&b, (char) *p);
                else
                        strbuf_appendf(&b, "%%%02X", *p);
        }
        return strbuf_steal(&b);
}

char *storage_slugify(const char *s) {
        size_t n = strlen(s);
        char *out = malloc(n + 1), *w = out;
        if (!out)
                return NULL;
        for (const char *p = s; *p; p++) {
                char c = *p;
                if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == '_')
                        c = '-';
                else if (c >= 'A' && c <= 'Z')
                        c = (char) (c - 'A' + 'a');
                else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
                        continue;
                if (c == '-' && (w == out || w[-1] == '-'))
                        continue;
                *w++ = c;
        }
        while (w > out && w[-1] == '-')
                w--;
        *w = 0;
        return out;
}

/* The namespace as a path: each '.'-separated part a valid segment. A part that starts with '_' or
 * is "executions" would put the namespace inside another's files or KV (NS/_files, NS/_kv) or inside
 * an execution's directory (NS/FLOW/executions/EXEC): refused, as the flow parser refuses it. */
static int ns_path(const char *ns, char **ret) {
        if (isempty(ns))
                return -EINVAL;
        _cleanup_free_ char *p = strdup(ns);
        if (!p)
                return -ENOMEM;
        for (char *c = p, *seg = p;; c++) {
                if (*c == '/')
                        return -EINVAL;
                if (*c && *c != '.')
                        continue;
                if (*seg == '_' || (c - seg == 10 && strncmp(seg, "executions", 10) == 0))
                        return -EINVAL;
                if (!*c)
                        break;
                *c = '/';
                seg = c + 1;
        }
        if (storage_key_invalid(p))
                return -EINVAL;
        *ret = TAKE_PTR(p);
        return 0;
}

/* One segment: valid and without '/'. */
static bool segment_ok(const char *s) {
        return !isempty(s) && !strchr(s, '/') && !storage_key_invalid(s);
}

/* A slug that is a usable segment (Slugify can leave nothing of an odd id). */
static int slug_segment(const char *s, char **ret) {
        if (isempty(s))
                return -EINVAL;
        char *slug = storage_slugify(s);
        if (!slug)
                return -ENOMEM;
        if (!segment_ok(slug)) {
                free(slug);
                return -EINVAL;
        }
        *ret = slug;
        return 0;
}

static int finish(char *k, char **ret) {
        if (!k)
                return -ENOMEM;
        if (storage_key_invalid(k)) {
                free(k);
                return -EINVAL;
        }
        *ret = k;
        return 0;
}

int storage_key_execution(const char *ns, const char *flow, const char *exec_id, char **ret) {
        _cleanup_free_ char *n = NULL, *f = NULL;
        int r = ns_path(ns, &n);
        if (r < 0 || (r = slug_segment(flow, &f)) < 0)
                return r;
        if (!segment_ok(exec_id))
                return -EINVAL;
        return finish(strdup_printf("%s/%s/executions/%s", n, f, exec_id), ret);
}

int storage_key_task_file(const char *ns, const char *flow, const char *exec_id, const char *task_id,
                          const char *task_run_id, const char *file, char **ret) {
        _cleanup_free_ char *e = NULL, *t = NULL;
        int r = storage_key_execution(ns, flow, exec_id, &e);
        if (r < 0 || (r = slug_segment(task_id, &t)) < 0)
                return r;
        /* The file may sit in directories of its own (outputFiles keep their relative paths). */
        if (!segment_ok(task_run_id) || isempty(file) || storage_key_invalid(file))
                return -EINVAL;
        return finish(strdup_printf("%s/tasks/%s/%s/%s", e, t, task_run_id, file), ret);
}

int storage_key_input_file(const char *ns, const char *flow, const char *exec_id, const char *input,
                           const char *file, char **ret) {
        _cleanup_free_ char *e = NULL;
        int r = storage_key_execution(ns, flow, exec_id, &e);
        if (r < 0)
                return r;
        if (!segment_ok(input) || !segment_ok(file))
                return -EINVAL;
        return finish(strdup_printf("%s/inputs/%s/%s", e, input, file), ret);
}

int storage_key_trigger_file(const char *ns, const char *flow, const char *exec_id, const char *trigger_id,
                             const char *file, char **ret) {
        _cleanup_free_ char *e = NULL, *t = NULL;
        int r = storage_key_execution(ns, flow, exec_id, &e);
        if (r < 0 || (r = slug_segment(trigger_id, &t)) < 0)
                return r;
        if (isempty(file) || storage_key_invalid(file))
                return -EINVAL;
        return finish(strdup_printf("%s/trigger/%s/%s", e, t, file), ret);
}

int storage_key_namespace_file(const char *ns, const char *path, char **ret) {
        _cleanup_free_ char *n = NULL;
        int r = ns_path(ns, &n);
        if (r < 0)
                return r;
        if (!path)
                return finish(strjoin(n, "/_files"), ret);
        /* Namespace file paths are written "/dir/file" in Kestra's API: one leading '/' is its root. */
        if (*path == '/')
                path++;
        if (storage_key_invalid(path))
                return -EINVAL;
        return finish(strjoin(n, "/_files/", path), ret);
}

static bool kv_key_ok(const char *k) {
        if (!k || !((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= 'A' && k[0] <= 'Z') || (k[0] >= '0' && k[0] <= '9')))
                return false;
        for (const char *p = k; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '.' || *p == '_' || *p == '-'))
                        return false;
        return true;
}

int storage_key_kv(const char *ns, const char *kv_key, char **ret) {
        _cleanup_free_ char *n = NULL;
        int r = ns_path(ns, &n);
        if (r < 0)
                return r;
        if (!kv_key)
                return finish(strjoin(n, "/_kv"), ret);
        if (!kv_key_ok(kv_key))
                return -EINVAL;
        return finish(strjoin(n, "/_kv/", kv_key, ".ion"), ret);
}
