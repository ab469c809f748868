/* web-server.h: tern's REST API over libmicrohttpd (Kestra's paths), authentication on by default. */
#pragma once

#include <stdint.h>

#include "config.h"
#include "flow-cache.h"
#include "store.h"

/* web-queue.c: the webserver's producer on the Kafka queue backend ([queue] type = kafka), made at
 * its start: 0, or a negative errno once the reason is logged (no broker of [queue] brokers
 * answered, a property refused; built without librdkafka). Freeing it waits for what is still
 * being sent. */
typedef struct WebKafka WebKafka;
int web_kafka_new(const TernConfig *cfg, WebKafka **ret);
WebKafka *web_kafka_free(WebKafka *k);
DEFINE_FREE_CLEANUP(WebKafka, web_kafka_free)

typedef struct WebServerOptions {
        const char *listen;        /* "HOST:PORT", or several separated by commas ("127.0.0.1:8080, [::1]:8080";
                                    * port 0 = any free one); unused when listen_fd >= 0 */
        int listen_fd;             /* an already bound, listening socket (socket activation), or -1 */
        unsigned threads;          /* database connections shared by requests (default 4); each
                                    * waiting request or event stream opens one of its own */
        size_t max_body;           /* bytes (default 1 MiB) */
        size_t max_header;         /* per-connection memory for the request line and headers (default 32 KiB) */
        unsigned max_connections;  /* default 256 */
        unsigned max_per_ip;       /* default 64 */
        unsigned timeout_sec;      /* idle connection timeout (default 30) */
        unsigned wait_max_sec;     /* longest wait for an execution's end (?wait=true, a Webhook's
                                    * wait: true) (default 300) */
        unsigned max_waits;        /* requests waiting for an execution's end at once (default 32) */
        unsigned max_waits_per_client; /* of those, from one client address (default 4); 429 beyond */
        unsigned max_streams;      /* follow streams open at once, each with a connection (default 64) */
        unsigned max_streams_per_client; /* of those, from one client address (default 16); 429 beyond */
        const char *storage_url;   /* internal storage (FILE inputs, file downloads; storage_open()'s URL);
                                    * NULL: none; copied */
        const char *upload_dir;    /* where multipart uploads wait for their execution (a directory
                                    * of this host, made when missing); NULL: no uploads; copied */
        uint64_t max_upload;       /* bytes of a multipart/form-data body: FILE inputs, a namespace file, a
                                    * webhook's parts (default 256 MiB; [webserver] max-upload-mib) */
        ApiFlowCache *flows;       /* parsed flows, shared with the process's other components; NULL: its own */
        const char *ui_dir;        /* the web UI's files, served under /: NULL: WEB_UI_DIR (where meson
                                    * installs them); "": no UI (a missing directory only warns) */
        const char *js_dir;        /* Debian's JavaScript packages (NULL: /usr/share/javascript) */
        WebKafka *kafka;           /* [queue] type = kafka: executions' events go there (borrowed); NULL: the
                                    * database queue */
} WebServerOptions;

#define WEB_SERVER_OPTIONS_INIT { .listen_fd = -1 }

typedef struct WebServer WebServer;

/* Start serving in background threads; store is duplicated per thread and not used afterwards.
 * -EADDRINUSE, -EINVAL (bad listen address) or another negative errno. */
int web_server_start(Store *store, const WebServerOptions *opt, WebServer **ret);
/* The port actually listened on (when 0 was asked for). */
uint16_t web_server_port(const WebServer *w);
/* Stop accepting, finish requests in flight, release everything. */
WebServer *web_server_free(WebServer *w);
DEFINE_FREE_CLEANUP(WebServer, web_server_free)
