/* cloudstorage.h: what the cloud storage plugin's tasks (cloudstorage.c) and its connections to S3,
 * Azure Blob and GCS (cloudstorage-connect.c) share. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include <tern/plugin.h>

#include "macro.h"
#include "storage.h"

typedef struct Task {
        const TernPluginServices *s;
        json_t *props;
        bool failed; /* fail() was called: its message is the task's */
} Task;

/* Say why the task failed; returns -EIO so that callers can 'return task_fail(...)'. */
int task_fail(Task *t, const char *fmt, ...) _printf_(2, 3);
/* A string property, NULL when absent or empty. */
const char *task_string(Task *t, const char *name);

/* One bucket (container) of one service, opened with the task's connection properties. */
typedef struct Remote {
        Storage *storage;
        char *service;    /* "S3", "Azure Blob", "GCS": for messages */
        char *bucket;     /* the bucket or container */
        const char *noun; /* "bucket" or "container" */
        char *base; /* what an object's URI is made of: base + key (s3://BUCKET/, gs://BUCKET/, the container's URL/) */
} Remote;

void remote_done(Remote *r);
static inline void remote_donep(Remote *r) {
        remote_done(r);
}
#define _cleanup_remote_ _cleanup_(remote_donep)

/* Open the bucket (container) with the task's properties: S3's region, endpointOverride, accessKeyId,
 * secretKeyId, sessionToken, forcePathStyle; Azure's endpoint, connectionString,
 * sharedKeyAccountName, sharedKeyAccountAccessKey, sasToken; GCS's serviceAccount or tern's
 * hmacAccessKey and hmacSecret, endpoint. Credentials must be given: the worker's own (its
 * environment, its LoadCredential= files, which are internal storage's) are never used. 0, or -EIO
 * after task_fail(). */
int remote_open_s3(Task *t, const char *bucket, Remote *ret);
int remote_open_azure(Task *t, const char *container, Remote *ret);
int remote_open_gcs(Task *t, const char *bucket, Remote *ret);

/* gs://BUCKET/KEY split; KEY may be "" when allow_empty_key. 0, or -EIO after task_fail() naming prop. */
int gcs_uri_split(Task *t, const char *prop, const char *uri, bool allow_empty_key, char **ret_bucket, char **ret_key);
