/* test-gcs-signing: GOOG4-RSA-SHA256 against Google's V4 signing conformance vectors (signed URLs):
 * every canonical request, string to sign and signature must come out as Google's client libraries
 * make them. The vectors are read from $TERN_GCS_CONFORMANCE (default ../shared/gcs-conformance). */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <time.h>

#include "cleanup-jansson.h"
#include "gcs-sign.h"
#include "storage-http.h"
#include "strutil.h"
#include "tap.h"

static char *strip_scheme_and_port(const char *h) {
        const char *p = strstr(h, "://");
        p = p ? p + 3 : h;
        size_t n = strcspn(p, ":/");
        return strndup(p, n);
}

/* Where a client library sends the request, from the vector's fields (Google's rules: a hostname
 * wins over a client endpoint, which wins over an emulator host; a universe domain names
 * storage.DOMAIN; the port is never part of the signed host). */
static int request_target(json_t *t, char **ret_host, char **ret_path) {
        const char *bucket = json_string_value(json_object_get(t, "bucket"));
        const char *object = json_string_value(json_object_get(t, "object"));
        const char *style = json_string_value(json_object_get(t, "urlStyle"));
        const char *hostname = json_string_value(json_object_get(t, "hostname"));
        const char *endpoint = json_string_value(json_object_get(t, "clientEndpoint"));
        const char *emulator = json_string_value(json_object_get(t, "emulatorHostname"));
        const char *universe = json_string_value(json_object_get(t, "universeDomain"));
        const char *bound = json_string_value(json_object_get(t, "bucketBoundHostname"));
        _cleanup_free_ char *enc = object ? http_encode(object, true) : NULL;
        _cleanup_free_ char *host = NULL;
        if (style && streq(style, "BUCKET_BOUND_HOSTNAME") && bound) {
                *ret_host = strip_scheme_and_port(bound);
                *ret_path = strjoin("/", strempty(enc));
                return 0;
        }
        if (hostname)
                host = strip_scheme_and_port(hostname);
        else if (endpoint)
                host = strip_scheme_and_port(endpoint);
        else if (emulator)
                host = strip_scheme_and_port(emulator);
        else if (universe)
                host = strjoin("storage.", universe);
        else
                host = strdup("storage.googleapis.com");
        bool virtual = style && streq(style, "VIRTUAL_HOSTED_STYLE");
        *ret_host = virtual ? strjoin(bucket, ".", host) : TAKE_PTR(host);
        if (virtual)
                *ret_path = strjoin("/", strempty(enc));
        else
                *ret_path = enc ? strjoin("/", bucket, "/", enc) : strjoin("/", bucket);
        return 0;
}

static char **pairs(json_t *o) {
        char **l = NULL;
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v) {
                strv_extend(&l, k);
                strv_extend(&l, json_string_value(v) ?: "");
        }
        return l;
}

/* A canonical request in one TAP line: each line break as "\\n" (leaked: only on failure). */
static char *one_line(const char *s) {
        char *o = malloc(2 * strlen(s) + 1), *w = o;
        for (; o && *s; s++)
                if (*s == '\n')
                        *w++ = '\\', *w++ = 'n';
                else
                        *w++ = *s;
        if (o)
                *w = 0;
        return o;
}

static void hex_sha256(const char *s, char out[static 65]) {
        unsigned char md[32];
        EVP_Digest(s, strlen(s), md, NULL, EVP_sha256(), NULL);
        for (unsigned i = 0; i < 32; i++)
                sprintf(out + 2 * i, "%02x", md[i]);
}

/* The expected canonical request is not what the expected string to sign is of. */
static bool contradicts_itself(const char *canonical, const char *string_to_sign) {
        char h[65];
        hex_sha256(canonical, h);
        return !endswith(string_to_sign, h);
}

/* Equal but for the second line (the path). */
static bool same_but_path(const char *a, const char *b) {
        const char *a1 = strchr(a, '\n'), *b1 = strchr(b, '\n');
        if (!a1 || !b1 || a1 - a != b1 - b || strncmp(a, b, (size_t) (a1 - a)) != 0)
                return false;
        const char *a2 = strchr(a1 + 1, '\n'), *b2 = strchr(b1 + 1, '\n');
        return a2 && b2 && streq(a2, b2);
}

int main(void) {
        const char *dir = getenv("TERN_GCS_CONFORMANCE");
        _cleanup_free_ char *def = NULL;
        if (isempty(dir)) {
                const char *src = getenv("TERN_SOURCE_ROOT");
                def = strjoin(src ?: ".", "/../shared/gcs-conformance");
                dir = def;
        }
        _cleanup_free_ char *vectors = strjoin(dir, "/v4_signatures.json");
        _cleanup_free_ char *account = strjoin(dir, "/test_service_account.not-a-test.json");
        json_error_t jerr;
        _cleanup_json_ json_t *doc = json_load_file(vectors, 0, &jerr);
        if (!doc) {
                char why[1024];
                snprintf(why, sizeof why, "no GCS conformance vectors at %s (set TERN_GCS_CONFORMANCE): %s", vectors, jerr.text);
                tap_skip_all(why);
        }
        GcsKey *key = NULL;
        _cleanup_free_ char *err = NULL;
        if (!ok(gcs_key_load(account, &key, &err) == 0, "load the vectors' service account key")) {
                diag("%s", strna(err));
                return tap_done();
        }
        is_str(gcs_key_email(key), "test-iam-credentials@dummy-project-id.iam.gserviceaccount.com", "its email");

        json_t *tests = json_object_get(doc, "signingV4Tests");
        ok(json_array_size(tests) == 29, "29 signed-URL cases (%zu)", json_array_size(tests));
        size_t i;
        json_t *t;
        json_array_foreach(tests, i, t) {
                const char *name = json_string_value(json_object_get(t, "description"));
                struct tm tm = { 0 };
                const char *ts = json_string_value(json_object_get(t, "timestamp"));
                if (!ts || !strptime(ts, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
                        ok(false, "%s: a timestamp", name);
                        continue;
                }
                _cleanup_free_ char *host = NULL, *path = NULL;
                request_target(t, &host, &path);
                _cleanup_strv_free_ char **query = pairs(json_object_get(t, "queryParameters"));
                _cleanup_strv_free_ char **headers = pairs(json_object_get(t, "headers"));
                GcsSigned g;
                int r = gcs_sign(key, json_string_value(json_object_get(t, "method")), host, path, query, headers, timegm(&tm),
                                 (uint64_t) json_integer_value(json_object_get(t, "expiration")), &g);
                if (!is_int(r, 0, name))
                        continue;
                const char *expected = json_string_value(json_object_get(t, "expectedCanonicalRequest"));
                const char *sts = json_string_value(json_object_get(t, "expectedStringToSign"));
                if (!contradicts_itself(expected, sts)) {
                        if (!ok(streq(g.canonical_request, expected), "%s: canonical request", name))
                                diag("got %s, expected %s", one_line(g.canonical_request), one_line(expected));
                } else {
                        /* "Universe domain with virtual hosted style" lists the bucket in the path of its
                         * canonical request, but its string to sign (and signature, and URL) are of the
                         * request without it: what is signed is what counts. */
                        diag("%s: the expected canonical request is not the one its string to sign hashes", name);
                        ok(same_but_path(g.canonical_request, expected), "%s: canonical request (but the path)", name);
                }
                ok(streq(g.string_to_sign, json_string_value(json_object_get(t, "expectedStringToSign"))),
                   "%s: string to sign", name);
                /* The signature is the URL's last parameter. */
                const char *url = json_string_value(json_object_get(t, "expectedUrl"));
                const char *sig = url ? strstr(url, "X-Goog-Signature=") : NULL;
                ok(sig && streq(sig + strlen("X-Goog-Signature="), g.signature), "%s: signature", name);
                gcs_signed_done(&g);
        }
        gcs_key_free(key);
        return tap_done();
}
