/* s3.c: the S3 backend (AWS and S3-compatible services such as Ceph's radosgw), also GCS's XML API:
 * SigV4 by libcurl for access keys (and GCS HMAC keys), GOOG4-RSA-SHA256 for GCS service accounts. */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gcs-sign.h"
#include "key.h"
#include "storage-http.h"
#include "storage-xml.h"
#include "strbuf.h"
#include "strutil.h"

/* S3 allows 10000 parts per upload. */
#define PARTS_MAX 10000u
/* Objects per DeleteObjects request (S3's limit). */
#define DELETE_BATCH 1000u

typedef struct S3 {
        Http *http;
        char *bucket;
        char *prefix;        /* "" or "PREFIX/" */
        char *endpoint;      /* scheme://host[:port] */
        char *host;          /* host[:port] of endpoint */
        char *region;
        bool path_style;
        char *userpwd;       /* "ACCESS:SECRET" for curl's SigV4 */
        char *sigv4;         /* "aws:amz:REGION:s3" */
        char *token_header;  /* x-amz-security-token: ... */
        GcsKey *gcs_key;     /* GCS service account: GOOG4-RSA-SHA256 of our own */
        const char *hdr;     /* "x-amz-" or "x-goog-": the services' own headers */
        bool multi_delete;   /* DeleteObjects (GCS's XML API has none) */
        bool unsigned_payload; /* objects' content sent as UNSIGNED-PAYLOAD (see storage_s3_open) */
} S3;

static S3 *S(Storage *s) {
        return s->data;
}

static void s3_free(Storage *s) {
        S3 *b = S(s);
        if (!b)
                return;
        http_free(b->http);
        free(b->bucket);
        free(b->prefix);
        free(b->endpoint);
        free(b->host);
        free(b->region);
        if (b->userpwd)
                explicit_bzero(b->userpwd, strlen(b->userpwd));
        free(b->userpwd);
        free(b->sigv4);
        free(b->token_header);
        gcs_key_free(b->gcs_key);
        free(b);
}

/* ---- requests ------------------------------------------------------------------------------ */

/* The URL of key (NULL: the bucket) with query (already encoded and sorted, may be NULL). */
static char *object_url(S3 *b, const char *key, const char *query) {
        _cleanup_free_ char *full = key ? strjoin(b->prefix, key) : NULL;
        _cleanup_free_ char *enc = full ? http_encode(full, true) : NULL;
        if (key && !enc)
                return NULL;
        const char *scheme_end = strstr(b->endpoint, "://");
        _cleanup_free_ char *base = b->path_style ? strjoin(b->endpoint, "/", b->bucket)
                                                  : strdup_printf("%.*s%s.%s", (int) (scheme_end + 3 - b->endpoint),
                                                                  b->endpoint, b->bucket, b->host);
        if (!base)
                return NULL;
        return strjoin(base, "/", strempty(enc), query ? "?" : "", strempty(query));
}

static int sign_sigv4(void *userdata, CURL *c, const HttpCall *call, struct curl_slist **headers) {
        S3 *b = userdata;
        return curl_easy_setopt(c, CURLOPT_AWS_SIGV4, b->sigv4) == CURLE_OK &&
                               curl_easy_setopt(c, CURLOPT_USERPWD, b->userpwd) == CURLE_OK
                       ? 0
                       : -EIO;
}

/* GOOG4-RSA-SHA256 in the Authorization header, signed anew for every attempt (the date moves). */
static int sign_goog4(void *userdata, CURL *c, const HttpCall *call, struct curl_slist **headers) {
        S3 *b = userdata;
        char hash[65], stamp[17];
        int r = http_body_sha256(call, hash);
        if (r < 0)
                return r;
        time_t now = time(NULL);
        gcs_format_time(now, stamp);
        const char *url = call->url, *path = strstr(url, "://");
        path = path ? strchr(path + 3, '/') : NULL;
        if (!path)
                return -EINVAL;
        const char *q = strchr(path, '?');
        _cleanup_free_ char *p = strndup(path, q ? (size_t) (q - path) : strlen(path));
        _cleanup_strv_free_ char **query = NULL;
        /* The request's own parameters, decoded: gcs_sign encodes them as it signs. */
        for (const char *s = q ? q + 1 : NULL; s && *s;) {
                size_t n = strcspn(s, "&"), kn = strcspn(s, "=");
                kn = MIN(kn, n);
                char *k = curl_easy_unescape(c, s, (int) kn, NULL);
                char *v = kn < n ? curl_easy_unescape(c, s + kn + 1, (int) (n - kn - 1), NULL) : NULL;
                r = k ? strv_extend(&query, k) : -ENOMEM;
                if (r >= 0)
                        r = strv_extend(&query, v ?: "");
                curl_free(k);
                curl_free(v);
                if (r < 0)
                        return r;
                s += n + (s[n] == '&');
        }
        _cleanup_free_ char *host = b->path_style ? strdup(b->host) : strjoin(b->bucket, ".", b->host);
        if (!p || !host)
                return -ENOMEM;
        char *colon = strrchr(host, ':');
        if (colon && !strchr(colon, ']'))
                *colon = 0; /* the host header as signed has no port (Google's vectors) */
        char *const hs[] = { "x-goog-content-sha256", hash, "x-goog-date", stamp, NULL };
        _cleanup_(gcs_signed_done) GcsSigned g = { 0 };
        r = gcs_sign(b->gcs_key, call->method, host, p, query, hs, now, 0, &g);
        if (r < 0)
                return r;
        _cleanup_free_ char *auth = strdup_printf("Authorization: GOOG4-RSA-SHA256 Credential=%s, SignedHeaders=%s, Signature=%s",
                                                  g.credential, g.signed_headers, g.signature);
        _cleanup_free_ char *h1 = strjoin("x-goog-content-sha256: ", hash), *h2 = strjoin("x-goog-date: ", stamp);
        struct curl_slist *l = auth && h1 && h2 ? curl_slist_append(*headers, auth) : NULL;
        l = l ? curl_slist_append(l, h1) : NULL;
        l = l ? curl_slist_append(l, h2) : NULL;
        if (!l)
                return -ENOMEM;
        *headers = l;
        return 0;
}

/* What the object is called in messages: 'KEY' (bucket 'B' at ENDPOINT). */
static char *where(Storage *s, const char *op, const char *key) {
        S3 *b = S(s);
        if (!key)
                return strdup_printf("%s: cannot %s bucket '%s' at %s", storage_kind_name(s), op, b->bucket, b->endpoint);
        return strdup_printf("%s: cannot %s '%s' (bucket '%s'%s%s at %s)", storage_kind_name(s), op, key, b->bucket,
                             *b->prefix ? ", prefix " : "", b->prefix, b->endpoint);
}

/* One request over h. key NULL addresses the bucket; query encoded and sorted; the body at body or
 * (when not NULL) from file. Returns 0 with res set once the service answered. */
static int request_on(Storage *s, Http *h, const char *method, const char *key, const char *query,
                      const char *const *headers, const void *body, const HttpFileBody *file, size_t body_len,
                      StorageWriteFn sink, void *sink_userdata, HttpResult *res, const char *what) {
        S3 *b = S(s);
        _cleanup_free_ char *url = object_url(b, key, query);
        if (!url)
                return storage_fail(s, -ENOMEM, "%s: out of memory", what);
        const char *hs[8];
        size_t n = 0;
        _cleanup_free_ char *sha = NULL;
        if (!b->gcs_key) {
                /* curl signs the payload hash we say (7.88 would sign that of an empty one). */
                char hash[65] = "UNSIGNED-PAYLOAD";
                int r = 0;
                /* An object's content (a PUT with a body: a whole object or a part) unsigned when
                 * nothing can change it on its way (storage_s3_open): its hash costs the service a
                 * pass over the part before it may answer, and the uploads a third of their speed. */
                if (!(b->unsigned_payload && body_len > 0 && streq(method, "PUT")))
                        r = http_body_sha256(&(HttpCall) { .body = body, .file = file, .body_len = body_len }, hash);
                if (r < 0 || !(sha = strjoin("x-amz-content-sha256: ", hash)))
                        return storage_fail(s, r < 0 ? r : -ENOMEM, "%s: cannot hash the request", what);
                hs[n++] = sha;
                if (b->token_header)
                        hs[n++] = b->token_header;
        }
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
                .sign = b->gcs_key ? sign_goog4 : sign_sigv4,
                .sign_userdata = b,
        };
        return http_perform(h, &call, res, what);
}

/* One request over the handle's own connection. */
static int request(Storage *s, const char *method, const char *key, const char *query, const char *const *headers,
                   const void *body, size_t body_len, StorageWriteFn sink, void *sink_userdata, HttpResult *res,
                   const char *what) {
        return request_on(s, S(s)->http, method, key, query, headers, body, NULL, body_len, sink, sink_userdata, res,
                          what);
}

static int check_bucket(Storage *s, const char *what);

static const char *const s3_auth_codes[] = { "SignatureDoesNotMatch", "InvalidAccessKeyId", NULL };

static const HttpService s3_service = {
        .request = request,
        .no_container_code = "NoSuchBucket",
        .no_container_hint = " (the bucket does not exist)",
        .auth_hint = " (check the access key and its secret)",
        .auth_hint_codes = s3_auth_codes,
        .check_container = check_bucket,
};

static int status_error(Storage *s, const HttpResult *res, const char *what) {
        return http_status_error(s, &s3_service, res, what);
}

static int check_bucket(Storage *s, const char *what) {
        return http_simple(s, &s3_service, "GET", NULL, "list-type=2&max-keys=1", NULL, NULL, 0, 200, 200, what, NULL);
}

static int s3_check(Storage *s) {
        _cleanup_free_ char *w = where(s, "use", NULL);
        return w ? check_bucket(s, w) : -ENOMEM;
}

/* ---- put ----------------------------------------------------------------------------------- */

static int put_single(Storage *s, const char *key, const char *buf, size_t n, const char *what) {
        return http_simple(s, &s3_service, "PUT", key, NULL, NULL, buf, n, 200, 200, what, NULL);
}

static void multipart_abort(Storage *s, const char *key, const char *upload_q) {
        HttpResult res;
        _cleanup_free_ char *e = strdup(storage_error(s)); /* keep the reason it failed */
        if (request(s, "DELETE", key, upload_q, NULL, NULL, 0, NULL, NULL, &res, "abort") >= 0)
                http_result_done(&res);
        if (e)
                storage_set_error(s, "%s", e);
}

/* What the parts of one multipart upload share. */
typedef struct Multipart {
        const char *key;
        const char *upload_q; /* uploadId=ID */
        const char *what;
        StrBuf done;          /* the CompleteMultipartUpload body, part by part */
} Multipart;

static int put_part(Storage *s, Http *h, unsigned part, const char *buf, const HttpFileBody *file, size_t n,
                    void *userdata, char **ret_tag) {
        const Multipart *m = userdata;
        _cleanup_free_ char *q = strdup_printf("partNumber=%u&%s", part, m->upload_q);
        if (!q)
                return storage_fail(s, -ENOMEM, "%s: out of memory", m->what);
        HttpResult res;
        int r = request_on(s, h, "PUT", m->key, q, NULL, buf, file, n, NULL, NULL, &res, m->what);
        if (r >= 0 && res.status != 200)
                r = status_error(s, &res, m->what);
        if (r >= 0 && !res.etag)
                r = storage_fail(s, -EIO, "%s: part %u was stored without an ETag", m->what, part);
        if (r >= 0)
                *ret_tag = TAKE_PTR(res.etag);
        http_result_done(&res);
        return r;
}

static int part_done(Storage *s, unsigned part, char *tag, void *userdata) {
        Multipart *m = userdata;
        _cleanup_free_ char *etag = xml_escape(tag);
        free(tag);
        strbuf_appendf(&m->done, "<Part><PartNumber>%u</PartNumber><ETag>\"%s\"</ETag></Part>", part, strempty(etag));
        return etag && !m->done.error ? 0 : storage_fail(s, -ENOMEM, "%s: out of memory", m->what);
}

/* The parts from buf (first bytes, a full part) and fn; or (fn NULL) size bytes of file in parts of
 * part_size. */
static int put_multipart(Storage *s, const char *key, char *buf, size_t first, StorageReadFn fn, void *userdata,
                         const HttpFileBody *file, uint64_t size, uint64_t part_size, const char *what) {
        HttpResult res;
        int r = request(s, "POST", key, "uploads=", NULL, NULL, 0, NULL, NULL, &res, what);
        if (r >= 0 && res.status != 200)
                r = status_error(s, &res, what);
        _cleanup_free_ char *id = r >= 0 ? xml_find(res.body, res.body_len, "InitiateMultipartUploadResult/UploadId") : NULL;
        http_result_done(&res);
        if (r < 0)
                return r;
        if (!id)
                return storage_fail(s, -EIO, "%s: the service started no multipart upload (no UploadId)", what);
        _cleanup_free_ char *enc_id = http_encode(id, false);
        _cleanup_free_ char *upload_q = enc_id ? strjoin("uploadId=", enc_id) : NULL;
        if (!upload_q)
                return -ENOMEM;
        Multipart m = { .key = key, .upload_q = upload_q, .what = what, .done = STRBUF_INIT };
        strbuf_append(&m.done, "<CompleteMultipartUpload>");
        r = fn ? http_upload_parts(s, buf, first, fn, userdata, PARTS_MAX, put_part, part_done, &m, what)
               : http_upload_file_parts(s, file->fd, file->off, size, part_size, PARTS_MAX, put_part, part_done, &m, what);
        if (r >= 0) {
                strbuf_append(&m.done, "</CompleteMultipartUpload>");
                if (m.done.error)
                        r = -ENOMEM;
        }
        if (r >= 0) {
                r = request(s, "POST", key, upload_q, NULL, m.done.buf, m.done.len, NULL, NULL, &res, what);
                /* S3 may answer 200 and say in the body that it failed. */
                _cleanup_free_ char *code = r >= 0 ? xml_find(res.body, res.body_len, "Error/Code") : NULL;
                if (r >= 0 && (res.status != 200 || code))
                        r = status_error(s, &res, what);
                http_result_done(&res);
        }
        strbuf_done(&m.done);
        if (r < 0)
                multipart_abort(s, key, upload_q);
        return r;
}

static int s3_put(Storage *s, const char *key, StorageReadFn fn, void *userdata) {
        _cleanup_free_ char *what = where(s, "write", key);
        _cleanup_free_ char *buf = malloc(s->part_size);
        if (!what || !buf)
                return storage_fail(s, -ENOMEM, "%s: out of memory", storage_kind_name(s));
        ssize_t n = storage_fill(fn, userdata, buf, s->part_size);
        if (n < 0)
                return storage_fail(s, (int) n, "%s: reading its content failed: %s", what, strerror((int) -n));
        /* One part or less: one request. More: a multipart upload, two parts in memory at a time. */
        if ((size_t) n < s->part_size)
                return put_single(s, key, buf, (size_t) n, what);
        return put_multipart(s, key, buf, (size_t) n, fn, userdata, NULL, 0, 0, what);
}

static int s3_put_file(Storage *s, const char *key, int fd, uint64_t off, uint64_t size) {
        _cleanup_free_ char *what = where(s, "write", key);
        if (!what)
                return storage_fail(s, -ENOMEM, "%s: out of memory", storage_kind_name(s));
        uint64_t part_size = storage_file_part_size(s, size, PARTS_MAX);
        HttpFileBody file = { .fd = fd, .off = off };
        if (size > part_size)
                return put_multipart(s, key, NULL, 0, NULL, NULL, &file, size, part_size, what);
        /* Up to one part: one request, streamed from the file all the same. */
        HttpResult res;
        int r = request_on(s, S(s)->http, "PUT", key, NULL, NULL, NULL, &file, (size_t) size, NULL, NULL, &res, what);
        if (r >= 0 && res.status != 200)
                r = status_error(s, &res, what);
        http_result_done(&res);
        return r;
}

/* ---- get, stat ----------------------------------------------------------------------------- */

static int s3_get(Storage *s, const char *key, StorageWriteFn fn, void *userdata) {
        _cleanup_free_ char *what = where(s, "read", key);
        return what ? http_object_get(s, &s3_service, key, fn, userdata, what) : -ENOMEM;
}

static int s3_stat(Storage *s, const char *key, StorageObject *ret) {
        _cleanup_free_ char *what = where(s, "stat", key);
        return what ? http_object_stat(s, &s3_service, key, ret, what) : -ENOMEM;
}

/* ---- list ---------------------------------------------------------------------------------- */

typedef struct ListParse {
        S3 *b;
        StorageList *list;
        size_t cap;
        bool truncated;
        char *next;
        int error;
} ListParse;

static usec_t parse_iso_time(const char *t) {
        struct tm tm = { 0 };
        const char *rest = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!rest)
                return 0;
        time_t sec = timegm(&tm);
        usec_t frac = 0, scale = USEC_PER_SEC;
        if (*rest == '.')
                for (rest++; *rest >= '0' && *rest <= '9'; rest++)
                        if (scale > 1) {
                                scale /= 10;
                                frac += (usec_t) (*rest - '0') * scale;
                        }
        return sec < 0 ? 0 : (usec_t) sec * USEC_PER_SEC + frac;
}

static int on_list(void *userdata, const char *path, const char *text) {
        ListParse *p = userdata;
        StorageList *l = p->list;
        const char *field = startswith(path, "ListBucketResult/Contents/");
        if (field && streq(field, "Key")) {
                const char *rel = startswith(text, p->b->prefix);
                if (!rel)
                        return -EBADMSG; /* the service listed what was not asked for */
                if (!storage_list_push(l, &p->cap, rel))
                        return -ENOMEM;
        } else if (field && l->n > 0) {
                StorageObject *o = &l->objects[l->n - 1];
                if (streq(field, "Size"))
                        (void) safe_atou64(text, &o->size);
                else if (streq(field, "LastModified"))
                        o->mtime = parse_iso_time(text);
                else if (streq(field, "ETag")) {
                        free(o->etag);
                        if (!(o->etag = storage_etag_unquote(text)))
                                return -ENOMEM;
                }
        } else if (streq(path, "ListBucketResult/IsTruncated"))
                p->truncated = streq(text, "true");
        else if (streq(path, "ListBucketResult/NextContinuationToken")) {
                free(p->next);
                if (!(p->next = strdup(text)))
                        return -ENOMEM;
        }
        return 0;
}

static int s3_list(Storage *s, const char *prefix, const char *token, size_t max, StorageList *ret) {
        S3 *b = S(s);
        _cleanup_free_ char *what = where(s, "list", prefix);
        _cleanup_free_ char *full = strjoin(b->prefix, prefix, *prefix ? "/" : "");
        _cleanup_free_ char *enc_prefix = full ? http_encode(full, false) : NULL;
        _cleanup_free_ char *enc_token = token ? http_encode(token, false) : NULL;
        if (!what || !enc_prefix || (token && !enc_token))
                return -ENOMEM;
        /* Sorted by name: curl signs the query as it is written. */
        _cleanup_free_ char *q = strdup_printf("%s%s%slist-type=2&max-keys=%zu&prefix=%s", token ? "continuation-token=" : "",
                                               strempty(enc_token), token ? "&" : "", MIN(max, (size_t) 1000), enc_prefix);
        if (!q)
                return -ENOMEM;
        HttpResult res;
        int r = request(s, "GET", NULL, q, NULL, NULL, 0, NULL, NULL, &res, what);
        if (r < 0)
                return r;
        if (res.status != 200) {
                r = status_error(s, &res, what);
                http_result_done(&res);
                return r;
        }
        ListParse p = { .b = b, .list = ret };
        r = xml_walk(res.body, res.body_len, on_list, &p);
        http_result_done(&res);
        if (r < 0) {
                free(p.next);
                return storage_fail(s, r, "%s: the service's listing cannot be read: %s", what, strerror(-r));
        }
        if (p.truncated && !p.next)
                return storage_fail(s, -EIO, "%s: a truncated listing without a continuation token", what);
        ret->next = p.truncated ? TAKE_PTR(p.next) : NULL;
        free(p.next);
        return 0;
}

/* ---- delete, move -------------------------------------------------------------------------- */

static int delete_one(Storage *s, const char *key, const char *what) {
        int r = http_simple(s, &s3_service, "DELETE", key, NULL, NULL, NULL, 0, 204, 200, what, NULL);
        return r == -ENOENT ? 0 : r; /* gone already: what was asked */
}

static int s3_delete(Storage *s, const char *key) {
        _cleanup_free_ char *what = where(s, "delete", key);
        return what ? delete_one(s, key, what) : -ENOMEM;
}

static int delete_batch(Storage *s, const StorageList *l, const char *what) {
        S3 *b = S(s);
        _cleanup_strbuf_ StrBuf x = STRBUF_INIT;
        strbuf_append(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Quiet>true</Quiet>");
        for (size_t i = 0; i < l->n; i++) {
                _cleanup_free_ char *full = strjoin(b->prefix, l->objects[i].key);
                _cleanup_free_ char *esc = full ? xml_escape(full) : NULL;
                if (!esc)
                        return -ENOMEM;
                strbuf_appendf(&x, "<Object><Key>%s</Key></Object>", esc);
        }
        strbuf_append(&x, "</Delete>");
        if (x.error)
                return -ENOMEM;
        /* DeleteObjects insists on a checksum of its body. */
        unsigned char md5[16];
        unsigned mdlen = 0;
        char b64[32], md5h[64];
        if (!EVP_Digest(x.buf, x.len, md5, &mdlen, EVP_md5(), NULL))
                return -EIO;
        EVP_EncodeBlock((unsigned char *) b64, md5, (int) mdlen);
        snprintf(md5h, sizeof md5h, "Content-MD5: %s", b64);
        const char *hs[] = { md5h, "Content-Type: application/xml", NULL };
        HttpResult res;
        int r = request(s, "POST", NULL, "delete=", hs, x.buf, x.len, NULL, NULL, &res, what);
        if (r < 0)
                return r;
        _cleanup_free_ char *failed = xml_find(res.body, res.body_len, "DeleteResult/Error/Key");
        _cleanup_free_ char *code = xml_find(res.body, res.body_len, "DeleteResult/Error/Code");
        if (res.status != 200)
                r = status_error(s, &res, what);
        else if (failed)
                r = storage_fail(s, -EIO, "%s: '%s' was not deleted: %s", what, failed, strna(code));
        http_result_done(&res);
        return r;
}

static int delete_each(Storage *s, const StorageList *l, const char *what) {
        int r = 0;
        for (size_t i = 0; r >= 0 && i < l->n; i++)
                r = delete_one(s, l->objects[i].key, what);
        return r;
}

static int s3_delete_prefix(Storage *s, const char *prefix) {
        _cleanup_free_ char *what = where(s, "delete below", prefix);
        if (!what)
                return -ENOMEM;
        return storage_delete_listed(s, prefix, DELETE_BATCH, S(s)->multi_delete ? delete_batch : delete_each, what);
}

static int s3_move(Storage *s, const char *from, const char *to) {
        S3 *b = S(s);
        _cleanup_free_ char *what = strdup_printf("%s: cannot move '%s' to '%s' (bucket '%s' at %s)", storage_kind_name(s),
                                                  from, to, b->bucket, b->endpoint);
        _cleanup_free_ char *src = strjoin(b->bucket, "/", b->prefix, from);
        _cleanup_free_ char *enc = src ? http_encode(src, true) : NULL;
        _cleanup_free_ char *h = enc ? strdup_printf("%scopy-source: /%s", b->hdr, enc) : NULL;
        if (!what || !h)
                return -ENOMEM;
        const char *hs[] = { h, NULL };
        HttpResult res;
        int r = request(s, "PUT", to, NULL, hs, NULL, 0, NULL, NULL, &res, what);
        if (r < 0)
                return r;
        /* A copy can fail after its 200 has been sent: the body then says so. */
        _cleanup_free_ char *code = xml_find(res.body, res.body_len, "Error/Code");
        if (res.status != 200 || code)
                r = status_error(s, &res, what);
        http_result_done(&res);
        if (r < 0)
                return r;
        return delete_one(s, from, what);
}

/* ---- incomplete uploads -------------------------------------------------------------------- */

typedef struct Stale {
        char *key;       /* relative to the prefix */
        char *upload_id;
} Stale;

typedef struct UploadsParse {
        S3 *b;
        usec_t before;
        char *key, *upload_id; /* of the Upload being read */
        usec_t initiated;
        Stale *stale;
        size_t n;
        bool truncated;
        char *next_key, *next_id;
} UploadsParse;

static void uploads_parse_done(UploadsParse *p) {
        for (size_t i = 0; i < p->n; i++) {
                free(p->stale[i].key);
                free(p->stale[i].upload_id);
        }
        free(p->stale);
        free(p->key);
        free(p->upload_id);
        free(p->next_key);
        free(p->next_id);
}

static int dup_to(char **field, const char *text) {
        free(*field);
        *field = strdup(text);
        return *field ? 0 : -ENOMEM;
}

static int on_uploads(void *userdata, const char *path, const char *text) {
        UploadsParse *p = userdata;
        const char *field = startswith(path, "ListMultipartUploadsResult/Upload");
        if (field && streq(field, "/Key"))
                return dup_to(&p->key, text);
        if (field && streq(field, "/UploadId"))
                return dup_to(&p->upload_id, text);
        if (field && streq(field, "/Initiated"))
                p->initiated = parse_iso_time(text);
        else if (field && !*field) {
                /* The end of one upload. A key outside the prefix was not asked for: left alone. */
                const char *rel = p->key ? startswith(p->key, p->b->prefix) : NULL;
                if (rel && *rel && p->upload_id && p->initiated > 0 && p->initiated < p->before) {
                        Stale *n = realloc(p->stale, (p->n + 1) * sizeof(Stale));
                        if (!n)
                                return -ENOMEM;
                        p->stale = n;
                        n[p->n] = (Stale) { strdup(rel), TAKE_PTR(p->upload_id) };
                        if (!n[p->n++].key)
                                return -ENOMEM;
                }
                free(p->key);
                free(p->upload_id);
                p->key = p->upload_id = NULL;
                p->initiated = 0;
        } else if (streq(path, "ListMultipartUploadsResult/IsTruncated"))
                p->truncated = streq(text, "true");
        else if (streq(path, "ListMultipartUploadsResult/NextKeyMarker"))
                return dup_to(&p->next_key, text);
        else if (streq(path, "ListMultipartUploadsResult/NextUploadIdMarker"))
                return dup_to(&p->next_id, text);
        return 0;
}

/* ListMultipartUploads below the prefix, a page at a time, each page's stale uploads aborted
 * before the next is asked for (the markers are a key and an upload id: an aborted upload does
 * not move them). */
static int s3_abort_incomplete(Storage *s, usec_t started_before, uint64_t *ret_n) {
        S3 *b = S(s);
        _cleanup_free_ char *what = where(s, "list the incomplete uploads of", NULL);
        _cleanup_free_ char *enc_prefix = http_encode(b->prefix, false);
        _cleanup_free_ char *key_marker = NULL, *id_marker = NULL;
        if (!what || !enc_prefix)
                return -ENOMEM;
        for (;;) {
                _cleanup_free_ char *ek = key_marker ? http_encode(key_marker, false) : NULL;
                _cleanup_free_ char *ei = id_marker ? http_encode(id_marker, false) : NULL;
                if ((key_marker && !ek) || (id_marker && !ei))
                        return -ENOMEM;
                /* Sorted by name: curl signs the query as it is written. */
                _cleanup_free_ char *q = strdup_printf("%s%s%sprefix=%s%s%s&uploads=", ek ? "key-marker=" : "", strempty(ek),
                                                       ek ? "&" : "", enc_prefix, ei ? "&upload-id-marker=" : "", strempty(ei));
                if (!q)
                        return -ENOMEM;
                HttpResult res;
                int r = request(s, "GET", NULL, q, NULL, NULL, 0, NULL, NULL, &res, what);
                if (r < 0)
                        return r;
                if (res.status != 200) {
                        r = status_error(s, &res, what);
                        http_result_done(&res);
                        return r;
                }
                _cleanup_(uploads_parse_done) UploadsParse p = { .b = b, .before = started_before };
                r = xml_walk(res.body, res.body_len, on_uploads, &p);
                http_result_done(&res);
                if (r < 0)
                        return storage_fail(s, r, "%s: the service's listing cannot be read: %s", what, strerror(-r));
                for (size_t i = 0; i < p.n; i++) {
                        _cleanup_free_ char *w = where(s, "abort the incomplete upload of", p.stale[i].key);
                        _cleanup_free_ char *id = http_encode(p.stale[i].upload_id, false);
                        _cleanup_free_ char *uq = id ? strjoin("uploadId=", id) : NULL;
                        if (!w || !uq)
                                return -ENOMEM;
                        r = http_simple(s, &s3_service, "DELETE", p.stale[i].key, uq, NULL, NULL, 0, 204, 200, w, NULL);
                        if (r == -ENOENT) /* NoSuchUpload: completed or aborted meanwhile */
                                continue;
                        if (r < 0)
                                return r;
                        (*ret_n)++;
                }
                if (!p.truncated)
                        return 0;
                if (!p.next_key || !p.next_id)
                        return storage_fail(s, -EIO, "%s: a truncated listing without its markers", what);
                free(key_marker);
                free(id_marker);
                key_marker = TAKE_PTR(p.next_key);
                id_marker = TAKE_PTR(p.next_id);
        }
}

static const StorageBackendOps s3_ops = {
        .free = s3_free,
        .check = s3_check,
        .put = s3_put,
        .put_file = s3_put_file,
        .get = s3_get,
        .stat = s3_stat,
        .list = s3_list,
        .delete = s3_delete,
        .delete_prefix = s3_delete_prefix,
        .move = s3_move,
        .abort_incomplete = s3_abort_incomplete,
};

/* ---- credentials --------------------------------------------------------------------------- */

/* [profile] of an AWS shared credentials file. 0 when found, -ENOENT when not. */
static int shared_credentials(const char *profile, char **ret_ak, char **ret_sk, char **ret_token) {
        const char *path = getenv("AWS_SHARED_CREDENTIALS_FILE");
        _cleanup_free_ char *def = NULL;
        if (isempty(path)) {
                const char *home = getenv("HOME");
                if (isempty(home) || !(def = strjoin(home, "/.aws/credentials")))
                        return -ENOENT;
                path = def;
        }
        _cleanup_(fclosep) FILE *f = fopen(path, "re");
        if (!f)
                return -ENOENT;
        char line[4096];
        bool in = false;
        while (fgets(line, sizeof line, f)) {
                char *l = strstrip(line);
                if (*l == '[') {
                        char *end = strchr(l, ']');
                        if (end)
                                *end = 0;
                        in = streq(strstrip(l + 1), profile);
                        continue;
                }
                char *eq = strchr(l, '=');
                if (!in || !eq || *l == '#' || *l == ';')
                        continue;
                *eq = 0;
                char *k = strstrip(l), *v = strstrip(eq + 1), **dst = NULL;
                if (streq(k, "aws_access_key_id"))
                        dst = ret_ak;
                else if (streq(k, "aws_secret_access_key"))
                        dst = ret_sk;
                else if (streq(k, "aws_session_token"))
                        dst = ret_token;
                if (dst) {
                        free(*dst);
                        if (!(*dst = strdup(v)))
                                return -ENOMEM;
                }
        }
        explicit_bzero(line, sizeof line);
        return *ret_ak && *ret_sk ? 0 : -ENOENT;
}

static int dup_or_null(const char *v, char **ret) {
        *ret = NULL;
        return v && !(*ret = strdup(v)) ? -ENOMEM : 0;
}

/* Access keys by the documented order; -ENOENT when there are none. */
static int access_keys(StorageKind kind, const StorageOptions *opt, const char *profile, char **ak, char **sk, char **token) {
        int r;
        *ak = *sk = *token = NULL;
        /* A GCS key given in opt is the caller's choice of credentials: the process's own HMAC keys
         * must not win over it (a task naming its own service account would sign with the worker's). */
        if (kind == STORAGE_GCS && opt->service_account_file && !opt->access_key && !opt->secret_key)
                return -ENOENT;
        if (opt->access_key || opt->secret_key) {
                if ((r = dup_or_null(opt->access_key, ak)) < 0 || (r = dup_or_null(opt->secret_key, sk)) < 0 ||
                    (r = dup_or_null(opt->session_token, token)) < 0)
                        return r;
                return *ak && *sk ? 0 : -EINVAL;
        }
        if (storage_credential("storage-access-key", ak) >= 0 && storage_credential("storage-secret-key", sk) >= 0) {
                (void) storage_credential("storage-session-token", token);
                return 0;
        }
        free(*ak), free(*sk);
        *ak = *sk = NULL;
        const char *eak = getenv(kind == STORAGE_GCS ? "GCS_HMAC_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
        const char *esk = getenv(kind == STORAGE_GCS ? "GCS_HMAC_SECRET" : "AWS_SECRET_ACCESS_KEY");
        if (!isempty(eak) && !isempty(esk)) {
                if ((r = dup_or_null(eak, ak)) < 0 || (r = dup_or_null(esk, sk)) < 0)
                        return r;
                return kind == STORAGE_S3 ? dup_or_null(getenv("AWS_SESSION_TOKEN"), token) : 0;
        }
        if (kind != STORAGE_S3)
                return -ENOENT;
        r = shared_credentials(profile, ak, sk, token);
        if (r < 0) {
                free(*ak), free(*sk), free(*token);
                *ak = *sk = *token = NULL;
        }
        return r;
}

/* host[:port] (a name, an IPv4 address or a bracketed IPv6 one) is this machine's loopback. */
static bool host_is_loopback(const char *host) {
        char a[64];
        const char *end = *host == '[' ? strchr(host, ']') : strchr(host, ':');
        size_t n = end ? (size_t) (end - host) + (*host == '[') : strlen(host);
        if (n >= sizeof a)
                return false;
        memcpy(a, host, n);
        a[n] = 0;
        struct in_addr v4;
        return streq(a, "localhost") || streq(a, "[::1]") || (inet_pton(AF_INET, a, &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127);
}

/* ---- open ---------------------------------------------------------------------------------- */

int storage_s3_open(Storage *s, const StorageUrl *u, const StorageOptions *opt, char **ret_error) {
        bool gcs = s->kind == STORAGE_GCS;
        static const char *const s3_params[] = { "endpoint", "region", "style", "profile", "payload", NULL };
        static const char *const gcs_params[] = { "endpoint", "region", "style", "payload", NULL };
        const char *bad = storage_url_unknown_param(u, gcs ? gcs_params : s3_params);
        if (bad) {
                *ret_error = strdup_printf("storage URL '%s': unknown parameter '%s' (%s)", u->url, bad,
                                           gcs ? "endpoint, region, style, payload" : "endpoint, region, style, profile, payload");
                return -EINVAL;
        }
        /* Bucket names: 3-63 of [a-z0-9.-] (S3 and GCS alike; GCS allows '_' too). */
        size_t bl = strlen(u->host);
        bool ok = bl >= 3 && bl <= 63;
        for (const char *p = u->host; ok && *p; p++)
                ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || (gcs && *p == '_');
        if (!ok) {
                *ret_error = strdup_printf("storage URL '%s': '%s' is not a bucket name (3 to 63 of a-z, 0-9, '.', '-')",
                                           u->url, u->host);
                return -EINVAL;
        }
        if (*u->path && storage_key_invalid(u->path)) {
                *ret_error = strdup_printf("storage URL '%s': the prefix '%s' is not a valid path", u->url, u->path);
                return -EINVAL;
        }
        S3 *b = calloc(1, sizeof(S3));
        if (!b)
                return -ENOMEM;
        s->data = b;
        s->ops = &s3_ops;
        const char *region = storage_url_param(u, "region") ?: (gcs ? "auto" : "us-east-1");
        const char *endpoint = storage_url_param(u, "endpoint");
        const char *style = storage_url_param(u, "style");
        _cleanup_free_ char *def_endpoint = gcs ? strdup("https://storage.googleapis.com")
                                                : strdup_printf("https://s3.%s.amazonaws.com", region);
        if (!def_endpoint)
                return -ENOMEM;
        if (endpoint && !startswith(endpoint, "http://") && !startswith(endpoint, "https://")) {
                *ret_error = strdup_printf("storage URL '%s': the endpoint '%s' is not an http:// or https:// URL", u->url, endpoint);
                return -EINVAL;
        }
        const char *payload = storage_url_param(u, "payload");
        if (payload && !streq(payload, "signed") && !streq(payload, "unsigned")) {
                *ret_error = strdup_printf("storage URL '%s': payload is 'signed' or 'unsigned', not '%s'", u->url, payload);
                return -EINVAL;
        }
        if (style && !streq(style, "path") && !streq(style, "virtual")) {
                *ret_error = strdup_printf("storage URL '%s': style is 'path' or 'virtual', not '%s'", u->url, style);
                return -EINVAL;
        }
        /* Most S3-compatible servers want path style; AWS and GCS take both. */
        b->path_style = style ? streq(style, "path") : endpoint || gcs;
        if (!b->path_style && strchr(u->host, '.') && !endpoint) {
                *ret_error = strdup_printf("storage URL '%s': a bucket name with '.' needs style=path", u->url);
                return -EINVAL;
        }
        b->endpoint = strdup(endpoint ?: def_endpoint);
        if (!b->endpoint)
                return -ENOMEM;
        for (size_t l = strlen(b->endpoint); l > 0 && b->endpoint[l - 1] == '/'; l--)
                b->endpoint[l - 1] = 0;
        const char *host = strstr(b->endpoint, "://") + 3;
        if (!*host || strchr(host, '/') || strchr(host, '?')) {
                *ret_error = strdup_printf("storage URL '%s': the endpoint '%s' must be scheme://host[:port] alone", u->url, b->endpoint);
                return -EINVAL;
        }
        /* SigV4 signs every request (method, key, part number, upload, headers) either way; the
         * SHA-256 of the body binds the content too, which only matters where someone could change
         * it on its way: plain http over a network. Over https TLS protects it (as AWS's own SDKs
         * decide), over loopback nothing is on the way. payload=signed where a service or a
         * bucket policy insists on signed content; payload=unsigned for plain http on a network
         * that is trusted as much. */
        b->unsigned_payload = payload ? streq(payload, "unsigned") : startswith(b->endpoint, "https://") || host_is_loopback(host);
        b->bucket = strdup(u->host);
        b->prefix = *u->path ? strjoin(u->path, "/") : strdup("");
        b->host = strdup(host);
        b->region = strdup(region);
        b->hdr = "x-amz-";
        b->multi_delete = !gcs;
        if (!b->bucket || !b->prefix || !b->host || !b->region)
                return -ENOMEM;
        int r = http_new(s, &b->http);
        if (r < 0)
                return r;

        const char *profile = opt->profile ?: storage_url_param(u, "profile") ?: getenv("AWS_PROFILE") ?: "default";
        _cleanup_free_ char *ak = NULL, *sk = NULL, *token = NULL;
        r = access_keys(s->kind, opt, profile, &ak, &sk, &token);
        if (r == -EINVAL) {
                *ret_error = strdup_printf("storage '%s': an access key needs its secret key, and the other way round", u->url);
                return r;
        }
        if (r == -ENOMEM)
                return r;
        if (r >= 0) {
                /* SigV4 by curl: "aws:amz" works for GCS's HMAC keys too (its S3 interoperability). */
                b->sigv4 = strdup_printf("aws:amz:%s:s3", region);
                b->userpwd = strjoin(ak, ":", sk);
                if (token && !(b->token_header = strjoin("x-amz-security-token: ", token)))
                        return -ENOMEM;
                if (sk)
                        explicit_bzero(sk, strlen(sk));
                return b->sigv4 && b->userpwd ? 0 : -ENOMEM;
        }
        if (gcs) {
                _cleanup_free_ char *cred = NULL, *why = NULL;
                const char *file = opt->service_account_file;
                if (!file && storage_credential("storage-service-account.json", &cred) >= 0) {
                        r = gcs_key_parse(cred, strlen(cred), &b->gcs_key, &why);
                        explicit_bzero(cred, strlen(cred));
                } else {
                        file = file ?: getenv("GOOGLE_APPLICATION_CREDENTIALS");
                        r = !isempty(file) ? gcs_key_load(file, &b->gcs_key, &why) : -ENOENT;
                }
                if (r >= 0) {
                        b->hdr = "x-goog-";
                        return 0;
                }
                if (r != -ENOENT || why) {
                        *ret_error = strdup_printf("storage '%s': the service account key: %s", u->url, why ?: strerror(-r));
                        return r;
                }
                *ret_error = strdup_printf("storage '%s': no credentials: give HMAC keys (access_key and secret_key, "
                                           "the credentials storage-access-key and storage-secret-key, or "
                                           "$GCS_HMAC_ACCESS_KEY and $GCS_HMAC_SECRET) or a service account key "
                                           "(service_account_file, the credential storage-service-account.json or "
                                           "$GOOGLE_APPLICATION_CREDENTIALS)", u->url);
                return -ENOKEY;
        }
        *ret_error = strdup_printf("storage '%s': no credentials: give access_key and secret_key, the credentials "
                                   "storage-access-key and storage-secret-key (LoadCredential=), $AWS_ACCESS_KEY_ID and "
                                   "$AWS_SECRET_ACCESS_KEY, or profile '%s' of ~/.aws/credentials", u->url, profile);
        return -ENOKEY;
}
