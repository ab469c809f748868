#!/usr/bin/env bash
# mariadb-cluster.sh: a throwaway MariaDB server for tests (mariadb-install-db into a temp dir, unix socket + random loopback port, no fsync).
#   mariadb-cluster.sh start        -> prints the connection URL (user tern, database tern), then the server directory
#   mariadb-cluster.sh stop DIR     -> stops the server and removes DIR
#   mariadb-cluster.sh halt DIR     -> stops the server, keeps DIR;  resume DIR -> starts it again
#   mariadb-cluster.sh restart DIR  -> stop and start (the same port and socket)
#   mariadb-cluster.sh crash DIR    -> SIGKILL and start (recovery from the redo log)
#   mariadb-cluster.sh sql DIR      -> runs the SQL on stdin as the server's root (test set-up: users, databases)
#   mariadb-cluster.sh createdb URL -> creates a new, empty database on the server of URL (as printed
#                                      by start) and prints its URL
#   mariadb-cluster.sh query URL SQL -> runs SQL on URL's database (ANSI_QUOTES, PIPES_AS_CONCAT), prints the rows tab-separated
# Exits 77 when no MariaDB server binaries are installed (tests skip then). The system's server and
# its /var/lib/mysql are never touched: everything lives in DIR, and the server runs as the mysql
# user when started as root.
set -euo pipefail

for b in mariadbd mariadb-install-db mariadb-admin mariadb; do
        if ! command -v "$b" >/dev/null && [ ! -x "/usr/sbin/$b" ]; then
                echo "mariadb-cluster.sh: no MariaDB server binaries ($b is missing: apt-get install mariadb-server)" >&2
                exit 77
        fi
done
mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)

run_user=()
[ "$(id -u)" = 0 ] && run_user=(--user=mysql)

free_port() {
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The root account of a fresh data directory authenticates by unix_socket as the OS user root; as
# another OS user the tests connect with the "tern" account the start creates.
as_root_sql() {
        local dir=$1; shift
        mariadb --no-defaults -S "$dir/mysqld.sock" -u root "$@"
}

server_start() {
        local dir=$1
        # --no-defaults: nothing from /etc/mysql (the system server's settings and data directory).
        "$mariadbd" --no-defaults "${run_user[@]}" --datadir="$dir/data" --tmpdir="$dir/tmp" --socket="$dir/mysqld.sock" \
                --pid-file="$dir/mysqld.pid" --port="$(cat "$dir/port")" --bind-address=127.0.0.1 \
                --log-error="$dir/server.log" --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 \
                --innodb-buffer-pool-size=64M --innodb-log-file-size=32M --max-connections=300 --max-allowed-packet=64M \
                --skip-log-bin --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
                --skip-name-resolve >/dev/null 2>&1 &
        local pid=$!
        for _ in $(seq 1 600); do
                if mariadb-admin --no-defaults -S "$dir/mysqld.sock" -u root ping >/dev/null 2>&1; then
                        return 0
                fi
                kill -0 "$pid" 2>/dev/null || return 1
                sleep 0.1
        done
        return 1
}

server_stop() {
        local dir=$1 signal=${2:-TERM}
        [ -f "$dir/mysqld.pid" ] || return 0
        local pid
        pid=$(cat "$dir/mysqld.pid" 2>/dev/null) || return 0
        kill "-$signal" "$pid" 2>/dev/null || return 0
        for _ in $(seq 1 300); do
                kill -0 "$pid" 2>/dev/null || return 0
                sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
}

cmd=${1:-}
case "$cmd" in
start)
        dir=$(mktemp -d /tmp/tern-mariadb.XXXXXX)
        chmod 755 "$dir"
        # Temporary tables and files in the cluster's own directory, not /tmp: two servers bootstrapping
        # side by side (two test runs) collided on one's temporary table there.
        mkdir "$dir/tmp"
        [ "$(id -u)" = 0 ] && chown mysql: "$dir" "$dir/tmp"
        if ! mariadb-install-db --no-defaults "${run_user[@]}" --datadir="$dir/data" --tmpdir="$dir/tmp" --auth-root-authentication-method=socket \
                --skip-test-db >"$dir/install.log" 2>&1; then
                cat "$dir/install.log" >&2
                rm -rf "$dir"
                exit 1
        fi
        # A free port can be taken between the probe and the start: try a few.
        for attempt in 1 2 3 4 5; do
                free_port > "$dir/port"
                if server_start "$dir"; then
                        as_root_sql "$dir" <<SQL
CREATE USER 'tern'@'localhost' IDENTIFIED BY 'tern';
CREATE USER 'tern'@'127.0.0.1' IDENTIFIED BY 'tern';
GRANT ALL ON *.* TO 'tern'@'localhost' WITH GRANT OPTION;
GRANT ALL ON *.* TO 'tern'@'127.0.0.1' WITH GRANT OPTION;
CREATE DATABASE tern;
SQL
                        echo "mysql://tern:tern@127.0.0.1:$(cat "$dir/port")/tern"
                        echo "$dir"
                        exit 0
                fi
                server_stop "$dir"
        done
        cat "$dir/server.log" >&2 || true
        rm -rf "$dir"
        exit 1
        ;;
stop)
        dir=${2:?directory}
        server_stop "$dir"
        case "$dir" in /tmp/tern-mariadb.*) rm -rf "$dir" ;; esac
        ;;
halt)
        server_stop "${2:?directory}"
        ;;
resume)
        server_start "${2:?directory}"
        ;;
restart)
        server_stop "${2:?directory}"
        server_start "$2"
        ;;
crash)
        server_stop "${2:?directory}" KILL
        rm -f "$2/mysqld.pid"
        server_start "$2"
        ;;
sql)
        as_root_sql "${2:?directory}"
        ;;
createdb|query)
        # mysql://USER:PASSWORD@HOST:PORT/DATABASE, as start prints it.
        if ! [[ ${2:?url} =~ ^mysql://([^:@]+):([^@]*)@([^:/]+):([0-9]+)/([A-Za-z0-9_]+)$ ]]; then
                echo "mariadb-cluster.sh: '$2' is not mysql://USER:PASSWORD@HOST:PORT/DATABASE" >&2
                exit 2
        fi
        user=${BASH_REMATCH[1]} pass=${BASH_REMATCH[2]} host=${BASH_REMATCH[3]} port=${BASH_REMATCH[4]}
        db=${BASH_REMATCH[5]}
        client() { MYSQL_PWD=$pass mariadb --no-defaults -h "$host" -P "$port" -u "$user" "$@"; }
        if [ "$cmd" = query ]; then
                # In the dialect tern's sessions speak (standard || and "identifiers").
                client -N -B "$db" -e "SET SESSION sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES,PIPES_AS_CONCAT'); ${3:?sql}"
        else
                new=tern_$$_$RANDOM$RANDOM
                client -e "CREATE DATABASE $new CHARACTER SET utf8mb4"
                echo "mysql://$user:$pass@$host:$port/$new"
        fi
        ;;
*)
        echo "usage: mariadb-cluster.sh start | stop DIR | halt DIR | resume DIR | restart DIR | crash DIR | sql DIR | createdb URL | query URL SQL" >&2
        exit 2
        ;;
esac
