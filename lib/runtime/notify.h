/* notify.h: the service manager protocol (sd_notify READY/STATUS/STOPPING/RELOADING) and a
 * watchdog that pings only while the daemon reports progress. */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "timeutil.h"

/* Each is a no-op without $NOTIFY_SOCKET. status may be NULL. */
void notify_ready(const char *status);
void notify_status(const char *status);
void notify_stopping(const char *status);
void notify_reloading(void);

/* Called on every watchdog tick: true when the daemon's loop and work slots made progress within
 * the last window (half the watchdog period); the tick itself running proves the event loop turns. */
typedef bool (*NotifyProgressFn)(void *userdata, usec_t window);

typedef struct NotifyWatchdog NotifyWatchdog;

/* When systemd asked for pings (WatchdogSec=, $WATCHDOG_USEC for this pid), add a timer to e that
 * sends WATCHDOG=1 every quarter period while progress() says so (progress NULL: always). A
 * missed period makes systemd kill and restart the service. *ret is NULL when no watchdog is
 * configured. */
int notify_watchdog_new(sd_event *e, NotifyProgressFn progress, void *userdata, NotifyWatchdog **ret);
NotifyWatchdog *notify_watchdog_free(NotifyWatchdog *w);
DEFINE_FREE_CLEANUP(NotifyWatchdog, notify_watchdog_free)
/* The watchdog period (0: none). */
usec_t notify_watchdog_usec(const NotifyWatchdog *w);
/* Pings sent and ticks skipped for lack of progress (status, tests). */
void notify_watchdog_counts(const NotifyWatchdog *w, uint64_t *ret_pings, uint64_t *ret_skipped);
