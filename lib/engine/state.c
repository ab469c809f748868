/* state.c: states, allowed transitions and state histories. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "state.h"

static const char *const state_names[_STATE_MAX] = {
        [STATE_CREATED] = "CREATED",     [STATE_QUEUED] = "QUEUED",           [STATE_RUNNING] = "RUNNING",
        [STATE_PAUSED] = "PAUSED",       [STATE_RETRYING] = "RETRYING",       [STATE_KILLING] = "KILLING",
        [STATE_RESTARTED] = "RESTARTED", [STATE_SUCCESS] = "SUCCESS",         [STATE_WARNING] = "WARNING",
        [STATE_FAILED] = "FAILED",       [STATE_KILLED] = "KILLED",           [STATE_CANCELLED] = "CANCELLED",
        [STATE_SKIPPED] = "SKIPPED",     [STATE_RETRIED] = "RETRIED",         [STATE_RESUBMITTED] = "RESUBMITTED",
};

const char *state_to_string(State s) {
        if (s < 0 || s >= _STATE_MAX)
                return NULL;
        return state_names[s];
}

State state_from_string(const char *s) {
        if (!s)
                return _STATE_INVALID;
        for (int i = 0; i < _STATE_MAX; i++)
                if (streq(s, state_names[i]))
                        return (State) i;
        return _STATE_INVALID;
}

bool state_is_terminal(State s) {
        switch (s) {
        case STATE_SUCCESS:
        case STATE_WARNING:
        case STATE_FAILED:
        case STATE_KILLED:
        case STATE_CANCELLED:
        case STATE_SKIPPED:
        case STATE_RETRIED:
        case STATE_RESUBMITTED:
                return true;
        default:
                return false;
        }
}

bool state_is_failed(State s) {
        return s == STATE_FAILED || s == STATE_KILLED;
}

bool state_is_active(State s) {
        switch (s) {
        case STATE_CREATED:
        case STATE_QUEUED:
        case STATE_RUNNING:
        case STATE_RETRYING:
        case STATE_KILLING:
        case STATE_RESTARTED:
                return true;
        default:
                return false;
        }
}

bool state_transition_allowed(State from, State to) {
        if (from < 0 || from >= _STATE_MAX || to < 0 || to >= _STATE_MAX)
                return false;
        if (to == STATE_KILLING || to == STATE_KILLED)
                return !state_is_terminal(from) || from == to;
        switch (from) {
        case STATE_CREATED:
        case STATE_RESTARTED:
                return to != STATE_CREATED && to != STATE_RESTARTED;
        case STATE_QUEUED:
                return to == STATE_RUNNING || to == STATE_CANCELLED || to == STATE_FAILED || to == STATE_CREATED;
        case STATE_RUNNING:
                return to != STATE_CREATED && to != STATE_QUEUED && to != STATE_RESTARTED;
        case STATE_PAUSED:
                return to == STATE_RUNNING || state_is_terminal(to);
        case STATE_RETRYING:
                return to == STATE_RUNNING || to == STATE_CREATED || state_is_terminal(to);
        case STATE_KILLING:
                return to == STATE_KILLED || state_is_terminal(to);
        default:
                /* Terminal states only leave through a restart (or a retry of the whole execution). */
                return to == STATE_RESTARTED || to == STATE_RETRYING;
        }
}

static int state_rank(State s) {
        switch (s) {
        case STATE_FAILED:
                return 4;
        case STATE_KILLED:
                return 3;
        case STATE_CANCELLED:
                return 2;
        case STATE_WARNING:
                return 1;
        default:
                return 0;
        }
}

State state_worst(State a, State b) {
        int ra = state_rank(a), rb = state_rank(b);
        if (ra == 0 && rb == 0)
                return STATE_SUCCESS;
        return ra >= rb ? a : b;
}

static int state_info_reserve(StateInfo *si, size_t n) {
        if (n <= si->n_allocated)
                return 0;
        size_t cap = MAX(si->n_allocated * 2, MAX(n, 4u));
        StateHistory *h = realloc(si->histories, sizeof(StateHistory) * cap);
        if (!h)
                return -ENOMEM;
        si->histories = h;
        si->n_allocated = cap;
        return 0;
}

int state_info_init(StateInfo *si, State initial, usec_t now) {
        *si = (StateInfo) { .current = initial };
        if (state_info_reserve(si, 4) < 0)
                return -ENOMEM;
        si->histories[0] = (StateHistory) { initial, now };
        si->n_histories = 1;
        return 0;
}

void state_info_done(StateInfo *si) {
        free(si->histories);
        *si = (StateInfo) {};
}

int state_info_copy(const StateInfo *src, StateInfo *dst) {
        StateInfo c = { .current = src->current };
        if (state_info_reserve(&c, src->n_histories) < 0)
                return -ENOMEM;
        memcpy(c.histories, src->histories, sizeof(StateHistory) * src->n_histories);
        c.n_histories = src->n_histories;
        *dst = c;
        return 0;
}

int state_info_force(StateInfo *si, State to, usec_t now) {
        if (state_info_reserve(si, si->n_histories + 1) < 0)
                return -ENOMEM;
        /* Histories are ordered: a clock that went backwards must not produce a negative duration. */
        if (si->n_histories > 0 && now < si->histories[si->n_histories - 1].date)
                now = si->histories[si->n_histories - 1].date;
        si->histories[si->n_histories++] = (StateHistory) { to, now };
        si->current = to;
        return 0;
}

int state_info_set(StateInfo *si, State to, usec_t now) {
        if (si->current == to)
                return 0;
        if (!state_transition_allowed(si->current, to))
                return -EPERM;
        return state_info_force(si, to, now);
}

usec_t state_info_start_date(const StateInfo *si) {
        return si->n_histories ? si->histories[0].date : 0;
}

usec_t state_info_end_date(const StateInfo *si) {
        if (!state_is_terminal(si->current))
                return USEC_INFINITY;
        return si->n_histories ? si->histories[si->n_histories - 1].date : 0;
}

static json_t *json_timestamp(usec_t t) {
        char buf[TIMESTAMP_MAX];
        return json_string(timestamp_format(buf, t));
}

json_t *state_info_to_json(const StateInfo *si) {
        json_t *h = json_array();
        if (!h)
                return NULL;
        for (size_t i = 0; i < si->n_histories; i++)
                json_array_append_new(h, json_pack("{s:s, s:o}", "state", state_to_string(si->histories[i].state),
                                                   "date", json_timestamp(si->histories[i].date)));
        json_t *j = json_pack("{s:s, s:o}", "current", state_to_string(si->current), "histories", h);
        if (!j)
                return NULL;
        usec_t start = state_info_start_date(si), end = state_info_end_date(si);
        json_object_set_new(j, "startDate", json_timestamp(start));
        if (end != USEC_INFINITY) {
                char d[DURATION_MAX];
                json_object_set_new(j, "endDate", json_timestamp(end));
                /* From the dates as written (milliseconds), so that a document read back and written
                 * again says the same. */
                susec_t ms = (susec_t) (end / USEC_PER_MSEC) - (susec_t) (start / USEC_PER_MSEC);
                json_object_set_new(j, "duration", json_string(duration_format(d, ms * (susec_t) USEC_PER_MSEC)));
        }
        return j;
}

int state_info_from_json(json_t *j, StateInfo *ret) {
        json_t *h = json_object_get(j, "histories");
        State cur = state_from_string(json_string_value(json_object_get(j, "current")));
        StateInfo si = {};
        size_t i;
        json_t *e;

        if (cur < 0 || !json_is_array(h) || json_array_size(h) == 0)
                return -EBADMSG;
        if (state_info_reserve(&si, json_array_size(h) + 4) < 0)
                return -ENOMEM;
        json_array_foreach(h, i, e) {
                State s = state_from_string(json_string_value(json_object_get(e, "state")));
                const char *date = json_string_value(json_object_get(e, "date"));
                usec_t d;
                if (s < 0 || !date || timestamp_parse(date, 0, &d) < 0) {
                        state_info_done(&si);
                        return -EBADMSG;
                }
                si.histories[si.n_histories++] = (StateHistory) { s, d };
        }
        si.current = cur;
        *ret = si;
        return 0;
}
