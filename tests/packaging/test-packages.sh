#!/usr/bin/env bash
# test-packages: packaging/build-deb and packaging/build-rpm on the committed tree (git HEAD):
# the .debs carry meson.build's version and a tern that names its revision, lintian finds no
# errors, the scripts neither enable nor start units but restart running ones on upgrade, and
# the rpms hold the same files in the same packages, built from the same `meson install` tree
# (TAP). Root and apt (it installs what the builds need); one build of each, niced. The .debs
# stay in the build tree (packaging-debs/) for test-deb-system.sh.
set -uo pipefail
: "${TERN_SOURCE_ROOT:?}" "${TERN_BUILD_ROOT:?}"
src=$TERN_SOURCE_ROOT
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP not root (the builds install their dependencies with apt)"; exit 0; }
command -v apt-get >/dev/null || { echo "1..0 # SKIP no apt-get"; exit 0; }
head=$(git -C "$src" rev-parse HEAD 2>/dev/null) || { echo "1..0 # SKIP '$src' is not a git checkout"; exit 0; }

n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }
finish() { echo "1..$n"; exit $((failed > 0)); }
d=$(mktemp -d /tmp/tern-packages.XXXXXX)
trap 'rm -rf "$d"' EXIT
mkdir "$d/debs" "$d/rpms"
version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$src/meson.build" | head -1)

DEB_BUILD_OPTIONS="parallel=$(nproc)" nice -n 10 "$src/packaging/build-deb" --tree "$d/tree" "$d/debs" >"$d/deb.log" 2>&1
ok $? "packaging/build-deb builds the .debs"
[ $failed = 0 ] || { sed 's/^/# /' "$d/deb.log" | tail -40; finish; }
# Kept for test-deb-system.sh, which installs them in a container (it builds them itself when
# they are not of the revision it tests).
cache=$TERN_BUILD_ROOT/packaging-debs
rm -rf "$cache" && mkdir -p "$cache" && cp "$d"/debs/tern*.deb "$cache"/ && echo "$head" >"$cache/REVISION"
nice -n 10 "$src/packaging/build-rpm" --tree "$d/tree" "$d/rpms" >"$d/rpm.log" 2>&1
ok $? "packaging/build-rpm builds the rpms from the same meson install tree"
[ $failed = 0 ] || { sed 's/^/# /' "$d/rpm.log" | tail -40; finish; }

packages=(tern tern-common tern-executor tern-worker tern-scheduler tern-webserver tern-indexer)
deb() { ls "$d/debs/$1"_*.deb 2>/dev/null | head -1; }
rpm_of() { ls "$d/rpms/$1-$version"-*.rpm 2>/dev/null | head -1; }
for p in "${packages[@]}"; do
        f=$(deb "$p")
        [ -n "$f" ] && [ "$(dpkg-deb -f "$f" Version)" = "$version-1" ]
        ok $? "$p .deb at meson.build's version $version-1"
        [ -n "$(rpm_of "$p")" ]
        ok $? "$p rpm at meson.build's version $version"
done
for p in tern-executor tern-worker tern-scheduler tern-webserver; do
        dpkg-deb -f "$(deb tern)" Depends | grep -q "$p"
        ok $? "the tern metapackage depends on $p"
done

# The installed command names its version and the revision it was built from.
dpkg-deb -x "$(deb tern-common)" "$d/x"
out=$("$d/x/usr/bin/tern" --version)
[ "$out" = "tern $version (git ${head:0:12})" ]
ok $? "tern --version from the .deb: '$out' (want 'tern $version (git ${head:0:12})')"

# lintian: no errors (install it if missing); warnings are shown.
command -v lintian >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends lintian >/dev/null 2>&1
if command -v lintian >/dev/null; then
        debs=(); for p in "${packages[@]}"; do debs+=("$(deb "$p")"); done
        lint=$(nice -n 10 lintian --tag-display-limit 0 "${debs[@]}" 2>&1 | grep -v "running with root privileges")
        ! grep -q '^E:' <<<"$lint"
        ok $? "lintian: no errors"
        [ -z "$lint" ] || sed 's/^/# /' <<<"$lint"
else
        ok 1 "lintian: could not install it"
fi

# Maintainer scripts: nothing enabled or started on installation (the database comes first),
# running units restarted on upgrade, the instances of tern-worker@ too.
for p in tern-executor tern-worker tern-scheduler tern-webserver tern-indexer tern-common; do
        dpkg-deb -e "$(deb "$p")" "$d/ctl-$p"
done
for p in tern-executor tern-scheduler tern-webserver tern-indexer; do
        c=${p#tern-}
        ! grep -Eq "invoke (start|restart)|_dh_action=start|systemctl (enable|start)" "$d/ctl-$p/postinst"
        ok $? "$p postinst neither enables nor starts units"
        grep -q "try-restart 'tern-$c.service' 'tern-$c.socket'" "$d/ctl-$p/postinst"
        ok $? "$p postinst restarts its running units on upgrade"
        grep -q "stop tern-$c.socket tern-$c.service" "$d/ctl-$p/prerm"
        ok $? "$p prerm stops its units on removal"
done
grep -q "stop tern.target" "$d/ctl-tern-common/prerm"
ok $? "tern-common prerm stops tern.target on removal"
grep -q "try-restart 'tern-worker@\*.service'" "$d/ctl-tern-worker/postinst"
ok $? "tern-worker postinst restarts running worker instances on upgrade"
grep -q "systemd-sysusers.*tern.conf" "$d/ctl-tern-common/postinst" &&
        grep -q "systemd-tmpfiles.*--create tern.conf" "$d/ctl-tern-common/postinst"
ok $? "tern-common postinst creates the tern user and directories"
grep -q "tern db migrate" "$d/ctl-tern-common/postinst"
ok $? "tern-common postinst says what to do before starting the services"
! grep -q "try-restart 'tern.target'" "$d/ctl-tern-common/postinst"
ok $? "tern-common postinst does not restart tern.target (every component) on upgrade"
for p in tern-executor tern-worker tern-scheduler tern-webserver tern-indexer; do
        rpm -qp --scripts "$(rpm_of "$p")" 2>/dev/null | grep -q "try-restart tern-${p#tern-}"
        ok $? "$p rpm restarts its running units on upgrade (%systemd_postun_with_restart)"
done

# The same files in the same packages. Allowed differences: Debian's /usr/share/doc/PACKAGE/
# (copyright, changelog, README.Debian) and lintian overrides, and the compression of manual pages (the distribution's
# choice: dh_compress, brp-compress).
files_deb() { dpkg-deb -c "$1" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' |
                grep -v -e "^/usr/share/doc/$2/" -e "^/usr/share/lintian/overrides/" | sed 's|^\(/usr/share/man/.*\)\.gz$|\1|' | sort; }
files_rpm() { rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$1" 2>/dev/null | awk '$1 !~ /^d/ { print $2 }' |
                sed 's|^\(/usr/share/man/.*\)\.gz$|\1|' | sort; }
: >"$d/all-deb"; : >"$d/all-rpm"
for p in "${packages[@]}"; do
        files_deb "$(deb "$p")" "$p" >"$d/$p.deb.list"
        files_rpm "$(rpm_of "$p")" >"$d/$p.rpm.list"
        cat "$d/$p.deb.list" >>"$d/all-deb"; cat "$d/$p.rpm.list" >>"$d/all-rpm"
        diff=$(diff "$d/$p.deb.list" "$d/$p.rpm.list")
        ok $? "$p: the rpm holds the .deb's files ($(wc -l <"$d/$p.deb.list") files)"
        [ -z "$diff" ] || sed 's/^/# /' <<<"$diff"
done
# Every unit of units/ is shipped, once, by both.
want=$( (cd "$src/units" && ls *.service.in *.socket *.target) | sed 's/\.in$//' | sort)
for kind in deb rpm; do
        got=$(grep '/systemd/system/' "$d/all-$kind" | xargs -n1 basename | sort)
        [ "$got" = "$want" ]
        ok $? "the ${kind}s ship every unit of units/, once"
        [ "$got" = "$want" ] || diff <(echo "$want") <(echo "$got") | sed 's/^/# /'
done
finish
