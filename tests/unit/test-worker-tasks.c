/* test-worker-tasks: the runnable tasks as a worker runs them: logs, outputs, failures, shell
 * announcements, files in and out, environment, timeouts and kills. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <sys/stat.h>

#include "cleanup-jansson.h"
#include "strbuf.h"
#include "strutil.h"
#include "tap.h"
#include "task-impl.h"
#include "tasks/script.h"

typedef struct Harness {
        TaskRunContext ctx;
        StrBuf logs;
        char dir[64];
        int stored;
        char last_stored[64]; /* the start of the last file kept */
        ssize_t last_stored_size;
} Harness;

static void on_log(TaskRunContext *ctx, TaskLogLevel level, const char *message) {
        Harness *h = ctx->userdata;
        strbuf_appendf(&h->logs, "%s:%s|", task_log_level_to_string(level), message);
}

static int on_store(TaskRunContext *ctx, const char *name, int fd, char **ret_uri) {
        Harness *h = ctx->userdata;
        char buf[64] = "";
        ssize_t n = read(fd, buf, sizeof buf - 1);
        h->last_stored_size = n;
        snprintf(h->last_stored, sizeof h->last_stored, "%s", n > 0 ? buf : "");
        h->stored++;
        *ret_uri = strjoin("stored:", name);
        return 0;
}

static char *slurp(const char *path) {
        FILE *f = fopen(path, "re");
        char buf[256];
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
                fclose(f);
        return f ? strndup(buf, n) : NULL;
}

static char *const base_env[] = { (char *) "PATH=/usr/bin:/bin", NULL };

static void harness_init(Harness *h) {
        *h = (Harness) {};
        strcpy(h->dir, "/tmp/tern-test-tasks-XXXXXX");
        mkdtemp(h->dir);
        h->ctx = (TaskRunContext) {
                .execution_id = "exec1", .task_run_id = "tr1", .task_id = "t", .namespace = "ns", .flow_id = "f",
                .attempt = 2, .working_dir = h->dir, .cancel_fd = -1, .base_env = base_env,
                .log = on_log, .store_file = on_store, .userdata = h,
        };
}

static void harness_done(Harness *h) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", h->dir);
        (void) !system(cmd);
        strbuf_done(&h->logs);
}

static int run(Harness *h, const char *type, const char *props_json, TaskOutcome *out);

/* A task's code controls its working directory: links, FIFOs, hard links and directories it plants
 * there must never make the worker read or write anything outside (the task runs unsandboxed here,
 * as the worker's own user, as with --sandbox off). */
static void escapes(Harness *h) {
        char outside[64] = "/tmp/tern-test-outside-XXXXXX", props[1024], pwned[128];
        TaskOutcome o;
        char cmd[256];
        if (!mkdtemp(outside))
                return;
        snprintf(cmd, sizeof cmd, "rm -rf '%s'/*", h->dir); /* what earlier tests left */
        (void) !system(cmd);
        snprintf(props, sizeof props, "{\"commands\": [\"echo host-secret > %s/secret\", "
                 "\"ln -s %s d\", \"mkdir -p a && ln -s %s a/b\", \"ln -s %s/secret link.txt\", \"mkfifo fifo\", "
                 "\"mkdir dir\", \"ln %s/secret hard\", \"echo mine > mine.txt\"]}",
                 outside, outside, outside, outside, outside);
        run(h, "shell.Commands", props, &o);
        ok(o.state == STATE_SUCCESS, "the task plants its links");
        task_outcome_done(&o);

        static const struct {
                const char *pattern, *why, *name;
        } refused[] = {
                { "d/secret", "symbolic link", "a linked parent" },
                { "a/b/secret", "symbolic link", "a linked parent two levels up" },
                { "link.txt", "symbolic link", "a link to a file outside" },
                { "fifo", "not a regular file", "a FIFO (without blocking)" },
                { "dir", "is a directory", "a directory" },
                { "hard", "hard links", "a hard link to a file outside" },
                { "d/*", "symbolic link", "a wildcard below a linked directory" },
        };
        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                int before = h->stored;
                snprintf(props, sizeof props, "{\"commands\": [\"true\"], \"outputFiles\": [\"%s\"]}", refused[i].pattern);
                run(h, "shell.Commands", props, &o);
                ok(o.state == STATE_FAILED && o.error && strstr(o.error, refused[i].pattern) &&
                           strstr(o.error, refused[i].why) && h->stored == before,
                   "outputFiles '%s' (%s) fails the task, naming it: %s", refused[i].pattern, refused[i].name,
                   strna(o.error));
                task_outcome_done(&o);
        }
        int before = h->stored;
        run(h, "shell.Commands", "{\"commands\": [\"true\"], \"outputFiles\": [\"*\"]}", &o);
        ok(o.state == STATE_SUCCESS && h->stored == before + 1 && json_object_size(json_object_get(o.outputs, "outputFiles")) == 1 &&
                   streq(h->last_stored, "mine\n"),
           "a wildcard keeps only the task's own regular files (%d kept)", h->stored - before);
        ok(strstr(strbuf_str(&h->logs), "WARN:Output file 'link.txt' is not kept") &&
                   strstr(strbuf_str(&h->logs), "WARN:Output file 'hard' is not kept"),
           "and says which it left out: %s", strbuf_str(&h->logs));
        task_outcome_done(&o);

        /* A name that cannot be part of a kestra:/// URI: refused when named, skipped by a wildcard. */
        run(h, "shell.Commands", "{\"commands\": [\"printf x > 'b\\\\\\\\s.bin'\"], \"outputFiles\": [\"*.bin\"]}", &o);
        ok(o.state == STATE_SUCCESS && json_object_size(json_object_get(o.outputs, "outputFiles")) == 0 &&
                   strstr(strbuf_str(&h->logs), "has a control character or a backslash"),
           "a wildcard skips a name with a backslash, saying so");
        task_outcome_done(&o);
        run(h, "shell.Commands", "{\"commands\": [\"printf x > \\\"$(printf 'a\\\\tb')\\\"\"], \"outputFiles\": [\"a\\tb\"]}", &o);
        ok(o.state == STATE_FAILED && o.error && strstr(o.error, "has a control character or a backslash"),
           "naming it fails the task: %s", strna(o.error));
        task_outcome_done(&o);

        run(h, "shell.Commands", "{\"commands\": [\"true\"], \"inputFiles\": {\"d/pwned.txt\": \"x\"}}", &o);
        snprintf(pwned, sizeof pwned, "%s/pwned.txt", outside);
        ok(o.state == STATE_FAILED && strstr(o.error, "'d/pwned.txt'") && access(pwned, F_OK) < 0,
           "inputFiles through a planted link fail, and nothing is written outside: %s", strna(o.error));
        task_outcome_done(&o);
        run(h, "shell.Commands", "{\"commands\": [\"cat link.txt\"], \"inputFiles\": {\"link.txt\": \"replaced\"}}", &o);
        _cleanup_free_ char *secret = NULL;
        snprintf(pwned, sizeof pwned, "%s/secret", outside);
        secret = slurp(pwned);
        ok(o.state == STATE_SUCCESS && streq_ptr(secret, "host-secret\n"),
           "an input file replaces a link of its name instead of writing through it");
        task_outcome_done(&o);

        snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'/* ", outside, h->dir);
        (void) !system(cmd);
}

static int run(Harness *h, const char *type, const char *props_json, TaskOutcome *out) {
        _cleanup_json_ json_t *props = json_loads(props_json, 0, NULL);
        *out = (TaskOutcome) {};
        strbuf_truncate(&h->logs, 0);
        const TaskImpl *impl = task_impl_lookup(type);
        if (!props || !impl)
                return -EINVAL;
        h->ctx.task_type = type;
        return impl->run(&h->ctx, props, out);
}

static const char *out_str(TaskOutcome *o, const char *path1, const char *path2) {
        json_t *v = json_object_get(o->outputs, path1);
        if (path2)
                v = json_object_get(v, path2);
        return json_string_value(v);
}

/* A small HTTP/1.1 server on loopback for the HTTP tasks: /ok, /missing, /echo, /empty. */
static int http_fd = -1;
static int http_port;

static void *http_serve(void *arg) {
        for (;;) {
                int c = accept4(http_fd, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0)
                        return NULL;
                char req[8192];
                size_t n = 0;
                ssize_t k;
                char *end = NULL;
                while (n < sizeof req - 1 && (k = read(c, req + n, sizeof req - 1 - n)) > 0) {
                        n += (size_t) k;
                        req[n] = 0;
                        if ((end = strstr(req, "\r\n\r\n"))) {
                                const char *cl = strcasestr(req, "Content-Length:");
                                size_t want = cl ? (size_t) atol(cl + 15) : 0;
                                if (n - (size_t) (end + 4 - req) >= want)
                                        break;
                        }
                }
                char method[16] = "", path[256] = "";
                sscanf(req, "%15s %255s", method, path);
                const char *body = end ? end + 4 : "";
                char resp[9000];
                if (streq(path, "/ok"))
                        snprintf(resp, sizeof resp,
                                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Test: yes\r\nContent-Length: 11\r\n"
                                 "Connection: close\r\n\r\n{\"a\": true}");
                else if (streq(path, "/echo"))
                        snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s %s",
                                 strlen(method) + 1 + strlen(body), method, body);
                else if (streq(path, "/empty"))
                        snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                else
                        snprintf(resp, sizeof resp, "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope");
                (void) !write(c, resp, strlen(resp));
                close(c);
        }
}

static void http_start(void) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof a;
        pthread_t t;
        http_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bind(http_fd, (struct sockaddr *) &a, sizeof a);
        listen(http_fd, 16);
        getsockname(http_fd, (struct sockaddr *) &a, &l);
        http_port = ntohs(a.sin_port);
        pthread_create(&t, NULL, http_serve, NULL);
        pthread_detach(t);
}

static bool program_exists(const char *name) {
        char path[64];
        snprintf(path, sizeof path, "/usr/bin/%s", name);
        return access(path, X_OK) == 0;
}

static const char *log_of(Harness *h) {
        return strbuf_str(&h->logs);
}

static usec_t thread_cpu_now(void) {
        struct timespec ts;
        if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
                return 0;
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

/* Announces 200 distinct metrics on each of n lines; returns how many were kept, and the CPU time
 * the parsing took in *ret_cpu. */
static size_t flood_metrics(Harness *h, int n, usec_t *ret_cpu) {
        Announcements ann;
        StrBuf line = STRBUF_INIT;
        if (announcements_init(&ann) < 0)
                return 0;
        usec_t t0 = thread_cpu_now();
        for (int l = 0; l < n; l++) {
                strbuf_truncate(&line, 0);
                strbuf_append(&line, "::{\"metrics\":[");
                for (int k = 0; k < 200; k++)
                        strbuf_appendf(&line, "%s{\"name\":\"m%d\",\"type\":\"counter\",\"value\":1,\"tags\":{\"k\":%d}}",
                                       k ? "," : "", l, k);
                strbuf_append(&line, "]}::");
                (void) announcement_parse(&ann, &h->ctx, strbuf_str(&line), line.len);
        }
        *ret_cpu = thread_cpu_now() - t0;
        size_t kept = json_array_size(ann.metrics);
        strbuf_done(&line);
        announcements_done(&ann);
        return kept;
}

/* Kestra's output protocol as its libraries print it, and the script tasks of other languages. */
static void script_tasks(Harness *h) {
        TaskOutcome o;

        /* "logs" entries become log lines of their level; an announcement on stderr counts too (as
         * Kestra reads both streams) and, as any stderr line, makes the task WARNING. */
        run(h, "shell.Commands",
            "{\"commands\": [\"echo '::{\\\"logs\\\":[{\\\"level\\\":\\\"DEBUG\\\",\\\"message\\\":\\\"dbg\\\"},"
            "{\\\"level\\\":\\\"INFO\\\",\\\"message\\\":\\\"hello\\\"}]}::'\", "
            "\"echo '::{\\\"logs\\\":[{\\\"level\\\":\\\"WARN\\\",\\\"message\\\":\\\"careful\\\"},"
            "{\\\"level\\\":\\\"ERROR\\\",\\\"message\\\":{\\\"code\\\":7}}]}::' >&2\"]}",
            &o);
        is_str(log_of(h), "DEBUG:dbg|INFO:hello|WARN:careful|ERROR:{\"code\":7}|",
               "::{\"logs\"}:: entries become log lines of their level (a message that is no string as JSON)");
        is_int(o.state, STATE_WARNING, "an announcement on stderr counts as stderr output (warningOnStdErr)");
        task_outcome_done(&o);
        run(h, "shell.Commands", "{\"commands\": [\"echo err >&2\"], \"warningOnStdErr\": false}", &o);
        is_int(o.state, STATE_SUCCESS, "warningOnStdErr: false keeps SUCCESS whatever is on stderr");
        task_outcome_done(&o);

        /* Metrics: one per type, name and tags; counters and timers add up, a gauge keeps its last
         * value; timers (seconds, or an ISO-8601 duration) in milliseconds, as Kestra stores them. */
        run(h, "shell.Commands",
            "{\"commands\": [\"m() { echo \\\"::{\\\\\\\"metrics\\\\\\\":[$1]}::\\\"; }\", "
            "\"m '{\\\"name\\\":\\\"rows\\\",\\\"type\\\":\\\"counter\\\",\\\"value\\\":2,\\\"tags\\\":{\\\"db\\\":\\\"a\\\"}}'\", "
            "\"m '{\\\"name\\\":\\\"rows\\\",\\\"type\\\":\\\"counter\\\",\\\"value\\\":3,\\\"tags\\\":{\\\"db\\\":\\\"a\\\"}}'\", "
            "\"m '{\\\"name\\\":\\\"rows\\\",\\\"type\\\":\\\"counter\\\",\\\"value\\\":\\\"10\\\",\\\"tags\\\":{\\\"db\\\":\\\"b\\\"}}'\", "
            "\"m '{\\\"name\\\":\\\"took\\\",\\\"type\\\":\\\"timer\\\",\\\"value\\\":1.5}'\", "
            "\"m '{\\\"name\\\":\\\"took\\\",\\\"type\\\":\\\"timer\\\",\\\"value\\\":\\\"PT2S\\\"}'\", "
            "\"m '{\\\"name\\\":\\\"level\\\",\\\"type\\\":\\\"gauge\\\",\\\"value\\\":7,\\\"tags\\\":{\\\"n\\\":1}}'\", "
            "\"m '{\\\"name\\\":\\\"level\\\",\\\"type\\\":\\\"gauge\\\",\\\"value\\\":4.25,\\\"tags\\\":{\\\"n\\\":\\\"1\\\"}}'\", "
            "\"m '{\\\"name\\\":\\\"odd\\\",\\\"type\\\":\\\"histogram\\\",\\\"value\\\":1}'\", "
            "\"echo '::{\\\"assets\\\":{\\\"inputs\\\":[]}}::'\", \"echo '::{\\\"assets\\\":{}}::'\"]}",
            &o);
        is_int(o.state, STATE_SUCCESS, "a task reporting metrics succeeds");
        StrBuf got = STRBUF_INIT;
        size_t i;
        json_t *m;
        json_array_foreach(o.metrics, i, m) {
                _cleanup_free_ char *tags = json_dumps(json_object_get(m, "tags"), JSON_COMPACT | JSON_SORT_KEYS);
                strbuf_appendf(&got, "%s %s=%g %s|", json_string_value(json_object_get(m, "type")),
                               json_string_value(json_object_get(m, "name")), json_real_value(json_object_get(m, "value")),
                               tags);
        }
        is_str(strbuf_str(&got),
               "counter rows=5 {\"db\":\"a\"}|counter rows=10 {\"db\":\"b\"}|timer took=3500 {}|gauge level=4.25 {\"n\":\"1\"}|",
               "metrics merged per type, name and tags, timers in milliseconds");
        strbuf_done(&got);
        ok(strstr(log_of(h), "WARN:Metric dropped, its type is not counter, timer or gauge") != NULL,
           "a metric of an unknown type is dropped with a WARN line: %s", log_of(h));
        ok(strstr(log_of(h), "WARN:The task announced assets") != NULL &&
                   strstr(strstr(log_of(h), "announced assets") + 1, "announced assets") == NULL,
           "assets are dropped, said once");
        ok(json_integer_value(json_object_get(json_array_get(o.metrics, 0), "timestamp")) > 0, "a metric has a timestamp");
        task_outcome_done(&o);

        /* A metric's name is a column of 255 characters (MySQL's strict mode would refuse a longer
         * one, and with it the task run's whole result): one past that is dropped, saying why. */
        run(h, "shell.Commands",
            "{\"commands\": [\"n=$(head -c 255 /dev/zero | tr '\\\\0' a)\", "
            "\"printf '::{\\\"metrics\\\":[{\\\"name\\\":\\\"%s\\\",\\\"type\\\":\\\"counter\\\",\\\"value\\\":1},"
            "{\\\"name\\\":\\\"%sx\\\",\\\"type\\\":\\\"counter\\\",\\\"value\\\":1}]}::\\\\n' $n $n\"]}",
            &o);
        ok(o.state == STATE_SUCCESS && json_array_size(o.metrics) == 1 &&
                   json_string_length(json_object_get(json_array_get(o.metrics, 0), "name")) == 255,
           "a metric named with 255 characters is kept (%zu kept)", json_array_size(o.metrics));
        ok(strstr(log_of(h), "WARN:Metric dropped, its name is longer than 255 characters") != NULL,
           "a longer name is dropped with a WARN line: %.300s", log_of(h));
        task_outcome_done(&o);

        /* A flood of distinct metrics costs the worker time in proportion to it, not to its square:
         * 40,000 of them in 200 lines cost about 4 times what 10,000 in 50 lines cost (a quadratic
         * cost would be 16 times). CPU time of this thread, both in this run: the machine's load
         * does not move the ratio. */
        usec_t cpu_10k = 0, cpu_40k = 0;
        size_t kept_10k = flood_metrics(h, 50, &cpu_10k), kept_40k = flood_metrics(h, 200, &cpu_40k);
        is_int((int) kept_10k, 10000, "10,000 distinct metrics are kept");
        is_int((int) kept_40k, 40000, "40,000 distinct metrics are kept");
        ok(cpu_40k < 8 * cpu_10k + 200 * USEC_PER_MSEC, "... in %.2f s of CPU, %.2f s for 10,000 (ratio %.1f, linear 4)",
           (double) cpu_40k / USEC_PER_SEC, (double) cpu_10k / USEC_PER_SEC,
           cpu_10k ? (double) cpu_40k / (double) cpu_10k : 0.0);

        /* No container runs here: an image asked for is said in a WARN line, or refused. */
        run(h, "shell.Commands", "{\"commands\": [\"echo hi\"], \"containerImage\": \"ubuntu:24.04\"}", &o);
        ok(o.state == STATE_SUCCESS && strstr(log_of(h), "WARN:Container image 'ubuntu:24.04' is not used") &&
                   strstr(log_of(h), "require-image"),
           "containerImage: the task runs on the host, and a WARN line names the image: %s", log_of(h));
        task_outcome_done(&o);
        run(h, "shell.Commands",
            "{\"commands\": [\"echo hi\"], \"taskRunner\": {\"type\": \"io.kestra.plugin.scripts.runner.docker.Docker\"}}", &o);
        ok(o.state == STATE_SUCCESS &&
                   strstr(log_of(h), "Container image 'ubuntu' (task runner 'io.kestra.plugin.scripts.runner.docker.Docker')"),
           "a Docker task runner without an image names Kestra's default image: %s", log_of(h));
        task_outcome_done(&o);
        run(h, "shell.Commands",
            "{\"commands\": [\"echo hi\"], \"containerImage\": \"x\", \"taskRunner\": {\"type\": \"io.kestra.plugin.core.runner.Process\"}}",
            &o);
        is_str(log_of(h), "INFO:hi|", "a Process task runner runs on the host in Kestra too: nothing to say");
        task_outcome_done(&o);
        SandboxOptions sb = { .mode = SANDBOX_OFF, .require_image = true };
        char ran[128];
        snprintf(ran, sizeof ran, "%s/ran.txt", h->dir);
        h->ctx.sandbox = &sb;
        run(h, "shell.Commands", "{\"commands\": [\"echo ran > ran.txt\"], \"containerImage\": \"alpine\"}", &o);
        ok(o.state == STATE_FAILED && o.error && strstr(o.error, "container image 'alpine'") &&
                   strstr(o.error, "require-image = true") && access(ran, F_OK) < 0,
           "[sandbox] require-image: the task fails before anything runs: %s", strna(o.error));
        task_outcome_done(&o);
        h->ctx.sandbox = NULL;

        /* Languages whose interpreter is missing fail, naming it. */
        if (!program_exists("julia")) {
                run(h, "julia.Script", "{\"script\": \"println(1)\"}", &o);
                ok(o.state == STATE_FAILED && o.error &&
                           strstr(o.error, "Julia is not installed on this worker: no 'julia' on its PATH (/usr/bin:/bin)"),
                   "julia.Script without julia fails naming the interpreter: %s", strna(o.error));
                task_outcome_done(&o);
        }
        run(h, "io.kestra.plugin.scripts.r.Commands", "{\"commands\": [\"Rscript -e 1\"]}", &o);
        ok(program_exists("Rscript") ? o.state != STATE_FAILED || !strstr(strna(o.error), "not installed")
                                     : o.state == STATE_FAILED && strstr(strna(o.error), "R is not installed"),
           "r.Commands by its Kestra name: %s", strna(o.error));
        task_outcome_done(&o);

        if (!program_exists("python3"))
                diag("no python3: its script tasks are not tested");
        else {
                run(h, "io.kestra.plugin.scripts.python.Script",
                    "{\"beforeCommands\": [\"echo before\"], \"env\": {\"WHO\": \"py\"}, \"script\": "
                    "\"import os, sys, json\\nprint('hi from', os.environ['WHO'], os.environ['PYTHONUNBUFFERED'])\\n"
                    "print('::' + json.dumps({'outputs': {'n': 2, 'file': os.path.basename(sys.argv[0])}}) + '::')\\n"
                    "open('out.csv', 'w').write('a,b')\\n\", \"outputFiles\": [\"out.csv\"]}",
                    &o);
                ok(o.state == STATE_SUCCESS, "python.Script runs with the host's python3: %s", strna(o.error));
                is_str(log_of(h), "INFO:before|INFO:hi from py true|", "beforeCommands first, env and PYTHONUNBUFFERED");
                is_int(json_integer_value(json_object_get(json_object_get(o.outputs, "vars"), "n")), 2,
                       "its ::{\"outputs\"}:: line");
                is_str(out_str(&o, "vars", "file"), "tr1.py", "the script ran from a .py file in the working directory");
                is_str(out_str(&o, "outputFiles", "out.csv"), "stored:out.csv", "its outputFiles");
                task_outcome_done(&o);
                run(h, "python.Commands", "{\"commands\": [\"python -c 'print(6 * 7)'\"]}", &o);
                ok(o.state == STATE_SUCCESS && streq(log_of(h), "INFO:42|"),
                   "python.Commands: 'python' works where the host only has python3: %s %s", log_of(h), strna(o.error));
                task_outcome_done(&o);
                run(h, "python.Script", "{\"script\": \"import sys\\nprint('x', file=sys.stderr)\\nsys.exit(3)\"}", &o);
                ok(o.state == STATE_FAILED && streq_ptr(o.error, "Command failed with exit code 3"),
                   "a Python script's exit code fails the task: %s", strna(o.error));
                task_outcome_done(&o);
                run(h, "python.Script", "{\"script\": \"print(1)\", \"containerImage\": \"python:3.12-slim\"}", &o);
                ok(o.state == STATE_SUCCESS && strstr(log_of(h), "Container image 'python:3.12-slim' is not used: tern runs "
                                                                  "the task on this worker's host with its own 'python3'"),
                   "python.Script's containerImage: WARN naming the image and the host's interpreter: %s", log_of(h));
                task_outcome_done(&o);

                /* `dependencies` with an interpreter that has no pip (here python3 that does not read
                 * its site-packages, where Debian's pip is): one line saying what to install. */
                char nopip[128], wrapper[160], path_env[160], want[320];
                snprintf(nopip, sizeof nopip, "%s/nopip", h->dir);
                snprintf(wrapper, sizeof wrapper, "%s/python3", nopip);
                snprintf(path_env, sizeof path_env, "PATH=%s:/usr/bin:/bin", nopip);
                (void) mkdir(nopip, 0755);
                FILE *f = fopen(wrapper, "we");
                if (f) {
                        fputs("#!/bin/sh\nPATH=/usr/bin:/bin\nexec python3 -S \"$@\"\n", f);
                        fclose(f);
                }
                (void) chmod(wrapper, 0755);
                char *const nopip_env[] = { path_env, NULL };
                h->ctx.base_env = nopip_env;
                run(h, "python.Script", "{\"script\": \"print(1)\", \"dependencies\": [\"tinygreet\"]}", &o);
                snprintf(want, sizeof want,
                         "Cannot install the Python dependencies: '%s' has no pip (on Debian, install the package "
                         "python3-pip)",
                         wrapper);
                ok(o.state == STATE_FAILED && streq_ptr(o.error, want),
                   "python.Script's dependencies without pip: the task fails saying which package to install: %s",
                   strna(o.error));
                task_outcome_done(&o);
                h->ctx.base_env = base_env;
        }
        if (!program_exists("node"))
                diag("no node: its script tasks are not tested");
        else {
                run(h, "node.Script",
                    "{\"script\": \"console.log('::' + JSON.stringify({outputs: {sum: 1 + 2}}) + '::');"
                    " console.error('::' + JSON.stringify({logs: [{level: 'WARN', message: 'from node'}]}) + '::');\"}",
                    &o);
                ok(o.state == STATE_WARNING && json_integer_value(json_object_get(json_object_get(o.outputs, "vars"), "sum")) == 3 &&
                           streq(log_of(h), "WARN:from node|"),
                   "node.Script: outputs and a WARN log entry on stderr (WARNING, as warningOnStdErr says): %s %s",
                   log_of(h), strna(o.error));
                task_outcome_done(&o);
                run(h, "io.kestra.plugin.scripts.node.Commands", "{\"commands\": [\"node -e 'console.log(process.version)'\"]}",
                    &o);
                ok(o.state == STATE_SUCCESS && startswith(log_of(h), "INFO:v"), "node.Commands: %s", log_of(h));
                task_outcome_done(&o);
        }
}

int main(void) {
        Harness h;
        TaskOutcome o;
        setenv("SECRET_FROM_WORKER", "1", 1); /* must not reach commands */
        harness_init(&h);

        ok(run(&h, "Log", "{\"message\": \"hello\"}", &o) == 0 && o.state == STATE_SUCCESS, "Log succeeds");
        is_str(strbuf_str(&h.logs), "INFO:hello|", "Log logs at INFO by default");
        task_outcome_done(&o);
        run(&h, "Log", "{\"message\": [\"a\", \"b\"], \"level\": \"WARN\"}", &o);
        is_str(strbuf_str(&h.logs), "WARN:a|WARN:b|", "Log with a list of messages and a level");
        task_outcome_done(&o);
        run(&h, "Log", "{\"message\": \"x\", \"level\": \"LOUD\"}", &o);
        ok(o.state == STATE_FAILED && strstr(o.error, "LOUD"), "bad level fails with the value named");
        task_outcome_done(&o);

        run(&h, "Return", "{\"format\": \"value-1\"}", &o);
        is_str(out_str(&o, "value", NULL), "value-1", "Return outputs value");
        task_outcome_done(&o);
        run(&h, "Echo", "{\"format\": \"echoed\", \"level\": \"DEBUG\"}", &o);
        is_str(strbuf_str(&h.logs), "DEBUG:echoed|", "Echo logs its format");
        task_outcome_done(&o);

        run(&h, "Fail", "{}", &o);
        ok(o.state == STATE_FAILED && streq(o.error, "Task failure"), "Fail fails with Kestra's default message");
        task_outcome_done(&o);
        run(&h, "Fail", "{\"condition\": \"false\", \"errorMessage\": \"boom\"}", &o);
        is_int(o.state, STATE_SUCCESS, "Fail with a false condition succeeds");
        task_outcome_done(&o);
        run(&h, "Fail", "{\"condition\": \"true\", \"errorMessage\": \"boom\"}", &o);
        ok(o.state == STATE_FAILED && streq(o.error, "boom"), "Fail with a true condition uses errorMessage");
        task_outcome_done(&o);

        run(&h, "OutputValues", "{\"values\": {\"a\": 1, \"b\": \"two\"}}", &o);
        is_int(json_integer_value(json_object_get(json_object_get(o.outputs, "values"), "a")), 1, "OutputValues");
        task_outcome_done(&o);

        usec_t t0 = now_monotonic();
        run(&h, "Sleep", "{\"duration\": \"PT0.2S\"}", &o);
        ok(o.state == STATE_SUCCESS && now_monotonic() - t0 >= 200000, "Sleep sleeps");
        task_outcome_done(&o);
        run(&h, "Sleep", "{\"duration\": \"soon\"}", &o);
        ok(o.state == STATE_FAILED && strstr(o.error, "ISO-8601"), "Sleep rejects a bad duration");
        task_outcome_done(&o);
        /* Sleep runs in the worker's thread: its timeout is its own to keep, as a kill is. */
        h.ctx.timeout = USEC_PER_SEC;
        t0 = now_monotonic();
        h.ctx.deadline = t0 + h.ctx.timeout;
        run(&h, "Sleep", "{\"duration\": \"PT1H\"}", &o);
        ok(o.state == STATE_FAILED && o.error && strstr(o.error, "Timeout after PT1S") &&
                   now_monotonic() - t0 < 5 * USEC_PER_SEC,
           "Sleep PT1H with timeout PT1S fails at its timeout (%s)", o.error ?: "no error");
        h.ctx.timeout = h.ctx.deadline = 0;
        task_outcome_done(&o);
        int efd = eventfd(1, EFD_CLOEXEC);
        h.ctx.cancel_fd = efd;
        t0 = now_monotonic();
        run(&h, "Sleep", "{\"duration\": \"PT30S\"}", &o);
        ok(o.state == STATE_KILLED && now_monotonic() - t0 < 2 * USEC_PER_SEC, "Sleep is killed by the cancel fd");
        task_outcome_done(&o);

        run(&h, "shell.Commands", "{\"commands\": [\"echo hi\", \"sleep 30\"]}", &o);
        ok(o.state == STATE_KILLED, "Commands killed by the cancel fd");
        task_outcome_done(&o);
        h.ctx.cancel_fd = -1;
        close(efd);

        run(&h, "shell.Commands",
            "{\"commands\": [\"echo out\", \"echo err >&2\", \"echo '::{\\\"outputs\\\":{\\\"k\\\":\\\"v\\\",\\\"n\\\":2}}::'\"]}", &o);
        is_int(o.state, STATE_WARNING, "Commands succeeds, in WARNING for its line on stderr (warningOnStdErr)");
        is_str(strbuf_str(&h.logs), "INFO:out|WARN:err|", "stdout at INFO, stderr at WARN, announcements not logged");
        is_str(out_str(&o, "vars", "k"), "v", "::{\"outputs\"}:: lines become outputs.vars");
        is_int(json_integer_value(json_object_get(o.outputs, "exitCode")), 0, "exitCode output");
        task_outcome_done(&o);

        /* What ::{...}:: lines keep is bounded while the task runs: a value announced again replaces
         * the old one; past 16 MiB in all the task fails instead of the worker growing. */
        run(&h, "shell.Commands",
            "{\"commands\": [\"big=$(head -c 60000 /dev/zero | tr '\\\\0' a)\", "
            "\"for i in $(seq 1 300); do printf '::{\\\"outputs\\\":{\\\"same\\\":\\\"%s\\\",\\\"n\\\":%d}}::\\\\n' $big $i; done\"]}",
            &o);
        ok(o.state == STATE_SUCCESS && json_integer_value(json_object_get(json_object_get(o.outputs, "vars"), "n")) == 300,
           "one output announced 300 times at 60 KB keeps the last value: %s", strna(o.error));
        task_outcome_done(&o);
        run(&h, "shell.Commands",
            "{\"commands\": [\"big=$(head -c 60000 /dev/zero | tr '\\\\0' a)\", "
            "\"for i in $(seq 1 300); do printf '::{\\\"outputs\\\":{\\\"k%d\\\":\\\"%s\\\"}}::\\\\n' $i $big; done\"]}",
            &o);
        ok(o.state == STATE_FAILED && o.error && strstr(o.error, "more than 16 MiB of outputs"),
           "300 outputs of 60 KB (18 MB) fail the task: %s", strna(o.error));
        task_outcome_done(&o);

        run(&h, "shell.Commands", "{\"commands\": [\"false\", \"echo not reached\"]}", &o);
        ok(o.state == STATE_FAILED && streq(o.error, "Command failed with exit code 1"), "first failing command fails");
        ok(strstr(strbuf_str(&h.logs), "not reached") == NULL, "exitOnFailed stops at the failure");
        task_outcome_done(&o);
        run(&h, "shell.Commands", "{\"commands\": [\"false\", \"echo reached\"], \"exitOnFailed\": false}", &o);
        ok(o.state == STATE_SUCCESS && strstr(strbuf_str(&h.logs), "reached"), "exitOnFailed: false goes on");
        task_outcome_done(&o);

        run(&h, "shell.Commands",
            "{\"commands\": [\"echo $TERN_EXECUTION_ID $TERN_TASK_RUN_ID $TERN_ATTEMPT $GREETING\", \"env | grep -c SECRET_FROM_WORKER || true\"],"
            " \"env\": {\"GREETING\": \"hola\"}}",
            &o);
        is_str(strbuf_str(&h.logs), "INFO:exec1 tr1 2 hola|INFO:0|", "ids and env reach the command, the worker's env does not");
        task_outcome_done(&o);

        run(&h, "shell.Commands",
            "{\"beforeCommands\": [\"X=before\"], \"commands\": [\"cat in/data.txt\", \"echo $X\", \"echo result > out.txt\"],"
            " \"inputFiles\": {\"in/data.txt\": \"from input\\n\"}, \"outputFiles\": [\"*.txt\"]}",
            &o);
        is_str(strbuf_str(&h.logs), "INFO:from input|INFO:before|", "inputFiles written, beforeCommands run first");
        is_str(out_str(&o, "outputFiles", "out.txt"), "stored:out.txt", "outputFiles collected through storage");
        is_str(h.last_stored, "result\n", "the kept file's content is what the task wrote");
        task_outcome_done(&o);

        escapes(&h);
        script_tasks(&h);

        run(&h, "shell.Commands", "{\"commands\": [\"true\"], \"inputFiles\": {\"../escape.txt\": \"x\"}}", &o);
        ok(o.state == STATE_FAILED && strstr(o.error, "../escape.txt"), "inputFiles cannot escape the working directory");
        task_outcome_done(&o);

        h.ctx.timeout = 300 * USEC_PER_MSEC;
        run(&h, "shell.Commands", "{\"commands\": [\"sleep 30\"]}", &o);
        ok(o.state == STATE_FAILED && strstr(o.error, "Timeout after PT0.3S"), "timeout fails the task");
        h.ctx.timeout = 0;
        task_outcome_done(&o);

        run(&h, "shell.Script", "{\"script\": \"for i in 1 2; do echo line$i; done\"}", &o);
        is_str(strbuf_str(&h.logs), "INFO:line1|INFO:line2|", "Script runs a multi-line script");
        task_outcome_done(&o);
        run(&h, "shell.Commands", "{\"commands\": [\"print('py')\"], \"interpreter\": [\"/nonexistent/python\", \"-c\"]}", &o);
        ok(o.state == STATE_FAILED && strstr(o.error, "/nonexistent/python"), "missing interpreter named");
        task_outcome_done(&o);

        http_start();
        char props[512];
        snprintf(props, sizeof props, "{\"uri\": \"http://127.0.0.1:%d/ok\"}", http_port);
        run(&h, "http.Request", props, &o);
        ok(o.state == STATE_SUCCESS, "HTTP GET succeeds");
        is_int(json_integer_value(json_object_get(o.outputs, "code")), 200, "status code output");
        is_str(out_str(&o, "body", NULL), "{\"a\": true}", "body output");
        is_str(json_string_value(json_array_get(json_object_get(json_object_get(o.outputs, "headers"), "x-test"), 0)),
               "yes", "headers output (lower-cased names, lists of values)");
        task_outcome_done(&o);
        snprintf(props, sizeof props,
                 "{\"uri\": \"http://127.0.0.1:%d/echo\", \"method\": \"POST\", \"body\": {\"x\": 1}}", http_port);
        run(&h, "http.Request", props, &o);
        is_str(out_str(&o, "body", NULL), "POST {\"x\":1}", "POST with a JSON body");
        task_outcome_done(&o);
        snprintf(props, sizeof props, "{\"uri\": \"http://127.0.0.1:%d/missing\"}", http_port);
        run(&h, "http.Request", props, &o);
        ok(o.state == STATE_FAILED && strstr(o.error, "404"), "a 404 fails the task, naming the status");
        task_outcome_done(&o);
        snprintf(props, sizeof props, "{\"uri\": \"http://127.0.0.1:%d/missing\", \"allowFailed\": true}", http_port);
        run(&h, "http.Request", props, &o);
        ok(o.state == STATE_SUCCESS && json_integer_value(json_object_get(o.outputs, "code")) == 404,
           "allowFailed keeps a 404 a success with its code");
        task_outcome_done(&o);
        run(&h, "http.Request", "{\"uri\": \"file:///etc/passwd\"}", &o);
        ok(o.state == STATE_FAILED && strstr(o.error, "http://"), "only http and https URLs");
        task_outcome_done(&o);
        run(&h, "http.Request", "{\"uri\": \"http://127.0.0.1:1/\"}", &o);
        ok(o.state == STATE_FAILED && strstr(o.error, "failed"), "a refused connection fails with curl's reason");
        task_outcome_done(&o);
        snprintf(props, sizeof props, "{\"uri\": \"http://127.0.0.1:%d/ok\", \"saveAs\": \"data.json\"}", http_port);
        run(&h, "http.Download", props, &o);
        ok(o.state == STATE_SUCCESS, "Download succeeds");
        is_str(out_str(&o, "uri", NULL), "stored:data.json", "the download is kept in storage");
        is_int(json_integer_value(json_object_get(o.outputs, "length")), 11, "length output");
        task_outcome_done(&o);
        snprintf(props, sizeof props, "{\"uri\": \"http://127.0.0.1:%d/empty\"}", http_port);
        run(&h, "http.Download", props, &o);
        ok(o.state == STATE_FAILED && strstr(o.error, "empty"), "an empty download fails by default");
        task_outcome_done(&o);
        /* A link named like the download, planted by an earlier task of a WorkingDirectory. */
        char outside[64] = "/tmp/tern-test-outside-XXXXXX", victim[128], cmd[256];
        if (mkdtemp(outside)) {
                snprintf(victim, sizeof victim, "%s/victim", outside);
                snprintf(cmd, sizeof cmd, "echo untouched > %s && ln -sf %s %s/download", victim, victim, h.dir);
                (void) !system(cmd);
                snprintf(props, sizeof props, "{\"uri\": \"http://127.0.0.1:%d/ok\"}", http_port);
                run(&h, "http.Download", props, &o);
                _cleanup_free_ char *v = slurp(victim);
                ok(o.state == STATE_SUCCESS && streq_ptr(v, "untouched\n"),
                   "a Download does not write through a link planted in its place (target: %s)", strna(v));
                is_str(h.last_stored, "{\"a\": true}", "and keeps what it downloaded");
                task_outcome_done(&o);
                snprintf(cmd, sizeof cmd, "rm -rf '%s'", outside);
                (void) !system(cmd);
        }

        run(&h, "kv.Get", "{\"key\": \"k\"}", &o);
        ok(o.state == STATE_FAILED && strstr(o.error, "key-value store"), "kv tasks say they need the store");
        task_outcome_done(&o);

        ok(task_impl_lookup("Nope") == NULL, "unknown type has no implementation");
        harness_done(&h);
        return tap_done();
}
