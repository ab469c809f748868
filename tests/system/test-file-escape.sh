#!/usr/bin/env bash
# test-file-escape: a task's code controls its working directory, but the worker (root here) must never
# read or write outside it through what the task plants there: a link as an output file's parent, a
# link where an input file or a download goes, a FIFO or a directory named as an output file. Each
# flow runs with 'tern run' (in the sandbox, as root) and through separate executor and worker
# daemons (TAP).
set -uo pipefail
: "${TERN:?}"
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root (the worker must be root for the escapes to matter)"; exit 0; }

scratch=$(mktemp -d /tmp/tern-file-escape.XXXXXX)
chmod 755 "$scratch"
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
        wait 2>/dev/null
        rm -rf "$scratch"
}
trap cleanup EXIT

# What the tasks must not reach: a root-only secret, and a directory and a file to write to.
mkdir -p "$scratch/secret" "$scratch/victim" "$scratch/www" "$scratch/flows"
echo "host-secret-$$" >"$scratch/secret/key"
chmod 600 "$scratch/secret/key"
echo untouched >"$scratch/victim/file"
echo downloaded >"$scratch/www/file"
python3 -m http.server --bind 127.0.0.1 --directory "$scratch/www" 0 >"$scratch/http.log" 2>&1 &
pids+=($!)
port=
for _ in $(seq 1 100); do
        port=$(grep -o 'port [0-9]*' "$scratch/http.log" | head -1 | cut -d' ' -f2)
        [ -n "$port" ] && break
        sleep 0.05
done

flow() { # id, tasks (YAML, indented by two)
        printf 'id: %s\nnamespace: test.escape\ntasks:\n%s\n' "$1" "$2" >"$scratch/flows/$1.yaml"
}
flow read-link "  - id: plant
    type: io.kestra.plugin.scripts.shell.Commands
    commands: [\"ln -s $scratch/secret d\"]
    outputFiles: [d/key]"
flow read-deep "  - id: plant
    type: io.kestra.plugin.scripts.shell.Commands
    commands: [\"mkdir -p a/b && ln -s $scratch/secret a/b/c\"]
    outputFiles: [\"a/b/c/key\"]"
flow read-glob "  - id: plant
    type: io.kestra.plugin.scripts.shell.Commands
    commands: [\"ln -s $scratch/secret/key key.txt\", \"echo mine > mine.txt\"]
    outputFiles: [\"*.txt\"]"
flow fifo "  - id: plant
    type: io.kestra.plugin.scripts.shell.Commands
    commands: [\"mkfifo out\"]
    outputFiles: [out]"
flow directory "  - id: plant
    type: io.kestra.plugin.scripts.shell.Commands
    commands: [\"mkdir out\"]
    outputFiles: [out]"
flow write-link "  - id: wd
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: plant
        type: io.kestra.plugin.scripts.shell.Commands
        commands: [\"ln -s $scratch/victim d\"]
      - id: write
        type: io.kestra.plugin.scripts.shell.Commands
        inputFiles:
          d/pwned.txt: pwned
        commands: [\"true\"]"
flow download-link "  - id: wd
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: plant
        type: io.kestra.plugin.scripts.shell.Commands
        commands: [\"ln -s $scratch/victim/file download\"]
      - id: download
        type: io.kestra.plugin.core.http.Download
        uri: http://127.0.0.1:$port/file"

# No trace of the secret in any stored file, the victim untouched, nothing new in its directory.
unharmed() { # state directory
        ! grep -rqs "host-secret-$$" "$1" && [ "$(cat "$scratch/victim/file")" = untouched ] &&
                [ "$(ls "$scratch/victim")" = file ]
}

check() { # how, flow id, exit status, output, expected state, expected text
        local how=$1 id=$2 rc=$3 out=$4 want=$5 text=$6
        local good=1
        if [ "$want" = FAILED ]; then
                [ "$rc" != 0 ] && grep -qF -- "$text" <<<"$out" && good=0
        else
                [ "$rc" = 0 ] && grep -qF -- "$text" <<<"$out" && good=0
        fi
        unharmed "$st" || good=1
        ok $good "$how: $id ends $want saying \"$text\", nothing read or written outside"
        [ $good = 0 ] || { sed 's/^/#   /' <<<"$out" | tail -15; }
}

cases=(
        "read-link FAILED cannot keep output file 'd/key': 'd' is refused: a symbolic link is in its path"
        "read-deep FAILED cannot keep output file 'a/b/c/key': 'a/b/c' is refused: a symbolic link is in its path"
        "read-glob SUCCESS Output file 'key.txt' is not kept: a symbolic link is in its path"
        "fifo FAILED cannot keep output file 'out': it is not a regular file"
        "directory FAILED cannot keep output file 'out': it is a directory"
        "write-link FAILED cannot write input file 'd/pwned.txt': a symbolic link is in its path"
        "download-link SUCCESS SUCCESS"
)

# 1. tern run, as root, in the sandbox (the default).
for c in "${cases[@]}"; do
        read -r id want text <<<"$c"
        st="$scratch/run-$id"
        mkdir -p "$st"
        out=$(TERN_STATE_DIR="$st" timeout 60 "$TERN" run "$scratch/flows/$id.yaml" 2>&1)
        check "tern run" "$id" $? "$out" "$want" "$text"
done

# 2. An executor and a worker daemon, on one database file.
st="$scratch/daemons"
mkdir -p "$st"
export TERN_STATE_DIR=$st
"$TERN" db migrate >/dev/null 2>&1
"$TERN" server executor >"$scratch/executor.log" 2>&1 &
pids+=($!)
"$TERN" server worker --workers 2 >"$scratch/worker.log" 2>&1 &
pids+=($!)
"$TERN" flow apply "$scratch/flows" >/dev/null 2>&1
ok $? "the flows are applied for the daemons"
for c in "${cases[@]}"; do
        read -r id want text <<<"$c"
        exec_id=$("$TERN" execution start test.escape "$id" 2>/dev/null)
        "$TERN" execution wait "$exec_id" --timeout PT60S >/dev/null 2>&1
        rc=$?
        out=$("$TERN" execution logs "$exec_id" 2>&1)
        check "daemons" "$id" $rc "$out" "$want" "$text"
done
for p in "${pids[@]:1}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
pids=("${pids[0]}")
if [ $failed != 0 ]; then
        sed 's/^/# executor: /' "$scratch/executor.log" | tail -5
        sed 's/^/# worker: /' "$scratch/worker.log" | tail -10
fi

# 3. What a task run keeps is bounded as stored: a sparse file takes no room in the task's
# directory and all of its size once copied. The worker daemon, with [worker] output-mib = 1.
worker_bin=$(dirname "$TERN")/../daemons/worker/tern-worker
head -c 2000000 /dev/zero >"$scratch/www/big"
flow sparse "  - id: plant
    type: io.kestra.plugin.scripts.shell.Commands
    commands: [\"truncate -s 300M out.bin\"]
    outputFiles: [out.bin]"
flow small "  - id: plant
    type: io.kestra.plugin.scripts.shell.Commands
    commands: [\"head -c 500000 /dev/zero > out.bin\"]
    outputFiles: [out.bin]"
flow big-download "  - id: download
    type: io.kestra.plugin.core.http.Download
    uri: http://127.0.0.1:$port/big"
# Fetched input files count in the same budget: two copies of a 600 kB file pass 1 MiB.
flow fetch-twice "  - id: plant
    type: io.kestra.plugin.scripts.shell.Commands
    commands: [\"head -c 600000 /dev/zero > out.bin\"]
    outputFiles: [out.bin]
  - id: twice
    type: io.kestra.plugin.scripts.shell.Commands
    inputFiles:
      a.bin: \"{{ outputs.plant.outputFiles['out.bin'] }}\"
      b.bin: \"{{ outputs.plant.outputFiles['out.bin'] }}\"
    commands: [\"wc -c a.bin b.bin\"]"
st="$scratch/limited"
mkdir -p "$st"
export TERN_STATE_DIR=$st
printf '[server]\nstate-dir = %s\n[worker]\noutput-mib = 1\n' "$st" >"$scratch/limited.conf"
"$TERN" db migrate >/dev/null 2>&1
"$TERN" flow apply "$scratch/flows" >/dev/null 2>&1
"$TERN" server executor >"$scratch/executor2.log" 2>&1 &
pids+=($!)
TERN_LOG_TARGET=console "$worker_bin" --config "$scratch/limited.conf" >"$scratch/worker2.log" 2>&1 &
pids+=($!)
limited() { # flow id, expected state, text
        local exec_id
        exec_id=$("$TERN" execution start test.escape "$1" 2>/dev/null)
        "$TERN" execution wait "$exec_id" --timeout PT60S >/dev/null 2>&1
        local rc=$?
        local out
        out=$("$TERN" execution logs "$exec_id" 2>&1)
        local used
        used=$(du -sm "$st" | cut -f1)
        local good=1
        if [ "$2" = FAILED ]; then [ $rc != 0 ] && grep -qF -- "$3" <<<"$out" && [ "$used" -lt 50 ] && good=0
        else [ $rc = 0 ] && good=0; fi
        ok $good "[worker] output-mib = 1: $1 ends $2 ($3), $used MB in the state directory"
        [ $good = 0 ] || sed 's/^/#   /' <<<"$out" | tail -5
}
if [ -x "$worker_bin" ]; then
        limited sparse FAILED "cannot keep output file 'out.bin': the task run's output files take more than the worker's limit of 1 MiB"
        limited small SUCCESS "a file under the limit is kept"
        limited big-download FAILED "is larger than the worker's limit of 1 MiB"
        limited fetch-twice FAILED "takes the task run's files past the worker's limit of 1 MiB"
else
        ok 0 "# SKIP no tern-worker next to tern"
fi
echo "1..$n"
[ $failed = 0 ]
