#!/usr/bin/env python3
# test-man-pages: the manual pages keep up with the code (TAP): every tern.conf key that
# lib/runtime/config.c parses is in tern.conf(5) under its section, with its default and its
# environment variable; every option that `tern run --help`, `tern server [COMMAND] --help` and
# each daemon's --help print is in its page, and every command of `tern server` too.
import os
import re
import subprocess
import sys

src = os.environ["TERN_SOURCE_ROOT"]
build = os.environ["TERN_BUILD_ROOT"]
tern = os.environ["TERN"]
n = 0
failed = 0


def ok(cond, name, detail=""):
    global n, failed
    n += 1
    print(("ok" if cond else "not ok") + f" {n} - {name}")
    if not cond:
        failed += 1
        for line in detail.splitlines():
            print("# " + line)


def page(name):
    with open(os.path.join(src, "man", name + ".scd")) as f:
        return f.read()


def entries(text):
    """The page's definition entries: (heading, term line, whole entry text)."""
    heading, out, cur = "", [], None
    for line in text.splitlines():
        if line.startswith("#"):
            heading, cur = line.lstrip("# ").strip(), None
        elif line.startswith("*"):
            cur = [heading, line, line]
            out.append(cur)
        elif line.startswith("\t") and cur:
            cur[2] += "\n" + line
        else:
            cur = None
    return out


# tern.conf(5): every key of config_keys[].
with open(os.path.join(src, "lib", "runtime", "config.c")) as f:
    keys = re.findall(r'^\s*K\("([a-z-]+)", "([a-z-]+)",', f.read(), re.M)
ok(len(keys) >= 20, f"config.c's keys found ({len(keys)})")
conf = entries(page("tern.conf.5"))
for section, key in keys:
    env = "TERN_" + (section + "_" + key).upper().replace("-", "_")
    found = [e for e in conf if e[0] == f"[{section}]" and f"*{key}*" in e[1]]
    ok(len(found) == 1, f"tern.conf(5) describes {section}.{key} in [{section}]")
    if found:
        text = found[0][2]
        ok("Default:" in text, f"tern.conf(5) gives the default of {section}.{key}", text)
        ok(f"*{env}*" in text, f"tern.conf(5) names {env} for {section}.{key}", text)


def help_of(argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.returncode, p.stdout


def options(text):
    """Every long option and every short option (as in '  -w, --workers') a --help prints."""
    opts = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text))
    opts |= set(re.findall(r"^\s+(-[a-zA-Z]),", text, re.M))
    return sorted(opts)


def check_options(argv, name):
    rc, text = help_of(argv)
    ok(rc == 0, f"{' '.join(argv[1:] if argv[0] == tern else argv)} exits 0", text)
    body = page(name)
    opts = options(text)
    missing = [o for o in opts if f"*{o}*" not in body]
    ok(opts and not missing,
       f"{name} names every option of {os.path.basename(argv[0])} {' '.join(argv[1:])} ({len(opts)})",
       "missing: " + " ".join(missing))
    return text


check_options([tern, "run", "--help"], "tern-run.1")
text = check_options([tern, "server", "--help"], "tern-server.1")
commands = re.findall(r"^  ([a-z]+) ", text.split("Commands:", 1)[-1], re.M)
ok(len(commands) >= 5, f"tern server --help lists its commands ({', '.join(commands)})")
server = entries(page("tern-server.1"))
for c in commands:
    ok(any(e[0] == "COMMANDS" and e[1].strip() == f"*{c}*" for e in server),
       f"tern-server(1) describes the command {c}")
    check_options([tern, "server", c, "--help"], "tern-server.1")
for c in ["executor", "worker", "scheduler", "webserver"]:
    check_options([os.path.join(build, "daemons", c, "tern-" + c), "--help"], f"tern-{c}.8")

print(f"1..{n}")
sys.exit(1 if failed else 0)
