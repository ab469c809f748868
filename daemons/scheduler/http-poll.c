/* http-poll.c: one request of a polling HTTP trigger, bounded in time and in what it keeps. */
#include <curl/curl.h>
#include <errno.h>
#include <string.h>

#include "cleanup-curl.h"
#include "cleanup-jansson.h"
#include "http-poll.h"
#include "http-request.h"
#include "macro.h"
#include "strbuf.h"
#include "strutil.h"

typedef struct Poll {
        StrBuf body;
        bool too_big;
} Poll;

static size_t on_body(char *data, size_t size, size_t n, void *userdata) {
        Poll *p = userdata;
        size_t len = size * n;
        if (p->body.len + len > HTTP_POLL_BODY_MAX) {
                p->too_big = true;
                return 0;
        }
        return strbuf_append_n(&p->body, data, len) < 0 ? 0 : len;
}

int http_poll(json_t *props, json_t **ret, char **ret_error) {
        _cleanup_(http_request_done) HttpRequest req = HTTP_REQUEST_INIT; /* outlives curl, which uses it */
        _cleanup_curl_ CURL *curl = curl_easy_init();
        _cleanup_json_ json_t *response_headers = json_object();
        char errbuf[CURL_ERROR_SIZE] = "";
        const char *uri = json_string_value(json_object_get(props, "uri"));
        int r;

        *ret = NULL;
        *ret_error = NULL;
        if (!curl || !response_headers)
                return -ENOMEM;
        if ((r = http_request_setup(&req, curl, props, ret_error)) < 0)
                return r;

        Poll p = { .body = STRBUF_INIT };
        long limit_ms = (long) (HTTP_POLL_TIMEOUT / 1000);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &p);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, http_collect_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, response_headers);
        /* The scheduler waits for the answer: never longer than HTTP_POLL_TIMEOUT. */
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, req.connect_ms > 0 ? MIN(req.connect_ms, limit_ms) : 10000L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, req.read_ms > 0 ? MIN(req.read_ms, limit_ms) : limit_ms);

        CURLcode cr = curl_easy_perform(curl);
        _cleanup_strbuf_ StrBuf kept = p.body;
        if (p.too_big)
                return (*ret_error = strdup_printf("the response body of '%s' is larger than %u bytes", uri,
                                                   HTTP_POLL_BODY_MAX)),
                       -E2BIG;
        if (cr != CURLE_OK)
                return (*ret_error = strdup_printf("request to '%s' failed: %s", uri,
                                                   *errbuf ? errbuf : curl_easy_strerror(cr))),
                       -EIO;
        long code = 0;
        char *eff = NULL;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &eff);
        json_t *text = kept.len > 0 ? json_stringn(strbuf_str(&kept), kept.len) : json_null();
        /* A body that is not UTF-8 text: null, as it cannot be a variable. */
        *ret = json_pack("{s:s, s:i, s:O, s:o}", "uri", eff ?: uri, "code", (int) code, "headers", response_headers,
                         "body", text ?: json_null());
        return *ret ? 0 : -ENOMEM;
}
