#!/usr/bin/env python3
"""kestra-steps: the corpus scenarios that need more than one step (resume, kill, restart, a Flow
trigger on states on the way), driven
through the CLI against a running `tern server standalone` on one database (or, with
--servers-running, the executor and workers the caller runs: the Kafka queue). Prints one line per
scenario and a total; a TAP skip (status 0) when the corpus is absent."""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def tern(args, *cmd, check=True):
    p = subprocess.run([args.tern, *cmd, "--db", args.db], capture_output=True, text=True, timeout=120)
    if check and p.returncode not in (0, 1):
        raise RuntimeError(f"tern {' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()}")
    return p


def start(args, ns, flow, *extra):
    p = tern(args, "execution", "start", ns, flow, *extra)
    if p.returncode != 0:
        raise RuntimeError(f"start {ns}.{flow}: {p.stderr.strip()}")
    return p.stdout.strip()


def wait(args, eid, until=None):
    cmd = ["execution", "wait", eid, "--timeout", "PT60S", "-o", "json"]
    if until:
        cmd += ["--until", until]
    p = tern(args, *cmd)
    return json.loads(p.stdout)


def runs(doc, task=None):
    return [t for t in doc.get("taskRunList", []) if task is None or t["taskId"] == task]


def state(doc):
    return doc["state"]["current"]


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def restart(args, eid):
    p = tern(args, "execution", "restart", eid, "--wait", "--timeout", "PT60S", "-o", "json")
    expect(p.stdout.strip(), f"restart refused: {p.stderr.strip()}")
    return json.loads(p.stdout)


def pause_then_resume(args, flow, inputs=()):
    def run():
        eid = start(args, "io.kestra.tests", flow)
        doc = wait(args, eid, "PAUSED")
        expect(state(doc) == "PAUSED", f"state {state(doc)} != PAUSED")
        expect(len(runs(doc)) == 1 and runs(doc)[0]["state"]["current"] == "PAUSED", "one PAUSED task run")
        extra = [x for kv in inputs for x in ("-i", kv)]
        p = tern(args, "execution", "resume", eid, *extra, "--wait", "--timeout", "PT60S", "-o", "json")
        expect(p.returncode in (0, 1) and p.stdout.strip(), f"resume refused: {p.stderr.strip()}")
        doc = json.loads(p.stdout)
        expect(state(doc) == "SUCCESS", f"after resume: {state(doc)} != SUCCESS")
        return doc
    return run


def resume_with_inputs(args):
    doc = pause_then_resume(args, "pause_on_resume", ["asked=restarted"])()
    last = runs(doc, "last")
    expect(last and last[0]["outputs"]["values"]["asked"] == "restarted", "outputs.last.values.asked == restarted")


def kill_sleep(args):
    eid = start(args, "io.kestra.tests", "sleep")
    doc = wait(args, eid, "RUNNING")
    expect(state(doc) == "RUNNING", f"state {state(doc)} != RUNNING")
    p = tern(args, "execution", "kill", eid, "--wait", "--timeout", "PT60S", "-o", "json")
    expect(p.stdout.strip(), f"kill refused: {p.stderr.strip()}")
    doc = json.loads(p.stdout)
    hist = [h["state"] for h in doc["state"]["histories"]]
    expect(state(doc) == "KILLED", f"final {state(doc)} != KILLED")
    expect("KILLING" in hist, f"history {hist} has no KILLING")
    expect(len(runs(doc)) == 1 and runs(doc)[0]["state"]["current"] == "KILLED", "the sleep task run is KILLED")


def restart_twice(args):
    eid = start(args, "io.kestra.tests", "failed-first")
    doc = wait(args, eid)
    expect(state(doc) == "FAILED" and len(runs(doc)) == 1, "first run FAILED with 1 task run")
    for n in (1, 2):
        doc = restart(args, eid)
        expect(state(doc) == "FAILED", f"after restart {n}: {state(doc)} != FAILED")
    expect(len(runs(doc, "t1")[0]["attempts"]) == 3, "t1 has 3 attempts after two restarts")


def restart_local_errors(args):
    eid = start(args, "io.kestra.tests", "restart_local_errors")
    doc = wait(args, eid)
    expect(state(doc) == "FAILED" and len(runs(doc)) == 5, f"first run: {state(doc)}, {len(runs(doc))} task runs")
    doc = restart(args, eid)
    expect(doc["id"] == eid and doc.get("parentId") is None, "same execution, no parent")
    expect(state(doc) == "FAILED", f"after restart: {state(doc)} (the Fail task fails again)")
    expect(len(runs(doc, "errorHandler")) == 1, "the error handler ran again, once")


def restart_pause_last_failed(args):
    eid = start(args, "io.kestra.tests", "restart_pause_last_failed")
    doc = wait(args, eid)
    expect(state(doc) == "FAILED" and doc["taskRunList"][2]["state"]["current"] == "FAILED",
           f"first run: {state(doc)}")
    doc = restart(args, eid)
    expect(state(doc) == "SUCCESS", f"after restart: {state(doc)} != SUCCESS")
    trs = doc["taskRunList"]
    expect(len(trs) == 5 and all(t["state"]["current"] == "SUCCESS" for t in trs), "5 task runs, all SUCCESS")
    attempts = [len(t.get("attempts") or []) or None for t in trs]
    expect(attempts == [1, 1, None, 2, 1], f"attempts {attempts} != [1, 1, None, 2, 1]")
    paused = [h["state"] for h in trs[2]["state"]["histories"]].count("PAUSED")
    expect(paused == 1, f"the pause was PAUSED {paused} times, not once")


def concurrency(args, flow, second_prefix, second_final):
    def run():
        first = start(args, "io.kestra.tests", flow)
        doc = wait(args, first, "RUNNING,PAUSED")
        expect(state(doc) in ("RUNNING", "PAUSED"), f"first execution {state(doc)}")
        second = start(args, "io.kestra.tests", flow)
        doc2 = wait(args, second)
        hist = [h["state"] for h in doc2["state"]["histories"]]
        expect(hist[:len(second_prefix)] == second_prefix, f"second execution history {hist}")
        expect(state(doc2) == second_final, f"second execution {state(doc2)} != {second_final}")
        doc = wait(args, first)
        expect(state(doc) == "SUCCESS", f"first execution {state(doc)} != SUCCESS")
    return run


def expectation(args, file):
    with open(os.path.join(args.corpus, "expectations.jsonl")) as f:
        for line in f:
            e = json.loads(line)
            if e.get("file") == file:
                return e
    raise RuntimeError(f"{file} is not in expectations.jsonl")


def in_order(docs, want):
    """Do the executions' outputs.status follow want, as far as their start dates tell? (Listeners
    started in one scheduler step share a date.)"""
    rest = list(docs)
    for status in want:
        if not rest:
            return False
        first = min(d["state"].get("startDate", "") for d in rest)
        pick = [d for d in rest if d["state"].get("startDate", "") == first
                and (d.get("outputs") or {}).get("status") == status]
        if not pick:
            return False
        rest.remove(pick[0])
    return not rest


def flow_trigger_states(args):
    """A Flow trigger listing RUNNING and PAUSED fires on each state the watched execution enters,
    as the corpus step says (its watched flow is tests/compat/flows/trigger-flow-with-pause.yaml)."""
    exp = expectation(args, "trigger-flow-listener-with-pause.yaml")
    step = exp["steps"][0]["expect"]
    ns, listener = exp["namespace"], exp["id"]
    eid = start(args, ns, "trigger-flow-with-pause")
    doc = wait(args, eid)
    expect(state(doc) == "SUCCESS", f"watched execution {state(doc)} != SUCCESS")
    hist = [h["state"] for h in doc["state"]["histories"]]
    expect("PAUSED" in hist, f"watched execution history {hist} has no PAUSED")
    deadline = time.monotonic() + 60
    while True:
        p = tern(args, "execution", "list", "--namespace", ns, "--flow", listener, "--limit", "100", "-o", "json")
        docs = json.loads(p.stdout or "{}").get("results", [])
        done = [d for d in docs if d["state"]["current"] == exp["expected_state"]]
        if len(done) >= step["listener_success_executions"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    expect(len(docs) == step["listener_success_executions"] == len(done),
           f"{len(done)} of {len(docs)} listener executions {exp['expected_state']}, "
           f"want {step['listener_success_executions']}")
    want = step["execution_outputs.status_in_order"]
    got = sorted(((d["state"].get("startDate"), (d.get("outputs") or {}).get("status")) for d in docs),
                 key=lambda x: x[0] or "")
    expect(in_order(docs, want), f"listener outputs.status {got} are not {want}")


def retry_new_execution(args, file):
    """retry behavior CREATE_NEW_EXECUTION: one run, then every execution of the flow ends: the
    corpus step says which end states (RETRIED, RETRIED, FAILED, in any order)."""
    def run():
        exp = expectation(args, file)
        want = sorted(exp["steps"][0]["expect"]["terminated_execution_states_any_order"])
        ns, flow = exp["namespace"], exp["id"]
        start(args, ns, flow)
        deadline = time.monotonic() + 60
        while True:
            p = tern(args, "execution", "list", "--namespace", ns, "--flow", flow, "--limit", "100", "-o", "json")
            docs = json.loads(p.stdout or "{}").get("results", [])
            ended = sorted(state(d) for d in docs
                           if state(d) in ("SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "RETRIED"))
            if (len(ended) >= len(want) and all(state(d) != "RETRYING" for d in docs)) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        expect(ended == want, f"terminated executions {ended} != {want}")
    return run


def resume_task(args):
    """ResumeTest: a paused execution, resumed by another flow's Resume task, then ends."""
    paused = start(args, "io.kestra.tests", "pause")
    doc = wait(args, paused, "PAUSED")
    expect(state(doc) == "PAUSED", f"pause is {state(doc)}, not PAUSED")
    eid = start(args, "io.kestra.tests", "resume-execution", "-i", f"executionId={paused}")
    doc = wait(args, eid)
    expect(state(doc) == "SUCCESS", f"resume-execution {state(doc)} != SUCCESS")
    doc = wait(args, paused)
    expect(state(doc) == "SUCCESS", f"the resumed execution ended {state(doc)}, not SUCCESS")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=os.environ.get("KESTRA_COMPAT", "../shared/kestra-compat"))
    ap.add_argument("--tern", default=os.environ.get("TERN", "tern"))
    ap.add_argument("--db", required=True)
    ap.add_argument("--servers-running", action="store_true",
                    help="start no standalone server: the caller runs the executor and workers (the Kafka queue)")
    ap.add_argument("--todo", help="file of 'FLOW-FILE: reason' lines, scenarios not expected to pass yet "
                                   "(a TAP TODO each)")
    args = ap.parse_args()
    todo = {}
    if args.todo:
        with open(args.todo) as f:
            for line in f:
                if line.strip() and not line.startswith("#"):
                    name, _, why = line.partition(":")
                    todo[name.strip()] = why.strip()
    flows = os.path.join(args.corpus, "flows")
    if not os.path.isdir(flows):
        print(f"1..0 # SKIP corpus not found at {args.corpus}")
        return 0

    scenarios = [
        ("pause.yaml: run until PAUSED, resume", pause_then_resume(args, "pause")),
        ("pause_no_tasks.yaml: run until PAUSED, resume", pause_then_resume(args, "pause_no_tasks")),
        ("pause_on_resume_optional.yaml: resume without inputs", pause_then_resume(args, "pause_on_resume_optional")),
        ("pause_on_resume.yaml: resume with onResume inputs", lambda: resume_with_inputs(args)),
        ("sleep.yml: kill while RUNNING", lambda: kill_sleep(args)),
        ("failed-first.yaml: restart twice", lambda: restart_twice(args)),
        ("restart_local_errors.yaml: restart", lambda: restart_local_errors(args)),
        ("restart_pause_last_failed.yaml: restart", lambda: restart_pause_last_failed(args)),
        ("flow-concurrency-cancel.yml: a second execution is CANCELLED",
         concurrency(args, "flow-concurrency-cancel", ["CREATED", "CANCELLED"], "CANCELLED")),
        ("flow-concurrency-cancel-pause.yml: a second execution is CANCELLED while the first pauses",
         concurrency(args, "flow-concurrency-cancel-pause", ["CREATED", "CANCELLED"], "CANCELLED")),
        ("flow-concurrency-queue-pause.yml: a second execution waits QUEUED, then runs",
         concurrency(args, "flow-concurrency-queue-pause", ["CREATED", "QUEUED", "RUNNING"], "SUCCESS")),
        ("trigger-flow-listener-with-pause.yaml: a Flow trigger on RUNNING, PAUSED and the end fires 4 times",
         lambda: flow_trigger_states(args)),
        ("retry-new-execution-task-attempts.yml: RETRIED, RETRIED, FAILED",
         retry_new_execution(args, "retry-new-execution-task-attempts.yml")),
        ("retry-new-execution-task-duration.yml: RETRIED, RETRIED, FAILED",
         retry_new_execution(args, "retry-new-execution-task-duration.yml")),
        ("retry-new-execution-flow-duration.yml: RETRIED, RETRIED, FAILED",
         retry_new_execution(args, "retry-new-execution-flow-duration.yml")),
        ("resume-execution.yaml: a Resume task resumes a paused execution", lambda: resume_task(args)),
    ]
    # The corpus, and the flows it depends on but lacks (tests/compat/flows).
    for d in (flows, os.path.join(HERE, "flows")):
        p = tern(args, "flow", "apply", d)
        if p.returncode != 0:
            print(f"Bail out! tern flow apply {d} failed: {p.stderr.strip()}")
            return 1
    server = None
    if not args.servers_running:
        server = subprocess.Popen([args.tern, "server", "standalone", "--db", args.db, "--workers", "4"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    passed, failed = 0, 0
    try:
        print(f"1..{len(scenarios)}")
        for i, (name, fn) in enumerate(scenarios, 1):
            why = todo.get(name.split(":")[0])
            try:
                fn()
                passed += 1
                print(f"ok {i} - {name}" + (f"  (passes: remove it from {args.todo})" if why else ""), flush=True)
            except (AssertionError, RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError, KeyError,
                    IndexError) as e:
                if why:
                    # TAP: '#' starts the directive, so the difference goes on a comment line.
                    print(f"not ok {i} - {name} # TODO {why}\n# {str(e)[:300]}", flush=True)
                else:
                    failed += 1
                    print(f"not ok {i} - {name}: {e}", flush=True)
    finally:
        if server:
            server.terminate()
            try:
                server.wait(timeout=40)
            except subprocess.TimeoutExpired:
                server.kill()
    print(f"# kestra-steps: {passed} passed, {len(scenarios) - passed} failed ({len(scenarios) - passed - failed} to do)")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
