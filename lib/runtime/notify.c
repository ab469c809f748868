/* notify.c: sd_notify state messages and the progress-gated watchdog timer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "notify.h"

/* STATUS= must stay on one line: a newline would start another assignment. */
static void notify_send(const char *state, const char *status) {
        char line[512];
        if (!status) {
                (void) sd_notify(0, state);
                return;
        }
        snprintf(line, sizeof line, "%s", status);
        for (char *p = line; *p; p++)
                if (*p == '\n')
                        *p = ' ';
        (void) sd_notifyf(0, "%s%sSTATUS=%s", state, *state ? "\n" : "", line);
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
                (void) sd_notify(0, "WATCHDOG=1");
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
        (void) sd_notify(0, "WATCHDOG=1");
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
