/* storage-backend.h: what the storage front end (storage.c) and its backends share: the vtable, the
 * handle, the parsed URL and the error helpers. Internal to lib/storage. */
#pragma once

#include <stdarg.h>

#include "storage.h"

/* Every operation gets keys already checked by storage.c (key.h's rules). */
typedef struct StorageBackendOps {
        void (*free)(Storage *s);
        int (*check)(Storage *s);
        int (*put)(Storage *s, const char *key, StorageReadFn fn, void *userdata);
        int (*put_file)(Storage *s, const char *key, int fd, uint64_t off, uint64_t size); /* NULL: through put */
        int (*get)(Storage *s, const char *key, StorageWriteFn fn, void *userdata);
        int (*stat)(Storage *s, const char *key, StorageObject *ret);
        int (*list)(Storage *s, const char *prefix, const char *token, size_t max, StorageList *ret);
        int (*delete)(Storage *s, const char *key);
        int (*delete_prefix)(Storage *s, const char *prefix);
        int (*move)(Storage *s, const char *from, const char *to);
        int (*abort_incomplete)(Storage *s, usec_t started_before, uint64_t *ret_n); /* NULL: none to abort */
} StorageBackendOps;

struct Storage {
        const StorageBackendOps *ops;
        StorageKind kind;
        char *error;
        /* The options with their defaults applied. */
        uint64_t part_size;
        uint64_t file_part_size;
        unsigned parts_in_flight;
        unsigned attempts;
        usec_t retry_delay, retry_for, connect_timeout, stall_timeout;
        void *data; /* the backend's */
};

/* scheme://HOST/PATH?k=v&...: HOST the bucket or account, PATH without its leading and trailing
 * '/' ("" when none), params percent-decoded name, value pairs, NULL-terminated. */
typedef struct StorageUrl {
        const char *url; /* as given, for messages */
        char *scheme;
        char *host;
        char *path;
        char **params;
} StorageUrl;

const char *storage_url_param(const StorageUrl *u, const char *name);
/* NULL when every parameter is one of allowed (NULL-terminated); else the first that is not. */
const char *storage_url_unknown_param(const StorageUrl *u, const char *const *allowed);

/* Set the handle's error message (one line). */
void storage_set_error(Storage *s, const char *fmt, ...) _printf_(2, 3);
/* Set it and return r. */
int storage_fail(Storage *s, int r, const char *fmt, ...) _printf_(3, 4);

/* The part size of an upload of size bytes from a file: s->file_part_size, or larger when that
 * would take more than max_parts. */
uint64_t storage_file_part_size(const Storage *s, uint64_t size, unsigned max_parts);

/* Fill buf from fn: the count (less than n only at the end), or fn's negative errno. */
ssize_t storage_fill(StorageReadFn fn, void *userdata, char *buf, size_t n);

/* A service's listing, parsed: a new object named key at the end of l (whose capacity *cap
 * grows), or NULL when out of memory. */
StorageObject *storage_list_push(StorageList *l, size_t *cap, const char *key);
/* An ETag as listings give it, without its quotes. */
char *storage_etag_unquote(const char *text);

/* delete_prefix over the backend's list: a page of at most page objects at a time, always the
 * first (what was deleted is gone from the next listing), given to del; what prefixes errors. */
int storage_delete_listed(Storage *s, const char *prefix, size_t page,
                          int (*del)(Storage *s, const StorageList *l, const char *what), const char *what);

/* $CREDENTIALS_DIRECTORY/name (systemd LoadCredential=), without its trailing newline: 0 and
 * *ret, or -ENOENT when there is no such credential. */
int storage_credential(const char *name, char **ret);

/* Each backend's open: fills s->ops and s->data, or returns a negative errno with *ret_error set. */
int storage_local_open(Storage *s, const StorageUrl *u, const StorageOptions *opt, char **ret_error);
int storage_s3_open(Storage *s, const StorageUrl *u, const StorageOptions *opt, char **ret_error);
int storage_azure_open(Storage *s, const StorageUrl *u, const StorageOptions *opt, char **ret_error);
