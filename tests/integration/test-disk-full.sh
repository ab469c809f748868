#!/usr/bin/env bash
# test-disk-full.sh: a worker whose state directory fills up (a tmpfs of 8 MiB mounted over it in a
# mount namespace of the worker's own) fails the tasks that need the space, saying which file and
# "No space left on device", and goes on: other tasks' results and logs are delivered, an output
# file that cannot be kept fails its task rather than vanish, and once space is freed, tasks run
# again. On SQLite, an executor and the worker as separate processes. Root (mount).
set -uo pipefail
TERN=${TERN:?}
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }

[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP not root (mounts a tmpfs in a mount namespace)"; exit 0; }
command -v unshare >/dev/null && command -v nsenter >/dev/null || { echo "1..0 # SKIP no unshare/nsenter (util-linux)"; exit 0; }
scratch=$(mktemp -d /tmp/tern-diskfull.XXXXXX)
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
        for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
        rm -rf "$scratch"
}
trap cleanup EXIT
db="sqlite://$scratch/tern.db"
mkdir -p "$scratch/ex" "$scratch/wk"
unshare -m --propagation private true 2>/dev/null || { echo "1..0 # SKIP cannot make a mount namespace here"; exit 0; }
"$TERN" db migrate --db "$db" >/dev/null || { echo "Bail out! cannot migrate"; exit 1; }
TERN_STATE_DIR=$scratch/ex "$TERN" server executor --db "$db" >"$scratch/ex.log" 2>&1 &
pids+=($!)
# The tmpfs exists in the worker's namespace only: nothing of the machine's is mounted over. Its
# internal storage (the default, <state-dir>/storage) is on it too.
TERN_STATE_DIR=$scratch/wk unshare -m --propagation private \
        sh -c 'mount -t tmpfs -o size=8m tern-diskfull "$1" && shift && exec "$@"' sh "$scratch/wk" \
        "$TERN" server worker --workers 2 --sandbox off --db "$db" >"$scratch/wk.log" 2>&1 &
wk_pid=$!
pids+=("$wk_pid")
in_worker_ns() { nsenter -t "$wk_pid" -m -- "$@"; }
for _ in $(seq 1 100); do
        in_worker_ns findmnt -n "$scratch/wk" >/dev/null 2>&1 && break
        sleep 0.1
done
ok "$(in_worker_ns findmnt -n -o FSTYPE "$scratch/wk" 2>/dev/null | grep -qx tmpfs && ! findmnt -n "$scratch/wk" >/dev/null && echo 0 || echo 1)" \
        "the worker's state directory is an 8 MiB tmpfs in its own mount namespace only"

flow() { # id, tasks (YAML, indented by 2)
        printf 'id: %s\nnamespace: t.disk.full\ntasks:\n%s\n' "$1" "$2" >"$scratch/$1.yaml"
        "$TERN" flow apply "$scratch/$1.yaml" --db "$db" >/dev/null || { echo "Bail out! cannot apply flow '$1'"; exit 1; }
}
sh_task() { # id, command, [output file]
        printf '  - id: %s\n    type: io.kestra.plugin.scripts.shell.Commands\n    commands:\n      - %s\n' "$1" "$2"
        [ -n "${3:-}" ] && printf '    outputFiles:\n      - %s\n' "$3"
}
flow fill "$(sh_task fill 'dd if=/dev/zero of=big.bin bs=1M count=16 status=none')"
flow keep "$(sh_task keep 'head -c 5M /dev/zero > out.bin' out.bin)"
flow small "$(sh_task small 'echo small-done > out.txt; echo small-done' out.txt)"
flow input '  - id: input
    type: io.kestra.plugin.scripts.shell.Commands
    inputFiles:
      data.txt: "{{ range(1, 2000) | join(\x27,\x27) }}"
    commands:
      - cat data.txt'
flow logonly '  - id: say
    type: io.kestra.plugin.core.log.Log
    message: log-while-full'
run() { # flow -> prints "STATE ID"
        local id state
        id=$("$TERN" execution start t.disk.full "$1" --db "$db") || return 1
        "$TERN" execution wait "$id" --timeout PT60S --db "$db" >/dev/null 2>&1
        state=$("$TERN" execution show "$id" -o json --db "$db" 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"]["current"])')
        echo "${state:-?} $id"
}
text_of() { # execution id: its logs and its document (errors, outputs)
        "$TERN" execution logs "$1" --db "$db" 2>&1
        "$TERN" execution show "$1" -o json --db "$db" 2>&1
}
alive() { kill -0 "$wk_pid" 2>/dev/null; }

# 1. A task that fills the disk fails, and says so naming its file.
read -r state id < <(run fill)
t=$(text_of "$id")
ok "$([ "$state" = FAILED ] && grep -q "big.bin.*No space left on device" <<<"$t" && echo 0 || echo 1)" \
        "a task filling the disk fails naming the file and 'No space left on device' ($state)"
[ $failed = 0 ] || sed "s/^/# /" <<<"$t" | head -30
ok "$(alive && echo 0 || echo 1)" "the worker stays alive"
avail() { in_worker_ns df --output=avail -k "$scratch/wk" | awk 'END { print $1 }'; }
ok "$([ "$(avail)" -gt 7000 ] && echo 0 || echo 1)" "the failed task's working directory is gone with its space ($(avail) KiB free)"

# 2. An output file that cannot be kept (the storage is on the full tmpfs) fails its task.
read -r state id < <(run keep)
t=$(text_of "$id")
ok "$([ "$state" = FAILED ] && grep -q "cannot keep output file 'out.bin'.*No space left on device" <<<"$t" && echo 0 || echo 1)" \
        "an output file that cannot be kept fails the task, saying why ($state)"
[ "$state" = FAILED ] || sed 's/^/# /' <<<"$t" | grep -i "out.bin\|error" | head -5
left=$(in_worker_ns find "$scratch/wk/storage" -type f 2>/dev/null)
ok "$([ -z "$left" ] && [ "$(avail)" -gt 7000 ] && echo 0 || echo 1)" "no part of it is left in the storage nor in the working directory${left:+: $left}"

# 3. The disk stays full (a file of the harness's): tasks that need no space run and their logs are
# delivered; a shell task fails with a clear reason; the worker stays alive.
in_worker_ns sh -c 'head -c 64M /dev/zero > "$1/filler"' sh "$scratch/wk" 2>/dev/null
ok "$([ "$(avail)" -lt 64 ] && echo 0 || echo 1)" "the disk is full"
read -r state id < <(run logonly)
t=$(text_of "$id")
ok "$([ "$state" = SUCCESS ] && grep -q "log-while-full" <<<"$t" && echo 0 || echo 1)" \
        "with the disk full, a Log task succeeds and its log is delivered ($state)"
read -r state id < <(run input)
t=$(text_of "$id")
reason=$(grep -m1 -o "[^\"]*No space left on device[^\"]*" <<<"$t")
ok "$([ "$state" = FAILED ] && grep -q "input file 'data.txt'" <<<"$reason" && echo 0 || echo 1)" \
        "with the disk full, a task whose input file cannot be written fails saying so: ${reason:-nothing said} ($state)"
[ -n "$reason" ] || sed "s/^/# /" <<<"$t" | head -30
ok "$(alive && echo 0 || echo 1)" "the worker is still alive"

# 4. Space freed: the same task runs and keeps its output file.
in_worker_ns rm -f "$scratch/wk/filler"
read -r state id < <(run small)
t=$(text_of "$id")
ok "$([ "$state" = SUCCESS ] && grep -q "small-done" <<<"$t" && grep -q 'kestra:///.*out.txt' <<<"$t" && echo 0 || echo 1)" \
        "once space is freed the worker runs tasks again and keeps their files ($state)"
ok "$(alive && ! grep -q "ERROR: AddressSanitizer\|runtime error:" "$scratch/wk.log" && echo 0 || echo 1)" \
        "the worker ran throughout, without a sanitizer report"
[ $failed = 0 ] || sed 's/^/# worker: /' "$scratch/wk.log" | tail -15

echo "1..$n"
[ $failed = 0 ]
