/* config.c: tern.conf parsing (INI with drop-ins), environment overrides and secret files. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "flow.h"
#include "log.h"
#include "storage.h"
#include "strbuf.h"
#include "strutil.h"

typedef enum ConfigType {
        CONFIG_STRING,
        CONFIG_UNSIGNED,
        CONFIG_DURATION,
        CONFIG_LOG_LEVEL,
} ConfigType;

typedef struct ConfigKey {
        const char *section, *key;
        ConfigType type;
        size_t offset;
        unsigned min, max;  /* CONFIG_UNSIGNED range; CONFIG_DURATION minimum in seconds */
        bool restart;       /* a change needs a restart (not applied on SIGHUP) */
} ConfigKey;

#define K(s, k, t, field, lo, hi, rs) { s, k, t, offsetof(TernConfig, field), lo, hi, rs }
static const ConfigKey config_keys[] = {
        K("database", "url", CONFIG_STRING, db_url, 0, 0, true),
        K("database", "password-file", CONFIG_STRING, db_password_file, 0, 0, true),
        K("server", "state-dir", CONFIG_STRING, state_dir, 0, 0, true),
        K("server", "runtime-dir", CONFIG_STRING, runtime_dir, 0, 0, true),
        K("server", "grace", CONFIG_DURATION, grace, 0, 0, false),
        K("flow", "max-tasks", CONFIG_UNSIGNED, flow_max_tasks, 1, 1000000, false),
        K("executor", "batch", CONFIG_UNSIGNED, executor_batch, 1, 10000, true),
        K("executor", "poll", CONFIG_DURATION, executor_poll, 0, 0, true),
        K("worker", "slots", CONFIG_UNSIGNED, worker_slots, 1, 1024, true),
        K("worker", "queue", CONFIG_STRING, worker_queue, 0, 0, true),
        K("worker", "lease", CONFIG_DURATION, worker_lease, 1, 0, true),
        K("worker", "log-lines", CONFIG_UNSIGNED, worker_log_lines, 1, 100000000, true),
        K("worker", "log-bytes", CONFIG_UNSIGNED, worker_log_bytes, 1024, 4294967295u, true),
        K("worker", "output-mib", CONFIG_UNSIGNED, worker_output_mib, 1, 4294967295u, true),
        K("worker", "pip-index-url", CONFIG_STRING, worker_pip_index_url, 0, 0, true),
        K("sandbox", "mode", CONFIG_STRING, sandbox_mode, 0, 0, true),
        K("sandbox", "network", CONFIG_STRING, sandbox_network, 0, 0, true),
        K("sandbox", "user-namespace", CONFIG_STRING, sandbox_user_namespace, 0, 0, true),
        K("sandbox", "uid", CONFIG_STRING, sandbox_uid, 0, 0, true),
        K("sandbox", "memory", CONFIG_STRING, sandbox_memory, 0, 0, true),
        K("sandbox", "pids", CONFIG_STRING, sandbox_pids, 0, 0, true),
        K("sandbox", "cpu", CONFIG_STRING, sandbox_cpu, 0, 0, true),
        K("sandbox", "bind-ro", CONFIG_STRING, sandbox_bind_ro, 0, 0, true),
        K("sandbox", "bind-rw", CONFIG_STRING, sandbox_bind_rw, 0, 0, true),
        K("sandbox", "hide", CONFIG_STRING, sandbox_hide, 0, 0, true),
        K("sandbox", "made-ahead", CONFIG_STRING, sandbox_made_ahead, 0, 0, true),
        K("sandbox", "require-image", CONFIG_STRING, sandbox_require_image, 0, 0, true),
        K("liveness", "heartbeat", CONFIG_DURATION, heartbeat, 1, 0, false),
        K("liveness", "dead-after", CONFIG_DURATION, dead_after, 2, 0, false),
        K("webserver", "listen", CONFIG_STRING, webserver_listen, 0, 0, true),
        K("webserver", "ui-dir", CONFIG_STRING, webserver_ui_dir, 0, 0, true),
        K("webserver", "max-upload-mib", CONFIG_UNSIGNED, webserver_max_upload_mib, 1, 1048576, true),
        K("storage", "url", CONFIG_STRING, storage_url, 0, 0, true),
        K("storage", "retention", CONFIG_DURATION, storage_retention, 0, 0, true),
        K("queue", "type", CONFIG_STRING, queue_type, 0, 0, true),
        K("queue", "brokers", CONFIG_STRING, queue_brokers, 0, 0, true),
        K("queue", "topic-prefix", CONFIG_STRING, queue_topic_prefix, 0, 0, true),
        K("queue", "partitions", CONFIG_UNSIGNED, queue_partitions, 1, 10000, true),
        K("queue", "replication-factor", CONFIG_UNSIGNED, queue_replication, 1, 100, true),
        K("plugins", "path", CONFIG_STRING, plugins_path, 0, 0, true),
        K("log", "level", CONFIG_LOG_LEVEL, log_level, 0, 0, false),
};
#undef K

/* [queue] kafka.* values may be credentials (sasl.password, ssl.key.password): wiped when freed. */
static char **strv_free_erase(char **l) {
        for (char **i = l; i && *i; i++)
                explicit_bzero(*i, strlen(*i));
        return strv_free(l);
}

static void config_defaults(TernConfig *c) {
        *c = (TernConfig) {
                .grace = 30 * USEC_PER_SEC,
                .flow_max_tasks = FLOW_TASKS_MAX_DEFAULT,
                .executor_batch = 32,
                .executor_poll = 0, /* the backend's: 1 s on PostgreSQL, 100 ms on SQLite (executor.h) */
                .worker_slots = 4,
                .worker_lease = 30 * USEC_PER_SEC,
                .worker_log_lines = 10000,
                .worker_log_bytes = 10 * 1024 * 1024,
                .worker_output_mib = 4096,
                .webserver_max_upload_mib = 256,
                .queue_partitions = 12,
                .queue_replication = 3,
                .heartbeat = 5 * USEC_PER_SEC,
                .dead_after = 30 * USEC_PER_SEC,
                .log_level = LOG_INFO,
        };
}

void config_done(TernConfig *c) {
        if (!c)
                return;
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (config_keys[i].type == CONFIG_STRING)
                        free(*(char **) ((char *) c + config_keys[i].offset));
        if (c->db_password) {
                explicit_bzero(c->db_password, strlen(c->db_password));
                free(c->db_password);
        }
        strv_free_erase(c->queue_kafka);
        strv_free(c->sources);
        strv_free(c->skipped);
        config_defaults(c);
        c->log_level = LOG_INFO;
}

static int add_error(char ***errors, const char *where, unsigned line, const char *fmt, ...) _printf_(4, 5);
static int add_error(char ***errors, const char *where, unsigned line, const char *fmt, ...) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        va_list ap;
        if (line)
                strbuf_appendf(&sb, "%s:%u: ", where, line);
        else
                strbuf_appendf(&sb, "%s: ", where);
        va_start(ap, fmt);
        strbuf_vappendf(&sb, fmt, ap);
        va_end(ap);
        char *s = strbuf_steal(&sb);
        return s ? strv_consume(errors, s) : -ENOMEM;
}

int config_parse_duration(const char *v, usec_t *ret) {
        susec_t d;
        if (duration_parse(v, &d) >= 0 && d >= 0) {
                *ret = (usec_t) d;
                return 0;
        }
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (errno || end == v || v[0] == '-')
                return -EINVAL;
        usec_t unit;
        if (!*end || streq(end, "s") || streq(end, "sec"))
                unit = USEC_PER_SEC;
        else if (streq(end, "ms"))
                unit = USEC_PER_MSEC;
        else if (streq(end, "min") || streq(end, "m"))
                unit = 60 * USEC_PER_SEC;
        else if (streq(end, "h"))
                unit = 3600 * USEC_PER_SEC;
        else if (streq(end, "d"))
                unit = 24 * 3600 * USEC_PER_SEC;
        else
                return -EINVAL;
        if (n > UINT64_MAX / unit)
                return -ERANGE;
        *ret = (usec_t) n * unit;
        return 0;
}

static int config_set(TernConfig *c, const ConfigKey *k, const char *value, const char *where, unsigned line,
                      char ***errors) {
        void *p = (char *) c + k->offset;
        switch (k->type) {
        case CONFIG_STRING: {
                char *s = isempty(value) ? NULL : strdup(value);
                if (!isempty(value) && !s)
                        return -ENOMEM;
                free(*(char **) p);
                *(char **) p = s;
                return 0;
        }
        case CONFIG_UNSIGNED: {
                unsigned u;
                if (safe_atou(value, &u) < 0 || u < k->min || u > k->max)
                        return add_error(errors, where, line, "%s.%s = '%s' must be a number from %u to %u",
                                         k->section, k->key, value, k->min, k->max);
                *(unsigned *) p = u;
                return 0;
        }
        case CONFIG_DURATION: {
                usec_t u;
                if (config_parse_duration(value, &u) < 0)
                        return add_error(errors, where, line,
                                         "%s.%s = '%s' is not a duration (PT30S, 30s, 500ms, 2min, 30d)", k->section,
                                         k->key, value);
                if (u < (usec_t) k->min * USEC_PER_SEC)
                        return add_error(errors, where, line, "%s.%s = '%s' must be at least %us", k->section,
                                         k->key, value, k->min);
                *(usec_t *) p = u;
                return 0;
        }
        case CONFIG_LOG_LEVEL: {
                int l = log_level_from_string(value);
                if (l < 0)
                        return add_error(errors, where, line,
                                         "%s.%s = '%s' is not a log level (debug, info, notice, warning, error)",
                                         k->section, k->key, value);
                *(int *) p = l;
                return 0;
        }
        }
        return -EINVAL;
}

static const ConfigKey *config_find(const char *section, const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (streq(config_keys[i].section, section) && streq(config_keys[i].key, key))
                        return &config_keys[i];
        return NULL;
}

/* [queue] kafka.PROPERTY = VALUE: librdkafka's own properties, kept as "PROPERTY=VALUE" (a later
 * setting of a property replaces the earlier one; an empty value drops it) and judged by librdkafka
 * where a client is made (lib/queue/kafka.h), since only it knows its properties. */
static int config_set_kafka(TernConfig *c, const char *property, const char *value, const char *where, unsigned line,
                            char ***errors) {
        if (isempty(property) || property[strspn(property, "abcdefghijklmnopqrstuvwxyz0123456789._-")])
                return add_error(errors, where, line, "queue.kafka.%s: '%s' is not a librdkafka property name",
                                 property, property);
        size_t n = strlen(property), i = 0;
        for (char **p = c->queue_kafka; p && *p; p++)
                if (strncmp(*p, property, n) == 0 && (*p)[n] == '=')
                        explicit_bzero(*p, strlen(*p)), free(*p);
                else
                        c->queue_kafka[i++] = *p;
        if (c->queue_kafka)
                c->queue_kafka[i] = NULL;
        if (isempty(value))
                return 0;
        char *s = strjoin(property, "=", value);
        return s ? strv_consume(&c->queue_kafka, s) : -ENOMEM;
}

/* One "section.key = value" setting, from a file, the environment or a command line. */
static int config_set_named(TernConfig *c, const char *section, const char *key, const char *value, const char *where,
                            unsigned line, char ***errors) {
        const char *property;
        if (streq(section, "queue") && (property = startswith(key, "kafka.")))
                return config_set_kafka(c, property, value, where, line, errors);
        const ConfigKey *k = config_find(section, key);
        if (!k)
                return add_error(errors, where, line, "unknown key '%s' in [%s]", key, section);
        return config_set(c, k, value, where, line, errors);
}

static int config_parse_file(TernConfig *c, const char *path, FILE *f, char ***errors) {
        char section[64] = "";
        char *line = NULL;
        size_t cap = 0;
        unsigned lineno = 0;
        int r = 0;

        while (r >= 0 && getline(&line, &cap, f) >= 0) {
                lineno++;
                char *s = strstrip(line);
                if (!*s || *s == '#' || *s == ';')
                        continue;
                if (*s == '[') {
                        char *end = strchr(s, ']');
                        if (!end || end[1] || end - s - 1 <= 0 || (size_t) (end - s - 1) >= sizeof section) {
                                r = add_error(errors, path, lineno, "malformed section header '%s'", s);
                                continue;
                        }
                        *end = 0;
                        snprintf(section, sizeof section, "%s", strstrip(s + 1));
                        bool known = false;
                        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                                known = known || streq(config_keys[i].section, section);
                        if (!known)
                                r = add_error(errors, path, lineno, "unknown section [%s]", section);
                        continue;
                }
                char *eq = strchr(s, '=');
                if (!eq) {
                        r = add_error(errors, path, lineno, "expected 'key = value', got '%s'", s);
                        continue;
                }
                *eq = 0;
                char *key = strstrip(s), *value = strstrip(eq + 1);
                if (!section[0]) {
                        r = add_error(errors, path, lineno, "'%s' outside of a [section]", key);
                        continue;
                }
                /* Quotes are optional; they keep leading or trailing blanks. */
                size_t vl = strlen(value);
                if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
                        value[vl - 1] = 0;
                        value++;
                }
                r = config_set_named(c, section, key, value, path, lineno, errors);
        }
        free(line);
        return r < 0 ? r : 0;
}

static int config_read(TernConfig *c, const char *path, bool must_exist, bool user, char ***errors) {
        _cleanup_(fclosep) FILE *f = fopen(path, "re");
        if (!f) {
                if (errno == ENOENT && !must_exist)
                        return 0;
                if (errno == EACCES && user)
                        return strv_extend(&c->skipped, path);
                return add_error(errors, path, 0, "cannot read: %s", strerror(errno));
        }
        int r = strv_extend(&c->sources, path);
        if (r < 0)
                return r;
        return config_parse_file(c, path, f, errors);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int config_read_dropins(TernConfig *c, const char *dir, bool user, char ***errors) {
        DIR *d = opendir(dir);
        if (!d && errno == EACCES && user)
                return strv_extend(&c->skipped, dir);
        if (!d)
                return errno == ENOENT || errno == ENOTDIR ? 0 : add_error(errors, dir, 0, "cannot read: %s", strerror(errno));
        _cleanup_strv_free_ char **names = NULL;
        struct dirent *de;
        int r = 0;
        while (r >= 0 && (de = readdir(d)))
                if (de->d_name[0] != '.' && endswith(de->d_name, ".conf"))
                        r = strv_extend(&names, de->d_name);
        closedir(d);
        if (r < 0)
                return r;
        if (names)
                qsort(names, strv_length(names), sizeof(char *), cmp_str);
        for (size_t i = 0; names && names[i] && r >= 0; i++) {
                _cleanup_free_ char *p = strjoin(dir, "/", names[i]);
                r = p ? config_read(c, p, true, user, errors) : -ENOMEM;
        }
        return r;
}

static int config_env(TernConfig *c, char ***errors) {
        int r = 0;
        for (size_t i = 0; i < ELEMENTSOF(config_keys) && r >= 0; i++) {
                const ConfigKey *k = &config_keys[i];
                char name[96];
                int n = snprintf(name, sizeof name, "TERN_%s_%s", k->section, k->key);
                for (int j = 0; j < n; j++)
                        name[j] = name[j] == '-' ? '_' : (char) toupper((unsigned char) name[j]);
                const char *v = getenv(name);
                if (!v && streq(name, "TERN_DATABASE_URL"))
                        v = getenv("TERN_DB");
                if (!v && streq(name, "TERN_SERVER_STATE_DIR"))
                        v = getenv("TERN_STATE_DIR");
                if (v)
                        r = config_set(c, k, v, name, 0, errors);
        }
        return r;
}

static int read_secret(const char *path, char **ret) {
        _cleanup_(fclosep) FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        char buf[4096];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        if (ferror(f))
                return -EIO;
        buf[n] = 0;
        /* One trailing newline is how editors save files; it is not part of the secret. */
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                buf[--n] = 0;
        *ret = strdup(buf);
        explicit_bzero(buf, sizeof buf);
        return *ret ? 0 : -ENOMEM;
}

static int config_secrets(TernConfig *c, char ***errors) {
        int r;
        if (c->db_password_file) {
                r = read_secret(c->db_password_file, &c->db_password);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return add_error(errors, c->db_password_file, 0, "database.password-file: cannot read: %s",
                                         strerror(-r));
                return 0;
        }
        const char *creds = getenv("CREDENTIALS_DIRECTORY");
        if (isempty(creds))
                return 0;
        _cleanup_free_ char *p = strjoin(creds, "/db-password");
        if (!p)
                return -ENOMEM;
        r = read_secret(p, &c->db_password);
        if (r == -ENOENT)
                return 0;
        if (r == -ENOMEM)
                return r;
        return r < 0 ? add_error(errors, p, 0, "credential db-password: cannot read: %s", strerror(-r)) : 0;
}

/* The storage URL's shape, with no request, no credential and no directory made: credentials
 * are the daemons' (systemd credentials this user may not see), a local directory theirs to make. */
static int config_check_storage(TernConfig *c, char ***errors) {
        const char *u = c->storage_url;
        if (startswith(u, "file:")) {
                const char *dir = startswith(u, "file://");
                if (!dir || dir[0] != '/' || strchr(dir, '?') || strstr(dir, "/../") || endswith(dir, "/.."))
                        return add_error(errors, "storage.url", 0,
                                         "'%s' is not file:///ABSOLUTE/DIRECTORY (file:///var/lib/tern/storage)", u);
                return 0;
        }
        /* Made-up credentials satisfy the backends' look-up: only the URL is judged. */
        StorageOptions opt = { .access_key = "check", .secret_key = "check", .account_key = "Y2hlY2s=" };
        _cleanup_storage_ Storage *s = NULL;
        _cleanup_free_ char *why = NULL;
        int r = storage_open(u, &opt, &s, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return add_error(errors, "storage.url", 0, "%s", why ? why : strerror(-r));
        return 0;
}

static int config_check(TernConfig *c, char ***errors) {
        if (c->dead_after <= c->heartbeat)
                return add_error(errors, "liveness", 0,
                                 "dead-after must be longer than heartbeat (a live daemon would be declared dead)");
        if (c->db_url && !startswith(c->db_url, "sqlite:") && !startswith(c->db_url, "postgres") &&
            !startswith(c->db_url, "mysql://") && !startswith(c->db_url, "mariadb://") && !strchr(c->db_url, '='))
                return add_error(errors, "database.url", 0,
                                 "'%s' is neither sqlite:PATH, postgresql://..., mysql://... nor a conninfo string",
                                 c->db_url);
        /* The shape of each address (the webserver resolves them when it starts). */
        _cleanup_strv_free_ char **addrs = NULL;
        if (c->webserver_listen && strv_split(c->webserver_listen, ", \t", &addrs) < 0)
                return -ENOMEM;
        for (char **one = addrs; one && *one; one++) {
                const char *colon = strrchr(*one, ':'), *bracket = strrchr(*one, ']');
                unsigned port;
                if (!colon || ((*one)[0] == '[' && bracket != colon - 1) || safe_atou(colon + 1, &port) < 0 ||
                    port > 65535)
                        return add_error(errors, "webserver.listen", 0, "'%s' is not HOST:PORT or [IPV6]:PORT", *one);
        }
        if (c->queue_type && !streq(c->queue_type, "database") && !streq(c->queue_type, "kafka"))
                return add_error(errors, "queue.type", 0, "'%s' is neither database nor kafka", c->queue_type);
        if (c->queue_type && streq(c->queue_type, "kafka") && !c->queue_brokers)
                return add_error(errors, "queue.brokers", 0,
                                 "is required with queue.type = kafka (HOST:PORT[,HOST:PORT...])");
        if (c->db_url && strstr(c->db_url, "password="))
                return add_error(errors, "database.url", 0,
                                 "must not carry the password: use database.password-file or the db-password credential");
        return config_check_storage(c, errors);
}

/* "section.key=value" settings of a front end (where: how its messages name them). */
static int config_assignments(TernConfig *c, char **list, const char *where, char ***errors) {
        int r = 0;
        for (char **a = list; a && *a && r >= 0; a++) {
                const char *dot = strchr(*a, '.'), *eq = dot ? strchr(dot, '=') : NULL;
                if (!eq) {
                        r = add_error(errors, where, 0, "'%s' is not section.key=value", *a);
                        continue;
                }
                _cleanup_free_ char *section = strndup(*a, (size_t) (dot - *a)),
                                    *key = strndup(dot + 1, (size_t) (eq - dot - 1));
                if (!section || !key)
                        return -ENOMEM;
                r = config_find(section, key) || (streq(section, "queue") && startswith(key, "kafka."))
                            ? config_set_named(c, section, key, eq + 1, where, 0, errors)
                            : add_error(errors, where, 0, "unknown setting %s.%s", section, key);
        }
        return r;
}

/* file://<state-dir>/storage, the state directory made absolute (a URL has no relative path). */
static int config_default_storage(TernConfig *c) {
        _cleanup_free_ char *cwd = NULL;
        if (c->state_dir[0] != '/' && !(cwd = getcwd(NULL, 0)))
                return -errno;
        c->storage_url = cwd ? strjoin("file://", cwd, "/", c->state_dir, "/storage")
                             : strjoin("file://", c->state_dir, "/storage");
        return c->storage_url ? 0 : -ENOMEM;
}

int config_load(const char *path, TernConfig *ret, char ***ret_errors) {
        return config_load_from(&(ConfigSource) { .path = path }, ret, ret_errors);
}

int config_load_from(const ConfigSource *src, TernConfig *ret, char ***ret_errors) {
        _cleanup_strv_free_ char **errors = NULL;
        const char *path = src ? src->path : NULL;
        TernConfig c;
        int r;

        config_defaults(&c);
        bool explicit = path || getenv("TERN_CONFIG"), user = src && src->command && !explicit;
        if (!path)
                path = getenv("TERN_CONFIG") ?: CONFIG_DEFAULT_PATH;
        _cleanup_free_ char *dropins = strjoin(path, ".d");
        if (!dropins)
                return -ENOMEM;
        r = config_assignments(&c, src ? src->defaults : NULL, "defaults", &errors);
        if (r >= 0)
                r = config_read(&c, path, explicit, user, &errors);
        if (r >= 0)
                r = config_read_dropins(&c, dropins, user, &errors);
        if (r >= 0)
                r = config_env(&c, &errors);
        if (r >= 0)
                r = config_assignments(&c, src ? src->overrides : NULL, "command line", &errors);
        /* Under systemd the directories it made for the unit are the defaults. */
        const char *sd;
        if (r >= 0 && !c.state_dir && (sd = getenv("STATE_DIRECTORY")) && !(c.state_dir = strndup(sd, strcspn(sd, ":"))))
                r = -ENOMEM;
        if (r >= 0 && !c.runtime_dir && (sd = getenv("RUNTIME_DIRECTORY")) &&
            !(c.runtime_dir = strndup(sd, strcspn(sd, ":"))))
                r = -ENOMEM;
        if (r >= 0 && !c.state_dir && !(c.state_dir = strdup("/var/lib/tern")))
                r = -ENOMEM;
        if (r >= 0 && !c.runtime_dir && src && src->command && !(c.runtime_dir = strjoin(c.state_dir, "/run")))
                r = -ENOMEM;
        if (r >= 0 && !c.runtime_dir && !(c.runtime_dir = strdup("/run/tern")))
                r = -ENOMEM;
        /* One host on its own keeps its files where it always did. */
        if (r >= 0 && !c.storage_url)
                r = config_default_storage(&c);
        if (r >= 0 && !errors)
                r = config_secrets(&c, &errors);
        if (r >= 0 && !errors)
                r = config_check(&c, &errors);
        if (r >= 0 && errors)
                r = -EINVAL;
        if (r < 0) {
                config_done(&c);
                if (ret_errors)
                        *ret_errors = TAKE_PTR(errors);
                config_defaults(ret);
                return r;
        }
        *ret = c;
        if (ret_errors)
                *ret_errors = NULL;
        return 0;
}

static int append_escaped_uri(StrBuf *sb, const char *s) {
        for (; *s; s++) {
                unsigned char ch = (unsigned char) *s;
                if (isalnum(ch) || strchr("-._~", ch))
                        strbuf_append_char(sb, (char) ch);
                else
                        strbuf_appendf(sb, "%%%02X", ch);
        }
        return sb->error;
}

int config_db_url(const TernConfig *c, char **ret) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        if (!c->db_url) {
                strbuf_appendf(&sb, "sqlite://%s/tern.db", c->state_dir);
        } else {
                strbuf_append(&sb, c->db_url);
                /* URLs take it as an option (libpq's and the MySQL driver's "password="). */
                if (c->db_password && (startswith(c->db_url, "postgres") || startswith(c->db_url, "mysql://") ||
                                       startswith(c->db_url, "mariadb://"))) {
                        strbuf_append(&sb, strchr(c->db_url, '?') ? "&password=" : "?password=");
                        append_escaped_uri(&sb, c->db_password);
                } else if (c->db_password && !startswith(c->db_url, "sqlite:")) {
                        strbuf_append(&sb, " password='");
                        for (const char *p = c->db_password; *p; p++) {
                                if (*p == '\'' || *p == '\\')
                                        strbuf_append_char(&sb, '\\');
                                strbuf_append_char(&sb, *p);
                        }
                        strbuf_append_char(&sb, '\'');
                }
        }
        char *s = strbuf_steal(&sb);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static void dump_value(const TernConfig *c, const ConfigKey *k, FILE *f) {
        const void *p = (const char *) c + k->offset;
        char buf[DURATION_MAX];
        switch (k->type) {
        case CONFIG_STRING:
                fprintf(f, "%s\n", strempty(*(char *const *) p));
                break;
        case CONFIG_UNSIGNED:
                fprintf(f, "%u\n", *(const unsigned *) p);
                break;
        case CONFIG_DURATION:
                fprintf(f, "%s\n", duration_format(buf, (susec_t) * (const usec_t *) p));
                break;
        case CONFIG_LOG_LEVEL:
                fprintf(f, "%s\n", strna(log_level_to_string(*(const int *) p)));
                break;
        }
}

bool config_queue_is_kafka(const TernConfig *c) {
        return c->queue_type && streq(c->queue_type, "kafka");
}

const char *config_queue_unsupported(const TernConfig *c, const char *component) {
        if (!config_queue_is_kafka(c))
                /* On the database queue the executor writes executions in its own step: nothing to index. */
                return streq(component, "indexer")
                               ? "[queue] type = database: the indexer serves the Kafka queue backend only (the "
                                 "executor writes executions to the database itself); run it with [queue] type = kafka"
                               : NULL;
        /* (The webserver's writes go to Kafka; what it cannot do there it refuses per route.) */
        if (streq(component, "executor") || streq(component, "worker") || streq(component, "indexer") ||
            streq(component, "scheduler") || streq(component, "webserver"))
                return NULL;
        return "[queue] type = kafka: only the executor, the worker, the scheduler, the indexer and the webserver run on "
               "Kafka yet (docs/KAFKA.md); use [queue] type = database here";
}

/* librdkafka's properties, those that may be secrets replaced by "(set)". */
static void config_dump_kafka(const TernConfig *c, FILE *f) {
        for (char **p = c->queue_kafka; p && *p; p++) {
                size_t n = strcspn(*p, "=");
                _cleanup_free_ char *name = strndup(*p, n);
                if (!name)
                        continue;
                bool secret = strstr(name, "password") || strstr(name, "secret") || strstr(name, ".key") ||
                              strstr(name, "jaas") || strstr(name, "token");
                fprintf(f, "kafka.%s = %s\n", name, secret ? "(set)" : *p + n + 1);
        }
}

void config_dump(const TernConfig *c, FILE *f) {
        const char *section = "";
        for (size_t i = 0; c->sources && c->sources[i]; i++)
                fprintf(f, "# read %s\n", c->sources[i]);
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
                const ConfigKey *k = &config_keys[i];
                if (!streq(section, k->section)) {
                        fprintf(f, "%s[%s]\n", i ? "\n" : "", k->section);
                        section = k->section;
                }
                fprintf(f, "%s = ", k->key);
                dump_value(c, k, f);
                if (i + 1 < ELEMENTSOF(config_keys) && streq(k->section, "queue") &&
                    !streq(config_keys[i + 1].section, "queue"))
                        config_dump_kafka(c, f);
                if (streq(k->section, "database") && streq(k->key, "password-file"))
                        fprintf(f, "# password: %s\n", c->db_password ? "(set)" : "(none)");
        }
}

char *config_restart_needed(const TernConfig *old, const TernConfig *new) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        strbuf_append(&sb, "");
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
                const ConfigKey *k = &config_keys[i];
                if (!k->restart)
                        continue;
                const void *a = (const char *) old + k->offset, *b = (const char *) new + k->offset;
                bool same;
                switch (k->type) {
                case CONFIG_STRING:
                        same = streq_ptr(*(char *const *) a, *(char *const *) b);
                        break;
                case CONFIG_UNSIGNED:
                        same = *(const unsigned *) a == *(const unsigned *) b;
                        break;
                case CONFIG_DURATION:
                        same = *(const usec_t *) a == *(const usec_t *) b;
                        break;
                default:
                        same = *(const int *) a == *(const int *) b;
                        break;
                }
                if (!same)
                        strbuf_appendf(&sb, "%s%s.%s", sb.len ? ", " : "", k->section, k->key);
        }
        bool same = strv_length(old->queue_kafka) == strv_length(new->queue_kafka);
        for (size_t i = 0; same && old->queue_kafka && old->queue_kafka[i]; i++)
                same = streq(old->queue_kafka[i], new->queue_kafka[i]);
        if (!same)
                strbuf_appendf(&sb, "%squeue.kafka.*", sb.len ? ", " : "");
        if (!streq_ptr(old->db_password, new->db_password))
                strbuf_appendf(&sb, "%sdatabase password", sb.len ? ", " : "");
        return strbuf_steal(&sb);
}
