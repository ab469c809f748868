/* fuzz-webhook-body: libFuzzer target for turning a webhook's request body and content type into trigger.body. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "json-limits.h"
#include "web-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const content_types[] = {
        NULL, "application/json", "application/json; charset=utf-8", "application/vnd.github+json", "text/plain",
        "application/x-www-form-urlencoded", "application/octet-stream", "multipart/form-data; boundary=x",
};

/* Whether s is the base64 encoding of data[0..size). */
static bool is_base64_of(const char *s, size_t n, const uint8_t *data, size_t size) {
        if (n != (size + 2) / 3 * 4)
                return false;
        _cleanup_free_ unsigned char *dec = malloc(n / 4 * 3 + 1);
        if (!dec)
                return true; /* nothing to say without memory */
        int len = EVP_DecodeBlock(dec, (const unsigned char *) s, (int) n);
        if (len < 0)
                return false;
        /* EVP_DecodeBlock keeps the padding's zero bytes. */
        size_t pad = n >= 1 && s[n - 1] == '=' ? (n >= 2 && s[n - 2] == '=' ? 2 : 1) : 0;
        return (size_t) len - pad == size && memcmp(dec, data, size) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size == 0)
                return 0;
        /* The first byte picks the content type; the rest is the body. */
        const char *ct = content_types[data[0] % (sizeof content_types / sizeof content_types[0])];
        const char *body = (const char *) data + 1;
        size_t len = size - 1;
        _cleanup_json_ json_t *v = NULL;
        int r = web_webhook_body(body, len, ct, &v);
        if (r == -ENOMEM || r == -E2BIG)
                return 0;
        if (r != 0 || !v)
                __builtin_trap();
        if (len == 0) {
                if (!json_is_null(v))
                        __builtin_trap();
                return 0;
        }
        /* The check every entry point applies before storing: what it lets through nests at most
         * JSON_VALUE_DEPTH_MAX levels; what it refuses, it refuses with a message. */
        _cleanup_free_ char *why = NULL;
        int k = json_value_check(v, "the webhook body", &why);
        if ((k == 0 && json_depth(v, JSON_VALUE_DEPTH_MAX + 1) > JSON_VALUE_DEPTH_MAX) || (k < 0 && (k != -E2BIG || !why)))
                __builtin_trap();
        /* Whatever came in must be storable as part of an execution's document... */
        _cleanup_free_ char *dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!dump)
                return 0;
        _cleanup_json_ json_t *back = json_loads(dump, JSON_DECODE_ANY, NULL);
        if (!back || !json_equal(back, v))
                __builtin_trap();
        /* ...and a string is the body itself, a JSON string sent as JSON, or the body
         * base64-encoded when it is no text. */
        if (json_is_string(v)) {
                const char *s = json_string_value(v);
                size_t n = json_string_length(v);
                bool text = n == len && memcmp(s, body, len) == 0;
                _cleanup_json_ json_t *parsed = json_loadb(body, len, JSON_DECODE_ANY, NULL);
                if (!text && !(parsed && json_equal(parsed, v)) && !is_base64_of(s, n, (const uint8_t *) body, len))
                        __builtin_trap();
                if (text && memchr(body, 0, len))
                        __builtin_trap();
        }
        return 0;
}
