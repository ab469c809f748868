/* serdes.c: Kestra's serdes conversions (io.kestra.plugin.serdes.*: CsvToIon, IonToCsv, JsonToIon,
 * IonToJson) as a native plugin: a file of internal storage in, the converted file kept there, its URI out. */
#include <errno.h>
#include <iconv.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <tern/plugin.h>

#include "serdes.h"

typedef struct Conv {
        const TernPluginServices *s;
        json_t *props;
        FILE *in, *out;
        const char *from;   /* the input's name in the working directory */
        char *out_file;     /* the output's */
        unsigned long records;
        bool failed;
} Conv;

static int fail(Conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(Conv *c, const char *fmt, ...) {
        char *m = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        c->s->fail(c->s->ctx, m ?: "out of memory");
        c->failed = true;
        free(m);
        return -EIO;
}

static const char *prop_string(Conv *c, const char *name, const char *def) {
        return json_string_value(json_object_get(c->props, name)) ?: def;
}

static bool prop_bool(Conv *c, const char *name, bool def) {
        json_t *v = json_object_get(c->props, name);
        return json_is_boolean(v) ? json_is_true(v) : def;
}

/* A one-character property (fieldSeparator, textDelimiter). */
static int prop_char(Conv *c, const char *name, char def, char *ret) {
        const char *v = prop_string(c, name, NULL);
        if (!v)
                return *ret = def, 0;
        if (strlen(v) != 1)
                return fail(c, "'%s' must be one character, not '%s'", name, v);
        return *ret = v[0], 0;
}

static bool is_utf8(const char *charset) {
        return strcasecmp(charset, "UTF-8") == 0 || strcasecmp(charset, "UTF8") == 0;
}

/* The file 'from' into a new one, recoded between charsets: input in another charset is read as
 * UTF-8, output is written in the charset asked. */
static int recode(Conv *c, const char *from, const char *to, const char *from_cs, const char *to_cs) {
        iconv_t cd = iconv_open(to_cs, from_cs);
        if (cd == (iconv_t) -1)
                return fail(c, "'charset': '%s' is not a character set this worker knows",
                            is_utf8(from_cs) ? to_cs : from_cs);
        char *pin = NULL, *pout = NULL;
        int r = asprintf(&pin, "%s/%s", c->s->working_dir, from) < 0 || asprintf(&pout, "%s/%s", c->s->working_dir, to) < 0
                        ? -ENOMEM
                        : 0;
        FILE *in = r < 0 ? NULL : fopen(pin, "re"), *out = in ? fopen(pout, "wxe") : NULL;
        char ibuf[65536], obuf[4 * 65536];
        size_t left = 0;
        if (r >= 0 && (!in || !out))
                r = fail(c, "cannot recode '%s': %s", from, strerror(errno));
        while (r >= 0) {
                size_t n = fread(ibuf + left, 1, sizeof ibuf - left, in);
                if (n == 0 && left == 0)
                        break;
                char *ip = ibuf, *op = obuf;
                size_t il = left + n, ol = sizeof obuf;
                size_t k = iconv(cd, &ip, &il, &op, &ol);
                if (k == (size_t) -1 && (errno != EINVAL || n == 0)) {
                        r = fail(c, "the file is not valid %s text (byte %ld of it)", from_cs, ftell(in) - (long) il);
                        break;
                }
                fwrite(obuf, 1, (size_t) (op - obuf), out);
                memmove(ibuf, ip, il);
                left = il;
        }
        if (in)
                fclose(in);
        if (out && fclose(out) != 0 && r >= 0)
                r = fail(c, "cannot write '%s': %s", to, strerror(errno));
        iconv_close(cd);
        free(pin);
        free(pout);
        return r;
}

static FILE *open_in_dir(Conv *c, const char *name, const char *mode) {
        char *p = NULL;
        if (asprintf(&p, "%s/%s", c->s->working_dir, name) < 0)
                return NULL;
        FILE *f = fopen(p, mode);
        free(p);
        return f;
}

/* ---- the conversions: c->in to c->out, a record at a time ---- */

static int write_ion(Conv *c, json_t *v) {
        char *json = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT), *ion = NULL;
        int r = json ? c->s->json_to_ion(c->s->ctx, json, &ion) : -ENOMEM;
        free(json);
        if (r < 0)
                return r;
        fprintf(c->out, "%s\n", ion);
        free(ion);
        c->records++;
        return 0;
}

static int csv_to_ion(Conv *c) {
        char sep, quote;
        int r;
        if ((r = prop_char(c, "fieldSeparator", ',', &sep)) < 0 || (r = prop_char(c, "textDelimiter", '"', &quote)) < 0)
                return r;
        bool header = prop_bool(c, "header", true), skip_empty = prop_bool(c, "skipEmptyRows", false);
        json_int_t skip = json_integer_value(json_object_get(c->props, "skipRows"));
        const char *bad = prop_string(c, "onBadLines", "ERROR");
        CsvRecord rec = {}, names = {};
        unsigned long line = 0;
        while ((r = csv_read(c->in, sep, quote, &line, &rec)) > 0) {
                if (header && rec.line == 1) {
                        names = rec;
                        rec = (CsvRecord) {};
                        continue;
                }
                if (skip > 0) {
                        skip--;
                        continue;
                }
                if (skip_empty && rec.n == 1 && !*rec.fields[0])
                        continue;
                if (header && rec.n != names.n) {
                        char m[200];
                        snprintf(m, sizeof m, "Bad line encountered (field count mismatch): Expected %zu, got %zu fields.",
                                 names.n, rec.n);
                        if (strcmp(bad, "ERROR") == 0) {
                                r = fail(c, "'%s' line %lu: %s", c->from, rec.line, m);
                                break;
                        }
                        if (strcmp(bad, "WARN") == 0)
                                c->s->log(c->s->ctx, TERN_PLUGIN_LOG_WARN, m);
                        continue;
                }
                /* json_string() refuses what is not UTF-8: a charset to give */
                json_t *v = header ? json_object() : json_array();
                bool utf8 = true;
                for (size_t i = 0; v && i < rec.n; i++) {
                        json_t *x = strcmp(rec.fields[i], "\\N") == 0 ? json_null() : json_string(rec.fields[i]);
                        utf8 = utf8 && x;
                        if (header)
                                json_object_set_new(v, names.fields[i], x); /* the last of a name twice wins */
                        else
                                json_array_append_new(v, x);
                }
                if (!v || !utf8) {
                        json_decref(v);
                        r = v ? fail(c, "'%s' line %lu is not UTF-8 text: is 'charset' right?", c->from, rec.line) : -ENOMEM;
                        break;
                }
                r = write_ion(c, v);
                json_decref(v);
                if (r < 0)
                        break;
        }
        csv_record_done(&rec);
        csv_record_done(&names);
        return r;
}

/* A value of an Ion row as CSV text: strings as they are, null empty, anything else as JSON. */
static char *csv_text(json_t *v) {
        if (json_is_string(v))
                return strdup(json_string_value(v));
        if (json_is_null(v))
                return strdup("");
        if (json_is_real(v)) {
                /* the shortest text that reads back as the number: 0.1, not 0.10000000000000001 */
                char buf[64];
                for (int prec = 15; prec <= 17; prec++) {
                        snprintf(buf, sizeof buf, "%.*g", prec, json_real_value(v));
                        if (strtod(buf, NULL) == json_real_value(v))
                                break;
                }
                if (!strpbrk(buf, ".eni"))
                        strcat(buf, ".0"); /* still a decimal: 12.0 */
                return strdup(buf);
        }
        return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

/* Each line of the Ion input, parsed, to fn. */
static int each_ion(Conv *c, int (*fn)(Conv *c, json_t *v, void *userdata), void *userdata) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        unsigned long no = 0;
        int r = 0;
        while (r >= 0 && (n = getline(&line, &cap, c->in)) >= 0) {
                char *json = NULL;
                const char *why = NULL;
                no++;
                int k = c->s->ion_to_json(c->s->ctx, line, (size_t) n, &json, &why);
                if (k < 0) {
                        r = k == -EINVAL ? fail(c, "'%s' line %lu is not Ion: %s", c->from, no, why ?: "invalid") : k;
                        break;
                }
                if (k == 0)
                        continue;
                json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
                free(json);
                r = v ? fn(c, v, userdata) : -ENOMEM;
                json_decref(v);
        }
        free(line);
        return r;
}

typedef struct CsvOut {
        char sep, quote;
        CsvQuote mode;
        const char *eol;
        bool header, started;
} CsvOut;

static void csv_row(Conv *c, CsvOut *o, json_t *v, bool keys) {
        size_t i = 0;
        const char *k;
        json_t *x;
        if (json_is_array(v))
                json_array_foreach(v, i, x) {
                        char *t = csv_text(x);
                        if (i > 0)
                                fputc(o->sep, c->out);
                        csv_write_field(c->out, t ?: "", o->sep, o->quote, o->mode);
                        free(t);
                }
        else
                json_object_foreach(v, k, x) {
                        char *t = keys ? strdup(k) : csv_text(x);
                        if (i++ > 0)
                                fputc(o->sep, c->out);
                        csv_write_field(c->out, t ?: "", o->sep, o->quote, o->mode);
                        free(t);
                }
        fputs(o->eol, c->out);
}

static int ion_row_to_csv(Conv *c, json_t *v, void *userdata) {
        CsvOut *o = userdata;
        if (json_is_array(v)) {
                if (o->header)
                        return fail(c, "'%s' holds a list where 'header: true' needs structs (give 'header: false')", c->from);
        } else if (json_is_object(v)) {
                if (!o->started && o->header)
                        csv_row(c, o, v, true);
        } else
                return fail(c, "'%s' holds a %s where rows are structs or lists", c->from, json_is_string(v) ? "string" : "scalar");
        o->started = true;
        csv_row(c, o, v, false);
        c->records++;
        return 0;
}

static int ion_to_csv(Conv *c) {
        CsvOut o = { .header = prop_bool(c, "header", true), .eol = prop_string(c, "lineDelimiter", "\n") };
        int r;
        /* Java date patterns are not applied here: a flow that sets one would get other text than it
         * asked for, so it is refused rather than ignored. */
        static const char *const formats[] = { "dateFormat", "timeFormat", "dateTimeFormat" };
        for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
                if (json_object_get(c->props, formats[i]))
                        return fail(c, "'%s' is not supported by this IonToCsv: timestamps are written as their Ion "
                                       "(ISO-8601) text; remove it, or format the values before the conversion",
                                    formats[i]);
        if ((r = prop_char(c, "fieldSeparator", ',', &o.sep)) < 0 || (r = prop_char(c, "textDelimiter", '"', &o.quote)) < 0)
                return r;
        const char *mode = prop_string(c, "quoteMode", NULL);
        o.mode = mode && strcmp(mode, "ALWAYS") == 0        ? CSV_QUOTE_ALWAYS
                 : mode && strcmp(mode, "NON_NUMERIC") == 0 ? CSV_QUOTE_NON_NUMERIC
                 : !mode && prop_bool(c, "alwaysDelimitText", false) ? CSV_QUOTE_ALWAYS
                                                                      : CSV_QUOTE_REQUIRED;
        return each_ion(c, ion_row_to_csv, &o);
}

static int json_to_ion(Conv *c) {
        if (!prop_bool(c, "newLine", true)) {
                json_error_t e;
                json_t *all = json_loadf(c->in, JSON_DECODE_ANY, &e);
                if (!all)
                        return fail(c, "'%s' is not JSON: %s (line %d, column %d)", c->from, e.text, e.line, e.column);
                size_t i;
                json_t *v;
                int r = 0;
                if (json_is_array(all))
                        json_array_foreach(all, i, v) {
                                if ((r = write_ion(c, v)) < 0)
                                        break;
                        }
                else
                        r = write_ion(c, all);
                json_decref(all);
                return r;
        }
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        unsigned long no = 0;
        int r = 0;
        while (r >= 0 && (n = getline(&line, &cap, c->in)) >= 0) {
                no++;
                if (strspn(line, " \t\r\n") == (size_t) n)
                        continue;
                json_error_t e;
                json_t *v = json_loadb(line, (size_t) n, JSON_DECODE_ANY, &e);
                if (!v) {
                        r = fail(c, "'%s' line %lu is not JSON: %s (column %d); a file that is one JSON document needs 'newLine: false'",
                                 c->from, no, e.text, e.column);
                        break;
                }
                r = write_ion(c, v);
                json_decref(v);
        }
        free(line);
        return r;
}

static int ion_row_to_json(Conv *c, json_t *v, void *userdata) {
        json_t *all = userdata;
        c->records++;
        if (all)
                return json_array_append(all, v) < 0 ? -ENOMEM : 0;
        char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!t)
                return -ENOMEM;
        fprintf(c->out, "%s\n", t);
        free(t);
        return 0;
}

static int ion_to_json(Conv *c) {
        if (prop_bool(c, "newLine", true))
                return each_ion(c, ion_row_to_json, NULL);
        json_t *all = json_array();
        int r = all ? each_ion(c, ion_row_to_json, all) : -ENOMEM;
        if (r >= 0)
                r = json_dumpf(all, c->out, JSON_COMPACT) < 0 ? -EIO : 0;
        json_decref(all);
        return r;
}

/* ---- the task ---- */

static const struct {
        const char *type;
        const char *ext;
        bool text_in; /* its input is text in 'charset' (else its output is) */
        int (*run)(Conv *c);
} convs[] = {
        { "io.kestra.plugin.serdes.csv.CsvToIon", "ion", true, csv_to_ion },
        { "io.kestra.plugin.serdes.csv.IonToCsv", "csv", false, ion_to_csv },
        { "io.kestra.plugin.serdes.json.JsonToIon", "ion", true, json_to_ion },
        { "io.kestra.plugin.serdes.json.IonToJson", "jsonl", false, ion_to_json },
};

static int serdes_run(const char *type, const char *properties_json, const TernPluginServices *s) {
        Conv c = { .s = s, .props = json_loads(properties_json, 0, NULL) };
        char *stem = NULL, *recoded = NULL;
        size_t k;
        int r;

        for (k = 0; k < sizeof convs / sizeof *convs; k++)
                if (strcmp(type, convs[k].type) == 0)
                        break;
        if (!c.props) {
                r = -ENOMEM;
                goto out;
        }
        if (k == sizeof convs / sizeof *convs) {
                r = fail(&c, "the serdes plugin has no conversion for type '%s'", type);
                goto out;
        }
        if (!TERN_PLUGIN_HAS_SERVICE(s, json_to_ion) || !TERN_PLUGIN_HAS_SERVICE(s, ion_to_json)) {
                r = fail(&c, "this worker is too old for the serdes plugin: it has no Ion services");
                goto out;
        }
        c.from = prop_string(&c, "from", NULL);
        if (!c.from) {
                r = fail(&c, "'from' is required");
                goto out;
        }
        const char *charset = prop_string(&c, "charset", "UTF-8");
        bool recode_in = convs[k].text_in && !is_utf8(charset), recode_out = !convs[k].text_in && !is_utf8(charset);

        /* data.csv (fetched as from-data.csv) becomes data.ion */
        const char *base = strncmp(c.from, "from-", 5) == 0 ? c.from + 5 : c.from;
        const char *dot = strrchr(base, '.');
        const char *ext = convs[k].run == ion_to_json && !prop_bool(&c, "newLine", true) ? "json" : convs[k].ext;
        if (asprintf(&stem, "%.*s", dot && dot != base ? (int) (dot - base) : (int) strlen(base), base) < 0 ||
            asprintf(&c.out_file, "%s.%s", stem, ext) < 0 || asprintf(&recoded, "%s.recoded", stem) < 0) {
                r = -ENOMEM;
                goto out;
        }
        if (strcmp(c.out_file, c.from) == 0) {
                free(c.out_file);
                if (asprintf(&c.out_file, "%s-converted.%s", stem, ext) < 0) {
                        c.out_file = NULL;
                        r = -ENOMEM;
                        goto out;
                }
        }
        if (recode_in) {
                if ((r = recode(&c, c.from, recoded, charset, "UTF-8")) < 0)
                        goto out;
        }
        c.in = open_in_dir(&c, recode_in ? recoded : c.from, "re");
        c.out = open_in_dir(&c, recode_out ? recoded : c.out_file, "wxe");
        if (!c.in || !c.out) {
                r = fail(&c, "cannot open '%s' or '%s': %s", c.from, c.out_file, strerror(errno));
                goto out;
        }
        if ((r = convs[k].run(&c)) < 0)
                goto out;
        FILE *f = c.out;
        c.out = NULL;
        if (fclose(f) != 0) {
                r = fail(&c, "cannot write '%s': %s", c.out_file, strerror(errno));
                goto out;
        }
        if (recode_out && (r = recode(&c, recoded, c.out_file, "UTF-8", charset)) < 0)
                goto out;

        char *uri = NULL, *json = NULL;
        if ((r = s->storage_put(s->ctx, c.out_file, &uri)) < 0) {
                r = fail(&c, "cannot keep '%s' in internal storage: %s", c.out_file, strerror(-r));
                goto out;
        }
        json_t *u = json_string(uri);
        json = u ? json_dumps(u, JSON_ENCODE_ANY) : NULL;
        json_decref(u);
        r = json ? s->output(s->ctx, "uri", json) : -ENOMEM;
        free(json);
        free(uri);
        if (r >= 0)
                s->metric(s->ctx, "counter", "records", (double) c.records, NULL);
out:
        if (r < 0 && !c.failed && !s->cancelled(s->ctx))
                r = fail(&c, "%s", strerror(-r));
        if (c.in)
                fclose(c.in);
        if (c.out)
                fclose(c.out);
        free(stem);
        free(recoded);
        free(c.out_file);
        json_decref(c.props);
        return r < 0 && c.failed ? TERN_PLUGIN_FAILED : r < 0 ? r : TERN_PLUGIN_SUCCESS;
}

TERN_PLUGIN_DEFINE(serdes_run)
