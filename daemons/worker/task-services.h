/* task-services.h: the task services over a worker's store connection (key-value store, an
 * execution's logs), shared by the database worker and the Kafka worker. */
#pragma once

#include "store.h"
#include "task-impl.h"

typedef struct TaskStoreServices {
        Store *store; /* the slot's own connection */
        /* Before a task reads its execution's logs: write the lines the worker still buffers
         * (the running task's own); may be NULL. */
        void (*flush_logs)(void *userdata);
        void *userdata;
} TaskStoreServices;

/* *ret's key-value and log services over ts->store, with ts as their userdata (ts must outlive the
 * task's run); store and storage are left NULL for the caller to give or not. */
void task_store_services(TaskStoreServices *ts, TaskServices *ret);
