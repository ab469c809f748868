/* task-services.c: the task services over a worker's store connection (key-value store, an
 * execution's logs), for the workers of both queues: the database and Kafka (docs/KAFKA.md). */
#include <errno.h>

#include "cleanup-jansson.h"
#include "kv-function.h"
#include "strutil.h"
#include "task-services.h"

/* No flow reaches tern's own namespaces (api_kv_namespace_reserved()). */
static int services_kv_get(void *userdata, const char *ns, const char *key, json_t **ret) {
        TaskStoreServices *s = userdata;
        StoreTx *tx;
        if (api_kv_namespace_reserved(ns))
                return -EPERM;
        int r = store_begin(s->store, &tx);
        if (r < 0)
                return r;
        r = store_kv_get(tx, ns, key, now_realtime(), ret);
        store_rollback(tx);
        return r;
}

typedef struct KvPut {
        const char *ns, *key;
        json_t *value;
        usec_t expires;
} KvPut;

static int kv_put_tx(StoreTx *tx, void *userdata) {
        KvPut *p = userdata;
        return store_kv_put(tx, p->ns, p->key, p->value, p->expires, now_realtime());
}

static int services_kv_put(void *userdata, const char *ns, const char *key, json_t *value, usec_t ttl) {
        TaskStoreServices *s = userdata;
        if (api_kv_namespace_reserved(ns))
                return -EPERM;
        KvPut p = { ns, key, value, ttl ? now_realtime() + ttl : 0 };
        return store_transact(s->store, kv_put_tx, &p);
}

static int kv_delete_tx(StoreTx *tx, void *userdata) {
        KvPut *p = userdata;
        return store_kv_delete(tx, p->ns, p->key);
}

static int services_kv_delete(void *userdata, const char *ns, const char *key) {
        TaskStoreServices *s = userdata;
        if (api_kv_namespace_reserved(ns))
                return -EPERM;
        KvPut p = { ns, key, NULL, 0 };
        return store_transact(s->store, kv_delete_tx, &p);
}

static int services_kv_keys(void *userdata, const char *ns, const char *prefix, json_t **ret) {
        TaskStoreServices *s = userdata;
        _cleanup_json_ json_t *all = NULL, *keep = json_array();
        StoreTx *tx;
        if (api_kv_namespace_reserved(ns))
                return -EPERM;
        int r = store_begin(s->store, &tx);
        if (r < 0)
                return r;
        r = store_kv_list(tx, ns, now_realtime(), &all);
        store_rollback(tx);
        if (r < 0)
                return r;
        size_t i;
        json_t *k;
        json_array_foreach(all, i, k)
                if (!prefix || startswith(json_string_value(k), prefix))
                        json_array_append(keep, k);
        *ret = TAKE_PTR(keep);
        return 0;
}

static int services_logs(void *userdata, const char *execution_id, const char *min_level, json_t **ret) {
        TaskStoreServices *s = userdata;
        /* Lines still buffered by the worker belong to the running task: written first. */
        if (s->flush_logs)
                s->flush_logs(s->userdata);
        _cleanup_json_ json_t *arr = json_array();
        int level = store_log_level_from_string(min_level);
        int64_t cursor = 0;
        for (;;) {
                StoreLog *logs = NULL;
                size_t n = 0;
                StoreLogFilter f = { .execution_id = execution_id, .min_level = level < 0 ? STORE_LOG_INFO : level,
                                     .after_seq = cursor, .limit = 1000 };
                int r = store_log_search(s->store, &f, &logs, &n);
                if (r < 0)
                        return r;
                if (n == 0)
                        break;
                for (size_t i = 0; i < n; i++) {
                        char ts[TIMESTAMP_MAX];
                        json_array_append_new(arr, json_pack("{s:s?, s:s, s:s, s:s}", "taskId", logs[i].task_id,
                                                             "level", store_log_level_to_string(logs[i].level),
                                                             "timestamp", timestamp_format(ts, logs[i].timestamp),
                                                             "message", logs[i].message));
                        cursor = logs[i].seq;
                }
                store_logs_free(logs, n);
        }
        *ret = TAKE_PTR(arr);
        return 0;
}

void task_store_services(TaskStoreServices *ts, TaskServices *ret) {
        *ret = (TaskServices) {
                .kv_get = services_kv_get, .kv_put = services_kv_put, .kv_delete = services_kv_delete,
                .kv_keys = services_kv_keys, .logs = services_logs, .userdata = ts,
        };
}
