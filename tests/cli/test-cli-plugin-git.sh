#!/usr/bin/env bash
# test-cli-plugin-git: the shipped git plugin (plugins/git, an exec plugin) end to end with 'tern run': Kestra's
# Clone and Push against a bare repository served over HTTP with basic auth on loopback (git http-backend behind
# a small Python CGI server) and over file://; a wrong password, a missing branch and a wrong URL fail the task
# with git's message and without the password (TAP).
set -u
: "${TERN:?}" "${TERN_SOURCE_ROOT:?}"

command -v git >/dev/null || { echo "1..0 # SKIP git is needed (the plugin runs it)"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed (the plugin is in Python)"; exit 0; }
backend=$(git --exec-path)/git-http-backend
[ -x "$backend" ] || { echo "1..0 # SKIP git-http-backend is missing"; exit 0; }

dir=$(mktemp -d /tmp/tern-cli-git.XXXXXX)
chmod 755 "$dir"
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$dir"' EXIT
export TERN_STATE_DIR=$dir/state
unset TERN_PLUGINS_PATH TERN_CONFIG
cp -r "$TERN_SOURCE_ROOT/plugins/git" "$dir/"
chmod -R a+rX "$dir/git"
export GIT_CONFIG_NOSYSTEM=1 HOME=$dir/home GIT_AUTHOR_NAME=setup GIT_AUTHOR_EMAIL=setup@test \
        GIT_COMMITTER_NAME=setup GIT_COMMITTER_EMAIL=setup@test
mkdir -p "$HOME"

# The repositories: main with two commits (a depth-1 clone has one), feature with a file of its own. Both
# belong to this user and are writable by all: the tasks run as another (the plugin trusts the repository
# its url names: safe.directory).
mkdir -p "$dir/srv" "$dir/work"
(cd "$dir/work" && git init -q -b main && echo "hello" >README.md && git add . && git commit -qm one && git tag v1 &&
        echo "data" >data.txt && git add . && git commit -qm two &&
        git checkout -qb feature && echo "feature file" >feature.txt && git add . && git commit -qm three &&
        git checkout -q main) || { echo "Bail out! cannot make the test repository"; exit 1; }
git clone -q --bare "$dir/work" "$dir/srv/http.git" && git clone -q --bare "$dir/work" "$dir/srv/file.git" &&
        git --git-dir="$dir/srv/http.git" config http.receivepack true &&
        chmod -R a+rwX "$dir/srv" ||
        { echo "Bail out! cannot make the bare repositories"; exit 1; }

# git http-backend as a CGI behind basic auth (alice, s3cr3t-Pw; bob, Inl1ne-Pw): Python's http.server has no CGI handler to
# rely on (3.13 removed it), so the few lines of CGI are here.
cat >"$dir/server.py" <<'PY'
import base64, http.server, os, subprocess, sys
backend, root, portfile = sys.argv[1:4]
class H(http.server.BaseHTTPRequestHandler):
    def serve(self):
        if self.headers.get("Authorization") not in ["Basic " + base64.b64encode(u).decode() for u in (b"alice:s3cr3t-Pw", b"bob:Inl1ne-Pw")]:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = dict(os.environ, GIT_PROJECT_ROOT=root, GIT_HTTP_EXPORT_ALL="1", REQUEST_METHOD=self.command,
                   PATH_INFO=path, QUERY_STRING=query, CONTENT_TYPE=self.headers.get("Content-Type", ""),
                   CONTENT_LENGTH=str(len(body)), REMOTE_USER="alice", REMOTE_ADDR="127.0.0.1",
                   HTTP_CONTENT_ENCODING=self.headers.get("Content-Encoding", ""), GIT_PROTOCOL=self.headers.get("Git-Protocol", ""))
        out = subprocess.run([backend], input=body, env=env, capture_output=True).stdout
        head, _, rest = out.partition(b"\r\n\r\n")
        headers = [l.split(":", 1) for l in head.decode().split("\r\n") if ":" in l]
        status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
        self.send_response(status)
        for k, v in headers:
            if k.lower() != "status":
                self.send_header(k, v.strip())
        self.send_header("Content-Length", str(len(rest)))
        self.end_headers()
        self.wfile.write(rest)
    do_GET = do_POST = serve
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(portfile, "w").write(str(s.server_address[1]))
s.serve_forever()
PY
python3 "$dir/server.py" "$backend" "$dir/srv" "$dir/port" &
server=$!
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
port=$(cat "$dir/port")
http=http://127.0.0.1:$port/http.git

n=0 failed=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi; }
run() { # FLOW: runs it, its result in FLOW.json
        (cd "$dir" && SECRET_GITPW=$(printf 's3cr3t-Pw' | base64 -w0) SECRET_WRONGPW=$(printf 'Wr0ng-Pw-X' | base64 -w0) \
                "$TERN" run "$dir/$1.yaml" --plugins-path "$dir/git" --sandbox-network --sandbox-bind-rw "$dir/srv" \
                -q -o json --include-logs >"$dir/$1.json" 2>"$dir/$1.err")
}
# check FLOW PYTHON-EXPRESSION: the expression over run (the JSON), state(task), logs(task), outputs(task).
check() {
        python3 - "$dir/$1.json" "$2" <<'PY'
import json, sys
try:
    run = json.load(open(sys.argv[1]))
except ValueError:
    run = {}
tasks = {t["taskId"]: t for t in run.get("taskRunList", [])}
state = lambda t: tasks.get(t, {}).get("state", {}).get("current")
outputs = lambda t: tasks.get(t, {}).get("outputs") or {}
logs = lambda t: "\n".join(l["message"] for l in run.get("logs", []) if l.get("taskId") == t)
alllogs = json.dumps(run.get("logs", []))
if not eval("(" + sys.argv[2] + ")"):
    print("# states %s" % {t: state(t) for t in tasks}, file=sys.stderr)
    print("# logs %s" % alllogs[:3000], file=sys.stderr)
    sys.exit(1)
PY
}
diag() { tr '\n' ' ' <"$dir/diag" | head -c 3000; }
gitsrv() { git --git-dir="$dir/srv/$1" "${@:2}"; }

# Clone of a branch at depth 1 over HTTP with basic auth, its files seen by the next task of the WorkingDirectory,
# then pushed from there (no url: the clone's own repository) with a new file.
cat >"$dir/wdir.yaml" <<YAML
id: wdir
namespace: test.plugins
tasks:
  - id: wdir
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: clone
        type: io.kestra.plugin.git.Clone
        url: $http
        branch: feature
        username: alice
        password: "{{ secret('GITPW') }}"
        gitConfig:
          tern.test: from-the-flow
          core.fileMode: false
      - id: look
        type: io.kestra.plugin.scripts.shell.Commands
        commands:
          - cat feature.txt
          - echo "commits \$(git rev-list --count HEAD)"
          - echo "branch \$(git rev-parse --abbrev-ref HEAD)"
          - echo "config \$(git config tern.test) \$(git config core.fileMode)"
      - id: push
        type: io.kestra.plugin.git.Push
        branch: feature
        username: alice
        password: "{{ secret('GITPW') }}"
        inputFiles:
          added/new.txt: pushed by tern
        addFilesPattern: [added]
        commitMessage: add new.txt from {{ flow.id }}
        author:
          name: Tern Test
          email: tern@example.com
      - id: again
        type: io.kestra.plugin.git.Clone
        url: $http
        branch: main
        username: alice
        password: "{{ secret('GITPW') }}"
      - id: look2
        type: io.kestra.plugin.scripts.shell.Commands
        commands:
          - echo "again \$(git rev-parse --abbrev-ref HEAD) \$(cat data.txt) \$(cat feature.txt 2>/dev/null || echo no-feature)"
YAML
"$TERN" flow validate --plugins-path "$dir/git" "$dir/wdir.yaml" >"$dir/validate.txt" 2>&1
ok $? "the flow validates with the plugin on the path ($(tr '\n' ' ' <"$dir/validate.txt" | head -c 300))"
run wdir
check wdir 'state("clone") == "SUCCESS" and outputs("clone").get("directory")' 2>"$dir/diag"
ok $? "Clone over HTTP with basic auth succeeds, its directory as output $(diag)"
check wdir '"feature file" in logs("look") and "commits 1" in logs("look") and "branch feature" in logs("look")' 2>"$dir/diag"
ok $? "the next task of the WorkingDirectory sees the branch's files, cloned at depth 1 $(diag)"
check wdir '"config from-the-flow false" in logs("look")' 2>"$dir/diag"
ok $? "gitConfig is written to the clone's configuration $(diag)"
check wdir 'state("push") == "SUCCESS" and len(outputs("push").get("commitId", "")) == 40 and
        outputs("push").get("commitURL") == "http://127.0.0.1:'"$port"'/http/commit/" + outputs("push")["commitId"]' 2>"$dir/diag"
ok $? "Push from the clone succeeds with commitId and commitURL $(diag)"
pushed=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(next(t for t in r["taskRunList"] if t["taskId"]=="push")["outputs"]["commitId"])' "$dir/wdir.json" 2>/dev/null)
[ -n "$pushed" ] && [ "$(gitsrv http.git rev-parse feature)" = "$pushed" ] &&
        [ "$(gitsrv http.git show feature:added/new.txt)" = "pushed by tern" ] &&
        [ "$(gitsrv http.git show feature:feature.txt)" = "feature file" ] &&
        [ "$(gitsrv http.git log -1 --format='%s|%an|%ae' feature)" = "add new.txt from wdir|Tern Test|tern@example.com" ]
ok $? "the bare repository's feature branch has the commit: new file, old files, message, author ($(gitsrv http.git log -1 --format='%H %s|%an' feature))"
check wdir 'state("again") == "SUCCESS" and "again main data no-feature" in logs("look2") and
        "Existing Git repository found" in logs("again")' 2>"$dir/diag"
ok $? "a second Clone into the same directory fetches and checks out the other branch $(diag)"
! grep -q 's3cr3t-Pw' "$dir/wdir.json" "$dir/wdir.err"
ok $? "the password is in no log"

# Failures: a wrong password, a missing branch, a wrong URL, a missing branch for Push without createBranch.
cat >"$dir/fail.yaml" <<YAML
id: fail
namespace: test.plugins
tasks:
  - id: all
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: wrongpw
        type: io.kestra.plugin.git.Clone
        url: $http
        username: alice
        password: "{{ secret('WRONGPW') }}"
      - id: nobranch
        type: io.kestra.plugin.git.Clone
        url: $http
        branch: nope
        username: alice
        password: "{{ secret('GITPW') }}"
        directory: nobranch
      - id: badurl
        type: io.kestra.plugin.git.Clone
        url: http://bob:Inl1ne-Pw@127.0.0.1:$port/missing.git
        directory: badurl
      - id: ssh
        type: io.kestra.plugin.git.Clone
        url: ssh://git@127.0.0.1:1/repo.git
        privateKey: |
          -----BEGIN OPENSSH PRIVATE KEY-----
          S3CRETKEYMATERIAL
          -----END OPENSSH PRIVATE KEY-----
        passphrase: "{{ secret('WRONGPW') }}"
        directory: ssh
      - id: nocreate
        type: io.kestra.plugin.git.Push
        url: file://$dir/srv/file.git
        branch: nope
        createBranch: false
        commitMessage: never
YAML
run fail
check fail 'state("wrongpw") == "FAILED" and "Authentication failed" in logs("wrongpw") and
        "cannot clone" in logs("wrongpw") and "Wr0ng-Pw-X" not in alllogs' 2>"$dir/diag"
ok $? "a wrong password fails with git's message, the password not shown $(diag)"
check fail 'state("nobranch") == "FAILED" and "branch '"'nope'"'" in logs("nobranch") and "not found" in logs("nobranch")' 2>"$dir/diag"
ok $? "a missing branch fails the clone, saying so $(diag)"
check fail 'state("badurl") == "FAILED" and "missing.git" in logs("badurl") and "not found" in logs("badurl") and
        "bob:******@" in logs("badurl") and "Inl1ne-Pw" not in alllogs' 2>"$dir/diag"
ok $? "a wrong URL fails with git's message, a password in the URL masked $(diag)"
check fail 'state("ssh") == "FAILED" and "cannot clone" in logs("ssh") and "Connection refused" in logs("ssh") and
        "S3CRETKEYMATERIAL" not in alllogs' 2>"$dir/diag"
ok $? "an SSH remote that cannot be reached fails with ssh's message, the key not shown $(diag)"
check fail 'state("nocreate") == "FAILED" and "does not exist" in logs("nocreate") and "createBranch is false" in logs("nocreate")' 2>"$dir/diag"
ok $? "Push to a missing branch with createBranch false fails $(diag)"
! grep -q 's3cr3t-Pw\|Wr0ng-Pw-X\|S3CRETKEYMATERIAL' "$dir/fail.json" "$dir/fail.err"
ok $? "no password in any log of the failures"

# file://: a full clone (depth 0) into a directory, and Push with url to a new branch: the branch is made from
# the default one and the commit holds the added files only, as Kestra's Push does.
cat >"$dir/file.yaml" <<YAML
id: file
namespace: test.plugins
tasks:
  - id: clone
    type: io.kestra.plugin.git.Clone
    url: file://$dir/srv/file.git
    depth: 0
    directory: sub/repo
  - id: tagged
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: clonetag
        type: io.kestra.plugin.git.Clone
        url: file://$dir/srv/file.git
        tag: v1
        noTags: false
      - id: looktag
        type: io.kestra.plugin.scripts.shell.Commands
        commands:
          - echo "tag \$(git describe --tags) \$(cat data.txt 2>/dev/null || echo no-data)"
      - id: clonecommit
        type: io.kestra.plugin.git.Clone
        url: file://$dir/srv/file.git
        commit: $(git -C "$dir/work" rev-parse main~1)
        directory: bycommit
        readTimeout: 30000
        cache: true
      - id: lookcommit
        type: io.kestra.plugin.scripts.shell.Commands
        commands:
          - cd bycommit && echo "commit \$(git rev-parse HEAD) \$(cat data.txt 2>/dev/null || echo no-data)"
  - id: push
    type: io.kestra.plugin.git.Push
    url: file://$dir/srv/file.git
    branch: fresh
    inputFiles:
      report.txt: "{{ outputs.clone.directory }}"
    commitMessage: fresh branch
  - id: dry
    type: io.kestra.plugin.git.Push
    url: file://$dir/srv/file.git
    branch: main
    dryRun: true
    inputFiles:
      dry.txt: not pushed
    commitMessage: dry
YAML
run file
check file 'state("clone") == "SUCCESS" and outputs("clone").get("directory", "").endswith("/sub/repo")' 2>"$dir/diag"
ok $? "Clone over file:// into a directory $(diag)"
check file 'state("clonetag") == "SUCCESS" and "tag v1 no-data" in logs("looktag")' 2>"$dir/diag"
ok $? "Clone of a tag checks out the tagged commit $(diag)"
check file 'state("clonecommit") == "SUCCESS" and "commit '"$(git -C "$dir/work" rev-parse main~1)"' no-data" in logs("lookcommit") and
        "cache is not supported" in logs("clonecommit")' 2>"$dir/diag"
ok $? "Clone of a commit checks it out, a cache asked for is warned about $(diag)"
[ "$(gitsrv file.git ls-tree --name-only fresh)" = "report.txt" ] &&
        [ "$(gitsrv file.git rev-parse fresh^)" = "$(gitsrv file.git rev-parse main)" ] &&
        check file 'state("push") == "SUCCESS" and "commitURL" not in outputs("push") and
                outputs("push").get("commitId") == "'"$(gitsrv file.git rev-parse fresh)"'"' 2>"$dir/diag"
ok $? "Push with a file:// url creates the branch from main with the added files only (fresh: $(gitsrv file.git ls-tree --name-only fresh 2>&1 | tr "\n" " "), parent $(gitsrv file.git rev-parse fresh^ 2>&1), main $(gitsrv file.git rev-parse main 2>&1)) $(diag)"
[ "$(gitsrv file.git rev-list --count main)" = 2 ] && ! gitsrv file.git cat-file -e main:dry.txt 2>/dev/null &&
        check file 'state("dry") == "SUCCESS" and "Would commit: A dry.txt" in logs("dry") and not outputs("dry").get("commitId")' 2>"$dir/diag"
ok $? "a dry run logs the changes and pushes nothing $(diag)"

# The descriptor: documentation and validation with file:line:col.
"$TERN" plugins doc --plugins-path "$dir/git" io.kestra.plugin.git.Clone >"$dir/doc.txt" 2>&1 &&
        grep -q depth "$dir/doc.txt" && grep -q cloneSubmodules "$dir/doc.txt"
ok $? "tern plugins doc describes Clone"
cat >"$dir/typo.yaml" <<'YAML'
id: typo
namespace: test.plugins
tasks:
  - id: clone
    type: io.kestra.plugin.git.Clone
    url: https://example.com/r.git
    brnch: main
    depth: many
YAML
"$TERN" flow validate --plugins-path "$dir/git" "$dir/typo.yaml" >"$dir/typo.txt" 2>&1
[ $? -ne 0 ] && grep -q "typo.yaml:7:5:.*brnch" "$dir/typo.txt" && grep -q "typo.yaml:8:.*depth" "$dir/typo.txt"
ok $? "validation names an unknown property and a mistyped one by file:line:col ($(tr '\n' ' ' <"$dir/typo.txt" | head -c 400))"

echo "1..$n"
exit $failed
