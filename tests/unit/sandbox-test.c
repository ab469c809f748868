/* sandbox-test.c: see sandbox-test.h. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sandbox-test.h"

void capture_line(void *userdata, ProcessStream stream, const char *line, size_t len) {
        Capture *c = userdata;
        StrBuf *sb = stream == PROCESS_STDOUT ? &c->out : &c->err;
        strbuf_append_n(sb, line, len);
        strbuf_append_char(sb, '\n');
}

void capture_reset(Capture *c) {
        strbuf_done(&c->out);
        strbuf_done(&c->err);
        *c = (Capture) { STRBUF_INIT, STRBUF_INIT };
}

const char *capture_out(Capture *c) {
        return strbuf_str(&c->out) ?: "";
}

int count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        int n = 0;
        if (!d)
                return -1;
        for (struct dirent *de; (de = readdir(d));)
                n++;
        closedir(d);
        return n;
}

bool process_with_arg(const char *arg) {
        DIR *d = opendir("/proc");
        bool found = false;
        for (struct dirent *de; d && (de = readdir(d)) && !found;) {
                char path[PATH_MAX], buf[512];
                if (!isdigit((unsigned char) de->d_name[0]))
                        continue;
                snprintf(path, sizeof path, "/proc/%s/cmdline", de->d_name);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                ssize_t n = read(fd, buf, sizeof buf - 1);
                close(fd);
                for (ssize_t i = 0; i < n; i++)
                        if (buf[i] == 0)
                                buf[i] = ' ';
                if (n > 0) {
                        buf[n] = 0;
                        found = strstr(buf, arg) != NULL;
                }
        }
        if (d)
                closedir(d);
        return found;
}
