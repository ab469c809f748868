/* test-state: state names, classification, Kestra's transitions and state histories. */
#include "cleanup-jansson.h"
#include "state.h"
#include "tap.h"

int main(void) {
        for (int s = 0; s < _STATE_MAX; s++)
                if (state_from_string(state_to_string((State) s)) != s)
                        ok(false, "name round trip for %d", s);
        ok(true, "every state name round-trips");
        is_int(state_from_string("RUNNIN"), _STATE_INVALID, "unknown name");
        ok(state_to_string(_STATE_MAX) == NULL, "out of range has no name");

        ok(state_is_terminal(STATE_SUCCESS) && state_is_terminal(STATE_KILLED) && state_is_terminal(STATE_SKIPPED),
           "terminal states");
        ok(!state_is_terminal(STATE_PAUSED) && !state_is_terminal(STATE_RUNNING) && !state_is_terminal(STATE_RETRYING),
           "paused, running, retrying are not terminal");
        ok(state_is_failed(STATE_FAILED) && state_is_failed(STATE_KILLED) && !state_is_failed(STATE_WARNING), "failed");

        ok(state_transition_allowed(STATE_CREATED, STATE_RUNNING), "CREATED -> RUNNING");
        ok(state_transition_allowed(STATE_RUNNING, STATE_PAUSED), "RUNNING -> PAUSED");
        ok(state_transition_allowed(STATE_PAUSED, STATE_RUNNING), "PAUSED -> RUNNING (resume)");
        ok(state_transition_allowed(STATE_RUNNING, STATE_KILLING), "RUNNING -> KILLING");
        ok(state_transition_allowed(STATE_KILLING, STATE_KILLED), "KILLING -> KILLED");
        ok(state_transition_allowed(STATE_FAILED, STATE_RESTARTED), "FAILED -> RESTARTED (restart)");
        ok(!state_transition_allowed(STATE_SUCCESS, STATE_RUNNING), "SUCCESS -/-> RUNNING");
        ok(!state_transition_allowed(STATE_SUCCESS, STATE_KILLED), "a finished run cannot be killed");
        ok(!state_transition_allowed(STATE_RUNNING, STATE_CREATED), "RUNNING -/-> CREATED");
        ok(state_transition_allowed(STATE_QUEUED, STATE_RUNNING), "QUEUED -> RUNNING");
        ok(!state_transition_allowed(STATE_QUEUED, STATE_PAUSED), "QUEUED -/-> PAUSED");

        is_int(state_worst(STATE_SUCCESS, STATE_WARNING), STATE_WARNING, "warning beats success");
        is_int(state_worst(STATE_FAILED, STATE_WARNING), STATE_FAILED, "failed beats warning");
        is_int(state_worst(STATE_KILLED, STATE_FAILED), STATE_FAILED, "failed beats killed");
        is_int(state_worst(STATE_SKIPPED, STATE_SUCCESS), STATE_SUCCESS, "skipped counts as success");

        StateInfo si;
        ok(state_info_init(&si, STATE_CREATED, 1000000) == 0, "init");
        ok(state_info_set(&si, STATE_RUNNING, 2000000) == 0, "set RUNNING");
        is_int(state_info_set(&si, STATE_CREATED, 2500000), -EPERM, "forbidden transition refused");
        is_int(si.current, STATE_RUNNING, "refused transition leaves the state");
        ok(state_info_set(&si, STATE_RUNNING, 2600000) == 0 && si.n_histories == 2, "same state adds no history");
        for (int i = 0; i < 20; i++)
                state_info_force(&si, i % 2 ? STATE_RUNNING : STATE_PAUSED, 3000000 + (usec_t) i);
        ok(state_info_set(&si, STATE_SUCCESS, 1500000) == 0, "SUCCESS");
        is_int(si.n_histories, 23, "histories grow past the initial allocation");
        ok(si.histories[22].date >= si.histories[21].date, "a clock going backwards keeps histories ordered");
        is_int(state_info_start_date(&si), 1000000, "start date is the first history");

        _cleanup_json_ json_t *j = state_info_to_json(&si);
        is_str(json_string_value(json_object_get(j, "current")), "SUCCESS", "json current");
        is_str(json_string_value(json_object_get(j, "startDate")), "1970-01-01T00:00:01.000Z", "json startDate");
        ok(json_object_get(j, "endDate") && json_object_get(j, "duration"), "terminal state has endDate and duration");
        StateInfo back;
        ok(state_info_from_json(j, &back) == 0 && back.n_histories == 23 && back.current == STATE_SUCCESS &&
                   back.histories[1].date == 2000000,
           "json round trip");
        ok(state_info_force(&back, STATE_RESTARTED, 9000000) == 0 && back.n_histories == 24, "grows after parse");
        state_info_done(&back);

        _cleanup_json_ json_t *bad = json_pack("{s:s, s:[]}", "current", "SUCCESS", "histories");
        is_int(state_info_from_json(bad, &back), -EBADMSG, "empty history is malformed");
        state_info_done(&si);
        return tap_done();
}
