/* gcs-sign.c: GOOG4-RSA-SHA256 signatures (GCS's V4 signing with a service account's RSA key). */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "gcs-sign.h"
#include "storage-http.h"
#include "strbuf.h"
#include "strutil.h"

struct GcsKey {
        char *email;
        EVP_PKEY *pkey;
};

GcsKey *gcs_key_free(GcsKey *k) {
        if (!k)
                return NULL;
        free(k->email);
        EVP_PKEY_free(k->pkey);
        free(k);
        return NULL;
}

const char *gcs_key_email(const GcsKey *k) {
        return k->email;
}

int gcs_key_parse(const char *json, size_t len, GcsKey **ret, char **ret_error) {
        json_error_t jerr;
        _cleanup_json_ json_t *doc = json_loadb(json, len, 0, &jerr);
        if (!doc) {
                /* jansson quotes the text "near" the error, which may well be part of the private key. */
                const char *near = strstr(jerr.text, " near ");
                *ret_error = strdup_printf("not JSON: %.*s (line %d, column %d)",
                                           (int) (near ? (size_t) (near - jerr.text) : strlen(jerr.text)), jerr.text,
                                           jerr.line, jerr.column);
                return -EINVAL;
        }
        const char *email = json_string_value(json_object_get(doc, "client_email"));
        const char *pem = json_string_value(json_object_get(doc, "private_key"));
        if (!email || !pem) {
                *ret_error = strdup("not a service account key: no client_email or private_key");
                return -EINVAL;
        }
        _cleanup_(gcs_key_freep) GcsKey *k = calloc(1, sizeof(GcsKey));
        if (!k || !(k->email = strdup(email)))
                return -ENOMEM;
        BIO *bio = BIO_new_mem_buf(pem, -1);
        if (!bio)
                return -ENOMEM;
        k->pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);
        if (!k->pkey || EVP_PKEY_get_base_id(k->pkey) != EVP_PKEY_RSA) {
                *ret_error = strdup("its private_key is not an RSA key in PEM form");
                return -EINVAL;
        }
        *ret = TAKE_PTR(k);
        return 0;
}

int gcs_key_load(const char *path, GcsKey **ret, char **ret_error) {
        _cleanup_(fclosep) FILE *f = fopen(path, "re");
        if (!f) {
                int r = -errno;
                *ret_error = strdup_printf("cannot open '%s': %s", path, strerror(-r));
                return r;
        }
        char buf[65536];
        size_t n = fread(buf, 1, sizeof buf, f);
        if (n == sizeof buf) {
                *ret_error = strdup_printf("'%s' is too large for a service account key", path);
                return -EFBIG;
        }
        _cleanup_free_ char *why = NULL;
        int r = gcs_key_parse(buf, n, ret, &why);
        explicit_bzero(buf, sizeof buf);
        if (r < 0 && why)
                *ret_error = strdup_printf("'%s': %s", path, why);
        return r;
}

void gcs_signed_done(GcsSigned *g) {
        if (!g)
                return;
        free(g->canonical_request);
        free(g->string_to_sign);
        free(g->signature);
        free(g->query);
        free(g->signed_headers);
        free(g->credential);
        *g = (GcsSigned) { 0 };
}

void gcs_format_time(time_t when, char buf[static 17]) {
        struct tm tm;
        gmtime_r(&when, &tm);
        strftime(buf, 17, "%Y%m%dT%H%M%SZ", &tm);
}

typedef struct Pair {
        char *name, *value;
} Pair;

static void pairs_free(Pair *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(p[i].name);
                free(p[i].value);
        }
        free(p);
}

static int cmp_pair(const void *a, const void *b) {
        const Pair *x = a, *y = b;
        int c = strcmp(x->name, y->name);
        return c ? c : strcmp(x->value, y->value);
}

/* A header's value as signed: trimmed, each run of blanks inside one space. */
static char *header_canonical_value(const char *v) {
        char *out = malloc(strlen(v) + 1), *w = out;
        if (!out)
                return NULL;
        bool blank = false;
        for (const char *p = v; *p; p++) {
                if (*p == ' ' || *p == '\t') {
                        blank = true;
                        continue;
                }
                if (blank && w > out)
                        *w++ = ' ';
                blank = false;
                *w++ = *p;
        }
        *w = 0;
        return out;
}

static int hex_sha256(const void *data, size_t len, char out[static 65]) {
        unsigned char md[32];
        unsigned mdlen = 0;
        if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
                return -EIO;
        for (unsigned i = 0; i < 32; i++)
                sprintf(out + 2 * i, "%02x", md[i]);
        return 0;
}

static int rsa_sign_hex(EVP_PKEY *pkey, const char *msg, char **ret) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        size_t siglen = 0;
        unsigned char *sig = NULL;
        int r = -EIO;
        if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
            EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *) msg, strlen(msg)) == 1 &&
            (sig = malloc(siglen)) &&
            EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *) msg, strlen(msg)) == 1) {
                char *hex = malloc(2 * siglen + 1);
                if (hex) {
                        for (size_t i = 0; i < siglen; i++)
                                sprintf(hex + 2 * i, "%02x", sig[i]);
                        *ret = hex;
                        r = 0;
                } else
                        r = -ENOMEM;
        }
        free(sig);
        EVP_MD_CTX_free(ctx);
        return r;
}

int gcs_sign(const GcsKey *key, const char *method, const char *host, const char *path, char *const *query,
             char *const *headers, time_t when, uint64_t expires, GcsSigned *ret) {
        *ret = (GcsSigned) { 0 };
        char stamp[17], date[9];
        gcs_format_time(when, stamp);
        memcpy(date, stamp, 8);
        date[8] = 0;
        _cleanup_(gcs_signed_done) GcsSigned g = { 0 };
        _cleanup_free_ char *scope = strdup_printf("%s/auto/storage/goog4_request", date);
        if (!scope || !(g.credential = strjoin(key->email, "/", scope)))
                return -ENOMEM;

        /* Headers: lower-case names, sorted; host always. */
        size_t nh = 1 + strv_length((char **) headers) / 2, ih = 0;
        Pair *hs = calloc(nh, sizeof(Pair));
        if (!hs)
                return -ENOMEM;
        int r = 0;
        hs[ih].name = strdup("host");
        hs[ih++].value = strdup(host);
        for (char *const *p = headers; r >= 0 && p && p[0] && p[1]; p += 2, ih++) {
                hs[ih].name = strdup(p[0]);
                hs[ih].value = header_canonical_value(p[1]);
                if (hs[ih].name)
                        for (char *c = hs[ih].name; *c; c++)
                                *c = (char) (*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        }
        for (size_t i = 0; i < ih; i++)
                if (!hs[i].name || !hs[i].value)
                        r = -ENOMEM;
        if (r < 0) {
                pairs_free(hs, ih);
                return r;
        }
        qsort(hs, ih, sizeof(Pair), cmp_pair);
        _cleanup_strbuf_ StrBuf ch = STRBUF_INIT, sh = STRBUF_INIT;
        const char *payload = "UNSIGNED-PAYLOAD";
        for (size_t i = 0; i < ih; i++) {
                strbuf_appendf(&ch, "%s:%s\n", hs[i].name, hs[i].value);
                strbuf_appendf(&sh, "%s%s", i ? ";" : "", hs[i].name);
                if (streq(hs[i].name, "x-goog-content-sha256"))
                        payload = hs[i].value;
        }
        _cleanup_free_ char *payload_copy = strdup(payload);
        pairs_free(hs, ih);
        if (!payload_copy || !(g.signed_headers = strbuf_steal(&sh)))
                return -ENOMEM;

        /* Query: every name and value encoded, sorted by the encoded name. */
        size_t nq = strv_length((char **) query) / 2 + 5, iq = 0;
        Pair *qs = calloc(nq, sizeof(Pair));
        if (!qs)
                return -ENOMEM;
        char expires_s[32];
        snprintf(expires_s, sizeof expires_s, "%llu", (unsigned long long) expires);
        const char *own[] = { "X-Goog-Algorithm", "GOOG4-RSA-SHA256", "X-Goog-Credential", g.credential,
                              "X-Goog-Date", stamp, "X-Goog-Expires", expires_s,
                              "X-Goog-SignedHeaders", g.signed_headers, NULL };
        for (const char **p = own; expires && *p; p += 2, iq++) {
                qs[iq].name = http_encode(p[0], false);
                qs[iq].value = http_encode(p[1], false);
        }
        for (char *const *p = query; p && p[0] && p[1]; p += 2, iq++) {
                qs[iq].name = http_encode(p[0], false);
                qs[iq].value = http_encode(p[1], false);
        }
        for (size_t i = 0; i < iq; i++)
                if (!qs[i].name || !qs[i].value)
                        r = -ENOMEM;
        if (r < 0) {
                pairs_free(qs, iq);
                return r;
        }
        qsort(qs, iq, sizeof(Pair), cmp_pair);
        _cleanup_strbuf_ StrBuf q = STRBUF_INIT;
        strbuf_append(&q, "");
        for (size_t i = 0; i < iq; i++)
                strbuf_appendf(&q, "%s%s=%s", i ? "&" : "", qs[i].name, qs[i].value);
        pairs_free(qs, iq);
        if (!(g.query = strbuf_steal(&q)))
                return -ENOMEM;

        g.canonical_request = strdup_printf("%s\n%s\n%s\n%s\n%s\n%s", method, path, g.query, strbuf_str(&ch),
                                            g.signed_headers, payload_copy);
        char hash[65];
        if (!g.canonical_request)
                return -ENOMEM;
        if ((r = hex_sha256(g.canonical_request, strlen(g.canonical_request), hash)) < 0)
                return r;
        g.string_to_sign = strdup_printf("GOOG4-RSA-SHA256\n%s\n%s\n%s", stamp, scope, hash);
        if (!g.string_to_sign)
                return -ENOMEM;
        if ((r = rsa_sign_hex(key->pkey, g.string_to_sign, &g.signature)) < 0)
                return r;
        *ret = g;
        g = (GcsSigned) { 0 };
        return 0;
}
