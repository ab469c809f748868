/* sandbox-test.c: see sandbox-test.h. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
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
        return process_find_arg(arg) > 0;
}

pid_t process_find_arg(const char *arg) {
        DIR *d = opendir("/proc");
        pid_t found = 0;
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
                        found = strstr(buf, arg) ? (pid_t) atoi(de->d_name) : 0;
                }
        }
        if (d)
                closedir(d);
        return found;
}

pid_t process_parent(pid_t pid) {
        char path[64], line[256];
        snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
        FILE *f = fopen(path, "re");
        pid_t ppid = -ENOENT;
        if (!f)
                return -errno;
        while (fgets(line, sizeof line, f))
                if (strncmp(line, "PPid:", 5) == 0)
                        ppid = (pid_t) atoi(line + 5);
        fclose(f);
        return ppid;
}

int process_memory_contains(pid_t pid, const char *needle) {
        char path[64], line[512];
        size_t nl = strlen(needle), chunk = 1 << 20;
        snprintf(path, sizeof path, "/proc/%d/maps", (int) pid);
        FILE *maps = fopen(path, "re");
        if (!maps)
                return -errno;
        snprintf(path, sizeof path, "/proc/%d/mem", (int) pid);
        int mem = open(path, O_RDONLY | O_CLOEXEC);
        char *buf = malloc(chunk + nl);
        int found = mem < 0 ? -errno : buf ? 0 : -ENOMEM;
        while (found == 0 && fgets(line, sizeof line, maps)) {
                unsigned long start, end;
                char perms[8];
                if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3 || perms[0] != 'r' ||
                    end - start > (256ul << 20))
                        continue;
                size_t kept = 0; /* the end of the previous chunk, for a needle across two */
                for (unsigned long off = start; off < end && found == 0; off += chunk) {
                        size_t want = end - off < chunk ? end - off : chunk;
                        ssize_t n = pread(mem, buf + kept, want, (off_t) off);
                        if (n <= 0)
                                break;
                        size_t have = kept + (size_t) n;
                        if (memmem(buf, have, needle, nl))
                                found = 1;
                        kept = have < nl - 1 ? have : nl - 1;
                        memmove(buf, buf + have - kept, kept);
                }
        }
        free(buf);
        if (mem >= 0)
                close(mem);
        fclose(maps);
        return found;
}
