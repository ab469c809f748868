#!/usr/bin/env bash
# test-cli-plugin-serdes: the shipped serdes plugin (plugins/serdes, a native plugin) end to end with 'tern run':
# CSV, JSON lines and JSON files converted to Ion in internal storage and back, as Kestra's documented examples
# chain them (CsvToIon then IonToJson, a query's Ion to CSV), with their separators, quotes, charsets and bad
# lines; each file read back from internal storage and compared (TAP).
set -u
: "${TERN:?}" "${TERN_SOURCE_ROOT:?}" "${TERN_PLUGIN_SERDES:?}"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed (it checks the runs' JSON)"; exit 0; }

dir=$(mktemp -d /tmp/tern-cli-serdes.XXXXXX)
chmod 755 "$dir"
trap 'rm -rf "$dir"' EXIT
export TERN_STATE_DIR=$dir/state
unset TERN_PLUGINS_PATH TERN_CONFIG

mkdir -p "$dir/plugins/serdes"
cp "$TERN_SOURCE_ROOT/plugins/serdes/plugin.yaml" "$TERN_PLUGIN_SERDES" "$dir/plugins/serdes/"
chmod -R a+rX "$dir/plugins"

n=0 failed=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi; }
has() { grep -qF -- "$2" "$1"; }

"$TERN" plugins doc io.kestra.plugin.serdes.csv.IonToCsv --plugins-path "$dir/plugins" >"$dir/doc.txt" 2>&1
has "$dir/doc.txt" "one of: ALWAYS, REQUIRED, NON_NUMERIC" && has "$dir/doc.txt" "lineDelimiter" && has "$dir/doc.txt" "fieldSeparator"
ok $? "plugins doc: IonToCsv's properties ($(head -c 200 "$dir/doc.txt" | tr '\n' ' '))"

cat >"$dir/bad.yaml" <<'YAML'
id: bad
namespace: test.serdes
tasks:
  - id: c
    type: io.kestra.plugin.serdes.csv.CsvReader
    from: kestra:///x.csv
    header: maybe
    onBadLines: IGNORE
YAML
"$TERN" flow validate --plugins-path "$dir/plugins" "$dir/bad.yaml" >"$dir/bad.txt" 2>&1
[ $? -ne 0 ] && has "$dir/bad.txt" "bad.yaml:7:13:" && has "$dir/bad.txt" "bad.yaml:8:17: 'onBadLines' of task 'c': invalid value 'IGNORE', expected one of: ERROR, WARN, SKIP"
ok $? "flow validate: an alias (CsvReader) is known, bad values are file:line:col errors ($(tr '\n' ' ' <"$dir/bad.txt"))"

# The inputs: CSV with what RFC 4180 allows (quotes, separators and line breaks in fields, CRLF), \N
# for null; Latin-1 with semicolons; JSON lines; one JSON document; Ion as a query's STORE writes it.
printf 'id,name,note\r\n1,"Smith, J.","said ""hi""\nthen left"\r\n2,Doe,\\N\r\n3,,plain\r\n' >"$dir/people.csv"
printf 'ville;pays\nZ\xfcrich;Suisse\nOrl\xe9ans;France\n' >"$dir/latin1.csv"
printf 'a,b\n1,2\n3\n4,5\n' >"$dir/ragged.csv"
printf '{"id":1,"name":"Widget A","price":9.5,"tags":["x","y"],"stock":null,"ok":true}\n\n{"id":2,"name":"Widget \\"B\\"","price":10,"tags":[],"stock":3,"ok":false}\n' >"$dir/products.jsonl"
printf '[{"k":"v1"},{"k":"v2","n":{"deep":[1,2]}}]\n' >"$dir/array.json"
printf '{id:1,at:2024-01-02T03:04:05Z,amount:12.5,ok:true,name:"a, b",missing:null}\n{id:2,at:2024-06-30T00:00:00.5Z,amount:-3.25,ok:false,name:"plain",missing:null}\n' >"$dir/query.ion"

cat >"$dir/flow.yaml" <<'YAML'
id: serdes
namespace: test.serdes
inputs:
  - {id: people, type: FILE}
  - {id: latin1, type: FILE}
  - {id: ragged, type: FILE}
  - {id: products, type: FILE}
  - {id: array, type: FILE}
  - {id: query, type: FILE}
tasks:
  - id: csv_ion
    type: io.kestra.plugin.serdes.csv.CsvToIon
    from: "{{ inputs.people }}"
  - id: ion_csv
    type: io.kestra.plugin.serdes.csv.IonToCsv
    from: "{{ outputs.csv_ion.uri }}"
  - id: ion_json
    type: io.kestra.plugin.serdes.json.IonToJson
    from: "{{ outputs.csv_ion.uri }}"
  - id: nohead
    type: io.kestra.plugin.serdes.csv.CsvToIon
    from: "{{ inputs.people }}"
    header: false
    skipRows: 2
  - id: latin
    type: io.kestra.plugin.serdes.csv.CsvToIon
    from: "{{ inputs.latin1 }}"
    fieldSeparator: ";"
    charset: ISO-8859-1
  - id: latin_back
    type: io.kestra.plugin.serdes.csv.IonToCsv
    from: "{{ outputs.latin.uri }}"
    charset: ISO-8859-1
    fieldSeparator: "\t"
    lineDelimiter: "\r\n"
  - id: ragged_warn
    type: io.kestra.plugin.serdes.csv.CsvToIon
    from: "{{ inputs.ragged }}"
    onBadLines: WARN
  - id: json_ion
    type: io.kestra.plugin.serdes.json.JsonToIon
    from: "{{ inputs.products }}"
  - id: json_back
    type: io.kestra.plugin.serdes.json.IonToJson
    from: "{{ outputs.json_ion.uri }}"
  - id: array_ion
    type: io.kestra.plugin.serdes.json.JsonToIon
    from: "{{ inputs.array }}"
    newLine: false
  - id: array_back
    type: io.kestra.plugin.serdes.json.IonToJson
    from: "{{ outputs.array_ion.uri }}"
    newLine: false
  - id: query_csv
    type: io.kestra.plugin.serdes.csv.IonToCsv
    from: "{{ inputs.query }}"
    quoteMode: NON_NUMERIC
  - id: query_always
    type: io.kestra.plugin.serdes.csv.IonToCsv
    from: "{{ inputs.query }}"
    header: false
    alwaysDelimitText: true
  - id: ragged_error
    type: io.kestra.plugin.serdes.csv.CsvToIon
    from: "{{ inputs.ragged }}"
    allowFailure: true
  - id: not_json
    type: io.kestra.plugin.serdes.json.JsonToIon
    from: "{{ inputs.people }}"
    allowFailure: true
  - id: date_format
    type: io.kestra.plugin.serdes.csv.IonToCsv
    from: "{{ inputs.query }}"
    dateTimeFormat: "dd/MM/yyyy HH:mm"
    allowFailure: true
  - id: show
    type: io.kestra.plugin.core.flow.ForEach
    values: [csv_ion, ion_csv, ion_json, nohead, latin, ragged_warn, json_ion, json_back, array_ion, array_back, query_csv, query_always]
    tasks:
      - id: file
        type: io.kestra.plugin.core.log.Log
        message: "{{ taskrun.value }}={{ read(outputs[taskrun.value].uri) | toJson }}"
YAML
args=()
for f in people:people.csv latin1:latin1.csv ragged:ragged.csv products:products.jsonl array:array.json query:query.ion; do
        args+=(-i "${f%%:*}=@$dir/${f#*:}")
done
(cd "$dir" && "$TERN" run "$dir/flow.yaml" --plugins-path "$dir/plugins" -q -o json --include-logs "${args[@]}" \
        >"$dir/run.json" 2>"$dir/run.err")
# latin_back is in Latin-1, not UTF-8: read from the storage directory itself.
python3 - "$dir" "$n" <<'PY'
import glob, json, sys
d, n = sys.argv[1], int(sys.argv[2])
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
tasks = {t["taskId"]: t for t in run.get("taskRunList", []) if t.get("taskId") != "file"}
state = lambda t: tasks.get(t, {}).get("state", {}).get("current")
outs = lambda t: tasks.get(t, {}).get("outputs") or {}
logs = lambda t: [l["message"] for l in run.get("logs", []) if l.get("taskId") == t]
files = {}
for m in logs("file"):
    k, _, v = m.partition("=")
    files[k] = json.loads(v)
errs = open(d + "/run.err").read()[-500:]

ok(files.get("csv_ion") == '{id:"1",name:"Smith, J.",note:"said \\"hi\\"\\nthen left"}\n'
                           '{id:"2",name:"Doe",note:null}\n{id:"3",name:"",note:"plain"}\n'
   and outs("csv_ion").get("uri", "").endswith("/people.ion"),
   "CsvToIon: a struct a row named by the header, quotes, separators and line breaks in fields, \\N null (%r %r %s)"
   % (files.get("csv_ion"), outs("csv_ion"), errs))
ok(files.get("ion_csv") == 'id,name,note\n1,"Smith, J.","said ""hi""\nthen left"\n2,Doe,\n3,,plain\n'
   and outs("ion_csv").get("uri", "").endswith(".csv"),
   "IonToCsv: back to CSV, quoted where needed, null empty (%r)" % files.get("ion_csv"))
ok(files.get("ion_json") == '{"id":"1","name":"Smith, J.","note":"said \\"hi\\"\\nthen left"}\n'
                            '{"id":"2","name":"Doe","note":null}\n{"id":"3","name":"","note":"plain"}\n'
   and outs("ion_json").get("uri", "").endswith(".jsonl"),
   "IonToJson: JSON lines, a .jsonl file (%r)" % files.get("ion_json"))
ok(files.get("nohead") == '["2","Doe",null]\n["3","","plain"]\n',
   "CsvToIon header: false, skipRows: a list a row (%r)" % files.get("nohead"))
ok(files.get("latin") == '{ville:"Z\u00fcrich",pays:"Suisse"}\n{ville:"Orl\u00e9ans",pays:"France"}\n',
   "CsvToIon: fieldSeparator ';', charset ISO-8859-1 read into UTF-8 (%r)" % files.get("latin"))
back = [open(p, "rb").read() for p in glob.glob(d + "/state/**/latin1.csv", recursive=True) if "/tasks/latin-back/" in p]  # task ids are written with - in storage paths
ok(back == [b"ville\tpays\r\nZ\xfcrich\tSuisse\r\nOrl\xe9ans\tFrance\r\n"],
   "IonToCsv: charset ISO-8859-1 written, a tab separator, CRLF lines (%r %s)" % (back, state("latin_back")))
ok(state("ragged_warn") == "SUCCESS" and files.get("ragged_warn") == '{a:"1",b:"2"}\n{a:"4",b:"5"}\n' and
   any("Expected 2, got 1 fields" in m for m in logs("ragged_warn")),
   "CsvToIon onBadLines WARN: the short row skipped, said (%r %r)" % (files.get("ragged_warn"), logs("ragged_warn")))
ok(state("ragged_error") == "FAILED" and
   any("'from-ragged.csv' line 3: Bad line encountered (field count mismatch): Expected 2, got 1 fields." in m
       for m in logs("ragged_error")), "CsvToIon: a bad line fails the task by default, naming it (%r)" % logs("ragged_error"))
src = [json.loads(l) for l in open(d + "/products.jsonl") if l.strip()]
got = [json.loads(l) for l in (files.get("json_back") or "").splitlines()]
ok(got == src and files.get("json_ion", "").count("\n") == 2 and files.get("json_ion", "").startswith("{id:1,name:\"Widget A\",price:9.5"),
   "JsonToIon then IonToJson: JSON lines round-trip, numbers, booleans, null, lists (%r %r)" % (files.get("json_ion"), got))
ok(files.get("array_ion", "").count("\n") == 2 and json.loads(files.get("array_back") or "null") ==
   [{"k": "v1"}, {"k": "v2", "n": {"deep": [1, 2]}}] and outs("array_back").get("uri", "").endswith(".json"),
   "newLine: false: a JSON array's elements as rows, and back as one array in a .json file (%r)" % files.get("array_back"))
ok(files.get("query_csv") == '"id","at","amount","ok","name","missing"\n'
                             '1,"2024-01-02T03:04:05Z",12.5,"true","a, b",""\n'
                             '2,"2024-06-30T00:00:00.5Z",-3.25,"false","plain",""\n',
   "IonToCsv of a query's Ion (timestamps, decimals, booleans), quoteMode NON_NUMERIC (%r)" % files.get("query_csv"))
ok(files.get("query_always", "").startswith('"1","2024-01-02T03:04:05Z","12.5","true","a, b",""\n'),
   "IonToCsv alwaysDelimitText, no header (%r)" % files.get("query_always"))
ok(state("not_json") == "FAILED" and any("is not JSON" in m and "newLine: false" in m for m in logs("not_json")),
   "JsonToIon: a file that is not JSON lines fails, hinting at newLine (%r)" % logs("not_json"))
ok(state("date_format") == "FAILED" and any("'dateTimeFormat' is not supported" in m for m in logs("date_format")),
   "IonToCsv: a date pattern it cannot apply fails the task, not ignored (%r)" % logs("date_format"))
sys.exit(1 if failed else 0)
PY
[ $? -eq 0 ] || failed=1
n=$((n + 14))

# Kestra's documented chain: a query's rows stored as Ion (the jdbc plugin, on SQLite), then CSV.
if [ -n "${TERN_PLUGIN_JDBC:-}" ]; then
        mkdir -p "$dir/plugins/jdbc"
        cp "$TERN_SOURCE_ROOT/plugins/jdbc/plugin.yaml" "$TERN_PLUGIN_JDBC" "$dir/plugins/jdbc/"
        chmod -R a+rX "$dir/plugins"
        cat >"$dir/chain.yaml" <<YAML
id: chain
namespace: test.serdes
tasks:
  - id: query
    type: io.kestra.plugin.jdbc.sqlite.Query
    url: "jdbc:sqlite::memory:"
    sql: SELECT 1 AS id, 'a "b"' AS name, 2.5 AS price, NULL AS missing, x'01ff' AS raw UNION ALL SELECT 2, 'c', 1e300, NULL, NULL
    fetchType: STORE
  - id: result
    type: io.kestra.plugin.serdes.csv.IonToCsv
    from: "{{ outputs.query.uri }}"
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "{{ read(outputs.result.uri) | toJson }}"
YAML
        (cd "$dir" && "$TERN" run "$dir/chain.yaml" --plugins-path "$dir/plugins" -q -o json --include-logs >"$dir/chain.json" 2>&1)
        python3 - "$dir/chain.json" >"$dir/chain.txt" 2>&1 <<'PY'
import json, sys
try:
    run = json.load(open(sys.argv[1]))
except ValueError:
    run = {}
got = [json.loads(l["message"]) for l in run.get("logs", []) if l.get("taskId") == "show"]
print(repr(got) + " " + repr([l["message"] for l in run.get("logs", []) if l.get("level") == "ERROR"]))
sys.exit(0 if got == ['id,name,price,missing,raw\n1,"a ""b""",2.5,,Af8=\n2,c,1e+300,,\n'] else 1)
PY
        ok $? "a query's Ion file (jdbc plugin, STORE) to CSV, as Kestra's example chains them ($(head -c 300 "$dir/chain.txt"))"
else
        n=$((n + 1))
        echo "ok $n - # SKIP no jdbc plugin given (TERN_PLUGIN_JDBC)"
fi
echo "1..$n"
exit $failed
