/* ion-file.c: Kestra's item files (Ion text, one value per line) read as a stream (see ion-file.h). */
#include <errno.h>

#include "ion-file.h"

void ion_item_reader_init(IonItemReader *r, int fd) {
        *r = (IonItemReader) {};
        line_reader_init(&r->lines, fd, 0);
}

void ion_item_reader_done(IonItemReader *r) {
        line_reader_done(&r->lines);
}

int ion_item_reader_next(IonItemReader *r, json_t **ret, const char **ret_line, size_t *ret_len,
                         const char **ret_why) {
        const char *line;
        size_t len;
        int k = line_reader_next(&r->lines, &line, &len);
        if (k <= 0)
                return k;
        r->n++;
        k = ion_value_parse(line, len, ret, ret_why);
        if (k < 0)
                return k;
        *ret_line = line;
        *ret_len = len;
        return 1;
}
