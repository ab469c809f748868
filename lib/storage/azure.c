/* azure.c: the Azure Blob backend: SharedKey (HMAC-SHA256 of our own) or SAS token authentication,
 * block blobs with staged blocks for large objects. */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "key.h"
#include "storage-http.h"
#include "storage-xml.h"
#include "strbuf.h"
#include "strutil.h"

#define API_VERSION "2021-12-02"
#define BLOCKS_MAX 50000u

typedef struct Azure {
        Http *http;
        char *account;
        char *container;
        char *prefix;        /* "" or "PREFIX/" */
        char *endpoint;      /* scheme://host[:port][/path]: the account's blob service */
        unsigned char key[128];
        int key_len;         /* > 0: SharedKey */
        char *sas;           /* SAS token, without '?' */
} Azure;

static Azure *A(Storage *s) {
        return s->data;
}

static void azure_free(Storage *s) {
        Azure *a = A(s);
        if (!a)
                return;
        http_free(a->http);
        free(a->account);
        free(a->container);
        free(a->prefix);
        free(a->endpoint);
        explicit_bzero(a->key, sizeof a->key);
        if (a->sas)
                explicit_bzero(a->sas, strlen(a->sas));
        free(a->sas);
        free(a);
}

static char *where(Storage *s, const char *op, const char *key) {
        Azure *a = A(s);
        if (!key)
                return strdup_printf("azure: cannot %s container '%s' at %s", op, a->container, a->endpoint);
        return strdup_printf("azure: cannot %s '%s' (container '%s'%s%s at %s)", op, key, a->container,
                             *a->prefix ? ", prefix " : "", a->prefix, a->endpoint);
}

/* The URL of key (NULL: the container) with query (encoded; may be NULL). */
static char *blob_url(Azure *a, const char *key, const char *query) {
        _cleanup_free_ char *full = key ? strjoin(a->prefix, key) : NULL;
        _cleanup_free_ char *enc = full ? http_encode(full, true) : NULL;
        if (key && !enc)
                return NULL;
        bool q = query || a->sas;
        return strjoin(a->endpoint, "/", a->container, enc ? "/" : "", strempty(enc), q ? "?" : "", strempty(query),
                       query && a->sas ? "&" : "", a->sas ? a->sas : "");
}

/* ---- SharedKey ----------------------------------------------------------------------------- */

typedef struct Pair {
        char *name, *value;
} Pair;

static int cmp_pair(const void *x, const void *y) {
        return strcmp(((const Pair *) x)->name, ((const Pair *) y)->name);
}

static int cmp_str(const void *x, const void *y) {
        return strcmp(*(char *const *) x, *(char *const *) y);
}

static void pairs_free(Pair *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(p[i].name);
                free(p[i].value);
        }
        free(p);
}

static const char *find_header(const struct curl_slist *l, const char *name) {
        size_t n = strlen(name);
        for (; l; l = l->next)
                if (strncasecmp(l->data, name, n) == 0 && l->data[n] == ':') {
                        const char *v = l->data + n + 1;
                        while (*v == ' ')
                                v++;
                        return v;
                }
        return "";
}

static int sign_shared_key(void *userdata, CURL *c, const HttpCall *call, struct curl_slist **headers) {
        Azure *a = userdata;
        char date[64], hdate[80];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        snprintf(hdate, sizeof hdate, "x-ms-date: %s", date);
        struct curl_slist *l = curl_slist_append(*headers, hdate);
        if (!l)
                return -ENOMEM;
        *headers = l;

        /* x-ms-* headers: lower case, sorted, "name:value\n". */
        size_t n = 0, cap = 0;
        Pair *hs = NULL;
        int r = 0;
        for (const struct curl_slist *h = *headers; h && r >= 0; h = h->next) {
                if (strncasecmp(h->data, "x-ms-", 5) != 0)
                        continue;
                const char *colon = strchr(h->data, ':');
                if (!colon)
                        continue;
                if (n == cap) {
                        Pair *p = reallocarray(hs, cap = cap ? cap * 2 : 8, sizeof *p);
                        if (!p) {
                                r = -ENOMEM;
                                break;
                        }
                        hs = p;
                }
                const char *v = colon + 1;
                while (*v == ' ')
                        v++;
                hs[n].name = strndup(h->data, (size_t) (colon - h->data));
                hs[n].value = strdup(v);
                if (!hs[n++].name || !hs[n - 1].value)
                        r = -ENOMEM;
                else
                        for (char *p = hs[n - 1].name; *p; p++)
                                *p = (char) (*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        }
        _cleanup_strbuf_ StrBuf sts = STRBUF_INIT;
        if (r >= 0) {
                qsort(hs, n, sizeof *hs, cmp_pair);
                char len[32] = "";
                if (call->body_len > 0)
                        snprintf(len, sizeof len, "%zu", call->body_len);
                strbuf_appendf(&sts, "%s\n%s\n%s\n%s\n%s\n%s\n\n%s\n%s\n%s\n%s\n%s\n", call->method,
                               find_header(*headers, "Content-Encoding"), find_header(*headers, "Content-Language"), len,
                               find_header(*headers, "Content-MD5"), find_header(*headers, "Content-Type"),
                               find_header(*headers, "If-Modified-Since"), find_header(*headers, "If-Match"),
                               find_header(*headers, "If-None-Match"), find_header(*headers, "If-Unmodified-Since"),
                               find_header(*headers, "Range"));
                for (size_t i = 0; i < n; i++)
                        strbuf_appendf(&sts, "%s:%s\n", hs[i].name, hs[i].value);
        }
        pairs_free(hs, n);
        if (r < 0)
                return r;

        /* The resource: /ACCOUNT/PATH, then each parameter, sorted, decoded. */
        const char *url = strstr(call->url, "://") + 3, *path = strchr(url, '/');
        const char *q = path ? strchr(path, '?') : NULL;
        if (!path)
                return -EINVAL;
        strbuf_appendf(&sts, "/%s%.*s", a->account, (int) (q ? (size_t) (q - path) : strlen(path)), path);
        _cleanup_strv_free_ char **params = NULL;
        for (const char *p = q ? q + 1 : NULL; p && *p;) {
                size_t pn = strcspn(p, "&"), kn = MIN(strcspn(p, "="), pn);
                char *k = curl_easy_unescape(c, p, (int) kn, NULL);
                char *v = kn < pn ? curl_easy_unescape(c, p + kn + 1, (int) (pn - kn - 1), NULL) : NULL;
                if (k)
                        for (char *x = k; *x; x++)
                                *x = (char) (*x >= 'A' && *x <= 'Z' ? *x - 'A' + 'a' : *x);
                char *line = k ? strjoin(k, ":", v ?: "") : NULL;
                curl_free(k);
                curl_free(v);
                if (!line || strv_consume(&params, line) < 0)
                        return -ENOMEM;
                p += pn + (p[pn] == '&');
        }
        size_t np = strv_length(params);
        if (np > 0)
                qsort(params, np, sizeof(char *), cmp_str);
        for (size_t i = 0; i < np; i++)
                strbuf_appendf(&sts, "\n%s", params[i]);
        if (sts.error)
                return -ENOMEM;

        unsigned char mac[32];
        unsigned maclen = 0;
        if (!HMAC(EVP_sha256(), a->key, a->key_len, (const unsigned char *) sts.buf, sts.len, mac, &maclen))
                return -EIO;
        char b64[64];
        EVP_EncodeBlock((unsigned char *) b64, mac, (int) maclen);
        _cleanup_free_ char *auth = strdup_printf("Authorization: SharedKey %s:%s", a->account, b64);
        l = auth ? curl_slist_append(*headers, auth) : NULL;
        if (!l)
                return -ENOMEM;
        *headers = l;
        return 0;
}

/* ---- requests ------------------------------------------------------------------------------ */

/* The body at body or (when not NULL) from file. */
static int request_on(Storage *s, Http *h, const char *method, const char *key, const char *query,
                      const char *const *headers, const void *body, const HttpFileBody *file, size_t body_len,
                      StorageWriteFn sink, void *sink_userdata, HttpResult *res, const char *what) {
        Azure *a = A(s);
        _cleanup_free_ char *url = blob_url(a, key, query);
        if (!url)
                return storage_fail(s, -ENOMEM, "%s: out of memory", what);
        const char *hs[8] = { "x-ms-version: " API_VERSION };
        size_t n = 1;
        for (const char *const *p = headers; p && *p && n < ELEMENTSOF(hs) - 1; p++)
                hs[n++] = *p;
        hs[n] = NULL;
        HttpCall call = {
                .method = method,
                .url = url,
                .headers = hs,
                .body = body,
                .file = file,
                .body_len = body_len,
                .sink = sink,
                .sink_userdata = sink_userdata,
                .sign = a->key_len > 0 ? sign_shared_key : NULL,
                .sign_userdata = a,
        };
        return http_perform(h, &call, res, what);
}

/* One request over the handle's own connection. */
static int request(Storage *s, const char *method, const char *key, const char *query, const char *const *headers,
                   const void *body, size_t body_len, StorageWriteFn sink, void *sink_userdata, HttpResult *res,
                   const char *what) {
        return request_on(s, A(s)->http, method, key, query, headers, body, NULL, body_len, sink, sink_userdata, res,
                          what);
}

static const HttpService azure_service = {
        .request = request,
        .no_container_code = "ContainerNotFound",
        .no_container_hint = " (the container does not exist)",
        .auth_hint = " (check the account key or the SAS token)",
};

static int simple(Storage *s, const char *method, const char *key, const char *query, const char *const *headers,
                  const void *body, size_t len, long ok1, long ok2, const char *what, HttpResult *keep) {
        return http_simple(s, &azure_service, method, key, query, headers, body, len, ok1, ok2, what, keep);
}

static int azure_check(Storage *s) {
        _cleanup_free_ char *what = where(s, "use", NULL);
        return what ? simple(s, "GET", NULL, "comp=list&maxresults=1&restype=container", NULL, NULL, 0, 200, 200, what, NULL)
                    : -ENOMEM;
}

/* ---- put ----------------------------------------------------------------------------------- */

/* Block ids: of one length per blob, base64. */
static void block_id(unsigned part, char id[static 64]) {
        char raw[32];
        int rl = snprintf(raw, sizeof raw, "tern-%010u", part - 1);
        EVP_EncodeBlock((unsigned char *) id, (const unsigned char *) raw, rl);
}

/* What the blocks of one blob share. */
typedef struct Blocks {
        const char *key;
        const char *what;
        StrBuf list; /* the Put Block List body, block by block */
} Blocks;

static int put_block(Storage *s, Http *h, unsigned part, const char *buf, const HttpFileBody *file, size_t n,
                     void *userdata, char **ret_tag) {
        const Blocks *bl = userdata;
        const char *key = bl->key, *what = bl->what;
        char id[64];
        block_id(part, id);
        _cleanup_free_ char *enc = http_encode(id, false);
        _cleanup_free_ char *q = enc ? strjoin("blockid=", enc, "&comp=block") : NULL;
        if (!q)
                return storage_fail(s, -ENOMEM, "%s: out of memory", what);
        HttpResult res;
        int r = request_on(s, h, "PUT", key, q, NULL, buf, file, n, NULL, NULL, &res, what);
        if (r >= 0 && res.status != 201)
                r = http_status_error(s, &azure_service, &res, what);
        http_result_done(&res);
        return r;
}

static int block_done(Storage *s, unsigned part, char *tag, void *userdata) {
        StrBuf *list = &((Blocks *) userdata)->list;
        char id[64];
        free(tag);
        block_id(part, id);
        strbuf_appendf(list, "<Latest>%s</Latest>", id);
        return list->error ? -ENOMEM : 0;
}

static void blocks_done(Blocks *bl) {
        strbuf_done(&bl->list);
}

static const char *const block_blob[] = { "x-ms-blob-type: BlockBlob", NULL };

/* Staged blocks are invisible until the block list commits them (and collected if never),
 * parts_in_flight staged at a time: from buf (n bytes, a full block) and fn, or (fn NULL) size
 * bytes of file in blocks of part_size. */
static int put_blocks(Storage *s, const char *key, char *buf, size_t n, StorageReadFn fn, void *userdata,
                      const HttpFileBody *file, uint64_t size, uint64_t part_size, const char *what) {
        _cleanup_(blocks_done) Blocks bl = { .key = key, .what = what, .list = STRBUF_INIT };
        StrBuf *list = &bl.list;
        strbuf_append(list, "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        int r = fn ? http_upload_parts(s, buf, n, fn, userdata, BLOCKS_MAX, put_block, block_done, &bl, what)
                   : http_upload_file_parts(s, file->fd, file->off, size, part_size, BLOCKS_MAX, put_block, block_done,
                                            &bl, what);
        if (r < 0)
                return r;
        strbuf_append(list, "</BlockList>");
        if (list->error)
                return -ENOMEM;
        static const char *const xml[] = { "Content-Type: application/xml", NULL };
        return simple(s, "PUT", key, "comp=blocklist", xml, list->buf, list->len, 201, 201, what, NULL);
}

static int azure_put(Storage *s, const char *key, StorageReadFn fn, void *userdata) {
        _cleanup_free_ char *what = where(s, "write", key);
        _cleanup_free_ char *buf = malloc(s->part_size);
        if (!what || !buf)
                return storage_fail(s, -ENOMEM, "azure: out of memory");
        ssize_t n = storage_fill(fn, userdata, buf, s->part_size);
        if (n < 0)
                return storage_fail(s, (int) n, "%s: reading its content failed: %s", what, strerror((int) -n));
        if ((size_t) n < s->part_size)
                return simple(s, "PUT", key, NULL, block_blob, buf, (size_t) n, 201, 201, what, NULL);
        return put_blocks(s, key, buf, (size_t) n, fn, userdata, NULL, 0, 0, what);
}

static int azure_put_file(Storage *s, const char *key, int fd, uint64_t off, uint64_t size) {
        _cleanup_free_ char *what = where(s, "write", key);
        if (!what)
                return storage_fail(s, -ENOMEM, "azure: out of memory");
        uint64_t part_size = storage_file_part_size(s, size, BLOCKS_MAX);
        HttpFileBody file = { .fd = fd, .off = off };
        if (size > part_size)
                return put_blocks(s, key, NULL, 0, NULL, NULL, &file, size, part_size, what);
        /* Up to one block: one Put Blob, streamed from the file all the same. */
        HttpResult res;
        int r = request_on(s, A(s)->http, "PUT", key, NULL, block_blob, NULL, &file, (size_t) size, NULL, NULL, &res, what);
        if (r >= 0 && res.status != 201)
                r = http_status_error(s, &azure_service, &res, what);
        http_result_done(&res);
        return r;
}

/* ---- get, stat, list ----------------------------------------------------------------------- */

static int azure_get(Storage *s, const char *key, StorageWriteFn fn, void *userdata) {
        _cleanup_free_ char *what = where(s, "read", key);
        return what ? http_object_get(s, &azure_service, key, fn, userdata, what) : -ENOMEM;
}

static int azure_stat(Storage *s, const char *key, StorageObject *ret) {
        _cleanup_free_ char *what = where(s, "stat", key);
        return what ? http_object_stat(s, &azure_service, key, ret, what) : -ENOMEM;
}

typedef struct ListParse {
        Azure *a;
        StorageList *list;
        size_t cap;
        char *next;
} ListParse;

static int on_list(void *userdata, const char *path, const char *text) {
        ListParse *p = userdata;
        StorageList *l = p->list;
        if (streq(path, "EnumerationResults/Blobs/Blob/Name")) {
                const char *rel = startswith(text, p->a->prefix);
                if (!rel)
                        return -EBADMSG;
                return storage_list_push(l, &p->cap, rel) ? 0 : -ENOMEM;
        }
        const char *field = startswith(path, "EnumerationResults/Blobs/Blob/Properties/");
        if (field && l->n > 0) {
                StorageObject *o = &l->objects[l->n - 1];
                if (streq(field, "Content-Length"))
                        (void) safe_atou64(text, &o->size);
                else if (streq(field, "Last-Modified")) {
                        time_t t = curl_getdate(text, NULL);
                        o->mtime = t > 0 ? (usec_t) t * USEC_PER_SEC : 0;
                } else if (streq(field, "Etag")) {
                        free(o->etag);
                        if (!(o->etag = storage_etag_unquote(text)))
                                return -ENOMEM;
                }
        } else if (streq(path, "EnumerationResults/NextMarker") && *text) {
                free(p->next);
                if (!(p->next = strdup(text)))
                        return -ENOMEM;
        }
        return 0;
}

static int azure_list(Storage *s, const char *prefix, const char *token, size_t max, StorageList *ret) {
        Azure *a = A(s);
        _cleanup_free_ char *what = where(s, "list", prefix);
        _cleanup_free_ char *full = strjoin(a->prefix, prefix, *prefix ? "/" : "");
        _cleanup_free_ char *enc_prefix = full ? http_encode(full, false) : NULL;
        _cleanup_free_ char *enc_token = token ? http_encode(token, false) : NULL;
        if (!what || !enc_prefix || (token && !enc_token))
                return -ENOMEM;
        _cleanup_free_ char *q = strdup_printf("comp=list&restype=container&maxresults=%zu&prefix=%s%s%s", MIN(max, (size_t) 5000),
                                               enc_prefix, token ? "&marker=" : "", strempty(enc_token));
        if (!q)
                return -ENOMEM;
        HttpResult res;
        int r = simple(s, "GET", NULL, q, NULL, NULL, 0, 200, 200, what, &res);
        if (r < 0)
                return r;
        ListParse p = { .a = a, .list = ret };
        r = xml_walk(res.body, res.body_len, on_list, &p);
        http_result_done(&res);
        if (r < 0) {
                free(p.next);
                return storage_fail(s, r, "%s: the service's listing cannot be read: %s", what, strerror(-r));
        }
        ret->next = p.next;
        return 0;
}

/* ---- delete, move -------------------------------------------------------------------------- */

static int delete_one(Storage *s, const char *key, const char *what) {
        int r = simple(s, "DELETE", key, NULL, NULL, NULL, 0, 202, 200, what, NULL);
        return r == -ENOENT ? 0 : r; /* gone already: what was asked */
}

static int azure_delete(Storage *s, const char *key) {
        _cleanup_free_ char *what = where(s, "delete", key);
        return what ? delete_one(s, key, what) : -ENOMEM;
}

static int delete_each(Storage *s, const StorageList *l, const char *what) {
        int r = 0;
        for (size_t i = 0; r >= 0 && i < l->n; i++)
                r = delete_one(s, l->objects[i].key, what);
        return r;
}

static int azure_delete_prefix(Storage *s, const char *prefix) {
        _cleanup_free_ char *what = where(s, "delete below", prefix);
        return what ? storage_delete_listed(s, prefix, 1000, delete_each, what) : -ENOMEM;
}

static int azure_move(Storage *s, const char *from, const char *to) {
        Azure *a = A(s);
        _cleanup_free_ char *what = strdup_printf("azure: cannot move '%s' to '%s' (container '%s' at %s)", from, to,
                                                  a->container, a->endpoint);
        _cleanup_free_ char *src = blob_url(a, from, NULL);
        _cleanup_free_ char *h = src ? strjoin("x-ms-copy-source: ", src) : NULL;
        if (!what || !h)
                return -ENOMEM;
        const char *hs[] = { h, NULL };
        HttpResult res;
        int r = simple(s, "PUT", to, NULL, hs, NULL, 0, 202, 201, what, &res);
        if (r < 0)
                return r;
        /* Copy Blob may finish later (another account, a large blob): wait for it, bounded. */
        for (unsigned i = 0; r >= 0 && res.copy_status && streq(res.copy_status, "pending"); i++) {
                http_result_done(&res);
                if (i >= 600) {
                        r = storage_fail(s, -ETIMEDOUT, "%s: the copy did not finish in 5 minutes", what);
                        break;
                }
                struct timespec ts = { 0, 500 * 1000 * 1000 };
                nanosleep(&ts, NULL);
                r = simple(s, "HEAD", to, NULL, NULL, NULL, 0, 200, 200, what, &res);
        }
        if (r >= 0 && res.copy_status && !streq(res.copy_status, "success"))
                r = storage_fail(s, -EIO, "%s: the copy ended '%s'", what, res.copy_status);
        if (r >= 0)
                http_result_done(&res);
        if (r < 0)
                return r;
        return delete_one(s, from, what);
}

static const StorageBackendOps azure_ops = {
        .free = azure_free,
        .check = azure_check,
        .put = azure_put,
        .put_file = azure_put_file,
        .get = azure_get,
        .stat = azure_stat,
        .list = azure_list,
        .delete = azure_delete,
        .delete_prefix = azure_delete_prefix,
        .move = azure_move,
};

/* ---- open ---------------------------------------------------------------------------------- */

int storage_azure_open(Storage *s, const StorageUrl *u, const StorageOptions *opt, char **ret_error) {
        static const char *const params[] = { "endpoint", NULL };
        const char *bad = storage_url_unknown_param(u, params);
        if (bad) {
                *ret_error = strdup_printf("storage URL '%s': unknown parameter '%s' (endpoint)", u->url, bad);
                return -EINVAL;
        }
        bool ok = strlen(u->host) >= 3 && strlen(u->host) <= 24;
        for (const char *p = u->host; ok && *p; p++)
                ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9');
        if (!ok) {
                *ret_error = strdup_printf("storage URL '%s': '%s' is not a storage account name (3 to 24 of a-z, 0-9)", u->url, u->host);
                return -EINVAL;
        }
        size_t cl = strcspn(u->path, "/");
        ok = cl >= 3 && cl <= 63;
        for (size_t i = 0; ok && i < cl; i++)
                ok = (u->path[i] >= 'a' && u->path[i] <= 'z') || (u->path[i] >= '0' && u->path[i] <= '9') || u->path[i] == '-';
        if (!ok) {
                *ret_error = strdup_printf("storage URL '%s': no container name (azure://ACCOUNT/CONTAINER/PREFIX; 3 to 63 of a-z, 0-9, '-')", u->url);
                return -EINVAL;
        }
        const char *prefix = u->path[cl] ? u->path + cl + 1 : "";
        if (*prefix && storage_key_invalid(prefix)) {
                *ret_error = strdup_printf("storage URL '%s': the prefix '%s' is not a valid path", u->url, prefix);
                return -EINVAL;
        }
        const char *endpoint = storage_url_param(u, "endpoint");
        if (endpoint && !startswith(endpoint, "http://") && !startswith(endpoint, "https://")) {
                *ret_error = strdup_printf("storage URL '%s': the endpoint '%s' is not an http:// or https:// URL", u->url, endpoint);
                return -EINVAL;
        }
        Azure *a = calloc(1, sizeof(Azure));
        if (!a)
                return -ENOMEM;
        s->data = a;
        s->ops = &azure_ops;
        a->account = strdup(u->host);
        a->container = strndup(u->path, cl);
        a->prefix = *prefix ? strjoin(prefix, "/") : strdup("");
        a->endpoint = endpoint ? strdup(endpoint) : strdup_printf("https://%s.blob.core.windows.net", u->host);
        if (!a->account || !a->container || !a->prefix || !a->endpoint)
                return -ENOMEM;
        for (size_t l = strlen(a->endpoint); l > 0 && a->endpoint[l - 1] == '/'; l--)
                a->endpoint[l - 1] = 0;
        int r = http_new(s, &a->http);
        if (r < 0)
                return r;

        _cleanup_free_ char *key = NULL, *sas = NULL;
        if (opt->account_key || opt->sas_token) {
                if (opt->account_key && !(key = strdup(opt->account_key)))
                        return -ENOMEM;
                if (opt->sas_token && !(sas = strdup(opt->sas_token)))
                        return -ENOMEM;
        } else if (storage_credential("storage-account-key", &key) < 0 && storage_credential("storage-sas-token", &sas) < 0) {
                const char *ek = getenv("AZURE_STORAGE_KEY"), *es = getenv("AZURE_STORAGE_SAS_TOKEN");
                if ((!isempty(ek) && !(key = strdup(ek))) || (!isempty(es) && !(sas = strdup(es))))
                        return -ENOMEM;
        }
        if (key) {
                /* The account key is base64 of 64 bytes. */
                size_t kl = strlen(key);
                unsigned char raw[sizeof a->key + 3];
                int n = kl % 4 == 0 && kl / 4 * 3 <= sizeof raw ? EVP_DecodeBlock(raw, (const unsigned char *) key, (int) kl) : -1;
                while (n > 0 && kl > 0 && key[--kl] == '=')
                        n--;
                explicit_bzero(key, strlen(key));
                if (n <= 0 || (size_t) n > sizeof a->key) {
                        explicit_bzero(raw, sizeof raw);
                        *ret_error = strdup_printf("storage '%s': the account key is not base64", u->url);
                        return -EINVAL;
                }
                memcpy(a->key, raw, (size_t) n);
                a->key_len = n;
                explicit_bzero(raw, sizeof raw);
                return 0;
        }
        if (sas) {
                const char *t = sas[0] == '?' ? sas + 1 : sas;
                if (!*t || strchr(t, '#') || strchr(t, ' ')) {
                        *ret_error = strdup_printf("storage '%s': the SAS token is not a query string", u->url);
                        return -EINVAL;
                }
                if (!(a->sas = strdup(t)))
                        return -ENOMEM;
                return 0;
        }
        *ret_error = strdup_printf("storage '%s': no credentials: give account_key or sas_token, the credential "
                                   "storage-account-key or storage-sas-token (LoadCredential=), or $AZURE_STORAGE_KEY or "
                                   "$AZURE_STORAGE_SAS_TOKEN", u->url);
        return -ENOKEY;
}
