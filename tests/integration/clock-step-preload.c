/* clock-step-preload.c: an LD_PRELOAD library for tests that steps one process's real-time clock. */
/*
 * CLOCK_REALTIME (clock_gettime, gettimeofday, time) is offset by the whole seconds written in the
 * file $TERN_TEST_CLOCK_FILE ("-20", "+15"), read again every 20 ms, so that a test steps the clock
 * of the processes started with it while they run. The monotonic clocks and every timer are left
 * alone, as a real step of the host's clock leaves them. (libfaketime also moves monotonic timerfd
 * deadlines by the offset, which stopped sd-event's timers: a fault that a real step never makes.)
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define REREAD_NSEC (20 * 1000 * 1000LL)

static _Atomic long long offset_sec;
static _Atomic long long read_at_nsec = -1;

static long long mono_nsec(void) {
        struct timespec ts;
        /* The system call itself: no libc or sanitizer wrapper that could come back here. */
        if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) < 0)
                return 0;
        return (long long) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long current_offset(void) {
        long long now = mono_nsec(), last = atomic_load(&read_at_nsec);
        if (last >= 0 && now - last < REREAD_NSEC)
                return atomic_load(&offset_sec);
        atomic_store(&read_at_nsec, now);
        const char *path = getenv("TERN_TEST_CLOCK_FILE");
        if (!path)
                return 0;
        int fd = (int) syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return atomic_load(&offset_sec);
        char buf[32];
        long n = (long) syscall(SYS_read, fd, buf, sizeof buf - 1);
        syscall(SYS_close, fd);
        if (n > 0) {
                buf[n] = 0;
                atomic_store(&offset_sec, strtoll(buf, NULL, 10));
        }
        return atomic_load(&offset_sec);
}

static int real_realtime(clockid_t id, struct timespec *ts) {
        return (int) syscall(SYS_clock_gettime, id, ts);
}

int clock_gettime(clockid_t id, struct timespec *ts) {
        int r = real_realtime(id, ts);
        if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
                ts->tv_sec += (time_t) current_offset();
        return r;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
        (void) tz;
        struct timespec ts;
        if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
                return -1;
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
        return 0;
}

time_t time(time_t *t) {
        struct timespec ts;
        if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
                return (time_t) -1;
        if (t)
                *t = ts.tv_sec;
        return ts.tv_sec;
}
