/* http-request.h: the HTTP request that Kestra's http tasks and http trigger describe, set up on a
 * libcurl handle, and the response-header collector they share. */
#pragma once

#include <curl/curl.h>
#include <jansson.h>

typedef struct HttpRequest {
        struct curl_slist *headers;
        char *body; /* the request body or form, kept alive for CURLOPT_POSTFIELDS */
        long connect_ms, read_ms; /* options.connectTimeout and readTimeout; 0 when not given */
} HttpRequest;

#define HTTP_REQUEST_INIT ((HttpRequest) { 0 })

/* Set up curl for the request props describe: uri (http or https only, also after redirects),
 * method, headers, body or formData with contentType (Kestra's default application/json for a
 * body), basic auth, options.followRedirects, sslOptions.insecureTrustAllCertificates, and the user
 * agent. Timeouts, the body's destination and progress are the caller's. A property that cannot
 * be used is -EINVAL with *ret_error saying which. */
int http_request_setup(HttpRequest *h, CURL *curl, json_t *props, char **ret_error);
void http_request_done(HttpRequest *h);

/* A CURLOPT_HEADERFUNCTION whose CURLOPT_HEADERDATA is a JSON object: lower-case header name ->
 * [values], cleared when a redirect's next response starts. */
size_t http_collect_header(char *data, size_t size, size_t n, void *headers);
