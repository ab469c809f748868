/* web-component.c: the webserver's descriptor for the daemon frame: the REST API on a passed
 * socket or on [webserver] listen, in libmicrohttpd's threads. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "flow-cache.h"
#include "log.h"
#include "strutil.h"
#include "web-component.h"
#include "web-server.h"

typedef struct WebComponent {
        WebServer *web;
        char *upload_dir;
        WebKafka *kafka; /* [queue] type = kafka: the producer of executions' events */
} WebComponent;

int web_take_http_socket(void) {
        char **names = NULL;
        int n = sd_listen_fds_with_names(0, &names), http = -1, other = -1;
        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;
                if (http < 0 && names && streq_ptr(names[i], "http")) {
                        http = fcntl(fd, F_DUPFD_CLOEXEC, SD_LISTEN_FDS_START + n);
                        close(fd);
                } else if (other < 0)
                        other = fd;
        }
        strv_free(names);
        if (http < 0)
                return -1;
        if (other < 0) {
                unsetenv("LISTEN_FDS");
                unsetenv("LISTEN_PID");
        } else {
                if (other != SD_LISTEN_FDS_START) {
                        dup2(other, SD_LISTEN_FDS_START);
                        close(other);
                }
                setenv("LISTEN_FDS", "1", 1);
        }
        unsetenv("LISTEN_FDNAMES");
        return http;
}

static void web_free(void *state) {
        WebComponent *wc = state;
        if (!wc)
                return;
        web_server_free(wc->web);
        web_kafka_free(wc->kafka);
        free(wc->upload_dir);
        free(wc);
}

static int web_start(Daemon *d, const char *id, const void *params, void **ret) {
        const WebComponentParams *p = params;
        int http_fd = p ? p->http_fd : -1;
        WebServerOptions opt = WEB_SERVER_OPTIONS_INIT;

        WebComponent *wc = calloc(1, sizeof *wc);
        if (!wc)
                return -ENOMEM;
        *ret = wc; /* freed by web_free whatever happens next */
        opt.listen_fd = http_fd;
        /* [webserver] listen, which $TERN_WEBSERVER_LISTEN and 'tern server --listen' override like every key. */
        opt.listen = daemon_config(d)->webserver_listen ?: "127.0.0.1:8080";
        /* The internal storage every component shares (FILE inputs, file downloads); uploads wait
         * for their execution on this host's disk. */
        opt.storage_url = daemon_config(d)->storage_url;
        if (!(wc->upload_dir = strjoin(daemon_config(d)->state_dir, "/uploads")))
                return -ENOMEM;
        opt.upload_dir = wc->upload_dir;
        opt.max_upload = (uint64_t) daemon_config(d)->webserver_max_upload_mib << 20;
        opt.flows = api_flow_cache_process(); /* shared with the process's executor and scheduler */
        opt.ui_dir = daemon_config(d)->webserver_ui_dir; /* NULL: the installed files */
        /* On Kafka the API reads the database the indexer writes, and sends what changes an
         * execution's course to the executors as the CLI does (docs/KAFKA.md). */
        if (config_queue_is_kafka(daemon_config(d))) {
                int r = web_kafka_new(daemon_config(d), &wc->kafka);
                if (r < 0)
                        return r; /* logged */
                opt.kafka = wc->kafka;
        }
        int r = web_server_start(daemon_store(d), &opt, &wc->web);
        if (r < 0)
                return log_error_errno(r, "Cannot listen on %s: %m", http_fd >= 0 ? "the passed socket" : opt.listen);
        log_info("Webserver listening on %s (port %u).", http_fd >= 0 ? "the passed socket" : opt.listen,
                 web_server_port(wc->web));
        return 0;
}

static void web_stop(Daemon *d, void *state, usec_t grace) {
        WebComponent *wc = state;
        wc->web = web_server_free(wc->web);
        /* After the server: no request sends anything any more; what was sent is flushed. */
        wc->kafka = web_kafka_free(wc->kafka);
}

static void web_status(void *state, StrBuf *out) {
        WebComponent *wc = state;
        strbuf_appendf(out, "serving on port %u", wc->web ? web_server_port(wc->web) : 0);
}

const DaemonComponent web_component = {
        .name = "webserver",
        .storage = true,
        .start = web_start,
        .stop = web_stop,
        .free = web_free,
        .status = web_status,
};
