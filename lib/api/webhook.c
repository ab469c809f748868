/* webhook.c: what a Webhook trigger means when its URL is called: whether it may fire, and its inputs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "expr.h"
#include "strutil.h"
#include "triggers.h"

int api_webhook_enabled(StoreTx *tx, const char *ns, const char *flow_id, const char *trigger_id) {
        StoreTrigger *rows = NULL;
        size_t n = 0;
        int r, enabled = 1;

        /* A plain read (no row lock): concurrent calls of one webhook must not queue behind each
         * other. No row yet (no scheduler has seen the flow): the flow's own `disabled` decides. */
        if ((r = store_trigger_list(tx, ns, flow_id, "webhook", &rows, &n)) < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (streq(rows[i].namespace, ns) && streq(rows[i].trigger_id, trigger_id) && rows[i].disabled)
                        enabled = 0;
        store_triggers_free(rows, n);
        return enabled;
}

int api_webhook_inputs(const Flow *f, const Trigger *t, json_t *trigger_vars, const EngineConfig *cfg, usec_t now,
                       json_t **ret, char **ret_error) {
        _cleanup_json_ json_t *vars = NULL;
        json_t *raw = json_object_get(t->properties, "inputs");
        ExprError err = {};
        int r;

        if (!raw) {
                *ret = json_object();
                return *ret ? 0 : -ENOMEM;
        }
        /* Kestra renders them with the flow and the trigger in scope (no execution exists yet). */
        vars = json_pack("{s:{s:s, s:s, s:i}, s:O}", "flow", "namespace", f->namespace, "id", f->id, "revision",
                         f->revision, "trigger", trigger_vars ?: json_null());
        if (!vars)
                return -ENOMEM;
        if (cfg) {
                if (cfg->envs && json_object_set(vars, "envs", cfg->envs) < 0)
                        return -ENOMEM;
                if (cfg->globals && json_object_set(vars, "globals", cfg->globals) < 0)
                        return -ENOMEM;
        }
        ExprContext ec = { .variables = vars, .secret = cfg ? cfg->secret : NULL, .userdata = cfg ? cfg->userdata : NULL,
                           .now = now };
        r = expr_render_tree(raw, &ec, ret, &err);
        if (r < 0 && r != -ENOMEM && ret_error)
                *ret_error = strdup(err.message ? err.message : strerror(-r));
        expr_error_done(&err);
        return r < 0 ? r : 0;
}
