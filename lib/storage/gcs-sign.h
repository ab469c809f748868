/* gcs-sign.h: Google Cloud Storage's V4 signatures with a service account key (GOOG4-RSA-SHA256),
 * for the XML API's Authorization header and for signed URLs. */
#pragma once

#include <stdint.h>
#include <time.h>

#include "macro.h"

typedef struct GcsKey GcsKey;

/* A service account's JSON key (client_email, private_key); on failure *ret_error says why. */
int gcs_key_load(const char *path, GcsKey **ret, char **ret_error);
int gcs_key_parse(const char *json, size_t len, GcsKey **ret, char **ret_error);
GcsKey *gcs_key_free(GcsKey *k);
DEFINE_FREE_CLEANUP(GcsKey, gcs_key_free);
const char *gcs_key_email(const GcsKey *k);

typedef struct GcsSigned {
        char *canonical_request;
        char *string_to_sign;
        char *signature;      /* hex */
        char *query;          /* the canonical query string (a signed URL's, without X-Goog-Signature) */
        char *signed_headers; /* "host;x-goog-date" */
        char *credential;     /* EMAIL/DATE/auto/storage/goog4_request */
} GcsSigned;

void gcs_signed_done(GcsSigned *g);

/* Sign a request to host (no port) for path (already percent-encoded, '/' kept). query and headers
 * are NULL-terminated name, value lists, not encoded (either may be NULL); "host" is added.
 * expires > 0 signs a URL valid that many seconds (the X-Goog-* parameters go in the query),
 * 0 an Authorization header (headers must then hold x-goog-date for when). The payload is the
 * x-goog-content-sha256 header's value when there is one, else UNSIGNED-PAYLOAD. */
int gcs_sign(const GcsKey *key, const char *method, const char *host, const char *path, char *const *query,
             char *const *headers, time_t when, uint64_t expires, GcsSigned *ret);

/* "20190201T090000Z" */
void gcs_format_time(time_t when, char buf[static 17]);
