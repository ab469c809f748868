/* web-webhook.c: a Webhook trigger's HTTP side: the trigger a key opens, the call as trigger variables, the reply. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "key.h"
#include "log.h"
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
        _cleanup_json_ json_t *body = NULL, *headers = json_object(), *params = json_object(), *v = NULL;
        int r;
        /* A multipart/form-data body was parsed as it arrived (web-server.c): no body, as in Kestra,
         * but its fields (name -> list of values) and its file parts (web_webhook_store). */
        if (c->form_files)
                body = json_null();
        else if ((r = web_webhook_body(c->body, c->body_len, web_header(c, "Content-Type"), &body)) < 0)
                return r;
        if (!headers || !params)
                return -ENOMEM;
        MHD_get_connection_values(c->con, MHD_HEADER_KIND, add_value, headers);
        MHD_get_connection_values(c->con, MHD_GET_ARGUMENT_KIND, add_value, params);
        if (!(v = json_pack("{s:O, s:O, s:O}", "body", body, "headers", headers, "parameters", params)))
                return -ENOMEM;
        if (c->form_files && (json_object_set_new(v, "formFields", json_deep_copy(c->form_fields)) < 0 ||
                              json_object_set_new(v, "parts", json_array()) < 0))
                return -ENOMEM;
        *ret = TAKE_PTR(v);
        return 0;
}

/* Kestra's fetchType, for a body that is not multipart/form-data (whose file parts are always stored). */
typedef enum WebhookFetch {
        WEBHOOK_FETCH, /* trigger.body */
        WEBHOOK_STORE, /* trigger.uri */
        WEBHOOK_NONE,  /* dropped */
} WebhookFetch;

static WebhookFetch fetch_type(const Trigger *t) {
        const char *v = json_string_value(json_object_get(t->properties, "fetchType"));
        return v && streq(v, "STORE") ? WEBHOOK_STORE : v && streq(v, "NONE") ? WEBHOOK_NONE : WEBHOOK_FETCH;
}

typedef struct BodyReader {
        const char *data;
        size_t left;
} BodyReader;

static ssize_t body_read(void *userdata, void *buf, size_t n) {
        BodyReader *b = userdata;
        n = MIN(n, b->left);
        memcpy(buf, b->data, n);
        b->data += n;
        b->left -= n;
        return (ssize_t) n;
}

/* Store one file of the call under the execution's trigger/ directory: from fd, or from the
 * request's body when fd < 0. Its URI goes to *ret_uri and to *stored. */
static int store_one(WebCtx *c, Storage *s, const Flow *f, const Trigger *hook, const char *exec_id, const char *file,
                     int fd, char ***stored, char **ret_uri) {
        _cleanup_free_ char *key = NULL, *uri = NULL;
        int r = storage_key_trigger_file(f->namespace, f->id, exec_id, hook->id, file, &key);
        if (r < 0)
                return r;
        BodyReader b = { c->body, c->body_len };
        r = fd >= 0 ? storage_put_fd(s, key, fd) : storage_put(s, key, body_read, &b);
        if (r < 0) {
                log_warning("webserver: cannot store '%s' of webhook '%s' of flow '%s.%s': %s", file, hook->id,
                            f->namespace, f->id, r == -ENOMEM ? strerror(-r) : storage_error(s));
                return r;
        }
        if (!(uri = storage_key_to_uri(key)) || strv_extend(stored, uri) < 0)
                return -ENOMEM;
        *ret_uri = TAKE_PTR(uri);
        return 0;
}

/* A part's file name as a key's last segment: its base name, else the part's name, else "file". */
static int part_file(size_t i, const char *filename, const char *name, char **ret) {
        const char *base = filename ? strrchr(filename, '/') : NULL;
        base = base ? base + 1 : filename;
        const char *try[] = { base, name, "file" };
        for (size_t k = 0; k < ELEMENTSOF(try); k++) {
                if (isempty(try[k]) || strchr(try[k], '/') || strchr(try[k], '\\'))
                        continue;
                _cleanup_free_ char *file = NULL;
                if (asprintf(&file, "%zu/%s", i, try[k]) < 0)
                        return -ENOMEM;
                if (strlen(try[k]) <= STORAGE_SEGMENT_MAX && !storage_key_invalid(file)) {
                        *ret = TAKE_PTR(file);
                        return 0;
                }
        }
        return -EINVAL;
}

int web_webhook_store(WebCtx *c, const Flow *f, const Trigger *hook, const char *exec_id, json_t *vars, char ***stored) {
        WebhookFetch ft = fetch_type(hook);
        Storage *s = NULL;
        size_t i;
        json_t *p;
        int r;

        if (!c->form_files) {
                if (ft == WEBHOOK_FETCH)
                        return 0;
                /* STORE and NONE: the body does not travel through the execution. */
                if (json_object_set_new(vars, "body", json_null()) < 0)
                        return web_reply_error(c, 500, "out of memory"), -ENOMEM;
                if (ft == WEBHOOK_NONE || c->body_len == 0)
                        return 0;
        }
        if ((r = web_storage(c, &s)) < 0)
                return r == -ENOTSUP ? web_reply_error(c, 415, "this server has no internal storage for the webhook's body")
                                     : web_reply_error(c, 500, "the internal storage cannot be used"), r;
        if (!c->form_files) {
                _cleanup_free_ char *uri = NULL;
                if ((r = store_one(c, s, f, hook, exec_id, "body", -1, stored, &uri)) < 0)
                        return web_reply_error(c, 500, "the webhook's body could not be stored"), r;
                if (json_object_set_new(vars, "uri", json_string(uri)) < 0)
                        return web_reply_error(c, 500, "out of memory"), -ENOMEM;
                return 0;
        }
        json_t *parts = json_object_get(vars, "parts");
        json_array_foreach(c->form_files, i, p) {
                const char *name = json_string_value(json_object_get(p, "name"));
                const char *filename = json_string_value(json_object_get(p, "filename"));
                _cleanup_free_ char *file = NULL, *uri = NULL;
                struct stat st;
                if ((r = part_file(i, filename, name, &file)) < 0)
                        return web_reply_error(c, r == -ENOMEM ? 500 : 400, "part '%s' cannot name a file", name), r;
                _cleanup_close_ int fd = open(json_string_value(json_object_get(p, "path")), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0 || fstat(fd, &st) < 0)
                        return web_reply_error(c, 500, "the uploaded part '%s' could not be stored", name), -errno;
                if ((r = store_one(c, s, f, hook, exec_id, file, fd, stored, &uri)) < 0)
                        return web_reply_error(c, 500, "the uploaded part '%s' could not be stored", name), r;
                json_t *one = json_pack("{s:s, s:s, s:O, s:I, s:s}", "name", name, "filename", filename, "contentType",
                                        json_object_get(p, "contentType") ?: json_null(), "size",
                                        (json_int_t) st.st_size, "uri", uri);
                if (json_array_append_new(parts, one) < 0)
                        return web_reply_error(c, 500, "out of memory"), -ENOMEM;
        }
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
