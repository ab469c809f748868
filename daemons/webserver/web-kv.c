/* web-kv.c: Kestra's key-value store API (/api/v1/namespaces/{namespace}/kv...): list, get with its
 * type, put (with a ttl) and delete, over the store's kv table. */
#include <errno.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "key.h"
#include "kv-function.h"
#include "strutil.h"
#include "timeutil.h"
#include "web-internal.h"

static bool is_digit(char ch) {
        return ch >= '0' && ch <= '9';
}

static bool is_alnum(char ch) {
        return is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* Kestra's key pattern ([a-zA-Z0-9][a-zA-Z0-9._-]*). */
static bool kv_key_valid(const char *k) {
        if (isempty(k) || strlen(k) > 255 || !is_alnum(k[0]))
                return false;
        for (const char *p = k; *p; p++)
                if (!is_alnum(*p) && !strchr("._-", *p))
                        return false;
        return true;
}

/* The namespace (and key, when the route has one) of the path; 0, or the reply is made (-1). The
 * namespaces starting with '_' are tern's own (users, tokens, sessions): not reachable here. */
static int kv_begin(WebCtx *c) {
        _cleanup_free_ char *dir = NULL;
        const char *ns = c->params[0], *key = c->params[1];
        int r = storage_key_namespace_file(ns, NULL, &dir);
        if (r == -ENOMEM)
                return web_reply_error(c, 500, "out of memory"), -1;
        if (r < 0 || api_kv_namespace_reserved(ns))
                return web_reply_error(c, 422, "'%s' is not a valid namespace", ns), -1;
        if (key && !kv_key_valid(key))
                return web_reply_error(c, 422,
                                       "'%s' is not a valid key (letters, digits, '.', '_' and '-', "
                                       "starting with a letter or digit, at most 255)",
                                       key),
                       -1;
        return 0;
}

static bool all_digits(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!is_digit(s[i]))
                        return false;
        return true;
}

/* Kestra's KVType of a stored value: strings that read as a date, a date-time or a duration are
 * those (the UI's editor stores them as such). */
static const char *kv_type(json_t *v) {
        if (json_is_number(v))
                return "NUMBER";
        if (json_is_boolean(v))
                return "BOOLEAN";
        if (!json_is_string(v))
                return "JSON";
        const char *s = json_string_value(v);
        usec_t t;
        susec_t d;
        if (strlen(s) == 10 && all_digits(s, 4) && s[4] == '-' && all_digits(s + 5, 2) && s[7] == '-' &&
            all_digits(s + 8, 2))
                return "DATE";
        if (strlen(s) > 10 && timestamp_parse(s, 0, &t) == 0)
                return "DATETIME";
        if ((s[0] == 'P' || (s[0] == '-' && s[1] == 'P')) && duration_parse(s, &d) == 0)
                return "DURATION";
        return "STRING";
}

int web_api_kv_list(WebCtx *c) {
        _cleanup_json_ json_t *keys = NULL, *arr = json_array();
        StoreTx *tx;
        if (!arr)
                return web_reply_error(c, 500, "out of memory");
        if (kv_begin(c) < 0)
                return 0;
        int r = store_begin(c->store, &tx);
        if (r < 0)
                return web_reply_store_error(c, r);
        r = store_kv_list(tx, c->params[0], now_realtime(), &keys);
        store_rollback(tx);
        if (r < 0)
                return web_reply_store_error(c, r);
        size_t i;
        json_t *k;
        json_array_foreach (keys, i, k)
                if (json_array_append_new(arr, json_pack("{s:O}", "key", k)) < 0)
                        return web_reply_error(c, 500, "out of memory");
        return web_reply_json(c, 200, TAKE_PTR(arr));
}

int web_api_kv_get(WebCtx *c) {
        _cleanup_json_ json_t *v = NULL;
        StoreTx *tx;
        if (kv_begin(c) < 0)
                return 0;
        int r = store_begin(c->store, &tx);
        if (r < 0)
                return web_reply_store_error(c, r);
        r = store_kv_get(tx, c->params[0], c->params[1], now_realtime(), &v);
        store_rollback(tx);
        if (r == -ENOENT)
                return web_reply_error(c, 404, "no key '%s' in namespace '%s'", c->params[1], c->params[0]);
        if (r < 0)
                return web_reply_store_error(c, r);
        return web_reply_json(c, 200, json_pack("{s:s, s:O}", "type", kv_type(v), "value", v));
}

typedef struct KvPut {
        const char *ns, *key;
        json_t *value;
        usec_t expires;
        unsigned attempts;
} KvPut;

static int kv_put_tx(StoreTx *tx, void *userdata) {
        KvPut *p = userdata;
        return store_kv_put(tx, p->ns, p->key, p->value, p->expires, now_realtime());
}

static int kv_delete_tx(StoreTx *tx, void *userdata) {
        KvPut *p = userdata;
        bool rerun = p->attempts++ > 0;
        int r = store_kv_delete(tx, p->ns, p->key);
        /* Gone on a rerun: deleted by an earlier attempt whose COMMIT went through unanswered. */
        return r == -ENOENT && rerun ? 0 : r;
}

/* PUT .../kv/{key}: the body is the value, as Kestra reads it: JSON when it parses as JSON (so
 * "\"text\"", 12, true, {...}), else the text itself; an optional "ttl" header (ISO-8601 duration). */
int web_api_kv_put(WebCtx *c) {
        const char *ttl = web_header(c, "ttl");
        susec_t d = 0;
        if (kv_begin(c) < 0)
                return 0;
        if (!isempty(ttl) && (duration_parse(ttl, &d) < 0 || d <= 0))
                return web_reply_error(c, 400, "the ttl header '%s' is not a positive ISO-8601 duration (PT1H, P7D)",
                                       ttl);
        _cleanup_json_ json_t *v = json_loadb(c->body, c->body_len, JSON_DECODE_ANY, NULL);
        if (!v)
                v = json_stringn(c->body, c->body_len);
        if (!v)
                return web_reply_error(c, 422, "the value is not UTF-8 text");
        KvPut p = { c->params[0], c->params[1], v, d > 0 ? now_realtime() + (usec_t) d : 0, 0 };
        int r = store_transact(c->store, kv_put_tx, &p);
        if (r < 0)
                return web_reply_store_error(c, r);
        c->status = 200;
        c->content_type = NULL;
        return 0;
}

int web_api_kv_delete(WebCtx *c) {
        if (kv_begin(c) < 0)
                return 0;
        KvPut p = { c->params[0], c->params[1], NULL, 0, 0 };
        int r = store_transact(c->store, kv_delete_tx, &p);
        if (r == -ENOENT)
                return web_reply_error(c, 404, "no key '%s' in namespace '%s'", c->params[1], c->params[0]);
        if (r < 0)
                return web_reply_store_error(c, r);
        c->status = 204;
        c->content_type = NULL;
        return 0;
}
