#!/usr/bin/env python3
"""kestra-compat: run the Kestra compatibility corpus and compare each execution with what Kestra's
own tests assert (expectations.jsonl; matchers explained in the corpus README).

Each flow runs through a command that prints the final execution as JSON, by default
`tern run FLOW --output json --flows DIR [--db URL] [--input k=v ...]`. It prints one line per flow
(flow, expected, got, PASS/FAIL with the first difference) and a total, and exits 0 when at least
--min-pass flows pass.

With --tap it speaks TAP instead, one line per flow, and --expect FILE names the flows (one label a
line) expected to pass: one of them failing fails the run, even when another flow was fixed the same
day; a flow not in the list that fails is a TODO, one that passes is said (add it to the list).
When the corpus is absent, as in a user's clone, it is a TAP skip (status 0)."""

import argparse
import base64
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

PLACEHOLDER = re.compile(r"^<.*>$")

# Environment some corpus flows need (the corpus notes say what Kestra's test set-up provides):
# envs.* from prefixed variables, configured globals, and base64 SECRET_* variables.
LONG_PASSWORD = "passwordveryveryveyrlong" * 5
FLOW_ENV = {
    "variables.yaml": {
        "TERN_ENV_PREFIX": "KESTRA_", "KESTRA_TEST1": "true", "KESTRA_TEST2": "Pass by env",
        "TERN_GLOBALS": json.dumps({"string": "string", "int": 1, "bool": True, "nested": {"int": 2}}),
    },
    "secrets.yaml": {
        "SECRET_MY_SECRET": base64.b64encode(b'{"secretKey":"secretValue"}').decode(),
        "SECRET_NEW_LINE": base64.encodebytes(LONG_PASSWORD.encode()).decode(),
    },
}


def matches(expected, got):
    """Return None when got matches expected, else a short description of the difference."""
    if isinstance(expected, dict) and len(expected) == 1 and next(iter(expected)).startswith("$"):
        op, arg = next(iter(expected.items()))
        s = got if isinstance(got, str) else json.dumps(got)
        if op == "$contains":
            return None if isinstance(got, str) and arg in got else f"{s!r} does not contain {arg!r}"
        if op == "$startsWith":
            return None if isinstance(got, str) and got.startswith(arg) else f"{s!r} does not start with {arg!r}"
        if op == "$matches":
            return None if isinstance(got, str) and re.fullmatch(arg, got) else f"{s!r} does not match /{arg}/"
        if op == "$hasItems":
            if not isinstance(got, list):
                return f"{s} is not a list"
            for item in arg:
                if not any(matches(item, g) is None for g in got):
                    return f"{s} lacks {json.dumps(item)}"
            return None
        if op == "$containsInAnyOrder":
            if not isinstance(got, list) or len(got) != len(arg):
                return f"{s} is not {json.dumps(arg)} in any order"
            rest = list(got)
            for item in arg:
                for i, g in enumerate(rest):
                    if matches(item, g) is None:
                        del rest[i]
                        break
                else:
                    return f"{s} lacks {json.dumps(item)}"
            return None
        if op == "$anyOf":
            return None if any(matches(a, got) is None for a in arg) else f"{s} is none of {json.dumps(arg)}"
        if op == "$gte":
            return None if isinstance(got, (int, float)) and got >= arg else f"{s} < {arg}"
        if op == "$not":
            return None if matches(arg, got) is not None else f"{s} should not be {json.dumps(arg)}"
        if op == "$datetimeWithinSecondsOfNow":
            try:
                t = datetime.fromisoformat(str(got).replace("Z", "+00:00"))
                ok = abs((datetime.now(timezone.utc) - t).total_seconds()) <= arg
            except ValueError:
                ok = False
            return None if ok else f"{s} is not within {arg}s of now"
        return f"unknown matcher {op}"
    if isinstance(expected, str) and PLACEHOLDER.match(expected):
        return None if got is not None else "missing"
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"{json.dumps(got)} is not a map"
        for k, v in expected.items():
            if k not in got:
                return f"[{k}] missing"
            d = matches(v, got[k])
            if d:
                return f"[{k}] {d}"
        return None
    if isinstance(expected, list):
        if not isinstance(got, list) or len(got) != len(expected):
            return f"{json.dumps(got)} != {json.dumps(expected)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            d = matches(e, g)
            if d:
                return f"[{i}] {d}"
        return None
    if isinstance(expected, (int, float)) and not isinstance(expected, bool) and isinstance(got, str):
        # Outputs rendered as text compare with numbers by value.
        try:
            return None if float(got) == float(expected) else f"{got!r} != {expected!r}"
        except ValueError:
            return f"{got!r} != {expected!r}"
    if isinstance(expected, bool) and isinstance(got, str):
        return None if got == str(expected).lower() else f"{got!r} != {expected!r}"
    return None if expected == got else f"{json.dumps(got)} != {json.dumps(expected)}"


def task_outputs(execution):
    """The `outputs` variable: task id -> outputs, nested by loop values from the outermost loop."""
    runs = {tr["id"]: tr for tr in execution.get("taskRunList", [])}
    out = {}
    for tr in execution.get("taskRunList", []):
        if not tr.get("outputs"):
            continue
        chain, cur = [], tr
        while cur.get("parentTaskRunId") in runs:
            parent = runs[cur["parentTaskRunId"]]
            if cur.get("value") is not None and cur.get("value") != parent.get("value"):
                chain.insert(0, cur["value"])
            cur = parent
        node = out.setdefault(tr["taskId"], {}) if chain else None
        if not chain:
            out[tr["taskId"]] = tr["outputs"]
            continue
        for v in chain[:-1]:
            node = node.setdefault(v, {})
        node[chain[-1]] = tr["outputs"]
    return out


def first_run(execution, task_id):
    m = re.fullmatch(r"taskRunList\[(\d+)\]", task_id)
    if m:
        runs = execution.get("taskRunList", [])
        i = int(m.group(1))
        return runs[i] if i < len(runs) else None
    for tr in execution.get("taskRunList", []):
        if tr["taskId"] == task_id:
            return tr
    return None


def resolve_placeholders(expected, execution):
    """Replace '<execution id>' and '<taskrun id of X>' with the real values before matching."""
    if isinstance(expected, str):
        if expected == "<execution id>":
            return execution.get("id")
        m = re.fullmatch(r"<taskrun id of (.+)>", expected)
        if m:
            tr = first_run(execution, m.group(1))
            return tr["id"] if tr else "(no task run)"
        return expected
    if isinstance(expected, dict):
        return {k: resolve_placeholders(v, execution) for k, v in expected.items()}
    if isinstance(expected, list):
        return [resolve_placeholders(v, execution) for v in expected]
    return expected


# Labels the reference tests start some executions with (from the corpus notes).
FLOW_LABELS = {
    "labels-update-task.yml": {"keyFromExecution": "valueFromExecution",
                               "overriddenExecutionLabelKey": "executionValueThatWillGetOverridden"},
    "primitive-labels-flow.yml": {"existingLabel": "someValue"},
}


def compare(exp, execution):
    state = execution.get("state", {}).get("current")
    if exp.get("expected_state") and state != exp["expected_state"]:
        return f"state {state} != {exp['expected_state']}"
    runs = execution.get("taskRunList", [])
    if exp.get("taskrun_count") is not None and len(runs) != exp["taskrun_count"]:
        return f"{len(runs)} task runs != {exp['taskrun_count']} ({', '.join(r['taskId'] for r in runs)})"
    for task, want in (exp.get("taskrun_states") or {}).items():
        tr = first_run(execution, task)
        got = tr["state"]["current"] if tr else None
        d = matches(want, got)
        if d:
            return f"task {task}: state {d}"
    for task, want in (exp.get("taskrun_attempts") or {}).items():
        tr = first_run(execution, task)
        got = len(tr.get("attempts") or []) if tr else 0
        d = matches(want, got)
        if d:
            return f"task {task}: attempts {d}"
    for task, want in (exp.get("taskrun_count_by_task") or {}).items():
        got = sum(1 for r in runs if r["taskId"] == task)
        if got != want:
            return f"task {task}: {got} task runs != {want}"
    if exp.get("outputs"):
        d = matches(resolve_placeholders(exp["outputs"], execution), task_outputs(execution))
        if d:
            return f"outputs{d}"
    if exp.get("execution_outputs"):
        d = matches(resolve_placeholders(exp["execution_outputs"], execution), execution.get("outputs") or {})
        if d:
            return f"flow outputs{d}"
    if exp.get("labels"):
        got = {l["key"]: l["value"] for l in execution.get("labels") or []}
        want = resolve_placeholders(exp["labels"], execution)
        d = matches(want, got)
        if d:
            return f"labels{d}"
        # "Exactly these labels" where the reference test says so (containsInAnyOrder).
        if "exactly" in (exp.get("notes") or "") and set(got) != set(want):
            return f"labels: unexpected {sorted(set(got) - set(want))}"
    for want in exp.get("logs") or []:
        logs = [l for l in execution.get("logs") or [] if l.get("taskId") == want.get("task")]
        if want.get("none"):
            if logs:
                return f"task {want['task']} logged {logs[0].get('message')!r}, expected nothing"
            continue
        ok = any((not want.get("level") or l.get("level") == want["level"]) and
                 (want.get("message") is None or matches(want["message"], l.get("message")) is None) for l in logs)
        if not ok:
            return f"no log of task {want['task']} like {json.dumps(want)}"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=os.environ.get("KESTRA_COMPAT", "../shared/kestra-compat"))
    ap.add_argument("--runner", default=os.environ.get("TERN", "tern") + " run",
                    help="command that runs a flow and prints the execution JSON")
    ap.add_argument("--db", help="database URL passed to the runner (--db)")
    ap.add_argument("--only", action="append", help="run only these flow files")
    ap.add_argument("--min-pass", type=int, default=0, help="fail unless at least this many flows pass")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--tap", action="store_true", help="TAP output, one test line per flow")
    ap.add_argument("--expect", help="file listing the flows (labels) expected to pass, one a line")
    ap.add_argument("--print-flow-env", action="store_true",
                    help="print the environment the corpus flows need, NAME=VALUE NUL-terminated, and exit "
                         "(for daemons that run them, started once for every flow)")
    args = ap.parse_args()
    if args.print_flow_env:
        for env in FLOW_ENV.values():
            for k, v in env.items():
                sys.stdout.write(f"{k}={v}\0")
        return 0

    exp_path = os.path.join(args.corpus, "expectations.jsonl")
    if not os.path.exists(exp_path):
        print(f"1..0 # SKIP corpus not found at {args.corpus} (set KESTRA_COMPAT)")
        return 0
    flows_dir = os.path.join(args.corpus, "flows")
    expectations = [json.loads(l) for l in open(exp_path) if l.strip()]
    # Each flow's main expectation, then its additional scenarios (other inputs, same flow).
    runs = []
    for e in expectations:
        runs.append(e)
        for sc in e.get("additional_scenarios") or []:
            extra = {k: v for k, v in e.items() if k not in ("additional_scenarios",) and k not in sc and
                     k not in ("outputs", "taskrun_count", "taskrun_states", "taskrun_attempts", "labels", "logs",
                               "execution_outputs", "expected_state", "steps", "notes")}
            extra.update(sc)
            if extra.get("inputs") == "same as primary":
                extra["inputs"] = e.get("inputs")
            extra["label"] = f"{e['file']}#{sc.get('name')}"
            runs.append(extra)
    selected = [e for e in runs if e.get("in_scope", True) and not e.get("requires_steps")]
    if args.only:
        selected = [e for e in selected if e["file"] in args.only]

    expected_pass = None
    if args.expect:
        with open(args.expect) as f:
            expected_pass = {l.strip() for l in f if l.strip() and not l.startswith("#")}

    passed, failures, regressions, newly = 0, [], [], []
    for e in selected:
        e.setdefault("label", e["file"])
    if expected_pass is not None:
        unknown = sorted(expected_pass - {e["label"] for e in selected})
        if unknown:
            print(f"Bail out! {args.expect} names flows the corpus does not have: {', '.join(unknown)}")
            return 1
    width = max(len(e["label"]) for e in selected) if selected else 10
    tap = args.tap
    if not tap:
        print(f"{'flow':<{width}}  {'expected':<9} {'got':<9} result")
    with tempfile.TemporaryDirectory(prefix="tern-compat-") as scratch:
        for exp in selected:
            cmd = shlex.split(args.runner) + [os.path.join(flows_dir, exp["file"]), "--output", "json",
                                              "--include-logs", "--flows", flows_dir]
            if args.db:
                cmd += ["--db", args.db]
            inputs = dict(exp.get("inputs") or {})
            for k, v in list(inputs.items()):
                if isinstance(v, dict) and "$file" in v:
                    p = os.path.join(scratch, os.path.basename(v["$file"]))
                    with open(p, "w") as f:
                        f.write("hello from the compat runner\n")
                    inputs[k] = "@" + p
            if inputs:
                cmd += ["--inputs-json", json.dumps(inputs)]
            if exp.get("inputs_mode") in ("none", "raw"):
                cmd += ["--raw-inputs"]
            for k, v in FLOW_LABELS.get(exp["file"], {}).items():
                cmd += ["--label", f"{k}={v}"]
            t0 = time.monotonic()
            try:
                env = dict(os.environ, **FLOW_ENV.get(exp["file"], {}))
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env)
                execution = json.loads(p.stdout) if p.stdout.strip() else None
                diff = compare(exp, execution) if execution else f"no execution: {p.stderr.strip()[-300:]}"
                got = (execution or {}).get("state", {}).get("current", "-")
            except subprocess.TimeoutExpired:
                diff, got = f"timed out after {args.timeout}s", "-"
            except json.JSONDecodeError as e:
                diff, got = f"bad JSON from the runner: {e}", "-"
            dt = time.monotonic() - t0
            result = "PASS" if diff is None else f"FAIL {diff}"
            label = exp["label"]
            expected = expected_pass is None or label in expected_pass
            if diff is None:
                passed += 1
                if not expected:
                    newly.append(label)
            else:
                failures.append(label)
                if expected_pass is not None and expected:
                    regressions.append(label)
            if tap:
                n = len(failures) + passed
                # TAP: '#' starts a directive, so the difference is shown on a comment line of its own.
                name = label.replace("#", "/")
                if diff is None:
                    print(f"ok {n} - {name}" + ("" if expected else "  (passes, not yet in the expected list)"))
                elif expected:
                    print(f"not ok {n} - {name}: expected {exp.get('expected_state')}, got {got}")
                else:
                    print(f"not ok {n} - {name} # TODO not expected to pass yet")
                if diff is not None:
                    print(f"# {label}: {diff[:300]}")
                sys.stdout.flush()
            else:
                print(f"{label:<{width}}  {str(exp.get('expected_state')):<9} {got:<9} {result[:160]}"
                      + (f"  ({dt:.2f}s)" if args.verbose else ""), flush=True)
    total = len(selected)
    summary = f"kestra-compat: {passed} passed, {total - passed} failed ({100.0 * passed / max(total, 1):.0f}% of {total})"
    if tap:
        print(f"# {summary}")
        if newly:
            print(f"# passing now, add to {args.expect}: {', '.join(newly)}")
        if regressions:
            print(f"# expected to pass, failed: {', '.join(regressions)}")
        print(f"1..{total}")
        return 0 if not regressions and passed >= args.min_pass else 1
    print(summary)
    return 0 if not regressions and passed >= args.min_pass else 1


if __name__ == "__main__":
    sys.exit(main())
