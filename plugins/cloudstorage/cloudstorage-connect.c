/* cloudstorage-connect.c: a task's connection properties (Kestra's names for S3, Azure Blob and GCS)
 * turned into a handle of tern's own storage library on one bucket or container. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cloudstorage.h"
#include "strutil.h"

void remote_done(Remote *r) {
        storage_free(r->storage);
        free(r->service);
        free(r->bucket);
        free(r->base);
        *r = (Remote){};
}

/* A bucket or container name goes into a URL's host part: only what the services allow. */
static int check_bucket(Task *t, const char *prop, const char *name) {
        if (!name)
                return task_fail(t, "'%s' is required", prop);
        for (const char *p = name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      strchr(".-_", *p)))
                        return task_fail(t, "'%s': '%s' is not a valid name (letters, digits, '.', '-' and '_' only)",
                                         prop, name);
        return 0;
}

/* A value for a storage URL's query: what its parser would split on, encoded. */
static char *url_param(const char *v) {
        _cleanup_free_ char *out = malloc(3 * strlen(v) + 1);
        if (!out)
                return NULL;
        char *w = out;
        for (const unsigned char *p = (const unsigned char *) v; *p; p++) {
                if (strchr("%&#?=+ ", *p) || *p < 0x20 || *p >= 0x7f)
                        w += sprintf(w, "%%%02X", *p);
                else
                        *w++ = (char) *p;
        }
        *w = 0;
        return TAKE_PTR(out);
}

static StorageOptions options(Task *t) {
        /* A storage call cannot be interrupted: its retries end before the task's timeout would. */
        uint64_t left = t->s->remaining_usec(t->s->ctx);
        return (StorageOptions){.retry_for = MIN(left / 2, 30 * USEC_PER_SEC) ?: 1};
}

static int open_url(Task *t, const char *url, const StorageOptions *opt, const char *service, const char *bucket,
                    const char *base, Remote *ret) {
        _cleanup_free_ char *why = NULL;
        const char *noun = streq(service, "Azure Blob") ? "container" : "bucket";
        Storage *s = NULL;
        int r = storage_open(url, opt, &s, &why);
        if (r < 0) {
                /* The key file is ours, written from serviceAccount: the flow's author knows it by that name. */
                const char *f = opt->service_account_file;
                char *at = why && f ? strstr(why, f) : NULL;
                if (at && at > why && at[-1] == '\'' && at[strlen(f)] == '\'')
                        return task_fail(t, "%s %s '%s': %.*s'serviceAccount'%s", service, noun, bucket,
                                         (int) (at - why - 1), why, at + strlen(f) + 1);
                return task_fail(t, "%s %s '%s': %s", service, noun, bucket, why ?: strerror(-r));
        }
        *ret = (Remote){
                .storage = s, .service = strdup(service), .bucket = strdup(bucket), .base = strdup(base), .noun = noun};
        if (!ret->service || !ret->bucket || !ret->base) {
                remote_done(ret);
                return -ENOMEM;
        }
        return 0;
}

int remote_open_s3(Task *t, const char *bucket, Remote *ret) {
        const char *ak = task_string(t, "accessKeyId"), *sk = task_string(t, "secretKeyId");
        const char *region = task_string(t, "region") ?: "us-east-1", *endpoint = task_string(t, "endpointOverride");
        json_t *path_style = json_object_get(t->props, "forcePathStyle");
        int r;

        if ((r = check_bucket(t, "bucket", bucket)) < 0)
                return r;
        if (!ak || !sk)
                return task_fail(
                        t,
                        "S3 bucket '%s': 'accessKeyId' and 'secretKeyId' are required (this worker does not lend "
                        "its own credentials to tasks)",
                        bucket);
        if (endpoint && !startswith(endpoint, "http://") && !startswith(endpoint, "https://"))
                return task_fail(t, "'endpointOverride': '%s' is not an http:// or https:// URL", endpoint);
        _cleanup_free_ char *eregion = url_param(region), *eendpoint = endpoint ? url_param(endpoint) : NULL;
        if (!eregion || (endpoint && !eendpoint))
                return -ENOMEM;
        _cleanup_free_ char *url = strdup_printf(
                "s3://%s?region=%s%s%s%s", bucket, eregion, endpoint ? "&endpoint=" : "", strempty(eendpoint),
                json_is_boolean(path_style) ? (json_is_true(path_style) ? "&style=path" : "&style=virtual") : "");
        _cleanup_free_ char *base = strdup_printf("s3://%s/", bucket);
        if (!url || !base)
                return -ENOMEM;
        StorageOptions opt = options(t);
        opt.access_key = ak;
        opt.secret_key = sk;
        opt.session_token = task_string(t, "sessionToken");
        return open_url(t, url, &opt, "S3", bucket, base, ret);
}

/* The value of key in an Azure connection string (Key=Value;Key=Value), or NULL. */
static char *conn_get(const char *conn, const char *key) {
        size_t n = strlen(key);
        for (const char *p = conn; p && *p; p = strchr(p, ';'), p = p ? p + 1 : NULL) {
                while (*p == ' ')
                        p++;
                if (strncasecmp(p, key, n) == 0 && p[n] == '=') {
                        const char *v = p + n + 1, *end = strchr(v, ';');
                        return strndup(v, end ? (size_t) (end - v) : strlen(v));
                }
        }
        return NULL;
}

/* The account of a blob endpoint: ACCOUNT.blob.core.windows.net, or the first path segment of an
 * emulator's (http://127.0.0.1:10000/ACCOUNT). */
static char *endpoint_account(const char *endpoint) {
        const char *host = strstr(endpoint, "://");
        if (!host)
                return NULL;
        host += 3;
        const char *slash = strchr(host, '/');
        if (slash && slash[1]) {
                const char *end = strchr(slash + 1, '/');
                return strndup(slash + 1, end ? (size_t) (end - slash - 1) : strlen(slash + 1));
        }
        const char *dot = strchr(host, '.');
        return dot && dot < (slash ?: host + strlen(host)) ? strndup(host, (size_t) (dot - host)) : NULL;
}

int remote_open_azure(Task *t, const char *container, Remote *ret) {
        const char *conn = task_string(t, "connectionString");
        _cleanup_free_ char *endpoint = NULL, *account = NULL, *key = NULL, *sas = NULL;
        int r;

        if ((r = check_bucket(t, "container", container)) < 0)
                return r;
        if (conn) {
                _cleanup_free_ char *proto = conn_get(conn, "DefaultEndpointsProtocol"),
                                    *suffix = conn_get(conn, "EndpointSuffix");
                endpoint = conn_get(conn, "BlobEndpoint");
                account = conn_get(conn, "AccountName");
                key = conn_get(conn, "AccountKey");
                sas = conn_get(conn, "SharedAccessSignature");
                if (!endpoint && account)
                        endpoint = strdup_printf("%s://%s.blob.%s", proto ?: "https", account,
                                                 suffix ?: "core.windows.net");
                if (!endpoint)
                        return task_fail(t, "'connectionString' names neither 'BlobEndpoint' nor 'AccountName'");
        } else {
                const char *e = task_string(t, "endpoint");
                if (!e)
                        return task_fail(t, "Azure container '%s': 'endpoint' (or 'connectionString') is required",
                                         container);
                if (!(endpoint = strdup(e)))
                        return -ENOMEM;
        }
        /* The task's own properties win over the connection string's. */
        const char *v;
        if ((v = task_string(t, "sharedKeyAccountName")) && (free(account), !(account = strdup(v))))
                return -ENOMEM;
        if ((v = task_string(t, "sharedKeyAccountAccessKey")) && (free(key), !(key = strdup(v))))
                return -ENOMEM;
        if ((v = task_string(t, "sasToken")) && (free(sas), !(sas = strdup(v))))
                return -ENOMEM;
        if (!startswith(endpoint, "http://") && !startswith(endpoint, "https://"))
                return task_fail(t, "Azure container '%s': the endpoint '%s' is not an http:// or https:// URL",
                                 container, endpoint);
        if (!account && !(account = endpoint_account(endpoint)))
                return task_fail(t,
                                 "Azure container '%s': no account: give 'sharedKeyAccountName' or an endpoint "
                                 "https://ACCOUNT.blob.core.windows.net",
                                 container);
        if (!key && !sas)
                return task_fail(t,
                                 "Azure container '%s': no credentials: give 'sharedKeyAccountName' and "
                                 "'sharedKeyAccountAccessKey', 'sasToken', or a 'connectionString' with AccountKey or "
                                 "SharedAccessSignature (this worker does not lend its own to tasks)",
                                 container);
        if ((r = check_bucket(t, "sharedKeyAccountName", account)) < 0)
                return r;
        for (size_t l = strlen(endpoint); l > 0 && endpoint[l - 1] == '/'; l--)
                endpoint[l - 1] = 0;
        _cleanup_free_ char *eendpoint = url_param(endpoint);
        _cleanup_free_ char *url =
                eendpoint ? strdup_printf("azure://%s/%s?endpoint=%s", account, container, eendpoint) : NULL;
        _cleanup_free_ char *base = strdup_printf("%s/%s/", endpoint, container);
        if (!url || !base)
                return -ENOMEM;
        StorageOptions opt = options(t);
        opt.account_key = key;
        opt.sas_token = sas ? (sas[0] == '?' ? sas + 1 : sas) : NULL;
        return open_url(t, url, &opt, "Azure Blob", container, base, ret);
}

int gcs_uri_split(Task *t, const char *prop, const char *uri, bool allow_empty_key, char **ret_bucket, char **ret_key) {
        const char *rest = uri ? startswith(uri, "gs://") : NULL;
        if (!uri)
                return task_fail(t, "'%s' is required", prop);
        if (!rest)
                return task_fail(t, "'%s': '%s' is not a gs://BUCKET/PATH URI", prop, uri);
        const char *slash = strchr(rest, '/');
        const char *key = slash ? slash + 1 : "";
        if (slash == rest || (!*key && !allow_empty_key))
                return task_fail(t, "'%s': '%s' is not a gs://BUCKET/PATH URI", prop, uri);
        _cleanup_free_ char *b = slash ? strndup(rest, (size_t) (slash - rest)) : strdup(rest), *k = strdup(key);
        if (!b || !k)
                return -ENOMEM;
        *ret_bucket = TAKE_PTR(b);
        *ret_key = TAKE_PTR(k);
        return 0;
}

int remote_open_gcs(Task *t, const char *bucket, Remote *ret) {
        const char *sa = task_string(t, "serviceAccount"), *ak = task_string(t, "hmacAccessKey"),
                   *sk = task_string(t, "hmacSecret");
        const char *endpoint = task_string(t, "endpoint");
        int r;

        if ((r = check_bucket(t, "bucket", bucket)) < 0)
                return r;
        if (!sa && !(ak && sk))
                return task_fail(
                        t,
                        "GCS bucket '%s': no credentials: give 'serviceAccount' (a service account's JSON key) or "
                        "'hmacAccessKey' and 'hmacSecret' (this worker does not lend its own to tasks)",
                        bucket);
        if (endpoint && !startswith(endpoint, "http://") && !startswith(endpoint, "https://"))
                return task_fail(t, "'endpoint': '%s' is not an http:// or https:// URL", endpoint);
        _cleanup_free_ char *eendpoint = endpoint ? url_param(endpoint) : NULL;
        if (endpoint && !eendpoint)
                return -ENOMEM;
        _cleanup_free_ char *url =
                strdup_printf("gs://%s%s%s", bucket, endpoint ? "?endpoint=" : "", strempty(eendpoint));
        _cleanup_free_ char *base = strdup_printf("gs://%s/", bucket);
        if (!url || !base)
                return -ENOMEM;
        StorageOptions opt = options(t);
        if (ak && sk && !sa) {
                opt.access_key = ak;
                opt.secret_key = sk;
                return open_url(t, url, &opt, "GCS", bucket, base, ret);
        }
        /* The library reads a key file, at open: the key is written for it, readable by the worker alone,
         * and removed at once. */
        _cleanup_free_ char *file =
                strdup_printf("%s/.gcs-service-account.%s.json", t->s->working_dir, t->s->task_run_id);
        if (!file)
                return -ENOMEM;
        int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return task_fail(t, "cannot write the service account key: %s", strerror(errno));
        size_t n = strlen(sa);
        bool written = write(fd, sa, n) == (ssize_t) n;
        close(fd);
        if (!written) {
                unlink(file);
                return task_fail(t, "cannot write the service account key: %s", strerror(errno ?: EIO));
        }
        opt.service_account_file = file;
        r = open_url(t, url, &opt, "GCS", bucket, base, ret);
        unlink(file);
        return r;
}
