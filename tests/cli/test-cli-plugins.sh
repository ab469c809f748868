#!/usr/bin/env bash
# test-cli-plugins: plugins as docs/PLUGINS.md describes them: the Python exec plugin and the C native plugin of
# examples/plugins are listed, documented, validated against (file:line:col errors) and run by 'tern run' in the
# sandbox (outputs, logs, metrics, files, files kept through .tern-store/, timeouts); broken descriptors, duplicate types and a shared object of
# another ABI version are refused, saying where and why, while the others load (TAP).
set -u
: "${TERN:?}" "${TERN_SOURCE_ROOT:?}" "${TERN_PLUGIN_SUM:?}" "${TERN_PLUGIN_BAD_ABI:?}"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed (the example exec plugin is in Python)"; exit 0; }

dir=$(mktemp -d /tmp/tern-cli-plugins.XXXXXX)
# The tasks run as nobody in the sandbox, which sees the plugins' directories read-only.
chmod 755 "$dir"
trap 'rm -rf "$dir"' EXIT
export TERN_STATE_DIR=$dir/state
unset TERN_PLUGINS_PATH TERN_CONFIG

n=0
failed=0
ok() { # ok COND-EXIT-STATUS NAME
        n=$((n + 1))
        if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi
}
has() { grep -qF -- "$2" "$1"; }

# The examples as a package would install them: a directory of plugin directories.
good=$dir/plugins
mkdir -p "$good/sum"
cp -r "$TERN_SOURCE_ROOT/examples/plugins/greet" "$good/"
cp "$TERN_SOURCE_ROOT/examples/plugins/sum/plugin.yaml" "$TERN_PLUGIN_SUM" "$good/sum/"
chmod -R a+rX "$good"

# ---- list and doc ----
"$TERN" plugins list --plugins-path "$good" >"$dir/list.txt" 2>"$dir/list.err"
rc=$?
ok $((rc != 0)) "plugins list: exit status 0 when every plugin loads ($(cat "$dir/list.err"))"
grep -Eq "^io\.tern\.examples\.greet\.Greet +greet +exec +$good/greet/plugin.yaml" "$dir/list.txt"
ok $? "plugins list: the exec plugin's type, plugin, kind and path"
grep -Eq "^io\.tern\.examples\.native\.Sum +sum +native +$good/sum/plugin.yaml" "$dir/list.txt"
ok $? "plugins list: the native plugin's type (its shared object loaded)"
! grep -q "io.kestra.plugin.core.log.Log" "$dir/list.txt"
ok $? "plugins list: no built-in type without --all"
TERN_PLUGINS_PATH=$good "$TERN" plugins list --all -o json >"$dir/all.json" 2>/dev/null
python3 - "$dir/all.json" <<'PY'
import json, sys
l = json.load(open(sys.argv[1]))
kinds = {e["type"]: e["kind"] for e in l}
sys.exit(0 if kinds.get("io.kestra.plugin.core.log.Log") == "builtin" and kinds.get("io.tern.examples.greet.Greet") == "exec"
         and kinds.get("io.tern.examples.native.Sum") == "native" else 1)
PY
ok $? "plugins list --all -o json, path from \$TERN_PLUGINS_PATH: built-in, exec and native kinds"

"$TERN" plugins doc greet.Greet --plugins-path "$good" >"$dir/doc.txt" 2>&1
ok $? "plugins doc by the short name"
has "$dir/doc.txt" "io.tern.examples.greet.Greet" && has "$dir/doc.txt" "aliases: io.tern.examples.Hello" &&
        grep -Eq "^  name +string, required$" "$dir/doc.txt" && grep -Eq "^  times +integer, default 1$" "$dir/doc.txt" &&
        has "$dir/doc.txt" "one of: PLAIN, LOUD" && grep -Eq "^  greeting$" "$dir/doc.txt" &&
        has "$dir/doc.txt" "Example:" && has "$dir/doc.txt" "  style: LOUD"
ok $? "plugins doc: names, properties with types, required and defaults, outputs, the example"
"$TERN" plugins doc io.tern.examples.greet.Gret --plugins-path "$good" >/dev/null 2>"$dir/doc.err"
[ $? -eq 1 ] && has "$dir/doc.err" "unknown task type 'io.tern.examples.greet.Gret'; did you mean 'io.tern.examples.greet.Greet'?"
ok $? "plugins doc of an unknown type: exit 1 with a hint"

# ---- validation against the descriptor ----
cat >"$dir/invalid.yaml" <<'YAML'
id: invalid
namespace: test.plugins
tasks:
  - id: greet
    type: io.tern.examples.greet.Greet
    nmae: world
    times: many
    style: QUIET
  - id: sum
    type: io.tern.examples.native.Sum
    label: x
YAML
"$TERN" flow validate --plugins-path "$good" "$dir/invalid.yaml" >"$dir/invalid.txt" 2>&1
rc=$?
ok $((rc != 1)) "flow validate: a flow of plugin tasks with errors is invalid (exit $rc)"
has "$dir/invalid.txt" "invalid.yaml:6:5: unknown property 'nmae' in task 'greet' (greet.Greet); did you mean 'name'?"
ok $? "unknown property at its line:col, with did-you-mean"
has "$dir/invalid.txt" "invalid.yaml:7:12: 'times' of task 'greet' must be an integer"
ok $? "wrong type at its line:col"
has "$dir/invalid.txt" "invalid.yaml:4:5: task 'greet' (greet.Greet) is missing required property 'name'" &&
        has "$dir/invalid.txt" "invalid.yaml:9:5: task 'sum' (native.Sum) is missing required property 'numbers'"
ok $? "missing required properties, of an exec and of a native plugin"
has "$dir/invalid.txt" "invalid.yaml:8:12:" && has "$dir/invalid.txt" "QUIET"
ok $? "an enum value that the descriptor does not list"
"$TERN" flow validate "$dir/invalid.yaml" >"$dir/noplugins.txt" 2>&1
has "$dir/noplugins.txt" "unknown task type 'io.tern.examples.greet.Greet'"
ok $? "without the plugin on the path, its type is unknown"

# ---- running: outputs, logs, metrics, files ----
cat >"$dir/run.yaml" <<'YAML'
id: run
namespace: test.plugins
inputs:
  - id: more
    type: FILE
tasks:
  - id: greet
    type: io.tern.examples.greet.Greet
    name: "{{ 'wor' ~ 'ld' }}"
    times: 2
    names: "{{ inputs.more }}"
    outputFiles: [greetings.txt]
  - id: loud
    type: io.tern.examples.Hello
    name: "{{ secret('TOKEN') }}"
  - id: sum
    type: native.Sum
    numbers: [1, 2, 3.5]
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.greet.greeting }} / {{ outputs.greet.count }} / {{ outputs.sum.sum }}"
YAML
printf 'ann\nbob\n' >"$dir/names.txt"
(cd "$dir" && SECRET_TOKEN=$(printf 'hushhush' | base64) TERN_PLUGINS_PATH=$good "$TERN" run "$dir/run.yaml" \
        -i more=@"$dir/names.txt" -q -o json --include-logs >"$dir/run.json" 2>"$dir/run.err")
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$dir/run.json" 2>/dev/null)
TERN_PLUGINS_PATH=$good "$TERN" execution show "$id" -o json >"$dir/show.json" 2>>"$dir/run.err"

# ---- failures, timeouts, refusals ----
cat >"$dir/fail.yaml" <<'YAML'
id: fail
namespace: test.plugins
tasks:
  - id: parallel
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: fails
        type: greet.Greet
        name: x
        fail: true
      - id: slow
        type: greet.Greet
        name: x
        sleep: 60
        timeout: PT1S
      - id: slowsum
        type: native.Sum
        numbers: [1, 2]
        delay: 60
        timeout: PT1S
      - id: badsum
        type: native.Sum
        numbers: [1, "two"]
YAML
start=$(date +%s)
(cd "$dir" && "$TERN" run "$dir/fail.yaml" --plugins-path "$good" -q -o json --include-logs >"$dir/fail.json" 2>>"$dir/run.err")
took=$(($(date +%s) - start))

python3 - "$dir" "$took" "$n" <<'PY'
import json, sys
d, took, first = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def load(name):
    try:
        return json.load(open(d + "/" + name))
    except (OSError, ValueError):
        return {}
n = 0
failed = 0
def ok(cond, name):
    global n, failed
    n += 1
    failed += not cond
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n + first, name))
run, show, fail = load("run.json"), load("show.json"), load("fail.json")
err = open(d + "/run.err").read()
runs = {t["taskId"]: t for t in run.get("taskRunList", []) + fail.get("taskRunList", [])}
state = lambda t: runs.get(t, {}).get("state", {}).get("current")
outs = lambda t: runs.get(t, {}).get("outputs") or {}
logs = lambda r, t: [(l["level"], l["message"]) for l in r.get("logs", []) if l.get("taskId") == t]

ok(run.get("state", {}).get("current") == "SUCCESS", "tern run: the flow of plugin tasks succeeds (%s)" % err[:300])
o = outs("greet")
ok(o.get("greeting") == "Hello, bob!" and o.get("count") == 3,
   "exec plugin: rendered properties in, outputs out, a FILE input given as a file (%r)" % o)
ok(str(o.get("outputFiles", {}).get("greetings.txt", "")).startswith("kestra:///"), "exec plugin: outputFiles kept")
ok(logs(run, "greet") == [("INFO", "Hello, %s!" % w) for w in ["world", "world", "ann", "ann", "bob", "bob"]],
   "exec plugin: its ::{logs}:: lines are log lines, nothing else is (%r)" % logs(run, "greet"))
ok(logs(run, "loud") == [("INFO", "Hello, ******!")] and "hushhush" not in json.dumps(run.get("logs")),
   "exec plugin under an alias: a secret in its log is masked (%r)" % logs(run, "loud"))
s = outs("sum")
ok(s.get("sum") == 6.5 and str(s.get("uri", "")).startswith("kestra:///") and str(s.get("uri")).endswith("/sum.txt"),
   "native plugin: outputs, and a file put into internal storage (%r)" % s)
ok(("INFO", "sum of 3 numbers: 6.5") in logs(run, "sum"), "native plugin: its log line")
ok(("INFO", "Hello, bob! / 3 / 6.5") in logs(run, "after"), "a later task reads the plugins' outputs")
ms = {(m["taskId"], m["type"], m["name"]): (m["value"], m["tags"]) for m in show.get("metrics", [])}
ok(ms.get(("greet", "counter", "greetings")) == (6.0, {"style": "PLAIN"}) and
   ms.get(("sum", "gauge", "sum")) == (6.5, {"type": "example"}),
   "metrics of both kinds of plugin, as Kestra stores them (%r)" % ms)

ok(fail.get("state", {}).get("current") == "FAILED", "the failing flow fails")
ok(state("fails") == "FAILED" and ("ERROR", "asked to fail") in logs(fail, "fails") and
   ("ERROR", "Plugin 'greet' failed with exit code 3") in logs(fail, "fails"),
   "exec plugin: a non-zero exit fails the task, its ERROR line logged (%r)" % logs(fail, "fails"))
ok(state("slow") == "FAILED" and ("ERROR", "Timeout after PT1S: the command was killed") in logs(fail, "slow"),
   "exec plugin: killed at its timeout (%r)" % logs(fail, "slow"))
ok(state("slowsum") == "FAILED" and ("ERROR", "Timeout after PT1S: plugin 'sum' was told to stop") in logs(fail, "slowsum"),
   "native plugin: stops at its timeout when told (%r)" % logs(fail, "slowsum"))
ok(took < 30, "timeouts end the tasks well before their 60 s (%d s)" % took)
ok(("ERROR", "Plugin 'sum' failed: every entry of 'numbers' must be a number") in logs(fail, "badsum"),
   "native plugin: the reason it gives for failing")
sys.exit(1 if failed else 0)
PY
[ $? -eq 0 ] || failed=1
n=$((n + 15))

# ---- broken plugins are refused, the others load ----
bad=$dir/bad
mkdir -p "$bad/broken" "$bad/dup" "$bad/abi" "$bad/noexec"
cat >"$bad/broken/plugin.yaml" <<'YAML'
name: broken
exec: run.sh
typez: []
types:
  - type: io.tern.tests.Broken
    properties:
      size: {type: integr}
YAML
printf '#!/bin/sh\n' >"$bad/broken/run.sh"
cat >"$bad/dup/plugin.yaml" <<'YAML'
name: dup
exec: run.sh
types:
  - type: io.tern.examples.Hello
  - type: io.kestra.plugin.core.log.Log
YAML
printf '#!/bin/sh\n' >"$bad/dup/run.sh"
printf 'name: abi\nnative: libbad-abi.so\ntypes:\n  - type: io.tern.tests.Abi\n' >"$bad/abi/plugin.yaml"
cp "$TERN_PLUGIN_BAD_ABI" "$bad/abi/"
printf 'name: noexec\nexec: missing.py\ntypes:\n  - type: io.tern.tests.NoExec\n' >"$bad/noexec/plugin.yaml"
printf 'name: [unclosed\n' >"$bad/syntax.yaml"
mkdir "$bad/syntax" && mv "$bad/syntax.yaml" "$bad/syntax/plugin.yaml"
# What another local user could change: the daemon (root) would run their code.
mkdir -p "$bad/wwdir" "$bad/wwdesc" "$bad/wwso"
for p in wwdir wwdesc; do
        printf 'name: %s\nexec: run.sh\ntypes:\n  - type: io.tern.tests.%s\n' $p $p >"$bad/$p/plugin.yaml"
        printf '#!/bin/sh\n' >"$bad/$p/run.sh"
done
printf 'name: wwso\nnative: %s\ntypes:\n  - type: io.tern.tests.WwSo\n' "$(basename "$TERN_PLUGIN_SUM")" >"$bad/wwso/plugin.yaml"
cp "$TERN_PLUGIN_SUM" "$bad/wwso/"
chmod -R a+rX "$bad" && chmod 755 "$bad"/*/run.sh
chmod 777 "$bad/wwdir" && chmod o+w "$bad/wwdesc/plugin.yaml" "$bad/wwso/$(basename "$TERN_PLUGIN_SUM")"

"$TERN" plugins list --plugins-path "$good:$bad" >"$dir/bad.txt" 2>"$dir/bad.err"
rc=$?
ok $((rc != 1)) "plugins list: exit status 1 when a plugin cannot be loaded"
grep -q "^io.tern.examples.greet.Greet" "$dir/bad.txt" && grep -q "^io.tern.examples.native.Sum" "$dir/bad.txt" &&
        ! grep -q "io.tern.tests" "$dir/bad.txt"
ok $? "the good plugins load all the same, none of the broken ones"
has "$dir/bad.err" "$bad/broken/plugin.yaml:3:1: unknown key 'typez' in the plugin descriptor; did you mean 'types'?" &&
        has "$dir/bad.err" "$bad/broken/plugin.yaml:7:20: property 'size' of type 'io.tern.tests.Broken': unknown type 'integr'; did you mean 'integer'?" &&
        has "$dir/bad.err" "$bad/broken/plugin.yaml: plugin 'broken' is not loaded"
ok $? "a broken descriptor: each problem at its file:line:col, and the plugin left out"
has "$dir/bad.err" "$bad/syntax/plugin.yaml:2:1:"
ok $? "a descriptor that is not YAML: its file:line:col"
has "$dir/bad.err" "$bad/dup/plugin.yaml:4:11: type 'io.tern.examples.Hello' is already provided by plugin 'greet' ($good/greet/plugin.yaml)" &&
        has "$dir/bad.err" "$bad/dup/plugin.yaml:5:11: type 'io.kestra.plugin.core.log.Log' is already a built-in task type (Log): a plugin cannot replace it"
ok $? "duplicate type names are refused, naming the other provider"
has "$dir/bad.err" "$bad/abi/plugin.yaml:2:9: '$bad/abi/libbad-abi.so' was built for plugin ABI version 999, and this tern has version 1"
ok $? "a native plugin of another ABI version: refused, naming the file and both versions"
has "$dir/bad.err" "$bad/noexec/plugin.yaml:2:7: executable '$bad/noexec/missing.py': No such file or directory"
ok $? "an exec plugin whose executable is missing"
has "$dir/bad.err" "the plugin's directory '$bad/wwdir' is writable by every user (chmod o-w it)" &&
        has "$dir/bad.err" "$bad/wwdesc/plugin.yaml: the descriptor is writable by every user" &&
        has "$dir/bad.err" "shared object '$bad/wwso/$(basename "$TERN_PLUGIN_SUM")' is writable by every user" &&
        ! grep -q "io.tern.tests.Ww" "$dir/bad.txt"
ok $? "a plugin directory, descriptor or shared object that every user may write is refused"
TERN_PLUGINS_PATH=$dir/nowhere "$TERN" plugins list >/dev/null 2>"$dir/nowhere.err"
[ $? -eq 1 ] && has "$dir/nowhere.err" "plugin directory '$dir/nowhere': No such file or directory"
ok $? "a configured plugin directory that does not exist is said"

# ---- storing a flow of plugin tasks validates it with the plugins too ----
TERN_PLUGINS_PATH=$good "$TERN" flow apply "$dir/run.yaml" >"$dir/apply.txt" 2>&1
ok $? "flow apply: a flow of plugin tasks, with the plugins of \$TERN_PLUGINS_PATH ($(head -c 200 "$dir/apply.txt"))"

# ---- an exec plugin keeps files in internal storage through .tern-store/ ----
mkdir -p "$dir/storer/store"
cat >"$dir/storer/store/plugin.yaml" <<'YAML'
name: store
exec: store.py
types:
  - type: io.tern.tests.Store
    properties:
      forget: {type: boolean, default: false}
YAML
cat >"$dir/storer/store/store.py" <<'EOF'
#!/usr/bin/env python3
import json, os, sys
props = json.load(sys.stdin)
os.makedirs(".tern-store", exist_ok=True)
for name in ("a.txt", "b.txt"):
    open(".tern-store/" + name, "w").write("content of " + name + "\n")
open("kept.txt", "w").write("kept\n")
outputs = {"uri": ".tern-store/a.txt", "files": {"b": ".tern-store/b.txt"}, "list": [".tern-store/a.txt", "plain"],
           "text": "not .tern-store/a.txt"}
if props.get("forget"):
    outputs["lost"] = ".tern-store/gone.txt"
print("::" + json.dumps({"outputs": outputs}) + "::")
EOF
chmod -R a+rX "$dir/storer"
chmod 755 "$dir/storer/store/store.py"
cat >"$dir/store.yaml" <<'YAML'
id: store
namespace: test.plugins
tasks:
  - id: s
    type: io.tern.tests.Store
    outputFiles: [kept.txt]
  - id: read
    type: io.kestra.plugin.scripts.shell.Commands
    inputFiles:
      a.txt: "{{ outputs.s.uri }}"
      b.txt: "{{ outputs.s.files.b }}"
    commands:
      - 'echo "read: $(cat a.txt) / $(cat b.txt)"'
  - id: forgot
    type: io.tern.tests.Store
    allowFailure: true
    forget: true
YAML
(cd "$dir" && "$TERN" run "$dir/store.yaml" --plugins-path "$dir/storer" -q -o json --include-logs \
        >"$dir/store.json" 2>"$dir/store.err")
python3 - "$dir/store.json" 2>>"$dir/store.err" <<'PY'
import json, sys
try:
    run = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    sys.exit(1)
runs = {t["taskId"]: t for t in run.get("taskRunList", [])}
state = lambda t: runs.get(t, {}).get("state", {}).get("current")
o = runs.get("s", {}).get("outputs", {})
uri = lambda v: isinstance(v, str) and v.startswith("kestra:///")
logs = lambda t: [(l["level"], l["message"]) for l in run.get("logs", []) if l.get("taskId") == t]
print(json.dumps(o), logs("forgot"), file=sys.stderr)
sys.exit(0 if state("s") == "SUCCESS" and uri(o.get("uri")) and uri(o.get("files", {}).get("b")) and
         uri((o.get("list") or [None])[0]) and o["list"][1] == "plain" and o.get("text") == "not .tern-store/a.txt" and
         list(o.get("outputFiles", {})) == ["kept.txt"] and
         ("INFO", "read: content of a.txt / content of b.txt") in logs("read") and state("forgot") == "FAILED" and
         any(lv == "ERROR" and "announced the file '.tern-store/gone.txt' for internal storage, and left no such file" in m
             for lv, m in logs("forgot"))
         else 1)
PY
ok $? "an exec plugin's files of .tern-store/ named in its outputs (alone, in a map, in a list) become kestra:/// URIs a later task reads, outputFiles stays the flow's, a name of no file fails the task ($(head -c 400 "$dir/store.err" | tr '\n' ' '))"

# ---- .tern-store/ attacked: nothing but the task's own regular files is kept, nothing hangs ----
mkdir -p "$dir/storer/attack"
cat >"$dir/storer/attack/plugin.yaml" <<'YAML'
name: attack
exec: attack.py
types:
  - type: io.tern.tests.StoreAttack
YAML
cat >"$dir/storer/attack/attack.py" <<'EOF'
#!/usr/bin/env python3
import json, os, sys
json.load(sys.stdin)
os.makedirs(".tern-store/sub", exist_ok=True)
open("own.txt", "w").write("own\n")
open(".tern-store/sub/deep.txt", "w").write("deep\n")
os.symlink("/etc/passwd", ".tern-store/link")
os.symlink("..", ".tern-store/up")
os.link("own.txt", ".tern-store/hard")
os.mkfifo(".tern-store/fifo")
names = [".tern-store/link", ".tern-store/up/own.txt", ".tern-store/hard", ".tern-store/fifo", ".tern-store/sub",
         ".tern-store/sub/deep.txt", ".tern-store/../own.txt", ".tern-store/%2e%2e/own.txt", "/etc/passwd",
         ".tern-store/own.txt\n", ".tern-store/"]
print("::" + json.dumps({"outputs": {"names": names}}) + "::")
EOF
chmod -R a+rX "$dir/storer"
chmod 755 "$dir/storer/attack/attack.py"
cat >"$dir/attack.yaml" <<'YAML'
id: attack
namespace: test.plugins
tasks:
  - id: a
    type: io.tern.tests.StoreAttack
YAML
(cd "$dir" && timeout 120 "$TERN" run "$dir/attack.yaml" --plugins-path "$dir/storer" -q -o json --include-logs \
        >"$dir/attack.json" 2>"$dir/attack.err")
python3 - "$dir/attack.json" 2>>"$dir/attack.err" <<'PY'
import json, sys
try:
    text = open(sys.argv[1]).read()
    run = json.loads(text)
except (OSError, ValueError):
    sys.exit(1)
t = {t["taskId"]: t for t in run.get("taskRunList", [])}.get("a", {})
logs = [(l["level"], l["message"]) for l in run.get("logs", []) if l.get("taskId") == "a"]
print(t.get("state", {}).get("current"), json.dumps(t.get("outputs")), logs, file=sys.stderr)
warned = lambda name: any(lv == "WARN" and "Output file '%s' is not kept" % name in m for lv, m in logs)
sys.exit(0 if t.get("state", {}).get("current") == "FAILED" and "kestra:///" not in json.dumps(t.get("outputs")) and
         "root:" not in text and warned(".tern-store/link") and warned(".tern-store/up") and
         warned(".tern-store/hard") and warned(".tern-store/fifo") and
         any(lv == "ERROR" and "announced the file '.tern-store/link' for internal storage, and left no such file" in m
             for lv, m in logs)
         else 1)
PY
ok $? "an exec plugin's .tern-store/ with a link out, a link up, a hard link, a FIFO, a directory and names with '..', '%2e%2e', a newline or an absolute path: nothing kept, each refusal said, the task fails, no hang ($(head -c 600 "$dir/attack.err" | tr '\n' ' '))"

# ---- docs/PLUGINS.md shows these very examples ----
python3 - "$TERN_SOURCE_ROOT" <<'PY'
import re, sys
root = sys.argv[1]
doc = open(root + "/docs/PLUGINS.md").read()
py = re.search(r"```python\n(.*?)```\n", doc, re.S)
c = re.search(r"```c\n(.*?)```\n", doc, re.S)
sys.exit(0 if py and c and py.group(1) == open(root + "/examples/plugins/greet/greet.py").read() and
         c.group(1) == open(root + "/examples/plugins/sum/sum.c").read() else 1)
PY
ok $? "docs/PLUGINS.md shows the tested examples as they are"

echo "1..$n"
exit $failed
