#!/usr/bin/env bash
# test-cli-plugin-jdbc: the shipped jdbc plugin (plugins/jdbc, a native plugin) end to end with 'tern run': Kestra's
# Query and Queries on SQLite, on a throwaway PostgreSQL cluster and on a throwaway MariaDB server (each skipped,
# saying why, when its server binaries are missing): rows and their types as outputs (FETCH_ONE, FETCH), STORE's
# Ion file in internal storage, named parameters, transactions, a bad query's message and a timeout (TAP).
set -u
: "${TERN:?}" "${TERN_SOURCE_ROOT:?}" "${TERN_PLUGIN_JDBC:?}"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed (it checks the runs' JSON)"; exit 0; }

here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/tern-cli-jdbc.XXXXXX)
chmod 755 "$dir"
pg_dir= my_dir=
cleanup() {
        [ -n "$pg_dir" ] && "$here/../store/pg-cluster.sh" stop "$pg_dir" >/dev/null 2>&1
        [ -n "$my_dir" ] && "$here/../store/mariadb-cluster.sh" stop "$my_dir" >/dev/null 2>&1
        rm -rf "$dir"
}
trap cleanup EXIT
export TERN_STATE_DIR=$dir/state
unset TERN_PLUGINS_PATH TERN_CONFIG

# The plugin as its package would install it: the descriptor next to the shared object.
mkdir -p "$dir/plugins/jdbc"
cp "$TERN_SOURCE_ROOT/plugins/jdbc/plugin.yaml" "$TERN_PLUGIN_JDBC" "$dir/plugins/jdbc/"
chmod -R a+rX "$dir/plugins"

n=0 failed=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi; }
skip() { n=$((n + 1)); echo "ok $n - # SKIP $1"; }
has() { grep -qF -- "$2" "$1"; }

# ---- the descriptor: documentation and validation ----
"$TERN" plugins doc io.kestra.plugin.jdbc.postgresql.Query --plugins-path "$dir/plugins" >"$dir/doc.txt" 2>&1
has "$dir/doc.txt" "one of: NONE, FETCH_ONE, FETCH, STORE" && has "$dir/doc.txt" "Ion file" && has "$dir/doc.txt" "parameters"
ok $? "plugins doc: the Query's properties, fetchType's values and outputs ($(head -c 200 "$dir/doc.txt" | tr '\n' ' '))"

cat >"$dir/bad.yaml" <<'YAML'
id: bad
namespace: test.jdbc
tasks:
  - id: q
    type: io.kestra.plugin.jdbc.mysql.Query
    url: jdbc:mysql://127.0.0.1/db
    sqll: SELECT 1
    fetchType: FETCHALL
    transaction: false
YAML
"$TERN" flow validate --plugins-path "$dir/plugins" "$dir/bad.yaml" >"$dir/bad.txt" 2>&1
rc=$?
[ $rc -ne 0 ] && has "$dir/bad.txt" "bad.yaml:7:5: unknown property 'sqll' in task 'q' (jdbc.mysql.Query); did you mean 'sql'?" &&
        has "$dir/bad.txt" "bad.yaml:8:16: 'fetchType' of task 'q': invalid value 'FETCHALL', expected one of: NONE, FETCH_ONE, FETCH, STORE" &&
        has "$dir/bad.txt" "bad.yaml:9:5: unknown property 'transaction' in task 'q' (jdbc.mysql.Query)" &&
        has "$dir/bad.txt" "bad.yaml:4:5: task 'q' (jdbc.mysql.Query) is missing required property 'sql'"
ok $? "flow validate: file:line:col errors for bad properties ($(tr '\n' ' ' <"$dir/bad.txt"))"

# run NAME FLOW [ARGS]: runs the flow, its execution with logs in NAME.json.
run() {
        local name=$1 flow=$2
        shift 2
        (cd "$dir" && "$TERN" run "$flow" --plugins-path "$dir/plugins" -q -o json --include-logs "$@" \
                >"$dir/$name.json" 2>"$dir/$name.err")
}

# check NAME DRIVER: the assertions common to the three databases, on NAME.json (a run of the flow
# flow() writes); prints TAP lines numbered from $n.
check() {
        python3 - "$dir/$1.json" "$2" "$n" "$dir/$1.seconds" <<'PY'
import json, sys
path, driver, n, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(open(sys.argv[4]).read())
failed = 0
def ok(cond, name):
    global n, failed
    n += 1
    failed += not cond
    print(("ok %d - %s: %s" if cond else "not ok %d - %s: %s") % (n, driver, name))
try:
    run = json.load(open(path))
except ValueError:
    run = {}
tasks = {t["taskId"]: t for t in run.get("taskRunList", [])}
state = lambda t: tasks.get(t, {}).get("state", {}).get("current")
outs = lambda t: tasks.get(t, {}).get("outputs") or {}
logs = lambda t: [l["message"] for l in run.get("logs", []) if l.get("taskId") == t]

ok(state("setup") == "SUCCESS" and outs("setup") == {"outputs": [{"row": {"n": 2}, "size": 1}]},
   "Queries: the statements run in order, the SELECT's first row as outputs[0].row (%s %r %r)"
   % (state("setup"), outs("setup"), logs("setup")))
rows = outs("all").get("rows")
want = json.load(open(path.rsplit("/", 1)[0] + "/want-" + driver + ".json"))
ok(rows == want["rows"] and outs("all").get("size") == 2,
   "FETCH: every row, numbers, booleans, null, timestamps (ISO-8601, offset), dates, bytes as base64 (%r)" % rows)
ok(outs("one") == {"row": want["rows"][1], "size": 1}, "FETCH_ONE with a named parameter: that row (%r)" % outs("one"))
uri = outs("store").get("uri", "")
shown = logs("show")
ok(uri.startswith("kestra:///test/jdbc/") and uri.endswith(".ion") and outs("store").get("size") == 2 and
   shown == [want["ion"]], "STORE: an Ion file in internal storage, a struct a line (%r %r)" % (outs("store"), shown))
ok(state("none") == "SUCCESS" and outs("none") == {}, "NONE: no outputs (%r)" % outs("none"))
ok(state("bad") == "FAILED" and any(want["bad"] in m for m in logs("bad")),
   "a bad query fails the task with the server's message (%r)" % logs("bad"))
ok(state("two") == "FAILED" and any("Query runs one SQL statement, and 'sql' has 2: use the Queries task" in m
                                    for m in logs("two")), "Query refuses two statements (%r)" % logs("two"))
ok(state("rollback") == "FAILED" and outs("count") == {"row": {"n": 2}, "size": 1},
   "Queries: a failing statement rolls the transaction back (%r)" % outs("count"))
ok(outs("after") == {"row": {"n": 2}, "size": 1} and outs("seen") == {"rows": [{"id": 1}], "size": 1},
   "afterSQL: run after the query (its rows not among the outputs), with the parameters (%r %r)" % (outs("after"), outs("seen")))
ok(state("slow") == "FAILED" and any("Timeout after PT1S" in m for m in logs("slow")) and seconds < 20,
   "a query past the task's timeout is stopped (%r, the run took %.1fs)" % (logs("slow"), seconds))
print(n)
sys.exit(1 if failed else 0)
PY
}

# flow FILE DRIVER URL CONNECTION-LINES SETUP-SQL SLOW-SQL: the flow check() expects, on table t of
# columns id, name, and those of SETUP-SQL.
flow() {
        local file=$1 driver=$2 url=$3 conn=$4 setup=$5 slow=$6
        local base="    type: io.kestra.plugin.jdbc.$driver"
        {
                cat <<YAML
id: jdbc
namespace: test.jdbc
tasks:
  - id: setup
$base.Queries
    url: "$url"
$conn
    sql: |
$(sed 's/^/      /' <<<"$setup")
      SELECT count(*) AS n FROM t
    fetchType: FETCH_ONE
YAML
                for t in all one store none bad two rollback count after seen slow; do
                        echo "  - id: $t"
                        [ $t = rollback ] && echo "$base.Queries" || echo "$base.Query"
                        echo "    url: \"$url\""
                        echo "$conn"
                        case $t in
                        all) echo "    sql: SELECT * FROM t ORDER BY id"
                             echo "    fetchType: FETCH" ;;
                        one) echo "    sql: SELECT * FROM t WHERE name = :name AND id > :min -- :nope in a comment"
                             echo "    parameters: {name: \"it's; b\", min: 1}"
                             echo "    fetchType: FETCH_ONE" ;;
                        store) echo "    sql: SELECT * FROM t ORDER BY id;"
                               echo "    fetchType: STORE" ;;
                        none) echo "    sql: SELECT * FROM t" ;;
                        bad) echo "    sql: SELECT * FROM nope"
                             echo "    allowFailure: true" ;;
                        two) echo "    sql: SELECT 1; SELECT 2"
                             echo "    allowFailure: true" ;;
                        rollback) echo "    sql: INSERT INTO t (id, name) VALUES (3, 'c'); SELECT * FROM nope"
                                  echo "    allowFailure: true" ;;
                        count) echo "    sql: SELECT count(*) AS n FROM t"
                               echo "    fetchType: FETCH_ONE" ;;
                        after) echo "    sql: SELECT count(*) AS n FROM t WHERE missing IS NULL"
                               echo "    afterSQL: UPDATE t SET missing = :mark WHERE id = 1"
                               echo "    parameters: {mark: seen}"
                               echo "    fetchType: FETCH_ONE" ;;
                        seen) echo "    sql: SELECT id FROM t WHERE missing = 'seen'"
                              echo "    fetchType: FETCH" ;;
                        slow) echo "    sql: $slow"
                              echo "    timeout: PT1S"
                              echo "    allowFailure: true" ;;
                        esac
                done
                cat <<'YAML'
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "{{ read(outputs.store.uri) | trim }}"
YAML
        } >"$dir/$file"
}

# run_check NAME: runs NAME.yaml, times it, checks it.
run_check() {
        local start end out
        start=$(date +%s.%N)
        run "$1" "$dir/$1.yaml"
        end=$(date +%s.%N)
        python3 -c "print($end - $start)" >"$dir/$1.seconds"
        out=$(check "$1" "$1")
        local rc=$?
        sed '$d' <<<"$out"
        if [[ "$(tail -n 1 <<<"$out")" =~ ^[0-9]+$ ]]; then
                n=$(tail -n 1 <<<"$out")
        else
                ok 1 "$1: the run's checks ran ($(tail -n 3 <<<"$out"))"
        fi
        [ $rc -eq 0 ] || failed=1
}
CHECKS=10

# ---- SQLite ----
flow sqlite.yaml sqlite "jdbc:sqlite:shop.db" "" "CREATE TABLE t (id INTEGER, name TEXT, price REAL, data BLOB, missing TEXT);
INSERT INTO t VALUES (1, 'a \"quoted\"
line', 2.5, x'0102ff', NULL);
INSERT INTO t VALUES (2, 'it''s; b', 1e20, NULL, NULL);" \
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
# Each task has a working directory of its own: the database lives in the directory of the run.
sed -i "s|jdbc:sqlite:shop.db|jdbc:sqlite:$dir/shop.db|" "$dir/sqlite.yaml"
cat >"$dir/want-sqlite.json" <<'JSON'
{"rows": [{"id": 1, "name": "a \"quoted\"\nline", "price": 2.5, "data": "AQL/", "missing": null},
          {"id": 2, "name": "it's; b", "price": 1e20, "data": null, "missing": null}],
 "ion": "{id:1,name:\"a \\\"quoted\\\"\\nline\",price:2.5e0,data:{{AQL/}},missing:null}\n{id:2,name:\"it's; b\",price:1e20,data:null,missing:null}",
 "bad": "SQLite: no such table: nope"}
JSON
run_check sqlite

# sqliteFile: a database of internal storage (a FILE input), opened under the URL's name.
python3 -c "
import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.execute('CREATE TABLE k (v TEXT)'); c.execute(\"INSERT INTO k VALUES ('from storage')\"); c.commit()
" "$dir/input.db"
cat >"$dir/file.yaml" <<'YAML'
id: file
namespace: test.jdbc
inputs:
  - id: db
    type: FILE
tasks:
  - id: q
    type: io.kestra.plugin.jdbc.sqlite.Query
    url: jdbc:sqlite:mine.db
    sqliteFile: "{{ inputs.db }}"
    sql: SELECT v FROM k
    fetchType: FETCH_ONE
YAML
run file "$dir/file.yaml" -i db=@"$dir/input.db"
python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(0 if r['taskRunList'][0].get('outputs') == {'row': {'v': 'from storage'}, 'size': 1} else 1)" "$dir/file.json" 2>/dev/null
ok $? "SQLite: sqliteFile, a database of internal storage ($(grep -o '"outputs".\{0,100\}' "$dir/file.json" | tr '\n' ' ') $(tr '\n' ' ' <"$dir/file.err"))"

# ---- PostgreSQL ----
pg_out=$("$here/../store/pg-cluster.sh" start 2>"$dir/pg.err")
rc=$?
if [ $rc -ne 0 ]; then
        why="no PostgreSQL server binaries"
        [ $rc -eq 77 ] || why="the PostgreSQL cluster did not start: $(tail -n 2 "$dir/pg.err" | tr '\n' ' ')"
        for _ in $(seq $CHECKS); do skip "PostgreSQL: $why"; done
else
        pg_dir=$(sed -n 2p <<<"$pg_out")
        port=$(sed -n 1p <<<"$pg_out" | sed 's/.*port=\([0-9]*\).*/\1/')
        flow postgresql.yaml postgresql "jdbc:postgresql://127.0.0.1:$port/postgres" "    username: tern" \
                "DROP TABLE IF EXISTS t;
CREATE TABLE t (id int, name text, big bigint, amount numeric(10,2), ratio float8, ok boolean, missing text,
  at timestamp, atz timestamptz, day date, clock time, raw bytea, doc jsonb);
INSERT INTO t VALUES (1, 'a', 9007199254740993, 12.50, 0.25, true, NULL, '2024-01-02 03:04:05.123',
  '2024-01-02 03:04:05+02', '2024-01-02', '10:11:12', '\\x0102ff', '{\"k\": [1]}');
DO \$body\$ BEGIN INSERT INTO t (id, name, ok, atz) VALUES (2, 'it''s; b', false, '2024-06-30 23:59:59.5-05:30'); END \$body\$;" \
                "SELECT pg_sleep(30)"
        cat >"$dir/want-postgresql.json" <<'JSON'
{"rows": [{"id": 1, "name": "a", "big": 9007199254740993, "amount": 12.5, "ratio": 0.25, "ok": true, "missing": null,
           "at": "2024-01-02T03:04:05.123Z", "atz": "2024-01-02T01:04:05Z", "day": "2024-01-02", "clock": "10:11:12",
           "raw": "AQL/", "doc": "{\"k\": [1]}"},
          {"id": 2, "name": "it's; b", "big": null, "amount": null, "ratio": null, "ok": false, "missing": null,
           "at": null, "atz": "2024-07-01T05:29:59.5Z", "day": null, "clock": null, "raw": null, "doc": null}],
 "ion": "{id:1,name:\"a\",big:9007199254740993,amount:12.50,ratio:0.25e0,ok:true,missing:null,at:2024-01-02T03:04:05.123Z,atz:2024-01-02T01:04:05Z,day:2024-01-02,clock:\"10:11:12\",raw:{{AQL/}},doc:\"{\\\"k\\\": [1]}\"}\n{id:2,name:\"it's; b\",big:null,amount:null,ratio:null,ok:false,missing:null,at:null,atz:2024-07-01T05:29:59.5Z,day:null,clock:null,raw:null,doc:null}",
 "bad": "PostgreSQL: relation \"nope\" does not exist (SQLSTATE 42P01)"}
JSON
        run_check postgresql
fi

# ---- MariaDB ----
my_out=$("$here/../store/mariadb-cluster.sh" start 2>"$dir/my.err")
rc=$?
if [ $rc -ne 0 ]; then
        why="no MariaDB server binaries"
        [ $rc -eq 77 ] || why="the MariaDB server did not start: $(tail -n 2 "$dir/my.err" | tr '\n' ' ')"
        for _ in $(seq $((CHECKS + 1))); do skip "MySQL: $why"; done
else
        my_dir=$(sed -n 2p <<<"$my_out")
        port=$(sed -n 1p <<<"$my_out" | sed 's/.*:\([0-9]*\)\/tern$/\1/')
        flow mysql.yaml mysql "jdbc:mysql://127.0.0.1:$port/tern?useSSL=false" "    username: tern
    password: tern" \
                "DROP TABLE IF EXISTS t;
CREATE TABLE t (id int, name text, big bigint, amount decimal(10,2), ratio double, ok boolean, missing text,
  at datetime(3), ts timestamp NULL, day date, clock time, raw varbinary(10)) ENGINE=InnoDB;
INSERT INTO t VALUES (1, 'a', 9007199254740993, 12.50, 0.25, true, NULL, '2024-01-02 03:04:05.123',
  '2024-01-02 03:04:05', '2024-01-02', '10:11:12', x'0102ff');
INSERT INTO t (id, name, ok) VALUES (2, 'it''s; b', false);" \
                "SELECT SLEEP(30)"
        cat >"$dir/want-mysql.json" <<'JSON'
{"rows": [{"id": 1, "name": "a", "big": 9007199254740993, "amount": 12.5, "ratio": 0.25, "ok": true, "missing": null,
           "at": "2024-01-02T03:04:05.123Z", "ts": "2024-01-02T03:04:05Z", "day": "2024-01-02", "clock": "10:11:12",
           "raw": "AQL/"},
          {"id": 2, "name": "it's; b", "big": null, "amount": null, "ratio": null, "ok": false, "missing": null,
           "at": null, "ts": null, "day": null, "clock": null, "raw": null}],
 "ion": "{id:1,name:\"a\",big:9007199254740993,amount:12.50,ratio:0.25e0,ok:true,missing:null,at:2024-01-02T03:04:05.123Z,ts:2024-01-02T03:04:05Z,day:2024-01-02,clock:\"10:11:12\",raw:{{AQL/}}}\n{id:2,name:\"it's; b\",big:null,amount:null,ratio:null,ok:false,missing:null,at:null,ts:null,day:null,clock:null,raw:null}",
 "bad": "MySQL: Table 'tern.nope' doesn't exist (error 1146)"}
JSON
        run_check mysql
        # The stopped statement does not go on in the server.
        "$here/../store/mariadb-cluster.sh" query "$(sed -n 1p <<<"$my_out")" \
                "SELECT count(*) FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP%'" >"$dir/sleeping.txt" 2>&1
        [ "$(cat "$dir/sleeping.txt")" = 0 ]
        ok $? "MySQL: the timed-out statement was killed in the server ($(cat "$dir/sleeping.txt"))"
fi

echo "1..$n"
exit $failed
