#!/usr/bin/env python3
# compress.py: the compress plugin of tern (plugin.yaml): Kestra's ArchiveDecompress, FileCompress and FileDecompress.
import bz2
import gzip
import json
import lzma
import os
import shutil
import sys
import tarfile
import zipfile
import zlib

# Where a file kept in internal storage is written (the worker's exec-plugin convention, docs/PLUGINS.md).
STORE_DIR = ".tern-store"


def say(what):
    print("::" + json.dumps(what) + "::", flush=True)


def log(level, message):
    say({"logs": [{"level": level, "message": message}]})


def fail(message):
    log("ERROR", message)
    sys.exit(1)


props = json.load(sys.stdin)
kind = os.environ.get("TERN_TASK_TYPE", "").rsplit(".", 1)[-1]


class Deflate:
    """zlib's stream (what commons-compress calls DEFLATE), as a file object."""
    @staticmethod
    def open(path, mode):
        if "r" in mode:
            with open(path, "rb") as f:
                try:
                    data = zlib.decompress(f.read())
                except zlib.error as e:
                    raise OSError("not a DEFLATE (zlib) stream: %s" % e)
            return __import__("io").BytesIO(data)
        return DeflateWriter(path)


class DeflateWriter:
    def __init__(self, path):
        self.f, self.z = open(path, "wb"), zlib.compressobj()

    def write(self, data):
        self.f.write(self.z.compress(data))

    def close(self):
        self.f.write(self.z.flush())
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


COMPRESSORS = {
    "GZIP": gzip.open,
    "BZIP2": bz2.open,
    "XZ": lambda p, m: lzma.open(p, m, format=lzma.FORMAT_XZ),
    "LZMA": lambda p, m: lzma.open(p, m, format=lzma.FORMAT_ALONE),
    "DEFLATE": Deflate.open,
}


def stored(name):
    os.makedirs(STORE_DIR, exist_ok=True)
    return os.path.join(STORE_DIR, name)


def decompressed(src, compression):
    """src, or a file of its content decompressed with compression."""
    if not compression:
        return src
    out = "decompressed.tmp"
    try:
        with COMPRESSORS[compression](src, "rb") as i, open(out, "wb") as o:
            shutil.copyfileobj(i, o)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as e:
        fail("cannot decompress '%s' as %s: %s" % (props.get("from"), compression, e))
    return out


def safe_name(name):
    """An archive entry's name as a relative path without '..' (a name leaving the archive is refused)."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts or name.startswith("/"):
        fail("archive entry '%s' leaves the archive's directory: refused" % name)
    return "/".join(parts)


def archive_decompress():
    algorithm, compression = props["algorithm"], props.get("compression")
    src = decompressed(props["from"], compression)
    entries = []  # (name, a file object's reader)
    try:
        if algorithm in ("ZIP", "JAR"):
            archive = zipfile.ZipFile(src)
            entries = [(i.filename, lambda i=i: archive.open(i)) for i in archive.infolist() if not i.is_dir()]
        else:
            archive = tarfile.open(src, "r:")
            for m in archive.getmembers():
                if m.isfile():
                    entries.append((m.name, lambda m=m: archive.extractfile(m)))
                elif not m.isdir():
                    log("WARN", "archive entry '%s' is not a regular file: skipped" % m.name)
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as e:
        fail("'%s' is not a %s archive%s: %s" % (props["from"], algorithm,
                                                 " once decompressed as %s" % compression if compression else "", e))
    files, size = {}, 0
    for n, (name, reader) in enumerate(entries, 1):
        name = safe_name(name)
        # Flat, numbered names in the store directory: the entry's own name is the output's key.
        path = stored("%d-%s" % (n, name.rsplit("/", 1)[-1]))
        with reader() as i, open(path, "wb") as o:
            shutil.copyfileobj(i, o)
        size += os.path.getsize(path)
        files[name] = path
    say({"metrics": [{"name": "size", "type": "counter", "value": size, "tags": {}},
                     {"name": "count", "type": "counter", "value": len(files), "tags": {}}]})
    say({"outputs": {"files": files}})
    log("INFO", "%d file(s), %d bytes, extracted" % (len(files), size))


def file_compress():
    compression = props["compression"]
    path = stored(os.path.basename(props["from"]) + "." + compression.lower())
    with open(props["from"], "rb") as i, COMPRESSORS[compression](path, "wb") as o:
        shutil.copyfileobj(i, o)
    say({"outputs": {"uri": path}})


def file_decompress():
    src = decompressed(props["from"], props["compression"])
    path = stored(os.path.splitext(os.path.basename(props["from"]))[0] or "file")
    shutil.move(src, path)
    say({"outputs": {"uri": path}})


def main():
    run = {"ArchiveDecompress": archive_decompress, "FileCompress": file_compress,
           "FileDecompress": file_decompress}.get(kind)
    if not run:
        fail("this plugin does not run task type '%s'" % os.environ.get("TERN_TASK_TYPE"))
    run()


main()
