#!/usr/bin/env bash
# test-cli-private-state: what tern writes in its state directory (the SQLite database with its
# -wal and -shm, the internal storage) is not world-readable, whatever the caller's umask; a
# database password given with --db draws a warning that says what to use instead (TAP).
set -uo pipefail
: "${TERN:?}"
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }

scratch=$(mktemp -d /tmp/tern-private-state.XXXXXX)
server=
cleanup() {
        [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
        rm -rf "$scratch"
}
trap cleanup EXIT
umask 022 # (the usual one: what tern creates must not follow it)

cat >"$scratch/files.yaml" <<'YAML'
id: files
namespace: test.private
tasks:
  - id: write
    type: io.kestra.plugin.scripts.shell.Commands
    outputFiles: ["out.txt"]
    commands:
      - echo data > out.txt
YAML
# World-readable files and directories below $1 (with their modes), for the messages.
exposed() { find "$1" \( -type f -o -type d \) -perm -o+r -printf '%m %P\n' 2>/dev/null | grep -v ' $'; }

st="$scratch/state-run"
out=$(TERN_STATE_DIR="$st" "$TERN" run "$scratch/files.yaml" --sandbox off 2>&1); rc=$?
stored=$(find "$st/storage" -type f 2>/dev/null | head -1)
ok "$([ $rc = 0 ] && [ -f "$st/tern.db" ] && [ -n "$stored" ] && echo 0 || echo 1)" \
        "tern run with a fresh state directory stores the database and the output file (exit $rc)"
[ $rc = 0 ] || sed 's/^/# /' <<<"$out"
ok "$([ -z "$(exposed "$st")" ] && echo 0 || echo 1)" \
        "nothing in it is world-readable: $(exposed "$st" | tr '\n' ' ')"

# The -wal and -shm files exist while a server has the database open.
st="$scratch/state-server"
mkdir -p "$st"
TERN_STATE_DIR="$st" "$TERN" server standalone --sandbox off >"$scratch/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do [ -e "$st/tern.db-wal" ] && [ -e "$st/tern.db-shm" ] && break; sleep 0.1; done
ok "$([ -e "$st/tern.db-wal" ] && [ -e "$st/tern.db-shm" ] && [ -z "$(exposed "$st")" ] && echo 0 || echo 1)" \
        "with tern server standalone running, tern.db, tern.db-wal and tern.db-shm are not world-readable: $(ls -l "$st" | tail -n +2 | awk '{print $1, $NF}' | tr '\n' ' ')"
kill "$server"; wait "$server" 2>/dev/null; server=

# --db with a password: said at once, with what to use instead; not for TERN_DB nor without one.
out=$("$TERN" db status --db 'postgresql://tern:s3cret@127.0.0.1:1/tern' 2>&1)
ok "$(grep -q "warning: .*--db gives the database password on the command line" <<<"$out" &&
        grep -q "TERN_DB" <<<"$out" && grep -q "PGPASSFILE" <<<"$out" && echo 0 || echo 1)" \
        "--db postgresql://USER:PASSWORD@... warns and names TERN_DB and PGPASSFILE"
out=$("$TERN" db status --db 'host=127.0.0.1 port=1 dbname=tern password=s3cret' 2>&1)
ok "$(grep -q "warning: .*--db gives the database password" <<<"$out" && echo 0 || echo 1)" \
        "--db with libpq keywords and password= warns too"
out=$(TERN_DB='postgresql://tern:s3cret@127.0.0.1:1/tern' "$TERN" db status 2>&1)
ok "$(grep -q "gives the database password" <<<"$out" && echo 1 || echo 0)" "TERN_DB with a password: no warning"
ok "$(grep -q "cannot open database 'postgresql://tern:\*\*\*@127.0.0.1:1/tern'" <<<"$out" && ! grep -q s3cret <<<"$out" &&
        echo 0 || echo 1)" "the error names the database without its password: $(grep "cannot open" <<<"$out")"
out=$(TERN_DB='host=127.0.0.1 port=1 password=s3cret user=u' "$TERN" db status 2>&1)
ok "$(grep -q "password=\*\*\* user=u" <<<"$out" && ! grep -q s3cret <<<"$out" && echo 0 || echo 1)" \
        "so does a libpq keyword string's"
out=$("$TERN" db status --db 'postgresql://tern@127.0.0.1:1/tern' 2>&1)
ok "$(grep -q "gives the database password" <<<"$out" && echo 1 || echo 0)" "--db without a password: no warning"
echo "1..$n"
exit $((failed > 0))
