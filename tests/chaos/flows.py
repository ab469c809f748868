# flows.py: the chaos workload's flows, the final state each must reach, and the attempts each task may have.
#
# Every shell task writes a marker (task-run id, attempt, execution, task) to /markers/log, a file
# of the harness bound into the sandbox, before it does anything else, and prints "chaos-done" as
# its last line: the markers count side effects, the line checks that finished tasks kept their logs.

MARK = 'echo "$TERN_TASK_RUN_ID $TERN_ATTEMPT $TERN_EXECUTION_ID $TERN_TASK_ID" >> /markers/log'
NS = "chaos"


def shell(task_id, *commands, extra=""):
    lines = [MARK, *commands, "echo chaos-done"]
    body = "".join(f"\n      - {c!r}" if "'" not in c else f'\n      - "{c}"' for c in lines)
    return f"""
  - id: {task_id}
    type: io.kestra.plugin.scripts.shell.Commands{extra}
    commands:{body}"""


def indent(text, n):
    return "\n".join((" " * n + line) if line.strip() else line for line in text.splitlines())


FLOWS = {}
EXPECTED = {}  # flow id -> final state
RETRIES = {}   # (flow id, task id) -> attempts allowed without a resubmission

FLOWS["seq"] = f"""id: seq
namespace: {NS}
tasks:{shell("one", "sleep 0.5")}{shell("two", "sleep 0.5")}{shell("three", "sleep 0.2")}
"""
EXPECTED["seq"] = "SUCCESS"

FLOWS["par"] = f"""id: par
namespace: {NS}
tasks:
  - id: fan
    type: io.kestra.plugin.core.flow.Parallel
    tasks:{indent(shell("p1", "sleep 0.8"), 4)}{indent(shell("p2", "sleep 0.4"), 4)}{indent(shell("p3", "sleep 0.1"), 4)}
"""
EXPECTED["par"] = "SUCCESS"

FLOWS["loops"] = f"""id: loops
namespace: {NS}
tasks:
  - id: outer
    type: io.kestra.plugin.core.flow.ForEach
    values: ["x", "y"]
    tasks:
      - id: inner
        type: io.kestra.plugin.core.flow.ForEach
        values: [1, 2]
        tasks:{indent(shell("leaf", "sleep 0.3"), 8)}
"""
EXPECTED["loops"] = "SUCCESS"

FLOWS["child"] = f"""id: child
namespace: {NS}
tasks:{shell("work", "sleep 0.5")}
"""
EXPECTED["child"] = "SUCCESS"

FLOWS["parent"] = f"""id: parent
namespace: {NS}
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: {NS}
    flowId: child
    wait: true
    transmitFailed: true{shell("after", "sleep 0.1")}
"""
EXPECTED["parent"] = "SUCCESS"

# The first attempt fails, a later one succeeds (a resubmission also counts as a later one).
FLOWS["retryok"] = f"""id: retryok
namespace: {NS}
tasks:{shell("flaky", "sleep 0.2", '[ "$TERN_ATTEMPT" -ge 2 ] || exit 1', extra='''
    retry:
      type: constant
      interval: PT0.5S
      maxAttempt: 3''')}
"""
EXPECTED["retryok"] = "SUCCESS"
RETRIES[("retryok", "flaky")] = 3

FLOWS["retryfail"] = f"""id: retryfail
namespace: {NS}
tasks:{shell("broken", "sleep 0.2", "exit 3", extra='''
    retry:
      type: constant
      interval: PT0.5S
      maxAttempt: 2''')}
"""
EXPECTED["retryfail"] = "FAILED"
RETRIES[("retryfail", "broken")] = 2

# Resumed through the API by the harness.
FLOWS["pause"] = f"""id: pause
namespace: {NS}
tasks:{shell("before", "sleep 0.2")}
  - id: wait
    type: io.kestra.plugin.core.flow.Pause{shell("after", "sleep 0.2")}
"""
EXPECTED["pause"] = "SUCCESS"

# A slot every second.
FLOWS["sched"] = f"""id: sched
namespace: {NS}
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "slot {{{{ trigger.date }}}}"
triggers:
  - id: every-second
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "* * * * * *"
    withSeconds: true
"""
EXPECTED["sched"] = "SUCCESS"

# Once per successful execution of seq.
FLOWS["flowtrig"] = f"""id: flowtrig
namespace: {NS}
tasks:{shell("react", "sleep 0.1")}
triggers:
  - id: after-seq
    type: io.kestra.plugin.core.trigger.Flow
    states: [SUCCESS]
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: {NS}
        flowId: seq
"""
EXPECTED["flowtrig"] = "SUCCESS"

# A file made on host C and read on host D, through the object store. coreutils' echo, not the
# shell's: on a full disk dash's builtin says only "echo: I/O error", this one "No space left on
# device", which the harness counts as the disk fault's doing.
FLOWS["files"] = f"""id: files
namespace: {NS}
tasks:{shell("produce", '/bin/echo "$TERN_EXECUTION_ID" > out.txt', "sleep 0.2", extra='''
    workerGroup:
      key: hostc
    outputFiles: ["out.txt"]''')}{shell("consume", '[ "$(cat in.txt)" = "$TERN_EXECUTION_ID" ] || exit 1', extra='''
    workerGroup:
      key: hostd
    inputFiles:
      in.txt: "{{ outputs.produce.outputFiles['out.txt'] }}"''')}
"""
EXPECTED["files"] = "SUCCESS"

# What the harness starts itself, with weights (child runs through parent, sched and flowtrig by triggers).
SUBMITTED = [("seq", 3), ("par", 2), ("loops", 1), ("parent", 2), ("retryok", 1), ("retryfail", 1),
             ("pause", 1), ("files", 2)]
