#!/usr/bin/env bash
# test-cli-plugin-compress: the shipped compress plugin (plugins/compress, an exec plugin) end to end: 'tern run'
# extracts a ZIP and a gzipped TAR given as FILE inputs into internal storage (each entry's name to its URI, read by
# a later task), compresses a file and decompresses it back, and refuses an archive whose entry leaves its directory
# and a file that is no archive, saying so (TAP).
set -u
. "$(dirname "$0")/plugin-test-lib.sh"
plugin_test compress compress

python3 - "$dir" <<'PY'
import io, sys, tarfile, zipfile
d = sys.argv[1]
with zipfile.ZipFile(d + "/trips.zip", "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("202401-trips.csv", "id,km\n1,3.5\n2,7\n")
    z.writestr("docs/", "")
    z.writestr("docs/readme.txt", "trips of January\n")
with tarfile.open(d + "/logs.tar.gz", "w:gz") as t:
    for name, text in (("a.log", b"alpha\n"), ("sub/b.log", b"beta\n")):
        info = tarfile.TarInfo(name)
        info.size = len(text)
        t.addfile(info, io.BytesIO(text))
with zipfile.ZipFile(d + "/evil.zip", "w") as z:
    z.writestr("../../etc/evil", "x")
open(d + "/plain.txt", "w").write("not an archive\n")
PY

cat >"$dir/compress.yaml" <<'YAML'
id: compress
namespace: test.plugins
inputs:
  - {id: zip, type: FILE}
  - {id: tgz, type: FILE}
  - {id: evil, type: FILE}
  - {id: plain, type: FILE}
tasks:
  - id: unzip
    type: io.kestra.plugin.compress.ArchiveDecompress
    from: "{{ inputs.zip }}"
    algorithm: ZIP
  - id: untar
    type: io.kestra.plugin.compress.ArchiveDecompress
    from: "{{ inputs.tgz }}"
    algorithm: TAR
    compression: GZIP
  - id: read
    type: io.kestra.plugin.scripts.shell.Commands
    inputFiles: "{{ outputs.unzip.files }}"
    commands:
      - 'echo "csv: $(tr "\n" " " < 202401-trips.csv)"'
      - 'echo "readme: $(cat docs/readme.txt)"'
  - id: gzip
    type: io.kestra.plugin.compress.FileCompress
    from: "{{ outputs.untar.files['sub/b.log'] }}"
    compression: GZIP
  - id: gunzip
    type: io.kestra.plugin.compress.FileDecompress
    from: "{{ outputs.gzip.uri }}"
    compression: GZIP
  - id: check
    type: io.kestra.plugin.scripts.shell.Commands
    inputFiles:
      b.gz: "{{ outputs.gzip.uri }}"
      b.log: "{{ outputs.gunzip.uri }}"
    commands:
      - 'echo "gz: $(head -c 2 b.gz | od -An -tx1 | tr -d " ") log: $(cat b.log)"'
  - id: evil
    type: io.kestra.plugin.compress.ArchiveDecompress
    allowFailure: true
    from: "{{ inputs.evil }}"
    algorithm: ZIP
  - id: plain
    type: io.kestra.plugin.compress.ArchiveDecompress
    allowFailure: true
    from: "{{ inputs.plain }}"
    algorithm: TAR
    compression: GZIP
YAML

plugin_validates "$dir/compress.yaml"
printf 'id: bad\nnamespace: test.plugins\ntasks:\n  - id: s\n    type: io.kestra.plugin.compress.ArchiveDecompress\n    from: x\n    algorithm: CPIO\n' \
        >"$dir/bad.yaml"
"$TERN" flow validate --plugins-path "$plugin" "$dir/bad.yaml" >"$dir/bad.txt" 2>&1
[ $? -ne 0 ] && grep -q "invalid value 'CPIO', expected one of: ZIP, JAR, TAR" "$dir/bad.txt"
ok $? "validation refuses an archive format it cannot read ($(head -c 300 "$dir/bad.txt" | tr "\n" " "))"
plugin_run "$dir/compress.yaml" -i zip=@"$dir/trips.zip" -i tgz=@"$dir/logs.tar.gz" -i evil=@"$dir/evil.zip" -i plain=@"$dir/plain.txt"
plugin_show

plugin_check <<'PY'
import json, os, sys
from plugin_tap import *  # noqa: F401,F403 (ok, run, got, state, out, logs, err, done)
show = load("show.json")

files = out("unzip").get("files") or {}
ok(state("unzip") == "SUCCESS" and sorted(files) == ["202401-trips.csv", "docs/readme.txt"] and
   all(u.startswith("kestra:///") for u in files.values()) and "outputFiles" not in out("unzip"),
   "ZIP: each file's name (directories left out) to its kestra:/// URI as files (%s %r %r)" % (state("unzip"), out("unzip"), err))
ok(("INFO", "csv: id,km 1,3.5 2,7 ") in logs("read") and ("INFO", "readme: trips of January") in logs("read"),
   "the extracted files, given as a later task's inputFiles, have the archive's content: %r" % logs("read"))
ms = {(m["taskId"], m["name"]): m["value"] for m in show.get("metrics", [])}
ok(ms.get(("unzip", "count")) == 2 and ms.get(("unzip", "size")) == 33, "the count and size metrics %r" % ms)
ok(state("untar") == "SUCCESS" and sorted(out("untar").get("files") or {}) == ["a.log", "sub/b.log"],
   "TAR compressed with GZIP: its files %r" % out("untar"))
ok(state("gzip") == "SUCCESS" and (out("gzip").get("uri") or "").startswith("kestra:///") and
   state("gunzip") == "SUCCESS" and ("INFO", "gz: 1f8b log: beta") in logs("check"),
   "FileCompress makes a gzip file, FileDecompress gives the content back: %r" % logs("check"))
ok(state("evil") == "FAILED" and ("ERROR", "archive entry '../../etc/evil' leaves the archive's directory: refused") in logs("evil"),
   "an entry leaving the archive's directory fails the task: %r" % logs("evil"))
ok(state("plain") == "FAILED" and any(lv == "ERROR" and m.startswith("cannot decompress 'from-plain.txt' as GZIP: Not a gzipped file") for lv, m in logs("plain")),
   "a file that is no gzip fails saying so: %r" % logs("plain"))
ok(run.get("state", {}).get("current") == "WARNING", "the flow ends WARNING: the failures were allowed (%s)" % run.get("state"))
done()
PY
