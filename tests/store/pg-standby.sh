#!/usr/bin/env bash
# pg-standby.sh: a throwaway PostgreSQL primary with a synchronous streaming standby (pg_basebackup -R), for failover tests.
#   pg-standby.sh start          -> prints the multi-host URL (both servers, target_session_attrs=read-write),
#                                   then the pair's directory, then each server's own URL (the primary's first)
#   pg-standby.sh stop DIR       -> stops both servers and removes DIR
#   pg-standby.sh kill DIR       -> the primary killed (pg_ctl stop -m immediate): it stays down
#   pg-standby.sh promote DIR    -> the standby promoted (pg_ctl promote, waits until it accepts writes)
#   pg-standby.sh rejoin DIR     -> the old primary, down, made a synchronous standby of the new one
#                                   (a fresh base backup on its old port): the pair is whole again
#   pg-standby.sh restart DIR    -> pg_ctl restart -m fast of the primary;  crash DIR: -m immediate (as pg-cluster.sh)
#   pg-standby.sh urls DIR       -> what start printed, the current primary's URL third
#   pg-standby.sh status DIR     -> one line per server: NAME: primary|standby|down
# Commits wait for the standby (synchronous_standby_names, synchronous_commit = on): a transaction
# the primary acknowledged is on the standby when it is promoted. A promoted server has no
# synchronous standby until rejoin gives it one, or its commits would wait for none to come.
# Exits 77 when no PostgreSQL server binaries are installed (tests skip then).
# PG_LISTEN=ADDR (start): both servers also listen on ADDR and let in clients of its subnet
# (tests/cluster); the URLs then name ADDR.
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/postgres" ] || [ ! -x "$bindir/pg_basebackup" ]; then
        echo "pg-standby.sh: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin" >&2
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

# The servers are n1 and n2; DIR/primary names the one that is primary now.
primary_of() { cat "$1/primary"; }
standby_of() { [ "$(primary_of "$1")" = n1 ] && echo n2 || echo n1; }

pg_ctl_() { # DIR NODE ARGS...
        local dir=$1 node=$2; shift 2
        as_pg "$bindir/pg_ctl" -D "$dir/$node" -l "$dir/$node.log" -w -t 60 "$@" >/dev/null
}

remove() { # DIR: whatever of the pair runs, stopped (immediate: the data is thrown away), DIR removed
        local node
        for node in n1 n2; do
                [ -f "$1/$node/postmaster.pid" ] && as_pg "$bindir/pg_ctl" -D "$1/$node" -m immediate -w stop >/dev/null 2>&1
        done
        case "$1" in /tmp/tern-pgsb.*) rm -rf "$1" ;; esac
}

psql_() { # DIR NODE SQL
        as_pg "$bindir/psql" -X -qtA -h "$1" -p "$(cat "$1/$2.port")" -U tern -d postgres -c "$3"
}

start_node() { # DIR NODE: on its port, or a free one tried a few times (one can be taken between the probe and the start)
        local dir=$1 node=$2 port attempt
        for attempt in 1 2 3 4 5; do
                port=$(cat "$dir/$node.port" 2>/dev/null || free_port)
                # Later lines win: this overrides what pg_basebackup copied from the primary.
                echo "port = $port" | as_pg tee -a "$dir/$node/postgresql.auto.conf" >/dev/null
                if pg_ctl_ "$dir" "$node" start; then
                        echo "$port" >"$dir/$node.port"
                        return 0
                fi
                [ -f "$dir/$node.port" ] && break
        done
        cat "$dir/$node.log" >&2 || true
        return 1
}

# NODE made a streaming standby of the primary: a base backup (-R: standby.signal, primary_conninfo).
make_standby() { # DIR NODE
        local dir=$1 node=$2 primary
        primary=$(primary_of "$dir")
        as_pg rm -rf "$dir/$node"
        as_pg "$bindir/pg_basebackup" -D "$dir/$node" -R -X stream -c fast --no-sync \
                -d "host=$dir port=$(cat "$dir/$primary.port") user=tern" >"$dir/basebackup.log" 2>&1 ||
                { cat "$dir/basebackup.log" >&2; return 1; }
        as_pg tee -a "$dir/$node/postgresql.auto.conf" >/dev/null <<CONF
primary_conninfo = 'host=$dir port=$(cat "$dir/$primary.port") user=tern application_name=standby'
synchronous_standby_names = ''
hot_standby = on
CONF
        start_node "$dir" "$node" || return 1
        # Synchronous from now: the primary's commits wait for this standby again.
        psql_ "$dir" "$primary" "ALTER SYSTEM SET synchronous_standby_names = 'standby'" >/dev/null
        psql_ "$dir" "$primary" "SELECT pg_reload_conf()" >/dev/null
        # Ready when the primary counts the standby as its synchronous one.
        for i in $(seq 1 300); do
                [ "$(psql_ "$dir" "$primary" "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'" 2>/dev/null)" = sync ] && return 0
                sleep 0.1
        done
        echo "pg-standby.sh: the standby did not become synchronous in 30 s" >&2
        cat "$dir/$node.log" >&2
        return 1
}

urls() { # DIR: the multi-host URL, DIR, each server's URL (the primary's first)
        local h=${PG_LISTEN:-127.0.0.1} p s
        p=$(primary_of "$1") s=$(standby_of "$1")
        echo "postgresql://$h:$(cat "$1/n1.port"),$h:$(cat "$1/n2.port")/postgres?user=tern&target_session_attrs=read-write"
        echo "$1"
        echo "postgresql://$h:$(cat "$1/$p.port")/postgres?user=tern"
        echo "postgresql://$h:$(cat "$1/$s.port")/postgres?user=tern"
}

cmd=${1:-}
case "$cmd" in
start)
        dir=$(mktemp -d /tmp/tern-pgsb.XXXXXX)
        # Interrupted or failed half-way: nothing started is left running.
        trap 'remove "$dir"' EXIT
        trap 'exit 130' INT TERM HUP
        chmod 755 "$dir"
        [ "$(id -u)" = 0 ] && chown postgres: "$dir"
        echo n1 >"$dir/primary"
        if ! as_pg "$bindir/initdb" -D "$dir/n1" -U tern --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1; then
                cat "$dir/initdb.log" >&2
                exit 1
        fi
        # initdb's pg_hba.conf already lets local and loopback replication connections in.
        [ -n "${PG_LISTEN:-}" ] && printf "host all all samenet trust\nhost replication all samenet trust\n" >>"$dir/n1/pg_hba.conf"
        as_pg tee "$dir/n1/postgresql.auto.conf" >/dev/null <<CONF
listen_addresses = '127.0.0.1${PG_LISTEN:+,$PG_LISTEN}'
unix_socket_directories = '$dir'
fsync = off
full_page_writes = off
max_connections = 200
wal_level = replica
synchronous_commit = on
# A standby reconnects to a restarted primary after this (5 s by default), and until it does
# every commit on the primary waits: long enough for the daemons' liveness to see silence.
wal_retrieve_retry_interval = '200ms'
CONF
        start_node "$dir" n1
        make_standby "$dir" n2
        urls "$dir"
        trap - EXIT
        exit 0
        ;;
stop)
        remove "${2:?directory}"
        ;;
kill)
        dir=${2:?directory}
        pg_ctl_ "$dir" "$(primary_of "$dir")" -m immediate stop
        ;;
promote)
        dir=${2:?directory}
        s=$(standby_of "$dir")
        pg_ctl_ "$dir" "$s" promote
        echo "$s" >"$dir/primary"
        ;;
rejoin)
        dir=${2:?directory}
        s=$(standby_of "$dir")
        [ -f "$dir/$s/postmaster.pid" ] && as_pg "$bindir/pg_ctl" -D "$dir/$s" -m immediate -w stop >/dev/null 2>&1
        make_standby "$dir" "$s"
        ;;
restart)
        dir=${2:?directory}
        pg_ctl_ "$dir" "$(primary_of "$dir")" -m fast restart
        ;;
crash)
        dir=${2:?directory}
        pg_ctl_ "$dir" "$(primary_of "$dir")" -m immediate restart
        ;;
urls)
        urls "${2:?directory}"
        ;;
status)
        dir=${2:?directory}
        for node in n1 n2; do
                case "$(psql_ "$dir" "$node" "SELECT pg_is_in_recovery()" 2>/dev/null)" in
                f) echo "$node: primary" ;;
                t) echo "$node: standby" ;;
                *) echo "$node: down" ;;
                esac
        done
        ;;
*)
        echo "usage: pg-standby.sh start | stop DIR | kill DIR | promote DIR | rejoin DIR | restart DIR | crash DIR | urls DIR | status DIR" >&2
        exit 2
        ;;
esac
