/* test-storage-credentials: credentials given in StorageOptions are the only ones used, the process's
 * own (credential files, environment) never winning over them, and no key material in errors. No
 * request is made: storage_open() alone decides which credentials a handle signs with. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "storage.h"
#include "strutil.h"
#include "tap.h"

static void write_file(const char *dir, const char *name, const char *text) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *f = fopen(path, "we");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
                fprintf(stderr, "cannot write %s\n", path);
                exit(1);
        }
}

int main(void) {
        char dir[] = "/tmp/tern-storage-cred.XXXXXX", path[4096];
        if (!mkdtemp(dir))
                return 1;
        const char *url = "gs://bucket?endpoint=http://127.0.0.1:9";
        Storage *s = NULL;

        /* What a worker with an S3 or GCS internal storage has: keys of its own. */
        write_file(dir, "storage-access-key", "WORKER-ACCESS-KEY");
        write_file(dir, "storage-secret-key", "WORKER-SECRET-KEY");
        setenv("CREDENTIALS_DIRECTORY", dir, 1);
        setenv("GCS_HMAC_ACCESS_KEY", "WORKER-ENV-KEY", 1);
        setenv("GCS_HMAC_SECRET", "WORKER-ENV-SECRET", 1);

        _cleanup_free_ char *err = NULL;
        int r = storage_open(url, &(StorageOptions){}, &s, &err);
        ok(r >= 0, "without keys in the options, the process's own are used (the worker's internal storage): %s",
           strna(err));
        s = storage_free(s);

        /* A task's service account key that is not one: the open fails on it, rather than signing
         * with the worker's keys found beside. */
        snprintf(path, sizeof path, "%s/sa.json", dir);
        write_file(dir, "sa.json", "{\"client_email\": \"x@y\", \"private_key\": \"SECRETMATERIAL\\q\"}");
        free(err), err = NULL;
        r = storage_open(url, &(StorageOptions){ .service_account_file = path }, &s, &err);
        ok(r < 0 && s == NULL, "a service account key given in the options is used alone, not the process's HMAC keys");
        ok(err && strstr(err, "service account key") && strstr(err, "not JSON"), "the error names the key: %s",
           strna(err));
        ok(err && !strstr(err, "SECRETMATERIAL"), "the error quotes nothing of the key's text");
        s = storage_free(s);

        snprintf(path, sizeof path, "%s/missing.json", dir);
        free(err), err = NULL;
        r = storage_open(url, &(StorageOptions){ .service_account_file = path }, &s, &err);
        ok(r < 0 && s == NULL, "a missing key file in the options fails the open: %s", strna(err));
        s = storage_free(s);

        free(err), err = NULL;
        r = storage_open(url, &(StorageOptions){ .access_key = "TASK", .secret_key = "TASKSECRET" }, &s, &err);
        ok(r >= 0, "HMAC keys in the options open it: %s", strna(err));
        s = storage_free(s);

        unsetenv("CREDENTIALS_DIRECTORY");
        unsetenv("GCS_HMAC_ACCESS_KEY");
        unsetenv("GCS_HMAC_SECRET");
        const char *names[] = { "storage-access-key", "storage-secret-key", "sa.json" };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                snprintf(path, sizeof path, "%s/%s", dir, names[i]);
                (void) unlink(path);
        }
        (void) rmdir(dir);
        return tap_done();
}
