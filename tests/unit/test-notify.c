/* test-notify: sd_notify messages reach $NOTIFY_SOCKET, and a reader that stops reading never blocks
 * the daemon (STATUS= updates are dropped, state changes wait briefly, then give up). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"
#include "tap.h"

static int bind_socket(const char *path, bool abstract) {
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        socklen_t len;
        if (abstract) {
                memcpy(sa.sun_path + 1, path, strlen(path));
                len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path);
        } else {
                strcpy(sa.sun_path, path);
                len = sizeof sa;
        }
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, len) < 0)
                return -1;
        return fd;
}

static int recv_text(int fd, char *buf, size_t size) {
        ssize_t n = recv(fd, buf, size - 1, MSG_DONTWAIT);
        buf[n > 0 ? n : 0] = 0;
        return (int) n;
}

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void) {
        char dir[] = "/tmp/tern-test-notify-XXXXXX", path[128], buf[1024];
        if (!mkdtemp(dir))
                return 1;
        snprintf(path, sizeof path, "%s/notify.sock", dir);
        int fd = bind_socket(path, false);
        ok(fd >= 0, "bound a notify socket");
        setenv("NOTIFY_SOCKET", path, 1);

        notify_ready("Ready: 2 slots\nsecond line");
        recv_text(fd, buf, sizeof buf);
        ok(strcmp(buf, "READY=1\nSTATUS=Ready: 2 slots second line") == 0,
           "READY=1 with a one-line STATUS= arrives (got \"%s\")", buf);
        notify_stopping(NULL);
        recv_text(fd, buf, sizeof buf);
        ok(strcmp(buf, "STOPPING=1") == 0, "STOPPING=1 alone arrives (got \"%s\")", buf);

        /* Nobody reads any more: the old sender blocked forever here; the alarm makes that a failure. */
        alarm(20);
        double t0 = now_s();
        for (int i = 0; i < 5000; i++)
                notify_status("Busy: a status update nobody reads");
        double t_status = now_s() - t0;
        ok(t_status < 5, "5000 status updates to a full socket return without blocking (%.2f s)", t_status);
        t0 = now_s();
        notify_ready("Ready again");
        double t_ready = now_s() - t0;
        ok(t_ready < 2, "READY=1 to a full socket waits briefly, then gives up (%.2f s)", t_ready);
        alarm(0);
        int queued = 0;
        while (recv_text(fd, buf, sizeof buf) > 0)
                queued++;
        ok(queued > 0, "the updates that fit were delivered (%d)", queued);
        notify_status("After draining");
        recv_text(fd, buf, sizeof buf);
        ok(strcmp(buf, "STATUS=After draining") == 0, "once drained, updates flow again (got \"%s\")", buf);
        close(fd);

        /* The abstract namespace ('@'), as some service managers use. */
        char name[64];
        snprintf(name, sizeof name, "tern-test-notify-%d", (int) getpid());
        int afd = bind_socket(name, true);
        char env[80];
        snprintf(env, sizeof env, "@%s", name);
        setenv("NOTIFY_SOCKET", env, 1);
        notify_reloading();
        recv_text(afd, buf, sizeof buf);
        ok(afd >= 0 && strcmp(buf, "RELOADING=1") == 0, "an abstract socket gets RELOADING=1 (got \"%s\")", buf);
        close(afd);

        unsetenv("NOTIFY_SOCKET");
        notify_status("nowhere");
        ok(true, "without $NOTIFY_SOCKET a notification is a no-op");

        unlink(path);
        rmdir(dir);
        return tap_done();
}
