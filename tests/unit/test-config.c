/* test-config.c: tern.conf parsing: defaults, drop-in order, environment overrides, errors with
 * file and line, secrets from files and credentials, the database URL with the password, the
 * storage URL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "strutil.h"
#include "tap.h"

static char dir[] = "/tmp/tern-config-test.XXXXXX";

static void put(const char *name, const char *text) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, name);
        FILE *f = fopen(p, "we");
        fputs(text, f);
        fclose(f);
}

static char *path(const char *name) {
        return strjoin(dir, "/", name);
}

int main(void) {
        TernConfig c;
        char **errors = NULL;
        if (!mkdtemp(dir))
                return 1;
        unsetenv("TERN_CONFIG");
        unsetenv("TERN_DB");
        unsetenv("CREDENTIALS_DIRECTORY");
        unsetenv("STATE_DIRECTORY");
        unsetenv("RUNTIME_DIRECTORY");
        unsetenv("TERN_STATE_DIR");
        unsetenv("TERN_WORKER_SLOTS");
        unsetenv("TERN_LOG_LEVEL");

        _cleanup_free_ char *missing = path("missing.conf");
        ok(config_load(missing, &c, &errors) == -EINVAL && errors && strstr(errors[0], "cannot read"),
           "an explicitly named file that does not exist is an error");
        errors = strv_free(errors);

        put("a.conf", "# comment\n[worker]\nslots = 3\nlease = PT10S\nlog-lines = 500\n[liveness]\nheartbeat = 2s\n");
        _cleanup_free_ char *dropins = path("a.conf.d");
        mkdir(dropins, 0755);
        put("a.conf.d/20-late.conf", "[worker]\nslots = 7\n");
        put("a.conf.d/10-early.conf", "[worker]\nslots = 5\nqueue = gpu\n");
        put("a.conf.d/ignored.txt", "[worker]\nslots = 99\n");
        _cleanup_free_ char *a = path("a.conf");
        ok(config_load(a, &c, &errors) == 0 && !errors, "a valid file with drop-ins loads");
        ok(c.worker_slots == 7, "drop-ins apply in name order after the main file (slots %u)", c.worker_slots);
        ok(streq_ptr(c.worker_queue, "gpu") && c.worker_lease == 10 * USEC_PER_SEC && c.heartbeat == 2 * USEC_PER_SEC,
           "keys from every file are merged");
        ok(c.worker_log_lines == 500 && c.worker_log_bytes == 10 * 1024 * 1024, "the task log limits are read (%u lines, %u bytes)",
           c.worker_log_lines, c.worker_log_bytes);
        ok(c.dead_after == 30 * USEC_PER_SEC && c.executor_batch == 32 && streq(c.state_dir, "/var/lib/tern"),
           "defaults fill the rest");
        ok(c.sources && strv_length(c.sources) == 3, "the files read are listed");
        config_done(&c);

        setenv("TERN_WORKER_SLOTS", "9", 1);
        setenv("TERN_DB", "postgresql://tern@db/tern", 1);
        ok(config_load(a, &c, NULL) == 0 && c.worker_slots == 9 && streq_ptr(c.db_url, "postgresql://tern@db/tern"),
           "environment overrides win over files; TERN_DB sets the database");
        config_done(&c);
        unsetenv("TERN_WORKER_SLOTS");
        unsetenv("TERN_DB");

        put("bad.conf", "[worker]\nslots = zero\n[nope]\nkey\n[log]\nlevel = loud\n[liveness]\nheartbeat = soon\n");
        _cleanup_free_ char *bad = path("bad.conf");
        ok(config_load(bad, &c, &errors) == -EINVAL, "an invalid file is refused");
        _cleanup_free_ char *all = strv_join(errors, "\n");
        ok(all && strstr(all, "bad.conf:2: worker.slots = 'zero'") && strstr(all, "bad.conf:3: unknown section [nope]") &&
                   strstr(all, "bad.conf:4: expected 'key = value'") && strstr(all, "bad.conf:6: log.level") &&
                   strstr(all, "bad.conf:8: liveness.heartbeat"),
           "every problem is named with file and line");
        errors = strv_free(errors);

        put("dead.conf", "[liveness]\nheartbeat = 10s\ndead-after = 5s\n");
        _cleanup_free_ char *dead = path("dead.conf");
        ok(config_load(dead, &c, NULL) == -EINVAL, "dead-after shorter than the heartbeat is refused");

        put("pw", "s3cr3t&x'y\n");
        put("pw.conf", "[database]\nurl = postgresql://tern@db/tern?sslmode=require\n");
        _cleanup_free_ char *pwc = path("pw.conf");
        setenv("CREDENTIALS_DIRECTORY", dir, 1);
        _cleanup_free_ char *pw = path("pw"), *cred = path("db-password");
        rename(pw, cred);
        ok(config_load(pwc, &c, NULL) == 0 && streq_ptr(c.db_password, "s3cr3t&x'y"),
           "the password comes from the db-password credential, without its trailing newline");
        char *u = NULL;
        int ur = config_db_url(&c, &u);
        ok(ur == 0 && streq(u, "postgresql://tern@db/tern?sslmode=require&password=s3cr3t%26x%27y"),
           "the URL gets the password as an escaped query parameter (%s)", u);
        free(u);
        FILE *mem = tmpfile();
        config_dump(&c, mem);
        rewind(mem);
        char buf[4096] = "";
        size_t n = fread(buf, 1, sizeof buf - 1, mem);
        buf[n] = 0;
        fclose(mem);
        ok(!strstr(buf, "s3cr3t") && strstr(buf, "# password: (set)"), "the dump never prints the secret");
        config_done(&c);
        unsetenv("CREDENTIALS_DIRECTORY");

        put("inurl.conf", "[database]\nurl = host=db password=x\n");
        _cleanup_free_ char *inurl = path("inurl.conf");
        ok(config_load(inurl, &c, NULL) == -EINVAL, "a password inside the URL is refused");

        TernConfig o, m;
        ok(config_load(a, &o, NULL) == 0, "reload: old");
        put("a.conf.d/30-change.conf", "[worker]\nslots = 2\n[log]\nlevel = debug\n");
        ok(config_load(a, &m, NULL) == 0 && m.log_level == LOG_DEBUG, "reload: new");
        _cleanup_free_ char *rs = config_restart_needed(&o, &m);
        ok(rs && streq(rs, "worker.slots"), "only settings that need a restart are named ('%s')", rs);
        config_done(&o);
        config_done(&m);

        /* A front end's defaults sit under the file, its command line over the environment. */
        char *defaults[] = { (char *) "server.state-dir=/nonexistent/user-state", (char *) "worker.queue=low", NULL };
        char *overrides[] = { (char *) "worker.slots=11", NULL };
        setenv("TERN_WORKER_SLOTS", "6", 1);
        ConfigSource src = { .path = a, .defaults = defaults, .overrides = overrides, .command = true };
        ok(config_load_from(&src, &c, NULL) == 0, "defaults and overrides load");
        ok(c.worker_slots == 11 && streq_ptr(c.worker_queue, "gpu"),
           "the command line beats the environment, the files beat the defaults (slots %u, queue %s)", c.worker_slots,
           strna(c.worker_queue));
        ok(streq_ptr(c.state_dir, "/nonexistent/user-state") && streq_ptr(c.runtime_dir, "/nonexistent/user-state/run"),
           "a command's runtime directory is below its state directory (%s)", strna(c.runtime_dir));
        config_done(&c);
        setenv("TERN_STATE_DIR", "/nonexistent/env-state", 1);
        ok(config_load_from(&src, &c, NULL) == 0 && streq_ptr(c.state_dir, "/nonexistent/env-state"),
           "TERN_STATE_DIR is server.state-dir's environment variable");
        config_done(&c);
        unsetenv("TERN_STATE_DIR");
        unsetenv("TERN_WORKER_SLOTS");
        char *unknown[] = { (char *) "worker.slot=3", NULL };
        src.overrides = unknown;
        ok(config_load_from(&src, &c, &errors) == -EINVAL && errors && strstr(errors[0], "unknown setting worker.slot"),
           "an unknown override is refused ('%s')", errors ? errors[0] : "");
        errors = strv_free(errors);

        /* [storage]: the state directory's by default; a URL that cannot work is named, with why. */
        put("s.conf", "[server]\nstate-dir = /nonexistent/st\n[storage]\nretention = 30d\n");
        _cleanup_free_ char *sc = path("s.conf");
        ok(config_load(sc, &c, NULL) == 0 && streq_ptr(c.storage_url, "file:///nonexistent/st/storage") &&
                   c.storage_retention == 30ull * 24 * 3600 * USEC_PER_SEC,
           "the storage defaults to file://<state-dir>/storage (%s), retention = 30d is read", strna(c.storage_url));
        config_done(&c);
        static const struct {
                const char *url, *why;
        } bad_storage[] = {
                { "s3://Not_A_Bucket", "is not a bucket name" },
                { "azure://acct", "no container name" },
                { "file://relative/dir", "is not file:///ABSOLUTE/DIRECTORY" },
                { "ftp://host/x", "unknown scheme 'ftp'" },
                { "s3://bucket?endpoint=ftp://x", "not an http:// or https:// URL" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad_storage); i++) {
                setenv("TERN_STORAGE_URL", bad_storage[i].url, 1);
                int r = config_load(sc, &c, &errors);
                ok(r == -EINVAL && errors && strstr(errors[0], "storage.url") && strstr(errors[0], bad_storage[i].why),
                   "storage url '%s' is refused: %s", bad_storage[i].url, errors ? errors[0] : "(accepted)");
                errors = strv_free(errors);
                if (r >= 0)
                        config_done(&c);
        }
        setenv("TERN_STORAGE_URL", "s3://tern/prefix?endpoint=http://127.0.0.1:9&region=us-east-1", 1);
        ok(config_load(sc, &c, NULL) == 0, "an S3 URL is accepted without credentials at hand (the daemons' to find)");
        config_done(&c);
        unsetenv("TERN_STORAGE_URL");

        /* [queue]: the Kafka settings, librdkafka's properties passed through as written. */
        put("q.conf", "[queue]\ntype = kafka\nbrokers = k1:9092,k2:9092\npartitions = 6\n"
                      "kafka.security.protocol = SASL_SSL\nkafka.sasl.password = hunter2\n"
                      "kafka.security.protocol = SSL\nkafka.client.id =\n");
        _cleanup_free_ char *qc = path("q.conf");
        ok(config_load(qc, &c, &errors) == 0, "a [queue] section with kafka.* properties is read");
        ok(c.queue_type && streq(c.queue_type, "kafka") && streq_ptr(c.queue_brokers, "k1:9092,k2:9092") &&
                   c.queue_partitions == 6 && c.queue_replication == 3 && !c.queue_topic_prefix,
           "queue.type, brokers and partitions are read; replication-factor defaults to 3");
        ok(strv_length(c.queue_kafka) == 2 && streq(c.queue_kafka[0], "sasl.password=hunter2") &&
                   streq(c.queue_kafka[1], "security.protocol=SSL"),
           "a property set twice keeps the later value, in one entry");
        {
                char *dump = NULL;
                size_t dumplen = 0;
                FILE *dumpf = open_memstream(&dump, &dumplen);
                config_dump(&c, dumpf);
                fclose(dumpf);
                ok(dump && strstr(dump, "kafka.security.protocol = SSL\n") && strstr(dump, "kafka.sasl.password = (set)\n") &&
                           !strstr(dump, "hunter2"),
                   "config_dump prints the properties in [queue], secrets as (set)");
                free(dump);
        }
        config_done(&c);
        put("q.conf", "[queue]\ntype = rabbit\n");
        ok(config_load(qc, &c, &errors) == -EINVAL && errors && strstr(errors[0], "queue.type") &&
                   strstr(errors[0], "'rabbit' is neither database nor kafka"),
           "an unknown queue type is refused: %s", errors ? errors[0] : "(accepted)");
        errors = strv_free(errors);
        put("q.conf", "[queue]\ntype = kafka\n");
        ok(config_load(qc, &c, &errors) == -EINVAL && errors && strstr(errors[0], "queue.brokers") &&
                   strstr(errors[0], "required"),
           "type = kafka without brokers is refused: %s", errors ? errors[0] : "(accepted)");
        errors = strv_free(errors);
        put("q.conf", "[queue]\nkafka.Bad Name = 1\n");
        ok(config_load(qc, &c, &errors) == -EINVAL && errors && strstr(errors[0], "q.conf:2:") &&
                   strstr(errors[0], "is not a librdkafka property name"),
           "a malformed property name is refused with file and line: %s", errors ? errors[0] : "(accepted)");
        errors = strv_free(errors);

        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        (void) !system(cmd);
        return tap_done();
}
