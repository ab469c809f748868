/* variables.c: envs, globals and secrets from the process environment. */
#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "strutil.h"
#include "variables.h"

extern char **environ;

json_t *runtime_envs(void) {
        const char *prefix = getenv("TERN_ENV_PREFIX");
        json_t *o = json_object();
        if (!o)
                return NULL;
        if (!prefix)
                prefix = "ENV_";
        size_t pl = strlen(prefix);
        for (char **e = environ; e && *e; e++) {
                if (strncmp(*e, prefix, pl) != 0)
                        continue;
                const char *eq = strchr(*e, '=');
                if (!eq || eq == *e + pl)
                        continue;
                char name[256];
                size_t n = MIN((size_t) (eq - *e) - pl, sizeof name - 1);
                for (size_t i = 0; i < n; i++)
                        name[i] = (char) tolower((unsigned char) (*e)[pl + i]);
                name[n] = 0;
                json_object_set_new(o, name, json_string(eq + 1));
        }
        return o;
}

json_t *runtime_globals(char **error) {
        const char *s = getenv("TERN_GLOBALS");
        json_error_t jerr;
        if (!s || !*s)
                return json_object();
        json_t *j = json_loads(s, 0, &jerr);
        if (!json_is_object(j)) {
                json_decref(j);
                if (error)
                        *error = strdup_printf("TERN_GLOBALS is not a JSON object: %s", jerr.text);
                return NULL;
        }
        return j;
}

int runtime_secret(void *userdata, const char *key, char **ret) {
        char name[300];
        size_t n = 0;

        n = (size_t) snprintf(name, sizeof name, "SECRET_");
        for (const char *p = key; *p && n < sizeof name - 1; p++)
                name[n++] = *p == '-' || *p == '.' ? '_' : (char) toupper((unsigned char) *p);
        name[n] = 0;
        const char *v = getenv(name);
        if (!v)
                return -ENOENT;
        /* Kestra's values may be wrapped across lines; base64 ignores the line breaks. */
        _cleanup_free_ char *clean = malloc(strlen(v) + 1);
        if (!clean)
                return -ENOMEM;
        size_t cl = 0;
        for (const char *p = v; *p; p++)
                if (!isspace((unsigned char) *p))
                        clean[cl++] = *p;
        clean[cl] = 0;
        if (cl % 4 != 0)
                return -EBADMSG;
        _cleanup_free_ unsigned char *out = malloc(cl / 4 * 3 + 1);
        if (!out)
                return -ENOMEM;
        int len = EVP_DecodeBlock(out, (const unsigned char *) clean, (int) cl);
        if (len < 0)
                return -EBADMSG;
        /* EVP_DecodeBlock counts padding bytes as output. */
        if (cl >= 1 && clean[cl - 1] == '=')
                len--;
        if (cl >= 2 && clean[cl - 2] == '=')
                len--;
        out[len] = 0;
        *ret = (char *) TAKE_PTR(out);
        return 0;
}

int runtime_engine_config(EngineConfig *ret, char **ret_error) {
        EngineConfig c = { .secret = runtime_secret };
        if (ret_error)
                *ret_error = NULL;
        if (!(c.globals = runtime_globals(ret_error)))
                return ret_error && *ret_error ? -EINVAL : -ENOMEM;
        if (!(c.envs = runtime_envs())) {
                runtime_engine_config_done(&c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

void runtime_engine_config_done(EngineConfig *c) {
        json_decref(c->envs);
        json_decref(c->globals);
        *c = (EngineConfig) {};
}
