/* serdes-csv.c: CSV as RFC 4180 and Kestra's serdes tasks read and write it: a separator, a quote that
 * doubles inside quoted fields, line breaks inside them, \n or \r\n line ends. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "serdes.h"

void csv_record_done(CsvRecord *rec) {
        for (size_t i = 0; i < rec->n; i++)
                free(rec->fields[i]);
        free(rec->fields);
        *rec = (CsvRecord) {};
}

static int add_field(CsvRecord *rec, char *buf, size_t len) {
        if (rec->n == rec->allocated) {
                size_t a = rec->allocated ? rec->allocated * 2 : 8;
                char **f = realloc(rec->fields, a * sizeof *f);
                if (!f)
                        return -ENOMEM;
                rec->fields = f;
                rec->allocated = a;
        }
        char *s = strndup(buf ? buf : "", len);
        if (!s)
                return -ENOMEM;
        rec->fields[rec->n++] = s;
        return 0;
}

int csv_read(FILE *f, char sep, char quote, unsigned long *line, CsvRecord *rec) {
        char *buf = NULL;
        size_t cap = 0, len = 0;
        bool quoted = false, any = false;
        int c, r = 0;

        csv_record_done(rec);
        rec->line = *line + 1;
        for (;;) {
                c = getc(f);
                if (c == EOF) {
                        if (!any)
                                goto out;
                        break;
                }
                any = true;
                if (quoted) {
                        if (c == quote) {
                                int d = getc(f);
                                if (d != quote) {
                                        quoted = false;
                                        if (d != EOF)
                                                ungetc(d, f);
                                        continue;
                                }
                        } else if (c == '\n')
                                (*line)++;
                } else if (c == quote && len == 0) {
                        quoted = true;
                        continue;
                } else if (c == sep || c == '\n') {
                        if (c == '\n' && len > 0 && buf[len - 1] == '\r')
                                len--;
                        if ((r = add_field(rec, buf, len)) < 0)
                                goto out;
                        len = 0;
                        if (c == '\n') {
                                (*line)++;
                                r = 1;
                                goto out;
                        }
                        continue;
                }
                if (len + 1 >= cap) {
                        size_t nc = cap ? cap * 2 : 256;
                        char *nb = realloc(buf, nc);
                        if (!nb) {
                                r = -ENOMEM;
                                goto out;
                        }
                        buf = nb;
                        cap = nc;
                }
                buf[len++] = (char) c;
        }
        /* The last line without its line break. */
        if (len > 0 && buf[len - 1] == '\r')
                len--;
        (*line)++;
        r = add_field(rec, buf, len) < 0 ? -ENOMEM : 1;
out:
        free(buf);
        return r;
}

static bool numeric(const char *s) {
        bool point = false, digit = false;
        if (*s == '+' || *s == '-')
                s++;
        for (; *s; s++) {
                if (*s == '.' && !point)
                        point = true;
                else if (*s >= '0' && *s <= '9')
                        digit = true;
                else
                        return false;
        }
        return digit;
}

void csv_write_field(FILE *f, const char *s, char sep, char quote, CsvQuote mode) {
        bool q = mode == CSV_QUOTE_ALWAYS || (mode == CSV_QUOTE_NON_NUMERIC && !numeric(s));
        for (const char *p = s; !q && *p; p++)
                q = *p == sep || *p == quote || *p == '\n' || *p == '\r';
        if (!q) {
                fputs(s, f);
                return;
        }
        fputc(quote, f);
        for (const char *p = s; *p; p++) {
                if (*p == quote)
                        fputc(quote, f);
                fputc(*p, f);
        }
        fputc(quote, f);
}
