/* store-contract-offsets.c: the store contract for queue offsets (where the Kafka indexer wrote up to). */
#include "store-contract.h"

typedef struct OffsetCall {
        bool set;
        int part;
        int64_t expected, next; /* set */
        int64_t got;            /* get */
        int r;
} OffsetCall;

static int offset_call_tx(StoreTx *tx, void *userdata) {
        OffsetCall *c = userdata;
        if (c->set)
                c->r = store_queue_offset_set(tx, "tern-indexer", "t.logs", c->part, c->expected, c->next);
        else
                c->r = store_queue_offset_get(tx, "tern-indexer", "t.logs", c->part, &c->got);
        /* A refused set leaves nothing behind even when the transaction commits. */
        return 0;
}

static int offset_call(Store *s, OffsetCall *c) {
        int r = store_transact(s, offset_call_tx, c);
        return r < 0 ? r : c->r;
}

void test_queue_offsets(Store *s) {
        OffsetCall c = { .part = 3 };
        is_int(offset_call(s, &c), -ENOENT, "queue offset: none written yet");
        c = (OffsetCall) { .set = true, .part = 3, .expected = -1, .next = 10 };
        is_int(offset_call(s, &c), 0, "queue offset: the first one written");
        c = (OffsetCall) { .set = true, .part = 3, .expected = -1, .next = 12 };
        is_int(offset_call(s, &c), STORE_STALE, "queue offset: a second first write (another reader) is refused");
        c = (OffsetCall) { .set = true, .part = 3, .expected = 8, .next = 12 };
        is_int(offset_call(s, &c), STORE_STALE, "queue offset: a move from an offset it is not at is refused");
        c = (OffsetCall) { .part = 3 };
        is_int(offset_call(s, &c), 0, "queue offset: read back");
        is_int((int) c.got, 10, "queue offset: the refused moves changed nothing");
        c = (OffsetCall) { .set = true, .part = 3, .expected = 10, .next = 25 };
        is_int(offset_call(s, &c), 0, "queue offset: moved from where it is");
        c = (OffsetCall) { .part = 3 };
        offset_call(s, &c);
        is_int((int) c.got, 25, "queue offset: at the new offset");
        c = (OffsetCall) { .part = 4 };
        is_int(offset_call(s, &c), -ENOENT, "queue offset: another partition has its own");
        c = (OffsetCall) { .set = true, .part = -1, .expected = -1, .next = 1 };
        is_int(offset_call(s, &c), -EINVAL, "queue offset: a negative partition is refused");
}
