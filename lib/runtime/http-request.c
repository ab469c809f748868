/* http-request.c: Kestra's HTTP request properties onto a libcurl handle, shared by the worker's
 * http tasks and the scheduler's http trigger. */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "cleanup-jansson.h"
#include "http-request.h"
#include "macro.h"
#include "strbuf.h"
#include "strutil.h"
#include "timeutil.h"

size_t http_collect_header(char *data, size_t size, size_t n, void *headers) {
        json_t *map = headers;
        size_t len = size * n;
        const char *colon = memchr(data, ':', len);
        if (len > 5 && strncmp(data, "HTTP/", 5) == 0)
                json_object_clear(map); /* a redirect's next response starts over */
        if (!colon || colon == data)
                return len;
        _cleanup_free_ char *name = strndup(data, (size_t) (colon - data)),
                            *value = strndup(colon + 1, len - (size_t) (colon - data) - 1);
        if (!name || !value)
                return 0;
        strstrip(value);
        for (char *c = name; *c; c++)
                *c = (char) tolower((unsigned char) *c);
        json_t *list = json_object_get(map, name);
        if (!list && (!(list = json_array()) || json_object_set_new(map, name, list) < 0))
                return 0;
        return json_array_append_new(list, json_string(value)) < 0 ? 0 : len;
}

/* options.NAME: an ISO-8601 duration, in milliseconds (0: not given). */
static int option_ms(json_t *options, const char *name, long *ret) {
        json_t *v = json_object_get(options, name);
        susec_t d;
        *ret = 0;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v) || duration_parse(json_string_value(v), &d) < 0 || d < 0)
                return -EINVAL;
        *ret = (long) (d / 1000);
        return 0;
}

static int add_header(HttpRequest *h, const char *name, const char *value) {
        _cleanup_free_ char *line = strjoin(name, ": ", value);
        struct curl_slist *n = line ? curl_slist_append(h->headers, line) : NULL;
        if (!n)
                return -ENOMEM;
        h->headers = n;
        return 0;
}

/* A property value as request text: strings as they are, anything else as compact JSON. */
static char *value_text(json_t *v) {
        return json_is_string(v) ? strdup(json_string_value(v)) : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static int form_encode(CURL *curl, json_t *form_data, char **ret) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        const char *k;
        json_t *v;
        json_object_foreach(form_data, k, v) {
                _cleanup_free_ char *text = value_text(v);
                char *ek = curl_easy_escape(curl, k, 0), *ev = text ? curl_easy_escape(curl, text, 0) : NULL;
                if (ek && ev)
                        strbuf_appendf(&sb, "%s%s=%s", sb.len ? "&" : "", ek, ev);
                curl_free(ek);
                curl_free(ev);
                if (!ek || !ev)
                        return -ENOMEM;
        }
        if (sb.error)
                return sb.error;
        return (*ret = strbuf_steal(&sb)) ? 0 : -ENOMEM;
}

int http_request_setup(HttpRequest *h, CURL *curl, json_t *props, char **ret_error) {
        const char *uri = json_string_value(json_object_get(props, "uri"));
        const char *method = json_string_value(json_object_get(props, "method")) ?: "GET";
        const char *content_type = json_string_value(json_object_get(props, "contentType"));
        const char *user = json_string_value(json_object_get(props, "basicAuthUser"));
        json_t *options = json_object_get(props, "options");
        const char *k;
        json_t *v;
        int r;

        *ret_error = NULL;
        if (!uri)
                return (*ret_error = strdup("property 'uri' is required")), -EINVAL;
        if (strncasecmp(uri, "http://", 7) != 0 && strncasecmp(uri, "https://", 8) != 0)
                return (*ret_error = strdup_printf("uri '%s' must be an http:// or https:// URL", uri)), -EINVAL;
        if (option_ms(options, "connectTimeout", &h->connect_ms) < 0 || option_ms(options, "readTimeout", &h->read_ms) < 0)
                return (*ret_error = strdup("options connectTimeout and readTimeout must be ISO-8601 durations")), -EINVAL;

        curl_easy_setopt(curl, CURLOPT_URL, uri);
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
        if (strcasecmp(method, "HEAD") == 0)
                curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, json_is_false(json_object_get(options, "followRedirects")) ? 0L : 1L);
        curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_USERAGENT, "tern/" TERN_VERSION);

        json_object_foreach(json_object_get(props, "headers"), k, v) {
                _cleanup_free_ char *text = value_text(v);
                if (!text || (r = add_header(h, k, text)) < 0)
                        return -ENOMEM;
        }
        json_t *body = json_object_get(props, "body"), *form_data = json_object_get(props, "formData");
        if (json_is_object(form_data)) {
                if ((r = form_encode(curl, form_data, &h->body)) < 0)
                        return r;
                content_type = content_type ?: "application/x-www-form-urlencoded";
        } else if (body && !json_is_null(body)) {
                if (!(h->body = value_text(body)))
                        return -ENOMEM;
                content_type = content_type ?: "application/json"; /* Kestra's default contentType */
        }
        if (h->body)
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS, h->body);
        if (content_type && (r = add_header(h, "Content-Type", content_type)) < 0)
                return r;
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h->headers);
        if (user) {
                curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
                curl_easy_setopt(curl, CURLOPT_USERNAME, user);
                curl_easy_setopt(curl, CURLOPT_PASSWORD,
                                 json_string_value(json_object_get(props, "basicAuthPassword")) ?: "");
        }
        /* Kestra's sslOptions.insecureTrustAllCertificates (validation refuses its other keys): no check
         * of the server's certificate or name. */
        json_t *trust = json_object_get(json_object_get(props, "sslOptions"), "insecureTrustAllCertificates");
        if (json_is_true(trust) || (json_is_string(trust) && streq(json_string_value(trust), "true"))) {
                curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        return 0;
}

void http_request_done(HttpRequest *h) {
        curl_slist_free_all(h->headers);
        free(h->body);
        *h = HTTP_REQUEST_INIT;
}
