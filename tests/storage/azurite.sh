#!/usr/bin/env bash
# azurite.sh: a throwaway Azure Blob service for tests (azurite from npm) on loopback.
#   azurite.sh start [DIR]  -> prints "ENDPOINT ACCOUNT KEY DIR SAS" on one line; container tern-test
#                              exists; SAS is an account SAS token (all permissions, one hour)
#   azurite.sh stop DIR     -> kills that azurite and removes DIR
#   azurite.sh kill DIR     -> SIGKILLs it, as a crash would (DIR keeps what it had written)
#   azurite.sh restart DIR  -> starts it again on DIR, its port and its account, and waits until it answers
# The account and its key are made up per run (AZURITE_ACCOUNTS). Exits 77 with the reason on
# stderr when azurite is not installed (npm install -g azurite; tests skip then).
set -euo pipefail

say() { echo "azurite.sh: $*" >&2; }

ours() { # PID DIR
        [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "--location $2 "
}

stop() {
        local d=$1 pid
        [ -d "$d" ] || return 0
        d=$(cd "$d" && pwd -P)
        [ -f "$d/.tern-azurite" ] || { say "$d was not made by azurite.sh; not touching it"; return 1; }
        if [ -f "$d/pid" ] && read -r pid <"$d/pid" && ours "$pid" "$d"; then
                kill "$pid" 2>/dev/null || true
                for _ in $(seq 100); do ours "$pid" "$d" || break; sleep 0.05; done
                ours "$pid" "$d" && kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -rf -- "$d"
}

spawn() { # DIR: azurite on DIR/server's port and account, until it answers
        local d=$1 port account key
        read -r port account key <"$d/server"
        AZURITE_ACCOUNTS="$account:$key" setsid azurite-blob --blobHost 127.0.0.1 --blobPort "$port" \
                --location "$d" --skipApiVersionCheck --disableProductStyleUrl </dev/null >>"$d/azurite.log" 2>&1 &
        echo $! >"$d/pid"
        for _ in $(seq 300); do
                curl -s -o /dev/null "http://127.0.0.1:$port/$account?comp=list" && return 0
                kill -0 "$(cat "$d/pid")" 2>/dev/null || { say "azurite exited: $(tail -n 5 "$d/azurite.log")"; return 1; }
                sleep 0.1
        done
        say "azurite did not answer on port $port"
        return 1
}

running() { # DIR (made by this script): prints its azurite's pid; fails when none runs
        local d pid
        d=$(cd "$1" && pwd -P)
        [ -f "$d/.tern-azurite" ] || { say "$d was not made by azurite.sh"; return 2; }
        read -r pid <"$d/pid" && ours "$pid" "$d" && echo "$pid"
}

crash() { # DIR
        local pid d
        pid=$(running "$1") || { say "no azurite of $1 is running"; return 1; }
        d=$(cd "$1" && pwd -P)
        kill -KILL "$pid"
        for _ in $(seq 100); do ours "$pid" "$d" || return 0; sleep 0.05; done
        say "azurite $pid still running after SIGKILL"
        return 1
}

restart() { # DIR
        local rc=0
        running "$1" >/dev/null || rc=$?
        [ $rc = 1 ] || { [ $rc = 0 ] && say "azurite of $1 is running"; return 1; }
        spawn "$(cd "$1" && pwd -P)"
}

start() { # DIR
        local d=$1 pid
        d=$(cd "$d" && pwd -P)
        [ -f "$d/.tern-azurite" ] || { say "$d was not made by azurite.sh"; return 1; }
        read -r pid <"$d/pid" && ours "$pid" "$d" && { say "azurite of $d is running"; return 1; }
        spawn "$d"
}

start() {
        local d=$1 port key account=ternacct
        command -v azurite-blob >/dev/null || { say "azurite is not installed (npm install -g azurite)"; exit 77; }
        command -v python3 >/dev/null || { say "python3 is not installed"; exit 77; }
        d=$(cd "$d" && pwd -P)
        touch "$d/.tern-azurite"
        port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        key=$(head -c 64 /dev/urandom | base64 -w0)
        # What restart needs (a throwaway key of a throwaway server).
        echo "$port $account $key" >"$d/server"
        spawn "$d" || return 1
        local endpoint="http://127.0.0.1:$port/$account"
        # The container, with a SharedKey request of our own (python: no SDK needed).
        python3 - "$endpoint" "$account" "$key" <<'PY' || { say "creating container tern-test failed"; return 1; }
import base64, hashlib, hmac, sys, urllib.request, email.utils
endpoint, account, key = sys.argv[1:]
date = email.utils.formatdate(usegmt=True)
path = endpoint.split("/", 3)[3]
sts = f"PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:2021-12-02\n/{account}/{path}/tern-test\nrestype:container"
sig = base64.b64encode(hmac.new(base64.b64decode(key), sts.encode(), hashlib.sha256).digest()).decode()
req = urllib.request.Request(f"{endpoint}/tern-test?restype=container", method="PUT",
                             headers={"x-ms-date": date, "x-ms-version": "2021-12-02",
                                      "Authorization": f"SharedKey {account}:{sig}"})
urllib.request.urlopen(req, timeout=10)
PY
        local sas
        sas=$(python3 - "$account" "$key" <<'PY'
import base64, hashlib, hmac, sys, time, urllib.parse
account, key = sys.argv[1:]
fmt = "%Y-%m-%dT%H:%M:%SZ"
start, expiry = time.strftime(fmt, time.gmtime(time.time() - 300)), time.strftime(fmt, time.gmtime(time.time() + 3600))
sv, sp, ss, srt, spr = "2021-12-02", "rwdlacup", "b", "sco", "http,https"
sts = "\n".join([account, sp, ss, srt, start, expiry, "", spr, sv, "", ""])
sig = base64.b64encode(hmac.new(base64.b64decode(key), sts.encode(), hashlib.sha256).digest()).decode()
print(urllib.parse.urlencode({"sv": sv, "ss": ss, "srt": srt, "sp": sp, "st": start, "se": expiry, "spr": spr, "sig": sig}))
PY
) || { say "making a SAS token failed"; return 1; }
        echo "$endpoint $account $key $d $sas"
}

case "${1:-}" in
start)
        dir=${2:-}
        [ -n "$dir" ] || dir=$(mktemp -d /tmp/tern-azurite.XXXXXX)
        mkdir -p "$dir"
        if ! start "$dir"; then
                stop "$dir" || true
                exit 1
        fi
        ;;
stop)
        stop "${2:?usage: azurite.sh stop DIR}"
        ;;
kill)
        crash "${2:?usage: azurite.sh kill DIR}"
        ;;
restart)
        restart "${2:?usage: azurite.sh restart DIR}"
        ;;
*)
        echo "usage: azurite.sh start [DIR] | stop DIR | kill DIR | restart DIR" >&2
        exit 2
        ;;
esac
