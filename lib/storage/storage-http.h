/* storage-http.h: the HTTP requests of the service backends over one libcurl handle: connection
 * reuse, timeouts, retries with backoff, downloads resumed where they broke off. Internal. */
#pragma once

#include <curl/curl.h>

#include "storage-backend.h"

typedef struct Http Http;

/* A request body read from a file rather than from memory: body_len bytes of fd from off, read
 * (pread: fd's offset is left alone) as they are sent and again on a retry, none held. */
typedef struct HttpFileBody {
        int fd;
        uint64_t off;
} HttpFileBody;

typedef struct HttpCall HttpCall;
/* Called before every attempt, after the handle was reset and the request set up: signs it
 * (curl options, or headers appended to *headers). A negative errno fails the request. */
typedef int (*HttpSignFn)(void *userdata, CURL *c, const HttpCall *call, struct curl_slist **headers);

struct HttpCall {
        const char *method;              /* GET, HEAD, PUT, POST, DELETE */
        const char *url;
        const char *const *headers;      /* "Name: value" strings, NULL-terminated; may be NULL */
        const void *body;                /* request body (kept for retries) */
        const HttpFileBody *file;        /* or, when not NULL, the body from this file */
        size_t body_len;
        StorageWriteFn sink;             /* a 2xx (GET) body goes here; else it is kept in the result */
        void *sink_userdata;
        HttpSignFn sign;
        void *sign_userdata;
};

typedef struct HttpResult {
        long status;                     /* 0 when no answer came */
        char *body;                      /* kept body (error answers, or without a sink), NUL-terminated */
        size_t body_len;
        char *etag;                      /* the ETag header, quotes removed */
        uint64_t content_length;
        bool has_content_length;
        usec_t last_modified;
        char *error_code;                /* x-ms-error-code (Azure says it in a header, for HEAD too) */
        char *request_id;                /* x-amz-request-id or x-ms-request-id, for support */
        char *copy_status;               /* x-ms-copy-status (Azure's Copy Blob) */
        uint64_t delivered;              /* body bytes given to the sink, across resumed attempts */
} HttpResult;

void http_result_done(HttpResult *r);

int http_new(Storage *s, Http **ret);
Http *http_free(Http *h);

/* Perform the call: 0 with res->status set once the service answered (any status: the caller
 * reads it), a negative errno when it did not after every attempt (storage_error() of the handle
 * is then set, prefixed with what). Retried: transport failures, 408, 429, 500, 502, 503, 504. A
 * download broken off midway is resumed with Range and If-Match (-ESTALE when the object changed). */
int http_perform(Http *h, const HttpCall *call, HttpResult *res, const char *what);

/* The SHA-256 of the call's body, in hex (for signatures that bind the content); a file body is
 * read for it a slice at a time. */
int http_body_sha256(const HttpCall *call, char hex[static 65]);

/* ---- object operations the service backends share ---------------------------------------- */

/* One request of a service backend on key (NULL: the bucket or container) with query (encoded;
 * may be NULL): 0 with res set once the service answered, as http_perform(). */
typedef int (*HttpRequestFn)(Storage *s, const char *method, const char *key, const char *query,
                             const char *const *headers, const void *body, size_t body_len, StorageWriteFn sink,
                             void *sink_userdata, HttpResult *res, const char *what);

/* What differs between the services in the operations below. */
typedef struct HttpService {
        HttpRequestFn request;
        const char *no_container_code;        /* the error code of a missing bucket or container */
        const char *no_container_hint;        /* said after it */
        const char *auth_hint;                /* said after a 401 or 403 ... */
        const char *const *auth_hint_codes;   /* ... whose code is none or one of these (NULL: any code) */
        /* A HEAD answered 404 without a code (S3's have no body): tells a missing bucket (its
         * error) from a missing object (0). NULL: the object is missing. */
        int (*check_container)(Storage *s, const char *what);
} HttpService;

/* The service's refusal in res as an errno (storage.h's) and the handle's error: what, the HTTP
 * status, the service's error code (the body's Error/Code or x-ms-error-code) and message, the
 * request id. */
int http_status_error(Storage *s, const HttpService *svc, const HttpResult *res, const char *what);

/* A request answered with status ok1 or ok2, else http_status_error(). On success *keep (when
 * not NULL) takes the result (http_result_done() it); else it is released. */
int http_simple(Storage *s, const HttpService *svc, const char *method, const char *key, const char *query,
                const char *const *headers, const void *body, size_t body_len, long ok1, long ok2, const char *what,
                HttpResult *keep);

/* storage_get() and storage_stat() of a service: GET streamed to fn; HEAD to *ret. */
int http_object_get(Storage *s, const HttpService *svc, const char *key, StorageWriteFn fn, void *userdata,
                    const char *what);
int http_object_stat(Storage *s, const HttpService *svc, const char *key, StorageObject *ret, const char *what);

/* ---- large uploads, several parts in flight ------------------------------------------------ */

/* Stores part (1, 2, ...) of n bytes, at buf or (buf NULL) from file, over h, on a thread of its
 * own: s is a copy of the handle for that thread (its error is the part's; backends find their
 * data in s->data as usual but must use h, not their own Http). *ret_tag is what the service calls
 * the part (its ETag), or NULL. */
typedef int (*HttpPartFn)(Storage *s, Http *h, unsigned part, const char *buf, const HttpFileBody *file, size_t n,
                          void *userdata, char **ret_tag);
/* Told each stored part in order, on the caller's thread; takes tag. */
typedef int (*HttpPartDoneFn)(Storage *s, unsigned part, char *tag, void *userdata);

/* Upload a large object in parts of s->part_size, the first already in buf (n bytes, a full part),
 * the rest read from fn: s->parts_in_flight parts in flight, each on a connection of its own, the
 * next read while they go (so at most that many parts in memory, buf and the others). At most
 * max_parts. A part that fails for a reason that may pass is retried alone (http_perform). The
 * first failure stops it (after the other parts in flight ended) with its error in s. */
int http_upload_parts(Storage *s, char *buf, size_t n, StorageReadFn fn, void *fn_userdata, unsigned max_parts,
                      HttpPartFn put, HttpPartDoneFn done, void *userdata, const char *what);
/* The same from size bytes of the regular file fd at off, in parts of part_size each sent straight
 * from the file (HttpFileBody): no part is held in memory, whatever its size. */
int http_upload_file_parts(Storage *s, int fd, uint64_t off, uint64_t size, uint64_t part_size, unsigned max_parts,
                           HttpPartFn put, HttpPartDoneFn done, void *userdata, const char *what);

/* Percent-encode s for a URL path (keep_slash) or a query value: all but A-Za-z0-9-._~. */
char *http_encode(const char *s, bool keep_slash);
