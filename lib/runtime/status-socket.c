/* status-socket.c: the status socket's listener and its one-request connections on sd-event. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "status-socket.h"
#include "timeutil.h"

#define STATUS_MAX_CONNECTIONS 16
#define STATUS_REQUEST_MAX 1024
#define STATUS_TIMEOUT_USEC (5 * USEC_PER_SEC)

typedef struct StatusConn StatusConn;

struct StatusSocket {
        sd_event *event;
        sd_event_source *listen_source;
        int fd;
        int activated;
        char *path; /* bound by us: unlinked on free */
        StatusFn fn;
        void *userdata;
        StatusConn *conns;
        unsigned n_conns;
};

struct StatusConn {
        StatusSocket *owner;
        StatusConn *next, *prev;
        int fd;
        sd_event_source *io, *timeout;
        char buf[STATUS_REQUEST_MAX];
        size_t len;
};

static void conn_free(StatusConn *c) {
        StatusSocket *s = c->owner;
        if (c->prev)
                c->prev->next = c->next;
        else
                s->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        s->n_conns--;
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->timeout);
        safe_close(c->fd);
        free(c);
}

static void write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return;
                p += k;
                n -= (size_t) k;
        }
}

static void conn_answer(StatusConn *c) {
        StatusSocket *s = c->owner;
        char *line = c->buf, *word = line;
        bool http = false;
        line[strcspn(line, "\r\n")] = 0;
        if (startswith(line, "GET ") || startswith(line, "HEAD ")) {
                http = true;
                word = strchr(line, ' ') + 1;
                word[strcspn(word, " ?")] = 0;
                while (*word == '/')
                        word++;
        }
        _cleanup_strbuf_ StrBuf body = STRBUF_INIT;
        int code = 200;
        StatusRequest what;
        if (streq(word, "health") || streq(word, "healthz"))
                what = STATUS_HEALTH;
        else if (streq(word, "status") || streq(word, ""))
                what = STATUS_STATUS;
        else if (streq(word, "metrics"))
                what = STATUS_METRICS;
        else {
                code = 404;
                strbuf_appendf(&body, "unknown request '%.64s': try health, status or metrics", word);
        }
        if (code == 200 && s->fn(s->userdata, what, &body) > 0)
                code = 503;
        if (!body.len || body.buf[body.len - 1] != '\n')
                strbuf_append_char(&body, '\n');
        if (body.error)
                return;
        if (http) {
                char head[256];
                int n = snprintf(head, sizeof head,
                                 "HTTP/1.0 %d %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                                 code, code == 200 ? "OK" : code == 404 ? "Not Found" : "Service Unavailable",
                                 body.len);
                write_all(c->fd, head, (size_t) n);
                if (startswith(c->buf, "HEAD "))
                        return;
        }
        write_all(c->fd, body.buf, body.len);
}

static int conn_on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        StatusConn *c = userdata;
        ssize_t n = recv(fd, c->buf + c->len, sizeof c->buf - 1 - c->len, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n > 0)
                c->len += (size_t) n;
        c->buf[c->len] = 0;
        /* A full line, the peer's end of input, or a request too long to be one of ours. */
        if (n <= 0 || memchr(c->buf, '\n', c->len) || c->len >= sizeof c->buf - 1) {
                if (c->len > 0)
                        conn_answer(c);
                conn_free(c);
        }
        return 0;
}

static int conn_on_timeout(sd_event_source *src, uint64_t usec, void *userdata) {
        conn_free(userdata);
        return 0;
}

static int on_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        StatusSocket *s = userdata;
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
                return 0; /* EAGAIN, or a peer gone before we got to it */
        if (s->n_conns >= STATUS_MAX_CONNECTIONS) {
                safe_close(cfd);
                return 0;
        }
        StatusConn *c = calloc(1, sizeof *c);
        if (!c) {
                safe_close(cfd);
                return 0;
        }
        c->owner = s;
        c->fd = cfd;
        c->next = s->conns;
        if (s->conns)
                s->conns->prev = c;
        s->conns = c;
        s->n_conns++;
        uint64_t now;
        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        if (sd_event_add_io(s->event, &c->io, cfd, EPOLLIN, conn_on_io, c) < 0 ||
            sd_event_add_time(s->event, &c->timeout, CLOCK_MONOTONIC, now + STATUS_TIMEOUT_USEC, 0, conn_on_timeout,
                              c) < 0)
                conn_free(c);
        return 0;
}

static int bind_path(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        _cleanup_free_ char *dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = 0;
                (void) mkdir(dir, 0755);
        }
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        (void) unlink(path);
        if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen(fd, 16) < 0) {
                int e = -errno;
                safe_close(fd);
                return e;
        }
        return fd;
}

int status_socket_new(sd_event *e, const char *path, StatusFn fn, void *userdata, StatusSocket **ret) {
        StatusSocket *s = calloc(1, sizeof *s);
        int r;
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(e);
        s->fn = fn;
        s->userdata = userdata;
        s->fd = -EBADF;
        /* unset_environment: the fds are ours alone, not for the tasks we start. */
        int n = sd_listen_fds(1);
        if (n > 0 && sd_is_socket(SD_LISTEN_FDS_START, AF_UNSPEC, SOCK_STREAM, 1) > 0) {
                s->fd = SD_LISTEN_FDS_START;
                s->activated = 1;
                int fl = fcntl(s->fd, F_GETFL);
                if (fl >= 0)
                        (void) fcntl(s->fd, F_SETFL, fl | O_NONBLOCK);
                (void) fcntl(s->fd, F_SETFD, FD_CLOEXEC);
        } else {
                if ((r = bind_path(path)) < 0) {
                        status_socket_free(s);
                        return r;
                }
                s->fd = r;
                if (!(s->path = strdup(path))) {
                        status_socket_free(s);
                        return -ENOMEM;
                }
        }
        r = sd_event_add_io(e, &s->listen_source, s->fd, EPOLLIN, on_accept, s);
        if (r < 0) {
                status_socket_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

StatusSocket *status_socket_free(StatusSocket *s) {
        if (!s)
                return NULL;
        while (s->conns)
                conn_free(s->conns);
        sd_event_source_disable_unref(s->listen_source);
        safe_close(s->fd);
        if (s->path)
                (void) unlink(s->path);
        free(s->path);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

int status_socket_activated(const StatusSocket *s) {
        return s->activated;
}
