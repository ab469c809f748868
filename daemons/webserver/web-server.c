/* web-server.c: the webserver's HTTP side: libmicrohttpd, canonical routing, limits, authentication. */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "strbuf.h"
#include "strutil.h"
#include "web-auth.h"
#include "web-internal.h"
#include "web-server.h"
#include "web-session.h"
#include "web-ui.h"
#include "web-wait.h"

/* Plain fields of a multipart body (the inputs that are not files). */
#define WEB_FORM_FIELDS_MAX (1024 * 1024)
/* A login's body: a user name, a password (hashed at most 1 KiB of it, as from a Basic header) or a
 * token. Anyone may send one, so it is buffered only up to this, not up to the API's max_body. */
#define WEB_LOGIN_BODY_MAX (16 * 1024)
/* What a 503 for an unreachable database asks clients to wait: a failover (promotion and
 * reconnect) takes seconds, and the request already waited the store's reconnect timeout. */
#define WEB_DB_RETRY_AFTER_SEC "5"

typedef struct Route {
        const char *method;
        const char *pattern;
        bool open; /* served without authentication */
        WebHandler handler;
} Route;

/* Literal routes before the ones with a parameter in the same place ("search" is not a namespace). */
static const Route routes[] = {
        { "GET", "/health", true, web_api_health },
        { "GET", "/metrics", false, web_api_metrics },
        { "GET", "/api/v1/openapi.json", false, web_api_openapi },
        /* The web UI's login: the password (or a token) is the credential, as in a Basic header. */
        { "POST", "/api/v1/session", true, web_session_login },
        { "GET", "/api/v1/session", false, web_session_get },
        { "DELETE", "/api/v1/session", false, web_session_logout },
        { "POST", "/api/v1/flows", false, web_api_flow_create },
        { "POST", "/api/v1/flows/validate", false, web_api_flow_validate },
        { "POST", "/api/v1/flows/validate/task", false, web_api_flow_validate_task },
        { "POST", "/api/v1/flows/validate/trigger", false, web_api_flow_validate_trigger },
        { "GET", "/api/v1/flows/search", false, web_api_flow_search },
        { "POST", "/api/v1/flows/disable/by-ids", false, web_api_flows_disable },
        { "POST", "/api/v1/flows/enable/by-ids", false, web_api_flows_enable },
        { "GET", "/api/v1/flows/{}", false, web_api_flow_list_namespace },
        { "POST", "/api/v1/flows/{}", false, web_api_flow_namespace_update },
        { "GET", "/api/v1/flows/{}/{}", false, web_api_flow_get },
        { "PUT", "/api/v1/flows/{}/{}", false, web_api_flow_update },
        { "DELETE", "/api/v1/flows/{}/{}", false, web_api_flow_delete },
        { "GET", "/api/v1/flows/{}/{}/revisions", false, web_api_flow_revisions },
        { "GET", "/api/v1/flows/{}/{}/graph", false, web_api_flow_graph },
        { "GET", "/api/v1/flows/{}/{}/dependencies", false, web_api_flow_dependencies },
        { "GET", "/api/v1/executions/search", false, web_api_execution_search },
        { "POST", "/api/v1/executions/latest", false, web_api_execution_latest },
        { "DELETE", "/api/v1/executions/kill/by-ids", false, web_api_executions_kill },
        { "POST", "/api/v1/executions/restart/by-ids", false, web_api_executions_restart },
        { "DELETE", "/api/v1/executions/by-ids", false, web_api_executions_delete },
        { "DELETE", "/api/v1/executions/by-query", false, web_api_executions_delete_by_query },
        { "DELETE", "/api/v1/executions/kill/by-query", false, web_api_executions_kill_by_query },
        { "POST", "/api/v1/executions/restart/by-query", false, web_api_executions_restart_by_query },
        { "POST", "/api/v1/executions/resume/by-query", false, web_api_executions_resume_by_query },
        { "POST", "/api/v1/executions/replay/by-query", false, web_api_executions_replay_by_query },
        { "POST", "/api/v1/executions/pause/by-query", false, web_api_executions_pause_by_query },
        { "POST", "/api/v1/executions/force-run/by-query", false, web_api_executions_force_run_by_query },
        { "POST", "/api/v1/executions/unqueue/by-query", false, web_api_executions_unqueue_by_query },
        { "POST", "/api/v1/executions/change-status/by-query", false, web_api_executions_change_status_by_query },
        { "POST", "/api/v1/executions/labels/by-query", false, web_api_executions_labels_by_query },
        /* Webhooks carry their own secret (the trigger's key) instead of credentials. */
        { "GET", "/api/v1/executions/webhook/{}/{}/{}", true, web_api_webhook },
        { "POST", "/api/v1/executions/webhook/{}/{}/{}", true, web_api_webhook },
        { "PUT", "/api/v1/executions/webhook/{}/{}/{}", true, web_api_webhook },
        { "GET", "/api/v1/executions/{}/follow", false, web_api_execution_follow },
        { "POST", "/api/v1/executions/{}/kill", false, web_api_execution_kill },
        { "DELETE", "/api/v1/executions/{}/kill", false, web_api_execution_kill },
        { "POST", "/api/v1/executions/{}/resume", false, web_api_execution_resume },
        { "POST", "/api/v1/executions/{}/restart", false, web_api_execution_restart },
        { "POST", "/api/v1/executions/{}/replay", false, web_api_execution_replay },
        { "POST", "/api/v1/executions/{}/state", false, web_api_execution_task_run_state },
        { "POST", "/api/v1/executions/{}/change-status", false, web_api_execution_change_status },
        { "POST", "/api/v1/executions/{}/force-run", false, web_api_execution_force_run },
        { "POST", "/api/v1/executions/{}/unqueue", false, web_api_execution_unqueue },
        { "POST", "/api/v1/executions/{}/pause", false, web_api_execution_pause },
        { "POST", "/api/v1/executions/{}/labels", false, web_api_execution_labels },
        { "GET", "/api/v1/executions/{}/file", false, web_api_execution_file },
        { "POST", "/api/v1/executions/{}/{}", false, web_api_execution_create },
        { "GET", "/api/v1/executions/{}", false, web_api_execution_get },
        { "DELETE", "/api/v1/executions/{}", false, web_api_execution_delete },
        { "GET", "/api/v1/logs/search", false, web_api_logs_search },
        { "GET", "/api/v1/logs/{}", false, web_api_logs },
        { "GET", "/api/v1/logs/{}/follow", false, web_api_logs_follow },
        { "GET", "/api/v1/logs/{}/download", false, web_api_logs_download },
        { "DELETE", "/api/v1/logs/{}", false, web_api_logs_delete },
        { "GET", "/api/v1/metrics/names/{}/{}", false, web_api_metric_names },
        { "GET", "/api/v1/metrics/names/{}/{}/{}", false, web_api_metric_names },
        { "GET", "/api/v1/metrics/tasks/{}/{}", false, web_api_metric_tasks },
        { "GET", "/api/v1/metrics/aggregates/{}/{}/{}", false, web_api_metric_aggregates },
        { "GET", "/api/v1/metrics/aggregates/{}/{}/{}/{}", false, web_api_metric_aggregates },
        { "GET", "/api/v1/metrics/{}", false, web_api_metrics_execution },
        { "GET", "/api/v1/namespaces/search", false, web_api_namespace_search },
        { "GET", "/api/v1/namespaces/ids", false, web_api_namespace_ids },
        { "POST", "/api/v1/namespaces/autocomplete", false, web_api_namespace_autocomplete },
        { "GET", "/api/v1/namespaces/{}", false, web_api_namespace_get },
        { "GET", "/api/v1/namespaces/{}/dependencies", false, web_api_namespace_dependencies },
        { "GET", "/api/v1/namespaces/{}/files", false, web_api_nsfile_content },
        { "POST", "/api/v1/namespaces/{}/files", false, web_api_nsfile_create },
        { "PUT", "/api/v1/namespaces/{}/files", false, web_api_nsfile_move },
        { "DELETE", "/api/v1/namespaces/{}/files", false, web_api_nsfile_delete },
        { "GET", "/api/v1/namespaces/{}/files/stats", false, web_api_nsfile_stats },
        { "GET", "/api/v1/namespaces/{}/files/directory", false, web_api_nsfile_directory },
        { "POST", "/api/v1/namespaces/{}/files/directory", false, web_api_nsfile_mkdir },
        { "GET", "/api/v1/namespaces/{}/files/search", false, web_api_nsfile_search },
        { "GET", "/api/v1/namespaces/{}/kv", false, web_api_kv_list },
        { "GET", "/api/v1/namespaces/{}/kv/{}", false, web_api_kv_get },
        { "PUT", "/api/v1/namespaces/{}/kv/{}", false, web_api_kv_put },
        { "DELETE", "/api/v1/namespaces/{}/kv/{}", false, web_api_kv_delete },
        { "POST", "/api/v1/stats/executions/daily", false, web_api_stats_daily },
        { "POST", "/api/v1/stats/executions/daily/group-by-flow", false, web_api_stats_daily_by_flow },
        { "GET", "/api/v1/triggers/search", false, web_api_trigger_search },
        { "PUT", "/api/v1/triggers", false, web_api_trigger_update },
        { "POST", "/api/v1/triggers/set-disabled/by-triggers", false, web_api_trigger_set_disabled },
        { "PUT", "/api/v1/triggers/backfill/pause", false, web_api_trigger_backfill_pause },
        { "PUT", "/api/v1/triggers/backfill/unpause", false, web_api_trigger_backfill_unpause },
        { "POST", "/api/v1/triggers/backfill/delete", false, web_api_trigger_backfill_delete },
        { "GET", "/api/v1/triggers/{}/{}", false, web_api_trigger_flow },
        { "POST", "/api/v1/triggers/{}/{}/{}/unlock", false, web_api_trigger_unlock },
        { "GET", "/api/v1/plugins", false, web_api_plugins },
        { "GET", "/api/v1/plugins/{}", false, web_api_plugin_get },
};

#define WEB_LISTEN_MAX 8

struct WebServer {
        struct MHD_Daemon *mhd[WEB_LISTEN_MAX]; /* one per listening socket */
        size_t n_mhd;
        WebServerOptions opt;
        uint16_t port;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        Store **pool; /* idle connections; n_idle of n_pool */
        size_t n_pool, n_idle;
        char *storage_url, *upload_dir; /* copies: opt's point here */
        WebStoragePool *storages; /* handles on storage_url, NULL without one */
        WebWaits *waits;
        WebWaits *streams;
        ApiFlowCache *own_flows; /* when the options give none */
        WebAuth *auth;
        WebUi *ui; /* NULL: no UI files to serve */
        atomic_uint_fast64_t requests, status_4xx, status_5xx;
};

typedef struct WebRequest {
        char *raw_uri;
        StrBuf body;
        bool started, done;
        /* Decided when the headers are complete, before any of the body is read. */
        char **segs;
        const Route *route;
        size_t body_max; /* what of the body is buffered at most (413 beyond) */
        const char *params[WEB_ROUTE_PARAMS_MAX]; /* point into segs */
        char *user;
        char *session; /* the session cookie that authenticated it (the user's browser), or NULL */
        /* multipart/form-data: parsed as it arrives, files streamed to upload_dir */
        struct MHD_PostProcessor *pp;
        char *upload_dir;
        bool webhook; /* Kestra's trigger.parts and trigger.formFields: lists, names may repeat */
        json_t *fields, *files;
        int file_fd;          /* the file part being written, or -1 */
        unsigned n_files;
        uint64_t uploaded;    /* bytes received */
        size_t fields_len;    /* bytes of plain fields */
        unsigned upload_error; /* HTTP status to answer instead of dispatching, 0 when fine */
        /* Refused while its body was arriving (413, 400, 500): libmicrohttpd takes no answer then,
         * so the rest is read and dropped, up to max_body more, and the answer given at its end. */
        unsigned refused;
        uint64_t drained;
} WebRequest;

/* ---- responses ------------------------------------------------------------------------------- */

int web_reply_text(WebCtx *c, unsigned status, const char *content_type, const char *text) {
        free(c->resp);
        c->resp = strdup(text);
        c->resp_len = c->resp ? strlen(c->resp) : 0;
        c->status = c->resp ? status : 500;
        c->content_type = content_type;
        return 0;
}

int web_reply_json(WebCtx *c, unsigned status, json_t *j) {
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        free(c->resp);
        c->resp = s;
        c->resp_len = s ? strlen(s) : 0;
        c->status = s ? status : 500;
        c->content_type = "application/json";
        return 0;
}

int web_reply_error(WebCtx *c, unsigned status, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        return web_reply_json(c, status, json_pack("{s:s}", "message", msg ? msg : "out of memory"));
}

int web_reply_store_error(WebCtx *c, int r) {
        log_debug("webserver: store failure: %s (%s)", strerror(-r), store_error(c->store));
        if (store_error_unreachable(r)) {
                /* Nothing wrong with the request: a client may send it again once the database
                 * (or its standby, promoted) answers. */
                c->retry_after = WEB_DB_RETRY_AFTER_SEC;
                return web_reply_error(c, 503, "the database is unreachable; retry in " WEB_DB_RETRY_AFTER_SEC " s");
        }
        return web_reply_error(c, 500, "the database could not serve the request");
}

const char *web_query(WebCtx *c, const char *key) {
        return MHD_lookup_connection_value(c->con, MHD_GET_ARGUMENT_KIND, key);
}

typedef struct QueryAll {
        const char *key;
        const char **ret;
        size_t max, n;
} QueryAll;

static enum MHD_Result query_all_one(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        QueryAll *q = cls;
        if (key && streq(key, q->key)) {
                if (q->n < q->max)
                        q->ret[q->n] = value ? value : "";
                q->n++;
        }
        return MHD_YES;
}

size_t web_query_all(WebCtx *c, const char *key, const char **ret, size_t max) {
        QueryAll q = { key, ret, max, 0 };
        MHD_get_connection_values(c->con, MHD_GET_ARGUMENT_KIND, query_all_one, &q);
        return q.n;
}

int web_paging(WebCtx *c, unsigned default_size, size_t *ret_offset, size_t *ret_limit) {
        unsigned page = 1, size = default_size;
        const char *p = web_query(c, "page"), *s = web_query(c, "size");
        if ((p && (safe_atou(p, &page) < 0 || page == 0)) ||
            (s && (safe_atou(s, &size) < 0 || size == 0 || size > 1000)))
                return web_reply_error(c, 400, "page must be >= 1 and size between 1 and 1000"), -EINVAL;
        *ret_offset = (size_t) (page - 1) * size;
        *ret_limit = size;
        return 0;
}

const char *web_header(WebCtx *c, const char *key) {
        return MHD_lookup_connection_value(c->con, MHD_HEADER_KIND, key);
}

static enum MHD_Result send_reply(WebServer *w, struct MHD_Connection *con, WebCtx *c, const char *extra_header,
                                  const char *extra_value) {
        struct MHD_Response *resp = c->stream;
        if (resp) {
                free(c->resp);
                c->resp = NULL;
        } else
                resp = MHD_create_response_from_buffer(c->resp_len, c->resp ? c->resp : (char *) "",
                                                       c->resp ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (!resp) {
                free(c->resp);
                c->resp = NULL;
                free(c->set_cookie);
                c->set_cookie = NULL;
                return MHD_NO;
        }
        c->resp = NULL;
        if (c->content_type)
                MHD_add_response_header(resp, "Content-Type", c->content_type);
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(resp, "Cache-Control", "no-store");
        if (extra_header)
                MHD_add_response_header(resp, extra_header, extra_value);
        if (c->retry_after)
                MHD_add_response_header(resp, "Retry-After", c->retry_after);
        if (c->set_cookie)
                MHD_add_response_header(resp, "Set-Cookie", c->set_cookie);
        free(c->set_cookie);
        c->set_cookie = NULL;
        enum MHD_Result ret = MHD_queue_response(con, c->status, resp);
        MHD_destroy_response(resp);
        if (c->status >= 500)
                atomic_fetch_add(&w->status_5xx, 1);
        else if (c->status >= 400)
                atomic_fetch_add(&w->status_4xx, 1);
        return ret;
}

static enum MHD_Result send_error(WebServer *w, struct MHD_Connection *con, unsigned status, const char *msg) {
        WebCtx c = { .con = con };
        web_reply_error(&c, status, "%s", msg);
        return send_reply(w, con, &c, NULL, NULL);
}

/* ---- store pool ------------------------------------------------------------------------------ */

static Store *pool_get(WebServer *w) {
        pthread_mutex_lock(&w->lock);
        while (w->n_idle == 0)
                pthread_cond_wait(&w->cond, &w->lock);
        Store *s = w->pool[--w->n_idle];
        pthread_mutex_unlock(&w->lock);
        return s;
}

static void pool_put(WebServer *w, Store *s) {
        pthread_mutex_lock(&w->lock);
        w->pool[w->n_idle++] = s;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
}

void web_store_release(WebCtx *c) {
        if (c->store && c->server)
                pool_put(c->server, c->store);
        c->store = NULL;
}

/* The web UI's static files, answered before authentication: they hold nothing but the public
 * code of the pages (which ask the API, authenticated, for everything else). */
static enum MHD_Result send_ui_file(WebServer *w, struct MHD_Connection *con, WebUiFile *f) {
        const char *inm = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "If-None-Match");
        bool fresh = inm && streq(inm, f->etag);
        struct MHD_Response *resp;
        if (fresh) {
                safe_close(f->fd);
                resp = MHD_create_response_from_buffer(0, (char *) "", MHD_RESPMEM_PERSISTENT);
        } else
                resp = MHD_create_response_from_fd(f->size, f->fd); /* owns the fd, also on failure */
        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", f->content_type);
        MHD_add_response_header(resp, "ETag", f->etag);
        /* Kept, but asked again each time: an upgrade shows at once, an unchanged file costs a 304. */
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(resp, "Content-Security-Policy", WEB_UI_CSP);
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
        MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
        enum MHD_Result ret = MHD_queue_response(con, fresh ? 304 : 200, resp);
        MHD_destroy_response(resp);
        (void) w;
        return ret;
}

/* ---- authentication -------------------------------------------------------------------------- */

static int auth_lookup(void *userdata, const char *key, json_t **ret) {
        WebServer *w = userdata;
        /* Only for the lookup: the password is hashed after the connection is back in the pool. */
        Store *s = pool_get(w);
        int r = api_users_lookup(s, key, ret);
        pool_put(w, s);
        return r;
}

int web_password_check(WebCtx *c, const char *name, const char *password, char **ret_user, unsigned *ret_retry_sec) {
        WebServer *w = c->server;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c->con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        char client[WEB_AUTH_CLIENT_MAX];
        web_auth_client_address(ci ? ci->client_addr : NULL, client);
        web_store_release(c);
        int r = web_auth_password(w->auth, name, password, client, now_monotonic(), auth_lookup, w, ret_user, ret_retry_sec);
        c->store = pool_get(w);
        return r;
}

/* Authenticate the request: its Authorization header, else its session cookie. True with *ret_user
 * (and *ret_session when the cookie did it), or false with the answer queued (401, 429, 500 or 503)
 * and *ret_answer what queueing it returned. */
static bool authenticate(WebServer *w, struct MHD_Connection *con, char **ret_user, char **ret_session,
                         enum MHD_Result *ret_answer) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        char client[WEB_AUTH_CLIENT_MAX];
        web_auth_client_address(ci ? ci->client_addr : NULL, client);
        unsigned retry = 0;
        const char *authorization = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Authorization");
        const char *cookie = MHD_lookup_connection_value(con, MHD_COOKIE_KIND, WEB_SESSION_COOKIE);
        int r;
        if (!authorization && cookie) {
                /* 256 random bits, looked up by their hash: nothing to throttle, as for tokens. */
                r = api_session_user(cookie, auth_lookup, w, ret_user);
                if (r == 0 && !(*ret_session = strdup(cookie)))
                        r = -ENOMEM;
                r = r == -EINVAL || r == -ENOENT ? WEB_AUTH_REFUSED : r;
        } else
                r = web_auth_authenticate(w->auth, authorization, client, now_monotonic(), auth_lookup, w, ret_user, &retry);
        if (r == WEB_AUTH_OK)
                return true;
        free(*ret_user);
        *ret_user = NULL;
        WebCtx e = { .con = con };
        if (r < 0 && store_error_unreachable(r)) {
                log_debug("webserver: authentication failed: %s", strerror(-r));
                web_reply_error(&e, 503, "the database is unreachable: authentication could not be checked; retry in "
                                         WEB_DB_RETRY_AFTER_SEC " s");
                *ret_answer = send_reply(w, con, &e, "Retry-After", WEB_DB_RETRY_AFTER_SEC);
        } else if (r < 0) {
                log_debug("webserver: authentication failed: %s", strerror(-r));
                *ret_answer = send_error(w, con, 500, "authentication could not be checked");
        } else if (r == WEB_AUTH_THROTTLED || r == WEB_AUTH_BUSY) {
                char secs[16];
                snprintf(secs, sizeof secs, "%u", retry);
                if (r == WEB_AUTH_THROTTLED)
                        web_reply_error(&e, 429, "too many failed password checks for this user or from this address; "
                                                 "retry in %u s", retry);
                else
                        web_reply_error(&e, 503, "too many password checks at once; retry in %u s "
                                                 "(API tokens are not held up)", retry);
                *ret_answer = send_reply(w, con, &e, "Retry-After", secs);
        } else if (cookie || MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-Requested-With")) {
                /* The web UI: it shows its own login page, so no challenge that would make the
                 * browser pop up its own password dialog. */
                web_reply_error(&e, 401, "not logged in, or the session expired: log in again");
                *ret_answer = send_reply(w, con, &e, NULL, NULL);
        } else {
                web_reply_error(&e, 401, "authentication required: HTTP Basic or a bearer API token");
                *ret_answer = send_reply(w, con, &e, "WWW-Authenticate", "Basic realm=\"tern\", charset=\"UTF-8\"");
        }
        return false;
}

/* Browsers send Origin; a state change from a page of another origin is refused. */
static bool origin_allowed(struct MHD_Connection *con, const char *method) {
        const char *origin = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Origin");
        const char *host = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Host");
        if (!origin || streq(method, "GET") || streq(method, "HEAD"))
                return true;
        const char *rest = startswith(origin, "http://");
        if (!rest)
                rest = startswith(origin, "https://");
        return rest && host && streq(rest, host);
}

/* ---- multipart/form-data (FILE inputs) ------------------------------------------------------- */

static void multipart_file_close(WebRequest *req) {
        if (req->file_fd >= 0 && close(req->file_fd) < 0 && !req->upload_error)
                req->upload_error = 500;
        req->file_fd = -1;
}

/* Remove a directory of files (an upload's temporary one: flat, files only, made by us). */
static int rm_tree(const char *dir) {
        DIR *d = opendir(dir);
        if (!d)
                return -errno;
        struct dirent *de;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        (void) unlinkat(dirfd(d), de->d_name, 0);
        closedir(d);
        return rmdir(dir) < 0 ? -errno : 0;
}

static enum MHD_Result multipart_part(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                                      const char *content_type, const char *transfer_encoding, const char *data,
                                      uint64_t off, size_t size) {
        WebRequest *req = cls;
        int r;
        (void) kind, (void) transfer_encoding;
        if (!key)
                return MHD_YES;
        if (!filename) {
                /* A plain field, possibly in several pieces; bounded like any other body. */
                req->fields_len += size;
                if (req->fields_len > WEB_FORM_FIELDS_MAX) {
                        req->upload_error = 413;
                        return MHD_NO;
                }
                json_t *cur = json_object_get(req->fields, key), *list = NULL;
                _cleanup_free_ char *v = NULL;
                if (req->webhook) {
                        /* Each occurrence of a name is a value of its list; its pieces extend the last. */
                        list = cur;
                        if (!list && json_object_set_new(req->fields, key, list = json_array()) < 0)
                                return req->upload_error = 500, MHD_NO;
                        cur = off > 0 ? json_array_get(list, json_array_size(list) - 1) : NULL;
                }
                if (off > 0 && json_is_string(cur)) {
                        size_t n = json_string_length(cur);
                        if (!(v = malloc(n + size + 1)))
                                return req->upload_error = 500, MHD_NO;
                        memcpy(v, json_string_value(cur), n);
                        memcpy(v + n, data, size);
                        v[n + size] = 0;
                } else if (!(v = strndup(data, size)))
                        return req->upload_error = 500, MHD_NO;
                if (memchr(data, 0, size)) {
                        req->upload_error = 400;
                        return MHD_NO;
                }
                json_t *j = json_string(v);
                if (!j) /* not UTF-8 */
                        return req->upload_error = 400, MHD_NO;
                if (list && off > 0)
                        r = json_array_set_new(list, json_array_size(list) - 1, j);
                else if (list)
                        r = json_array_append_new(list, j);
                else
                        r = json_object_set_new(req->fields, key, j);
                if (r < 0)
                        return req->upload_error = 500, MHD_NO;
                return MHD_YES;
        }
        if (off == 0 || req->file_fd < 0) {
                /* A new file part: a temporary file of its own, streamed into storage once the
                 * execution exists (its id is part of the file's key). */
                multipart_file_close(req);
                if ((!req->webhook && json_object_get(req->files, key)) || req->n_files >= 64) {
                        req->upload_error = 400;
                        return MHD_NO;
                }
                char name[32];
                snprintf(name, sizeof name, "%u", req->n_files++);
                _cleanup_free_ char *path = strjoin(req->upload_dir, "/", name);
                if (!path)
                        return req->upload_error = 500, MHD_NO;
                req->file_fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
                if (req->file_fd < 0)
                        return req->upload_error = 500, MHD_NO;
                if (req->webhook)
                        r = json_array_append_new(req->files, json_pack("{s:s, s:s, s:s, s:s?}", "name", key, "path", path,
                                                                        "filename", filename, "contentType", content_type));
                else
                        r = json_object_set_new(req->files, key, json_pack("{s:s, s:s}", "path", path, "filename", filename));
                if (r < 0) {
                        req->upload_error = 500;
                        return MHD_NO;
                }
        }
        for (size_t done = 0; done < size;) {
                ssize_t n = write(req->file_fd, data + done, size - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        log_debug("webserver: cannot write an upload: %m");
                        req->upload_error = 500;
                        return MHD_NO;
                }
                done += (size_t) n;
        }
        return MHD_YES;
}

static enum MHD_Result upload_too_large(WebServer *w, struct MHD_Connection *con) {
        char msg[128];
        snprintf(msg, sizeof msg, "the upload is larger than this server takes (%" PRIu64 " bytes at most)",
                 (uint64_t) w->opt.max_upload);
        return send_error(w, con, 413, msg);
}

static bool is_multipart(struct MHD_Connection *con) {
        const char *ct = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Type");
        return ct && strncasecmp(ct, "multipart/form-data", 19) == 0;
}

/* Whether the client announced a body (Content-Length above 0, or chunks). */
static bool has_body(struct MHD_Connection *con) {
        const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Length");
        uint64_t n;
        if (MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Transfer-Encoding"))
                return true;
        return cl && (safe_atou64(cl, &n) < 0 || n > 0);
}

/* The routes whose multipart/form-data bodies are files (up to max_upload, streamed to disk): FILE
 * inputs of a new execution, a namespace file, a webhook's parts (POST or PUT, as Kestra has it). */
static bool route_takes_files(const Route *route, const char *method) {
        if (route->handler == web_api_webhook)
                return streq(method, "POST") || streq(method, "PUT");
        return streq(method, "POST") &&
               (route->handler == web_api_execution_create || route->handler == web_api_nsfile_create);
}

/* A request with a multipart/form-data body of files (authenticated already, by
 * request_start): its body goes to disk as it arrives, before dispatch. */
static enum MHD_Result multipart_start(WebServer *w, struct MHD_Connection *con, WebRequest *req) {
        req->done = true; /* until the upload is set up, an answer is final */
        if (!w->opt.storage_url || !w->opt.upload_dir)
                return send_error(w, con, 415, "this server has no internal storage for files");
        req->upload_dir = strjoin(w->opt.upload_dir, "/XXXXXX");
        req->webhook = req->route->handler == web_api_webhook;
        req->fields = json_object();
        req->files = req->webhook ? json_array() : json_object();
        if (!req->upload_dir || !req->fields || !req->files)
                return MHD_NO;
        if ((mkdir(w->opt.upload_dir, 0750) < 0 && errno != EEXIST) || !mkdtemp(req->upload_dir)) {
                log_debug("webserver: cannot make an upload directory under '%s': %m", w->opt.upload_dir);
                free(req->upload_dir);
                req->upload_dir = NULL;
                return send_error(w, con, 500, "the upload could not be stored");
        }
        req->pp = MHD_create_post_processor(con, 64 * 1024, multipart_part, req);
        if (!req->pp)
                return send_error(w, con, 400, "malformed multipart/form-data request");
        req->done = false;
        return MHD_YES;
}

/* ---- dispatch -------------------------------------------------------------------------------- */

/* The route of segs for method, its parameters in params; *path_known tells whether any method
 * has a route there (405 rather than 404). */
static const Route *route_find(char *const *segs, const char *method, const char *params[WEB_ROUTE_PARAMS_MAX],
                               bool *path_known) {
        for (size_t i = 0; i < ELEMENTSOF(routes); i++) {
                const char *p[WEB_ROUTE_PARAMS_MAX] = {};
                if (!web_route_match(routes[i].pattern, segs, p))
                        continue;
                *path_known = true;
                if (streq(routes[i].method, method) || (streq(method, "HEAD") && streq(routes[i].method, "GET"))) {
                        memcpy(params, p, sizeof p);
                        return &routes[i];
                }
        }
        return NULL;
}

/* With the request's headers complete and none of its body read: route it, authenticate it and
 * answer what can be answered already (a bad path, 401, 404, 405, 403, 413), so that a client
 * without credentials costs no body buffer. MHD_YES with req->route set to go on reading. */
static enum MHD_Result request_start(WebServer *w, struct MHD_Connection *con, WebRequest *req, const char *method) {
        req->done = true; /* until the request is let through, an answer is final */
        _cleanup_free_ char *path = strndup(req->raw_uri, strcspn(req->raw_uri, "?"));
        if (!path)
                return MHD_NO;
        int r = web_path_parse(path, &req->segs);
        if (r == -ENOMEM)
                return send_error(w, con, 500, "out of memory");
        if (r < 0)
                return send_error(w, con, 400, "the request path is not in canonical form");

        bool path_known = false;
        const Route *route = route_find(req->segs, method, req->params, &path_known);
        /* Kestra 1.x's /api/v1/{tenant}/...: no route has a parameter there, so a path known
         * without a tenant is never taken for one with it. */
        _cleanup_free_ char *tenant = NULL;
        if (!path_known && (tenant = web_path_take_tenant(req->segs)))
                route = route_find(req->segs, method, req->params, &path_known);
        if (!path_known && w->ui && (streq(method, "GET") || streq(method, "HEAD"))) {
                WebUiFile f;
                r = web_ui_open(w->ui, req->segs, &f);
                if (r == 0)
                        return send_ui_file(w, con, &f);
                if (r != -ENOENT)
                        return send_error(w, con, 500, "the file could not be read");
        }
        /* Unknown paths too: without credentials, nothing tells which endpoints exist. */
        enum MHD_Result answer;
        if ((!route || !route->open) && !authenticate(w, con, &req->user, &req->session, &answer))
                return answer;
        if (path_known && tenant && !streq(tenant, WEB_TENANT)) {
                _cleanup_free_ char *msg = NULL;
                if (asprintf(&msg, "no tenant '%s': this server has one tenant, '" WEB_TENANT "' "
                                   "(/api/v1/" WEB_TENANT "/..., or /api/v1/... without one)", tenant) < 0)
                        return MHD_NO;
                return send_error(w, con, 404, msg);
        }
        if (!route)
                return path_known ? send_error(w, con, 405, "method not allowed on this path")
                                  : send_error(w, con, 404, "no such endpoint");
        if (!origin_allowed(con, method))
                return send_error(w, con, 403, "cross-origin request refused");
        /* A browser sends the cookie with any request to us, also one that another site's page
         * makes it send: a state change must show the token that only our pages are given. */
        if (req->session && !streq(method, "GET") && !streq(method, "HEAD") &&
            !api_session_csrf_check(req->session, MHD_lookup_connection_value(con, MHD_HEADER_KIND, WEB_SESSION_CSRF_HEADER)))
                return send_error(w, con, 403, "missing or wrong CSRF token (header " WEB_SESSION_CSRF_HEADER ")");
        const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Length");
        uint64_t n;
        req->body_max = route->handler == web_session_login ? MIN(w->opt.max_body, (size_t) WEB_LOGIN_BODY_MAX)
                                                            : w->opt.max_body;
        bool upload = route_takes_files(route, method) && is_multipart(con);
        if (cl && safe_atou64(cl, &n) == 0 && n > req->body_max && !upload)
                return send_error(w, con, 413, "request body too large");
        if (cl && safe_atou64(cl, &n) == 0 && n > w->opt.max_upload && upload)
                return upload_too_large(w, con);
        if (route->handler == web_api_webhook && has_body(con)) {
                /* Open, but its key is its credential: checked before the body is read, too. */
                Store *s = pool_get(w);
                r = web_api_webhook_check(s, w->opt.flows, req->params[0], req->params[1], req->params[2]);
                pool_put(w, s);
                if (r == -ENOENT)
                        return send_error(w, con, 404, "no webhook here");
                /* Nothing goes to disk for a key that could not be checked. */
                if (r < 0 && upload)
                        return send_error(w, con, 503, "the webhook could not be checked; try again later");
                /* Anything else is for the handler to answer, with the body. */
        }
        req->route = route;
        if (upload)
                return multipart_start(w, con, req);
        req->done = false;
        return MHD_YES;
}

/* The whole request is in: run its handler. */
static enum MHD_Result dispatch(WebServer *w, struct MHD_Connection *con, WebRequest *req, const char *method) {
        WebCtx c = { .con = con, .method = method, .wait_max_sec = w->opt.wait_max_sec, .server = w, .waits = w->waits, .streams = w->streams,
                     .storages = w->storages, .flows = w->opt.flows, .kafka = w->opt.kafka, .form_fields = req->fields, .form_files = req->files };
        memcpy(c.params, req->params, sizeof c.params);
        c.store = pool_get(w);
        c.user = req->user;
        c.session = req->session;
        c.n_requests = atomic_load(&w->requests);
        c.n_4xx = atomic_load(&w->status_4xx);
        c.n_5xx = atomic_load(&w->status_5xx);
        c.body = req->body.buf ? req->body.buf : "";
        c.body_len = req->body.len;
        int r = web_queue_refused(&c, req->route->handler) ? 0 : req->route->handler(&c);
        web_store_release(&c); /* unless the handler did already (before a long wait) */
        web_storage_release(&c); /* unless a stream took it */
        if (r < 0 || c.status == 0) {
                if (c.stream)
                        MHD_destroy_response(c.stream);
                c.stream = NULL;
                web_reply_error(&c, 500, "internal error");
        }
        return send_reply(w, con, &c, NULL, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
        WebServer *w = cls;
        WebRequest *req = *con_cls;
        (void) url, (void) version;
        if (!req)
                return MHD_NO; /* the URI callback always runs first; without it nothing is safe to route */
        if (req->done) {
                *upload_data_size = 0; /* an early error was queued; drop the rest */
                return MHD_YES;
        }
        if (!req->started) {
                req->started = true;
                atomic_fetch_add(&w->requests, 1);
                return request_start(w, con, req, method);
        }
        if (req->refused) {
                if (*upload_data_size > 0) {
                        req->drained += *upload_data_size;
                        *upload_data_size = 0;
                        return req->drained > w->opt.max_body ? MHD_NO : MHD_YES; /* MHD_NO: closed, unanswered */
                }
                req->done = true;
                if (req->refused == 413 && req->uploaded > w->opt.max_upload)
                        return upload_too_large(w, con);
                return send_error(w, con, req->refused,
                                  req->refused == 413 ? (req->pp ? "the form's plain fields are too large (1 MiB at most)"
                                                                 : "request body too large")
                                  : req->refused == 500 ? "the upload could not be stored"
                                                        : "malformed multipart/form-data body");
        }
        if (req->pp && *upload_data_size > 0) {
                req->uploaded += *upload_data_size;
                if (req->uploaded > w->opt.max_upload)
                        req->upload_error = 413;
                else if (MHD_post_process(req->pp, upload_data, *upload_data_size) != MHD_YES && !req->upload_error)
                        req->upload_error = 400;
                *upload_data_size = 0;
                if (req->upload_error) {
                        /* Nothing of it is kept while the rest is drained. */
                        req->refused = req->upload_error;
                        multipart_file_close(req);
                        (void) rm_tree(req->upload_dir);
                        free(req->upload_dir);
                        req->upload_dir = NULL;
                }
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                if (req->body.len + *upload_data_size > req->body_max) {
                        req->refused = 413;
                        strbuf_done(&req->body);
                        *upload_data_size = 0;
                        return MHD_YES;
                }
                if (strbuf_append_n(&req->body, upload_data, *upload_data_size) < 0)
                        return MHD_NO;
                *upload_data_size = 0;
                return MHD_YES;
        }
        req->done = true;
        if (req->pp) {
                multipart_file_close(req);
                if (req->upload_error)
                        return send_error(w, con, req->upload_error, "the uploaded files could not be stored");
        }
        return dispatch(w, con, req, method);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *con) {
        (void) cls, (void) con;
        WebRequest *req = calloc(1, sizeof *req);
        if (req)
                req->file_fd = -1;
        if (req && !(req->raw_uri = strdup(uri))) {
                free(req);
                req = NULL;
        }
        return req;
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls, enum MHD_RequestTerminationCode toe) {
        (void) cls, (void) con, (void) toe;
        WebRequest *req = *con_cls;
        if (!req)
                return;
        strbuf_done(&req->body);
        strv_free(req->segs);
        free(req->user);
        free(req->session);
        if (req->pp)
                MHD_destroy_post_processor(req->pp);
        multipart_file_close(req);
        if (req->upload_dir)
                (void) rm_tree(req->upload_dir); /* stored or refused: the temporary files go */
        free(req->upload_dir);
        json_decref(req->fields);
        json_decref(req->files);
        free(req->raw_uri);
        free(req);
        *con_cls = NULL;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static int listen_on(const char *addr, int *ret_fd) {
        _cleanup_free_ char *host = NULL;
        const char *port;
        if (addr[0] == '[') {
                const char *e = strchr(addr, ']');
                if (!e || e[1] != ':')
                        return -EINVAL;
                host = strndup(addr + 1, (size_t) (e - addr - 1));
                port = e + 2;
        } else {
                const char *colon = strrchr(addr, ':');
                if (!colon)
                        return -EINVAL;
                host = strndup(addr, (size_t) (colon - addr));
                port = colon + 1;
        }
        if (!host)
                return -ENOMEM;
        unsigned p;
        if (safe_atou(port, &p) < 0 || p > 65535)
                return -EINVAL;
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
        struct addrinfo *ai = NULL;
        if (getaddrinfo(isempty(host) ? NULL : host, port, &hints, &ai) != 0 || !ai)
                return -EINVAL;
        _cleanup_close_ int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1, r = 0;
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0)
                r = -errno;
        freeaddrinfo(ai);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* Serve the listening socket lfd with a daemon of its own, which owns lfd on success (MHD closes
 * it when it stops); the first one's port is the one reported. */
static int web_server_serve(WebServer *w, int lfd) {
        struct sockaddr_storage sa;
        socklen_t salen = sizeof sa;
        if (getsockname(lfd, (struct sockaddr *) &sa, &salen) < 0)
                return -errno;
        if (w->n_mhd == 0)
                w->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *) &sa)->sin6_port
                                                         : ((struct sockaddr_in *) &sa)->sin_port);
        /* A thread per connection: handlers block on the database, ?wait=true and event streams
         * for long, which must not hold up other clients; the store pool bounds database use. */
        struct MHD_Daemon *mhd = MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO, 0, NULL, NULL,
                on_request, w,
                MHD_OPTION_LISTEN_SOCKET, lfd,
                MHD_OPTION_CONNECTION_LIMIT, w->opt.max_connections,
                MHD_OPTION_PER_IP_CONNECTION_LIMIT, w->opt.max_per_ip,
                MHD_OPTION_CONNECTION_TIMEOUT, w->opt.timeout_sec,
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, w->opt.max_header,
                MHD_OPTION_URI_LOG_CALLBACK, on_uri, w,
                MHD_OPTION_NOTIFY_COMPLETED, on_completed, w,
                MHD_OPTION_END);
        if (!mhd)
                return -EADDRNOTAVAIL;
        w->mhd[w->n_mhd++] = mhd;
        return 0;
}

int web_server_start(Store *store, const WebServerOptions *opt, WebServer **ret) {
        _cleanup_(web_server_freep) WebServer *w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        w->opt = *opt;
        if (!w->opt.threads)
                w->opt.threads = 4;
        if (!w->opt.max_body)
                w->opt.max_body = 1024 * 1024;
        if (!w->opt.max_header)
                w->opt.max_header = 32 * 1024;
        if (!w->opt.max_connections)
                w->opt.max_connections = 256;
        if (!w->opt.max_per_ip)
                w->opt.max_per_ip = 64;
        if (!w->opt.timeout_sec)
                w->opt.timeout_sec = 30;
        if (!w->opt.wait_max_sec)
                w->opt.wait_max_sec = 300;
        if (!w->opt.max_upload)
                w->opt.max_upload = 256 * 1024 * 1024;
        if (!w->opt.max_waits)
                w->opt.max_waits = 32;
        if (!w->opt.max_waits_per_client)
                w->opt.max_waits_per_client = 4;
        if (!w->opt.max_streams)
                w->opt.max_streams = 64;
        if (!w->opt.max_streams_per_client)
                w->opt.max_streams_per_client = 16;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cond, NULL);
        if (opt->storage_url && !(w->opt.storage_url = w->storage_url = strdup(opt->storage_url)))
                return -ENOMEM;
        /* As many handles kept as database connections: what requests use at once, streams aside. */
        if (opt->storage_url && !(w->storages = web_storage_pool_new(opt->storage_url, w->opt.threads)))
                return -ENOMEM;
        if (opt->upload_dir && !(w->opt.upload_dir = w->upload_dir = strdup(opt->upload_dir)))
                return -ENOMEM;
        int r = web_auth_new(NULL, &w->auth);
        if (r < 0)
                return r;
        if (!w->opt.flows && (r = api_flow_cache_new(0, &w->own_flows)) < 0)
                return r;
        if (!w->opt.flows)
                w->opt.flows = w->own_flows;
        const char *ui_dir = opt->ui_dir ?: WEB_UI_DIR;
        if (!isempty(ui_dir)) {
                r = web_ui_new(ui_dir, opt->js_dir, &w->ui);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        log_warning("The web UI's files are not in '%s' (%s): serving the API only.", ui_dir, strerror(-r));
        }
        if (!(w->pool = calloc(w->opt.threads, sizeof(Store *))))
                return -ENOMEM;
        if (!(w->waits = web_waits_new(w->opt.max_waits, w->opt.max_waits_per_client)) ||
            !(w->streams = web_waits_new(w->opt.max_streams, w->opt.max_streams_per_client)))
                return -ENOMEM;
        for (size_t i = 0; i < w->opt.threads; i++) {
                r = store_dup(store, &w->pool[i]);
                if (r < 0) {
                        store_free(w->pool[i]);
                        w->pool[i] = NULL;
                        return r;
                }
                w->n_pool++, w->n_idle++;
        }
        if (opt->listen_fd >= 0) {
                r = web_server_serve(w, opt->listen_fd);
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(w);
                return 0;
        }
        /* Each address of the list gets a socket and a daemon of its own; they share the pool. */
        _cleanup_strv_free_ char **addrs = NULL;
        if (strv_split(opt->listen ? opt->listen : "127.0.0.1:8080", ", \t", &addrs) < 0)
                return -ENOMEM;
        for (char **one = addrs; *one; one++) {
                if (w->n_mhd >= WEB_LISTEN_MAX)
                        return -E2BIG;
                _cleanup_close_ int fd = -1;
                r = listen_on(*one, &fd);
                if (r < 0)
                        return r;
                if ((r = web_server_serve(w, fd)) < 0)
                        return r;
                TAKE_FD(fd);
        }
        if (w->n_mhd == 0)
                return -EINVAL;
        *ret = TAKE_PTR(w);
        return 0;
}

uint16_t web_server_port(const WebServer *w) {
        return w->port;
}

WebServer *web_server_free(WebServer *w) {
        if (!w)
                return NULL;
        for (size_t i = 0; i < w->n_mhd; i++)
                MHD_stop_daemon(w->mhd[i]);
        for (size_t i = 0; i < w->n_pool; i++)
                store_free(w->pool[i]);
        free(w->pool);
        web_waits_free(w->waits);
        web_waits_free(w->streams);
        api_flow_cache_free(w->own_flows);
        web_storage_pool_free(w->storages); /* after the daemons: their streams have given theirs back */
        free(w->storage_url);
        free(w->upload_dir);
        web_auth_free(w->auth);
        web_ui_free(w->ui);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(w);
        return NULL;
}
