#!/usr/bin/env bash
# test-namespace-files.sh BACKEND: namespace files end to end on one backend: tern namespace files
# upload|list|get|delete (traversal refused), then flows that use them: read('path'), namespaceFiles
# include/exclude on script tasks, namespace.UploadFiles, DownloadFiles and DeleteFiles (also the
# cases of Kestra's own tests of those tasks).
#   local   a directory
#   s3      radosgw, started and stopped by rgw.sh ($TERN_RGW)
#   azure   azurite, started and stopped by azurite.sh ($TERN_AZURITE)
# Skipped (saying why) only when the server cannot be started here. KEEP=1 keeps the scratch directory.
set -uo pipefail
backend=${1:?usage: test-namespace-files.sh local|s3|azure}
TERN=${TERN:?}
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }
is() { ok "$([ "$1" = "$2" ] && echo 0 || echo 1)" "$3"; [ "$1" = "$2" ] || { echo "#   got:      $1"; echo "#   expected: $2"; }; }

scratch=$(mktemp -d /tmp/tern-nsfiles.XXXXXX)
server_stop=
wrong_credentials=
cleanup() {
        [ -n "$server_stop" ] && eval "$server_stop" >/dev/null 2>&1
        [ -n "${KEEP:-}" ] && echo "# kept $scratch" || rm -rf "$scratch"
}
trap cleanup EXIT

case $backend in
local)
        url="file://$scratch/storage"
        ;;
s3)
        out=$("${TERN_RGW:?}" start "$scratch/rgw" 2>"$scratch/server.err"); rc=$?
        [ $rc = 77 ] && { echo "1..0 # SKIP $(tail -1 "$scratch/server.err")"; exit 0; }
        [ $rc = 0 ] || { echo "Bail out! radosgw did not start: $(tail -3 "$scratch/server.err" | tr '\n' ' ')"; exit 1; }
        read -r endpoint access secret dir <<<"$out"
        server_stop="'$TERN_RGW' stop '$dir'"
        export AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret
        url="s3://tern-test/nsf$$?endpoint=$endpoint&region=us-east-1"
        wrong_credentials="AWS_SECRET_ACCESS_KEY=wrong-$secret"
        ;;
azure)
        out=$("${TERN_AZURITE:?}" start "$scratch/azurite" 2>"$scratch/server.err"); rc=$?
        [ $rc = 77 ] && { echo "1..0 # SKIP $(tail -1 "$scratch/server.err")"; exit 0; }
        [ $rc = 0 ] || { echo "Bail out! azurite did not start: $(tail -3 "$scratch/server.err" | tr '\n' ' ')"; exit 1; }
        read -r endpoint account key dir sas <<<"$out"
        server_stop="'$TERN_AZURITE' stop '$dir'"
        export AZURE_STORAGE_KEY=$key
        url="azure://$account/tern-test/nsf$$?endpoint=$endpoint"
        wrong_credentials="AZURE_STORAGE_KEY=d3JvbmcgYWNjb3VudCBrZXk="
        ;;
*)
        echo "Bail out! unknown backend '$backend'"; exit 1
        ;;
esac
export TERN_STATE_DIR=$scratch/state
nsf() { "$TERN" namespace files "$@" --storage "$url"; }
json() { python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@" 2>/dev/null; }

# ---- the CLI ------------------------------------------------------------------------------------
mkdir -p "$scratch/proj/sub/deeper"
printf 'select 1;\n' >"$scratch/proj/a.sql"
printf 'select 2;\n' >"$scratch/proj/sub/b.sql"
printf 'text\n' >"$scratch/proj/sub/c.txt"
head -c 300000 /dev/urandom >"$scratch/proj/sub/deeper/blob.bin"
ln -s /etc/passwd "$scratch/proj/link.sql"
printf 'select 42 as answer' >"$scratch/query.sql"

nsf upload t.nsf "$scratch/proj" /proj >"$scratch/up.out" 2>"$scratch/up.err"; rc=$?
is "$rc $(tr '\n' ' ' <"$scratch/up.out")" "0 /proj/a.sql /proj/sub/b.sql /proj/sub/c.txt /proj/sub/deeper/blob.bin " \
        "upload a directory: every file at any depth, below the remote directory"
ok "$(grep -q "skipping.*link.sql.*symbolic link" "$scratch/up.err" && echo 0 || echo 1)" "a symbolic link is skipped, saying so"
nsf upload t.nsf "$scratch/query.sql" >/dev/null 2>&1; ok $? "upload one file to the namespace's root"

is "$(nsf list t.nsf | awk '{print $NF}' | tr '\n' ' ')" "/proj/ /query.sql " "list the root: a directory and a file"
is "$(nsf list t.nsf /proj/sub | awk '{print $1, $NF}' | tr '\n' ' ')" "10 /proj/sub/b.sql 5 /proj/sub/c.txt 0 /proj/sub/deeper/ " \
        "list a directory: sizes and paths"
is "$(nsf list t.nsf / --recursive | awk '{print $NF}' | tr '\n' ' ')" \
        "/proj/a.sql /proj/sub/b.sql /proj/sub/c.txt /proj/sub/deeper/blob.bin /query.sql " "list --recursive: every file"
is "$(nsf list t.nsf /proj -o json | python3 -c 'import json,sys; print([(f["path"], f["type"]) for f in json.load(sys.stdin)])')" \
        "[('/proj/a.sql', 'File'), ('/proj/sub', 'Directory')]" "list -o json"
is "$(nsf get t.nsf /proj/sub/b.sql)" "select 2;" "get writes a file to standard output"
nsf get t.nsf proj/sub/deeper/blob.bin -o "$scratch/blob.out"; rc=$?
ok "$([ $rc = 0 ] && cmp -s "$scratch/blob.out" "$scratch/proj/sub/deeper/blob.bin" && echo 0 || echo 1)" \
        "get -o FILE: the same bytes (300 kB, binary)"

for bad in ../../etc/passwd /proj/../../x 'proj//a.sql' 'proj/%2e%2e/x' 'proj\..\x'; do
        nsf get t.nsf "$bad" >/dev/null 2>"$scratch/bad.err"; rc=$?
        ok "$([ $rc = 1 ] && grep -q "is not a valid namespace file path" "$scratch/bad.err" && echo 0 || echo 1)" \
                "get '$bad' is refused: $(head -1 "$scratch/bad.err")"
done
nsf upload t.nsf "$scratch/query.sql" ../outside >/dev/null 2>"$scratch/bad.err"; rc=$?
ok "$([ $rc = 1 ] && grep -q "not a valid namespace file path" "$scratch/bad.err" && echo 0 || echo 1)" \
        "upload to '../outside' is refused"
nsf list 'Bad..NS' >/dev/null 2>"$scratch/bad.err"; rc=$?
ok "$([ $rc = 2 ] && grep -q "is not a namespace" "$scratch/bad.err" && echo 0 || echo 1)" "an invalid namespace is a usage error"
nsf get t.nsf /proj/none.sql >/dev/null 2>"$scratch/miss.err"; rc=$?
ok "$([ $rc = 1 ] && grep -q "no file or directory '/proj/none.sql' in namespace 't.nsf'" "$scratch/miss.err" && echo 0 || echo 1)" \
        "a missing file: $(head -1 "$scratch/miss.err")"
nsf upload t.nsf "$scratch/missing-local" >/dev/null 2>"$scratch/miss.err"; rc=$?
ok "$([ $rc = 1 ] && grep -q "cannot read '.*missing-local': No such file" "$scratch/miss.err" && echo 0 || echo 1)" \
        "a missing local file: $(head -1 "$scratch/miss.err")"
nsf delete t.nsf /proj/sub >/dev/null 2>"$scratch/del.err"; rc=$?
ok "$([ $rc = 1 ] && grep -q "not empty: --recursive" "$scratch/del.err" && echo 0 || echo 1)" \
        "delete of a non-empty directory needs --recursive"
nsf delete t.nsf /proj/sub/deeper --recursive 2>"$scratch/del.err"; rc=$?
ok "$([ $rc = 0 ] && grep -q "^1 file(s) deleted" "$scratch/del.err" && echo 0 || echo 1)" "delete --recursive: $(cat "$scratch/del.err")"
is "$(nsf list t.nsf / --recursive | awk '{print $NF}' | tr '\n' ' ')" \
        "/proj/a.sql /proj/sub/b.sql /proj/sub/c.txt /query.sql " "the directory is gone with its file, the rest stays"
"$TERN" namespace files get --help | grep -q "Usage: tern namespace files get NAMESPACE PATH"; ok $? "get --help"
"$TERN" namespace files upload >/dev/null 2>&1; is $? 2 "upload without arguments is a usage error"

if [ -n "$wrong_credentials" ]; then
        env "$wrong_credentials" "$TERN" namespace files list t.nsf --storage "$url" >/dev/null 2>"$scratch/cred.err"; rc=$?
        ok "$([ $rc = 1 ] && grep -q "cannot list '/' in namespace 't.nsf': .*403" "$scratch/cred.err" && echo 0 || echo 1)" \
                "wrong credentials: the service's refusal, said: $(head -1 "$scratch/cred.err" | cut -c1-200)"
fi

# ---- flows ----------------------------------------------------------------------------------------
run() { # run FLOW NAME: tern run it, its JSON in $scratch/NAME.json
        "$TERN" run "$1" --db "sqlite://$scratch/tern.db" --storage "$url" --sandbox off -o json \
                >"$scratch/$2.json" 2>"$scratch/$2.err"
}
logs() { "$TERN" execution logs "$(json "$scratch/$1.json" "d['id']")" --db "sqlite://$scratch/tern.db" 2>/dev/null; }
out_of() { json "$scratch/$1.json" "[t for t in d['taskRunList'] if t['taskId'] == '$2'][0]['outputs']$3"; }

cat >"$scratch/read.yaml" <<'EOF'
id: readns
namespace: t.nsf
tasks:
  - id: q
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read('query.sql') }} / {{ read('/proj/a.sql') | trim }} / {{ fileExists('proj/none.sql') }} / {{ fileURI('proj/a.sql') }}"
EOF
run "$scratch/read.yaml" read; rc=$?
is "$rc $(out_of read q "['value']")" "0 select 42 as answer / select 1; / false / kestra:///t/nsf/_files/proj/a.sql" \
        "read('query.sql') and read('/proj/a.sql') read namespace files of the flow's namespace, fileURI() names them"
cat >"$scratch/readbad.yaml" <<'EOF'
id: readbad
namespace: t.nsf
tasks:
  - id: q
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read('../../etc/passwd') }}"
EOF
run "$scratch/readbad.yaml" readbad; rc=$?
ok "$([ $rc = 1 ] && logs readbad | grep -q "not a path inside the files of namespace 't.nsf'" && echo 0 || echo 1)" \
        "read('../../etc/passwd') fails the task, saying why"

# What a script task finds in its working directory: every file, sorted, as one output.
LIST='printf "::{\"outputs\":{\"files\":\"%s\"}}::\n" "$(find . -type f | sort | tr "\n" " ")"'
cat >"$scratch/nsfiles.yaml" <<EOF
id: nsfiles
namespace: t.nsf
tasks:
  - id: sh
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    namespaceFiles:
      enabled: true
      include:
        - "**.sql"
      exclude:
        - "**/sub/**"
    commands:
      - '$LIST'
  - id: all
    type: io.kestra.plugin.scripts.shell.Script
    namespaceFiles:
      enabled: true
    inputFiles:
      query.sql: mine
    script: |
      $LIST
      printf '::{"outputs":{"query":"%s"}}::\n' "\$(cat query.sql)"
  - id: off
    type: io.kestra.plugin.scripts.shell.Commands
    namespaceFiles:
      enabled: false
    commands:
      - '$LIST'
  - id: other
    type: io.kestra.plugin.scripts.shell.Commands
    namespaceFiles:
      include: [sub/c.txt]
      namespaces: [t.nsf, t.nsf.empty]
      folderPerNamespace: true
    commands:
      - '$LIST'
EOF
run "$scratch/nsfiles.yaml" nsfiles; rc=$?
is "$rc" 0 "a flow with namespaceFiles validates and runs"
[ $rc = 0 ] || sed 's/^/# /' "$scratch/nsfiles.err" | tail -5
is "$(out_of nsfiles sh "['vars']['files']")" "./proj/a.sql ./query.sql " \
        "include **.sql, exclude **/sub/**: exactly the matching files, at their paths"
is "$(out_of nsfiles all "['vars']['files']")" "./proj/a.sql ./proj/sub/b.sql ./proj/sub/c.txt ./query.sql " \
        "enabled alone: every namespace file"
is "$(out_of nsfiles all "['vars']['query']")" "mine" "an inputFiles file of the same name wins over the namespace file"
is "$(out_of nsfiles off "['vars']['files']")" "" "enabled: false: none"
is "$(out_of nsfiles other "['vars']['files']")" "./t.nsf/proj/sub/c.txt " \
        "include without enabled, folderPerNamespace: one folder per namespace"

head -c 2097152 /dev/zero >"$scratch/big.bin"
nsf upload t.nsf.big "$scratch/big.bin" >/dev/null 2>&1
cat >"$scratch/big.yaml" <<'EOF'
id: big
namespace: t.nsf
tasks:
  - id: sh
    type: io.kestra.plugin.scripts.shell.Commands
    namespaceFiles:
      namespaces: [t.nsf.big]
    commands:
      - ls -l
EOF
TERN_WORKER_OUTPUT_MIB=1 run "$scratch/big.yaml" big; rc=$?
ok "$([ $rc = 1 ] && logs big | grep -q "namespaceFiles: the files take more than the worker's limit of 1 MiB" && echo 0 || echo 1)" \
        "namespace files count in [worker] output-mib: 2 MiB of them fail the task under a 1 MiB limit"

if command -v python3 >/dev/null; then
        cat >"$scratch/py.yaml" <<'EOF'
id: py
namespace: t.nsf
tasks:
  - id: py
    type: io.kestra.plugin.scripts.python.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    namespaceFiles:
      enabled: true
      include: [query.sql]
    commands:
      - |
        python3 -c 'import json; print("::" + json.dumps({"outputs": {"q": open("query.sql").read()}}) + "::")'
EOF
        run "$scratch/py.yaml" py; rc=$?
        is "$rc $(out_of py py "['vars']['q']")" "0 select 42 as answer" "a python.Commands task gets its namespace files too"
fi

cat >"$scratch/tasks.yaml" <<'EOF'
id: nstasks
namespace: t.nsf
tasks:
  - id: wd
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: make
        type: io.kestra.plugin.scripts.shell.Commands
        taskRunner:
          type: io.kestra.plugin.core.runner.Process
        outputFiles:
          - single.txt
        commands:
          - mkdir -p gen/deep && printf one > gen/one.txt && printf two > gen/deep/two.txt && printf no > gen/skip.log
          - printf single > single.txt
      - id: up
        type: io.kestra.plugin.core.namespace.UploadFiles
        namespace: t.nsf.other
        files:
          - "gen/**.txt"
        destination: /uploaded
  - id: upmap
    type: io.kestra.plugin.core.namespace.UploadFiles
    namespace: t.nsf.other
    filesMap:
      /renamed.txt: "{{ outputs.make.outputFiles['single.txt'] }}"
  - id: none
    type: io.kestra.plugin.core.namespace.UploadFiles
    namespace: t.nsf.other
    files: []
  - id: bylist
    type: io.kestra.plugin.core.namespace.UploadFiles
    namespace: t.nsf.other
    files:
      - "{{ outputs.make.outputFiles['single.txt'] }}"
    destination: /bylist
  - id: again
    type: io.kestra.plugin.core.namespace.UploadFiles
    namespace: t.nsf.other
    conflict: SKIP
    filesMap:
      /renamed.txt: "{{ outputs.make.outputFiles['single.txt'] }}"
  - id: down
    type: io.kestra.plugin.core.namespace.DownloadFiles
    namespace: t.nsf.other
    files:
      - "**.txt"
  - id: check
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read(outputs.down.files['/uploaded/gen/deep/two.txt']) }} {{ read(outputs.down.files['/renamed.txt']) }}"
  - id: del
    type: io.kestra.plugin.core.namespace.DeleteFiles
    namespace: t.nsf.other
    files: "**/deep/**"
    deleteParentFolder: true
EOF
run "$scratch/tasks.yaml" tasks; rc=$?
is "$rc" 0 "a flow with UploadFiles, DownloadFiles and DeleteFiles succeeds"
[ $rc = 0 ] || logs tasks | grep ERROR | sed 's/^/# /'
is "$(json "$scratch/tasks.json" "sorted([t for t in d['taskRunList'] if t['taskId'] == 'down'][0]['outputs']['files'])")" \
        "['/bylist/single.txt', '/renamed.txt', '/uploaded/gen/deep/two.txt', '/uploaded/gen/one.txt']" \
        "DownloadFiles outputs files: a URI per matching namespace file, keyed by path"
is "$(out_of tasks check "['value']")" "two single" "the downloaded files read back through their URIs"
"$TERN" execution show "$(json "$scratch/tasks.json" "d['id']")" --db "sqlite://$scratch/tern.db" -o json >"$scratch/show.json" 2>/dev/null
is "$(json "$scratch/show.json" "sorted((m['name'], m['value']) for m in d['metrics'])")" \
        "[('deleted', 1.0), ('downloaded', 4.0)]" "metrics: downloaded 4, deleted 1"
is "$(nsf list t.nsf.other / --recursive | awk '{print $NF}' | tr '\n' ' ')" "/bylist/single.txt /renamed.txt /uploaded/gen/one.txt " \
        "UploadFiles (patterns, a URI in files, filesMap) then DeleteFiles leave exactly these"
is "$(nsf list t.nsf.other /uploaded/gen | awk '{print $NF}' | tr '\n' ' ')" "/uploaded/gen/one.txt " \
        "deleteParentFolder: the emptied directory went too"

cat >"$scratch/conflict.yaml" <<'EOF'
id: conflict
namespace: t.nsf
tasks:
  - id: write
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    outputFiles: [x.txt]
    commands:
      - printf x > x.txt
  - id: up
    type: io.kestra.plugin.core.namespace.UploadFiles
    namespace: t.nsf.other
    conflict: ERROR
    filesMap:
      renamed.txt: "{{ outputs.write.outputFiles['x.txt'] }}"
EOF
run "$scratch/conflict.yaml" conflict; rc=$?
ok "$([ $rc = 1 ] && logs conflict | grep -q "File '/renamed.txt' already exists in namespace 't.nsf.other'" && echo 0 || echo 1)" \
        "conflict: ERROR fails on an existing file"
is "$(nsf get t.nsf.other renamed.txt)" "single" "and leaves it as it was"

# ---- Kestra's own test cases ---------------------------------------------------------------------
# The cases of Kestra's unit tests (core/src/test/java/io/kestra/plugin/core/namespace/
# UploadFilesTest, DownloadFilesTest, DeleteFilesTest): their files and patterns, the counts and
# contents they assert, each in a namespace of its own; the files they put are put with the CLI.
# kc_upload NAME NS CONFLICT TEXT: UploadFiles of a file holding TEXT as /path/file.txt below /folder
kc_upload() {
        cat >"$scratch/$1.yaml" <<EOF
id: $1
namespace: t.kc
tasks:
  - id: make
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    outputFiles: [f.txt]
    commands:
      - printf '$4' > f.txt
  - id: up
    type: io.kestra.plugin.core.namespace.UploadFiles
    namespace: t.kc.$2
    ${3:+conflict: $3}
    filesMap:
      /path/file.txt: "{{ outputs.make.outputFiles['f.txt'] }}"
    destination: /folder
EOF
        run "$scratch/$1.yaml" "$1"
}
kc_upload kc_up1 overwrite "" first; kc_upload kc_up2 overwrite "" second; rc=$?
is "$rc $(nsf list t.kc.overwrite / --recursive | awk '{print $NF}' | tr '\n' ' ')$(nsf get t.kc.overwrite /folder/path/file.txt)" \
        "0 /folder/path/file.txt second" "UploadFilesTest: the default conflict (OVERWRITE) replaces the file, one file in all"
kc_upload kc_skip1 skip SKIP first; kc_upload kc_skip2 skip SKIP second; rc=$?
is "$rc $(nsf list t.kc.skip / --recursive | awk '{print $NF}' | tr '\n' ' ')$(nsf get t.kc.skip /folder/path/file.txt)" \
        "0 /folder/path/file.txt first" "UploadFilesTest: conflict SKIP keeps the file there, one file in all"
kc_upload kc_err1 error ERROR first; kc_upload kc_err2 error ERROR second; rc=$?
is "$rc $(nsf list t.kc.error / --recursive | awk '{print $NF}' | tr '\n' ' ')$(nsf get t.kc.error /folder/path/file.txt)" \
        "1 /folder/path/file.txt first" "UploadFilesTest: conflict ERROR fails the second upload, one file in all"
cat >"$scratch/kc_glob.yaml" <<'EOF'
id: kc_glob
namespace: t.kc
tasks:
  - id: wd
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: make
        type: io.kestra.plugin.scripts.shell.Commands
        taskRunner:
          type: io.kestra.plugin.core.runner.Process
        commands:
          - touch application-test.yml other.yml
      - id: up
        type: io.kestra.plugin.core.namespace.UploadFiles
        namespace: t.kc.glob
        files: ["glob:**application**"]
        conflict: SKIP
        destination: /folder/
EOF
run "$scratch/kc_glob.yaml" kc_glob; rc=$?
is "$rc $(nsf list t.kc.glob / --recursive | awk '{print $NF}' | tr '\n' ' ')" "0 /folder/application-test.yml " \
        "UploadFilesTest: files [glob:**application**] from the working directory, one file"

# The files DownloadFilesTest and DeleteFilesTest put, each case in a namespace of its own.
mkdir -p "$scratch/kc/ab/a/b" "$scratch/kc/one/folder" "$scratch/kc/two/folder"
printf 1 >"$scratch/kc/ab/a/b/test1.txt"
printf 2 >"$scratch/kc/ab/a/b/test2.txt"
printf content >"$scratch/kc/one/folder/file.txt"
printf content1 >"$scratch/kc/two/folder/file1.txt"
printf content2 >"$scratch/kc/two/folder/file2.txt"
for ns in dl del1; do nsf upload "t.kc.$ns" "$scratch/kc/ab/a" /a >/dev/null 2>&1; done
for ns in del2 del3; do nsf upload "t.kc.$ns" "$scratch/kc/one/folder" /folder >/dev/null 2>&1; done
nsf upload t.kc.del4 "$scratch/kc/two/folder" /folder >/dev/null 2>&1
cat >"$scratch/kc_files.yaml" <<'EOF'
id: kc_files
namespace: t.kc
tasks:
  - id: download
    type: io.kestra.plugin.core.namespace.DownloadFiles
    namespace: t.kc.dl
    files: ["**test1.txt"]
  - id: delete_match
    type: io.kestra.plugin.core.namespace.DeleteFiles
    namespace: t.kc.del1
    files: ["**test1*"]
  - id: delete_parent
    type: io.kestra.plugin.core.namespace.DeleteFiles
    namespace: t.kc.del2
    files: ["**/file.txt"]
    deleteParentFolder: true
  - id: keep_parent
    type: io.kestra.plugin.core.namespace.DeleteFiles
    namespace: t.kc.del3
    files: ["**/file.txt"]
    deleteParentFolder: false
  - id: parent_not_empty
    type: io.kestra.plugin.core.namespace.DeleteFiles
    namespace: t.kc.del4
    files: ["**/file1.txt"]
    deleteParentFolder: true
EOF
run "$scratch/kc_files.yaml" kc_files; rc=$?
is "$rc $(out_of kc_files download "['files'].keys()" | tr -d "'")" "0 dict_keys([/a/b/test1.txt])" \
        "DownloadFilesTest: **test1.txt downloads /a/b/test1.txt alone"
is "$(nsf list t.kc.del1 /a/b | awk '{print $NF}' | tr '\n' ' ')" "/a/b/test2.txt " \
        "DeleteFilesTest.shouldDeleteNamespaceFilesForMatchingExpression: one of the two left"
is "$(nsf list t.kc.del2 / | awk '{print $NF}' | tr '\n' ' ')" "" \
        "DeleteFilesTest.shouldDeleteParentFolder: the file and its folder are gone"
is "$(nsf list t.kc.del3 /folder | awk '{print $NF}' | tr '\n' ' ')|$(nsf list t.kc.del3 / | awk '{print $NF}' | tr '\n' ' ')" "|/folder/ " \
        "DeleteFilesTest.shouldNotDeleteParentFolderWhenFlagIsFalse: the file is gone, its folder stays"
is "$(nsf list t.kc.del4 /folder | awk '{print $NF}' | tr '\n' ' ')|$(nsf list t.kc.del4 / | awk '{print $NF}' | tr '\n' ' ')" \
        "/folder/file2.txt |/folder/ " "DeleteFilesTest.shouldNotDeleteParentFolderWhenMultipleFilesExist: one file and the folder stay"

echo "1..$n"
[ $failed = 0 ]
