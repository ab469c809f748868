/* http-poll.c: one request of a polling HTTP trigger, bounded in time and in what it keeps. */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "cleanup-curl.h"
#include "cleanup-jansson.h"
#include "http-poll.h"
#include "macro.h"
#include "strbuf.h"
#include "strutil.h"

typedef struct Poll {
        StrBuf body;
        bool too_big;
        json_t *headers; /* name (lower case) -> [values] */
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

static size_t on_header(char *data, size_t size, size_t n, void *userdata) {
        Poll *p = userdata;
        size_t len = size * n;
        const char *colon = memchr(data, ':', len);
        if (len > 5 && strncmp(data, "HTTP/", 5) == 0)
                json_object_clear(p->headers); /* a redirect's next response starts over */
        if (!colon || colon == data)
                return len;
        _cleanup_free_ char *name = strndup(data, (size_t) (colon - data)),
                            *value = strndup(colon + 1, len - (size_t) (colon - data) - 1);
        if (!name || !value)
                return 0;
        strstrip(value);
        for (char *c = name; *c; c++)
                *c = (char) tolower((unsigned char) *c);
        json_t *list = json_object_get(p->headers, name);
        if (!list && (!(list = json_array()) || json_object_set_new(p->headers, name, list) < 0))
                return 0;
        return json_array_append_new(list, json_string(value)) < 0 ? 0 : len;
}

static const char *prop_string(json_t *props, const char *name) {
        return json_string_value(json_object_get(props, name));
}

/* options.NAME: an ISO-8601 duration, in milliseconds (0: not given). */
static int option_ms(json_t *props, const char *name, long *ret) {
        json_t *v = json_object_get(json_object_get(props, "options"), name);
        susec_t d;
        *ret = 0;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v) || duration_parse(json_string_value(v), &d) < 0 || d < 0)
                return -EINVAL;
        *ret = (long) (d / 1000);
        return 0;
}

static int add_header(struct curl_slist **list, const char *name, const char *value) {
        _cleanup_free_ char *h = strjoin(name, ": ", value);
        struct curl_slist *n = h ? curl_slist_append(*list, h) : NULL;
        if (!n)
                return -ENOMEM;
        *list = n;
        return 0;
}

int http_poll(json_t *props, json_t **ret, char **ret_error) {
        _cleanup_curl_ CURL *curl = curl_easy_init();
        _cleanup_curl_slist_ struct curl_slist *headers = NULL;
        _cleanup_free_ char *body_text = NULL;
        _cleanup_strbuf_ StrBuf form = STRBUF_INIT;
        _cleanup_json_ json_t *response_headers = json_object();
        char errbuf[CURL_ERROR_SIZE] = "";
        const char *uri = prop_string(props, "uri"), *method = prop_string(props, "method") ?: "GET";
        const char *content_type = prop_string(props, "contentType");
        long connect_ms, read_ms;
        const char *k;
        json_t *v;
        int r;

        *ret = NULL;
        *ret_error = NULL;
        if (!curl || !response_headers)
                return -ENOMEM;
        if (!uri || (strncasecmp(uri, "http://", 7) != 0 && strncasecmp(uri, "https://", 8) != 0))
                return (*ret_error = strdup_printf("uri '%s' must be an http:// or https:// URL", strempty(uri))), -EINVAL;
        if (option_ms(props, "connectTimeout", &connect_ms) < 0 || option_ms(props, "readTimeout", &read_ms) < 0)
                return (*ret_error = strdup("options connectTimeout and readTimeout must be ISO-8601 durations")), -EINVAL;

        Poll p = { .body = STRBUF_INIT, .headers = response_headers };
        long limit_ms = (long) (HTTP_POLL_TIMEOUT / 1000);
        curl_easy_setopt(curl, CURLOPT_URL, uri);
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
        if (strcasecmp(method, "HEAD") == 0)
                curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION,
                         json_is_false(json_object_get(json_object_get(props, "options"), "followRedirects")) ? 0L : 1L);
        curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &p);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, &p);
        curl_easy_setopt(curl, CURLOPT_USERAGENT, "tern/" TERN_VERSION);
        /* The scheduler waits for the answer: never longer than HTTP_POLL_TIMEOUT. */
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms > 0 ? MIN(connect_ms, limit_ms) : 10000L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, read_ms > 0 ? MIN(read_ms, limit_ms) : limit_ms);

        json_object_foreach(json_object_get(props, "headers"), k, v) {
                _cleanup_free_ char *dumped = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                if ((r = add_header(&headers, k, json_is_string(v) ? json_string_value(v) : strempty(dumped))) < 0)
                        return r;
        }
        json_t *body = json_object_get(props, "body"), *form_data = json_object_get(props, "formData");
        if (json_is_object(form_data)) {
                json_object_foreach(form_data, k, v) {
                        _cleanup_free_ char *dumped = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                        char *ek = curl_easy_escape(curl, k, 0);
                        char *ev = curl_easy_escape(curl, json_is_string(v) ? json_string_value(v) : strempty(dumped), 0);
                        strbuf_appendf(&form, "%s%s=%s", form.len ? "&" : "", strempty(ek), strempty(ev));
                        curl_free(ek);
                        curl_free(ev);
                }
                if (form.error)
                        return form.error;
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS, strbuf_str(&form));
                content_type = content_type ?: "application/x-www-form-urlencoded";
        } else if (body && !json_is_null(body)) {
                body_text = json_is_string(body) ? strdup(json_string_value(body))
                                                 : json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
                if (!body_text)
                        return -ENOMEM;
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body_text);
                content_type = content_type ?: "application/json"; /* Kestra's default contentType */
        }
        if (content_type && (r = add_header(&headers, "Content-Type", content_type)) < 0)
                return r;
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        const char *user = prop_string(props, "basicAuthUser");
        if (user) {
                curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
                curl_easy_setopt(curl, CURLOPT_USERNAME, user);
                curl_easy_setopt(curl, CURLOPT_PASSWORD, prop_string(props, "basicAuthPassword") ?: "");
        }
        /* Kestra's sslOptions.insecureTrustAllCertificates (validation refuses its other keys): no check
         * of the server's certificate or name. */
        json_t *trust = json_object_get(json_object_get(props, "sslOptions"), "insecureTrustAllCertificates");
        if (json_is_true(trust) || (json_is_string(trust) && streq(json_string_value(trust), "true"))) {
                curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
        }

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
