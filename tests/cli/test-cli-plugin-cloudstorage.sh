#!/usr/bin/env bash
# test-cli-plugin-cloudstorage: the shipped cloudstorage plugin (plugins/cloudstorage, a native plugin over
# lib/storage) end to end with 'tern run' against a real server: BACKEND s3 (Kestra's aws.s3 tasks on
# radosgw), azure (azure.storage.blob on azurite) or gcs-hmac (gcp.gcs with HMAC keys on radosgw, GCS's XML
# API): files uploaded from and downloaded into internal storage, listed, copied and deleted, and the
# service's refusals (a wrong secret, a missing bucket, a missing object) as the task's error (TAP).
set -u
: "${TERN:?}" "${TERN_SOURCE_ROOT:?}" "${TERN_PLUGIN_CLOUDSTORAGE:?}" "${TERN_RGW:?}" "${TERN_AZURITE:?}"
backend=${1:?usage: test-cli-plugin-cloudstorage.sh s3|azure|gcs-hmac}

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed (it checks the runs' JSON)"; exit 0; }

dir=$(mktemp -d /tmp/tern-cli-cloudstorage.XXXXXX)
chmod 755 "$dir"
server_stop=
cleanup() {
        [ -n "$server_stop" ] && eval "$server_stop" >/dev/null 2>&1
        rm -rf "$dir"
}
trap cleanup EXIT
export TERN_STATE_DIR=$dir/state
unset TERN_PLUGINS_PATH TERN_CONFIG AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE \
        GCS_HMAC_ACCESS_KEY GCS_HMAC_SECRET GOOGLE_APPLICATION_CREDENTIALS AZURE_STORAGE_KEY AZURE_STORAGE_SAS_TOKEN \
        CREDENTIALS_DIRECTORY

mkdir -p "$dir/plugins/cloudstorage"
cp "$TERN_SOURCE_ROOT/plugins/cloudstorage/plugin.yaml" "$TERN_PLUGIN_CLOUDSTORAGE" "$dir/plugins/cloudstorage/"
chmod -R a+rX "$dir/plugins"

n=0 failed=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi; }
has() { grep -qF -- "$2" "$1"; }

# ---- without a server: the descriptor, validation, refusals before any request -------------------
case $backend in
s3)
        "$TERN" plugins doc io.kestra.plugin.aws.s3.List --plugins-path "$dir/plugins" >"$dir/doc.txt" 2>&1
        has "$dir/doc.txt" "endpointOverride" && has "$dir/doc.txt" "one of: FILES, DIRECTORY, BOTH" && has "$dir/doc.txt" "objects"
        ok $? "plugins doc: S3 List's properties and outputs ($(head -c 200 "$dir/doc.txt" | tr '\n' ' '))"
        "$TERN" plugins list --plugins-path "$dir/plugins" >"$dir/list.txt" 2>&1
        has "$dir/list.txt" "io.kestra.plugin.azure.storage.blob.Download" && has "$dir/list.txt" "io.kestra.plugin.gcp.gcs.Delete" &&
                has "$dir/list.txt" "io.kestra.plugin.aws.s3.DeleteList"
        ok $? "plugins list: the S3, Azure Blob and GCS types ($(grep -c cloudstorage "$dir/list.txt") types)"
        cat >"$dir/bad.yaml" <<'YAML'
id: bad
namespace: test.cloud
tasks:
  - id: up
    type: io.kestra.plugin.aws.s3.Upload
    bucket: b
    from: kestra:///x.csv
    forcePathStyle: sometimes
  - id: ls
    type: io.kestra.plugin.gcp.gcs.List
    from: gs://b/
    listingType: FLAT
YAML
        "$TERN" flow validate --plugins-path "$dir/plugins" "$dir/bad.yaml" >"$dir/bad.txt" 2>&1
        [ $? -ne 0 ] && has "$dir/bad.txt" "bad.yaml:4:" && has "$dir/bad.txt" "'key'" && has "$dir/bad.txt" "bad.yaml:8:21:" &&
                has "$dir/bad.txt" "bad.yaml:12:18: 'listingType' of task 'ls': invalid value 'FLAT', expected one of: DIRECTORY, RECURSIVE"
        ok $? "flow validate: a missing key, a bad boolean and a bad enum are file:line:col errors ($(tr '\n' ' ' <"$dir/bad.txt"))"
        ;;
esac

# ---- the server ---------------------------------------------------------------------------------
case $backend in
s3|gcs-hmac)
        out=$("$TERN_RGW" start "$dir/rgw" 2>"$dir/server.err"); rc=$?
        [ $rc = 77 ] && { echo "ok $((n + 1)) - # SKIP $(tail -1 "$dir/server.err")"; echo "1..$((n + 1))"; exit $failed; }
        [ $rc = 0 ] || { echo "Bail out! radosgw did not start: $(tail -3 "$dir/server.err" | tr '\n' ' ')"; exit 1; }
        read -r endpoint access secret sdir <<<"$out"
        server_stop="'$TERN_RGW' stop '$sdir'"
        ;;
azure)
        out=$("$TERN_AZURITE" start "$dir/azurite" 2>"$dir/server.err"); rc=$?
        [ $rc = 77 ] && { echo "ok $((n + 1)) - # SKIP $(tail -1 "$dir/server.err")"; echo "1..$((n + 1))"; exit $failed; }
        [ $rc = 0 ] || { echo "Bail out! azurite did not start: $(tail -3 "$dir/server.err" | tr '\n' ' ')"; exit 1; }
        read -r endpoint access secret sdir sas <<<"$out"
        server_stop="'$TERN_AZURITE' stop '$sdir'"
        ;;
*)
        echo "Bail out! unknown backend '$backend'"; exit 1
        ;;
esac

# Every task names its bucket and its object as Kestra's would; the connection is given by each
# task's properties (from inputs, as secrets would be).
case $backend in
s3)
        conn='endpointOverride: "{{ inputs.endpoint }}"
    accessKeyId: "{{ inputs.access }}"
    secretKeyId: "{{ inputs.secret }}"
    forcePathStyle: true'
        bad='endpointOverride: "{{ inputs.endpoint }}"
    accessKeyId: "{{ inputs.access }}"
    secretKeyId: not-the-secret'
        up() { printf 'type: io.kestra.plugin.aws.s3.Upload\n    bucket: tern-test\n    key: %s\n' "$1"; }
        down() { printf 'type: io.kestra.plugin.aws.s3.Download\n    bucket: %s\n    key: %s\n' "$1" "$2"; }
        list() { printf 'type: io.kestra.plugin.aws.s3.List\n    bucket: %s\n    prefix: %s\n' "$1" "$2"; }
        del() { printf 'type: io.kestra.plugin.aws.s3.Delete\n    bucket: tern-test\n    key: %s\n' "$1"; }
        ;;
gcs-hmac)
        conn='endpoint: "{{ inputs.endpoint }}"
    hmacAccessKey: "{{ inputs.access }}"
    hmacSecret: "{{ inputs.secret }}"'
        bad='endpoint: "{{ inputs.endpoint }}"
    hmacAccessKey: "{{ inputs.access }}"
    hmacSecret: not-the-secret'
        up() { printf 'type: io.kestra.plugin.gcp.gcs.Upload\n    to: gs://tern-test/%s\n' "$1"; }
        down() { printf 'type: io.kestra.plugin.gcp.gcs.Download\n    from: gs://%s/%s\n' "$1" "$2"; }
        list() { printf 'type: io.kestra.plugin.gcp.gcs.List\n    from: gs://%s/%s\n    listingType: RECURSIVE\n' "$1" "$2"; }
        del() { printf 'type: io.kestra.plugin.gcp.gcs.Delete\n    uri: gs://tern-test/%s\n' "$1"; }
        ;;
azure)
        conn='endpoint: "{{ inputs.endpoint }}"
    sharedKeyAccountName: "{{ inputs.access }}"
    sharedKeyAccountAccessKey: "{{ inputs.secret }}"'
        bad='endpoint: "{{ inputs.endpoint }}"
    sharedKeyAccountName: "{{ inputs.access }}"
    sharedKeyAccountAccessKey: bm90LXRoZS1rZXk='
        up() { printf 'type: io.kestra.plugin.azure.storage.blob.Upload\n    container: tern-test\n    name: %s\n' "$1"; }
        down() { printf 'type: io.kestra.plugin.azure.storage.blob.Download\n    container: %s\n    name: %s\n' "$1" "$2"; }
        list() { printf 'type: io.kestra.plugin.azure.storage.blob.List\n    container: %s\n    prefix: %s\n' "$1" "$2"; }
        del() { printf 'type: io.kestra.plugin.azure.storage.blob.Delete\n    container: tern-test\n    name: %s\n' "$1"; }
        ;;
esac

cat >"$dir/flow.yaml" <<YAML
id: cloud
namespace: test.cloud
inputs:
  - {id: data, type: FILE}
  - {id: endpoint, type: STRING}
  - {id: access, type: STRING}
  - {id: secret, type: STRING}
tasks:
  - id: up
    $(up run/data.csv)
    from: "{{ inputs.data }}"
    $conn
  - id: up2
    $(up run/sub/more.csv)
    from: "{{ inputs.data }}"
    $conn
  - id: up3
    $(up other/x.csv)
    from: "{{ inputs.data }}"
    $conn
  - id: list
    $(list tern-test run/)
    $conn
  - id: list_re
    $(list tern-test run)
    $( [ "$backend" = gcs-hmac ] && echo regExp || echo regexp ): ".*/more\\\\.csv"
    $conn
  - id: down
    $(down tern-test run/data.csv)
    $conn
  - id: del
    $(del run/data.csv)
    $conn
  - id: list_after
    $(list tern-test run/)
    $conn
  - id: missing
    $(down tern-test run/nope.csv)
    $conn
    allowFailure: true
  - id: badkey
    $(list tern-test run/)
    $bad
    allowFailure: true
  - id: nobucket
    $(down no-such-bucket run/data.csv)
    $conn
    allowFailure: true
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "{{ read(outputs.down.uri ?? outputs.down.blob.uri) | toJson }}"
YAML
# What each backend adds: S3's Copy and DeleteList, GCS's directory listing and errorOnMissing,
# Azure's connection string and SAS token.
case $backend in
s3)
        cat >>"$dir/flow.yaml" <<YAML
  - id: copy
    type: io.kestra.plugin.aws.s3.Copy
    from: {bucket: tern-test, key: run/sub/more.csv}
    to: {key: copied/more.csv}
    delete: true
    $conn
  - id: down_copy
    $(down tern-test copied/more.csv)
    $conn
  - id: purge
    type: io.kestra.plugin.aws.s3.DeleteList
    bucket: tern-test
    prefix: ""
    $conn
  - id: list_end
    $(list tern-test "")
    $conn
  - id: nocreds
    $(list tern-test "")
    endpointOverride: "{{ inputs.endpoint }}"
    allowFailure: true
  - id: purge_empty
    type: io.kestra.plugin.aws.s3.DeleteList
    bucket: tern-test
    prefix: run/
    errorOnEmpty: true
    $conn
    allowFailure: true
YAML
        ;;
gcs-hmac)
        cat >>"$dir/flow.yaml" <<YAML
  - id: list_dir
    type: io.kestra.plugin.gcp.gcs.List
    from: gs://tern-test/
    $conn
  - id: del_again
    $(del run/data.csv)
    errorOnMissing: true
    $conn
    allowFailure: true
  - id: badaccount
    $(list tern-test run/)
    serviceAccount: "{\"type\": \"service_account\"}"
    allowFailure: true
  - id: badregexp
    $(list tern-test run/)
    regExp: "(unclosed"
    $conn
    allowFailure: true
YAML
        ;;
azure)
        cat >>"$dir/flow.yaml" <<YAML
  - id: conn_string
    $(list tern-test run/)
    connectionString: "DefaultEndpointsProtocol=http;AccountName={{ inputs.access }};AccountKey={{ inputs.secret }};BlobEndpoint={{ inputs.endpoint }}"
  - id: sas
    $(down tern-test run/sub/more.csv)
    endpoint: "{{ inputs.endpoint }}"
    sasToken: "{{ inputs.sas }}"
  - id: nokey
    $(list tern-test run/)
    endpoint: "{{ inputs.endpoint }}"
    allowFailure: true
YAML
        sed -i 's/^  - {id: secret, type: STRING}$/&\n  - {id: sas, type: STRING}/' "$dir/flow.yaml"
        ;;
esac

printf 'id,name\n1,"a, b"\n' >"$dir/data.csv"
args=(-i "data=@$dir/data.csv" -i "endpoint=$endpoint" -i "access=$access" -i "secret=$secret")
[ "$backend" = azure ] && args+=(-i "sas=$sas")
# The worker's own credentials in its environment: a task that gives none must not get them.
[ "$backend" = s3 ] && export AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret
(cd "$dir" && "$TERN" run "$dir/flow.yaml" --plugins-path "$dir/plugins" -q -o json --include-logs "${args[@]}" \
        >"$dir/run.json" 2>"$dir/run.err")

python3 - "$dir" "$n" "$backend" "$access" <<'PY'
import json, sys
d, n, backend, account = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
failed = 0
def ok(cond, name):
    global n, failed
    n += 1
    failed += not cond
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, name.replace("\n", " ")))
try:
    run = json.load(open(d + "/run.json"))
except ValueError:
    run = {}
tasks = {t["taskId"]: t for t in run.get("taskRunList", [])}
state = lambda t: tasks.get(t, {}).get("state", {}).get("current")
outs = lambda t: tasks.get(t, {}).get("outputs") or {}
logs = lambda t: " | ".join(l["message"] for l in run.get("logs", []) if l.get("taskId") == t)
errs = open(d + "/run.err").read()[-600:]
s3, az, gcs = backend == "s3", backend == "azure", backend == "gcs-hmac"
objs = lambda t: outs(t).get("objects" if s3 else "blobs") or []
names = lambda t: [o.get("key" if s3 else "name") for o in objs(t)]
content = 'id,name\n1,"a, b"\n'

up = outs("up")
if s3:
    good = up.get("bucket") == "tern-test" and up.get("key") == "run/data.csv" and len(up.get("eTag", "")) > 0
elif az:
    good = up.get("blob", {}).get("name") == "run/data.csv" and up["blob"].get("size") == len(content) and \
        up["blob"].get("uri", "").endswith("/tern-test/run/data.csv")
else:
    good = up.get("uri") == "gs://tern-test/run/data.csv"
ok(state("up") == "SUCCESS" and good, "Upload: a FILE input stored as run/data.csv, Kestra's outputs (%r %s %s)"
   % (up, logs("up"), errs))
ok(names("list") == ["run/data.csv", "run/sub/more.csv"] and all(o.get("size") == len(content) for o in objs("list")),
   "List: every object below the prefix, with sizes (%r %s)" % (objs("list"), logs("list")))
first = objs("list")[0] if objs("list") else {}
want_uri = {"s3": "s3://tern-test/run/data.csv", "gcs-hmac": "gs://tern-test/run/data.csv"}.get(backend)
ok((first.get("uri") == want_uri if want_uri else first.get("uri", "").endswith("/%s/tern-test/run/data.csv" % account))
   and first.get("lastModified" if not gcs else "updateTime", "").startswith("20"),
   "List: each object's URI and time (%r)" % first)
ok(names("list_re") == ["run/sub/more.csv"], "List: a prefix that is not a directory, and a regexp on the whole key (%r %s)"
   % (names("list_re"), logs("list_re")))
down = outs("down")
uri = down.get("uri") or down.get("blob", {}).get("uri", "")
shown = [l["message"] for l in run.get("logs", []) if l.get("taskId") == "show"]
ok(state("down") == "SUCCESS" and uri.startswith("kestra:///") and uri.endswith("/data.csv") and shown == [json.dumps(content)]
   and (down.get("contentLength") == len(content) if s3 else True) and (down.get("path") == "run/data.csv" if gcs else True),
   "Download: the object into internal storage, its kestra:/// URI readable by the next task (%r %r %s)"
   % (down, shown, logs("down")))
ok(state("del") == "SUCCESS" and names("list_after") == ["run/sub/more.csv"]
   and (outs("del").get("deleted") is True if gcs else True)
   and (outs("del").get("blob", {}).get("name") == "run/data.csv" if az else True),
   "Delete: the object is gone from the next listing (%r %r %s)" % (outs("del"), names("list_after"), logs("del")))
m = logs("missing")
ok(state("missing") == "FAILED" and "'run/nope.csv'" in m and "'tern-test'" in m and "404" in m,
   "Download of a missing object fails, naming the object, the bucket and the service's answer (%s)" % m)
m = logs("badkey")
# Azure answers AuthenticationFailed, azurite AuthorizationFailure.
code = {"s3": "SignatureDoesNotMatch", "gcs-hmac": "SignatureDoesNotMatch", "azure": "AuthorizationFailure"}[backend]
ok(state("badkey") == "FAILED" and "403" in m and (code in m or (az and "AuthenticationFailed" in m)) and "'tern-test'" in m,
   "a wrong secret fails with the service's 403 and its code %s (%s)" % (code, m))
m = logs("nobucket")
code = {"s3": "NoSuchBucket", "gcs-hmac": "NoSuchBucket", "azure": "ContainerNotFound"}[backend]
ok(state("nobucket") == "FAILED" and "'no-such-bucket'" in m and code in m,
   "a missing bucket fails, naming it, with the service's code %s (%s)" % (code, m))
if s3:
    ok(state("copy") == "SUCCESS" and outs("copy").get("key") == "copied/more.csv" and outs("down_copy").get("contentLength") == len(content),
       "Copy with delete: the object moved to another key (%r %r %s)" % (outs("copy"), outs("down_copy"), logs("copy")))
    ok(outs("purge").get("count") == 2 and outs("purge").get("size") == 2 * len(content) and names("list_end") == [],
       "DeleteList: every object of the prefix deleted, counted and sized (%r %r %s)" % (outs("purge"), names("list_end"), logs("purge")))
    m = logs("nocreds")
    ok(state("nocreds") == "FAILED" and "'accessKeyId' and 'secretKeyId' are required" in m,
       "no credentials given: refused, though the worker's environment has AWS keys (%s)" % m)
    m = logs("purge_empty")
    ok(state("purge_empty") == "FAILED" and "no object of bucket 'tern-test' matched prefix 'run/'" in m,
       "DeleteList errorOnEmpty: nothing to delete fails (%s)" % m)
if gcs:
    ok(names("list_dir") == ["other/", "run/"] and [o.get("isDirectory") for o in objs("list_dir")] == [True, True],
       "List DIRECTORY (the default): the directory's children, subdirectories once each (%r %s)" % (objs("list_dir"), logs("list_dir")))
    m = logs("del_again")
    ok(state("del_again") == "FAILED" and "no such object" in m and "'run/data.csv'" in m,
       "Delete errorOnMissing: a missing object fails (%s)" % m)
    m = logs("badaccount")
    ok(state("badaccount") == "FAILED" and "the service account key: 'serviceAccount': not a service account key" in m
   and "'tern-test'" in m,
       "a service account key that is not one is refused before any request (%s)" % m)
    m = logs("badregexp")
    ok(state("badregexp") == "FAILED" and "'regExp': '(unclosed' is not a regular expression" in m,
       "a regExp that is not one fails, naming the property (%s)" % m)
if az:
    ok(state("conn_string") == "SUCCESS" and names("conn_string") == ["run/sub/more.csv"],
       "connectionString: AccountName, AccountKey and BlobEndpoint (%r %s)" % (names("conn_string"), logs("conn_string")))
    ok(state("sas") == "SUCCESS" and outs("sas").get("blob", {}).get("uri", "").startswith("kestra:///"),
       "sasToken: a download with an account SAS (%r %s)" % (outs("sas"), logs("sas")))
    m = logs("nokey")
    ok(state("nokey") == "FAILED" and "no credentials" in m and "does not lend" in m,
       "no credentials: refused, the worker's own never used (%s)" % m)
print("# " + errs.replace("\n", " ")[-300:])
open(d + "/count", "w").write(str(n))
sys.exit(1 if failed else 0)
PY
[ $? -eq 0 ] || failed=1
n=$(cat "$dir/count" 2>/dev/null || echo $((n + 1)))

# GCS's service-account path, which no server here serves: a stand-in that checks each request's
# GOOG4-RSA-SHA256 signature with the key's public half, as Google documents it, and serves one object.
# It shows that serviceAccount reaches the signer and that the requests verify; not that Google takes them.
if [ "$backend" = gcs-hmac ]; then
        if ! command -v openssl >/dev/null || ! python3 -c 'import cryptography' 2>/dev/null; then
                n=$((n + 1)); echo "ok $n - # SKIP openssl and python3-cryptography are needed for the service-account check"
        else
                for k in key other; do
                        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/$k.pem" 2>/dev/null
                        python3 -c 'import json, sys
print(json.dumps({"type": "service_account", "project_id": "p", "client_email": "tern-test@p.iam.gserviceaccount.com",
                  "private_key": open(sys.argv[1]).read()}))' "$dir/$k.pem" >"$dir/$k.json"
                done
                openssl pkey -in "$dir/key.pem" -pubout -out "$dir/pub.pem"
                python3 "$TERN_SOURCE_ROOT/tests/cli/gcs-signature-server.py" "$dir/pub.pem" "$dir/sig.port" "$dir/sig.log" 2>"$dir/sig.err" &
                sig_pid=$!
                server_stop="${server_stop:+$server_stop; }kill $sig_pid"
                for _ in $(seq 100); do [ -s "$dir/sig.port" ] && break; kill -0 $sig_pid 2>/dev/null || break; sleep 0.05; done
                cat >"$dir/sa.yaml" <<'YAML'
id: sa
namespace: test.cloud
inputs:
  - {id: endpoint, type: STRING}
  - {id: key, type: STRING}
  - {id: other, type: STRING}
tasks:
  - id: down
    type: io.kestra.plugin.gcp.gcs.Download
    from: gs://tern-test/run/data.csv
    endpoint: "{{ inputs.endpoint }}"
    serviceAccount: "{{ inputs.key }}"
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "{{ read(outputs.down.uri) | toJson }}"
  - id: wrong
    type: io.kestra.plugin.gcp.gcs.Download
    from: gs://tern-test/run/data.csv
    endpoint: "{{ inputs.endpoint }}"
    serviceAccount: "{{ inputs.other }}"
    allowFailure: true
YAML
                (cd "$dir" && "$TERN" run "$dir/sa.yaml" --plugins-path "$dir/plugins" -q -o json --include-logs \
                        -i "endpoint=http://127.0.0.1:$(cat "$dir/sig.port" 2>/dev/null)" -i "key=$(cat "$dir/key.json")" \
                        -i "other=$(cat "$dir/other.json")" >"$dir/sa.json" 2>"$dir/sa.err")
                python3 - "$dir" <<'PY' >"$dir/sa.txt" 2>&1
import json, sys
d = sys.argv[1]
try:
    run = json.load(open(d + "/sa.json"))
except ValueError:
    run = {}
state = {t["taskId"]: t["state"]["current"] for t in run.get("taskRunList", [])}
logs = lambda t: " | ".join(l["message"] for l in run.get("logs", []) if l.get("taskId") == t)
seen = open(d + "/sig.log").read().splitlines() if __import__("os").path.exists(d + "/sig.log") else []
good = [l for l in seen if l.endswith(" ok tern-test@p.iam.gserviceaccount.com")]
print("states %r, server saw %r, show %r, wrong %r" % (state, seen, logs("show"), logs("wrong")))
sys.exit(0 if state.get("down") == "SUCCESS" and logs("show") == json.dumps('id,name\n1,"a, b"\n')
         and any(l.startswith("GET /tern-test/run/data.csv ") for l in good)
         and state.get("wrong") == "FAILED" and "HTTP 403" in logs("wrong") else 1)
PY
                ok $? "serviceAccount: requests signed GOOG4-RSA-SHA256 with the key verify, another key's are refused ($(head -c 600 "$dir/sa.txt"))"
        fi
fi
echo "1..$n"
exit $failed
