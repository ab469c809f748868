/* notify.c: sd_notify state messages and the progress-gated watchdog timer. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "notify.h"

/* Send one notification datagram without ever blocking the daemon. libsystemd's sd_notify() sends
 * with a blocking sendmsg(): a service manager (or a test harness) that stops reading its socket
 * would stall the event loop on the next STATUS= update, and with it the watchdog and every job.
 * Here the socket is non-blocking: a full queue drops a STATUS= update (the next one replaces it),
 * while READY=1, STOPPING=1, RELOADING=1 and WATCHDOG=1 get a short bounded wait (the manager's
 * view of the state depends on them; systemd drains its socket continuously, so the wait ends at
 * once there). Unix sockets only (a path, or '@' for the abstract namespace); other forms (vsock)
 * go through sd_notify(). */
static int notify_datagram(const char *message, bool essential) {
        const char *e = getenv("NOTIFY_SOCKET");
        if (!e || !*e)
                return 0;
        if (e[0] != '/' && e[0] != '@')
                return sd_notify(0, message);

        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t n = strlen(e);
        if (n >= sizeof sa.sun_path)
                return -EINVAL;
        memcpy(sa.sun_path, e, n);
        if (sa.sun_path[0] == '@')
                sa.sun_path[0] = '\0';
        socklen_t salen = offsetof(struct sockaddr_un, sun_path) + n + (e[0] == '/');

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        size_t len = strlen(message);
        /* Essential messages: up to 20 tries 10 ms apart (0.2 s), then dropped, logged at debug. */
        for (int tries = 0;; tries++) {
                ssize_t k = sendto(fd, message, len, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *) &sa, salen);
                if (k >= 0)
                        return 1;
                if (errno == EINTR)
                        continue;
                if ((errno != EAGAIN && errno != EWOULDBLOCK) || !essential || tries >= 20) {
                        int r = -errno;
                        log_debug("Notification not sent (%s): %s", essential ? "dropped" : "status update skipped",
                                  strerror(-r));
                        return r;
                }
                /* poll() cannot wait for room on an unconnected datagram socket: sleep. */
                (void) nanosleep(&(struct timespec) { .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }
}

/* STATUS= must stay on one line: a newline would start another assignment. */
static void notify_send(const char *state, const char *status) {
        char line[600];
        if (!status) {
                (void) notify_datagram(state, true);
                return;
        }
        snprintf(line, sizeof line, "%s%sSTATUS=%.512s", state, *state ? "\n" : "", status);
        for (char *p = line + strlen(state) + !!*state; *p; p++)
                if (*p == '\n')
                        *p = ' ';
        (void) notify_datagram(line, *state != '\0');
}

void notify_ready(const char *status) {
        notify_send("READY=1", status);
}
void notify_status(const char *status) {
        notify_send("", status);
}
void notify_stopping(const char *status) {
        notify_send("STOPPING=1", status);
}
void notify_reloading(void) {
        notify_send("RELOADING=1", NULL);
}

struct NotifyWatchdog {
        sd_event_source *timer;
        usec_t period;
        NotifyProgressFn progress;
        void *userdata;
        uint64_t pings, skipped;
};

static int watchdog_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        NotifyWatchdog *w = userdata;
        if (!w->progress || w->progress(w->userdata, w->period / 2)) {
                (void) notify_datagram("WATCHDOG=1", true);
                w->pings++;
        } else {
                w->skipped++;
                log_debug("Watchdog: no progress this tick; not pinging.");
        }
        return sd_event_source_set_time(s, usec + w->period / 4);
}

int notify_watchdog_new(sd_event *e, NotifyProgressFn progress, void *userdata, NotifyWatchdog **ret) {
        uint64_t period = 0;
        int r = sd_watchdog_enabled(0, &period);
        *ret = NULL;
        if (r <= 0 || period == 0)
                return 0;
        NotifyWatchdog *w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        w->period = period;
        w->progress = progress;
        w->userdata = userdata;
        uint64_t now;
        (void) sd_event_now(e, CLOCK_MONOTONIC, &now);
        r = sd_event_add_time(e, &w->timer, CLOCK_MONOTONIC, now + period / 4, 0, watchdog_tick, w);
        if (r >= 0)
                r = sd_event_source_set_enabled(w->timer, SD_EVENT_ON);
        if (r < 0) {
                notify_watchdog_free(w);
                return r;
        }
        /* The first ping right away: start-up may have taken a while. */
        (void) notify_datagram("WATCHDOG=1", true);
        *ret = w;
        return 0;
}

NotifyWatchdog *notify_watchdog_free(NotifyWatchdog *w) {
        if (!w)
                return NULL;
        sd_event_source_disable_unref(w->timer);
        free(w);
        return NULL;
}

usec_t notify_watchdog_usec(const NotifyWatchdog *w) {
        return w ? w->period : 0;
}

void notify_watchdog_counts(const NotifyWatchdog *w, uint64_t *ret_pings, uint64_t *ret_skipped) {
        *ret_pings = w ? w->pings : 0;
        *ret_skipped = w ? w->skipped : 0;
}
