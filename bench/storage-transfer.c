/* storage-transfer.c: bench/run's storage helper: one upload or download of a file through lib/storage, timed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fd-util.h"
#include "storage.h"
#include "timeutil.h"

typedef struct Sink {
        int fd;
        uint64_t bytes;
} Sink;

/* Counted here: /dev/null has no offset to tell how much went in. */
static int sink_write(void *userdata, const void *buf, size_t n) {
        Sink *k = userdata;
        k->bytes += n;
        return fd_write_all(k->fd, buf, n);
}

/* Usage: storage-transfer put|get URL KEY FILE
 * put stores FILE as KEY; get writes KEY into FILE (created or truncated; /dev/null works). The
 * credentials come from the environment as storage_open() documents ($AWS_ACCESS_KEY_ID and
 * $AWS_SECRET_ACCESS_KEY, $AZURE_STORAGE_SAS_TOKEN, ...). Prints one line, "BYTES SECONDS KB": the
 * bytes moved, the wall time of the transfer alone (the handle is opened before the clock starts,
 * as a daemon's is; the first connection is in the time, as curl's is) and the process's peak RSS
 * (VmHWM). Exit 0, or 1 with storage_error() on stderr. */
/* VmHWM of /proc/self/status in kB, 0 when unknown. */
static unsigned long long peak_rss_kb(void) {
        FILE *f = fopen("/proc/self/status", "re");
        char line[256];
        unsigned long long kb = 0;
        while (f && fgets(line, sizeof line, f))
                if (sscanf(line, "VmHWM: %llu", &kb) == 1)
                        break;
        if (f)
                fclose(f);
        return kb;
}

int main(int argc, char **argv) {
        if (argc != 5 || (strcmp(argv[1], "put") != 0 && strcmp(argv[1], "get") != 0)) {
                fprintf(stderr, "usage: %s put|get URL KEY FILE\n", argv[0]);
                return 2;
        }
        bool put = strcmp(argv[1], "put") == 0;
        Storage *s = NULL;
        char *err = NULL;
        /* $TERN_BENCH_PART_MIB: another part size, to see what parts cost (of FILE, a regular file:
         * $TERN_BENCH_FILE_PART_MIB); $TERN_BENCH_PARTS: another number of parts in flight. */
        const char *pm = getenv("TERN_BENCH_PART_MIB"), *pf = getenv("TERN_BENCH_PARTS");
        const char *fpm = getenv("TERN_BENCH_FILE_PART_MIB");
        StorageOptions opt = { .part_size = pm ? strtoull(pm, NULL, 10) << 20 : 0,
                               .file_part_size = fpm ? strtoull(fpm, NULL, 10) << 20 : 0,
                               .parts_in_flight = pf ? (unsigned) strtoul(pf, NULL, 10) : 0 };
        int r = storage_open(argv[2], &opt, &s, &err);
        if (r < 0) {
                fprintf(stderr, "storage-transfer: %s\n", err ?: strerror(-r));
                free(err);
                return 1;
        }
        int fd = put ? open(argv[4], O_RDONLY | O_CLOEXEC) : open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
                fprintf(stderr, "storage-transfer: cannot open '%s': %s\n", argv[4], strerror(errno));
                storage_free(s);
                return 1;
        }
        Sink k = { .fd = fd };
        usec_t t0 = now_monotonic();
        r = put ? storage_put_fd(s, argv[3], fd) : storage_get(s, argv[3], sink_write, &k);
        usec_t t1 = now_monotonic();
        if (r < 0) {
                fprintf(stderr, "storage-transfer: %s\n", storage_error(s));
                close(fd);
                storage_free(s);
                return 1;
        }
        /* put: where the read stopped, the end of FILE. */
        uint64_t bytes = put ? (uint64_t) MAX(lseek(fd, 0, SEEK_CUR), (off_t) 0) : k.bytes;
        printf("%llu %.6f %llu\n", (unsigned long long) bytes, (double) (t1 - t0) / USEC_PER_SEC, peak_rss_kb());
        close(fd);
        storage_free(s);
        return 0;
}
