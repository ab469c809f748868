#!/usr/bin/env bash
# test-storage-flows.sh BACKEND: files travelling between tasks through the internal storage, on one
# host (tern run) and across two worker processes with state directories of their own, against
#   local   a directory shared by the processes
#   s3      radosgw, started and stopped by rgw.sh ($TERN_RGW)
#   gcs-hmac  the same radosgw through gs:// with HMAC keys (GCS's XML API; no GCS server here)
#   azure   azurite, started and stopped by azurite.sh ($TERN_AZURITE)
# Skipped (saying why) only when the server cannot be started here.
set -uo pipefail
backend=${1:?usage: test-storage-flows.sh local|s3|gcs-hmac|azure}
TERN=${TERN:?}
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }

scratch=$(mktemp -d /tmp/tern-stflow.XXXXXX)
pids=()
server_stop=
cleanup() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
        for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
        [ -n "$server_stop" ] && eval "$server_stop" >/dev/null 2>&1
        rm -rf "$scratch"
}
trap cleanup EXIT

prefix=run$$
case $backend in
local)
        url="file://$scratch/shared-storage"
        keys() { (cd "$scratch/shared-storage" && find . -type f | sed 's#^\./##' | grep "^$1") || true; }
        ;;
s3|gcs-hmac)
        out=$("${TERN_RGW:?}" start "$scratch/rgw" 2>"$scratch/server.err"); rc=$?
        [ $rc = 77 ] && { echo "1..0 # SKIP $(tail -1 "$scratch/server.err")"; exit 0; }
        [ $rc = 0 ] || { echo "Bail out! radosgw did not start: $(tail -3 "$scratch/server.err" | tr '\n' ' ')"; exit 1; }
        read -r endpoint access secret dir <<<"$out"
        server_stop="'$TERN_RGW' stop '$dir'"
        if [ "$backend" = s3 ]; then
                export AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret
                url="s3://tern-test/$prefix?endpoint=$endpoint&region=us-east-1"
        else
                # GCS's XML API with HMAC keys, served by radosgw (no GCS server here): the gs://
                # backend's requests, signing and credentials ($GCS_HMAC_*) as a GCS user has them.
                export GCS_HMAC_ACCESS_KEY=$access GCS_HMAC_SECRET=$secret
                url="gs://tern-test/$prefix?endpoint=$endpoint&region=us-east-1"
        fi
        # The keys below PREFIX, straight from the service (curl signs them; '/' encoded, or its
        # signature of the query does not match); a failed listing says so instead of listing nothing.
        keys() {
                local l
                l=$(curl -s --aws-sigv4 aws:amz:us-east-1:s3 --user "$access:$secret" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
                        "$endpoint/tern-test?list-type=2&prefix=${prefix}%2F${1//\//%2F}")
                grep -q ListBucketResult <<<"$l" || { echo "LISTING-FAILED"; return; }
                grep -o '<Key>[^<]*' <<<"$l" | sed "s#<Key>$prefix/##"
        }
        ;;
azure)
        out=$("${TERN_AZURITE:?}" start "$scratch/azurite" 2>"$scratch/server.err"); rc=$?
        [ $rc = 77 ] && { echo "1..0 # SKIP $(tail -1 "$scratch/server.err")"; exit 0; }
        [ $rc = 0 ] || { echo "Bail out! azurite did not start: $(tail -3 "$scratch/server.err" | tr '\n' ' ')"; exit 1; }
        read -r endpoint account key dir sas <<<"$out"
        server_stop="'$TERN_AZURITE' stop '$dir'"
        export AZURE_STORAGE_KEY=$key
        url="azure://$account/tern-test/$prefix?endpoint=$endpoint"
        keys() {
                local l
                l=$(curl -s "$endpoint/tern-test?restype=container&comp=list&prefix=$prefix/$1&$sas")
                grep -q EnumerationResults <<<"$l" || { echo "LISTING-FAILED"; return; }
                grep -o '<Name>[^<]*' <<<"$l" | sed "s#<Name>$prefix/##"
        }
        ;;
*)
        echo "Bail out! unknown backend '$backend'"; exit 1
        ;;
esac
json() { python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@" 2>/dev/null; }

# ---- a web server for the downloads -------------------------------------------------------------
mkdir -p "$scratch/www"
seq 1 1000 | sed 's/$/,row/' >"$scratch/www/data.csv"
python3 -c 'import functools, http.server, sys
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
        functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1]))
print(srv.server_address[1], flush=True)
srv.serve_forever()' "$scratch/www" >"$scratch/www.port" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -s "$scratch/www.port" ] && break; sleep 0.05; done
port=$(cat "$scratch/www.port")

# ---- 1. download, then process, on one host ---------------------------------------------------
cat >"$scratch/dl.yaml" <<EOF
id: dl
namespace: t.storage.wire
tasks:
  - id: download
    type: io.kestra.plugin.core.http.Download
    uri: "http://127.0.0.1:$port/data.csv"
  - id: process
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    inputFiles:
      data.csv: "{{ outputs.download.uri }}"
    outputFiles:
      - count.txt
    commands:
      - wc -l < data.csv | tr -d ' ' > count.txt
  - id: if
    type: io.kestra.plugin.core.flow.If
    condition: "{{ fileExists(outputs.process.outputFiles['count.txt']) and fileSize(outputs.download.uri) > 0 }}"
    then:
      - id: check
        type: io.kestra.plugin.core.debug.Return
        format: "{{ read(outputs.process.outputFiles['count.txt']) | trim }} lines, {{ fileSize(outputs.download.uri) }} bytes"
EOF
db="sqlite://$scratch/tern.db"
size=$(stat -c %s "$scratch/www/data.csv")
TERN_STATE_DIR=$scratch/one "$TERN" run "$scratch/dl.yaml" --db "$db" --storage "$url" --sandbox off -o json \
        >"$scratch/dl.json" 2>"$scratch/dl.err"
rc=$?
dl_id=$(json "$scratch/dl.json" 'd["id"]')
check=$(json "$scratch/dl.json" '[t for t in d["taskRunList"] if t["taskId"] == "check"][0]["outputs"]["value"]')
ok "$([ $rc = 0 ] && [ "$check" = "1000 lines, $size bytes" ] && echo 0 || echo 1)" \
        "download then process on $backend: the task reads the downloaded file, not its URI ($check)"
[ $rc = 0 ] || sed 's/^/# /' "$scratch/dl.err" | tail -5
dl_uri=$(json "$scratch/dl.json" '[t for t in d["taskRunList"] if t["taskId"] == "download"][0]["outputs"]["uri"]')
ok "$(case $dl_uri in "kestra:///t/storage/wire/dl/executions/$dl_id/tasks/download/"?*/?*) echo 0;; *) echo 1;; esac)" \
        "the download is passed on as Kestra's kestra:/// URI ($dl_uri)"
stored=$(keys "t/storage/wire/dl/executions/$dl_id/" | sort | tr '\n' ' ')
ok "$(grep -q 'tasks/download/.*/download' <<<"$stored" && grep -q 'tasks/process/.*/count.txt' <<<"$stored" && echo 0 || echo 1)" \
        "both files are objects in the $backend storage: $stored"

# ---- 2. 200 MB written by one worker, read back by another with its own state directory -------
cat >"$scratch/big.yaml" <<'EOF'
id: big
namespace: t.storage.wire
tasks:
  - id: write
    type: io.kestra.plugin.scripts.shell.Commands
    workerGroup:
      key: a
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    outputFiles:
      - big.bin
    commands:
      - head -c 209715200 /dev/urandom > big.bin
      - 'printf "::{\"outputs\":{\"sum\":\"%s\"}}::\n" "$(sha256sum big.bin | cut -c1-64)"'
  - id: read
    type: io.kestra.plugin.scripts.shell.Commands
    workerGroup:
      key: b
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    inputFiles:
      big.bin: "{{ outputs.write.outputFiles['big.bin'] }}"
    commands:
      - 'printf "::{\"outputs\":{\"sum\":\"%s\",\"size\":%s}}::\n" "$(sha256sum big.bin | cut -c1-64)" "$(stat -c %s big.bin)"'
EOF
# ASan holds freed memory in a quarantine (256 MB by default) that would count as the workers' own:
# a small one keeps the measure about tern's buffers, which is what is bounded here.
server_env=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4:thread_local_quarantine_size_kb=64")
start() { # name, args...
        local name=$1; shift
        mkdir -p "$scratch/$name"
        TERN_STATE_DIR=$scratch/$name "${server_env[@]}" "$TERN" server "$@" --db "$db" --storage "$url" \
                >"$scratch/$name.log" 2>&1 &
        pids+=($!)
        eval "${name}_pid=$!"
}
start executor executor
start wa worker --queue a --workers 1 --sandbox off
start wb worker --queue b --workers 1 --sandbox off
TERN_STATE_DIR=$scratch/cli "$TERN" run "$scratch/big.yaml" --remote --db "$db" --storage "$url" -o json --timeout PT4M \
        >"$scratch/big.json" 2>"$scratch/big.err"
rc=$?
big_id=$(json "$scratch/big.json" 'd["id"]')
sum_w=$(json "$scratch/big.json" '[t for t in d["taskRunList"] if t["taskId"] == "write"][0]["outputs"]["vars"]["sum"]')
sum_r=$(json "$scratch/big.json" '[t for t in d["taskRunList"] if t["taskId"] == "read"][0]["outputs"]["vars"]["sum"]')
size_r=$(json "$scratch/big.json" '[t for t in d["taskRunList"] if t["taskId"] == "read"][0]["outputs"]["vars"]["size"]')
ok "$([ $rc = 0 ] && [ -n "$sum_w" ] && [ "$sum_w" = "$sum_r" ] && [ "$size_r" = 209715200 ] && echo 0 || echo 1)" \
        "200 MB written on worker a, read on worker b through $backend: same SHA-256 ($sum_r, $size_r bytes)"
if [ $rc != 0 ]; then
        sed 's/^/# /' "$scratch/big.err" | tail -5
        for f in wa wb executor; do tail -3 "$scratch/$f.log" | sed "s/^/# $f: /"; done
fi
# Far under the 200 MB either way; the uploader holds two 8 MiB parts (two in flight), ASan's
# shadow memory and quarantine the rest (about 58 MB measured for wa, 40 MB for wb).
for w in wa wb; do
        pid=$(eval echo "\$${w}_pid")
        hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null)
        ok "$([ -n "$hwm" ] && [ "$hwm" -lt 73728 ] && echo 0 || echo 1)" \
                "worker $w streamed the file in bounded memory: peak RSS ${hwm:-?} kB (< 72 MB)"
done
ok "$([ -z "$(find "$scratch/wa" "$scratch/wb" -name big.bin 2>/dev/null)" ] && echo 0 || echo 1)" \
        "nothing of it is left in the workers' state directories"

# ---- 3. what a flow or a command may not read ---------------------------------------------------
big_uri=$(json "$scratch/big.json" '[t for t in d["taskRunList"] if t["taskId"] == "write"][0]["outputs"]["outputFiles"]["big.bin"]')
cat >"$scratch/steal.yaml" <<'EOF'
id: steal
namespace: t.storage.wire
inputs:
  - id: u
    type: STRING
tasks:
  - id: take
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    inputFiles:
      x: "{{ inputs.u }}"
    commands:
      - cat x
EOF
why=$(TERN_STATE_DIR=$scratch/one "$TERN" run "$scratch/steal.yaml" --db "$db" --storage "$url" --sandbox off -i "u=$big_uri" 2>&1)
ok "$(grep -q "is not a file of this execution" <<<"$why" && echo 0 || echo 1)" \
        "inputFiles naming another execution's file fail the task: $(grep -o "input file 'x'[^\"]*" <<<"$why" | head -1)"
for bad in "kestra:///t/storage/wire/steal/executions/X/../../big/executions/$big_id/tasks/write/a/big.bin" \
        "kestra:///t/storage/wire/steal/executions/X/..%2F..%2Fbig/big.bin" "kestra:///etc/passwd" "kestra://x/../big.bin"; do
        why=$(TERN_STATE_DIR=$scratch/one "$TERN" run "$scratch/steal.yaml" --db "$db" --storage "$url" --sandbox off -i "u=$bad" 2>&1)
        ok "$(grep -q "input file 'x'" <<<"$why" && ! grep -q "root:" <<<"$why" && echo 0 || echo 1)" \
                "refused: $bad ($(grep -o "input file 'x'[^\"]*" <<<"$why" | head -1))"
done
files=$(TERN_STATE_DIR=$scratch/cli "$TERN" execution files "$big_id" --db "$db" --storage "$url" 2>&1)
ok "$(grep -q "tasks/write/.*/big.bin" <<<"$files" && grep -q 209715200 <<<"$files" && echo 0 || echo 1)" \
        "tern execution files lists the execution's file: $(tr -s ' ' <<<"$files" | head -1)"
got=$(TERN_STATE_DIR=$scratch/cli "$TERN" execution files "$big_id" --db "$db" --storage "$url" --get "$big_uri" | sha256sum | cut -c1-64)
ok "$([ "$got" = "$sum_w" ] && echo 0 || echo 1)" "tern execution files --get streams it out whole ($got)"
for bad in "$dl_uri" "../../dl/executions/$dl_id/tasks" "kestra:///t/storage/wire/big/executions/$big_id/../../dl/x"; do
        err=$(TERN_STATE_DIR=$scratch/cli "$TERN" execution files "$big_id" --db "$db" --storage "$url" --get "$bad" 2>&1 >/dev/null)
        rc=$?
        ok "$([ $rc != 0 ] && grep -q "not a" <<<"$err" && echo 0 || echo 1)" "tern execution files --get '$bad' is refused: $err"
done

# ---- 4. purge -----------------------------------------------------------------------------------
for p in "${pids[@]:1}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
pids=("${pids[0]}")
sleep 1.1
if [ "$backend" = local ]; then
        # What a put killed two days ago left beside its object, and what one writes now.
        mkdir -p "$scratch/shared-storage/t/storage/killed"
        echo half >"$scratch/shared-storage/t/storage/killed/.tern-tmp.old"
        echo half >"$scratch/shared-storage/t/storage/killed/.tern-tmp.now"
        touch -d '2 days ago' "$scratch/shared-storage/t/storage/killed/.tern-tmp.old"
fi
out=$(TERN_STATE_DIR=$scratch/cli "$TERN" execution purge --older-than 1s --batch 2 --db "$db" --storage "$url" 2>&1)
rc=$?
left=$(keys "t/storage/wire/" | tr '\n' ' ')
ok "$([ $rc = 0 ] && [ -z "$left" ] && echo 0 || echo 1)" "purge deletes the ended executions and their files: ${out//$'\n'/; } (left: ${left:-none})"
if [ "$backend" = local ]; then
        tmp=$scratch/shared-storage/t/storage/killed
        ok "$(grep -q "^1 incomplete upload(s) begun over a day ago aborted" <<<"$out" && [ ! -e "$tmp/.tern-tmp.old" ] &&
                [ -e "$tmp/.tern-tmp.now" ] && echo 0 || echo 1)" \
                "purge removes a killed put's temporary file untouched for two days, not one written now: ${out//$'\n'/; }"
fi
err=$(TERN_STATE_DIR=$scratch/cli "$TERN" execution files "$big_id" --db "$db" --storage "$url" 2>&1)
ok "$(grep -q "no execution" <<<"$err" && echo 0 || echo 1)" "the purged execution is gone: $err"

# ---- 5. [storage] retention: the executor purges by itself -----------------------------------
mkdir -p "$scratch/xr" "$scratch/wr"
TERN_STATE_DIR=$scratch/xr TERN_STORAGE_RETENTION=3s "${server_env[@]}" "$TERN" server executor --db "$db" --storage "$url" \
        >"$scratch/xr.log" 2>&1 &
pids+=($!)
TERN_STATE_DIR=$scratch/wr "${server_env[@]}" "$TERN" server worker --workers 1 --sandbox off --db "$db" --storage "$url" \
        >"$scratch/wr.log" 2>&1 &
pids+=($!)
TERN_STATE_DIR=$scratch/cli "$TERN" run "$scratch/dl.yaml" --remote --db "$db" --storage "$url" -o json --timeout PT2M \
        >"$scratch/dl2.json" 2>/dev/null
id2=$(json "$scratch/dl2.json" 'd["id"]')
had=$(keys "t/storage/wire/dl/executions/$id2/" | wc -l)
for _ in $(seq 100); do
        [ -z "$(keys "t/storage/wire/dl/executions/$id2/")" ] && break
        sleep 0.2
done
left=$(keys "t/storage/wire/dl/executions/$id2/" | tr '\n' ' ')
ok "$([ -n "$id2" ] && [ "$had" -ge 2 ] && [ -z "$left" ] && grep -q "Retention: deleted" "$scratch/xr.log" && echo 0 || echo 1)" \
        "[storage] retention = 3s: the executor deletes the ended execution's $had file(s) by itself (left: ${left:-none})"

echo "1..$n"
[ $failed = 0 ]
