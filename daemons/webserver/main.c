/* main.c: tern-webserver, the REST API as a systemd service, socket-activated or listening itself. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "strutil.h"
#include "web-server.h"

typedef struct WebDaemon {
        WebServer *web;
        char *storage_root;
        int http_fd; /* from the .socket unit, or -1 */
} WebDaemon;

/* Take the socket named "http" (FileDescriptorName=http) out of what systemd passed, and leave
 * the rest (the status socket) as the only passed fd for the status socket code, which takes the
 * first one. Returns the http fd or -1. */
static int take_http_socket(void) {
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

static int wd_start(Daemon *d, void *userdata) {
        WebDaemon *wd = userdata;
        WebServerOptions opt = WEB_SERVER_OPTIONS_INIT;
        opt.listen_fd = wd->http_fd;
        /* [webserver] listen, which $TERN_WEBSERVER_LISTEN overrides like every key. */
        opt.listen = daemon_config(d)->webserver_listen ?: "127.0.0.1:8080";
        /* The workers' internal storage on this host (FILE inputs, file downloads). */
        free(wd->storage_root);
        if (!(wd->storage_root = strjoin(daemon_config(d)->state_dir, "/storage")))
                return log_oom();
        opt.storage_root = wd->storage_root;
        opt.ui_dir = daemon_config(d)->webserver_ui_dir; /* NULL: the installed files */
        int r = web_server_start(daemon_store(d), &opt, &wd->web);
        if (r < 0)
                return log_error_errno(r, "Cannot listen on %s: %m", wd->http_fd >= 0 ? "the passed socket" : opt.listen);
        wd->http_fd = -1; /* the webserver owns it now */
        log_info("Webserver listening on port %u.", web_server_port(wd->web));
        return 0;
}

static void wd_stop(Daemon *d, void *userdata, usec_t grace) {
        WebDaemon *wd = userdata;
        wd->web = web_server_free(wd->web);
}

static void wd_status(void *userdata, StrBuf *out) {
        WebDaemon *wd = userdata;
        strbuf_appendf(out, "serving on port %u", wd->web ? web_server_port(wd->web) : 0);
}

int main(int argc, char *argv[]) {
        static const DaemonOps ops = {
                .component = "webserver",
                .start = wd_start,
                .stop = wd_stop,
                .status = wd_status,
        };
        WebDaemon wd = { .http_fd = take_http_socket() };
        int r = daemon_main(&ops, &wd, argc, argv);
        free(wd.storage_root);
        return r;
}
