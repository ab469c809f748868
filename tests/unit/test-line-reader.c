/* test-line-reader: lines as Java's readLine() ends them ("\n", "\r\n", a lone "\r"), across buffer
 * refills, a last line without a terminator, and the bound on a line's length. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "line-reader.h"
#include "strbuf.h"
#include "tap.h"

/* The lines of data, joined with '|'. */
static char *lines_of(const char *data, size_t n, size_t max, int *ret) {
        int p[2];
        if (pipe(p) < 0)
                return NULL;
        /* A child writes in pieces: the reader sees "\r" and "\n" arrive apart. */
        pid_t pid = fork();
        if (pid == 0) {
                close(p[0]);
                size_t piece = n < 100 ? 4 : 4093;
                for (size_t i = 0; i < n; i += piece) {
                        fd_write_all(p[1], data + i, n - i < piece ? n - i : piece);
                        usleep(100);
                }
                _exit(0);
        }
        close(p[1]);
        LineReader lr;
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        const char *line;
        size_t len;
        int r;
        line_reader_init(&lr, p[0], max);
        while ((r = line_reader_next(&lr, &line, &len)) > 0) {
                strbuf_append_n(&sb, line, len);
                strbuf_append_char(&sb, '|');
        }
        *ret = r;
        line_reader_done(&lr);
        close(p[0]);
        (void) waitpid(pid, NULL, 0);
        return strbuf_steal(&sb) ?: strdup("");
}

int main(void) {
        int r;
        char *s;

        s = lines_of("a\nb\r\nc\rd", 8, 0, &r);
        is_str(s, "a|b|c|d|", "\\n, \\r\\n and a lone \\r end lines; a last line needs none");
        free(s);
        s = lines_of("1\n2\n3\n", 6, 0, &r);
        is_str(s, "1|2|3|", "a final terminator makes no empty line");
        free(s);
        s = lines_of("\n\r\n\r", 4, 0, &r);
        is_str(s, "|||", "empty lines are lines");
        free(s);
        s = lines_of("", 0, 0, &r);
        ok(streq(s, "") && r == 0, "an empty file has no line");
        free(s);

        /* 200 KiB lines: several refills each */
        size_t n = 3 * 200 * 1024 + 3;
        char *big = malloc(n);
        memset(big, 'x', n);
        big[200 * 1024] = '\n';
        big[400 * 1024 + 1] = '\r';
        big[400 * 1024 + 2] = '\n';
        s = lines_of(big, n - 1, 0, &r);
        ok(s && strlen(s) == n - 1 && r == 0, "long lines across refills (%zu bytes)", s ? strlen(s) : 0);
        free(s);
        s = lines_of(big, n - 1, 100 * 1024, &r);
        is_int(r, -E2BIG, "a line over the bound is refused");
        free(s);
        free(big);
        return tap_done();
}
