/* storage-http.h: the HTTP requests of the service backends over one libcurl handle: connection
 * reuse, timeouts, retries with backoff, downloads resumed where they broke off. Internal. */
#pragma once

#include <curl/curl.h>

#include "storage-backend.h"

typedef struct Http Http;

typedef struct HttpCall HttpCall;
/* Called before every attempt, after the handle was reset and the request set up: signs it
 * (curl options, or headers appended to *headers). A negative errno fails the request. */
typedef int (*HttpSignFn)(void *userdata, CURL *c, const HttpCall *call, struct curl_slist **headers);

struct HttpCall {
        const char *method;              /* GET, HEAD, PUT, POST, DELETE */
        const char *url;
        const char *const *headers;      /* "Name: value" strings, NULL-terminated; may be NULL */
        const void *body;                /* request body (kept for retries) */
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

/* Percent-encode s for a URL path (keep_slash) or a query value: all but A-Za-z0-9-._~. */
char *http_encode(const char *s, bool keep_slash);
