/* test-web-route.c: the webserver's canonical paths and route matching, on which authorization rests. */
#include <errno.h>
#include <string.h>

#include "strutil.h"
#include "tap.h"
#include "web-route.h"

static void parses(const char *raw, const char *joined) {
        _cleanup_strv_free_ char **segs = NULL;
        int r = web_path_parse(raw, &segs);
        _cleanup_free_ char *j = r >= 0 ? strv_join(segs, "|") : NULL;
        ok(r >= 0 && j && streq(j, joined), "'%s' parses as '%s' (got %s)", raw, joined, j ? j : "an error");
}

static void refused(const char *raw) {
        _cleanup_strv_free_ char **segs = NULL;
        ok(web_path_parse(raw, &segs) == -EINVAL, "'%s' is refused", raw);
}

static bool matches(const char *pattern, const char *raw, const char *p0, const char *p1) {
        _cleanup_strv_free_ char **segs = NULL;
        const char *params[WEB_ROUTE_PARAMS_MAX] = {};
        if (web_path_parse(raw, &segs) < 0 || !web_route_match(pattern, segs, params))
                return false;
        return streq_ptr(params[0], p0) && streq_ptr(params[1], p1);
}

/* The tenant web_path_take_tenant() takes out of raw, and what is left (joined with '|'). */
static void tenant(const char *raw, const char *want_tenant, const char *want_left) {
        _cleanup_strv_free_ char **segs = NULL;
        if (web_path_parse(raw, &segs) < 0)
                segs = calloc(1, sizeof(char *));
        _cleanup_free_ char *t = web_path_take_tenant(segs);
        _cleanup_free_ char *j = strv_join(segs, "|");
        ok(streq_ptr(t, want_tenant) && j && streq(j, want_left), "'%s': tenant %s, then '%s' (got %s, '%s')", raw,
           want_tenant ?: "none", want_left, t ?: "none", j ?: "?");
}

int main(void) {
        parses("/", "");
        parses("/health", "health");
        parses("/api/v1/flows/a.b/c", "api|v1|flows|a.b|c");
        parses("/api/v1/flows/my%20ns/x%41", "api|v1|flows|my ns|xA");
        parses("/a/...", "a|...");
        parses("/a/.b", "a|.b");
        const char *bad[] = { "", "health", "//", "/health/", "//health", "/a//b", "/a/./b", "/a/../health", "/..",
                              "/a/%2e%2e", "/a/%2E.", "/a/%2f", "/a%2Fb", "/a%5cb", "/a\\b", "/a%00", "/a%0a",
                              "/a%", "/a%4", "/a%zz", "/a/%2e" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                refused(bad[i]);
        char *long_path = malloc(WEB_PATH_MAX + 2);
        memset(long_path, 'a', WEB_PATH_MAX + 1);
        long_path[0] = '/';
        long_path[WEB_PATH_MAX + 1] = 0;
        refused(long_path);
        free(long_path);

        ok(matches("/health", "/health", NULL, NULL), "exact literal route");
        ok(!matches("/health", "/HEALTH", NULL, NULL), "literal segments are case-sensitive");
        ok(!matches("/health", "/health/x", NULL, NULL), "no prefix match");
        ok(!matches("/health", "/x/health", NULL, NULL), "no suffix match");
        ok(!matches("/api/v1/flows/{}/{}", "/api/v1/flows/a", NULL, NULL), "a parameter is not optional");
        ok(matches("/api/v1/flows/{}/{}", "/api/v1/flows/ns.a/my%20flow", "ns.a", "my flow"), "parameters decoded");
        ok(matches("/", "/", NULL, NULL), "the root");
        ok(!matches("/", "/health", NULL, NULL), "the root only matches itself");

        tenant("/api/v1/main/flows/search", "main", "api|v1|flows|search");
        tenant("/api/v1/acme/executions/x", "acme", "api|v1|executions|x");
        tenant("/api/v1/main", NULL, "api|v1|main");
        tenant("/api/v2/main/flows", NULL, "api|v2|main|flows");
        tenant("/x/v1/main/flows", NULL, "x|v1|main|flows");
        tenant("/health", NULL, "health");
        tenant("/", NULL, "");
        return tap_done();
}
