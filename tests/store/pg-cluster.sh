#!/usr/bin/env bash
# pg-cluster.sh: a throwaway PostgreSQL cluster for tests (initdb into a temp dir, unix socket + random loopback port, fsync off).
#   pg-cluster.sh start        -> prints the connection URL, then the cluster directory
#   pg-cluster.sh stop DIR     -> stops the server and removes DIR
#   pg-cluster.sh halt DIR     -> stops the server (fast), keeps DIR;  resume DIR -> starts it again
#   pg-cluster.sh restart DIR  -> pg_ctl restart -m fast
#   pg-cluster.sh crash DIR    -> pg_ctl restart -m immediate (a crash: no checkpoint, recovery from WAL)
#   pg-cluster.sh down DIR     -> pg_ctl stop -m immediate (a crash that stays down), keeps DIR; resume DIR
# Exits 77 when no PostgreSQL server binaries are installed (tests skip then).
# PG_LISTEN=ADDR (start): also listen on ADDR and let in clients of its subnet (tests/cluster runs the
# server in a network namespace of its own, reached over a veth link); the URL printed stays the socket's.
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/postgres" ]; then
        echo "pg-cluster.sh: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin" >&2
        exit 77
fi

# The server refuses to run as root: run it as the postgres user then.
as_pg() {
        if [ "$(id -u)" = 0 ]; then
                runuser -u postgres -- "$@"
        else
                "$@"
        fi
}

free_port() {
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_ctl_() {
        local dir=$1; shift
        as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 "$@" >/dev/null
}

cmd=${1:-}
case "$cmd" in
start)
        dir=$(mktemp -d /tmp/tern-pg.XXXXXX)
        chmod 755 "$dir"
        [ "$(id -u)" = 0 ] && chown postgres: "$dir"
        if ! as_pg "$bindir/initdb" -D "$dir/data" -U tern --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1; then
                cat "$dir/initdb.log" >&2
                rm -rf "$dir"
                exit 1
        fi
        [ -n "${PG_LISTEN:-}" ] && echo "host all all samenet trust" >>"$dir/data/pg_hba.conf"
        # A free port can be taken between the probe and the start: try a few.
        for attempt in 1 2 3 4 5; do
                port=$(free_port)
                cat > "$dir/data/postgresql.auto.conf" <<CONF
listen_addresses = '127.0.0.1${PG_LISTEN:+,$PG_LISTEN}'
port = $port
unix_socket_directories = '$dir'
fsync = off
full_page_writes = off
max_connections = 200
CONF
                [ "$(id -u)" = 0 ] && chown postgres: "$dir/data/postgresql.auto.conf"
                if pg_ctl_ "$dir" start; then
                        echo "$port" > "$dir/port"
                        echo "postgresql:///postgres?host=$dir&port=$port&user=tern"
                        echo "$dir"
                        exit 0
                fi
        done
        cat "$dir/server.log" >&2 || true
        rm -rf "$dir"
        exit 1
        ;;
stop)
        dir=${2:?directory}
        [ -d "$dir/data" ] && as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
        case "$dir" in /tmp/tern-pg.*) rm -rf "$dir" ;; esac
        ;;
halt)
        pg_ctl_ "${2:?directory}" -m fast stop
        ;;
resume)
        pg_ctl_ "${2:?directory}" start
        ;;
restart)
        pg_ctl_ "${2:?directory}" -m fast restart
        ;;
crash)
        pg_ctl_ "${2:?directory}" -m immediate restart
        ;;
down)
        pg_ctl_ "${2:?directory}" -m immediate stop
        ;;
*)
        echo "usage: pg-cluster.sh start | stop DIR | halt DIR | resume DIR | restart DIR | crash DIR | down DIR" >&2
        exit 2
        ;;
esac
