#!/usr/bin/env bash
# rgw.sh: a throwaway S3 server for tests: Ceph's radosgw (one monitor, one memory-backed OSD, no cephx) on loopback.
#   rgw.sh start [DIR]   -> prints "ENDPOINT ACCESS_KEY SECRET_KEY DIR" on one line; bucket tern-test exists
#   rgw.sh stop DIR      -> kills the daemons started in DIR and removes DIR
#   rgw.sh kill DIR      -> SIGKILLs radosgw alone, as a crash would (the monitor and the OSD keep the
#                           data; the object store is down); "halt" is the same
#   rgw.sh restart DIR   -> starts radosgw again, on its address and port, and waits until it answers;
#                           "resume" is the same
# RGW_ADDR=ADDR (start): radosgw listens on ADDR instead of 127.0.0.1 (tests/cluster runs it in a
# network namespace of its own, reached over a veth link); the monitor and the OSD stay on loopback.
# DIR (made with mktemp -d when not given) holds everything: config, RAM-backed OSD, logs, sockets.
# Exits 77 with the reason on stderr when Ceph is not installed (tests skip then).
set -euo pipefail
set +m # the daemons must not become process-group leaders of their own: setsid would fork

say() { echo "rgw.sh: $*" >&2; }

alive() { # PID: running and not a zombie
        local st
        read -r st 2>/dev/null <"/proc/$1/stat" || return 1
        st=${st##*) }
        [ "${st%% *}" != Z ]
}

ours() { # PID DIR: a daemon started with DIR's configuration (a reused PID is left alone)
        alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "-c $2/ceph.conf "
}

kill_daemons() { # DIR
        local pid pids=()
        [ -f "$1/pids" ] || return 0
        read -r -a pids <"$1/pids" || true
        for pid in "${pids[@]}"; do
                # SIGKILL: memstore would write every object to DIR on a clean shutdown, for nothing.
                ours "$pid" "$1" && kill -KILL "$pid" 2>/dev/null || true
        done
        for _ in $(seq 100); do
                local left=0
                for pid in "${pids[@]}"; do alive "$pid" && ours "$pid" "$1" && left=1; done
                [ $left = 0 ] && return 0
                sleep 0.05
        done
        say "daemons of $1 still running after SIGKILL"
        return 1
}

stop() { # DIR
        local d=$1
        [ -d "$d" ] || return 0
        d=$(cd "$d" && pwd -P)
        [ -f "$d/.tern-rgw" ] || { say "$d was not made by rgw.sh; not touching it"; return 1; }
        kill_daemons "$d"
        rm -rf -- "$d"
}

free_ports() { # N: N distinct free loopback ports
        python3 -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

start() { # DIR
        local d=$1 timeout=${RGW_TIMEOUT:-60}
        for b in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool curl python3; do
                command -v "$b" >/dev/null || { say "'$b' is not installed (scripts/install-deps test installs Ceph)"; exit 77; }
        done
        d=$(cd "$d" && pwd -P)
        # The admin sockets live in DIR/run: a unix socket path has at most 107 bytes.
        [ ${#d} -le 80 ] || { say "'$d' is too long for the daemons' sockets"; return 1; }
        touch "$d/.tern-rgw"
        mkdir -p "$d/mon" "$d/osd" "$d/run" "$d/log"
        local mon_port rgw_port
        read -r mon_port rgw_port < <(free_ports 2)
        local fsid osd_uuid
        fsid=$(cat /proc/sys/kernel/random/uuid)
        osd_uuid=$(cat /proc/sys/kernel/random/uuid)
        ACCESS_KEY=${RGW_ACCESS_KEY:-TERN$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)}
        SECRET_KEY=${RGW_SECRET_KEY:-$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')}
        local conf=$d/ceph.conf
        # Without cephx, every messenger mode must be "crc" or radosgw never connects. Every path
        # points into DIR (the defaults are under /var). A short paxos interval makes the pools
        # radosgw creates at start commit at once (about 1 s instead of 9).
        cat >"$conf" <<EOF
[global]
fsid = $fsid
mon_host = v2:127.0.0.1:$mon_port
public_addr = 127.0.0.1
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_cluster_mode = crc
ms_service_mode = crc
ms_client_mode = crc
ms_mon_cluster_mode = crc
ms_mon_service_mode = crc
ms_mon_client_mode = crc
ms_bind_retry_count = 1
keyring = $d/keyring
run_dir = $d/run
crash_dir = $d/log
admin_socket = $d/run/\$name.asok
log_file = $d/log/\$name.log
mon_cluster_log_file = $d/log/cluster.log
mon_data = $d/mon
osd_data = $d/osd
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_data_avail_crit = 0
paxos_propose_interval = 0.01
paxos_min_wait = 0.001
[osd]
osd_objectstore = memstore
memstore_device_bytes = ${RGW_MEMSTORE_BYTES:-2147483648}
[client.rgw]
rgw_frontends = beast endpoint=${RGW_ADDR:-127.0.0.1}:$rgw_port
# Virtual-host-style requests name the bucket in the host: BUCKET.localhost (loopback to libcurl).
rgw_dns_name = localhost
EOF
        export CEPH_CONF=$conf
        pids=()
        spawn() { # NAME CMD...: a daemon in the foreground (-f) of its own session
                local name=$1; shift
                setsid "$@" -f </dev/null >>"$d/log/$name.out" 2>&1 &
                pids+=($!)
                echo "${pids[*]}" >"$d/pids"
        }
        wait_until() { # WHAT CHECK...
                local what=$1 end=$((SECONDS + timeout)) pid; shift
                while [ $SECONDS -le $end ]; do
                        "$@" && return 0
                        for pid in "${pids[@]}"; do
                                alive "$pid" || { say "a daemon exited while waiting for $what"; tail -n 5 "$d"/log/*.out "$d"/log/*.log >&2 || true; return 1; }
                        done
                        sleep 0.1
                done
                say "timed out after ${timeout}s waiting for $what"
                tail -n 5 "$d"/log/*.log >&2 || true
                return 1
        }
        monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$d/monmap" >"$d/log/monmaptool.out" 2>&1 ||
                { say "monmaptool failed"; return 1; }
        ceph-mon -c "$conf" -i a --mkfs --monmap "$d/monmap" >"$d/log/mkfs-mon.out" 2>&1 ||
                { say "ceph-mon --mkfs failed: $(tail -n 3 "$d/log/mkfs-mon.out")"; return 1; }
        spawn mon ceph-mon -c "$conf" -i a
        wait_until "the monitor" grep -q 'is new leader' "$d/log/mon.a.log" || return 1
        local id
        id=$(timeout "$timeout" ceph -c "$conf" --connect-timeout "$timeout" osd new "$osd_uuid" 2>"$d/log/osd-new.out") ||
                { say "ceph osd new failed"; return 1; }
        ceph-osd -c "$conf" -i "$id" --mkfs --osd-uuid "$osd_uuid" >"$d/log/mkfs-osd.out" 2>&1 ||
                { say "ceph-osd --mkfs failed: $(tail -n 3 "$d/log/mkfs-osd.out")"; return 1; }
        spawn osd ceph-osd -c "$conf" -i "$id"
        # radosgw only once the OSD is active: its first reads would otherwise wait 5 s for a new map.
        wait_until "the OSD" grep -q 'booting -> active' "$d/log/osd.$id.log" || return 1
        spawn rgw radosgw -c "$conf" -n client.rgw
        local addr=${RGW_ADDR:-127.0.0.1}
        wait_until "radosgw on port $rgw_port" sh -c "curl -s -m 2 http://$addr:$rgw_port/ | grep -q ListAllMyBucketsResult" ||
                return 1
        timeout "$timeout" radosgw-admin -c "$conf" user create --uid=tern --display-name=tern \
                --access-key="$ACCESS_KEY" --secret="$SECRET_KEY" >"$d/log/user.out" 2>&1 ||
                { say "radosgw-admin user create failed"; return 1; }
        # curl 7.88 signs an empty payload unless told: say UNSIGNED-PAYLOAD.
        local code
        code=$(curl -s -o "$d/log/bucket.out" -w '%{http_code}' -X PUT --aws-sigv4 aws:amz:us-east-1:s3 \
                --user "$ACCESS_KEY:$SECRET_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
                "http://$addr:$rgw_port/tern-test")
        [ "$code" = 200 ] || { say "creating bucket tern-test: HTTP $code"; return 1; }
        echo "http://$addr:$rgw_port $ACCESS_KEY $SECRET_KEY $d"
}

gateway_pid() { # DIR: radosgw's PID, the third daemon spawned
        local pids=()
        read -r -a pids <"$1/pids" 2>/dev/null || true
        echo "${pids[2]:-}"
}

halt() { # DIR
        local d pid
        d=$(cd "$1" && pwd -P)
        [ -f "$d/.tern-rgw" ] || { say "$d was not made by rgw.sh; not touching it"; return 1; }
        pid=$(gateway_pid "$d")
        [ -n "$pid" ] && ours "$pid" "$d" || return 0
        kill -KILL "$pid"
        for _ in $(seq 100); do alive "$pid" || return 0; sleep 0.05; done
        say "radosgw ($pid) still running after SIGKILL"
        return 1
}

resume() { # DIR
        local d pid endpoint
        d=$(cd "$1" && pwd -P)
        [ -f "$d/.tern-rgw" ] || { say "$d was not made by rgw.sh; not touching it"; return 1; }
        pid=$(gateway_pid "$d")
        [ -n "$pid" ] && ours "$pid" "$d" && return 0
        endpoint=$(sed -n 's/^rgw_frontends = beast endpoint=//p' "$d/ceph.conf")
        local pids=()
        read -r -a pids <"$d/pids"
        setsid radosgw -c "$d/ceph.conf" -n client.rgw -f </dev/null >>"$d/log/rgw.out" 2>&1 &
        pids[2]=$!
        echo "${pids[*]}" >"$d/pids"
        local end=$((SECONDS + ${RGW_TIMEOUT:-60}))
        while [ $SECONDS -le $end ]; do
                curl -s -m 2 "http://$endpoint/" | grep -q ListAllMyBucketsResult && return 0
                alive "${pids[2]}" || { say "radosgw exited on resume"; tail -n 5 "$d/log/rgw.out" >&2; return 1; }
                sleep 0.1
        done
        say "timed out waiting for radosgw on $endpoint"
        return 1
}

case "${1:-}" in
start)
        dir=${2:-}
        [ -n "$dir" ] || dir=$(mktemp -d /tmp/tern-rgw.XXXXXX)
        mkdir -p "$dir"
        [ -z "$(ls -A "$dir")" ] || { say "'$dir' is not empty"; exit 1; }
        if ! start "$dir"; then
                say "radosgw did not start (see above)"
                stop "$dir" || true
                exit 1
        fi
        ;;
stop)
        stop "${2:?usage: rgw.sh stop DIR}"
        ;;
kill | halt)
        halt "${2:?usage: rgw.sh kill DIR}"
        ;;
restart | resume)
        resume "${2:?usage: rgw.sh restart DIR}"
        ;;
*)
        echo "usage: rgw.sh start [DIR] | stop DIR | kill DIR | restart DIR" >&2
        exit 2
        ;;
esac
