/* web-webhook.c: a Webhook trigger's HTTP side: the trigger a key opens, the call as trigger variables, the reply. */
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup-jansson.h"
#include "strutil.h"
#include "web-internal.h"

/* Comparing digests rather than the keys: the time taken depends on neither key's length nor on
 * where they differ, and every Webhook trigger of the flow is compared. */
const Trigger *web_webhook_find(const Flow *f, const char *key) {
        unsigned char want[EVP_MAX_MD_SIZE], have[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        const Trigger *found = NULL;

        if (!EVP_Digest(key, strlen(key), want, &n, EVP_sha256(), NULL))
                return NULL;
        for (size_t i = 0; i < f->n_triggers; i++) {
                const Trigger *t = &f->triggers[i];
                const char *k = json_string_value(json_object_get(t->properties, "key"));
                if (!t->def || !streq(t->def->name, "Webhook") || !k)
                        continue;
                unsigned m = 0;
                if (!EVP_Digest(k, strlen(k), have, &m, EVP_sha256(), NULL) || m != n)
                        continue;
                if (CRYPTO_memcmp(want, have, n) == 0 && !t->disabled)
                        found = t;
        }
        return found;
}

bool web_webhook_property(const Trigger *t, const char *name) {
        return json_is_true(json_object_get(t->properties, name));
}

static bool is_json_type(const char *ct) {
        if (!ct)
                return false;
        size_t n = strcspn(ct, ";");
        while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
                n--;
        return (n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
               (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0);
}

int web_webhook_body(const char *body, size_t len, const char *content_type, json_t **ret) {
        json_t *v;

        if (len == 0) {
                *ret = json_null();
                return 0;
        }
        /* JSON when it is (any value when the sender says it is JSON, else an object or an array,
         * as Kestra has it), else the text. */
        v = json_loadb(body, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
        if (v && (json_is_object(v) || json_is_array(v) || is_json_type(content_type))) {
                *ret = v;
                return 0;
        }
        json_decref(v);
        /* Text is what has no NUL byte and is UTF-8 (jansson checks); anything else is passed on
         * base64-encoded, as Kestra does with a binary body. */
        if (!memchr(body, 0, len) && (v = json_stringn(body, len))) {
                *ret = v;
                return 0;
        }
        if (len > (size_t) INT_MAX / 4 * 3)
                return -E2BIG;
        _cleanup_free_ unsigned char *b64 = malloc((len + 2) / 3 * 4 + 1);
        if (!b64)
                return -ENOMEM;
        int n = EVP_EncodeBlock(b64, (const unsigned char *) body, (int) len);
        if (n < 0 || !(v = json_stringn((const char *) b64, (size_t) n)))
                return -ENOMEM;
        *ret = v;
        return 0;
}

static enum MHD_Result add_value(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        json_t *o = cls;
        (void) kind;
        /* The caller's credentials are not the flow's business. */
        if (!key || strcasecmp(key, "Authorization") == 0 || strcasecmp(key, "Cookie") == 0)
                return MHD_YES;
        json_t *list = json_object_get(o, key);
        if (!list) {
                list = json_array();
                if (json_object_set_new(o, key, list) < 0)
                        return MHD_NO;
        }
        json_array_append_new(list, json_string(value ? value : ""));
        return MHD_YES;
}

int web_webhook_variables(WebCtx *c, json_t **ret) {
        _cleanup_json_ json_t *body = NULL, *headers = json_object(), *params = json_object();
        int r = web_webhook_body(c->body, c->body_len, web_header(c, "Content-Type"), &body);
        if (r < 0)
                return r;
        if (!headers || !params)
                return -ENOMEM;
        MHD_get_connection_values(c->con, MHD_HEADER_KIND, add_value, headers);
        MHD_get_connection_values(c->con, MHD_GET_ARGUMENT_KIND, add_value, params);
        json_t *v = json_pack("{s:O, s:O, s:O}", "body", body, "headers", headers, "parameters", params);
        if (!v)
                return -ENOMEM;
        *ret = v;
        return 0;
}

int web_webhook_reply(WebCtx *c, const Trigger *hook, json_t *doc, bool waited, bool ended) {
        /* Only what the trigger's author chose to return: the outputs of an ended execution with
         * returnOutputs, else which execution it is and where it stands (Kestra's fields). */
        if (waited && ended && web_webhook_property(hook, "returnOutputs")) {
                json_t *out = json_object_get(doc, "outputs");
                return web_reply_json(c, 200, json_is_object(out) ? json_incref(out) : json_object());
        }
        json_t *reply = json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?}", "id", json_object_get(doc, "id"), "namespace",
                                  json_object_get(doc, "namespace"), "flowId", json_object_get(doc, "flowId"),
                                  "flowRevision", json_object_get(doc, "flowRevision"), "state",
                                  json_object_get(doc, "state"));
        /* 202: still running when the longest wait was over. */
        return web_reply_json(c, waited && !ended ? 202 : 200, reply);
}
