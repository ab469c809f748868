/* state.h: execution and task-run states, Kestra's names and transitions, and state histories. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "timeutil.h"

typedef enum State {
        STATE_CREATED,
        STATE_QUEUED,      /* waiting for a flow concurrency slot */
        STATE_RUNNING,
        STATE_PAUSED,
        STATE_RETRYING,    /* a failed attempt will be retried after a delay */
        STATE_KILLING,
        STATE_RESTARTED,
        STATE_SUCCESS,
        STATE_WARNING,
        STATE_FAILED,
        STATE_KILLED,
        STATE_CANCELLED,
        STATE_SKIPPED,
        STATE_RETRIED,     /* an attempt that was superseded by a retry */
        STATE_RESUBMITTED, /* an attempt whose worker died; the job was run again */
        _STATE_MAX,
        _STATE_INVALID = -EINVAL,
} State;

const char *state_to_string(State s);
State state_from_string(const char *s);

/* Terminal: nothing will happen any more without a user action (restart). */
bool state_is_terminal(State s);
/* Failed-like for the parent's outcome: FAILED and KILLED. */
bool state_is_failed(State s);
/* Running-like: work is in progress or about to be (RUNNING, KILLING, RETRYING, CREATED, RESTARTED, QUEUED). */
bool state_is_active(State s);
/* Whether Kestra allows going from one state to another. */
bool state_transition_allowed(State from, State to);
/* Worst of two terminal outcomes: FAILED > KILLED > WARNING > SUCCESS (SKIPPED counts as SUCCESS). */
State state_worst(State a, State b);

typedef struct StateHistory {
        State state;
        usec_t date;
} StateHistory;

/* Kestra's "state" object: the current state and every state with the time it was entered. */
typedef struct StateInfo {
        State current;
        StateHistory *histories;
        size_t n_histories;
        size_t n_allocated;
} StateInfo;

int state_info_init(StateInfo *si, State initial, usec_t now);
void state_info_done(StateInfo *si);
int state_info_copy(const StateInfo *src, StateInfo *dst);
/* Append a history entry and make it current. Returns -EPERM for a transition Kestra forbids
 * (callers that must force one, e.g. restart, use state_info_force). */
int state_info_set(StateInfo *si, State to, usec_t now);
int state_info_force(StateInfo *si, State to, usec_t now);
usec_t state_info_start_date(const StateInfo *si);
/* End date when terminal, else USEC_INFINITY. */
usec_t state_info_end_date(const StateInfo *si);
/* {"current":..., "histories":[{"state":..,"date":..}], "startDate":..., "endDate":..., "duration":"PT.."} */
json_t *state_info_to_json(const StateInfo *si);
int state_info_from_json(json_t *j, StateInfo *ret);
