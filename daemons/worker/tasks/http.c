/* http.c: HTTP Request and Download tasks over libcurl. */
#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "beneath.h"
#include "cleanup-curl.h"
#include "cleanup-jansson.h"
#include "http-request.h"
#include "strbuf.h"
#include "strutil.h"
#include "task-impl.h"

#define HTTP_BODY_MAX (16u * 1024u * 1024u) /* Request keeps the body in memory; Download streams */

typedef struct HttpCall {
        TaskRunContext *ctx;
        StrBuf body;
        FILE *file;      /* Download: body goes here */
        size_t length;
        bool too_big;
        json_t *headers; /* name (lower case) -> [values] */
} HttpCall;

static size_t on_body(char *data, size_t size, size_t n, void *userdata) {
        HttpCall *c = userdata;
        size_t len = size * n;
        c->length += len;
        if (c->file) {
                /* A download is kept in storage whole: bounded by what a task run may keep. */
                if (c->ctx->output_bytes_max && c->length > c->ctx->output_bytes_max) {
                        c->too_big = true;
                        return 0;
                }
                return fwrite(data, 1, len, c->file);
        }
        if (c->body.len + len > HTTP_BODY_MAX) {
                c->too_big = true;
                return 0;
        }
        return strbuf_append_n(&c->body, data, len) < 0 ? 0 : len;
}

/* Stop when the task is killed. */
static int on_progress(void *userdata, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
        HttpCall *c = userdata;
        struct pollfd p = { c->ctx->cancel_fd, POLLIN, 0 };
        return c->ctx->cancel_fd >= 0 && poll(&p, 1, 0) > 0;
}

/* Run the request; *ret_code is the HTTP status. A failed transfer is a task failure. */
static int http_call(TaskRunContext *ctx, json_t *props, HttpCall *c, long *ret_code, char **ret_url,
                     TaskOutcome *out) {
        _cleanup_(http_request_done) HttpRequest req = HTTP_REQUEST_INIT; /* outlives curl, which uses it */
        _cleanup_curl_ CURL *curl = curl_easy_init();
        _cleanup_free_ char *error = NULL;
        char errbuf[CURL_ERROR_SIZE] = "";
        const char *uri = task_prop_string(props, "uri", NULL);

        if (!curl)
                return -ENOMEM;
        int r = http_request_setup(&req, curl, props, &error);
        if (r == -EINVAL)
                return task_fail(out, "%s", error), r;
        if (r < 0)
                return r;
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, c);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, http_collect_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, c->headers);
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, c);
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, req.connect_ms > 0 ? req.connect_ms : 30000L);
        if (req.read_ms > 0 || ctx->timeout)
                curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, req.read_ms > 0 ? req.read_ms : (long) (ctx->timeout / 1000));

        CURLcode cr = curl_easy_perform(curl);
        if (cr == CURLE_ABORTED_BY_CALLBACK) {
                out->state = STATE_KILLED;
                return -ECANCELED;
        }
        if (c->too_big && c->file)
                return task_fail(out, "the download of '%s' is larger than the worker's limit of %llu MiB "
                                      "([worker] output-mib)", uri, (unsigned long long) (ctx->output_bytes_max >> 20)),
                       -E2BIG;
        if (c->too_big)
                return task_fail(out, "the response body of '%s' is larger than %u bytes; use http.Download", uri,
                                 HTTP_BODY_MAX), -E2BIG;
        if (cr != CURLE_OK)
                return task_fail(out, "request to '%s' failed: %s", uri, *errbuf ? errbuf : curl_easy_strerror(cr)),
                       -EIO;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, ret_code);
        char *eff = NULL;
        curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &eff);
        *ret_url = strdup(eff ? eff : uri);
        return *ret_url ? 0 : -ENOMEM;
}

/* Kestra fails non-2xx responses unless allowFailed or the code is listed in allowedResponseCodes. */
static bool code_allowed(json_t *props, long code) {
        bool allow_failed = false;
        json_t *allowed = json_object_get(props, "allowedResponseCodes");
        (void) task_prop_bool(props, "allowFailed", false, &allow_failed);
        if (json_is_array(allowed) && json_array_size(allowed) > 0) {
                size_t i;
                json_t *a;
                json_array_foreach(allowed, i, a)
                        if ((json_is_integer(a) && json_integer_value(a) == code) ||
                            (json_is_string(a) && atol(json_string_value(a)) == code))
                                return true;
                return false;
        }
        return allow_failed || (code >= 200 && code < 300);
}

int task_impl_http_request(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        _cleanup_json_ json_t *headers = json_object();
        HttpCall c = { .ctx = ctx, .body = STRBUF_INIT, .headers = headers };
        _cleanup_free_ char *url = NULL;
        long code = 0;

        out->state = STATE_SUCCESS;
        if (!headers)
                return -ENOMEM;
        int r = http_call(ctx, props, &c, &code, &url, out);
        if (r == -ENOMEM) {
                strbuf_done(&c.body);
                return r;
        }
        if (r < 0) {
                strbuf_done(&c.body);
                return 0;
        }
        out->outputs = json_pack("{s:s, s:i, s:O, s:s, s:I}", "uri", url, "code", (int) code, "headers", headers,
                                 "body", strbuf_str(&c.body), "length", (json_int_t) c.length);
        strbuf_done(&c.body);
        if (!out->outputs)
                return -ENOMEM;
        if (!code_allowed(props, code))
                return task_fail(out, "Request to '%s' failed with HTTP status %ld", url, code);
        return 0;
}

int task_impl_http_download(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        _cleanup_json_ json_t *headers = json_object();
        _cleanup_free_ char *url = NULL, *stored = NULL;
        _cleanup_(fclosep) FILE *file = NULL;
        long code = 0;

        out->state = STATE_SUCCESS;
        if (!headers)
                return -ENOMEM;
        const char *name = task_prop_string(props, "saveAs", "download");
        if (strchr(name, '/') || !beneath_path_valid(name))
                return task_fail(out, "saveAs '%s' must be a file name, without directories", name);
        /* The directory may be a WorkingDirectory's, where an earlier task planted a link by that name. */
        int fd = task_file_create(ctx, "download", name, out);
        if (fd < 0)
                return out->error ? 0 : fd;
        if (!(file = fdopen(fd, "w+e"))) {
                safe_close(fd);
                return -errno;
        }
        HttpCall c = { .ctx = ctx, .body = STRBUF_INIT, .headers = headers, .file = file };
        int r = http_call(ctx, props, &c, &code, &url, out);
        if ((fflush(file) != 0 || fseeko(file, 0, SEEK_SET) != 0) && r >= 0)
                return task_fail(out, "cannot write the download: %m");
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0;
        if (!code_allowed(props, code))
                return task_fail(out, "Download of '%s' failed with HTTP status %ld", url, code);
        bool fail_empty = true;
        (void) task_prop_bool(props, "failOnEmptyResponse", true, &fail_empty);
        if (c.length == 0 && fail_empty)
                return task_fail(out, "Download of '%s' returned an empty body (failOnEmptyResponse)", url);
        if (!ctx->store_file)
                return task_fail(out, "downloads need internal storage, which this worker lacks");
        if ((r = ctx->store_file(ctx, name, fileno(file), &stored)) == -EFBIG)
                return task_fail(out, "cannot keep the download: the task run's files take more than the worker's "
                                      "limit of %llu MiB ([worker] output-mib)",
                                 (unsigned long long) (ctx->output_bytes_max >> 20));
        if (r < 0)
                return task_fail(out, "cannot keep the download: %s", task_file_strerror(ctx, r));
        out->outputs = json_pack("{s:s, s:i, s:I, s:O}", "uri", stored, "code", (int) code, "length",
                                 (json_int_t) c.length, "headers", headers);
        return out->outputs ? 0 : -ENOMEM;
}
