/* status-socket.h: a daemon's local status socket (/run/tern/<component>.sock) answering
 * health, status and metrics; taken from systemd (socket activation) or bound by itself. */
#pragma once

#include <systemd/sd-event.h>

#include "macro.h"
#include "strbuf.h"

/* Requests: one line, either a bare word ("health", "status", "metrics") or an HTTP request line
 * ("GET /status HTTP/1.1", as curl --unix-socket sends it, answered with an HTTP/1.0 response).
 * The reply is text; the connection closes after it. */
typedef enum StatusRequest {
        STATUS_HEALTH,  /* "ok" or the reason it is not (HTTP 503) */
        STATUS_STATUS,  /* the one-line summary also sent as STATUS= */
        STATUS_METRICS, /* Prometheus text format */
} StatusRequest;

/* Append the answer to out; return 0 for a healthy/OK answer, > 0 for "unhealthy" (HTTP 503). */
typedef int (*StatusFn)(void *userdata, StatusRequest what, StrBuf *out);

typedef struct StatusSocket StatusSocket;

/* Uses the first listening fd passed by systemd (sd_listen_fds) when there is one; otherwise
 * binds path (its directory is created, a stale socket replaced). */
int status_socket_new(sd_event *e, const char *path, StatusFn fn, void *userdata, StatusSocket **ret);
StatusSocket *status_socket_free(StatusSocket *s);
DEFINE_FREE_CLEANUP(StatusSocket, status_socket_free)
/* True when the socket came from systemd. */
int status_socket_activated(const StatusSocket *s);
