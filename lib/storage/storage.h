/* storage.h: tern's internal storage: one interface over a local directory, S3 (and S3-compatible
 * services), Google Cloud Storage and Azure Blob, for the files that travel between tasks and hosts. */
#pragma once

/* Keys are relative '/'-separated paths (key.h says which ones are valid and how Kestra's
 * kestra:/// URIs map to them); every function refuses an invalid key with -EINVAL before any
 * backend sees it. The URL's own prefix (s3://bucket/PREFIX) is added by the backend: callers never
 * see it.
 *
 * Conventions: functions return >= 0 on success and a negative errno on failure; storage_error()
 * then says which object, which backend and why (for a service: the HTTP status and the service's
 * error code and message). The errors a caller may want to tell apart:
 *   -EINVAL   the key or prefix is not valid (refused before any request)
 *   -ENOENT   no such object
 *   -ENXIO    the bucket (container, root directory) does not exist
 *   -EACCES   the service refused the credentials or the operation (HTTP 401/403)
 *   -ESTALE   the object changed while a download was being resumed
 *   -ECONNREFUSED, -ETIMEDOUT, -ECONNRESET, -EHOSTUNREACH  the network, after the retries
 *   -EIO      any other answer of the service (storage_error() has it)
 * A callback's own negative errno stops the transfer and is returned as is.
 *
 * Requests that fail for a reason that may pass (HTTP 5xx, 429 and 503 throttling, a reset or
 * refused connection, a timeout) are retried with exponential backoff for up to retry_for; an
 * upload is never left half-visible: an object appears whole or not at all (the local backend
 * renames a complete temporary file, multipart uploads are aborted on failure; those of a killed
 * process are left to storage_abort_incomplete()). A part that fails is retried alone: the parts
 * already stored stay, the object is not sent again.
 *
 * A Storage is not thread-safe: open one per thread (a handle keeps its connections alive). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"
#include "timeutil.h"

typedef struct Storage Storage;

#define STORAGE_PARTS_IN_FLIGHT_MAX 8u
/* The largest part (block) every service takes: Azure's Put Block (S3's parts go to 5 GiB). */
#define STORAGE_FILE_PART_MAX (UINT64_C(4000) * 1024 * 1024)

typedef enum StorageKind {
        STORAGE_LOCAL,
        STORAGE_S3,
        STORAGE_GCS,
        STORAGE_AZURE,
} StorageKind;

/* Everything optional; NULL or 0 means the default. Credentials not given here are looked up as
 * each backend documents in storage_open(). Strings are copied. */
typedef struct StorageOptions {
        const char *access_key;           /* S3, GCS with HMAC keys: the access key id */
        const char *secret_key;           /* ... and its secret */
        const char *session_token;        /* S3 temporary credentials */
        const char *profile;              /* S3: section of ~/.aws/credentials (default $AWS_PROFILE, "default") */
        const char *service_account_file; /* GCS: a service account's JSON key file */
        const char *account_key;          /* Azure: the storage account's key (base64) */
        const char *sas_token;            /* Azure: a SAS token, instead of the account key */
        uint64_t part_size;               /* bytes per part of a large upload (default 8 MiB, at least 5 MiB) */
        unsigned parts_in_flight;         /* parts of a large upload sent at once, each on a connection of
                                           * its own and each held in memory (default 2, at most
                                           * STORAGE_PARTS_IN_FLIGHT_MAX) */
        uint64_t file_part_size;          /* the same for an upload from a regular file (storage_put_file,
                                           * storage_put_fd), whose parts are read from the file as they
                                           * are sent, none held: a file up to this size goes in one
                                           * request (default 256 MiB or part_size if larger; 5 MiB to
                                           * STORAGE_FILE_PART_MAX) */
        unsigned attempts;                /* tries per request, the first included (default: no bound but retry_for) */
        usec_t retry_delay;               /* first backoff delay, doubled per retry up to 20 s (default 200 ms) */
        usec_t retry_for;                 /* no retry starts later than this after the first try (default 30 s):
                                           * a service down for seconds (a restart) is waited out */
        usec_t connect_timeout;           /* default 10 s */
        usec_t stall_timeout;             /* a transfer that moves no byte for this long fails (default 60 s) */
} StorageOptions;

/* url:
 *   file:///ABSOLUTE/DIR                     a local directory (created when its parent exists)
 *   s3://BUCKET[/PREFIX][?endpoint=URL&region=R&style=path|virtual&profile=P&payload=signed|unsigned]
 *                                            default region us-east-1, endpoint AWS's; style: path
 *                                            when an endpoint is given, virtual-host otherwise;
 *                                            payload: whether objects' content is signed by its
 *                                            SHA-256 (default: unsigned over https and loopback,
 *                                            signed over plain http to another host)
 *   gs://BUCKET[/PREFIX][?endpoint=URL&region=R&payload=...]  GCS's XML API (storage.googleapis.com)
 *   azure://ACCOUNT/CONTAINER[/PREFIX][?endpoint=URL]
 * S3 credentials, the first found: opt, then $CREDENTIALS_DIRECTORY (systemd LoadCredential=)
 * files storage-access-key, storage-secret-key, storage-session-token, then $AWS_ACCESS_KEY_ID,
 * $AWS_SECRET_ACCESS_KEY, $AWS_SESSION_TOKEN, then the profile of ~/.aws/credentials (or
 * $AWS_SHARED_CREDENTIALS_FILE). GCS: opt's HMAC keys, else opt's service account key file (then
 * alone: no key of the process is looked for), else HMAC keys from the same credential files as
 * S3's, then $GCS_HMAC_ACCESS_KEY/$GCS_HMAC_SECRET, else a service account key from the credential
 * file storage-service-account.json, then $GOOGLE_APPLICATION_CREDENTIALS. Azure: opt, then the
 * credential files storage-account-key or storage-sas-token, then $AZURE_STORAGE_KEY or
 * $AZURE_STORAGE_SAS_TOKEN.
 * No request is made: storage_check() tries the bucket and the credentials. On failure
 * *ret_error (when not NULL) gets a message saying what is wrong with the URL or the options. */
int storage_open(const char *url, const StorageOptions *opt, Storage **ret, char **ret_error);
Storage *storage_free(Storage *s);
DEFINE_FREE_CLEANUP(Storage, storage_free);
#define _cleanup_storage_ _cleanup_(storage_freep)

StorageKind storage_kind(const Storage *s);
/* "local", "s3", "gcs", "azure". */
const char *storage_kind_name(const Storage *s);
/* The last failure on this handle, one line; never NULL. */
const char *storage_error(const Storage *s);

/* One request that needs the bucket and working credentials (a daemon's start-up check). */
int storage_check(Storage *s);

/* ---- transfers ----------------------------------------------------------------------------- */

/* Fill buf with up to n bytes: the count, 0 at the end, or a negative errno (the put fails). */
typedef ssize_t (*StorageReadFn)(void *userdata, void *buf, size_t n);
/* Take n bytes: 0, or a negative errno (the get stops and fails with it). */
typedef int (*StorageWriteFn)(void *userdata, const void *buf, size_t n);

/* Store what fn yields as key, replacing any object of that name once it is complete. Objects over
 * one part (StorageOptions.part_size) go up in parts, parts_in_flight at once on connections of
 * their own while fn is read on the calling thread: at most that many parts are held in memory. */
int storage_put(Storage *s, const char *key, StorageReadFn fn, void *userdata);
/* The same from fd, read from its current offset to its end: a regular file as storage_put_file()
 * (its size when the upload begins), anything else (a pipe) as storage_put(). */
int storage_put_fd(Storage *s, const char *key, int fd);
/* size bytes of the regular file fd from off (fd's own offset is neither used nor moved). Service
 * backends send each part straight from the file, in parts of StorageOptions.file_part_size,
 * parts_in_flight at once, none held in memory; a part retried is read from the file again. A file
 * shorter than off + size when it is read fails with -ENODATA (it must not change meanwhile). */
int storage_put_file(Storage *s, const char *key, int fd, uint64_t off, uint64_t size);

/* Stream the object to fn. A transfer cut off midway is resumed where it stopped (-ESTALE if the
 * object changed meanwhile); fn never sees a byte twice. */
int storage_get(Storage *s, const char *key, StorageWriteFn fn, void *userdata);
/* The same into fd, written at its current offset. */
int storage_get_fd(Storage *s, const char *key, int fd);

/* ---- metadata ------------------------------------------------------------------------------ */

typedef struct StorageObject {
        char *key;      /* relative to the storage (list: the full key, not relative to the prefix) */
        uint64_t size;
        usec_t mtime;   /* last modified, microseconds since the epoch */
        char *etag;     /* changes when the content does; opaque */
} StorageObject;

void storage_object_done(StorageObject *o);

int storage_stat(Storage *s, const char *key, StorageObject *ret);
/* 1 when key exists, 0 when not, or a negative errno. */
int storage_exists(Storage *s, const char *key);

typedef struct StorageList {
        StorageObject *objects; /* in byte order of key */
        size_t n;
        char *next;             /* pass to the next call; NULL on the last page */
} StorageList;

void storage_list_done(StorageList *l);
static inline void storage_list_donep(StorageList *l) {
        storage_list_done(l);
}
#define _cleanup_storage_list_ _cleanup_(storage_list_donep)

/* One page of at most max (0: 1000) objects below the directory prefix (every depth; "" for the
 * whole storage), from token (NULL: the first page). */
int storage_list(Storage *s, const char *prefix, const char *token, size_t max, StorageList *ret);

/* ---- changes ------------------------------------------------------------------------------- */

/* A missing object is not an error. */
int storage_delete(Storage *s, const char *key);
/* Every object below the directory prefix (which may not be ""). */
int storage_delete_prefix(Storage *s, const char *prefix);
/* Rename from to to, replacing to. Services copy then delete (not atomic there). */
int storage_move(Storage *s, const char *from, const char *to);

/* ---- maintenance --------------------------------------------------------------------------- */

/* Abort the uploads that were begun before started_before and never completed nor aborted (their
 * process was killed midway), below the storage's prefix; *ret_n (may be NULL) counts them. S3
 * and GCS: their multipart uploads, whose stored parts the services keep (and bill) until then.
 * Local: the temporary files of puts last written before started_before (hidden from listings).
 * Azure: nothing to do (the service drops blocks never committed after a week). An upload in
 * progress must not be aborted: give a cutoff well before the longest upload may have begun (a
 * day). */
int storage_abort_incomplete(Storage *s, usec_t started_before, uint64_t *ret_n);
