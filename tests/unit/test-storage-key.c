/* test-storage-key: storage keys: traversal in every spelling is refused, Kestra's layout is kept. */
#include "key.h"
#include "macro.h"
#include "tap.h"

static void refused(const char *key) {
        ok(storage_key_invalid(key) != NULL, "key '%s' refused (%s)", key, storage_key_invalid(key) ?: "accepted");
}

static void accepted(const char *key) {
        const char *why = storage_key_invalid(key);
        ok(!why, "key '%s' accepted%s%s", key, why ? ": " : "", why ?: "");
}

static void uri_refused(const char *uri) {
        char *k = NULL;
        const char *why = NULL;
        int r = storage_key_from_uri(uri, &k, &why);
        ok(r == -EINVAL && !k && why, "URI '%s' refused (%s)", uri, why ?: "accepted");
        free(k);
}

static void uri_is(const char *uri, const char *key) {
        char *k = NULL;
        int r = storage_key_from_uri(uri, &k, NULL);
        ok(r == 0 && k && streq(k, key), "URI '%s' is key '%s' (got %s)", uri, key, k ?: "an error");
        free(k);
}

static void built(int r, char *k, const char *expected, const char *what) {
        ok(r == 0 && k && streq(k, expected), "%s: '%s' (got %s, %d)", what, expected, k ?: "NULL", r);
        free(k);
}

int main(void) {
        accepted("company/team/flow/executions/abc/tasks/t/tr/out.txt");
        accepted("a");
        accepted("a/.env");
        accepted("a/..x/x..");
        accepted("a/b c/%41%20");
        accepted("dir/…unicode✓");

        refused(NULL);
        refused("");
        refused("/etc/passwd");
        refused("a//b");
        refused("a/b/");
        refused("a/./b");
        refused("a/../b");
        refused("..");
        refused(".");
        refused("../x");
        refused("a\\..\\b");
        refused("a\\b");
        refused("a/%2e%2e/b");
        refused("a/%2E%2E/b");
        refused("a%2fb");
        refused("a%2F..%2Fb");
        refused("a/%5c");
        refused("a/%252e%252e");
        refused("a/%00");
        refused("a/\x01");
        refused("a/\x7f");
        refused("a\nb");
        char longseg[300];
        memset(longseg, 'x', sizeof longseg - 1);
        longseg[sizeof longseg - 1] = 0;
        refused(longseg);
        char longkey[1000];
        for (size_t i = 0; i < sizeof longkey - 1; i++)
                longkey[i] = i % 2 ? '/' : 'a';
        longkey[sizeof longkey - 1] = 0;
        refused(longkey);

        ok(storage_prefix_invalid("") == NULL, "empty prefix is the whole storage");
        ok(storage_prefix_invalid("a/b") == NULL, "prefix a/b");
        ok(storage_prefix_invalid("a/../b") != NULL, "prefix a/../b refused");

        uri_is("kestra:///ns/flow/executions/x/tasks/t/r/file.txt", "ns/flow/executions/x/tasks/t/r/file.txt");
        uri_is("kestra:///ns/f/a%20b.txt", "ns/f/a b.txt");
        uri_is("kestra:///ns/f/100%25", "ns/f/100%");
        uri_refused("kestra:///../etc/passwd");
        uri_refused("kestra:////etc/passwd");
        uri_refused("kestra:///ns/%2e%2e/x");
        uri_refused("kestra:///ns/%2E%2e/%2e%2e/x");
        uri_refused("kestra:///ns/..%2fx");
        uri_refused("kestra:///ns/%252e%252e/x");
        uri_refused("kestra:///ns/%5c..%5cx");
        uri_refused("kestra:///ns/a%00b");
        uri_refused("kestra:///ns/a%0ab");
        uri_refused("kestra:///ns/a%");
        uri_refused("kestra:///ns/a%4");
        uri_refused("kestra:///ns/a%zz");
        uri_refused("kestra:///ns/a?x=1");
        uri_refused("kestra://host/ns/a");
        uri_refused("file:///etc/passwd");
        uri_refused("kestra:///");
        uri_refused("kestra:///ns//a");

        char *u = storage_key_to_uri("ns/f/a b%.txt");
        is_str(u, "kestra:///ns/f/a%20b%25.txt", "key to URI encodes space and percent");
        char *back = NULL;
        ok(u && storage_key_from_uri(u, &back, NULL) == 0 && streq(back, "ns/f/a b%.txt"), "and back");
        free(u);
        free(back);

        char *slug = storage_slugify("My_Flow  name.v2-");
        is_str(slug, "my-flow-namev2", "Slugify as Kestra's");
        free(slug);
        slug = storage_slugify("--a__b--");
        is_str(slug, "a-b", "Slugify trims and collapses dashes");
        free(slug);

        char *k = NULL;
        built(storage_key_task_file("company.team", "My_Flow", "5Xyz", "down_load", "7Abc", "out/data.csv", &k), k,
              "company/team/my-flow/executions/5Xyz/tasks/down-load/7Abc/out/data.csv", "task file");
        k = NULL;
        built(storage_key_input_file("company.team", "flow", "5Xyz", "file", "in.txt", &k), k,
              "company/team/flow/executions/5Xyz/inputs/file/in.txt", "input file");
        k = NULL;
        built(storage_key_trigger_file("company.team", "flow", "5Xyz", "web_hook", "0/in.txt", &k), k,
              "company/team/flow/executions/5Xyz/trigger/web-hook/0/in.txt", "trigger file");
        k = NULL;
        built(storage_key_execution("a.b.c", "flow", "5Xyz", &k), k, "a/b/c/flow/executions/5Xyz", "execution prefix");
        k = NULL;
        built(storage_key_namespace_file("company.team", "/scripts/run.py", &k), k, "company/team/_files/scripts/run.py",
              "namespace file");
        k = NULL;
        built(storage_key_namespace_file("company.team", NULL, &k), k, "company/team/_files", "namespace files prefix");
        k = NULL;
        built(storage_key_kv("company.team", "my_key.v1", &k), k, "company/team/_kv/my_key.v1.ion", "KV key");
        k = NULL;
        built(storage_key_kv("company.team", NULL, &k), k, "company/team/_kv", "KV prefix");

        k = NULL;
        is_int(storage_key_kv("ns", "../x", &k), -EINVAL, "KV key with a path refused");
        is_int(storage_key_kv("ns", "_x", &k), -EINVAL, "KV key must start alphanumeric");
        is_int(storage_key_namespace_file("ns", "../../etc/passwd", &k), -EINVAL, "namespace file traversal refused");
        is_int(storage_key_namespace_file("ns", "a/%2e%2e/b", &k), -EINVAL, "namespace file encoded traversal refused");
        is_int(storage_key_namespace_file("a..b", "x", &k), -EINVAL, "namespace with an empty part refused");
        is_int(storage_key_namespace_file("a/b", "x", &k), -EINVAL, "namespace with '/' refused");
        /* Namespaces a flow may not have, whose keys lie inside another namespace's files or KV or
         * inside an execution's directory. */
        is_int(storage_key_namespace_file("company._files", "x", &k), -EINVAL, "namespace part '_files' refused");
        is_int(storage_key_namespace_file("company._kv", "x", &k), -EINVAL, "namespace part '_kv' refused");
        is_int(storage_key_namespace_file("_files", "x", &k), -EINVAL, "namespace '_files' refused");
        is_int(storage_key_kv("company._files", "k", &k), -EINVAL, "KV of namespace part '_files' refused");
        is_int(storage_key_namespace_file("company.flow.executions.abc", "x", &k), -EINVAL,
               "namespace part 'executions' refused");
        built(storage_key_namespace_file("company.executions2.x_y", "f", &k), k, "company/executions2/x_y/_files/f",
              "namespace parts like 'executions2' and 'x_y' kept");
        k = NULL;
        is_int(storage_key_task_file("ns", "f", "..", "t", "r", "x", &k), -EINVAL, "execution id '..' refused");
        is_int(storage_key_task_file("ns", "f", "e", "t", "r/s", "x", &k), -EINVAL, "task run id with '/' refused");
        is_int(storage_key_task_file("ns", "f", "e", "t", "r", "/abs", &k), -EINVAL, "absolute file refused");
        is_int(storage_key_task_file("ns", "...", "e", "t", "r", "x", &k), -EINVAL, "flow id slugified to nothing refused");
        is_int(storage_key_input_file("ns", "f", "e", "in", "a/b", &k), -EINVAL, "input file name with '/' refused");
        is_int(storage_key_trigger_file("ns", "f", "e", "hook", "0/../x", &k), -EINVAL, "trigger file with '..' refused");
        ok(!k, "nothing returned on refusal");

        return tap_done();
}
